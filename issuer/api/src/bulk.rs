//! `POST /dose-records:bulk`: many dose records in one upload.
//!
//! - `Content-Type: application/x-ndjson`: one `POST /dose-records` body (JSON) per line.
//! - `Content-Type: text/csv`: a header row naming the columns `id_number`, `id_kind`
//!   (optional), `full_name`, `date_of_birth`, `sex`, `vaccine_mp`, `vaccine_ma`,
//!   `vaccine_vp`, `dose_number`, `series_total`, `date` in any order, then one record per row
//!   (RFC 4180: fields may be quoted, `""` is a quote, a quoted field may span lines). Records
//!   are read by [`csv_core`] (the `csv` crate's incremental reader: every byte is looked at
//!   once, however long a quoted field stays open), with a strict check of the quoting beside
//!   it (a stray quote is a line error, where `csv_core` alone would accept it).
//!
//! Each line is validated and processed like a single submission (stored, matched against
//! the registry, outcome stored); a bad line is reported with its line number and a reason
//! that never quotes submitted values, and the other lines go on. Blank lines are skipped.
//!
//! Parsing runs off the async workers (`spawn_blocking`, [`PARSE_SLICE`] bytes of body at a
//! time), so a hostile upload cannot hold up other requests.
//!
//! Idempotency: line `n` is stored under the key `<Idempotency-Key>:<n>` (a random upload key
//! `auto-…` when the header is absent), so re-sending the same upload with the same key after
//! a crash, a cut or a lost answer stores nothing twice and returns the same ids. The key used
//! is always returned: in the `Idempotency-Key` header and the `idempotency_key` field of the
//! answer, the `413` of a cut upload included. A line changed since the first upload gets
//! `409 IDEMPOTENCY_CONFLICT` in its result.
//!
//! Lines are processed as they arrive, [`BULK_CONCURRENCY`] at a time. The answer is written
//! once every started line is done, so every id it lists is committed:
//!
//! ```text
//! {"results": [{"line", "id", "status", "outcome"} | {"line", "error": {"code", "message"}}, …],
//!  "totals": {"lines", "stored", "failed", "verified", "mismatch", "not_found",
//!             "manual_review", "issued"},
//!  "errors_omitted": 0, "truncated": false, "idempotency_key": "…"}
//! ```
//!
//! `results` are in line order: every stored line (the clinic needs its id to confirm it) and
//! the first [`MAX_LINE_ERRORS`] line errors (by line number); further errors are only
//! counted, in `totals.failed` and `errors_omitted`, with `truncated: true`. What the answer
//! holds is thus bounded by the line cap, whatever the body: a bad line costs a counter.
//!
//! Limits: [`MAX_BULK_BYTES`] of body (a larger `Content-Length` is refused before anything is
//! read: `413 PAYLOAD_TOO_LARGE`, nothing stored), [`MAX_BULK_LINES`] lines (every line that
//! gets a result counts, a bad one too; blank lines do not), [`MAX_LINE_BYTES`] per line or
//! CSV record (a longer one is a line error). A body that grows beyond the byte limit while
//! streaming, or that has more lines than the cap, is cut there: `413 PAYLOAD_TOO_LARGE` with
//! `code`, `message`, and the same fields as a `200` for the lines before the cut (those were
//! processed and committed); re-send the rest, or the whole upload split, with the returned
//! `idempotency_key` and nothing is stored twice.
//!
//! Why the answer is not streamed: its status (`200`, or `413` for a cut upload) can only be
//! known at the end, and with errors capped what it holds is bounded anyway (at most
//! [`MAX_BULK_LINES`] stored results, each kept as its compact JSON text).

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::BodyExt;
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use tokio::task::JoinSet;

use super::records::{SubmitRequest, SubmitResponse, VaccineIn, submit_one};
use super::{ApiError, AppState, Auth};
use crate::identity::IdKind;
use crate::registry_csv::QuoteCheck;
use crate::storage::Staff;

/// Largest upload body: 64 MiB.
pub const MAX_BULK_BYTES: u64 = 64 * 1024 * 1024;
/// Most lines (records, good or bad) in one upload.
pub const MAX_BULK_LINES: usize = 100_000;
/// Longest line (a CSV record may span several lines; this bounds the whole record).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Records processed at once.
pub const BULK_CONCURRENCY: usize = 8;
/// Line errors listed in an answer; further ones are counted only.
pub const MAX_LINE_ERRORS: usize = 1_000;
/// Body bytes parsed in one blocking task.
pub const PARSE_SLICE: usize = 64 * 1024;
/// Most fields of a CSV record (the header has at most 11).
const MAX_CSV_FIELDS: usize = 64;

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

/// One line's outcome of parsing: a record to process, or the line's error. (No `Debug`: a
/// record holds personal data.)
enum Item {
    Record(u64, SubmitRequest),
    Error(u64, LineError),
}

fn invalid(line: u64, message: impl Into<String>) -> Item {
    Item::Error(
        line,
        LineError {
            code: "INVALID_REQUEST",
            message: message.into(),
        },
    )
}

/// The incremental parser of an upload body: fed slices of the body in order, it never looks at
/// a byte twice and keeps at most one line ([`MAX_LINE_BYTES`]) of text. Synchronous: it runs in
/// `spawn_blocking`.
struct Parser {
    format: Format,
    /// Lines that got a result so far (counted against [`MAX_BULK_LINES`]).
    counted: usize,
    /// More than [`MAX_BULK_LINES`] lines: the rest of the body is ignored.
    over_cap: bool,
    /// Body bytes handed to the line splitter or the CSV reader (each byte once).
    scanned: u64,
    // NDJSON: the line so far; skipping the rest of a line longer than MAX_LINE_BYTES.
    buf: Vec<u8>,
    discarding: bool,
    line_no: u64,
    // CSV.
    columns: Option<CsvColumns>,
    csv: csv_core::Reader,
    check: QuoteCheck,
    /// The current record's unquoted bytes and field ends (`nout`, `nends` used).
    out: Vec<u8>,
    ends: Vec<usize>,
    nout: usize,
    nends: usize,
    /// Raw bytes of the current record so far.
    raw: usize,
    /// The current record is longer than MAX_LINE_BYTES (or has more than MAX_CSV_FIELDS
    /// fields): its text is no longer kept.
    overflow: bool,
    scratch: Vec<u8>,
    scratch_ends: Vec<usize>,
}

impl Parser {
    fn new(format: Format) -> Parser {
        let csv = format == Format::Csv;
        Parser {
            format,
            counted: 0,
            over_cap: false,
            scanned: 0,
            buf: Vec::new(),
            discarding: false,
            line_no: 0,
            columns: None,
            csv: csv_core::Reader::new(),
            check: QuoteCheck::default(),
            out: if csv {
                vec![0; MAX_LINE_BYTES]
            } else {
                Vec::new()
            },
            ends: if csv {
                vec![0; MAX_CSV_FIELDS]
            } else {
                Vec::new()
            },
            nout: 0,
            nends: 0,
            raw: 0,
            overflow: false,
            scratch: if csv { vec![0; 4096] } else { Vec::new() },
            scratch_ends: if csv {
                vec![0; MAX_CSV_FIELDS]
            } else {
                Vec::new()
            },
        }
    }

    /// Counts a line against the cap and keeps its item; past the cap, stops.
    fn emit(&mut self, item: Item, items: &mut Vec<Item>) {
        if self.over_cap {
            return;
        }
        self.counted += 1;
        if self.counted > MAX_BULK_LINES {
            self.over_cap = true;
            return;
        }
        items.push(item);
    }

    /// Parses the next slice of the body (`None`: the end of the body).
    ///
    /// # Errors
    /// A CSV header that is not valid: the whole upload is refused.
    fn feed(&mut self, chunk: Option<&[u8]>, items: &mut Vec<Item>) -> Result<(), ApiError> {
        // An empty slice is no data: csv_core reads an empty input as the end of the CSV, so
        // an empty frame in the middle of a body (HTTP/2 allows them) would end the record
        // being read (found by the bulk_upload fuzz target).
        if self.over_cap || chunk.is_some_and(<[u8]>::is_empty) {
            return Ok(());
        }
        match self.format {
            Format::Ndjson => {
                self.feed_ndjson(chunk, items);
                Ok(())
            }
            Format::Csv => self.feed_csv(chunk, items),
        }
    }

    fn feed_ndjson(&mut self, chunk: Option<&[u8]>, items: &mut Vec<Item>) {
        let Some(chunk) = chunk else {
            if self.discarding {
                self.discarding = false;
                self.ndjson_line(None, items);
            } else if !self.buf.is_empty() {
                let line = std::mem::take(&mut self.buf);
                self.ndjson_line(Some(&line), items);
            }
            return;
        };
        self.scanned += chunk.len() as u64;
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(pos);
            if self.discarding || self.buf.len() + head.len() > MAX_LINE_BYTES {
                self.discarding = false;
                self.buf.clear();
                self.ndjson_line(None, items);
            } else if self.buf.is_empty() {
                self.ndjson_line(Some(head), items);
            } else {
                self.buf.extend_from_slice(head);
                let line = std::mem::take(&mut self.buf);
                self.ndjson_line(Some(&line), items);
            }
            rest = tail.get(1..).unwrap_or_default();
            if self.over_cap {
                return;
            }
        }
        if !self.discarding {
            if self.buf.len() + rest.len() > MAX_LINE_BYTES {
                self.buf = Vec::new();
                self.discarding = true;
            } else {
                self.buf.extend_from_slice(rest);
            }
        }
    }

    /// One NDJSON line (without its `\n`); `None` for a line longer than MAX_LINE_BYTES.
    fn ndjson_line(&mut self, raw: Option<&[u8]>, items: &mut Vec<Item>) {
        self.line_no += 1;
        let line = self.line_no;
        let Some(raw) = raw else {
            let e = invalid(
                line,
                format!("the line is longer than {MAX_LINE_BYTES} bytes"),
            );
            return self.emit(e, items);
        };
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let item = match std::str::from_utf8(raw) {
            Err(_) => invalid(line, "the line is not UTF-8"),
            Ok(text) if text.trim().is_empty() => return,
            Ok(text) => match serde_json::from_str::<SubmitRequest>(text) {
                Ok(req) => Item::Record(line, req),
                Err(e) => invalid(line, json_reason(&e)),
            },
        };
        self.emit(item, items);
    }

    fn feed_csv(&mut self, chunk: Option<&[u8]>, items: &mut Vec<Item>) -> Result<(), ApiError> {
        let at_end = chunk.is_none();
        let mut input = chunk.unwrap_or_default();
        loop {
            let (res, nin, nout, nends) = if self.overflow {
                self.csv
                    .read_record(input, &mut self.scratch, &mut self.scratch_ends)
            } else {
                self.csv.read_record(
                    input,
                    self.out.get_mut(self.nout..).unwrap_or_default(),
                    self.ends.get_mut(self.nends..).unwrap_or_default(),
                )
            };
            let (used, rest) = input.split_at(nin.min(input.len()));
            input = rest;
            self.check.feed(used);
            self.scanned += used.len() as u64;
            if self.check.fields > 0 {
                self.raw += used.len();
            }
            if !self.overflow {
                self.nout += nout;
                self.nends += nends;
                if self.raw > MAX_LINE_BYTES {
                    self.overflow = true;
                }
            }
            match res {
                csv_core::ReadRecordResult::InputEmpty => {
                    if !at_end {
                        return Ok(());
                    }
                }
                csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => self.overflow = true,
                csv_core::ReadRecordResult::Record => {
                    self.csv_record(at_end, items)?;
                    if self.over_cap {
                        return Ok(());
                    }
                }
                csv_core::ReadRecordResult::End => return Ok(()),
            }
        }
    }

    /// The record just read (in `out`/`ends`, unless it overflowed).
    fn csv_record(&mut self, at_end: bool, items: &mut Vec<Item>) -> Result<(), ApiError> {
        let line = self.check.record_start + 1;
        let problem = if at_end && self.check.open() {
            Some("the row is not valid CSV (a quoted field is never closed)".to_owned())
        } else if self.overflow {
            Some(format!("the record is longer than {MAX_LINE_BYTES} bytes"))
        } else if self.check.bad() {
            Some("the row is not valid CSV (a stray quote)".to_owned())
        } else {
            None
        };
        let mut fields = Vec::new();
        let mut utf8 = true;
        if problem.is_none() {
            let mut from = 0;
            for &end in self.ends.get(..self.nends).unwrap_or_default() {
                let bytes = self.out.get(from..end).unwrap_or_default();
                match std::str::from_utf8(bytes) {
                    Ok(text) => fields.push(text.to_owned()),
                    Err(_) => utf8 = false,
                }
                from = end;
            }
        }
        self.nout = 0;
        self.nends = 0;
        self.raw = 0;
        self.overflow = false;
        self.check.next_record();
        let blank = problem.is_none() && utf8 && fields.len() == 1 && fields[0].trim().is_empty();
        if blank {
            return Ok(());
        }
        let Some(columns) = &self.columns else {
            if let Some(problem) = problem {
                return Err(ApiError::InvalidRequest(format!(
                    "the CSV header row is not valid: {problem}"
                )));
            }
            if !utf8 {
                return Err(ApiError::InvalidRequest(
                    "the CSV header row is not UTF-8".to_owned(),
                ));
            }
            self.columns = Some(CsvColumns::from_header(&fields)?);
            return Ok(());
        };
        let item = match (problem, utf8) {
            (Some(problem), _) => invalid(line, problem),
            (None, false) => invalid(line, "the row is not UTF-8"),
            (None, true) => match columns.request(fields) {
                Ok(req) => Item::Record(line, req),
                Err(e) => Item::Error(line, e.into()),
            },
        };
        self.emit(item, items);
        Ok(())
    }
}

/// Parses `chunk` (`None`: the end of the body) in a blocking task.
async fn parse_blocking(
    mut parser: Parser,
    chunk: Option<Bytes>,
) -> Result<(Parser, Vec<Item>), Response> {
    let task = tokio::task::spawn_blocking(move || {
        let mut items = Vec::new();
        let done = parser.feed(chunk.as_deref(), &mut items);
        done.map(|()| (parser, items))
    });
    match task.await {
        Ok(Ok(parsed)) => Ok(parsed),
        Ok(Err(e)) => Err(e.into_response()),
        Err(e) => {
            tracing::error!(error = %e, "bulk upload parser failed");
            Err(internal())
        }
    }
}

fn internal() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({ "code": "INTERNAL", "message": "internal error" })),
    )
        .into_response()
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

/// What the answer keeps: every stored line (as compact JSON), the first [`MAX_LINE_ERRORS`]
/// errors by line number, and counts.
#[derive(Debug, Default)]
struct Answer {
    stored: Vec<(u64, Box<str>)>,
    errors: BTreeMap<u64, LineError>,
    omitted: u64,
    totals: Totals,
}

impl Answer {
    fn add(&mut self, result: LineResult) {
        self.totals.lines += 1;
        match result {
            LineResult::Failed { line, error } => self.keep_error(line, error),
            LineResult::Stored { line, response } => {
                let status = response.status.clone();
                match serde_json::to_string(&LineResult::Stored { line, response }) {
                    Ok(json) => self.stored.push((line, json.into_boxed_str())),
                    Err(e) => {
                        // Not reachable (plain data); reported under its line, not dropped.
                        tracing::error!(error = %e, "bulk result not serialisable");
                        if let LineResult::Failed { error, .. } = failed_task(line) {
                            self.keep_error(line, error);
                        }
                        return;
                    }
                }
                self.totals.stored += 1;
                match status.as_str() {
                    "verified" => self.totals.verified += 1,
                    "mismatch" => self.totals.mismatch += 1,
                    "not_found" => self.totals.not_found += 1,
                    "manual_review" => self.totals.manual_review += 1,
                    "issued" => self.totals.issued += 1,
                    _ => {}
                }
            }
        }
    }

    /// Counts an error; keeps it if it is among the first [`MAX_LINE_ERRORS`] by line.
    fn keep_error(&mut self, line: u64, error: LineError) {
        self.totals.failed += 1;
        self.errors.insert(line, error);
        if self.errors.len() > MAX_LINE_ERRORS {
            self.errors.pop_last();
            self.omitted += 1;
        }
    }

    /// The answer body (see the module documentation); `cut` for a `413`.
    fn into_json(self, cut: Option<&str>, key: &str) -> Result<Vec<u8>, serde_json::Error> {
        let Answer {
            mut stored,
            errors,
            omitted,
            totals,
        } = self;
        stored.sort_unstable_by_key(|(line, _)| *line);
        let size: usize = stored.iter().map(|(_, j)| j.len() + 1).sum();
        let mut out: Vec<u8> = Vec::with_capacity(size + 256);
        out.push(b'{');
        if let Some(message) = cut {
            out.extend_from_slice(br#""code":"PAYLOAD_TOO_LARGE","message":"#);
            serde_json::to_writer(&mut out, message)?;
            out.push(b',');
        }
        out.extend_from_slice(br#""results":["#);
        let mut errors = errors.into_iter().peekable();
        let mut stored = stored.into_iter().peekable();
        let mut first = true;
        loop {
            let error_next = match (stored.peek(), errors.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((s, _)), Some((e, _))) => e < s,
            };
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            if error_next {
                if let Some((line, error)) = errors.next() {
                    serde_json::to_writer(&mut out, &LineResult::Failed { line, error })?;
                }
            } else if let Some((_, json)) = stored.next() {
                out.extend_from_slice(json.as_bytes());
            }
        }
        out.extend_from_slice(br#"],"totals":"#);
        serde_json::to_writer(&mut out, &totals)?;
        out.extend_from_slice(br#","errors_omitted":"#);
        serde_json::to_writer(&mut out, &omitted)?;
        out.extend_from_slice(br#","truncated":"#);
        serde_json::to_writer(&mut out, &(omitted > 0))?;
        out.extend_from_slice(br#","idempotency_key":"#);
        serde_json::to_writer(&mut out, key)?;
        out.push(b'}');
        Ok(out)
    }

    fn into_response(self, status: StatusCode, cut: Option<&str>, key: &str) -> Response {
        let body = match self.into_json(cut, key) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "bulk answer not serialisable");
                return internal();
            }
        };
        let mut response = (status, Body::from(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(key) {
            headers.insert("idempotency-key", v);
        }
        response
    }
}

async fn process(
    state: AppState,
    staff: Staff,
    line: u64,
    req: SubmitRequest,
    key: String,
) -> LineResult {
    // Each new line counts against the token's submission limit like a single submission; a
    // line over it is a `RATE_LIMITED` line error. A line already stored under its key (a
    // re-sent upload) is answered without counting, so re-sending the upload under its key
    // later stores exactly the lines that are missing.
    let outcome = match crate::workflow::submission::parse(req, staff.clinic_id) {
        Ok(record) => match state
            .storage
            .has_record_with_key(staff.clinic_id, &key)
            .await
        {
            Ok(true) => submit_one(&state, staff, &record, &key).await,
            Ok(false) => match super::limits::check_submissions(&state, &staff, 1).await {
                Ok(()) => submit_one(&state, staff, &record, &key).await,
                Err(limited) => Err(limited),
            },
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok((response, _)) => LineResult::Stored { line, response },
        Err(e) => LineResult::Failed {
            line,
            error: e.into(),
        },
    }
}

/// The records being processed, [`BULK_CONCURRENCY`] at a time.
struct Running {
    tasks: JoinSet<LineResult>,
    lines: std::collections::HashMap<tokio::task::Id, u64>,
}

impl Running {
    async fn start(
        &mut self,
        answer: &mut Answer,
        state: &AppState,
        staff: Staff,
        (line, req): (u64, SubmitRequest),
        upload_key: &str,
    ) {
        while self.tasks.len() >= BULK_CONCURRENCY {
            if let Some(done) = self.tasks.join_next().await {
                answer.add(self.joined(done));
            }
        }
        let handle = self.tasks.spawn(process(
            state.clone(),
            staff,
            line,
            req,
            format!("{upload_key}:{line}"),
        ));
        self.lines.insert(handle.id(), line);
    }

    /// Waits for every started line (each is committed once its task is done).
    async fn finish(&mut self, answer: &mut Answer) {
        while let Some(done) = self.tasks.join_next().await {
            answer.add(self.joined(done));
        }
    }

    /// A finished task's result; a task that panicked is reported under its line.
    fn joined(&mut self, done: Result<LineResult, tokio::task::JoinError>) -> LineResult {
        match done {
            Ok(r) => {
                let line = r.line();
                self.lines.retain(|_, l| *l != line);
                r
            }
            Err(e) => failed_task(self.lines.remove(&e.id()).unwrap_or(0)),
        }
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

/// Why an upload was cut.
#[derive(Debug, Clone, Copy)]
enum Cut {
    Bytes,
    Lines,
}

impl Cut {
    /// The `413` message (`lines`: the lines processed before the cut).
    fn message(self, lines: u64, key: &str) -> String {
        let why = match self {
            Cut::Bytes => format!("the upload is larger than {MAX_BULK_BYTES} bytes"),
            Cut::Lines => format!("the upload has more than {MAX_BULK_LINES} lines"),
        };
        format!(
            "{why}: it was cut there; records processed before the cut: {lines} (their results \
             are below, every listed id is stored); split the upload and send it again with the \
             same Idempotency-Key ({key}): nothing is stored twice"
        )
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

    let mut parser = Parser::new(format);
    let mut answer = Answer::default();
    let mut running = Running {
        tasks: JoinSet::new(),
        lines: std::collections::HashMap::new(),
    };
    let mut body = body;
    let mut received: u64 = 0;
    let mut cut: Option<Cut> = None;
    'body: loop {
        let chunk = match body.frame().await {
            None => None,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => Some(data),
                Err(_) => continue,
            },
            Some(Err(_)) => {
                running.finish(&mut answer).await;
                return Err(ApiError::InvalidRequest(
                    "the upload was interrupted".to_owned(),
                ));
            }
        };
        let at_end = chunk.is_none();
        if let Some(data) = &chunk {
            received = received.saturating_add(data.len() as u64);
            if received > MAX_BULK_BYTES {
                cut = Some(Cut::Bytes);
                break;
            }
        }
        // The slices of this frame (one `None` at the end of the body).
        let slices: Vec<Option<Bytes>> = match chunk {
            None => vec![None],
            Some(data) => (0..data.len())
                .step_by(PARSE_SLICE)
                .map(|from| Some(data.slice(from..data.len().min(from + PARSE_SLICE))))
                .collect(),
        };
        for slice in slices {
            let (p, items) = match parse_blocking(parser, slice).await {
                Ok(parsed) => parsed,
                Err(refused) => {
                    running.finish(&mut answer).await;
                    return Ok(refused);
                }
            };
            parser = p;
            for item in items {
                match item {
                    Item::Error(line, error) => {
                        answer.totals.lines += 1;
                        answer.keep_error(line, error);
                    }
                    Item::Record(line, req) => {
                        running
                            .start(&mut answer, &state, staff, (line, req), &upload_key)
                            .await;
                    }
                }
            }
            if parser.over_cap {
                cut = Some(Cut::Lines);
                break 'body;
            }
        }
        if at_end {
            break;
        }
    }
    // Every started line finishes (and is committed) before the answer.
    running.finish(&mut answer).await;
    if let Some(cut) = cut {
        let message = cut.message(answer.totals.lines, &upload_key);
        return Ok(answer.into_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(&message),
            &upload_key,
        ));
    }
    if format == Format::Csv && parser.columns.is_none() {
        return Err(ApiError::InvalidRequest(
            "the CSV upload has no header row".to_owned(),
        ));
    }
    Ok(answer.into_response(StatusCode::OK, None, &upload_key))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HEADER: &str = "id_number,full_name,date_of_birth,sex,vaccine_mp,vaccine_ma,\
                          vaccine_vp,dose_number,series_total,date\n";

    /// Issue 12, item 2: a quoted field left open over 64k lines, fed a line at a time (as
    /// frames arrive), is read in one pass: every byte is looked at once (the old reader
    /// re-split the whole growing record on every line: ~2·10⁹ bytes for this record).
    #[test]
    fn bulk_csv_open_quote_is_linear() {
        let mut parser = Parser::new(Format::Csv);
        let mut items = Vec::new();
        let mut body = HEADER.as_bytes().to_vec();
        body.push(b'"');
        body.extend(std::iter::repeat_n(b'\n', 65_536));
        for piece in body.split_inclusive(|&b| b == b'\n') {
            parser.feed(Some(piece), &mut items).unwrap();
        }
        parser.feed(None, &mut items).unwrap();
        assert_eq!(parser.scanned, body.len() as u64);
        assert_eq!(items.len(), 1);
        let Item::Error(line, e) = &items[0] else {
            panic!("an error")
        };
        assert_eq!(*line, 2);
        assert_eq!(
            e.message,
            "the row is not valid CSV (a quoted field is never closed)"
        );
    }

    /// Multi-line quoted fields, CRLF, stray quotes, blank lines, a long record: line numbers
    /// and reasons, whatever the slicing of the body.
    #[test]
    fn csv_records_and_errors_by_line_in_any_slicing() {
        let long = "a".repeat(MAX_LINE_BYTES + 10);
        let row = "001185000001,\"Lê, Văn \"\"Tám\"\"\",1962-11-03,M,EU/1/20/1528,ORG-100030215,\
                   1119349007,1,2,2026-04-01";
        let text = format!(
            "\u{feff}{HEADER}{row}\r\n\n   \nx\"y,{row}\n\"multi\nline\",{}\n{long}\n{row}\n\"open",
            &row[13..]
        );
        let mut whole = Vec::new();
        let mut p = Parser::new(Format::Csv);
        p.feed(Some(text.as_bytes()), &mut whole).unwrap();
        p.feed(None, &mut whole).unwrap();
        let summary = |items: &[Item]| -> Vec<(u64, String)> {
            items
                .iter()
                .map(|i| match i {
                    Item::Record(l, r) => (*l, r.full_name.clone()),
                    Item::Error(l, e) => (*l, e.message.clone()),
                })
                .collect()
        };
        let expected = vec![
            (2, "Lê, Văn \"Tám\"".to_owned()),
            (5, "the row is not valid CSV (a stray quote)".to_owned()),
            // A record over lines 6-7 (its id_number has a line break in quotes).
            (6, "Lê, Văn \"Tám\"".to_owned()),
            (
                8,
                format!("the record is longer than {MAX_LINE_BYTES} bytes"),
            ),
            (9, "Lê, Văn \"Tám\"".to_owned()),
            (
                10,
                "the row is not valid CSV (a quoted field is never closed)".to_owned(),
            ),
        ];
        assert_eq!(summary(&whole), expected);
        for size in [1, 2, 7, 4096] {
            let mut items = Vec::new();
            let mut p = Parser::new(Format::Csv);
            for piece in text.as_bytes().chunks(size) {
                p.feed(Some(piece), &mut items).unwrap();
                // Empty frames between the data change nothing.
                p.feed(Some(&[]), &mut items).unwrap();
            }
            p.feed(None, &mut items).unwrap();
            assert_eq!(summary(&items), expected, "slices of {size}");
        }
    }

    /// The bulk_upload fuzz target's crash (issuer/fuzz): a body of one quote, then an empty
    /// frame, was read as a header row ended by the empty frame; without the frame the
    /// upload is refused as having no valid header. Both are now refused alike.
    #[test]
    fn an_empty_frame_is_not_the_end_of_the_csv() {
        let outcome = |frames: &[&[u8]]| {
            let mut p = Parser::new(Format::Csv);
            let mut items = Vec::new();
            for frame in frames {
                if let Err(e) = p.feed(Some(frame), &mut items) {
                    return Err(e.to_string());
                }
            }
            p.feed(None, &mut items).map_err(|e| e.to_string())?;
            Ok(items.len())
        };
        let whole = outcome(&[b"\""]);
        assert!(whole.is_err(), "{whole:?}");
        assert_eq!(outcome(&[b"\"", b"", b""]), whole);
        assert_eq!(outcome(&[b"", b"\"", b""]), whole);
    }
}

/// The upload parser without the service around it, for the fuzz targets (`issuer/fuzz`):
/// only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use super::{Format, Item, Parser};

    /// Feeds `body` as a CSV (`csv`) or NDJSON upload, cut into slices at the offsets `cuts`
    /// (as the network would deliver it), then the end of the body. Returns the records and
    /// line errors it gave, or `None` when the upload as a whole was refused.
    pub fn parse(csv: bool, body: &[u8], cuts: &[usize]) -> Option<(usize, usize)> {
        let mut parser = Parser::new(if csv { Format::Csv } else { Format::Ndjson });
        let mut items = Vec::new();
        let mut at = 0;
        for &cut in cuts {
            let cut = cut.clamp(at, body.len());
            parser.feed(Some(&body[at..cut]), &mut items).ok()?;
            at = cut;
        }
        parser.feed(Some(&body[at..]), &mut items).ok()?;
        parser.feed(None, &mut items).ok()?;
        let records = items
            .iter()
            .filter(|i| matches!(i, Item::Record(..)))
            .count();
        Some((records, items.len() - records))
    }
}
