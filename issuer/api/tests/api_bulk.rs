//! Bulk upload (`POST /api/v1/dose-records:bulk`), driven in-process with
//! `tower::ServiceExt::oneshot` on real SQLite files (and PostgreSQL when
//! `VAXPASS_TEST_POSTGRES_URL` is set, a database per test).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use vaxpass_issuer_api::limits::SubmitLimits;
use vaxpass_issuer_api::{AppState, Config, app};
use vaxpass_issuer_domain::identity::Sex;
use vaxpass_issuer_domain::matching::RegistryPerson;
use vaxpass_issuer_domain::names::strip_diacritics;
use vaxpass_issuer_store::{Page, Storage};
use vaxpass_issuer_workflow::ratelimit::LookupLimits;
use vaxpass_keys::Signer;

const PKI_START: i64 = 1_780_000_000;
const NOW: i64 = PKI_START + 86_400;

struct Env {
    app: Router,
    storage: Storage,
    _signer: Arc<dyn Signer>,
    persons: Vec<RegistryPerson>,
    token: String,
    _clock: Arc<AtomicI64>,
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
    env_with(url, db, pg, limits, SubmitLimits::default()).await
}

async fn env_with(
    url: String,
    db: Option<tempfile::TempDir>,
    pg: Option<common::PgDb>,
    limits: LookupLimits,
    submit: SubmitLimits,
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
        .with_lookup_limits(limits)
        .with_submit_limits(submit);
    Env {
        app: app(state),
        storage,
        _signer: signer,
        persons,
        token,
        _clock: clock,
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

    /// Uploads `body` as `content_type`, with an optional upload key.
    async fn upload(
        &self,
        content_type: &str,
        key: Option<&str>,
        body: Body,
    ) -> (StatusCode, Value) {
        let mut req = Request::post("/api/v1/dose-records:bulk")
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let (status, _, bytes) = self.send(req.body(body).unwrap()).await;
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn stored(&self) -> usize {
        self.storage
            .records_for_clinic(
                1,
                Page {
                    after_id: None,
                    limit: 1_000,
                },
            )
            .await
            .unwrap()
            .len()
    }

    /// CCCD holders whose names carry diacritics.
    fn people(&self) -> Vec<&RegistryPerson> {
        self.persons
            .iter()
            .filter(|p| p.id.as_cccd().is_some() && strip_diacritics(&p.full_name) != p.full_name)
            .collect()
    }
}

fn record(p: &RegistryPerson) -> Value {
    json!({
        "id_number": p.id.to_string(),
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.to_string(),
        "sex": if p.sex == Sex::Male { "M" } else { "F" },
        "vaccine": { "mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007" },
        "dose_number": 1,
        "series_total": 2,
        "date": "2026-04-01",
    })
}

fn results(body: &Value) -> &Vec<Value> {
    body["results"].as_array().unwrap()
}

async fn ndjson_mixed(env: &Env) {
    let people = env.people();
    let (a, b, c) = (people[0], people[1], people[2]);
    let mut wrong_name = record(b);
    wrong_name["full_name"] = json!(strip_diacritics(&b.full_name));
    let mut bad_code = record(c);
    bad_code["vaccine"]["mp"] = json!("NOT-A-VACCINE");
    let mut bad_date = record(c);
    bad_date["date"] = json!("yesterday");
    let mut wrong_type = record(c);
    wrong_type["dose_number"] = json!("Nguyễn");
    let mut missing = record(c);
    missing.as_object_mut().unwrap().remove("sex");
    let lines = [
        record(a).to_string(),               // 1 verified
        wrong_name.to_string(),              // 2 mismatch
        String::new(),                       // 3 blank: skipped
        "{\"id_number\": \"0791".to_owned(), // 4 not JSON
        missing.to_string(),                 // 5 lacks sex
        bad_code.to_string(),                // 6 unknown vaccine
        bad_date.to_string(),                // 7 bad date
        wrong_type.to_string(),              // 8 wrong type
        record(c).to_string() + "\r",        // 9 verified (CRLF)
    ];
    let body = lines.join("\n");
    let (status, out) = env
        .upload(
            "application/x-ndjson",
            Some("upload-1"),
            Body::from(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let r = results(&out);
    let lines_seen: Vec<u64> = r.iter().map(|x| x["line"].as_u64().unwrap()).collect();
    assert_eq!(lines_seen, [1, 2, 4, 5, 6, 7, 8, 9]);
    assert_eq!(r[0]["status"], "verified");
    assert_eq!(r[1]["status"], "mismatch");
    assert_eq!(r[1]["outcome"]["outcome"], "MISMATCH");
    assert_eq!(r[2]["error"]["code"], "INVALID_REQUEST");
    assert_eq!(r[3]["error"]["message"], "the line lacks the field sex");
    assert_eq!(r[4]["error"]["code"], "UNKNOWN_VACCINE_CODE");
    assert_eq!(r[5]["error"]["code"], "INVALID_REQUEST");
    assert_eq!(r[6]["error"]["code"], "INVALID_REQUEST");
    assert_eq!(r[7]["status"], "verified");
    assert_eq!(
        out["totals"],
        json!({"lines": 8, "stored": 3, "failed": 5, "verified": 2, "mismatch": 1,
               "not_found": 0, "manual_review": 0, "issued": 0})
    );
    // No submitted value is echoed in the errors.
    let errors: String = r
        .iter()
        .filter(|x| x.get("error").is_some())
        .map(Value::to_string)
        .collect();
    for secret in ["Nguy", "yesterday", "NOT-A-VACCINE", "0791"] {
        assert!(!errors.contains(secret), "{errors}");
    }
    assert_eq!(env.stored().await, 3);
    let ids: Vec<Value> = r.iter().map(|x| x["id"].clone()).collect();

    // The same upload again (after a crash or a lost answer): the same ids, nothing twice.
    let (status, again) = env
        .upload("application/x-ndjson", Some("upload-1"), Body::from(body))
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids_again: Vec<Value> = results(&again).iter().map(|x| x["id"].clone()).collect();
    assert_eq!(ids_again, ids);
    assert_eq!(results(&again)[0]["status"], "verified");
    assert_eq!(env.stored().await, 3);

    // A line changed under the same key is a conflict for that line only.
    let mut changed = lines.to_vec();
    changed[0] = record(b).to_string();
    let (status, conflict) = env
        .upload(
            "application/x-ndjson",
            Some("upload-1"),
            Body::from(changed.join("\n")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        results(&conflict)[0]["error"]["code"],
        "IDEMPOTENCY_CONFLICT"
    );
    assert_eq!(results(&conflict)[7]["id"], ids[7]);
    assert_eq!(env.stored().await, 3);

    // Another key stores the record again.
    let (_, other) = env
        .upload(
            "application/x-ndjson",
            Some("upload-2"),
            Body::from(record(a).to_string()),
        )
        .await;
    assert_ne!(results(&other)[0]["id"], ids[0]);
    assert_eq!(env.stored().await, 4);
}

#[tokio::test]
async fn ndjson_mixed_sqlite() {
    let env = sqlite_env(LookupLimits::default()).await;
    ndjson_mixed(&env).await;
    env.drop_db().await;
}

#[tokio::test]
async fn ndjson_mixed_postgres() {
    let Some(env) = postgres_env(LookupLimits::default()).await else {
        return;
    };
    ndjson_mixed(&env).await;
    env.drop_db().await;
}

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn csv_row(p: &RegistryPerson, dose: &str) -> String {
    format!(
        "{},{},{},{},EU/1/20/1528,ORG-100030215,1119349007,{dose},2,2026-04-01",
        csv_field(&p.full_name),
        p.id,
        p.date_of_birth,
        if p.sex == Sex::Male { "M" } else { "F" },
    )
}

#[tokio::test]
async fn csv_mixed() {
    let env = sqlite_env(LookupLimits::default()).await;
    let people = env.people();
    // Columns in another order than the JSON; id_kind left out (national).
    let header = "full_name,id_number,date_of_birth,sex,vaccine_mp,vaccine_ma,vaccine_vp,\
                  dose_number,series_total,date";
    let csv = [
        header.to_owned(),                                // 1
        csv_row(people[0], "1"),                          // 2 verified
        csv_row(people[1], "one"),                        // 3 bad number
        "a,b,c".to_owned(),                               // 4 wrong field count
        format!("x\"y{}", &csv_row(people[2], "1")[1..]), // 5 stray quote
        String::new(),                                    // 6 blank
        csv_row(people[2], "1"),                          // 7 verified
        // 8-9: a quoted field spanning two lines (a name with a line break: a mismatch).
        format!(
            "\"{}\n{}",
            people[3].full_name,
            &csv_row(people[3], "1")[1..]
        ),
    ]
    .join("\r\n");
    let (status, out) = env
        .upload(
            "text/csv; charset=utf-8",
            Some("csv-1"),
            Body::from(csv.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let r = results(&out);
    let lines_seen: Vec<u64> = r.iter().map(|x| x["line"].as_u64().unwrap()).collect();
    assert_eq!(lines_seen, [2, 3, 4, 5, 7, 8], "{out}");
    assert_eq!(r[0]["status"], "verified");
    assert_eq!(r[1]["error"]["message"], "dose_number must be a number");
    assert_eq!(
        r[2]["error"]["message"],
        "the row has 3 fields, the header 10"
    );
    assert_eq!(r[3]["error"]["code"], "INVALID_REQUEST");
    assert_eq!(r[4]["status"], "verified");
    assert_eq!(r[5]["status"], "mismatch", "{out}");
    assert_eq!(out["totals"]["stored"], 3);
    assert_eq!(out["totals"]["failed"], 3);
    assert_eq!(env.stored().await, 3);

    // Re-sent: the same results, ids included.
    let (_, again) = env.upload("text/csv", Some("csv-1"), Body::from(csv)).await;
    assert_eq!(again["results"], out["results"]);
    assert_eq!(env.stored().await, 3);

    // A header with an unknown or a missing column refuses the whole upload.
    let (status, err) = env
        .upload("text/csv", None, Body::from("full_name,nickname\n"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["code"], "INVALID_REQUEST");
    let (status, _) = env
        .upload("text/csv", None, Body::from("full_name,id_number\n"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    env.drop_db().await;
}

#[tokio::test]
async fn limits_and_refusals() {
    let env = sqlite_env(LookupLimits::default()).await;
    let line = record(env.people()[0]).to_string();
    // A declared length beyond the limit is refused before anything is read.
    let req = Request::post("/api/v1/dose-records:bulk")
        .header("authorization", format!("Bearer {}", env.token))
        .header("content-type", "application/x-ndjson")
        .header("content-length", (64u64 << 20) + 1)
        .body(Body::from(line.clone()))
        .unwrap();
    let (status, headers, body) = env.send(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(env.stored().await, 0);

    // A body without a declared length that grows beyond the limit: cut there, JSON 413.
    let mut big = line.into_bytes();
    big.push(b'\n');
    big.resize((64usize << 20) + 1, b'x');
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(1 << 20).map(|c| Ok(c.to_vec())).collect();
    let (status, out) = env
        .upload(
            "application/x-ndjson",
            Some("big"),
            Body::from_stream(chunked(chunks)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(out["code"], "PAYLOAD_TOO_LARGE");
    // The line before the cut was stored, and the message says so.
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("records processed before the cut: 1 "),
        "{out}"
    );
    assert_eq!(env.stored().await, 1);

    // A line beyond the line limit is a line error; the others go on.
    let long = format!("{}\n{}\n", "y".repeat(100_000), record(env.people()[1]));
    let (status, out) = env
        .upload("application/x-ndjson", None, Body::from(long))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        results(&out)[0],
        json!({"line": 1, "error": {"code": "INVALID_REQUEST",
               "message": "the line is longer than 65536 bytes"}})
    );
    assert_eq!(results(&out)[1]["line"], 2);
    assert_eq!(results(&out)[1]["status"], "verified");
    // The same, with the long line streamed in many small chunks between good lines.
    let mut text = format!("{}\n", record(env.people()[2]));
    text.push_str(&"z".repeat(200_000));
    text.push_str(&format!("\n{}", record(env.people()[3])));
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = text
        .into_bytes()
        .chunks(1_000)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let (status, out) = env
        .upload(
            "application/x-ndjson",
            None,
            Body::from_stream(chunked(chunks)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let lines: Vec<(Value, bool)> = results(&out)
        .iter()
        .map(|r| (r["line"].clone(), r.get("error").is_some()))
        .collect();
    assert_eq!(
        lines,
        [(json!(1), false), (json!(2), true), (json!(3), false)]
    );

    // No token; wrong content type; an empty upload.
    let req = Request::post("/api/v1/dose-records:bulk")
        .header("content-type", "application/x-ndjson")
        .body(Body::empty())
        .unwrap();
    assert_eq!(env.send(req).await.0, StatusCode::UNAUTHORIZED);
    let (status, err) = env.upload("application/json", None, Body::from("[]")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["code"], "INVALID_REQUEST");
    let (status, out) = env
        .upload("application/x-ndjson", None, Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["totals"]["lines"], 0);
    env.drop_db().await;
}

const CHILD_DB: &str = "VAXPASS_BULK_CHILD_DB";

/// The server half of [`kill9_loses_no_acknowledged_record`]: serves the API over TCP on the
/// database named by `VAXPASS_BULK_CHILD_DB`, prints `PORT <n>` and runs until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the server half of kill9_loses_no_acknowledged_record, which starts it"]
async fn kill9_child_server() {
    let url = std::env::var(CHILD_DB).expect("started by kill9_loses_no_acknowledged_record");
    let storage = Storage::open(&url).await.unwrap();
    let (_keys, signer) = common::dev_signer(PKI_START, NOW);
    let state = AppState::new(storage, signer, Config::default())
        .unwrap()
        .with_clock(|| NOW);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("PORT {}", listener.local_addr().unwrap().port());
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
    .unwrap();
}

struct Child(std::process::Child, u16);

impl Child {
    fn start(url: &str) -> Child {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "kill9_child_server", "--nocapture"])
            .env(CHILD_DB, url)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let port = out
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("PORT ").map(|p| p.parse::<u16>().unwrap()))
            .expect("the child server prints its port");
        Child(child, port)
    }

    /// SIGKILL (`kill -9`), then reap.
    fn kill9(self) {
        drop(self);
    }
}

impl Drop for Child {
    /// Also when a test fails: no server is left running.
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes the request head and `body[..send]` over TCP; returns the stream.
fn send_partial(
    port: u16,
    token: &str,
    key: &str,
    body: &[u8],
    send: usize,
) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /api/v1/dose-records:bulk HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\n\
         Idempotency-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body[..send]).unwrap();
    s
}

/// A whole upload; the answer's JSON once the server has written it.
fn upload_tcp(port: u16, token: &str, key: &str, body: &[u8]) -> Value {
    use std::io::Read;
    let mut s = send_partial(port, token, key, body, body.len());
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let (_, json) = text.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(json).unwrap()
}

/// `kill -9` of a real server process (this test binary, re-run as the server) in the middle
/// of a bulk upload: every id an earlier upload's answer listed is in the database afterwards,
/// the audit chain verifies, and re-sending the interrupted upload with its key completes it
/// without duplicates.
#[tokio::test]
async fn kill9_loses_no_acknowledged_record() {
    let (url, _dir) = common::sqlite_url();
    let env = env_at(url.clone(), None, None, LookupLimits::default()).await;
    let people: Vec<RegistryPerson> = env.people().into_iter().cloned().collect();
    let upload = |from: usize, n: usize| -> Vec<u8> {
        people[from..from + n]
            .iter()
            .map(|p| record(p).to_string() + "\n")
            .collect::<String>()
            .into_bytes()
    };
    let child = Child::start(&url);
    // Three acknowledged uploads.
    let mut acknowledged: Vec<i64> = Vec::new();
    for (i, from) in [0usize, 20, 40].into_iter().enumerate() {
        let out = upload_tcp(child.1, &env.token, &format!("ack-{i}"), &upload(from, 20));
        assert_eq!(out["totals"]["stored"], 20, "{out}");
        acknowledged.extend(results(&out).iter().map(|r| r["id"].as_i64().unwrap()));
    }
    // A fourth, killed mid-way: half its body sent, some of its records committed, no answer.
    let interrupted = upload(60, 40);
    let half = interrupted.len() / 2;
    let _stream = send_partial(child.1, &env.token, "cut", &interrupted, half);
    let before = env.stored().await;
    for _ in 0..600 {
        if env.stored().await > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill9();
    assert!(
        env.stored().await > before,
        "the server was killed while it stored the interrupted upload"
    );

    // Every acknowledged record survived, and the audit chain is whole.
    let storage = Storage::open(&url).await.unwrap();
    for id in &acknowledged {
        let r = storage.get_dose_record(*id).await.unwrap();
        assert_eq!(
            r.map(|r| r.status.to_string()).as_deref(),
            Some("verified"),
            "record {id}"
        );
    }
    storage.audit_verify().await.unwrap();
    // Re-sent with its key after a restart: completed, nothing twice.
    let child = Child::start(&url);
    let out = upload_tcp(child.1, &env.token, "cut", &interrupted);
    assert_eq!(out["totals"]["stored"], 40, "{out}");
    child.kill9();
    assert_eq!(env.stored().await, 100);
    storage.close().await;
    env.drop_db().await;
}

/// A stream over ready chunks: a request body that arrives in many frames.
fn chunked(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    struct Chunks(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Chunks {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Chunks(chunks.into_iter())
}

/// Issue 12, item 1: a bad line counts against the cap like a good one, so a body of bad lines
/// is cut at `MAX_BULK_LINES` instead of keeping a result per line.
async fn bad_lines_count_against_the_cap(env: &Env) {
    let good = record(env.people()[0]).to_string();
    let mut body = format!("{good}\n");
    body.push_str(&"x\n".repeat(100_000));
    let (status, out) = env
        .upload("application/x-ndjson", Some("cap"), Body::from(body))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(out["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(out["totals"]["lines"], 100_000, "line 100,001 is cut");
    assert_eq!(out["totals"]["stored"], 1);
    assert_eq!(out["totals"]["failed"], 99_999);
    // What the answer keeps is bounded: the stored line and 1,000 errors.
    assert_eq!(results(&out).len(), 1 + 1_000);
    assert_eq!(out["errors_omitted"], 99_999 - 1_000);
    assert_eq!(env.stored().await, 1);

    // CSV rows of `,` alike.
    let mut csv = String::from(
        "id_number,full_name,date_of_birth,sex,vaccine_mp,vaccine_ma,vaccine_vp,dose_number,\
         series_total,date\n",
    );
    csv.push_str(&",\n".repeat(100_001));
    let (status, out) = env.upload("text/csv", None, Body::from(csv)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{}", out["totals"]);
    assert_eq!(out["totals"]["lines"], 100_000);
    assert_eq!(results(&out).len(), 1_000);
}

#[tokio::test]
async fn bulk_bad_lines_count_against_the_cap() {
    let env = sqlite_env(LookupLimits::default()).await;
    bad_lines_count_against_the_cap(&env).await;
    env.drop_db().await;
}

#[tokio::test]
async fn bulk_bad_lines_count_against_the_cap_postgres() {
    let Some(env) = postgres_env(LookupLimits::default()).await else {
        return;
    };
    bad_lines_count_against_the_cap(&env).await;
    env.drop_db().await;
}

/// Issue 12, item 1: at most the first 1,000 line errors are listed, the rest counted; every
/// stored line keeps its id, wherever it stands.
#[tokio::test]
async fn bulk_keeps_at_most_1000_line_errors() {
    let env = sqlite_env(LookupLimits::default()).await;
    let people = env.people();
    let mut body = format!("{}\n", record(people[0]));
    body.push_str(&"x\n".repeat(5_000));
    body.push_str(&format!("{}\n", record(people[1])));
    let (status, out) = env
        .upload("application/x-ndjson", None, Body::from(body))
        .await;
    assert_eq!(status, StatusCode::OK);
    let r = results(&out);
    assert_eq!(r.len(), 2 + 1_000);
    assert_eq!(r[0]["line"], 1);
    assert_eq!(r[0]["status"], "verified");
    // The first 1,000 errors by line number, in line order.
    let error_lines: Vec<u64> = r[1..=1_000]
        .iter()
        .map(|x| x["line"].as_u64().unwrap())
        .collect();
    assert_eq!(error_lines, (2..=1_001).collect::<Vec<u64>>());
    assert_eq!(r[1_001]["line"], 5_002);
    assert_eq!(r[1_001]["status"], "verified");
    assert_eq!(out["totals"]["lines"], 5_002);
    assert_eq!(out["totals"]["failed"], 5_000);
    assert_eq!(out["totals"]["stored"], 2);
    assert_eq!(out["errors_omitted"], 4_000);
    assert_eq!(out["truncated"], true);
    assert!(
        out["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("auto-")
    );
    // The answer's size no longer grows with the bad lines: 50,000 of them give the same one.
    let size = out.to_string().len();
    let mut body = format!("{}\n", record(people[0]));
    body.push_str(&"x\n".repeat(50_000));
    let (_, many) = env
        .upload("application/x-ndjson", None, Body::from(body))
        .await;
    assert_eq!(results(&many).len(), 1 + 1_000);
    assert_eq!(many["errors_omitted"], 49_000);
    assert!(many.to_string().len() < size + 100, "answer bytes bounded");
    env.drop_db().await;
}

/// Issue 12, item 6: an upload cut at a limit returns its key and the results so far, so
/// re-sending it under that key stores nothing twice, even when the client sent no key.
async fn cut_upload_can_be_resumed(env: &Env) {
    let people = env.people();
    let mut lines: Vec<String> = (0..3).map(|i| record(people[i]).to_string()).collect();
    lines.extend(std::iter::repeat_n("x".to_owned(), 99_997));
    lines.push(record(people[3]).to_string()); // line 100,001: beyond the cap
    let (status, headers, bytes) = env
        .send(
            Request::post("/api/v1/dose-records:bulk")
                .header("authorization", format!("Bearer {}", env.token))
                .header("content-type", "application/x-ndjson")
                .body(Body::from(lines.join("\n")))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let out: Value = serde_json::from_slice(&bytes).unwrap();
    let key = out["idempotency_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("auto-"), "{key}");
    assert_eq!(headers["idempotency-key"], key.as_str());
    assert!(out["message"].as_str().unwrap().contains(&key));
    let ids: Vec<Value> = results(&out)
        .iter()
        .filter(|r| r.get("id").is_some())
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(env.stored().await, 3);

    // Re-sent split: the first part under the returned key (the same ids, nothing twice)…
    let (status, again) = env
        .upload(
            "application/x-ndjson",
            Some(&key),
            Body::from(lines[..100_000].join("\n")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids_again: Vec<Value> = results(&again)
        .iter()
        .filter(|r| r.get("id").is_some())
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids_again, ids);
    assert_eq!(env.stored().await, 3);
    // …and the rest as another upload.
    let (status, rest) = env
        .upload(
            "application/x-ndjson",
            Some("rest"),
            Body::from(lines[100_000].clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rest["totals"]["stored"], 1);
    assert_eq!(env.stored().await, 4);
}

#[tokio::test]
async fn bulk_cut_upload_can_be_resumed() {
    let env = sqlite_env(LookupLimits::default()).await;
    cut_upload_can_be_resumed(&env).await;
    env.drop_db().await;
}

#[tokio::test]
async fn bulk_cut_upload_can_be_resumed_postgres() {
    let Some(env) = postgres_env(LookupLimits::default()).await else {
        return;
    };
    cut_upload_can_be_resumed(&env).await;
    env.drop_db().await;
}

/// Issue 12, item 2: a CSV record whose quote stays open over 64k lines is one line error,
/// and the rest of the upload is still read (the linearity itself is counted in the unit test
/// `api::bulk::tests::bulk_csv_open_quote_is_linear`).
#[tokio::test]
async fn bulk_csv_open_quote_is_one_error() {
    let env = sqlite_env(LookupLimits::default()).await;
    let header = "full_name,id_number,date_of_birth,sex,vaccine_mp,vaccine_ma,vaccine_vp,\
                  dose_number,series_total,date";
    let csv = format!("{header}\n\"{}", "\n".repeat(65_536));
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = csv
        .into_bytes()
        .chunks(16)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let (status, out) = env
        .upload("text/csv", None, Body::from_stream(chunked(chunks)))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(results(&out).len(), 1);
    assert_eq!(results(&out)[0]["line"], 2);
    assert_eq!(results(&out)[0]["error"]["code"], "INVALID_REQUEST");
    env.drop_db().await;
}

/// Bulk lines count against the token's submission limit like single submissions: lines over
/// it are `RATE_LIMITED` line errors, and re-sending the upload under its key once the bucket
/// has refilled stores exactly the missing lines.
#[tokio::test]
async fn bulk_lines_count_against_the_token_submission_limit() {
    let (url, dir) = common::sqlite_url();
    let submit = SubmitLimits {
        burst: 3,
        per_sec: 1,
        ..SubmitLimits::default()
    };
    let env = env_with(url, Some(dir), None, LookupLimits::default(), submit).await;
    let body: Vec<String> = env.persons[..5]
        .iter()
        .map(|p| record(p).to_string())
        .collect();
    let body = body.join("\n");
    let (status, out) = env
        .upload(
            "application/x-ndjson",
            Some("limited"),
            Body::from(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let r = results(&out);
    let limited = r
        .iter()
        .filter(|x| x["error"]["code"] == "RATE_LIMITED")
        .count();
    assert_eq!(limited, 2, "{out}");
    assert_eq!(env.stored().await, 3);
    // Refilled (the clock moves on): the same upload again stores the two missing lines only.
    env._clock.fetch_add(10, Ordering::SeqCst);
    let (status, again) = env
        .upload("application/x-ndjson", Some("limited"), Body::from(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert!(
        results(&again).iter().all(|x| x["error"].is_null()),
        "{again}"
    );
    assert_eq!(env.stored().await, 5);
    env.drop_db().await;
}
