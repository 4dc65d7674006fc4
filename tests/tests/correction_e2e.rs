//! Issue 14 end to end, through the real issuer service started in this process
//! (`server::Server` on a loopback port) and the real `vaxpass-verify` binary:
//!
//! a certificate is issued → the registry's birth date of its holder is corrected → the citizen
//! reports the wrong birth date over HTTP (UVCI + the birth date printed) → the clinic sees it
//! with the registry's answer and approves → a new certificate (new UVCI, `replaces` the old)
//! verifies with `vaxpass-verify check` → `vaxpass-verify revocations sync --url …/revocations`
//! and `check --revocations` say the old one is REVOKED (superseded), the new one valid. The
//! gateway JSON carries the old certificate's three hashes, equal to Python's hashlib over
//! the same bytes, for an ES256 and a PS256 DSC, and obeys the gateway's constraints.
//!
//! Also: a wrong status token is the uniform 404, another clinic's report is 404 and cannot
//! be approved, a second approval changes nothing, reject with a reason, the per-record limit
//! sends the next report to an admin, revoke without replacement (`error`, by another clinic
//! refused), an oversize and a non-image photo refused.
//!
//! SQLite always; PostgreSQL when `VAXPASS_TEST_POSTGRES_URL` is set (a database of its own).
//! Without the `vaxpass-verify` binary the CLI steps say SKIPPED.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};
use vaxpass_issuer::dates::Date;
use vaxpass_issuer::identity::{IdNumber, Sex};
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::notices::{NoticeOptions, SmtpConfig, SmtpTls};
use vaxpass_issuer::revocations::{RevocationOptions, RevocationPublisher};
use vaxpass_issuer::server::{Server, ServerConfig};
use vaxpass_issuer::storage::notices::OutboxCounts;
use vaxpass_issuer::storage::{Actor, Role, Storage};
use vaxpass_keys::KeyAlgorithm;
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_verifier::revocation::CertificateHashes;
use vaxpass_verifier::{Algorithm, Limits, Timestamp};

use common::issuer::{Answer, path_segment, try_http};

const ID: &str = "079090001234";
const BORN_AS_PRINTED: &str = "1990-04-12";
const BORN_CORRECTED: &str = "1990-05-12";

fn person(dob: &str) -> RegistryPerson {
    RegistryPerson {
        id: IdNumber::parse_national(ID).unwrap(),
        full_name: "Nguyễn Văn An".into(),
        date_of_birth: Date::parse(dob).unwrap(),
        sex: Sex::Male,
    }
}

struct Service {
    rt: tokio::runtime::Runtime,
    addr: String,
    storage: Storage,
    /// The database URL.
    url: String,
    staff_a: String,
    staff_b: String,
    admin: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Service {
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        try_http(&self.addr, method, path, token, body, &[]).unwrap()
    }

    fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        try_http(&self.addr, method, path, token, body, headers).unwrap()
    }
}

/// Keys (`dsc` algorithm), a registry of one person, clinics A and B with staff tokens, an
/// admin token; the service listening on a free loopback port.
fn start(data: &Path, database: Option<&str>, dsc: KeyAlgorithm, max_per_record: u32) -> Service {
    start_with(data, database, dsc, max_per_record, true)
}

/// [`start_with`], generous, the citizens' emails sent as `notices` says.
fn start_notifying(data: &Path, database: Option<&str>, notices: NoticeOptions) -> Service {
    start_configured(data, database, KeyAlgorithm::EcP256, 3, true, notices)
}

/// [`start`]; `generous`: lookup throttles high enough for a test's many reports (else the
/// defaults).
fn start_with(
    data: &Path,
    database: Option<&str>,
    dsc: KeyAlgorithm,
    max_per_record: u32,
    generous: bool,
) -> Service {
    start_configured(
        data,
        database,
        dsc,
        max_per_record,
        generous,
        NoticeOptions::default(),
    )
}

fn start_configured(
    data: &Path,
    database: Option<&str>,
    dsc: KeyAlgorithm,
    max_per_record: u32,
    generous: bool,
    notices: NoticeOptions,
) -> Service {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut options = DevOptions::new(Timestamp::from_unix_seconds(
        Timestamp::now().unix_seconds() - 3600,
    ));
    options.dsc_algorithm = dsc;
    dev_init(&data.join("keys"), &options).unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), data.to_path_buf());
    config.database_url = database.map(str::to_owned);
    config.issuing.corrections.max_per_record = max_per_record;
    config.notices = notices;
    // Every answer of the public routes waits for the lookup's floor: keep the tests quick.
    config.lookup_limits.min_answer_time = std::time::Duration::from_millis(1);
    config.lookup_limits.answer_jitter = std::time::Duration::ZERO;
    if generous {
        let many = vaxpass_issuer::ratelimit::Rate::new(100, 100, 60);
        config.lookup_limits.per_client = many;
        config.lookup_limits.per_id_network = many;
        config.lookup_limits.per_id = many;
    }
    let url = config.database_url();
    let (storage, staff_a, staff_b, admin) = rt.block_on(async {
        let storage = Storage::open(&url).await.unwrap();
        let actor = Actor::System("test".into());
        storage
            .import_registry([person(BORN_AS_PRINTED)], 500, &actor)
            .await
            .unwrap();
        let a = storage
            .create_clinic("Trạm Y tế A", 79, &actor)
            .await
            .unwrap();
        let b = storage
            .create_clinic("Trạm Y tế B", 79, &actor)
            .await
            .unwrap();
        let token = |clinic, role| {
            let storage = storage.clone();
            let actor = actor.clone();
            async move {
                let (t, _) = storage
                    .create_staff_token(clinic, role, &actor)
                    .await
                    .unwrap();
                t.expose().to_owned()
            }
        };
        (
            storage.clone(),
            token(a, Role::Staff).await,
            token(b, Role::Staff).await,
            token(a, Role::Admin).await,
        )
    });
    let server = rt.block_on(Server::start(config)).unwrap();
    let addr = server.local_addr().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    Service {
        rt,
        addr,
        storage,
        url,
        staff_a,
        staff_b,
        admin,
        _stop: stop,
    }
}

fn dose_record(dob: &str) -> Value {
    json!({
        "id_number": ID,
        "full_name": "Nguyễn Văn An",
        "date_of_birth": dob,
        "sex": "M",
        "vaccine": {"mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007"},
        "dose_number": 2,
        "series_total": 2,
        "date": common::issuer::recent_date(),
    })
}

/// Submits (with the birth date `dob`) and confirms the person's dose at clinic A: the
/// certificate's JSON.
fn issue(s: &Service, key: &str, dob: &str) -> Value {
    let submitted = s.call_with(
        "POST",
        "/api/v1/dose-records",
        Some(&s.staff_a),
        Some(&dose_record(dob)),
        &[("Idempotency-Key", key)],
    );
    assert_eq!(
        submitted.status,
        201,
        "{}",
        String::from_utf8_lossy(&submitted.body)
    );
    let id = submitted.json()["id"].as_i64().unwrap();
    let confirmed = s.call(
        "POST",
        &format!("/api/v1/dose-records/{id}/confirm"),
        Some(&s.staff_a),
        None,
    );
    assert_eq!(
        confirmed.status,
        200,
        "{}",
        String::from_utf8_lossy(&confirmed.body)
    );
    confirmed.json()
}

fn report_birth_date(s: &Service, uvci: &str, extra: Value) -> Answer {
    let mut body = json!({
        "kind": "birth_date",
        "holder": {"uvci": uvci, "date_of_birth": BORN_AS_PRINTED},
        "proposed": {"date_of_birth": BORN_CORRECTED},
        "note": "Ngày sinh trên chứng nhận sai",
        "email": "an@example.vn",
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    s.call("POST", "/api/v1/corrections", None, Some(&body))
}

/// Clinic A revokes `uvci` without replacement (`reason`): `200`.
fn revoke_by_a(s: &Service, uvci: &str, reason: &str) -> Answer {
    let path = format!("/api/v1/certificates/{}/revoke", path_segment(uvci));
    let revoked = s.call(
        "POST",
        &path,
        Some(&s.staff_a),
        Some(&json!({ "reason": reason })),
    );
    assert_eq!(
        revoked.status,
        200,
        "{}",
        String::from_utf8_lossy(&revoked.body)
    );
    revoked
}

/// `vaxpass-verify check --cache CACHE --anchor ANCHOR --revocations CACHE --format json` of
/// `hc1` (written to a file in `dir`): the exit code and the JSON report.
fn check_cli(bin: &Path, dir: &Path, cache: &str, anchor: &str, hc1: &str) -> (i32, Value) {
    let input = dir.join("hc1.txt");
    std::fs::write(&input, hc1).unwrap();
    let input = format!("@{}", input.display());
    let (code, out) = verify_cli(
        bin,
        &[
            "check",
            "--cache",
            cache,
            "--anchor",
            anchor,
            "--revocations",
            cache,
            "--format",
            "json",
            &input,
        ],
    );
    let report: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    (code, report)
}

fn verify_cli(bin: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Python's hashlib: Base64 of the first 16 bytes of SHA-256 over `data`.
fn python_hash(data: &[u8]) -> Option<String> {
    let script = "import base64,hashlib,sys; d=bytes.fromhex(sys.argv[1]); \
                  print(base64.b64encode(hashlib.sha256(d).digest()[:16]).decode())";
    let out = Command::new("python3")
        .args(["-c", script, &hex_of(data)])
        .output()
        .ok()?;
    assert!(out.status.success(), "python3 failed: {out:?}");
    Some(String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

fn hex_of(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// The gateway JSON's constraints, and the old certificate's three hashes in it, each equal to
/// Python's computation over the bytes the EU names.
fn check_gateway(json: &Value, old_hc1: &str, alg: Algorithm) {
    let batches = json.as_array().unwrap();
    assert!(!batches.is_empty());
    let is_entry = |h: &str| {
        h.len() == 24
            && h.ends_with("==")
            && h[..22]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    let mut found = Vec::new();
    for b in batches {
        let entries = b["entries"].as_array().unwrap();
        assert!((1..=1000).contains(&entries.len()), "{b}");
        let kid = base64::engine::general_purpose::STANDARD
            .decode(b["kid"].as_str().unwrap())
            .unwrap();
        assert_eq!(kid.len(), 8, "{b}");
        assert_eq!(b["country"], "VN");
        let hash_type = b["hashType"].as_str().unwrap().to_owned();
        assert!(["SIGNATURE", "UCI", "COUNTRYCODEUCI"].contains(&hash_type.as_str()));
        assert!(Timestamp::parse(b["expires"].as_str().unwrap()).is_ok());
        for e in entries {
            let h = e["hash"].as_str().unwrap();
            assert!(is_entry(h), "{h}");
            found.push((hash_type.clone(), h.to_owned()));
        }
    }
    let signed = vaxpass_verifier::decode(old_hc1, &Limits::default()).unwrap();
    assert_eq!(signed.algorithm(), Some(alg));
    let payload = signed.dangerous_unverified_payload();
    let v = payload
        .get_text("v")
        .and_then(|v| v.as_array())
        .and_then(|a| a.first())
        .unwrap();
    let ci = v
        .get_text("ci")
        .and_then(|x| x.as_text())
        .unwrap()
        .to_owned();
    let co = v
        .get_text("co")
        .and_then(|x| x.as_text())
        .unwrap()
        .to_owned();
    let sig = signed.signature();
    let signed_part = match alg {
        Algorithm::Es256 => &sig[..32],
        _ => sig,
    };
    let cases = [
        ("SIGNATURE", signed_part.to_vec()),
        ("UCI", ci.as_bytes().to_vec()),
        ("COUNTRYCODEUCI", format!("{co}{ci}").into_bytes()),
    ];
    let ours = CertificateHashes::of(&signed);
    for (name, bytes) in cases {
        let Some(theirs) = python_hash(&bytes) else {
            println!("SKIPPED (hash cross-check): python3 not found");
            return;
        };
        assert!(
            found.contains(&(name.to_owned(), theirs.clone())),
            "{name} {theirs} not in the gateway JSON"
        );
        let t = vaxpass_verifier::revocation::HashType::from_gateway_name(name).unwrap();
        assert_eq!(ours.get(t).unwrap().to_base64(), theirs);
    }
}

/// The whole flow on one database with one DSC algorithm.
fn correction_flow(database: Option<&str>, dsc: KeyAlgorithm, alg: Algorithm) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = start(&data, database, dsc, 3);

    let cert = issue(&s, "dose-1", BORN_AS_PRINTED);
    let old_uvci = cert["uvci"].as_str().unwrap().to_owned();
    let old_hc1 = cert["hc1"].as_str().unwrap().to_owned();
    assert_eq!(cert["payload"]["dob"], BORN_AS_PRINTED);

    // The birth date was wrong in the registry too; the registry authority corrected it.
    s.rt.block_on(s.storage.import_registry(
        [person(BORN_CORRECTED)],
        500,
        &Actor::System("registry-authority".into()),
    ))
    .unwrap();

    // A report whose holder does not match (wrong birth date): the uniform miss.
    let miss = s.call(
        "POST",
        "/api/v1/corrections",
        None,
        Some(&json!({
            "kind": "birth_date",
            "holder": {"uvci": old_uvci, "date_of_birth": "1991-01-01"},
            "proposed": {"date_of_birth": BORN_CORRECTED},
        })),
    );
    assert_eq!(miss.status, 404);
    assert_eq!(miss.json()["code"], "NOT_FOUND");
    let miss_body = miss.body.clone();

    // The citizen reports the wrong birth date.
    let filed = report_birth_date(&s, &old_uvci, json!({}));
    assert_eq!(
        filed.status,
        201,
        "{}",
        String::from_utf8_lossy(&filed.body)
    );
    let filed = filed.json();
    let reference = filed["reference"].as_str().unwrap().to_owned();
    let token = filed["status_token"].as_str().unwrap().to_owned();
    assert_eq!(filed["status"], "open");

    // Its status with the token; a wrong token or an unknown reference: the same 404.
    let path = format!("/api/v1/corrections/{reference}");
    let seen = s.call_with("GET", &path, None, None, &[("X-Status-Token", &token)]);
    assert_eq!(seen.status, 200);
    assert_eq!(seen.json()["status"], "open");
    let wrong = s.call_with("GET", &path, None, None, &[("X-Status-Token", "00ff")]);
    let unknown = s.call_with(
        "GET",
        "/api/v1/corrections/VXC-0000000000000000",
        None,
        None,
        &[("X-Status-Token", &token)],
    );
    let none = s.call("GET", &path, None, None);
    for a in [&wrong, &unknown, &none] {
        assert_eq!(a.status, 404);
        assert_eq!(a.body, miss_body, "one answer for every miss");
    }

    // Clinic B neither sees nor approves it.
    let b_list = s.call("GET", "/api/v1/corrections", Some(&s.staff_b), None);
    assert_eq!(b_list.status, 200);
    assert_eq!(b_list.json(), json!([]));
    let b_approve = s.call("POST", &format!("{path}/approve"), Some(&s.staff_b), None);
    assert_eq!(b_approve.status, 404);
    assert_eq!(b_approve.json()["code"], "NOT_FOUND");

    // A page size out of range is refused (found by schemathesis: 201 used to be clamped).
    for q in ["limit=0", "limit=201", "limit=x"] {
        let bad = s.call(
            "GET",
            &format!("/api/v1/corrections?{q}"),
            Some(&s.staff_a),
            None,
        );
        assert_eq!(bad.status, 422, "{q}");
        assert_eq!(bad.json()["code"], "INVALID_REQUEST", "{q}");
    }

    // Clinic A sees the record, the registry's answer and the proposal.
    let list = s.call("GET", "/api/v1/corrections", Some(&s.staff_a), None);
    assert_eq!(list.status, 200);
    let list = list.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["reference"], reference.as_str());
    assert_eq!(list[0]["registry_verified"], true, "{list}");
    assert_eq!(list[0]["proposed"]["date_of_birth"], BORN_CORRECTED);
    assert_eq!(
        list[0]["record"]["identity"]["date_of_birth"],
        BORN_AS_PRINTED
    );

    // Approved: a new certificate, new UVCI, replacing the old one.
    let approved = s.call("POST", &format!("{path}/approve"), Some(&s.staff_a), None);
    assert_eq!(
        approved.status,
        200,
        "{}",
        String::from_utf8_lossy(&approved.body)
    );
    let approved = approved.json();
    let new_uvci = approved["certificate"]["uvci"].as_str().unwrap().to_owned();
    let new_hc1 = approved["certificate"]["hc1"].as_str().unwrap().to_owned();
    assert_ne!(new_uvci, old_uvci);
    assert_eq!(approved["replaces"], old_uvci.as_str());
    assert_eq!(approved["certificate"]["payload"]["dob"], BORN_CORRECTED);
    assert_eq!(
        s.rt.block_on(s.storage.certificate_replaces(&new_uvci))
            .unwrap(),
        Some(old_uvci.clone())
    );
    let old_revocation =
        s.rt.block_on(s.storage.get_revocation(&old_uvci))
            .unwrap()
            .unwrap();
    assert_eq!(
        old_revocation.replaced_by.as_deref(),
        Some(new_uvci.as_str())
    );
    // The record's earlier values are kept.
    let record_id = list[0]["dose_record_id"].as_i64().unwrap();
    let history =
        s.rt.block_on(s.storage.dose_record_history(record_id))
            .unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].previous.contains(BORN_AS_PRINTED));
    // Approving again changes nothing.
    let again = s.call("POST", &format!("{path}/approve"), Some(&s.staff_a), None);
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["code"], "CHANGED");
    let seen = s.call_with("GET", &path, None, None, &[("X-Status-Token", &token)]);
    assert_eq!(seen.json()["status"], "approved");
    assert_eq!(seen.json()["new_uvci"], new_uvci.as_str());
    // No SMTP server configured: the citizen's email waits in the outbox, not lost.
    let outbox = s.rt.block_on(s.storage.notice_counts()).unwrap();
    assert_eq!((outbox.sent, outbox.unsent), (0, 1), "{outbox:?}");
    // Every step is on the audit chain, which still verifies.
    let audit = s.rt.block_on(s.storage.audit_verify()).unwrap();
    assert!(audit.entries > 10);

    // The gateway JSON: the old certificate's three hashes, checked independently.
    let gateway = s.call("GET", "/revocations/gateway.json", None, None);
    assert_eq!(gateway.status, 200);
    check_gateway(&gateway.json(), &old_hc1, alg);

    let Some(verify) = common::vaxpass_verify() else {
        println!("SKIPPED (CLI steps): vaxpass-verify is not built next to this test");
        return;
    };
    let anchor = data.join("keys").join("csca.pem");
    let cache = tmp.path().join("cache");
    let base = format!("http://{}", s.addr);
    let (anchor, cache_arg) = (anchor.to_str().unwrap(), cache.to_str().unwrap());
    let sync = |what: &str, path: &str| {
        let url = format!("{base}{path}");
        let args = [
            what, "sync", "--url", &url, "--anchor", anchor, "--cache", cache_arg,
        ];
        verify_cli(&verify, &args)
    };
    let (code, out) = sync("trust-list", "/trust-list");
    assert_eq!(code, 0, "{out}");
    let (code, out) = sync("revocations", "/revocations");
    assert_eq!(code, 0, "{out}");
    // Unchanged: 304 on the next sync.
    let (code, out) = sync("revocations", "/revocations");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not modified"), "{out}");
    let check = |hc1: &str| check_cli(&verify, tmp.path(), cache_arg, anchor, hc1);
    let (code, report) = check(&new_hc1);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["revocation"]["status"], "NOT_REVOKED", "{report}");
    let (code, report) = check(&old_hc1);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["failure"]["code"], "REVOKED", "{report}");
    assert_eq!(report["revocation"]["reason"], "superseded", "{report}");

    // Deltas: the new certificate revoked too (error); the next sync asks `?since=` its
    // cached sequence and gets only what changed, rebuilds the signed list and verifies it.
    let cached_sequence = report["revocation_list"]["sequence"]
        .as_u64()
        .or_else(|| report["revocation"]["list_sequence"].as_u64());
    revoke_by_a(&s, &new_uvci, "error");
    let url = format!("{base}/revocations");
    let (code, out) = verify_cli(
        &verify,
        &[
            "revocations",
            "sync",
            "--url",
            &url,
            "--anchor",
            anchor,
            "--cache",
            cache_arg,
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let synced: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(synced["outcome"], "updated", "{synced}");
    assert_eq!(synced["delta"], true, "{synced}");
    assert_eq!(
        synced["entries"], 6,
        "two certificates, three hashes each: {synced}"
    );
    let full = std::fs::read(cache.join("revocations.cose")).unwrap();
    let transferred = synced["transferred_bytes"].as_u64().unwrap();
    assert!(
        transferred < full.len() as u64,
        "the delta ({transferred} bytes) is smaller than the list ({} bytes)",
        full.len()
    );
    let (code, report) = check(&new_hc1);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["failure"]["code"], "REVOKED", "{report}");
    assert_eq!(report["revocation"]["reason"], "error", "{report}");
    let (code, report) = check(&old_hc1);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["revocation"]["reason"], "superseded", "{report}");
    // The served answers: since = the current sequence is 204; a sequence this service never
    // published, the full list; not a number, 400.
    let current = synced["sequence"].as_u64().unwrap();
    assert!(
        cached_sequence.is_none_or(|c| c < current),
        "{cached_sequence:?} {current}"
    );
    let accept = [(
        "Accept",
        "application/vnd.vaxpass.revocation-delta+cbor, application/cose",
    )];
    let same = s.call_with(
        "GET",
        &format!("/revocations?since={current}"),
        None,
        None,
        &accept,
    );
    assert_eq!(same.status, 204);
    let unknown = s.call_with("GET", "/revocations?since=987654321", None, None, &accept);
    assert_eq!(unknown.status, 200);
    assert_eq!(
        unknown.header("content-type").as_deref(),
        Some("application/cose")
    );
    assert_eq!(
        unknown.body, full,
        "the full list, as cached after the delta"
    );
    let bad = s.call_with("GET", "/revocations?since=yesterday", None, None, &accept);
    assert_eq!(bad.status, 400);
}

#[test]
fn wrong_birth_date_corrected_reissued_and_revoked_es256_sqlite() {
    correction_flow(None, KeyAlgorithm::EcP256, Algorithm::Es256);
}

#[test]
fn wrong_birth_date_corrected_reissued_and_revoked_ps256_sqlite() {
    correction_flow(None, KeyAlgorithm::Rsa2048, Algorithm::Ps256);
}

#[test]
fn wrong_birth_date_corrected_reissued_and_revoked_postgres() {
    common::issuer::on_fresh_postgres("vaxpass_correction_e2e", |url| {
        correction_flow(Some(url), KeyAlgorithm::EcP256, Algorithm::Es256);
    });
}

/// Reject, the per-record limit, revoke without replacement, photos, on one database.
fn review_rules(database: Option<&str>) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // One approved correction per record, then an admin decides.
    let s = start(&data, database, KeyAlgorithm::EcP256, 1);
    let cert = issue(&s, "dose-1", BORN_AS_PRINTED);
    let uvci = cert["uvci"].as_str().unwrap().to_owned();
    s.rt.block_on(s.storage.import_registry(
        [person(BORN_CORRECTED)],
        500,
        &Actor::System("registry-authority".into()),
    ))
    .unwrap();

    // Photos: a PNG is taken, text is not a picture, more than 2 MiB is too large.
    let png = {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        b.extend_from_slice(&[0; 64]);
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let not_image = base64::engine::general_purpose::STANDARD.encode(b"GIF89a not accepted");
    let huge = base64::engine::general_purpose::STANDARD
        .encode([&b"\xFF\xD8\xFF"[..], &vec![0u8; 2 * 1024 * 1024]].concat());
    let a = report_birth_date(&s, &uvci, json!({"photo": {"base64": not_image}}));
    assert_eq!(a.status, 415, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["code"], "PHOTO_TYPE");
    let a = report_birth_date(&s, &uvci, json!({"photo": {"base64": huge}}));
    assert_eq!(a.status, 413, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["code"], "PHOTO_TOO_LARGE");

    // Rejected with a reason (the photo is for the reviewing clinic only).
    let first = report_birth_date(&s, &uvci, json!({"photo": {"base64": png}}));
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let first = first.json();
    let reference = first["reference"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/corrections/{reference}");
    let photo = s.call("GET", &format!("{path}/photo"), Some(&s.staff_a), None);
    assert_eq!(photo.status, 200);
    assert!(photo.body.starts_with(b"\x89PNG"));
    let photo_b = s.call("GET", &format!("{path}/photo"), Some(&s.staff_b), None);
    assert_eq!(photo_b.status, 404);
    let photo_public = s.call("GET", &format!("{path}/photo"), None, None);
    assert_eq!(photo_public.status, 401);
    let rejected = s.call(
        "POST",
        &format!("{path}/reject"),
        Some(&s.staff_a),
        Some(&json!({"reason": "Hồ sơ giấy ghi đúng ngày sinh"})),
    );
    assert_eq!(
        rejected.status,
        200,
        "{}",
        String::from_utf8_lossy(&rejected.body)
    );
    let seen = s.call_with(
        "GET",
        &path,
        None,
        None,
        &[("X-Status-Token", first["status_token"].as_str().unwrap())],
    );
    assert_eq!(seen.json()["status"], "rejected");
    assert_eq!(seen.json()["reason"], "Hồ sơ giấy ghi đúng ngày sinh");

    // A second report, approved: the record's one correction.
    let second = report_birth_date(&s, &uvci, json!({})).json();
    let second_ref = second["reference"].as_str().unwrap();
    let approved = approve_by_a(&s, second_ref);
    let new_uvci = approved["certificate"]["uvci"].as_str().unwrap().to_owned();
    // The old UVCI no longer identifies a holder (it is revoked).
    let stale = report_birth_date(&s, &uvci, json!({}));
    assert_eq!(stale.status, 404);

    // A third report about the record: over the limit, escalated to an admin.
    let third = s.call(
        "POST",
        "/api/v1/corrections",
        None,
        Some(&json!({
            "kind": "name",
            "holder": {"uvci": new_uvci, "date_of_birth": BORN_CORRECTED},
            "proposed": {"full_name": "Nguyễn Văn Ân"},
        })),
    );
    assert_eq!(
        third.status,
        201,
        "{}",
        String::from_utf8_lossy(&third.body)
    );
    let third = third.json();
    assert_eq!(third["status"], "escalated");
    let third_ref = third["reference"].as_str().unwrap();
    let by_clinic = s.call(
        "POST",
        &format!("/api/v1/corrections/{third_ref}/reject"),
        Some(&s.staff_a),
        Some(&json!({"reason": "no"})),
    );
    assert_eq!(by_clinic.status, 403);
    let by_admin = s.call(
        "POST",
        &format!("/api/v1/corrections/{third_ref}/reject"),
        Some(&s.admin),
        Some(&json!({"reason": "Tên trong sổ đăng ký dân cư đã đúng"})),
    );
    assert_eq!(
        by_admin.status,
        200,
        "{}",
        String::from_utf8_lossy(&by_admin.body)
    );

    // Revoked without replacement: not by another clinic (404, as a missing one), by the
    // issuing clinic; again: nothing new. A revoked certificate is no longer handed out.
    let revoke_path = format!("/api/v1/certificates/{}/revoke", path_segment(&new_uvci));
    let by_b = s.call(
        "POST",
        &revoke_path,
        Some(&s.staff_b),
        Some(&json!({"reason": "error"})),
    );
    assert_eq!(by_b.status, 404);
    let superseded = s.call(
        "POST",
        &revoke_path,
        Some(&s.staff_a),
        Some(&json!({"reason": "superseded"})),
    );
    assert_eq!(superseded.status, 422);
    let revoked = revoke_by_a(&s, &new_uvci, "error");
    assert_eq!(revoked.json()["reason"], "error");
    assert_eq!(revoked.json()["newly_revoked"], true);
    let again = s.call(
        "POST",
        &revoke_path,
        Some(&s.admin),
        Some(&json!({"reason": "fraud"})),
    );
    assert_eq!(again.json()["newly_revoked"], false);
    assert_eq!(again.json()["reason"], "error");
    let lookup = s.call(
        "POST",
        "/api/v1/lookup",
        None,
        Some(&json!({
            "full_name": "Nguyễn Văn An",
            "date_of_birth": BORN_CORRECTED,
            "sex": "M",
            "id_number": ID,
            "last_dose_date": common::issuer::recent_date(),
        })),
    );
    assert_eq!(lookup.status, 404);

    // The list now revokes both certificates: three entries each. ETag and 304; a new
    // revocation signs a list with a higher sequence.
    let list = s.call("GET", "/revocations", None, None);
    assert_eq!(list.status, 200);
    let etag = list.header("etag").unwrap();
    let same = s.call_with(
        "GET",
        "/revocations",
        None,
        None,
        &[("If-None-Match", &etag)],
    );
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());
    let sequence = |etag: &str| etag.trim_matches('"').parse::<u64>().unwrap();
    let first_sequence = sequence(&etag);
    let gateway = s
        .call("GET", "/revocations/gateway.json", None, None)
        .json();
    let entries: usize = gateway
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["entries"].as_array().unwrap().len())
        .sum();
    assert_eq!(entries, 6, "{gateway}");
    let cert2 = issue(&s, "dose-2", BORN_CORRECTED);
    let fraud_uvci = cert2["uvci"].as_str().unwrap().to_owned();
    let revoke_path = format!("/api/v1/certificates/{}/revoke", path_segment(&fraud_uvci));
    let fraud = s.call(
        "POST",
        &revoke_path,
        Some(&s.staff_a),
        Some(&json!({"reason": "fraud"})),
    );
    assert_eq!(fraud.status, 200);
    let changed = s.call_with(
        "GET",
        "/revocations",
        None,
        None,
        &[("If-None-Match", &etag)],
    );
    assert_eq!(changed.status, 200);
    assert!(sequence(&changed.header("etag").unwrap()) > first_sequence);
    // `vaxpass-issuer revocations export` writes what the service serves.
    if let Some(bin) = common::issuer::vaxpass_issuer() {
        let served = s
            .call("GET", "/revocations/gateway.json", None, None)
            .json();
        let out = Command::new(bin)
            .args(["revocations", "export", "--database", &s.url])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exported: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(exported, served);
        assert!(String::from_utf8_lossy(&out.stderr).contains("9 entries"));
    } else {
        println!("SKIPPED (export CLI): vaxpass-issuer is not built next to this test");
    }
    assert!(s.rt.block_on(s.storage.audit_verify()).is_ok());

    // A dose never entered: the report names clinic B and the date, and goes to clinic B only;
    // approving it issues nothing (B enters the dose as a record).
    let clinic_b =
        s.rt.block_on(s.storage.authenticate(&s.staff_b))
            .unwrap()
            .unwrap()
            .clinic_id;
    let missing_dose = |proposed: Value| {
        s.call(
            "POST",
            "/api/v1/corrections",
            None,
            Some(&json!({
                "kind": "missing_dose",
                "holder": {"full_name": "Nguyễn Văn An", "date_of_birth": BORN_CORRECTED, "sex": "M", "id_number": ID},
                "proposed": proposed,
                "note": "Mũi 3 tại trạm B chưa được nhập",
            })),
        )
    };
    let missing = missing_dose(
        json!({"clinic_id": clinic_b, "date": "2021-10-01", "dose_number": 3, "series_total": 3}),
    );
    assert_eq!(
        missing.status,
        201,
        "{}",
        String::from_utf8_lossy(&missing.body)
    );
    let missing_ref = missing.json()["reference"].as_str().unwrap().to_owned();
    let in_list = |token: &str| {
        s.call("GET", "/api/v1/corrections", Some(token), None)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["reference"] == missing_ref.as_str())
    };
    assert!(in_list(&s.staff_b));
    assert!(!in_list(&s.staff_a));
    let no_clinic = missing_dose(json!({"date": "2021-10-01"}));
    assert_eq!(no_clinic.status, 422);
    let accepted = s.call(
        "POST",
        &format!("/api/v1/corrections/{missing_ref}/approve"),
        Some(&s.staff_b),
        None,
    );
    assert_eq!(
        accepted.status,
        200,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    assert_eq!(accepted.json()["certificate"], Value::Null);

    // Once the certificates have expired their entries leave the list; fraud ones stay when
    // configured so. The publisher is asked at a later time (the same code the route runs).
    let keys = data.join("keys");
    let manifest =
        vaxpass_keys::manifest::Manifest::load(&keys.join(vaxpass_keys::manifest::MANIFEST_FILE))
            .unwrap();
    let signer: std::sync::Arc<dyn vaxpass_keys::Signer> = std::sync::Arc::from(
        vaxpass_trust_list::publish::open_trust_list_signer(
            &manifest,
            &keys,
            &vaxpass_keys::manifest::Secrets::default(),
        )
        .unwrap(),
    );
    let exp = cert2["exp"].as_i64().unwrap();
    let after_expiry = exp + 2 * 86_400;
    for (keep_fraud, expected) in [(true, 3), (false, 0)] {
        let publisher = RevocationPublisher::new(
            s.storage.clone(),
            signer.clone(),
            RevocationOptions {
                keep_fraud,
                ..RevocationOptions::default()
            },
        );
        let now =
            s.rt.block_on(publisher.current(Timestamp::now().unix_seconds()))
                .unwrap();
        assert_eq!(
            now.entries, 9,
            "three certificates revoked, three hashes each"
        );
        let later = s.rt.block_on(publisher.current(after_expiry)).unwrap();
        assert_eq!(later.entries, expected, "keep_fraud {keep_fraud}");
        assert!(later.sequence > now.sequence);
    }
}

/// `POST /corrections` counts against the lookup's throttles: the sixth attempt from one
/// client (burst 5) is refused with `Retry-After`, whatever it asks.
#[test]
fn reports_are_throttled_like_the_lookup() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start_with(
        &tmp.path().join("data"),
        None,
        KeyAlgorithm::EcP256,
        3,
        false,
    );
    let attempt = |i: u32| {
        s.call(
            "POST",
            "/api/v1/corrections",
            None,
            Some(&json!({
                "kind": "birth_date",
                "holder": {"uvci": format!("URN:UVCI:01:VN:NOPE{i}"), "date_of_birth": BORN_AS_PRINTED},
                "proposed": {"date_of_birth": BORN_CORRECTED},
            })),
        )
    };
    for i in 0..5 {
        assert_eq!(attempt(i).status, 404);
    }
    let refused = attempt(5);
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["code"], "RATE_LIMITED");
    assert!(refused.header("retry-after").is_some());
}

#[test]
fn reject_limit_revoke_and_photos_sqlite() {
    review_rules(None);
}

#[test]
fn reject_limit_revoke_and_photos_postgres() {
    common::issuer::on_fresh_postgres("vaxpass_correction_rules", |url| review_rules(Some(url)));
}

/// Issues a certificate with the wrong birth date, corrects the registry, files the citizen's
/// report (with their email) and approves it at clinic A: `(old UVCI, reference, approval)`.
fn issue_report_approve(s: &Service) -> (String, String, Value) {
    let cert = issue(s, "dose-1", BORN_AS_PRINTED);
    let uvci = cert["uvci"].as_str().unwrap().to_owned();
    s.rt.block_on(s.storage.import_registry(
        [person(BORN_CORRECTED)],
        500,
        &Actor::System("registry-authority".into()),
    ))
    .unwrap();
    let filed = report_birth_date(s, &uvci, json!({}));
    assert_eq!(
        filed.status,
        201,
        "{}",
        String::from_utf8_lossy(&filed.body)
    );
    let reference = filed.json()["reference"].as_str().unwrap().to_owned();
    let approved = approve_by_a(s, &reference);
    (uvci, reference, approved)
}

/// Clinic A approves report `reference`: `200`, the answer.
fn approve_by_a(s: &Service, reference: &str) -> Value {
    let approved = s.call(
        "POST",
        &format!("/api/v1/corrections/{reference}/approve"),
        Some(&s.staff_a),
        None,
    );
    assert_eq!(
        approved.status,
        200,
        "{}",
        String::from_utf8_lossy(&approved.body)
    );
    approved.json()
}

/// The local SMTP sink (`tests/scripts/smtp_sink.py`, aiosmtpd) as a child process, stopped
/// when dropped; `None` (SKIPPED said) without python3 or aiosmtpd.
struct Sink {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Sink {
    /// Whether python3 with aiosmtpd is there (says SKIPPED when not).
    fn available() -> bool {
        let usable = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !usable {
            println!("SKIPPED (email): python3 with aiosmtpd not found (pip install aiosmtpd)");
        }
        usable
    }

    fn start(dir: &Path, port: u16) -> Option<Sink> {
        Sink::start_tls(dir, port, None)
    }

    /// With `tls` (certificate and key PEM files): STARTTLS offered and required.
    fn start_tls(dir: &Path, port: u16, tls: Option<(&Path, &Path)>) -> Option<Sink> {
        use std::io::BufRead as _;
        if !Sink::available() {
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir);
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP sink did not start: {line:?}"));
        Some(Sink {
            child,
            port,
            dir: dir.to_path_buf(),
        })
    }

    /// The `n`th message received (1-based), waiting up to `secs` for it.
    fn message(&self, n: usize, secs: u64) -> Option<Value> {
        let path = self.dir.join(format!("{n}.json"));
        for _ in 0..secs * 10 {
            if let Ok(bytes) = std::fs::read(&path) {
                return Some(serde_json::from_slice(&bytes).unwrap());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }

    fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The outbox's counts once `done` holds of them (waiting up to 30 s: the sender marks a
/// notice sent only after the server's answer), or as they are then.
fn outbox_when(s: &Service, done: impl Fn(&OutboxCounts) -> bool) -> OutboxCounts {
    let mut outbox = s.rt.block_on(s.storage.notice_counts()).unwrap();
    for _ in 0..300 {
        if done(&outbox) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        outbox = s.rt.block_on(s.storage.notice_counts()).unwrap();
    }
    outbox
}

fn smtp_to(port: u16) -> NoticeOptions {
    smtp_options("127.0.0.1", port, SmtpTls::None, None)
}

fn smtp_options(host: &str, port: u16, tls: SmtpTls, ca: Option<&Path>) -> NoticeOptions {
    NoticeOptions {
        smtp: Some(SmtpConfig {
            host: host.into(),
            port: Some(port),
            tls,
            from: "vaxpass <no-reply@vaxpass.test>".into(),
            credentials: None,
            ca_file: ca.map(Path::to_path_buf),
            hello_name: Some("issuer.vaxpass.test".into()),
        }),
        poll: std::time::Duration::from_millis(100),
        retry_min: std::time::Duration::from_secs(1),
        retry_max: std::time::Duration::from_secs(2),
        ..NoticeOptions::default()
    }
}

/// An email as the citizen reads it: to their address, the reference in the subject and
/// body, Vietnamese first then English, nothing of the person but the address.
fn check_email(m: &Value, reference: &str, vi: &str, en: &str) {
    assert_eq!(m["rcpt_tos"], json!(["an@example.vn"]), "{m}");
    assert_eq!(m["to"], "an@example.vn", "{m}");
    assert_eq!(m["from"], "vaxpass <no-reply@vaxpass.test>", "{m}");
    assert_eq!(m["content_type"], "text/plain", "{m}");
    let subject = m["subject"].as_str().unwrap();
    assert!(subject.contains(reference), "{subject}");
    let (subject_vi, subject_en) = (
        subject.find("Kết quả yêu cầu").unwrap(),
        subject.find("Outcome of your request").unwrap(),
    );
    assert!(subject_vi < subject_en, "{subject}");
    let body = m["body"].as_str().unwrap().replace("\r\n", "\n");
    let (at_vi, at_en) = (body.find(vi), body.find(en));
    assert!(
        at_vi.is_some() && at_en.is_some() && at_vi < at_en,
        "Vietnamese ({vi}) then English ({en}):\n{body}"
    );
    assert!(body.matches(reference).count() >= 2, "{body}");
    for personal in [
        ID,
        "Nguyễn",
        BORN_AS_PRINTED,
        BORN_CORRECTED,
        "Ngày sinh trên",
    ] {
        assert!(!body.contains(personal), "{personal} in the email:\n{body}");
        assert!(!subject.contains(personal), "{personal} in the subject");
    }
}

/// report → approve → the citizen's email arrives at a real SMTP server (the sink); a
/// rejection's too; a report without an address sends nothing.
fn emails_of_outcomes(database: Option<&str>) {
    let tmp = tempfile::tempdir().unwrap();
    let Some(sink) = Sink::start(&tmp.path().join("mail"), 0) else {
        return;
    };
    let s = start_notifying(&tmp.path().join("data"), database, smtp_to(sink.port));
    let (uvci, reference, approved) = issue_report_approve(&s);
    let new_uvci = approved["certificate"]["uvci"].as_str().unwrap().to_owned();
    let m = sink
        .message(1, 30)
        .expect("the approval's email within 30 s");
    check_email(
        &m,
        &reference,
        "đã được chấp thuận",
        "was approved. The record was corrected",
    );
    assert!(
        !m["body"].as_str().unwrap().contains(&uvci),
        "no UVCI in the email"
    );

    // A second report about the new certificate, rejected: its email says so, without the
    // reason (the status page shows it to the holder of the token).
    let second = s.call(
        "POST",
        "/api/v1/corrections",
        None,
        Some(&json!({
            "kind": "name",
            "holder": {"uvci": new_uvci, "date_of_birth": BORN_CORRECTED},
            "proposed": {"full_name": "Nguyễn Văn Ân"},
            "email": "an@example.vn",
        })),
    );
    assert_eq!(
        second.status,
        201,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    let second_ref = second.json()["reference"].as_str().unwrap().to_owned();
    let reason = "Tên trong sổ hộ khẩu là Nguyễn Văn An";
    let rejected = s.call(
        "POST",
        &format!("/api/v1/corrections/{second_ref}/reject"),
        Some(&s.staff_a),
        Some(&json!({ "reason": reason })),
    );
    assert_eq!(
        rejected.status,
        200,
        "{}",
        String::from_utf8_lossy(&rejected.body)
    );
    let m = sink
        .message(2, 30)
        .expect("the rejection's email within 30 s");
    check_email(&m, &second_ref, "đã bị từ chối", "was rejected");
    assert!(!m["body"].as_str().unwrap().contains(reason));

    // A report without an address, rejected: no email.
    let third = s.call(
        "POST",
        "/api/v1/corrections",
        None,
        Some(&json!({
            "kind": "sex",
            "holder": {"uvci": new_uvci, "date_of_birth": BORN_CORRECTED},
            "proposed": {"sex": "F"},
        })),
    );
    assert_eq!(third.status, 201);
    let third_ref = third.json()["reference"].as_str().unwrap().to_owned();
    let rejected = s.call(
        "POST",
        &format!("/api/v1/corrections/{third_ref}/reject"),
        Some(&s.staff_a),
        Some(&json!({ "reason": "Không đúng" })),
    );
    assert_eq!(rejected.status, 200);
    let outbox = outbox_when(&s, |o| o.sent == 2);
    assert_eq!((outbox.sent, outbox.unsent), (2, 0), "{outbox:?}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(sink.count(), 2, "one email per outcome with an address");
}

#[test]
fn the_citizen_is_emailed_the_outcome_sqlite() {
    emails_of_outcomes(None);
}

#[test]
fn the_citizen_is_emailed_the_outcome_postgres() {
    common::issuer::on_fresh_postgres("vaxpass_correction_email", |url| {
        emails_of_outcomes(Some(url));
    });
}

/// The SMTP server is down when the report is approved: the email stays in the outbox,
/// failed attempts are recorded, and once the server is up it arrives (once).
#[test]
fn an_email_waits_for_a_server_that_is_down() {
    if !Sink::available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The SMTP server's port, held while it is "down" by a listener that drops every
    // connection before the greeting (so that no other test's server takes the port).
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let down = {
        let up = up.clone();
        std::thread::spawn(move || {
            for conn in holder.incoming() {
                drop(conn);
                if up.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
            }
        })
    };
    let s = start_notifying(&tmp.path().join("data"), None, smtp_to(port));
    let (_, reference, _) = issue_report_approve(&s);
    // At least two failed attempts (the retry came), nothing sent.
    let outbox = outbox_when(&s, |o| o.unsent_attempts >= 2);
    assert!(outbox.unsent_attempts >= 2, "{outbox:?}");
    assert_eq!(
        (outbox.sent, outbox.unsent, outbox.failing),
        (0, 1, 1),
        "{outbox:?}"
    );
    // The server comes up on that port: the next retry delivers.
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = std::net::TcpStream::connect(("127.0.0.1", port));
    down.join().unwrap();
    let Some(sink) = Sink::start(&tmp.path().join("mail"), port) else {
        return;
    };
    let m = sink
        .message(1, 30)
        .expect("the email once the server is up");
    check_email(
        &m,
        &reference,
        "đã được chấp thuận",
        "was approved. The record was corrected",
    );
    let outbox = outbox_when(&s, |o| o.sent == 1);
    assert_eq!((outbox.sent, outbox.unsent), (1, 0), "{outbox:?}");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(sink.count(), 1, "delivered once");
}

/// A CA and a certificate for `localhost` it issued, made by openssl in `dir`: `(ca.pem,
/// leaf.pem, leaf.key)`; `None` (SKIPPED said) without openssl.
fn smtp_tls_certificates(
    dir: &Path,
) -> Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map(|o| {
                assert!(o.status.success(), "openssl {args:?}: {o:?}");
            })
    };
    let ext = dir.join("leaf.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let made = openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=vaxpass test SMTP CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        ]
        .concat(),
    );
    if made.is_err() {
        println!("SKIPPED (SMTP over TLS): openssl not found");
        return None;
    }
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ])
    .unwrap();
    Some((
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    ))
}

/// STARTTLS, required: the email goes over TLS to a server whose certificate chains to
/// `--smtp-ca`; to a server the service cannot authenticate (no `--smtp-ca`), nothing is sent
/// (the notice waits and is retried).
#[test]
fn the_email_goes_over_starttls_only_to_a_trusted_server() {
    if !Sink::available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some((ca, cert, key)) = smtp_tls_certificates(tmp.path()) else {
        return;
    };
    let Some(sink) = Sink::start_tls(&tmp.path().join("mail"), 0, Some((&cert, &key))) else {
        return;
    };
    let approve_one = |s: &Service| issue_report_approve(s).1;

    // Not trusted: the handshake fails, the notice stays unsent.
    {
        let s = start_notifying(
            &tmp.path().join("data-untrusted"),
            None,
            smtp_options("localhost", sink.port, SmtpTls::StartTls, None),
        );
        approve_one(&s);
        let outbox = outbox_when(&s, |o| o.unsent_attempts >= 1);
        assert_eq!((outbox.sent, outbox.unsent), (0, 1), "{outbox:?}");
        assert!(outbox.unsent_attempts >= 1, "{outbox:?}");
        assert_eq!(
            sink.count(),
            0,
            "nothing sent to a server not authenticated"
        );
    }

    // Trusted through --smtp-ca: delivered, encrypted.
    let s = start_notifying(
        &tmp.path().join("data"),
        None,
        smtp_options("localhost", sink.port, SmtpTls::StartTls, Some(&ca)),
    );
    let reference = approve_one(&s);
    let m = sink
        .message(1, 30)
        .expect("the email over STARTTLS within 30 s");
    assert_eq!(m["tls"], true, "{m}");
    check_email(
        &m,
        &reference,
        "đã được chấp thuận",
        "was approved. The record was corrected",
    );
}

/// A new DSC for the key directory `keys` (its CSCA signs it, as `vaxpass-keys dsc request`,
/// `dsc sign` and `dsc install --activate` do), made current at `now`; its kid.
fn rotate_to_new_dsc(keys: &Path, now: Timestamp) -> String {
    use vaxpass_keys::manifest::{DscEntry, KeyLocation, MANIFEST_FILE, Manifest};
    use vaxpass_keys::profile::{DistinguishedName, DscProfile, Validity};
    use vaxpass_keys::storage::{self, KeyEncryption};
    use vaxpass_keys::{PrivateKey, cert};
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let key_file = keys.join("dsc-2.key.pem");
    storage::write_private_key(&key_file, &key, None, KeyEncryption::default()).unwrap();
    let csr = cert::create_csr(&key, &DistinguishedName::new("VN", "Bộ Y tế", "VN DSC 2")).unwrap();
    let (csca_der, _) = storage::read_certificate(&keys.join("csca.pem")).unwrap();
    let csca_key = storage::read_private_key(&keys.join("csca.key.pem"), None).unwrap();
    let profile = DscProfile {
        types: vec![vaxpass_keys::CertificateType::Vaccination],
        validity: Validity::starting(
            Timestamp::from_unix_seconds(now.unix_seconds() - 60),
            365 * 86_400,
        ),
        subject: None,
    };
    let der = cert::issue_dsc(
        &csca_der,
        &csca_key,
        &cert::VerifiedCsr::verify(&csr).unwrap(),
        &profile,
    )
    .unwrap();
    storage::write_certificate(&keys.join("dsc-2.pem"), &der).unwrap();
    let entry = DscEntry::from_certificate(
        &der,
        "dsc-2.pem".into(),
        KeyLocation::File {
            path: "dsc-2.key.pem".into(),
        },
    )
    .unwrap();
    let kid = entry.kid.clone();
    let path = keys.join(MANIFEST_FILE);
    let mut manifest = Manifest::load(&path).unwrap();
    manifest.add_dsc(entry).unwrap();
    manifest.rotate(&kid, now).unwrap();
    manifest.save(&path).unwrap();
    kid
}

/// Issue 14 item 6: certificates of DSC A; the key is compromised: rotate to B, `batch
/// reissue --signed-by A` (kill -9 and resume are `issuer/tests/batch.rs`); a verifier whose
/// trust list still has A finds the old certificate REVOKED by its signature, and after the
/// next trust-list sync A is gone and the re-signed certificate (same UVCI) verifies, not
/// revoked.
#[test]
fn a_compromised_dsc_is_replaced_and_its_old_signatures_revoked() {
    let (Some(verify), Some(issuer_bin)) =
        (common::vaxpass_verify(), common::issuer::vaxpass_issuer())
    else {
        println!("SKIPPED: vaxpass-verify or vaxpass-issuer is not built next to this test");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let keys = data.join("keys");
    let cache = tmp.path().join("cache");
    let anchor = keys.join("csca.pem");
    let (anchor, cache_arg) = (anchor.to_str().unwrap(), cache.to_str().unwrap());
    let sync = |addr: &str, what: &str, path: &str| {
        let url = format!("http://{addr}{path}");
        let (code, out) = verify_cli(
            &verify,
            &[
                what, "sync", "--url", &url, "--anchor", anchor, "--cache", cache_arg,
            ],
        );
        assert_eq!(code, 0, "{out}");
    };
    let check = |hc1: &str| check_cli(&verify, tmp.path(), cache_arg, anchor, hc1);

    let s = start(&data, None, KeyAlgorithm::EcP256, 3);
    let cert = issue(&s, "dose-1", BORN_AS_PRINTED);
    let (uvci, old_hc1) = (
        cert["uvci"].as_str().unwrap().to_owned(),
        cert["hc1"].as_str().unwrap().to_owned(),
    );
    let kid_a = vaxpass_verifier::decode(&old_hc1, &Limits::default())
        .unwrap()
        .kid()
        .unwrap()
        .to_base64();
    sync(&s.addr, "trust-list", "/trust-list");
    let url = s.url.clone();
    drop(s);

    let kid_b = rotate_to_new_dsc(&keys, Timestamp::now());
    let out = Command::new(&issuer_bin)
        .args([
            "batch",
            "reissue",
            "--signed-by",
            &kid_a,
            "--progress",
            "none",
        ])
        .args(["--database", &url, "--keys"])
        .arg(&keys)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("re-signed 1 certificates"), "{stdout}");
    assert!(stdout.contains("withdrawn from the trust list"), "{stdout}");

    // The service again, on the same data: the trust list without A, the revocation list with
    // the old signature.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), data.clone());
    config.database_url = Some(url.clone());
    let server = rt.block_on(Server::start(config)).unwrap();
    let addr = server.local_addr().to_string();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    let new_hc1 = rt
        .block_on(async {
            let storage = Storage::open(&url).await.unwrap();
            storage.get_certificate(&uvci).await.unwrap()
        })
        .unwrap()
        .hc1;
    assert_ne!(new_hc1, old_hc1);

    // A verifier that still trusts A: the old certificate is revoked (by its signature).
    sync(&addr, "revocations", "/revocations");
    let (code, report) = check(&old_hc1);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["failure"]["code"], "REVOKED", "{report}");
    assert_eq!(report["revocation"]["hash_type"], "SIGNATURE", "{report}");
    // After the trust-list sync: A is gone, B signs the same certificate, not revoked.
    sync(&addr, "trust-list", "/trust-list");
    let listed = try_http(&addr, "GET", "/trust-list.json", None, None, &[]).unwrap();
    let listed = String::from_utf8_lossy(&listed.body).into_owned();
    assert!(
        !listed.contains(&kid_a) && listed.contains(&kid_b),
        "{listed}"
    );
    let (code, report) = check(&new_hc1);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["revocation"]["status"], "NOT_REVOKED", "{report}");
    let (code, report) = check(&old_hc1);
    assert_eq!(code, 1, "the old signer is no longer trusted: {report}");
}
