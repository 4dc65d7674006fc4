//! `POST /dose-records:bulk`: many dose records in one upload.
//!
//! - `Content-Type: application/x-ndjson`: one `POST /dose-records` body (JSON) per line.
//! - `Content-Type: text/csv`: a header row naming the columns `id_number`, `id_kind`
//!   (optional), `full_name`, `date_of_birth`, `sex`, `vaccine_mp`, `vaccine_ma`,
//!   `vaccine_vp`, `dose_number`, `series_total`, `date` in any order, then one record per row
//!   (RFC 4180: fields may be quoted, `""` is a quote, a quoted field may span lines).
//!
//! Each line is validated and processed like a single submission (stored, matched against
//! the registry, outcome stored); a bad line is reported with its line number and a reason
//! that never quotes submitted values, and the other lines go on. Blank lines are skipped.
//!
//! Idempotency: line `n` is stored under the key `<Idempotency-Key>:<n>` (a random upload key
//! when the header is absent), so re-sending the same upload with the same header after a
//! crash or a lost answer stores nothing twice and returns the same ids. A line changed since
//! the first upload gets `409 IDEMPOTENCY_CONFLICT` in its result.
//!
//! Lines are processed as they arrive, [`BULK_CONCURRENCY`] at a time. The answer (`200`) is
//! written once every line is done, so every id it lists is committed:
//! `{"results": [{"line", "id", "status", "outcome"} | {"line", "error": {"code",
//! "message"}}, …], "totals": {"lines", "stored", "failed", "verified", "mismatch",
//! "not_found", "manual_review", "issued"}}`, results in line order.
//!
//! Limits: [`MAX_BULK_BYTES`] of body (a larger `Content-Length` is refused before anything is
//! read; a body that grows beyond it while streaming stops there: `413 PAYLOAD_TOO_LARGE`,
//! the lines before the cut are stored and the message says how many), [`MAX_BULK_LINES`]
//! records, [`MAX_LINE_BYTES`] per line (a longer line is a line error).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::BodyExt;
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use tokio::task::JoinSet;

use super::records::{SubmitRequest, SubmitResponse, VaccineIn, parse_request, submit_one};
use super::{ApiError, AppState, Auth};
use crate::identity::IdKind;
use crate::storage::Staff;

/// Largest upload body: 64 MiB.
pub const MAX_BULK_BYTES: u64 = 64 * 1024 * 1024;
/// Most records (lines) in one upload.
pub const MAX_BULK_LINES: usize = 100_000;
/// Longest line (a CSV record may span several lines; this bounds the whole record).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Records processed at once.
pub const BULK_CONCURRENCY: usize = 8;

/// This module's routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/dose-records:bulk", post(bulk))
}

/// One line's result.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum LineResult {
    /// Stored and matched.
    Stored {
        /// Line number (1-based; for CSV, the line where the record starts).
        line: u64,
        /// The stored record.
        #[serde(flatten)]
        response: SubmitResponse,
    },
    /// Not stored.
    Failed {
        /// Line number.
        line: u64,
        /// Why: `{"code", "message"}` as for a single submission.
        error: LineError,
    },
}

impl LineResult {
    /// The line number.
    pub fn line(&self) -> u64 {
        match self {
            LineResult::Stored { line, .. } | LineResult::Failed { line, .. } => *line,
        }
    }
}

/// A line's error.
#[derive(Debug, Clone, Serialize)]
pub struct LineError {
    /// The stable code (`INVALID_REQUEST`, `UNKNOWN_VACCINE_CODE`, …).
    pub code: &'static str,
    /// Why, without personal data.
    pub message: String,
}

impl From<ApiError> for LineError {
    fn from(e: ApiError) -> Self {
        let code = e.code();
        let message = if e.status().is_server_error() {
            tracing::error!(code, error = %e, "bulk line failed");
            "internal error; this line was not completed".to_owned()
        } else {
            e.to_string()
        };
        LineError { code, message }
    }
}

fn line_error(line: u64, code: &'static str, message: impl Into<String>) -> LineResult {
    LineResult::Failed {
        line,
        error: LineError {
            code,
            message: message.into(),
        },
    }
}

fn too_large(message: String) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        Json(serde_json::json!({ "code": "PAYLOAD_TOO_LARGE", "message": message })),
    )
        .into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ndjson,
    Csv,
}

/// The CSV columns, by header name.
#[derive(Debug, Default)]
struct CsvColumns {
    index: BTreeMap<&'static str, usize>,
    count: usize,
}

const CSV_REQUIRED: [&str; 10] = [
    "id_number",
    "full_name",
    "date_of_birth",
    "sex",
    "vaccine_mp",
    "vaccine_ma",
    "vaccine_vp",
    "dose_number",
    "series_total",
    "date",
];

impl CsvColumns {
    fn from_header(fields: &[String]) -> Result<CsvColumns, ApiError> {
        let mut index = BTreeMap::new();
        for (i, name) in fields.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}');
            let known = CSV_REQUIRED
                .iter()
                .chain(&["id_kind"])
                .find(|k| **k == name)
                .ok_or_else(|| {
                    ApiError::InvalidRequest(format!(
                        "CSV header column {} is not one of {}, id_kind",
                        i + 1,
                        CSV_REQUIRED.join(", ")
                    ))
                })?;
            if index.insert(*known, i).is_some() {
                return Err(ApiError::InvalidRequest(format!(
                    "CSV header names the column {known} twice"
                )));
            }
        }
        if let Some(missing) = CSV_REQUIRED.iter().find(|k| !index.contains_key(*k)) {
            return Err(ApiError::InvalidRequest(format!(
                "CSV header lacks the column {missing}"
            )));
        }
        Ok(CsvColumns {
            index,
            count: fields.len(),
        })
    }

    fn request(&self, fields: Vec<String>) -> Result<SubmitRequest, ApiError> {
        if fields.len() != self.count {
            return Err(ApiError::InvalidRequest(format!(
                "the row has {} fields, the header {}",
                fields.len(),
                self.count
            )));
        }
        let get = |name: &str| -> String {
            self.index
                .get(name)
                .and_then(|&i| fields.get(i))
                .cloned()
                .unwrap_or_default()
        };
        let number = |name: &'static str| -> Result<u32, ApiError> {
            get(name)
                .trim()
                .parse()
                .map_err(|_| ApiError::InvalidRequest(format!("{name} must be a number")))
        };
        let id_kind = match get("id_kind").trim() {
            "" | "national" => IdKind::National,
            "foreign_passport" => IdKind::ForeignPassport,
            _ => {
                return Err(ApiError::InvalidRequest(
                    "id_kind must be national or foreign_passport".to_owned(),
                ));
            }
        };
        Ok(SubmitRequest {
            id_number: get("id_number"),
            id_kind,
            full_name: get("full_name"),
            date_of_birth: get("date_of_birth").trim().to_owned(),
            sex: get("sex"),
            vaccine: VaccineIn {
                mp: get("vaccine_mp").trim().to_owned(),
                ma: get("vaccine_ma").trim().to_owned(),
                vp: get("vaccine_vp").trim().to_owned(),
            },
            dose_number: number("dose_number")?,
            series_total: number("series_total")?,
            date: get("date").trim().to_owned(),
        })
    }
}

/// Splits one CSV record (RFC 4180). `None` while a quoted field is still open (the record
/// continues on the next line); `Some(Err)` for a quote in the middle of an unquoted field or
/// text after a closing quote.
fn split_csv(record: &str) -> Option<Result<Vec<String>, ()>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    loop {
        match chars.next() {
            None => {
                if quoted {
                    return None;
                }
                fields.push(field);
                return Some(Ok(fields));
            }
            Some('"') if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            }
            Some(c) if quoted => field.push(c),
            Some('"') => {
                if !field.is_empty() || was_quoted {
                    return Some(Err(()));
                }
                quoted = true;
                was_quoted = true;
            }
            Some(',') => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            Some(_) if was_quoted => return Some(Err(())),
            Some(c) => field.push(c),
        }
    }
}

/// A serde_json error as a reason free of submitted values: only a missing field is named.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return format!("the line lacks the field {field}");
    }
    if e.is_syntax() || e.is_eof() {
        return format!("the line is not valid JSON (column {})", e.column());
    }
    "the line is not a JSON dose record: a field has the wrong type or value".to_owned()
}

/// One record ready to process, or the line's error.
enum Parsed {
    Skip,
    Record(u64, SubmitRequest),
    Error(LineResult),
}

struct Upload {
    format: Format,
    csv: Option<CsvColumns>,
    /// A CSV record spanning lines: its text so far and its first line.
    pending: Option<(String, u64)>,
}

impl Upload {
    /// Parses one physical line (without its line break).
    fn line(&mut self, line_no: u64, text: &str) -> Result<Parsed, ApiError> {
        match self.format {
            Format::Ndjson => {
                if text.trim().is_empty() {
                    return Ok(Parsed::Skip);
                }
                Ok(match serde_json::from_str::<SubmitRequest>(text) {
                    Ok(req) => Parsed::Record(line_no, req),
                    Err(e) => {
                        Parsed::Error(line_error(line_no, "INVALID_REQUEST", json_reason(&e)))
                    }
                })
            }
            Format::Csv => {
                let (record, start) = match self.pending.take() {
                    Some((mut so_far, start)) => {
                        so_far.push('\n');
                        so_far.push_str(text);
                        (so_far, start)
                    }
                    None => {
                        if text.trim().is_empty() {
                            return Ok(Parsed::Skip);
                        }
                        (text.to_owned(), line_no)
                    }
                };
                let Some(fields) = split_csv(&record) else {
                    if record.len() > MAX_LINE_BYTES {
                        return Ok(Parsed::Error(line_error(
                            start,
                            "INVALID_REQUEST",
                            format!("the record is longer than {MAX_LINE_BYTES} bytes"),
                        )));
                    }
                    self.pending = Some((record, start));
                    return Ok(Parsed::Skip);
                };
                let Ok(fields) = fields else {
                    return Ok(Parsed::Error(line_error(
                        start,
                        "INVALID_REQUEST",
                        "the row is not valid CSV (a stray quote)",
                    )));
                };
                match &self.csv {
                    None => {
                        self.csv = Some(CsvColumns::from_header(&fields)?);
                        Ok(Parsed::Skip)
                    }
                    Some(columns) => Ok(match columns.request(fields) {
                        Ok(req) => Parsed::Record(start, req),
                        Err(e) => Parsed::Error(LineResult::Failed {
                            line: start,
                            error: e.into(),
                        }),
                    }),
                }
            }
        }
    }

    /// The end of the body.
    fn finish(&mut self) -> Option<LineResult> {
        self.pending.take().map(|(_, start)| {
            line_error(
                start,
                "INVALID_REQUEST",
                "the row is not valid CSV (a quoted field is never closed)",
            )
        })
    }
}

/// Counts of the answer.
#[derive(Debug, Default, Serialize)]
struct Totals {
    lines: u64,
    stored: u64,
    failed: u64,
    verified: u64,
    mismatch: u64,
    not_found: u64,
    manual_review: u64,
    issued: u64,
}

async fn process(
    state: AppState,
    staff: Staff,
    line: u64,
    req: SubmitRequest,
    key: String,
) -> LineResult {
    let outcome = match parse_request(req, staff.clinic_id) {
        Ok(record) => submit_one(&state, staff, &record, &key).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok((response, _)) => LineResult::Stored { line, response },
        Err(e) => LineResult::Failed {
            line,
            error: e.into(),
        },
    }
}

/// `POST /dose-records:bulk` (see the module documentation).
async fn bulk(
    axum::extract::State(state): axum::extract::State<AppState>,
    Auth(staff): Auth,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match content_type.as_str() {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Format::Ndjson,
        "text/csv" => Format::Csv,
        _ => {
            return Err(ApiError::InvalidRequest(
                "Content-Type must be application/x-ndjson or text/csv".to_owned(),
            ));
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BULK_BYTES) {
        return Ok(too_large(format!(
            "the upload is larger than {MAX_BULK_BYTES} bytes: split it; nothing was stored"
        )));
    }
    let upload_key = match headers.get("idempotency-key") {
        Some(v) => v
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 190)
            .ok_or_else(|| {
                ApiError::InvalidRequest(
                    "Idempotency-Key must be 1 to 190 visible characters".to_owned(),
                )
            })?
            .to_owned(),
        None => {
            let mut raw = [0u8; 16];
            OsRng.fill_bytes(&mut raw);
            format!("auto-{}", hex::encode(raw))
        }
    };

    let mut upload = Upload {
        format,
        csv: None,
        pending: None,
    };
    let mut results: Vec<LineResult> = Vec::new();
    let mut tasks: JoinSet<LineResult> = JoinSet::new();
    let mut task_lines = std::collections::HashMap::new();
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    // Skipping the rest of a line longer than MAX_LINE_BYTES.
    let mut discarding = false;
    let mut line_no: u64 = 0;
    let mut records: usize = 0;
    let mut received: u64 = 0;
    let mut cut: Option<String> = None;
    let mut done = false;
    while !done {
        let chunk = match body.frame().await {
            None => {
                done = true;
                None
            }
            Some(Ok(frame)) => frame.into_data().ok(),
            Some(Err(_)) => {
                return Err(ApiError::InvalidRequest(
                    "the upload was interrupted".to_owned(),
                ));
            }
        };
        // Complete lines of this chunk; `None` for a line longer than MAX_LINE_BYTES.
        let mut lines: Vec<Option<Vec<u8>>> = Vec::new();
        if let Some(chunk) = chunk {
            received = received.saturating_add(chunk.len() as u64);
            if received > MAX_BULK_BYTES {
                cut = Some(format!(
                    "the upload is larger than {MAX_BULK_BYTES} bytes; records processed before \
                     the cut: {records} (re-send them with the same Idempotency-Key to get their \
                     results); split the upload"
                ));
                break;
            }
            let mut rest: &[u8] = &chunk;
            while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
                if discarding || buf.len() + pos > MAX_LINE_BYTES {
                    discarding = false;
                    buf.clear();
                    lines.push(None);
                } else {
                    buf.extend_from_slice(&rest[..pos]);
                    lines.push(Some(std::mem::take(&mut buf)));
                }
                rest = &rest[pos + 1..];
            }
            if !discarding {
                if buf.len() + rest.len() > MAX_LINE_BYTES {
                    buf = Vec::new();
                    discarding = true;
                } else {
                    buf.extend_from_slice(rest);
                }
            }
        } else if discarding {
            lines.push(None);
        } else if !buf.is_empty() {
            lines.push(Some(std::mem::take(&mut buf)));
        }
        for raw in lines {
            line_no += 1;
            let Some(raw) = raw else {
                // A CSV record the long line belonged to is abandoned with it.
                upload.pending = None;
                results.push(line_error(
                    line_no,
                    "INVALID_REQUEST",
                    format!("the line is longer than {MAX_LINE_BYTES} bytes"),
                ));
                continue;
            };
            let raw = raw.strip_suffix(b"\r").unwrap_or(&raw);
            let parsed = match std::str::from_utf8(raw) {
                Ok(text) => upload.line(line_no, text)?,
                Err(_) => Parsed::Error(line_error(
                    line_no,
                    "INVALID_REQUEST",
                    "the line is not UTF-8",
                )),
            };
            match parsed {
                Parsed::Skip => {}
                Parsed::Error(e) => results.push(e),
                Parsed::Record(line, req) => {
                    records += 1;
                    if records > MAX_BULK_LINES {
                        cut = Some(format!(
                            "the upload has more than {MAX_BULK_LINES} records: the first \
                             {MAX_BULK_LINES} were processed (re-send them with the same \
                             Idempotency-Key to get their results); split the upload"
                        ));
                        break;
                    }
                    while tasks.len() >= BULK_CONCURRENCY {
                        if let Some(done) = tasks.join_next().await {
                            results.push(joined(done, &mut task_lines));
                        }
                    }
                    let handle = tasks.spawn(process(
                        state.clone(),
                        staff,
                        line,
                        req,
                        format!("{upload_key}:{line}"),
                    ));
                    task_lines.insert(handle.id(), line);
                }
            }
        }
        if cut.is_some() {
            break;
        }
        if done && let Some(e) = upload.finish() {
            results.push(e);
        }
    }
    // Every started line finishes (and is committed) before the answer.
    while let Some(done) = tasks.join_next().await {
        results.push(joined(done, &mut task_lines));
    }
    if let Some(message) = cut {
        return Ok(too_large(message));
    }
    if format == Format::Csv && upload.csv.is_none() {
        return Err(ApiError::InvalidRequest(
            "the CSV upload has no header row".to_owned(),
        ));
    }
    results.sort_by_key(LineResult::line);
    let mut totals = Totals::default();
    for r in &results {
        totals.lines += 1;
        match r {
            LineResult::Failed { .. } => totals.failed += 1,
            LineResult::Stored { response, .. } => {
                totals.stored += 1;
                match response.status.as_str() {
                    "verified" => totals.verified += 1,
                    "mismatch" => totals.mismatch += 1,
                    "not_found" => totals.not_found += 1,
                    "manual_review" => totals.manual_review += 1,
                    "issued" => totals.issued += 1,
                    _ => {}
                }
            }
        }
    }
    Ok(Json(serde_json::json!({ "results": results, "totals": totals })).into_response())
}

/// A finished task's result; a task that panicked is reported under its line.
fn joined(
    done: Result<LineResult, tokio::task::JoinError>,
    lines: &mut std::collections::HashMap<tokio::task::Id, u64>,
) -> LineResult {
    match done {
        Ok(r) => {
            let line = r.line();
            lines.retain(|_, l| *l != line);
            r
        }
        Err(e) => failed_task(lines.remove(&e.id()).unwrap_or(0)),
    }
}

fn failed_task(line: u64) -> LineResult {
    LineResult::Failed {
        line,
        error: LineError {
            code: "INTERNAL",
            message: "internal error; this line was not completed".to_owned(),
        },
    }
}
