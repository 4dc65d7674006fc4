//! `POST /dose-records` and `POST /dose-records/{id}/confirm`.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use vaxpass_verifier::valuesets::{ValueSets, ids};

use super::{ApiError, AppState, Auth, issue};
use crate::dates::{Date, PartialDate};
use crate::identity::{IdKind, IdNumber, Sex};
use crate::matching::{DoseIdentity, Registry, RegistryPerson, match_record};
use crate::names::{DCC_NAME_MAX, icao_transliterate, split_full_name};
use crate::plausibility;
use crate::registry::PersonRegistry;
use crate::storage::{Actor, NewDoseRecord, RecordStatus, Refused, Staff, Vaccination};

/// Longest `id_number`, in characters as typed (separators included).
pub const MAX_ID_NUMBER_CHARS: usize = 20;

/// Longest `full_name`, in characters as typed (before spacing is normalised): two DCC name
/// parts of [`DCC_NAME_MAX`] and some spacing. Each part is checked too (see `parse_request`).
pub const MAX_FULL_NAME_CHARS: usize = 2 * DCC_NAME_MAX + 20;

/// This module's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dose-records", post(submit))
        .route("/dose-records/{id}/confirm", post(confirm))
}

/// The vaccine of a submitted dose (DCC codes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaccineIn {
    /// Medicinal product (`vaccines-covid-19-names`, e.g. `EU/1/20/1528`).
    pub mp: String,
    /// Marketing authorisation holder (`vaccines-covid-19-auth-holders`).
    pub ma: String,
    /// Vaccine or prophylaxis (`sct-vaccines-covid-19`, e.g. `1119349007`).
    pub vp: String,
}

impl VaccineIn {
    /// Comirnaty (BioNTech/Pfizer, mRNA): the vaccine of the demo, the load generator and
    /// the examples.
    pub fn comirnaty() -> VaccineIn {
        VaccineIn {
            mp: "EU/1/20/1528".to_owned(),
            ma: "ORG-100030215".to_owned(),
            vp: "1119349007".to_owned(),
        }
    }
}

/// The body of `POST /dose-records`.
#[derive(Clone, Serialize, Deserialize)]
pub struct SubmitRequest {
    /// ID number as typed.
    pub id_number: String,
    /// `national` (default) or `foreign_passport`.
    #[serde(default)]
    pub id_kind: IdKind,
    /// Full name, family name first.
    pub full_name: String,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub date_of_birth: String,
    /// `M`/`F`, `male`/`female`.
    pub sex: String,
    /// The vaccine.
    pub vaccine: VaccineIn,
    /// Dose number.
    pub dose_number: u32,
    /// Doses in the series.
    pub series_total: u32,
    /// Date of vaccination, `YYYY-MM-DD`.
    pub date: String,
}

impl SubmitRequest {
    /// The record a clinic would submit for `p` with every identity field as the registry
    /// holds it (so it is verified): for the demo's example, the load generator and tests.
    pub fn for_person(
        p: &RegistryPerson,
        vaccine: VaccineIn,
        dose_number: u32,
        series_total: u32,
        date: Date,
    ) -> SubmitRequest {
        SubmitRequest {
            id_number: p.id.to_string(),
            id_kind: p.id.kind(),
            full_name: p.full_name.clone(),
            date_of_birth: p.date_of_birth.to_string(),
            sex: p.sex.code().to_owned(),
            vaccine,
            dose_number,
            series_total,
            date: date.to_string(),
        }
    }
}

/// The answer of `POST /dose-records`.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitResponse {
    /// The record's id.
    pub id: i64,
    /// Its status (`verified`, `mismatch`, `not_found`, `manual_review`, `issued`, …).
    pub status: String,
    /// The matching report.
    pub outcome: serde_json::Value,
}

/// The answer of `POST /dose-records/{id}/confirm` (and of a certificate lookup).
#[derive(Debug, Clone, Serialize)]
pub struct CertificateResponse {
    /// The UVCI.
    pub uvci: String,
    /// The `HC1:` string.
    pub hc1: String,
    /// The HCERT payload.
    pub payload: serde_json::Value,
    /// CWT issued-at, Unix seconds.
    pub iat: i64,
    /// CWT expiry, Unix seconds.
    pub exp: i64,
}

impl CertificateResponse {
    pub(crate) fn of(c: crate::storage::Certificate) -> Result<Self, ApiError> {
        let payload = serde_json::from_str(&c.payload)
            .map_err(|_| ApiError::Issue("stored payload is not JSON".to_owned()))?;
        Ok(CertificateResponse {
            uvci: c.uvci,
            hc1: c.hc1,
            payload,
            iat: c.iat,
            exp: c.exp,
        })
    }
}

/// The fields of a dose record, for messages about a body that does not deserialise.
const DOSE_RECORD_FIELDS: &str = "id_number, id_kind (\"national\" or \"foreign_passport\", optional), full_name, date_of_birth, sex, vaccine {mp, ma, vp}, dose_number, series_total, date";

/// The fields of a lookup request (`POST /lookup`).
pub(crate) const LOOKUP_FIELDS: &str =
    "full_name, date_of_birth, sex, id_number, last_dose_date (all text)";

/// The 422 answer to a JSON body that could not be read as a `what` (`dose record`, `lookup
/// request`, …) whose fields are `fields`. It names the field (its JSON path, from
/// `serde_path_to_error`, which axum's `Json` uses), what the field accepts, and the line and
/// column; it never quotes a submitted value (a value may be personal data): serde's texts
/// quote values (`invalid type: string "…"`, ``unknown variant `…` ``), so only the part our
/// own types wrote (what is expected) is kept.
pub(crate) fn json_rejection(rejection: &JsonRejection, what: &str, fields: &str) -> ApiError {
    use std::error::Error as _;
    let shape = format!("the body must be a JSON {what} with the fields {fields}");
    let mut source = rejection.source();
    let mut path_error = None;
    let mut json_error = None;
    while let Some(e) = source {
        if let Some(e) = e.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            path_error = Some(e);
            break;
        }
        if let Some(e) = e.downcast_ref::<serde_json::Error>() {
            json_error = Some(e);
            break;
        }
        source = e.source();
    }
    let message = match (rejection, path_error, json_error) {
        (JsonRejection::MissingJsonContentType(_), _, _) => {
            "the Content-Type must be application/json".to_owned()
        }
        (_, Some(e), _) => describe(e.path(), e.inner(), &shape),
        (_, None, Some(e)) => format!(
            "the body is not valid JSON (line {}, column {}): {shape}",
            e.line(),
            e.column()
        ),
        (JsonRejection::JsonSyntaxError(_), None, None) => {
            format!("the body is not valid JSON: {shape}")
        }
        _ => format!("the body could not be read: {shape}"),
    };
    invalid(&message)
}

/// The message of a deserialisation error at `path` (see [`json_rejection`]).
fn describe(path: &serde_path_to_error::Path, e: &serde_json::Error, shape: &str) -> String {
    use serde_json::error::Category;
    let at = format!("line {}, column {}", e.line(), e.column());
    if !matches!(e.classify(), Category::Data) {
        return format!("the body is not valid JSON ({at}): {shape}");
    }
    let text = e.to_string();
    // serde_json appends " at line L column C"; the position is given separately.
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(t, _)| t);
    let parent = path.to_string();
    let parent = if parent == "." { String::new() } else { parent };
    let join = |field: &str| {
        if parent.is_empty() {
            field.to_owned()
        } else {
            format!("{parent}.{field}")
        }
    };
    // `missing field `x``: the name is one of our fields, not submitted text.
    if let Some(field) = text
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return format!("the field `{}` is missing ({at}): {shape}", join(field));
    }
    let field = if parent.is_empty() {
        "the body".to_owned()
    } else {
        format!("the field `{parent}`")
    };
    // `unknown variant `v`, expected one of `a`, `b``, `invalid type: string "v", expected
    // u32`, `invalid value: integer `-1`, expected u32`: only what follows the last
    // ", expected " is ours.
    let expected = text
        .rsplit_once(", expected ")
        .map(|(_, exp)| plain_expected(exp));
    match expected {
        Some(exp) => format!("{field} must be {exp} ({at}): {shape}"),
        None => format!("{field} is not valid ({at}): {shape}"),
    }
}

/// serde's name of an expected type in words for people.
fn plain_expected(exp: &str) -> String {
    match exp {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "a string" => "text (a JSON string)".to_owned(),
        "a boolean" => "true or false".to_owned(),
        e if e.starts_with("struct ") => "a JSON object".to_owned(),
        e => e.to_owned(),
    }
}

fn invalid(msg: &str) -> ApiError {
    ApiError::InvalidRequest(msg.to_owned())
}

/// The registry as far as one lookup needs it: the person found under the record's number.
struct Found(Option<RegistryPerson>);

impl Registry for Found {
    fn find(&self, id: &IdNumber) -> Option<RegistryPerson> {
        self.0.as_ref().filter(|p| &p.id == id).cloned()
    }
}

/// The vaccine codes must be in the embedded eHealth Network value sets (inactive codes are
/// accepted, as the verifier accepts them).
fn check_codes(v: &VaccineIn) -> Result<(), ApiError> {
    let sets = ValueSets::shared().map_err(|e| ApiError::Issue(format!("value sets: {e}")))?;
    for (field, set, code) in [
        ("vaccine.vp", ids::VACCINE_PROPHYLAXIS, &v.vp),
        ("vaccine.mp", ids::VACCINE_MEDICINAL_PRODUCT, &v.mp),
        ("vaccine.ma", ids::VACCINE_MAH_MANF, &v.ma),
    ] {
        if !sets.get(set).is_some_and(|s| s.contains(code)) {
            return Err(ApiError::UnknownCode { field, set });
        }
    }
    Ok(())
}

/// The name's family part (first word) and given part (the rest) must each fit the DCC's
/// `fn`/`gn` and, transliterated, `fnt`/`gnt` (80 characters): the certificate never
/// truncates a name.
fn check_name_length(full_name: &str) -> Result<(), ApiError> {
    let too_long = || ApiError::FieldTooLong {
        field: "full_name",
        limit: "at most 80 characters for the family name (the first word) and 80 for the given names, also once transliterated (the DCC limit)",
    };
    if full_name.chars().count() > MAX_FULL_NAME_CHARS {
        return Err(too_long());
    }
    if let Some(split) = split_full_name(full_name) {
        for part in std::iter::once(split.family.as_str()).chain(split.given.as_deref()) {
            if part.chars().count() > DCC_NAME_MAX
                || icao_transliterate(part).chars().count() > DCC_NAME_MAX
            {
                return Err(too_long());
            }
        }
    }
    Ok(())
}

/// Checks one submitted dose record and turns it into the record to store: the checks every
/// submission path shares (`POST /dose-records`, the bulk upload, the import): formats,
/// lengths ([`MAX_ID_NUMBER_CHARS`], [`MAX_FULL_NAME_CHARS`] and the DCC's 80 characters per
/// name part: 422 `FIELD_TOO_LONG`), vaccine codes, and the clinical plausibility that needs
/// no clock ([`plausibility::check_timeless`]: 422 `IMPLAUSIBLE_VACCINATION`). The vaccination
/// date against today is checked by `submit_one`, which has the service's clock. No message
/// quotes a submitted value.
pub(crate) fn parse_request(req: SubmitRequest, clinic_id: i64) -> Result<NewDoseRecord, ApiError> {
    // Lengths first: nothing longer than its limit is parsed further.
    if req.id_number.chars().count() > MAX_ID_NUMBER_CHARS {
        return Err(ApiError::FieldTooLong {
            field: "id_number",
            limit: "at most 20 characters (a CCCD has 12 digits, a CMND 9, a passport number at most 20 characters)",
        });
    }
    check_name_length(&req.full_name)?;
    let date_of_birth = PartialDate::parse(&req.date_of_birth)
        .map_err(|_| invalid("date_of_birth must be YYYY-MM-DD, YYYY-MM or YYYY"))?;
    let sex = Sex::parse(&req.sex).ok_or_else(|| invalid("sex must be M or F"))?;
    let date = Date::parse(&req.date).map_err(|_| invalid("date must be YYYY-MM-DD"))?;
    if req.full_name.trim().is_empty() || req.id_number.trim().is_empty() {
        return Err(invalid("full_name and id_number are required"));
    }
    check_codes(&req.vaccine)?;
    let vaccination = Vaccination {
        prophylaxis: req.vaccine.vp,
        product: req.vaccine.mp,
        manufacturer: req.vaccine.ma,
        dose_number: req.dose_number,
        series_total: req.series_total,
        date,
    };
    plausibility::check_timeless(&vaccination, date_of_birth).map_err(ApiError::Implausible)?;
    Ok(NewDoseRecord {
        clinic_id,
        identity: DoseIdentity {
            id_number: req.id_number,
            id_kind: req.id_kind,
            full_name: req.full_name,
            date_of_birth,
            sex,
        },
        vaccination,
    })
}

/// `POST /dose-records`: stores the record (clinic from the token; `Idempotency-Key` makes
/// retries safe), matches it against the registry and stores the outcome. 201 for a new
/// record; 200 with the stored outcome for a retry with the same key and body; 429 when the
/// token's submission limit is spent ([`super::limits`]).
async fn submit(
    State(state): State<AppState>,
    Auth(staff): Auth,
    headers: HeaderMap,
    body: Result<Json<SubmitRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    super::limits::check_submissions(&state, &staff, 1)?;
    let Json(req) = body.map_err(|e| json_rejection(&e, "dose record", DOSE_RECORD_FIELDS))?;
    let record = parse_request(req, staff.clinic_id)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| invalid("Idempotency-Key must be 1 to 200 visible characters"))?;
            k.to_owned()
        }
        None => {
            let mut raw = [0u8; 16];
            OsRng.fill_bytes(&mut raw);
            format!("auto-{}", hex::encode(raw))
        }
    };
    let (response, status) = submit_one(&state, staff, &record, &key).await?;
    Ok((status, Json(response)))
}

/// Stores one parsed record under `key` (the clinic's idempotency key), matches it against
/// the registry and stores the outcome: the core of `POST /dose-records`, shared with the
/// bulk upload. Returns the answer and its status: 201 for a new record, 200 for a retry with
/// the same key and content, 202 when the registry could not be asked (the record is stored,
/// `received`, and re-matched later). Everything it stores is committed when it returns.
pub(crate) async fn submit_one(
    state: &AppState,
    staff: Staff,
    record: &NewDoseRecord,
    key: &str,
) -> Result<(SubmitResponse, StatusCode), ApiError> {
    // The clock-free checks ran in `parse_request`; the date against today needs the clock.
    plausibility::check(
        &record.vaccination,
        record.identity.date_of_birth,
        state.now(),
    )
    .map_err(ApiError::Implausible)?;
    let actor = Actor::Staff(staff.token_id);
    let matcher = Actor::System("matcher".into());
    // The registry is asked first, so a new record is stored with its outcome in one write.
    let person = match IdNumber::parse(&record.identity.id_number, record.identity.id_kind) {
        Ok(IdNumber::Passport(_)) | Err(_) => None,
        Ok(number) => match state.registry.lookup(&number).await {
            Ok(person) => person,
            Err(e) => return submit_unmatched(state, &actor, record, key, e).await,
        },
    };
    let result = match_record(&record.identity, &Found(person));
    let (id, created, status) = state
        .storage
        .insert_and_verify(record, key, &actor, &result, &matcher)
        .await?;
    let status = match (created, status) {
        (true, status) => status,
        // A retry of a record left `received` (the registry could not be asked then): this
        // match is its first.
        (false, RecordStatus::Received) => {
            state
                .storage
                .set_verification(id, &result, &matcher)
                .await?
        }
        // A retry of a record matched before: its stored outcome.
        (false, _) => return stored_answer(state, id).await,
    };
    state.metrics.record_submitted(status);
    let outcome = serde_json::to_value(result.report())
        .map_err(|_| ApiError::Issue("match report is not serialisable".to_owned()))?;
    Ok((
        SubmitResponse {
            id,
            status: status.to_string(),
            outcome,
        },
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
    ))
}

/// The registry could not be asked: the record is stored (or found under its key) `received`
/// and answered 202 for a later match, unless a retry finds it matched already (200).
async fn submit_unmatched(
    state: &AppState,
    actor: &Actor,
    record: &NewDoseRecord,
    key: &str,
    e: crate::registry::RegistryError,
) -> Result<(SubmitResponse, StatusCode), ApiError> {
    let (id, created) = state.storage.insert_dose_record(record, key, actor).await?;
    if !created {
        let stored = state
            .storage
            .get_dose_record(id)
            .await?
            .ok_or(ApiError::NotFound("dose record"))?;
        if stored.status != RecordStatus::Received {
            return stored_answer(state, id).await;
        }
    }
    let (status, outcome) = crate::registry::defer_match(state, id, e).await?;
    let body = SubmitResponse {
        id,
        status,
        outcome,
    };
    Ok((body, StatusCode::ACCEPTED))
}

/// 200 with the stored status and matching report of a record.
async fn stored_answer(
    state: &AppState,
    id: i64,
) -> Result<(SubmitResponse, StatusCode), ApiError> {
    let stored = state
        .storage
        .get_dose_record(id)
        .await?
        .ok_or(ApiError::NotFound("dose record"))?;
    let outcome = stored
        .match_report
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok((
        SubmitResponse {
            id,
            status: stored.status.to_string(),
            outcome,
        },
        StatusCode::OK,
    ))
}

/// `POST /dose-records/{id}/confirm`: only the record's clinic (another clinic's record is
/// 404, as a missing one); only a verified record (409 `NOT_VERIFIED`); a verified record
/// whose dose is not plausible (any more) is refused with 422 `IMPLAUSIBLE_VACCINATION`
/// ([`plausibility`]); idempotent (a second confirmation returns the same certificate).
async fn confirm(
    State(state): State<AppState>,
    Auth(staff): Auth,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<CertificateResponse>, ApiError> {
    let Ok(Path(id)) = id else {
        return Err(ApiError::NotFound("dose record"));
    };
    let now = state.now();
    // Signing and self-verifying are CPU work: on the blocking pool, outside any database
    // transaction, so the async workers keep serving requests meanwhile.
    let signing_state = state.clone();
    let clinic_id = staff.clinic_id;
    let issued = state
        .storage
        .confirm_and_issue_checked(
            id,
            &Actor::Staff(staff.token_id),
            // Only the record's clinic, whatever its status (the record is read once).
            // Another clinic's record is the same 404 as a missing one: ids are sequential,
            // and a 403 would let any clinic count every record. A record about to be signed
            // is re-checked for plausibility against the registry's birth date (it may have
            // been stored before the checks existed).
            |r| {
                if r.clinic_id != clinic_id {
                    return Err(ApiError::NotFound("dose record"));
                }
                if r.status == RecordStatus::Verified {
                    let born = r
                        .registry_person
                        .as_ref()
                        .map_or(r.identity.date_of_birth, |p| {
                            PartialDate::from(p.date_of_birth)
                        });
                    plausibility::check(&r.vaccination, born, now)
                        .map_err(ApiError::Implausible)?;
                }
                Ok(())
            },
            move |r| async move {
                tokio::task::spawn_blocking(move || issue::issue(&signing_state, &r, now))
                    .await
                    .map_err(|_| SignError::Task)?
                    .map_err(SignError::Issue)
            },
        )
        .await;
    let issued = match issued {
        Err(Refused::Check(e)) => return Err(e),
        Err(Refused::Storage(e)) => Err(e),
        Ok(issued) => Ok(issued),
    };
    state.metrics.observe_confirm(&issued);
    let issued = issued?;
    Ok(Json(CertificateResponse::of(issued.certificate)?))
}

/// Why the signing task of a confirmation failed.
#[derive(Debug, thiserror::Error)]
enum SignError {
    /// Building, signing or self-verifying failed.
    #[error(transparent)]
    Issue(issue::IssueError),
    /// The blocking task did not complete (it panicked or the runtime is shutting down).
    #[error("the signing task did not complete")]
    Task,
}
