//! Signing throughput per backend over a 300-byte COSE `Sig_structure`:
//! ES256 (AWS-LC, RustCrypto, PKCS#11 on SoftHSM2) and PS256 RSA-2048 (same three).
//!
//! `cargo bench -p vaxpass-keys --all-features --bench sign`
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` at initialization and setting it in-process needs `unsafe`
//! (forbidden here), so the bench creates a throw-away token and re-runs itself with the variable
//! set. The PKCS#11 cases are skipped when SoftHSM2 is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::Criterion;
use vaxpass_keys::cert::{self, VerifiedCsr};
use vaxpass_keys::profile::{CertType, CscaProfile, DistinguishedName, DscProfile};
use vaxpass_keys::{
    CertificateSigningKey, KeyAlgorithm, PrivateKey, Signer, SoftwareBackend, SoftwareSigner,
};
use vaxpass_verifier::Timestamp;

const CHILD: &str = "VAXPASS_BENCH_SOFTHSM_CHILD";

struct Ca {
    key: PrivateKey,
    der: Vec<u8>,
}

fn ca() -> Ca {
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let der = cert::issue_csca(
        &key,
        &CscaProfile::new(
            DistinguishedName::new("VN", "bench", "CSCA"),
            Timestamp::from_unix_seconds(1_767_225_600),
        ),
    )
    .unwrap();
    Ca { key, der }
}

fn dsc(ca: &Ca, key: &dyn CertificateSigningKey) -> Vec<u8> {
    let csr = cert::create_csr(key, &DistinguishedName::new("VN", "bench", "DSC")).unwrap();
    cert::issue_dsc(
        &ca.der,
        &ca.key,
        &VerifiedCsr::verify(&csr).unwrap(),
        &DscProfile::new(&CertType::ALL, Timestamp::from_unix_seconds(1_767_225_600)),
    )
    .unwrap()
}

fn module() -> Option<PathBuf> {
    let p = std::env::var_os("VAXPASS_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
    p.exists().then_some(p)
}

/// Re-runs the bench with a fresh SoftHSM2 token; returns `false` when running without one.
fn reexec_with_softhsm() -> bool {
    if std::env::var_os(CHILD).is_some() || module().is_none() {
        return false;
    }
    let dir = std::env::temp_dir().join(format!("vaxpass-bench-softhsm-{}", std::process::id()));
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let init = std::process::Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            "1234",
            "--so-pin",
            "12345678",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output();
    if !matches!(&init, Ok(o) if o.status.success()) {
        eprintln!("SKIPPED PKCS#11 benchmarks: softhsm2-util could not create a token");
        let _ = std::fs::remove_dir_all(&dir);
        return false;
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD, "1")
        .status()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    std::process::exit(status.code().unwrap_or(1));
}

fn main() {
    if reexec_with_softhsm() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let tbs: Vec<u8> = (0..300u32).map(|i| (i * 31 % 256) as u8).collect();
    let ca = ca();

    #[cfg_attr(not(feature = "pkcs11"), allow(unused_mut))]
    let mut pkcs11: Vec<(KeyAlgorithm, Box<dyn Signer>)> = Vec::new();
    #[cfg(feature = "pkcs11")]
    if std::env::var_os(CHILD).is_some() {
        let pin = vaxpass_keys::Passphrase::new("1234".into()).unwrap();
        let token = vaxpass_keys::pkcs11::Token::open(&module().unwrap(), "bench", &pin).unwrap();
        for (alg, label) in [(KeyAlgorithm::EcP256, "ec"), (KeyAlgorithm::Rsa2048, "rsa")] {
            let key = token
                .generate_key_pair(alg, label, label.as_bytes())
                .unwrap();
            let der = dsc(&ca, &key);
            pkcs11.push((alg, Box::new(key.into_signer(der).unwrap())));
        }
    }
    if pkcs11.is_empty() {
        eprintln!("SKIPPED PKCS#11 benchmarks: SoftHSM2 not installed or feature `pkcs11` off");
    }

    for (group, alg) in [
        ("ES256", KeyAlgorithm::EcP256),
        ("PS256-RSA2048", KeyAlgorithm::Rsa2048),
    ] {
        let key = PrivateKey::generate(alg).unwrap();
        let der = dsc(&ca, &key);
        let mut g = c.benchmark_group(group);
        for (name, backend) in [
            ("aws-lc", SoftwareBackend::AwsLc),
            ("rustcrypto", SoftwareBackend::RustCrypto),
        ] {
            let signer = SoftwareSigner::with_backend(&key, der.clone(), backend).unwrap();
            if signer.backend() != backend {
                eprintln!("SKIPPED {group}/{name}: feature `aws-lc` off");
                continue;
            }
            g.bench_function(name, |b| b.iter(|| signer.sign(black_box(&tbs)).unwrap()));
        }
        for (a, signer) in &pkcs11 {
            if *a == alg {
                g.bench_function("pkcs11-softhsm2", |b| {
                    b.iter(|| signer.sign(black_box(&tbs)).unwrap())
                });
            }
        }
        g.finish();
    }
    c.final_summary();
}
