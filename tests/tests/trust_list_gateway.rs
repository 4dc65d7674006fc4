//! EU gateway interoperability: a "foreign" country's DSC list exported and imported with the
//! chain to its CSCA checked; the public conformance DSCs (no CSCAs) imported only with the
//! dangerous unanchored option, flagged, and then verifying their certificates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use base64::Engine as _;
use vaxpass_keys::cert::{self, VerifiedCsr};
use vaxpass_keys::profile::{CscaProfile, DistinguishedName, DscProfile, TrustListSignerProfile};
use vaxpass_keys::{CertificateType, KeyAlgorithm, PrivateKey, Signer, SoftwareSigner};
use vaxpass_trust_list::gateway::{self, GatewayEntry, ImportPolicy, Rejection};
use vaxpass_trust_list::publish::{self, BuildOptions};
use vaxpass_trust_list::{Entry, EntryAnchor};
use vaxpass_verifier::encode::{IssueClaims, encode_hc1};
use vaxpass_verifier::trustlist::{TrustListError, TrustListPolicy, verify};
use vaxpass_verifier::{Kid, Limits, Timestamp};

const NOW: Timestamp = Timestamp::from_unix_seconds(1_767_225_600); // 2026-01-01

/// A country's PKI made with the keys crate.
struct Country {
    csca: Vec<u8>,
    csca_key: PrivateKey,
    signer: SoftwareSigner,
    cc: &'static str,
}

fn dn(cc: &str, cn: &str) -> DistinguishedName {
    DistinguishedName::new(cc, "vaxpass test", cn)
}

fn country(cc: &'static str) -> Country {
    let csca_key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csca = cert::issue_csca(&csca_key, &CscaProfile::new(dn(cc, "CSCA"), NOW)).unwrap();
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csr = VerifiedCsr::verify(&cert::create_csr(&key, &dn(cc, "TLS")).unwrap()).unwrap();
    let tls = cert::issue_trust_list_signer(
        &csca,
        &csca_key,
        &csr,
        &TrustListSignerProfile::new(dn(cc, "Trust List Signer"), NOW),
    )
    .unwrap();
    Country {
        csca,
        csca_key,
        signer: SoftwareSigner::new(&key, tls).unwrap(),
        cc,
    }
}

impl Country {
    /// A DSC and a signer for it.
    fn dsc(&self, n: u32) -> SoftwareSigner {
        let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
        let csr = cert::create_csr(&key, &dn(self.cc, &format!("DSC {n}"))).unwrap();
        let der = cert::issue_dsc(
            &self.csca,
            &self.csca_key,
            &VerifiedCsr::verify(&csr).unwrap(),
            &DscProfile::new(&CertificateType::ALL, NOW),
        )
        .unwrap();
        SoftwareSigner::new(&key, der).unwrap()
    }

    /// This country's national list, in the gateway form.
    fn gateway_export(&self, dscs: &[&SoftwareSigner]) -> Vec<GatewayEntry> {
        let entries = dscs
            .iter()
            .map(|d| {
                Entry::from_certificate(d.certificate_der(), None, EntryAnchor::National).unwrap()
            })
            .collect();
        let list = publish::assemble(
            self.cc,
            entries,
            1,
            NOW,
            &BuildOptions::default(),
            &self.signer,
        );
        gateway::export(&list, &self.signer).unwrap()
    }
}

fn hcert(dsc: &SoftwareSigner, iss: &str) -> String {
    let payload = serde_json::json!({
        "ver": "1.3.0",
        "nam": {"fn": "Müller", "fnt": "MUELLER", "gn": "Anna", "gnt": "ANNA"},
        "dob": "1990-01-01",
        "v": [{
            "tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
            "dn": 2, "sd": 2, "dt": "2021-09-01", "co": iss, "is": "Ministry of Health",
            "ci": "URN:UVCI:01:DE:TEST123#4"
        }]
    });
    let cbor = vaxpass_verifier::model::json_to_cbor(&payload);
    let claims = IssueClaims {
        iss: Some(iss),
        iat: NOW,
        exp: Timestamp::from_unix_seconds(NOW.unix_seconds() + 365 * 86_400),
    };
    encode_hc1(&cbor, &claims, dsc.algorithm(), &dsc.kid(), |tbs| {
        dsc.sign(tbs)
    })
    .unwrap()
}

#[test]
fn foreign_list_imports_with_chain_check_and_reports_rejections() {
    let vn = country("VN");
    let de = country("DE");
    let rogue = country("DE"); // claims to be DE, another CSCA
    let (d1, d2, bad) = (de.dsc(1), de.dsc(2), rogue.dsc(9));
    let mut exported = de.gateway_export(&[&d1, &d2]);
    // The gateway JSON round trip, as another implementation would read it.
    let text = serde_json::to_vec(&exported).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&text).unwrap();
    for key in [
        "kid",
        "timestamp",
        "country",
        "certificateType",
        "thumbprint",
        "signature",
        "rawData",
    ] {
        assert!(json[0].get(key).is_some(), "missing {key}");
    }
    assert_eq!(json[0]["certificateType"], "DSC");
    assert_eq!(json[0]["kid"], d1.kid().to_base64());
    // The export signature is the trust-list signer's, over the DER.
    let sig = base64::engine::general_purpose::STANDARD
        .decode(exported[0].signature.as_bytes())
        .unwrap();
    vaxpass_keys::signer::verify_cose_signature(
        de.signer.certificate_der(),
        d1.certificate_der(),
        &sig,
    )
    .unwrap();

    // Add broken entries: a DSC of another CSCA, a wrong thumbprint, a wrong kid, a CSCA entry,
    // a country without a configured CSCA, a duplicate.
    exported.extend(rogue.gateway_export(&[&bad]));
    let mut thumb = exported[0].clone();
    thumb.thumbprint = "00".repeat(32);
    let mut kid = exported[1].clone();
    kid.kid = "AAAAAAAAAAA=".into();
    let mut csca_type = exported[0].clone();
    csca_type.certificate_type = "CSCA".into();
    let fr = country("FR");
    let fr_dsc = fr.dsc(1);
    exported.push(thumb);
    exported.push(kid);
    exported.push(csca_type);
    exported.extend(fr.gateway_export(&[&fr_dsc]));
    exported.push(exported[0].clone());
    let parsed = gateway::parse(&serde_json::to_vec(&exported).unwrap()).unwrap();

    let policy = ImportPolicy::new().with_csca("DE", de.csca.clone());
    let report = gateway::import(&parsed, &policy);
    assert_eq!(report.accepted.len(), 2, "{:#?}", report.rejected);
    assert!(report.accepted.iter().all(|e| e.anchor
        == EntryAnchor::Foreign {
            csca_der: de.csca.clone()
        }));
    let reasons: Vec<(usize, String)> = report
        .rejected
        .iter()
        .map(|r| (r.index, r.to_string()))
        .collect();
    assert_eq!(report.rejected.len(), 6, "{reasons:#?}");
    assert!(matches!(
        report.rejected[0].reason,
        Rejection::NotChained { tried: 1, .. }
    ));
    assert!(
        reasons[0].1.contains("entry #3 (DE kid"),
        "{}",
        reasons[0].1
    );
    assert!(
        reasons[0]
            .1
            .contains("does not chain to the country's CSCA"),
        "{}",
        reasons[0].1
    );
    assert!(matches!(
        report.rejected[1].reason,
        Rejection::Thumbprint { .. }
    ));
    assert!(matches!(report.rejected[2].reason, Rejection::Kid { .. }));
    assert!(matches!(report.rejected[3].reason, Rejection::NotDsc(_)));
    assert_eq!(report.rejected[4].reason, Rejection::NoCsca);
    assert_eq!(report.rejected[4].country, "FR");
    assert!(reasons[4].1.contains("dangerous unanchored option"));
    assert_eq!(report.rejected[5].reason, Rejection::Duplicate { first: 0 });

    // Our list carries the foreign entries; a verifier pinning only our CSCA trusts them
    // because it re-checks each against the CSCA in the entry.
    let vn_dsc = vn.dsc(1);
    let mut entries = vec![
        Entry::from_certificate(vn_dsc.certificate_der(), None, EntryAnchor::National).unwrap(),
    ];
    entries.extend(report.accepted);
    let list = publish::assemble("VN", entries, 1, NOW, &BuildOptions::default(), &vn.signer);
    let signed = publish::sign(&list, &vn.signer).unwrap();
    let verified = verify(&signed, &vn.csca, NOW, None, &TrustListPolicy::default()).unwrap();
    let store = verified.to_trust_store();
    assert_eq!(store.len(), 3);
    let json = serde_json::to_value(verified.list().to_json()).unwrap();
    assert_eq!(json["entries"][1]["anchor"], "foreign-csca");
    assert_eq!(json["unanchoredEntries"], 0);

    // A German certificate verifies with the store; one by the rogue DSC does not.
    let limits = Limits::default();
    let at = Timestamp::from_unix_seconds(NOW.unix_seconds() + 60);
    let signed_de = vaxpass_verifier::decode(&hcert(&d2, "DE"), &limits).unwrap();
    signed_de.check(&store, at).unwrap();
    let signed_rogue = vaxpass_verifier::decode(&hcert(&bad, "DE"), &limits).unwrap();
    assert_eq!(
        signed_rogue.check(&store, at).unwrap_err().code(),
        "KID_UNKNOWN"
    );
    let signed_vn = vaxpass_verifier::decode(&hcert(&vn_dsc, "VN"), &limits).unwrap();
    signed_vn.check(&store, at).unwrap();
}

/// `shared/` next to the checkout (`<repo>/../shared`), also from a worktree one level deeper.
fn conformance_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    ["../../shared", "../../../shared"]
        .iter()
        .map(|up| root.join(up).join("conformance/dgc-testdata"))
        .find(|d| d.is_dir())
}

struct Case {
    file: PathBuf,
    country: String,
    prefix: Option<String>,
    certificate: String,
    clock: Option<String>,
    expected_verify: Option<bool>,
}

fn conformance_cases(dir: &std::path::Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut countries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("2DCode/raw").is_dir())
        .collect();
    countries.sort();
    for cdir in countries {
        let country = cdir.file_name().unwrap().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(cdir.join("2DCode/raw"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&file).unwrap())
            else {
                continue;
            };
            let Some(cert) = v["TESTCTX"]["CERTIFICATE"].as_str() else {
                continue;
            };
            cases.push(Case {
                file: file.clone(),
                country: country.clone(),
                prefix: v["PREFIX"].as_str().map(str::to_owned),
                certificate: cert.to_owned(),
                clock: v["TESTCTX"]["VALIDATIONCLOCK"].as_str().map(str::to_owned),
                expected_verify: v["EXPECTEDRESULTS"]["EXPECTEDVERIFY"].as_bool(),
            });
        }
    }
    cases
}

/// A gateway list of the conformance DSCs: one entry per (country, certificate).
fn conformance_gateway(cases: &[Case]) -> Vec<GatewayEntry> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out: Vec<GatewayEntry> = Vec::new();
    for c in cases {
        let compact: String = c
            .certificate
            .chars()
            .filter(|ch| !ch.is_whitespace())
            .collect();
        let Ok(der) = b64.decode(&compact) else {
            continue;
        };
        use sha2_digest::digest;
        let thumbprint = digest(&der);
        // `common` cases are issued by the test "DE"-like PKI: use the subject's C if any.
        let country = if c.country == "common" {
            vaxpass_verifier::TrustedSigner::from_der(&der)
                .ok()
                .and_then(|s| s.country().map(str::to_owned))
                .unwrap_or_else(|| "XX".into())
        } else {
            c.country.clone()
        };
        if out
            .iter()
            .any(|g| g.thumbprint == thumbprint && g.country == country)
        {
            continue;
        }
        out.push(GatewayEntry {
            kid: Kid::from_certificate_der(&der).to_base64(),
            timestamp: "2021-06-01T00:00:00Z".into(),
            country,
            certificate_type: "DSC".into(),
            thumbprint,
            signature: String::new(),
            raw_data: compact,
        });
    }
    out
}

/// SHA-256 hex without another dependency: through the trust-list entry's thumbprint.
mod sha2_digest {
    pub fn digest(der: &[u8]) -> String {
        match vaxpass_trust_list::Entry::from_certificate(
            der,
            Some("XX"),
            vaxpass_trust_list::EntryAnchor::DangerousUnanchored,
        ) {
            Ok(e) => e.thumbprint(),
            // Unusable certificates still get an entry (the import must report them).
            Err(_) => format!("{:064x}", der.len()),
        }
    }
}

#[test]
fn conformance_dscs_import_only_unanchored_flagged_and_then_verify() {
    let Some(dir) = conformance_dir() else {
        eprintln!("SKIPPED: ../shared/conformance/dgc-testdata not found next to the checkout");
        return;
    };
    let cases = conformance_cases(&dir);
    let gw = conformance_gateway(&cases);
    assert!(gw.len() > 50, "only {} DSCs found", gw.len());

    // Without CSCAs nothing is imported, and every entry says why.
    let strict = gateway::import(&gw, &ImportPolicy::new());
    assert!(strict.accepted.is_empty());
    assert_eq!(strict.rejected.len(), gw.len());
    assert!(
        strict
            .rejected
            .iter()
            .filter(|r| r.reason == Rejection::NoCsca)
            .count()
            > 50
    );

    // With the dangerous option: imported and flagged; unusable certificates still rejected.
    let report = gateway::import(&gw, &ImportPolicy::new().dangerous_unanchored());
    for r in &report.rejected {
        eprintln!("rejected conformance DSC: {r}");
    }
    assert!(report.accepted.len() > 50);
    assert_eq!(report.unanchored(), report.accepted.len());
    assert!(report.rejected.iter().all(|r| matches!(
        r.reason,
        Rejection::Certificate(_) | Rejection::Thumbprint { .. }
    )));

    let vn = country("VN");
    let list = publish::assemble(
        "VN",
        report.accepted,
        1,
        NOW,
        &BuildOptions::default(),
        &vn.signer,
    );
    let signed = publish::sign(&list, &vn.signer).unwrap();
    let verified = verify(&signed, &vn.csca, NOW, None, &TrustListPolicy::default()).unwrap();
    let json = serde_json::to_value(verified.list().to_json()).unwrap();
    assert_eq!(json["unanchoredEntries"], list.entries.len());
    assert!(
        json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["dangerousUnanchored"] == true && e["anchor"] == "DANGEROUS-unanchored")
    );
    // A verifier that refuses unanchored entries refuses the list.
    let refuse = TrustListPolicy {
        refuse_unanchored: true,
        ..TrustListPolicy::default()
    };
    assert!(matches!(
        verify(&signed, &vn.csca, NOW, None, &refuse),
        Err(TrustListError::UnanchoredRefused { .. })
    ));

    // The store verifies the conformance certificates whose signature is expected to verify.
    let store = verified.to_trust_store();
    let limits = Limits::default();
    let (mut checked, mut failures) = (0, Vec::new());
    // ES 401-403: P-384 keys under an ES256 header, refused by design (conformance waiver).
    let waived = |c: &&Case| {
        c.country == "ES"
            && c.file
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("40"))
    };
    for c in cases
        .iter()
        .filter(|c| c.expected_verify == Some(true))
        .filter(|c| !waived(c))
    {
        let Some(prefix) = &c.prefix else { continue };
        let Ok(signed) = vaxpass_verifier::decode(prefix, &limits) else {
            continue;
        };
        checked += 1;
        if let Err(e) = signed.find_signer(&store) {
            failures.push(format!("{}: {e}", c.file.display()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked > 50, "only {checked} cases checked");

    // And a full check (times, key usage, schema, value sets) of a known-valid case at its
    // VALIDATIONCLOCK.
    let at1 = cases
        .iter()
        .find(|c| c.file.ends_with("AT/2DCode/raw/1.json"))
        .expect("AT/1 in dgc-testdata");
    let clock = Timestamp::parse(at1.clock.as_deref().unwrap()).unwrap();
    let signed = vaxpass_verifier::decode(at1.prefix.as_deref().unwrap(), &limits).unwrap();
    let signer = signed.check(&store, clock).unwrap();
    assert_eq!(signer.country(), Some("AT"));
    eprintln!(
        "conformance: {} DSCs imported unanchored, {} rejected, {checked} signatures verified",
        list.entries.len(),
        report.rejected.len()
    );
}
