//! Snapshot tests of the real `vaxpass-verify` binary, both output formats.
//!
//! Fixtures come from the public dgc-testdata (the DSC of a case written to a temporary PEM,
//! its `PREFIX` passed with `@FILE`, `--at` its `VALIDATIONCLOCK`), skipped with a message when
//! the data is absent, and from certificates issued here with the library encoder and a fresh
//! P-256 key (their kid, random, is replaced by `[KID]` before comparison).
//!
//! Snapshots live in `tests/snapshots/`; after a deliberate change of the output, review and
//! accept with `INSTA_UPDATE=always cargo test -p vaxpass-verifier --features cli --test cli`.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use vaxpass_verifier::encode::{IssueClaims, encode_dcc};
use vaxpass_verifier::model::Dcc;
use vaxpass_verifier::{Algorithm, Kid, Timestamp};

const BIN: &str = env!("CARGO_BIN_EXE_vaxpass-verify");

/// Exit status, standard output, standard error.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run vaxpass-verify");
    (
        out.status.code().expect("exit status"),
        String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    )
}

fn shared(rel: &str) -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = [
        manifest.join("../../shared/conformance").join(rel),
        manifest.join("../../../shared/conformance").join(rel),
    ]
    .into_iter()
    .find(|p| p.exists());
    if found.is_none() {
        eprintln!("SKIPPED: shared/conformance/{rel} not found next to the checkout");
    }
    found
}

/// A dgc-testdata case laid out for the CLI.
struct Case {
    _dir: tempfile::TempDir,
    pem: String,
    prefix: String,
    png: Option<String>,
    clock: String,
}

impl Case {
    fn load(rel: &str) -> Option<Case> {
        use base64::Engine as _;
        let path = shared(&format!("dgc-testdata/{rel}"))?;
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let der = b64
            .decode(case["TESTCTX"]["CERTIFICATE"].as_str().unwrap())
            .unwrap();
        let pem = dir.path().join("dsc.pem");
        std::fs::write(
            &pem,
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap(),
        )
        .unwrap();
        let prefix = dir.path().join("prefix.txt");
        std::fs::write(&prefix, case["PREFIX"].as_str().unwrap()).unwrap();
        let png = case["2DCODE"].as_str().map(|code| {
            let png = dir.path().join("code.png");
            std::fs::write(&png, b64.decode(code).unwrap()).unwrap();
            png.display().to_string()
        });
        Some(Case {
            pem: pem.display().to_string(),
            prefix: format!("@{}", prefix.display()),
            png,
            clock: case["TESTCTX"]["VALIDATIONCLOCK"]
                .as_str()
                .unwrap()
                .to_owned(),
            _dir: dir,
        })
    }

    fn check(&self, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec!["check", "--dsc", &self.pem, "--at", &self.clock];
        args.extend_from_slice(extra);
        args.push(&self.prefix);
        run(&args)
    }
}

#[test]
fn valid_es256_human_and_json() {
    let Some(case) = Case::load("AT/2DCode/raw/1.json") else {
        return;
    };
    let (code, human, _) = case.check(&[]);
    assert_eq!(code, 0, "{human}");
    insta::assert_snapshot!("valid_es256_human", human);
    let (code, json, _) = case.check(&["--format", "json"]);
    assert_eq!(code, 0);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["valid"], true);
    assert_eq!(parsed["failure"], serde_json::Value::Null);
    insta::assert_snapshot!("valid_es256_json", json);
}

#[test]
fn valid_es256_from_a_png_picture() {
    let Some(case) = Case::load("AT/2DCode/raw/1.json") else {
        return;
    };
    let png = case.png.as_deref().expect("AT/1 has a 2DCODE picture");
    let (code, from_png, _) = run(&["check", "--dsc", &case.pem, "--at", &case.clock, png]);
    assert_eq!(code, 0, "{from_png}");
    let (_, from_text, _) = case.check(&[]);
    assert_eq!(from_png, from_text);
    // The same text on standard input.
    let mut child = Command::new(BIN)
        .args(["check", "--dsc", &case.pem, "--at", &case.clock, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read_to_string(case.prefix.trim_start_matches('@')).unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{text}\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), from_text);
}

#[test]
fn valid_ps256() {
    let Some(case) = Case::load("common/2DCode/raw/CO1.json") else {
        return;
    };
    let (code, human, _) = case.check(&[]);
    assert_eq!(code, 0, "{human}");
    insta::assert_snapshot!("valid_ps256_human", human);
    let (_, json, _) = case.check(&["--format", "json"]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["algorithm"], "PS256");
    assert_eq!(parsed["valid"], true);
}

#[test]
fn expired_human_and_json() {
    let Some(case) = Case::load("common/2DCode/raw/CO17.json") else {
        return;
    };
    let (code, human, _) = case.check(&[]);
    assert_eq!(code, 1);
    assert!(
        human.starts_with("NOT VALID — certificate expired\n"),
        "{human}"
    );
    insta::assert_snapshot!("expired_human", human);
    let (code, json, _) = case.check(&["--format", "json"]);
    assert_eq!(code, 1);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["failure"]["code"], "EXPIRED");
    assert_eq!(parsed["payload_verified"], false);
    insta::assert_snapshot!("expired_json", json);
    // With rules: they are not evaluated on a certificate that did not verify, and say so.
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/rules");
    let rules = rules.display().to_string();
    let with_rules = ["--rules", rules.as_str(), "--country", "VN"];
    let (code, human, _) = case.check(&with_rules);
    assert_eq!(code, 1);
    assert!(
        human.contains("Rules (VN): not evaluated, the certificate did not verify\n"),
        "{human}"
    );
    let (_, json, _) = case.check(&[&with_rules[..], &["--format", "json"]].concat());
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["failure"]["code"], "EXPIRED");
    assert_eq!(parsed["rules"], serde_json::json!([]));
}

#[test]
fn unknown_kid() {
    for (rel, snapshot) in [
        ("common/2DCode/raw/CO22.json", "kid_unknown_co22_human"),
        ("common/2DCode/raw/CO23.json", "kid_unknown_co23_human"),
    ] {
        let Some(case) = Case::load(rel) else {
            return;
        };
        let (code, human, _) = case.check(&[]);
        assert_eq!(code, 1);
        assert!(human.contains("(KID_UNKNOWN)"), "{human}");
        assert!(
            !human.contains("Signed by"),
            "no signer verified it: {human}"
        );
        insta::assert_snapshot!(snapshot, human);
    }
}

#[test]
fn key_usage() {
    let Some(case) = Case::load("common/2DCode/raw/CO6.json") else {
        return;
    };
    let (code, human, _) = case.check(&[]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("key_usage_human", human);
    let (_, json, _) = case.check(&["--format", "json"]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["failure"]["code"], "KEY_USAGE");
    assert_eq!(parsed["signer"]["not_before"], "2021-05-03T18:00:00Z");
}

#[test]
fn decode_is_labelled_unverified() {
    let Some(case) = Case::load("AT/2DCode/raw/1.json") else {
        return;
    };
    let (code, human, _) = run(&["decode", &case.prefix]);
    assert_eq!(code, 0);
    assert!(
        human.starts_with("UNVERIFIED — signature not checked\n"),
        "{human}"
    );
    insta::assert_snapshot!("decode_human", human);
    let (code, json, _) = run(&["decode", "--format", "json", &case.prefix]);
    assert_eq!(code, 0);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["verified"], false);
    insta::assert_snapshot!("decode_json", json);
    // A decoding error: exit 1 with the code.
    let (code, json, _) = run(&["decode", "--format", "json", "HC1:%%%"]);
    assert_eq!(code, 1);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["failure"]["code"], "BASE45");
}

#[test]
fn exit_codes_for_usage_and_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt").display().to_string();
    let (der, _) = issuer_certificate();
    let pem = dir.path().join("dsc.pem");
    std::fs::write(
        &pem,
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap(),
    )
    .unwrap();
    let pem = pem.display().to_string();

    // Missing input file: 2.
    let (code, out, err) = run(&["check", "--dsc", &pem, &format!("@{missing}")]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.starts_with("error: cannot open "), "{err}");
    // Missing DSC file: 2, naming the file.
    let (code, _, err) = run(&["check", "--dsc", &missing, "HC1:X"]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.txt: cannot read"), "{err}");
    // A DSC file that is not a certificate: 2.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let (code, _, err) = run(&["check", "--dsc", &junk.display().to_string(), "HC1:X"]);
    assert_eq!(code, 2);
    assert!(err.contains("junk.pem: not an X.509 certificate"), "{err}");
    // --country without --rules, and the reverse: 2.
    let (code, _, err) = run(&["check", "--dsc", &pem, "--country", "VN", "HC1:X"]);
    assert_eq!(code, 2);
    assert!(err.contains("--rules"), "{err}");
    let (code, _, err) = run(&["check", "--dsc", &pem, "--rules", ".", "HC1:X"]);
    assert_eq!(code, 2);
    assert!(err.contains("--country"), "{err}");
    // A bad clock: 2.
    let (code, _, err) = run(&["check", "--dsc", &pem, "--at", "yesterday", "HC1:X"]);
    assert_eq!(code, 2);
    assert!(err.contains("--at"), "{err}");
    // Not an HCERT: 1 with the code.
    let (code, json, _) = run(&["check", "--dsc", &pem, "--format", "json", "HC1:X"]);
    assert_eq!(code, 1);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["failure"]["code"], "BASE45");
    assert_eq!(parsed["kid"], serde_json::Value::Null);
    // A picture without a QR code: read but not valid, 1 with QR_IMAGE.
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let (code, json, _) = run(&[
        "check",
        "--dsc",
        &pem,
        "--format",
        "json",
        &blank.display().to_string(),
    ]);
    assert_eq!(code, 1);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["failure"]["code"], "QR_IMAGE");
    let (code, human, _) = run(&["check", "--dsc", &pem, &blank.display().to_string()]);
    assert_eq!(code, 1);
    assert!(
        human.starts_with("NOT VALID — no readable QR code\n"),
        "{human}"
    );
}

// --- Certificates issued here, checked against the Vietnamese rules -----------------------

/// Validation time of the rule tests.
const CLOCK: &str = "2021-07-01T12:00:00Z";

/// A fresh P-256 key and a minimal DSC (C=VN, no extended key usage, valid 2021–2031) for it.
/// The DSC's own signature is a placeholder: the verifier trusts the certificate as given.
fn issuer_certificate() -> (Vec<u8>, p256::ecdsa::SigningKey) {
    use der::asn1::{BitString, ObjectIdentifier, UtcTime};
    use der::{Decode as _, Encode as _};
    use p256::pkcs8::EncodePublicKey as _;
    use std::str::FromStr as _;
    use x509_cert::certificate::{Certificate, TbsCertificate, Version};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use x509_cert::time::{Time, Validity};

    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let spki = key.verifying_key().to_public_key_der().unwrap();
    let time = |secs: u64| {
        Time::UtcTime(UtcTime::from_unix_duration(std::time::Duration::from_secs(secs)).unwrap())
    };
    let ecdsa_sha256 = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
        parameters: None,
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[1, 2, 3, 4]).unwrap(),
        signature: ecdsa_sha256.clone(),
        issuer: Name::from_str("C=VN,CN=vaxpass CLI test CSCA").unwrap(),
        validity: Validity {
            not_before: time(1_609_459_200), // 2021-01-01
            not_after: time(1_924_992_000),  // 2031-01-01
        },
        subject: Name::from_str("C=VN,CN=vaxpass CLI test DSC").unwrap(),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki.as_bytes()).unwrap(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: None,
    };
    let der = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256,
        signature: BitString::from_bytes(&[0; 8]).unwrap(),
    }
    .to_der()
    .unwrap();
    (der, key)
}

/// A Vietnamese vaccination payload.
fn vaccination(mp: &str, ma: &str, vp: &str, dn: u32, sd: u32, dt: &str) -> Dcc {
    serde_json::from_value(serde_json::json!({
        "ver": "1.3.0",
        "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Văn An", "gnt": "VAN<AN"},
        "dob": "1990-01-31",
        "v": [{"tg": "840539006", "vp": vp, "mp": mp, "ma": ma, "dn": dn, "sd": sd, "dt": dt,
               "co": "VN", "is": "Ministry of Health", "ci": "URN:UVCI:01:VN:1234567890#A"}]
    }))
    .unwrap()
}

fn comirnaty(dn: u32, sd: u32, dt: &str) -> Dcc {
    vaccination("EU/1/20/1528", "ORG-100030215", "1119349007", dn, sd, dt)
}

/// Issues `dcc`, then runs `check --rules schemas/rules --country VN` on it; returns the exit
/// status and the output with the random kid replaced by `[KID]`.
fn check_with_rules(dcc: &Dcc, format: &str) -> (i32, String) {
    let (der, key) = issuer_certificate();
    let kid = Kid::from_certificate_der(&der);
    let claims = IssueClaims {
        iss: Some("VN"),
        iat: Timestamp::parse("2021-06-30T08:00:00Z").unwrap(),
        exp: Timestamp::parse("2022-06-30T08:00:00Z").unwrap(),
    };
    let hc1 = encode_dcc(dcc, &claims, Algorithm::Es256, &kid, |tbs| {
        use p256::ecdsa::signature::Signer as _;
        let sig: p256::ecdsa::Signature = key.sign(tbs);
        Ok::<_, std::convert::Infallible>(sig.to_bytes().to_vec())
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("dsc.pem");
    std::fs::write(
        &pem,
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap(),
    )
    .unwrap();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/rules");
    let (code, out, err) = run(&[
        "check",
        "--dsc",
        &pem.display().to_string(),
        "--at",
        CLOCK,
        "--rules",
        &rules.display().to_string(),
        "--country",
        "VN",
        "--format",
        format,
        &hc1,
    ]);
    assert_eq!(err, "");
    (code, out.replace(&kid.to_base64(), "[KID]"))
}

#[test]
fn vn_rules_complete_series_20_days_old_is_valid() {
    let dcc = comirnaty(2, 2, "2021-06-11");
    let (code, human) = check_with_rules(&dcc, "human");
    assert_eq!(code, 0, "{human}");
    assert!(human.starts_with("VALID\n"), "{human}");
    assert!(!human.contains("FAILED"), "{human}");
    insta::assert_snapshot!("vn_rules_valid_human", human);
    let (code, json) = check_with_rules(&dcc, "json");
    assert_eq!(code, 0);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["valid"], true);
    assert_eq!(parsed["rules"].as_array().unwrap().len(), 5, "GR + 4 VR");
    insta::assert_snapshot!("vn_rules_valid_json", json);
}

/// Asserts a rule failure: exit 1, failure RULE_FAILED naming `rule`, that rule FAILED with its
/// English and Vietnamese descriptions, every other rule passed.
fn assert_rule_failed(human: &str, json: &str, rule: &str, en: &str, vi: &str) {
    assert!(human.starts_with("NOT VALID — rule not met\n"), "{human}");
    assert!(
        human.contains(&format!("  FAILED {rule} {en}\n")),
        "{human}"
    );
    assert!(human.contains(vi), "{human}");
    assert!(
        human.contains("Rules (VN): 4 passed, 1 failed, 0 open"),
        "{human}"
    );
    let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(parsed["valid"], false);
    assert_eq!(parsed["payload_verified"], true);
    assert_eq!(parsed["failure"]["code"], "RULE_FAILED");
    assert_eq!(
        parsed["failure"]["message"],
        format!("rule {rule} failed: {en}")
    );
    for r in parsed["rules"].as_array().unwrap() {
        let expected = if r["identifier"] == rule {
            "failed"
        } else {
            "passed"
        };
        assert_eq!(r["outcome"], expected, "{r}");
    }
}

#[test]
fn vn_rules_last_dose_5_days_old_fails_vr_vn_0003() {
    let dcc = comirnaty(2, 2, "2021-06-26");
    let (code, human) = check_with_rules(&dcc, "human");
    assert_eq!(code, 1);
    let (_, json) = check_with_rules(&dcc, "json");
    assert_rule_failed(
        &human,
        &json,
        "VR-VN-0003",
        "At least 14 days must have passed since the date of the last vaccine dose.",
        "Phải qua ít nhất 14 ngày kể từ ngày tiêm mũi vắc xin gần nhất.",
    );
    insta::assert_snapshot!("vn_rules_5_days_human", human);
}

#[test]
fn vn_rules_first_dose_of_two_fails_vr_vn_0002() {
    let dcc = comirnaty(1, 2, "2021-06-11");
    let (code, human) = check_with_rules(&dcc, "human");
    assert_eq!(code, 1);
    let (_, json) = check_with_rules(&dcc, "json");
    assert_rule_failed(
        &human,
        &json,
        "VR-VN-0002",
        "The vaccination series must be complete: the dose number must be equal to or greater \
         than the total number of doses in the series (a booster is a dose number above the \
         series total), and both numbers must be between 1 and 9 (the range of the DCC schema \
         up to 1.2.1; an impossible dose number such as 4294967295 is not a complete series).",
        "Phải tiêm đủ liệu trình",
    );
}

#[test]
fn vn_rules_unlisted_vaccine_fails_vr_vn_0001() {
    let dcc = vaccination("CoronaVac", "ORG-100032020", "J07BX03", 2, 2, "2021-06-11");
    let (code, human) = check_with_rules(&dcc, "human");
    assert_eq!(code, 1, "{human}");
    assert!(
        human.contains("vaccination 2/2, CoronaVac, 2021-06-11 (VN)"),
        "{human}"
    );
    let (_, json) = check_with_rules(&dcc, "json");
    assert_rule_failed(
        &human,
        &json,
        "VR-VN-0001",
        "The vaccine must be one of the eight vaccines of Viet Nam's COVID-19 vaccination \
         campaign: Vaxzevria (AstraZeneca), Covishield (AstraZeneca, Serum Institute of India), \
         Comirnaty (Pfizer-BioNTech), Spikevax (Moderna), BBIBP-CorV (Sinopharm, Vero Cell), \
         Sputnik V, Abdala or Jcovden (Janssen).",
        "Vắc xin phải là một trong tám loại vắc xin",
    );
}

#[test]
fn rules_suites() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/rules");
    let (code, out, _) = run(&["rules", "test", &rules.display().to_string()]);
    assert_eq!(code, 0, "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{out}");
    if let Some(suite) = shared("certlogic/testSuite") {
        let (code, out, _) = run(&["rules", "certlogic-suite", &suite.display().to_string()]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(" passed, 0 failed"), "{out}");
    }
    if let Some(suite) = shared("certlogic/validation-testSuite") {
        let (code, out, _) = run(&["rules", "validation-suite", &suite.display().to_string()]);
        assert_eq!(code, 0, "{out}");
    }
    let (code, _, err) = run(&["rules", "test", "/nonexistent-vaxpass-folder"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: cannot read"), "{err}");
}

/// Issues a valid certificate; returns its `HC1:` text and the DSC's DER.
fn issued() -> (String, Vec<u8>) {
    let (der, key) = issuer_certificate();
    let kid = Kid::from_certificate_der(&der);
    let claims = IssueClaims {
        iss: Some("VN"),
        iat: Timestamp::parse("2021-06-30T08:00:00Z").unwrap(),
        exp: Timestamp::parse("2022-06-30T08:00:00Z").unwrap(),
    };
    let hc1 = encode_dcc(
        &comirnaty(2, 2, "2021-06-10"),
        &claims,
        Algorithm::Es256,
        &kid,
        |tbs| {
            use p256::ecdsa::signature::Signer as _;
            let sig: p256::ecdsa::Signature = key.sign(tbs);
            Ok::<_, std::convert::Infallible>(sig.to_bytes().to_vec())
        },
    )
    .unwrap();
    (hc1, der)
}

/// Issue 12, item 13: a PEM certificate whose Base64 is on one line (as certificates arrive
/// from JSON trust lists; OpenSSL reads it), with CRLF line ends, or entirely on one line with
/// spaces, is a usable `--dsc`.
#[test]
fn one_line_pem_dsc_is_accepted() {
    use base64::Engine as _;
    let (hc1, der) = issued();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    assert!(
        b64.len() > 64,
        "the Base64 must be longer than one PEM line"
    );
    let dir = tempfile::tempdir().unwrap();
    let forms = [
        format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"),
        format!("-----BEGIN CERTIFICATE-----\r\n{b64}\r\n-----END CERTIFICATE-----\r\n"),
        format!("-----BEGIN CERTIFICATE----- {b64} -----END CERTIFICATE-----"),
    ];
    for (i, form) in forms.iter().enumerate() {
        let pem = dir.path().join(format!("dsc{i}.pem"));
        std::fs::write(&pem, form).unwrap();
        let (code, json, err) = run(&[
            "check",
            "--dsc",
            &pem.display().to_string(),
            "--at",
            CLOCK,
            "--format",
            "json",
            &hc1,
        ]);
        assert_eq!((code, err.as_str()), (0, ""), "form {i}: {json}");
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["valid"], true, "form {i}");
    }
}

/// Issue 12, item 13: `HC2:…` on the command line gets the verdict, exit status and JSON it
/// gets on standard input (`PREFIX`, 1), while a path that does not exist stays a usage error.
#[test]
fn hc2_on_command_line_is_prefix_verdict() {
    let (hc1, der) = issued();
    let hc2 = format!("HC2:{}", hc1.trim_start_matches("HC1:"));
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("dsc.pem");
    std::fs::write(
        &pem,
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap(),
    )
    .unwrap();
    let pem = pem.display().to_string();
    let args = ["check", "--dsc", &pem, "--at", CLOCK, "--format", "json"];

    let mut on_line = args.to_vec();
    on_line.push(&hc2);
    let (code, json, err) = run(&on_line);
    assert_eq!((code, err.as_str()), (1, ""), "{json}");
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["failure"]["code"], "PREFIX");

    let mut on_stdin = args.to_vec();
    on_stdin.push("-");
    let mut child = Command::new(BIN)
        .args(&on_stdin)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{hc2}\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), json);

    // A path that does not exist is still a usage error, without JSON: one with lowercase
    // letters, and one in capitals in an existing folder.
    let folder = dir.path().join("HC2:CODES");
    std::fs::create_dir(&folder).unwrap();
    let in_folder = folder.join("A.PNG").display().to_string();
    let mut args_folder = args.to_vec();
    args_folder.push(&in_folder);
    let (code, out, _) = run(&args_folder);
    assert_eq!((code, out.as_str()), (2, ""));
    let missing = dir.path().join("HC2:code.png").display().to_string();
    let mut args_missing = args.to_vec();
    args_missing.push(&missing);
    let (code, out, err) = run(&args_missing);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("neither an HC1: string nor a file"), "{err}");
}
