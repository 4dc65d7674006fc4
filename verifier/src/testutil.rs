//! Test PKI: freshly generated keys and minimal DSC certificates (the DSC's own signature is a
//! placeholder: the verifier never checks it, the trust list does).

use crate::Timestamp;
use der::Encode;
use der::asn1::{ObjectIdentifier, OctetString, UtcTime};
use std::str::FromStr;
use std::sync::OnceLock;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

pub const NOT_BEFORE: Timestamp = Timestamp::from_unix_seconds(1_609_459_200); // 2021-01-01
pub const NOT_AFTER: Timestamp = Timestamp::from_unix_seconds(1_924_992_000); // 2031-01-01

/// One RSA-2048 key per test binary (generation is slow in debug builds).
pub fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap())
}

/// A certificate over `spki_der` with the given EKU OIDs (`None`: no EKU extension).
pub fn certificate(
    spki_der: &[u8],
    eku: Option<&[&str]>,
    validity: (Timestamp, Timestamp),
) -> Vec<u8> {
    use der::Decode;
    let utc = |t: Timestamp| {
        Time::UtcTime(
            UtcTime::from_unix_duration(std::time::Duration::from_secs(t.unix_seconds() as u64))
                .unwrap(),
        )
    };
    let extensions = eku.map(|oids| {
        let eku = x509_cert::ext::pkix::ExtendedKeyUsage(
            oids.iter()
                .map(|o| ObjectIdentifier::new_unwrap(o))
                .collect(),
        );
        vec![Extension {
            extn_id: ObjectIdentifier::new_unwrap("2.5.29.37"),
            critical: false,
            extn_value: OctetString::new(eku.to_der().unwrap()).unwrap(),
        }]
    });
    let serial: [u8; 8] = rand_core::RngCore::next_u64(&mut rand_core::OsRng).to_be_bytes();
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[&[0x01][..], &serial[..]].concat()).unwrap(),
        signature: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            parameters: None,
        },
        issuer: Name::from_str("C=VN,CN=vaxpass test CSCA").unwrap(),
        validity: Validity {
            not_before: utc(validity.0),
            not_after: utc(validity.1),
        },
        subject: Name::from_str("C=VN,CN=vaxpass test DSC").unwrap(),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki_der).unwrap(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions,
    };
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            parameters: None,
        },
        signature: der::asn1::BitString::from_bytes(&[0u8; 8]).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// A fresh P-256 key and a certificate for it.
pub fn p256_cert(eku: Option<&[&str]>) -> (Vec<u8>, p256::ecdsa::SigningKey) {
    use p256::pkcs8::EncodePublicKey;
    let sk = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let spki = sk.verifying_key().to_public_key_der().unwrap();
    (
        certificate(spki.as_bytes(), eku, (NOT_BEFORE, NOT_AFTER)),
        sk,
    )
}

/// The shared RSA-2048 key and a certificate for it.
pub fn rsa_cert(eku: Option<&[&str]>) -> (Vec<u8>, &'static rsa::RsaPrivateKey) {
    use rsa::pkcs8::EncodePublicKey;
    let sk = rsa_key();
    let spki = sk.to_public_key().to_public_key_der().unwrap();
    (
        certificate(spki.as_bytes(), eku, (NOT_BEFORE, NOT_AFTER)),
        sk,
    )
}

/// ES256 signing closure result (raw r || s).
pub fn es256_sign(sk: &p256::ecdsa::SigningKey, tbs: &[u8]) -> Vec<u8> {
    use p256::ecdsa::signature::Signer;
    let sig: p256::ecdsa::Signature = sk.sign(tbs);
    sig.to_bytes().to_vec()
}

/// PS256 signing (salt 32).
pub fn ps256_sign(sk: &rsa::RsaPrivateKey, tbs: &[u8]) -> Vec<u8> {
    use rsa::signature::{RandomizedSigner, SignatureEncoding};
    let signer = rsa::pss::SigningKey::<sha2::Sha256>::new(sk.clone());
    signer.sign_with_rng(&mut rand_core::OsRng, tbs).to_vec()
}

/// A genuine zlib stream that inflates to `mib` MiB of zeros, built without compressing them
/// all: one sync-flushed block sequence that encodes 1 MiB of zeros (its back-references only
/// ever see zeros) is repeated, then a final empty stored block and the Adler-32 of the whole.
pub fn zlib_bomb(mib: usize) -> Vec<u8> {
    use miniz_oxide::deflate::core::{
        CompressorOxide, TDEFLFlush, compress, create_comp_flags_from_zip_params,
    };
    let mut c = CompressorOxide::new(create_comp_flags_from_zip_params(9, 15, 0));
    let zeros = vec![0u8; 1 << 20];
    let chunk = |c: &mut CompressorOxide| {
        let mut out = vec![0u8; 1 << 20];
        let (_, read, written) = compress(c, &zeros, &mut out, TDEFLFlush::Sync);
        assert_eq!(read, zeros.len());
        out.truncate(written);
        out
    };
    let mut z = chunk(&mut c); // zlib header + first MiB
    let repeat = chunk(&mut c); // one more MiB, valid after any run of zeros
    for _ in 1..mib {
        z.extend_from_slice(&repeat);
    }
    z.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]); // final, empty stored block
    let b = ((mib as u64) << 20) % 65_521;
    z.extend_from_slice(&((b << 16 | 1) as u32).to_be_bytes());
    z
}

#[test]
fn zlib_bomb_is_genuine() {
    let z = zlib_bomb(3);
    let out = crate::zlib::inflate(&z, 3 << 20).unwrap();
    assert_eq!(out.len(), 3 << 20);
    assert!(out.iter().all(|b| *b == 0));
}
