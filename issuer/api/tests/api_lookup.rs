//! The public lookup portal (`POST /api/v1/lookup`), driven in-process with
//! `tower::ServiceExt::oneshot`: real SQLite files (and PostgreSQL when
//! `VAXPASS_TEST_POSTGRES_URL` is set, a database per test), real signatures, the client
//! address given as `ConnectInfo` the way `into_make_service_with_connect_info` does, and a
//! clock the tests move forward instead of sleeping.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use vaxpass_issuer_api::{AppState, Config, app};
use vaxpass_issuer_domain::identity::{IdNumber, Sex};
use vaxpass_issuer_domain::matching::RegistryPerson;
use vaxpass_issuer_domain::names::strip_diacritics;
use vaxpass_issuer_store::Storage;
use vaxpass_issuer_workflow::ratelimit::{LookupLimits, Rate};
use vaxpass_keys::Signer;
use vaxpass_verifier::{Timestamp, TrustStore, Verifier};

const PKI_START: i64 = 1_780_000_000;
const NOW: i64 = PKI_START + 86_400;

struct Env {
    app: Router,
    storage: Storage,
    signer: Arc<dyn Signer>,
    persons: Vec<RegistryPerson>,
    token: String,
    clock: Arc<AtomicI64>,
    _keys: tempfile::TempDir,
    _db: Option<tempfile::TempDir>,
    /// PostgreSQL: the database to drop.
    pg: Option<common::PgDb>,
}

/// Raw answer: status, headers without `date`, body bytes.
type Raw = (StatusCode, HeaderMap, Bytes);

async fn env_at(
    url: String,
    db: Option<tempfile::TempDir>,
    pg: Option<common::PgDb>,
    limits: LookupLimits,
) -> Env {
    let common::OneClinic {
        storage,
        persons,
        token,
        keys,
        signer,
    } = common::one_clinic(&url, 300, 11, PKI_START, NOW).await;
    let clock = Arc::new(AtomicI64::new(NOW));
    let c = clock.clone();
    let state = AppState::new(storage.clone(), signer.clone(), Config::default())
        .unwrap()
        .with_clock(move || c.load(Ordering::SeqCst))
        .with_lookup_limits(limits);
    Env {
        app: app(state),
        storage,
        signer,
        persons,
        token,
        clock,
        _keys: keys,
        _db: db,
        pg,
    }
}

async fn sqlite_env(limits: LookupLimits) -> Env {
    let (url, dir) = common::sqlite_url();
    env_at(url, Some(dir), None, limits).await
}

async fn postgres_env(limits: LookupLimits) -> Option<Env> {
    let db = common::pg_database("vaxpass_test").await?;
    let url = db.url.clone();
    Some(env_at(url, None, Some(db), limits).await)
}

impl Env {
    async fn drop_db(self) {
        self.storage.close().await;
        if let Some(db) = self.pg {
            db.drop().await;
        }
    }

    async fn send(&self, req: Request<Body>) -> Raw {
        common::send(&self.app, req).await
    }

    async fn post(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        let req = Request::post(uri)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, _, bytes) = self.send(req).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A lookup from `ip` (`None`: no connect info, as a router served without it).
    async fn lookup_raw(&self, ip: Option<[u8; 4]>, body: &str) -> Raw {
        let mut req = Request::post("/api/v1/lookup")
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        if let Some(ip) = ip {
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
        }
        self.send(req).await
    }

    async fn lookup(&self, ip: [u8; 4], body: &Value) -> Raw {
        self.lookup_raw(Some(ip), &body.to_string()).await
    }

    /// Submits and confirms one dose; returns the certificate.
    async fn issue(&self, p: &RegistryPerson, dose: u32, date: &str) -> Value {
        let mut record = json!({
            "id_number": p.id.to_string(),
            "full_name": p.full_name,
            "date_of_birth": p.date_of_birth.to_string(),
            "sex": if p.sex == Sex::Male { "M" } else { "F" },
            "vaccine": { "mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007" },
            "dose_number": dose,
            "series_total": 2,
            "date": date,
        });
        // The clinic typed the number with spaces: the lookup must still find it.
        record["id_number"] = json!(spaced(&p.id.to_string()));
        let (status, body) = self.post("/api/v1/dose-records", &record).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "verified", "{body}");
        let id = body["id"].as_i64().unwrap();
        let (status, cert) = self
            .post(&format!("/api/v1/dose-records/{id}/confirm"), &json!(null))
            .await;
        assert_eq!(status, StatusCode::OK, "{cert}");
        cert
    }

    /// CCCD holders whose names carry diacritics.
    fn people(&self) -> Vec<&RegistryPerson> {
        self.persons
            .iter()
            .filter(|p| p.id.as_cccd().is_some() && strip_diacritics(&p.full_name) != p.full_name)
            .collect()
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }
}

fn spaced(digits: &str) -> String {
    digits
        .as_bytes()
        .chunks(3)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

fn details(p: &RegistryPerson, last_dose: &str) -> Value {
    json!({
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.to_string(),
        "sex": if p.sex == Sex::Male { "M" } else { "F" },
        "id_number": p.id.to_string(),
        "last_dose_date": last_dose,
    })
}

fn generous() -> LookupLimits {
    LookupLimits {
        per_client: Rate::new(1_000, 1_000, 60),
        per_id_network: Rate::new(1_000, 1_000, 60),
        per_id: Rate::new(1_000, 1_000, 60),
        ..LookupLimits::default()
    }
}

/// An ID one digit away from `id` that is still a valid CCCD (a registered person or not).
fn one_digit_off(id: &str) -> String {
    let mut digits = id.as_bytes().to_vec();
    for i in (6..12).rev() {
        let orig = digits[i];
        digits[i] = if orig == b'9' { b'0' } else { orig + 1 };
        let s = String::from_utf8(digits.clone()).unwrap();
        if IdNumber::parse_national(&s).is_ok() {
            return s;
        }
        digits[i] = orig;
    }
    panic!("no valid neighbour");
}

async fn latest_certificate_and_identical_misses(env: &Env) {
    let people = env.people();
    let p = people[0];
    let dose1 = env.issue(p, 1, "2026-02-01").await;
    let dose2 = env.issue(p, 2, "2026-04-01").await;
    assert_ne!(dose1["uvci"], dose2["uvci"]);
    // Another person with a certificate of their own, and one without any.
    let other = people[1];
    env.issue(other, 1, "2026-04-01").await;
    let uncertified = people[2];

    // All details of the latest dose: its certificate, verifiable.
    let ip = [192, 0, 2, 1];
    let (status, headers, body) = env.lookup(ip, &details(p, "2026-04-01")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    let cert: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(cert["uvci"], dose2["uvci"]);
    assert_eq!(cert["hc1"], dose2["hc1"]);
    let store = TrustStore::from_der_certificates([env.signer.certificate_der()]).unwrap();
    let verified = Verifier::new(store)
        .verify(
            cert["hc1"].as_str().unwrap(),
            Timestamp::from_unix_seconds(NOW + 60),
        )
        .unwrap();
    assert_eq!(verified.payload_json().unwrap()["v"][0]["dn"], 2);

    // Case, spacing, Unicode form and a spaced ID number do not matter.
    let mut loose = details(p, "2026-04-01");
    loose["full_name"] = json!(format!(
        "  {}  ",
        p.full_name.to_uppercase().replace(' ', "   ")
    ));
    loose["id_number"] = json!(spaced(&p.id.to_string()));
    let (status, _, body) = env.lookup(ip, &loose).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["uvci"],
        dose2["uvci"]
    );

    // Every kind of miss: the same status, headers and body, byte for byte.
    let mut misses: Vec<(&str, Value)> = Vec::new();
    let good = details(p, "2026-04-01");
    let with = |field: &str, value: Value| {
        let mut d = good.clone();
        d[field] = value;
        d
    };
    misses.push((
        "name without diacritics",
        with("full_name", json!(strip_diacritics(&p.full_name))),
    ));
    misses.push(("another name", with("full_name", json!(other.full_name))));
    let dob = p.date_of_birth;
    let day = if dob.day() == 1 { 2 } else { dob.day() - 1 };
    let wrong_dob = format!("{:04}-{:02}-{:02}", dob.year(), dob.month(), day);
    misses.push(("birth date", with("date_of_birth", json!(wrong_dob))));
    misses.push((
        "birth year only",
        with("date_of_birth", json!(dob.year().to_string())),
    ));
    misses.push((
        "sex",
        with("sex", json!(if p.sex == Sex::Male { "F" } else { "M" })),
    ));
    misses.push(("sex not parseable", with("sex", json!("x"))));
    misses.push((
        "ID one digit off",
        with("id_number", json!(one_digit_off(&p.id.to_string()))),
    ));
    misses.push(("ID not parseable", with("id_number", json!("12345"))));
    misses.push((
        "earlier dose's date",
        with("last_dose_date", json!("2026-02-01")),
    ));
    misses.push((
        "date not parseable",
        with("last_dose_date", json!("2026-13-01")),
    ));
    misses.push((
        "another person's ID",
        with("id_number", json!(other.id.to_string())),
    ));
    misses.push((
        "person without a certificate",
        details(uncertified, "2026-04-01"),
    ));
    let unknown = (0..)
        .map(|i| one_digit_off(&format!("079{:09}", 185_000_000 + i)))
        .find(|s| !env.persons.iter().any(|q| q.id.to_string() == *s))
        .unwrap();
    misses.push(("unknown ID", with("id_number", json!(unknown))));

    let mut first: Option<Raw> = None;
    for (what, body) in &misses {
        let raw = env.lookup(ip, body).await;
        assert_eq!(raw.0, StatusCode::NOT_FOUND, "{what}");
        match &first {
            None => {
                assert_eq!(
                    serde_json::from_slice::<Value>(&raw.2).unwrap(),
                    json!({"code": "NOT_FOUND", "message": "no certificate matches these details"})
                );
                assert_eq!(raw.1["cache-control"], "no-store");
                first = Some(raw);
            }
            Some(first) => assert_eq!(&raw, first, "{what}"),
        }
    }

    // Malformed JSON is a 422 (it says nothing about anyone).
    let (status, _, body) = env.lookup_raw(Some(ip), "{\"full_name\": ").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "INVALID_REQUEST");

    // The two certificates handed out are on record, by UVCI only; the misses are not.
    let entries = env.storage.audit_entries(0, 10_000).await.unwrap();
    let lookups: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "certificate.lookup")
        .collect();
    assert_eq!(lookups.len(), 2, "{lookups:?}");
    let subject = format!("certificate:{}", dose2["uvci"].as_str().unwrap());
    for e in &lookups {
        assert_eq!(e.subject, subject);
        assert_eq!(e.actor, "system:lookup-portal");
        assert_eq!(e.details, r#"{"via":"portal"}"#);
        for personal in [
            p.full_name.clone(),
            p.id.to_string(),
            p.date_of_birth.to_string(),
        ] {
            assert!(!format!("{e:?}").contains(&personal), "{e:?}");
        }
    }
    env.storage.audit_verify().await.unwrap();
}

#[tokio::test]
async fn latest_certificate_and_identical_misses_sqlite() {
    let env = sqlite_env(generous()).await;
    latest_certificate_and_identical_misses(&env).await;
    env.drop_db().await;
}

#[tokio::test]
async fn latest_certificate_and_identical_misses_postgres() {
    let Some(env) = postgres_env(generous()).await else {
        return;
    };
    latest_certificate_and_identical_misses(&env).await;
    env.drop_db().await;
}

fn retry_after(raw: &Raw) -> i64 {
    raw.1["retry-after"].to_str().unwrap().parse().unwrap()
}

/// Default limits: 5 attempts an ID at once from one /24 network, then one per 720 s; 20 an ID
/// in all (then one per 180 s), whichever network. Issue 12, item 9: five wrong tries from
/// other addresses used to lock the holder out for 12 minutes; now the holder, on another
/// network, keeps their own 5.
async fn holder_keeps_a_way_in_after_foreign_attempts(env: &Env) {
    let p = env.people()[0];
    env.issue(p, 1, "2026-04-01").await;
    let wrong = {
        let mut d = details(p, "2026-04-01");
        d["sex"] = json!("x");
        d
    };
    for i in 0..5u8 {
        let (status, _, _) = env.lookup([198, 51, 100, i], &wrong).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // The 6th from the same /24, even from a fresh address and with the right details, is
    // refused like any other.
    let refused = env
        .lookup([198, 51, 100, 77], &details(p, "2026-04-01"))
        .await;
    assert_eq!(refused.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused), 720);
    let body: Value = serde_json::from_slice(&refused.2).unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
    // The holder, from their own network, gets their certificate.
    let (status, _, _) = env
        .lookup([203, 0, 113, 5], &details(p, "2026-04-01"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // An unknown ID is refused the same way after 5 attempts from one network: the 429 says
    // nothing about whether the number exists.
    let mut unknown = details(p, "2026-04-01");
    unknown["id_number"] = json!(one_digit_off(&p.id.to_string()));
    for i in 0..5u8 {
        let (status, _, _) = env.lookup([198, 51, 100, 100 + i], &unknown).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let refused_unknown = env.lookup([198, 51, 100, 177], &unknown).await;
    assert_eq!(refused_unknown, refused);
    // Written differently, it is still the same number.
    let mut spaced_id = details(p, "2026-04-01");
    spaced_id["id_number"] = json!(spaced(&p.id.to_string()));
    let (status, _, _) = env.lookup([198, 51, 100, 78], &spaced_id).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // The ceiling: 20 attempts on the ID in all (5 + 1 above), whichever network.
    for net in 0..14u8 {
        let (status, _, _) = env.lookup([192, 0, net, 1], &wrong).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "network {net}");
    }
    let over = env
        .lookup([192, 0, 200, 1], &details(p, "2026-04-01"))
        .await;
    assert_eq!(over.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&over), 180);
    env.advance(180);
    let (status, _, _) = env
        .lookup([192, 0, 201, 1], &details(p, "2026-04-01"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The first network's bucket refills at one per 720 s.
    env.advance(720 - 180 - 1);
    let (status, _, _) = env
        .lookup([198, 51, 100, 79], &details(p, "2026-04-01"))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    env.advance(1);
    let (status, _, _) = env
        .lookup([198, 51, 100, 80], &details(p, "2026-04-01"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn holder_keeps_a_way_in_after_foreign_attempts_sqlite() {
    let env = sqlite_env(LookupLimits::default()).await;
    holder_keeps_a_way_in_after_foreign_attempts(&env).await;
    env.drop_db().await;
}

#[tokio::test]
async fn holder_keeps_a_way_in_after_foreign_attempts_postgres() {
    let Some(env) = postgres_env(LookupLimits::default()).await else {
        return;
    };
    holder_keeps_a_way_in_after_foreign_attempts(&env).await;
    env.drop_db().await;
}

/// Issue 12, item 9: a spread attack over more ID numbers than the limiter keeps buckets for
/// used to lock the portal for everyone (a new ID was refused until a bucket refilled); now
/// the oldest buckets are evicted and the holder is served.
#[tokio::test]
async fn lookup_limiter_evicts_instead_of_locking_out() {
    let env = sqlite_env(LookupLimits {
        max_keys: 20,
        min_answer_time: std::time::Duration::ZERO,
        answer_jitter: std::time::Duration::ZERO,
        ..LookupLimits::default()
    })
    .await;
    let people = env.people();
    let holder = people[0];
    env.issue(holder, 1, "2026-04-01").await;
    // 60 unknown numbers, each from its own address: more than the 20 buckets kept.
    let holder_id = holder.id.to_string();
    for i in 0..60u8 {
        let id = format!("{}{:04}", &holder_id[..8], 1_000 + u32::from(i));
        assert!(IdNumber::parse_national(&id).is_ok() && id != holder_id);
        let mut d = details(people[1], "2026-04-01");
        d["id_number"] = json!(id);
        let (status, _, _) = env.lookup([10, 1, i, 1], &d).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "attempt {i}");
    }
    let (status, _, _) = env
        .lookup([203, 0, 113, 5], &details(holder, "2026-04-01"))
        .await;
    assert_eq!(status, StatusCode::OK);
    env.drop_db().await;
}

/// Default limits: 5 attempts an address at once, then one per 6 s.
#[tokio::test]
async fn client_limit() {
    let env = sqlite_env(LookupLimits::default()).await;
    let people = env.people();
    let ip = [192, 0, 2, 9];
    for p in people.iter().take(5) {
        let (status, _, _) = env.lookup(ip, &details(p, "2026-04-01")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let refused = env.lookup(ip, &details(people[5], "2026-04-01")).await;
    assert_eq!(refused.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused), 6);
    // Another address is not affected.
    let (status, _, _) = env
        .lookup([192, 0, 2, 10], &details(people[5], "2026-04-01"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.advance(6);
    let (status, _, _) = env.lookup(ip, &details(people[6], "2026-04-01")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = env.lookup(ip, &details(people[7], "2026-04-01")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Without connect info every request shares one bucket (fail safe, not fail open).
    for p in people.iter().skip(10).take(5) {
        let (status, _, _) = env
            .lookup_raw(None, &details(p, "2026-04-01").to_string())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _, _) = env
        .lookup_raw(None, &details(people[15], "2026-04-01").to_string())
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    env.drop_db().await;
}

/// Behind a trusted proxy the last `X-Forwarded-For` entry is the client.
#[tokio::test]
async fn forwarded_for_only_when_trusted() {
    for trusted in [false, true] {
        let env = sqlite_env(LookupLimits {
            trust_forwarded_for: trusted,
            ..LookupLimits::default()
        })
        .await;
        let people = env.people();
        let mut last = StatusCode::OK;
        for (i, p) in people.iter().take(6).enumerate() {
            let req = Request::post("/api/v1/lookup")
                .header("content-type", "application/json")
                .header("x-forwarded-for", format!("10.0.0.{i}, 192.0.2.{i}"))
                .body(Body::from(details(p, "2026-04-01").to_string()))
                .unwrap();
            let mut req = req;
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
            last = env.send(req).await.0;
        }
        // Trusted: six clients, none over its limit. Not trusted: one proxy address, over.
        let expected = if trusted {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(last, expected, "trusted: {trusted}");
        env.drop_db().await;
    }
}
