//! Storage for batch issuance (the issuer's `batch` stage): bulk insertion of confirmed dose records,
//! claiming confirmed records, and committing a batch of certificates in one transaction.
//!
//! ## Exactly once
//! A batch's certificates, the status change of its records to `issued` and one audit entry
//! commit in ONE transaction. The status change is conditional (`status = 'confirmed'`) and
//! must touch every record of the batch, and `certificates.dose_record_id` is UNIQUE: a record
//! claimed twice (two processes on one SQLite file) makes the second commit fail and roll
//! back, never issue twice. A run killed at any point leaves its uncommitted batches
//! `confirmed`: the next run claims them again.
//!
//! ## Claiming
//! - PostgreSQL: a claim is a transaction holding `SELECT … FOR UPDATE SKIP LOCKED` row locks
//!   until its batch commits, so concurrent `batch issue` processes take disjoint records. A
//!   killed process's connection closes, the server rolls its transactions back and the rows
//!   are free again at once: no lease to wait for.
//! - SQLite: one writer at a time anyway; the claim is a plain read in id order. One batch
//!   process per SQLite file (a second one fails at its first conflicting commit).

use super::error::db;
use super::read::Arg;
use std::fmt;

use sha2::{Digest, Sha256};

use super::group::BoxFuture;
use super::postgres::PgTransaction;
use super::tx::Tx;
use super::write::Bulk;
use super::{
    Actor, Columns, NewCertificate, NewDoseRecord, RecordStatus, Storage, StorageError,
    Vaccination, audit, corrupt, id_kind_str, vaccination_from_row,
};
use vaxpass_issuer_domain::identity::{IdKind, IdNumber};
use vaxpass_issuer_domain::matching::{MatchResult, RegistryPerson};

/// Ids per `IN (…)` list of the status change.
const IDS_PER_STATEMENT: usize = 1_000;

/// A confirmed dose record waiting for its certificate: what issuing needs, nothing more.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingRecord {
    /// The record's id.
    pub id: i64,
    /// Its clinic.
    pub clinic_id: i64,
    /// The registry's canonical identity (what the certificate carries).
    pub person: RegistryPerson,
    /// The dose.
    pub vaccination: Vaccination,
}

impl fmt::Debug for PendingRecord {
    /// Redacted: no personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingRecord")
            .field("id", &self.id)
            .field("clinic_id", &self.clinic_id)
            .finish_non_exhaustive()
    }
}

/// What a claim holds until its batch commits: on PostgreSQL the transaction with the row
/// locks; nothing on SQLite. Dropping it releases the claim.
pub struct ClaimLock(Option<PgTransaction>);

impl fmt::Debug for ClaimLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ClaimLock(row locks)"
        } else {
            "ClaimLock(none)"
        })
    }
}

/// Claimed records and their lock.
#[derive(Debug)]
pub struct Claim {
    /// The records, in id order.
    pub records: Vec<PendingRecord>,
    /// Held until [`Storage::batch_commit`].
    pub lock: ClaimLock,
}

/// A confirmed record to store (batch import): the clinic's record, its idempotency key and
/// its (verified) matching outcome.
#[derive(Debug, Clone)]
pub struct ConfirmedRecord {
    /// The record.
    pub record: NewDoseRecord,
    /// Unique per clinic: a second import of the same key stores nothing.
    pub idempotency_key: String,
    /// The registry matching outcome; must be [`MatchResult::Verified`].
    pub result: MatchResult,
}

/// What [`Storage::insert_confirmed_records`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsertSummary {
    /// Records stored now.
    pub inserted: u64,
    /// Records already stored under their idempotency key (skipped).
    pub existing: u64,
}

/// One exported certificate (the `batch export` NDJSON line).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportedCertificate {
    /// Row id of the certificate (export order; resume with `after`).
    pub id: i64,
    /// The UVCI.
    pub uvci: String,
    /// The dose record.
    pub dose_record_id: i64,
    /// The `HC1:` string.
    pub hc1: String,
}

pub(super) const PENDING_COLUMNS: &str = "id, clinic_id, prophylaxis, product, manufacturer, dose_number, \
    series_total, vaccination_date, registry_person";

pub(super) fn pending_from_row(row: &dyn Columns) -> Result<PendingRecord, StorageError> {
    let person = row.text_or_null("registry_person")?;
    let person = serde_json::from_str(person.as_deref().ok_or(corrupt("registry person"))?)
        .map_err(|_| corrupt("registry person"))?;
    Ok(PendingRecord {
        id: row.int("id")?,
        clinic_id: row.int("clinic_id")?,
        person,
        vaccination: vaccination_from_row(row)?,
    })
}

fn id_list(ids: impl Iterator<Item = i64>) -> String {
    let mut s = String::new();
    for (i, id) in ids.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    s
}

/// Ids grouped for a conditional UPDATE: runs of consecutive ids become ranges, the others
/// lists (at most [`IDS_PER_STATEMENT`] each). Every id is in exactly one group.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IdRange {
    /// `first..=last`, every id in between.
    Span(i64, i64),
    /// Single ids.
    List(Vec<i64>),
}

/// Runs shorter than this go into lists.
const MIN_SPAN: usize = 16;

fn id_ranges(ids: impl Iterator<Item = i64>) -> Vec<IdRange> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    let mut out = Vec::new();
    let mut singles = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i + 1;
        while j < ids.len() && ids[j - 1].checked_add(1) == Some(ids[j]) {
            j += 1;
        }
        if j - i >= MIN_SPAN {
            out.push(IdRange::Span(ids[i], ids[j - 1]));
        } else {
            singles.extend_from_slice(&ids[i..j]);
        }
        i = j;
    }
    for chunk in singles.chunks(IDS_PER_STATEMENT) {
        out.push(IdRange::List(chunk.to_vec()));
    }
    out
}

/// The UPDATEs that mark a batch's records `issued`, conditional on `confirmed`: together they
/// must touch every record. Ids come from the database (integers): inlined, no bind limit to
/// mind. A claim takes consecutive confirmed records, so a batch is usually one id range: one
/// range scan instead of a list of thousands.
pub(super) fn mark_issued_sql(certificates: &[(i64, NewCertificate)], now: i64) -> Vec<String> {
    id_ranges(certificates.iter().map(|(id, _)| *id))
        .into_iter()
        .map(|range| {
            let condition = match range {
                IdRange::Span(a, b) => format!("id BETWEEN {a} AND {b}"),
                IdRange::List(ids) => format!("id IN ({})", id_list(ids.into_iter())),
            };
            format!(
                "UPDATE dose_records SET status = 'issued', updated_at = {now} \
                 WHERE status = 'confirmed' AND {condition}"
            )
        })
        .collect()
}

/// The one audit entry of a batch: count, record id range, signing keys (no personal data).
pub(super) fn batch_issue_entry(
    certificates: &[(i64, NewCertificate)],
    actor: String,
) -> audit::NewEntry {
    let first = certificates.iter().map(|(id, _)| *id).min().unwrap_or(0);
    let last = certificates.iter().map(|(id, _)| *id).max().unwrap_or(0);
    let kids: std::collections::BTreeSet<&str> =
        certificates.iter().map(|(_, c)| c.kid.as_str()).collect();
    audit::NewEntry {
        actor,
        action: "certificate.batch_issue",
        subject: format!("dose_records:{first}-{last}"),
        details: serde_json::json!({
            "count": certificates.len(),
            "first_record": first,
            "last_record": last,
            "kids": kids,
        }),
    }
}

/// The columns of a dose record stored confirmed (batch import), before `VALUES`.
const INSERT_CONFIRMED_HEAD: &str = "INSERT INTO dose_records (clinic_id, idempotency_key, \
    request_hash, id_number, id_kind, full_name, date_of_birth, sex, product, manufacturer, \
    dose_number, series_total, vaccination_date, status, outcome, match_report, \
    registry_person, created_at, updated_at, prophylaxis)";

/// The columns of a certificate, before `VALUES`.
const INSERT_CERTIFICATE_HEAD: &str = "INSERT INTO certificates \
    (uvci, dose_record_id, hc1, payload, kid, iat, exp, issued_at)";

/// `Storage::insert_confirmed_records` inside `tx`: the rows (`extra`: each record's request
/// hash, match report and registry person as stored), then the audit entry.
async fn insert_confirmed_tx(
    tx: &mut dyn Tx,
    records: &[ConfirmedRecord],
    extra: &[(String, String, String)],
    now: i64,
    actor: String,
) -> Result<InsertSummary, StorageError> {
    const COLUMNS: usize = 20;
    let dates: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r.record.identity.date_of_birth.to_string(),
                r.record.vaccination.date.to_string(),
            )
        })
        .collect();
    let mut args = Vec::with_capacity(records.len() * COLUMNS);
    for ((r, (request_hash, report, person)), (dob, date)) in records.iter().zip(extra).zip(&dates)
    {
        let id_ = &r.record.identity;
        let v = &r.record.vaccination;
        args.extend([
            Arg::Int(r.record.clinic_id),
            Arg::Text(&r.idempotency_key),
            Arg::Text(request_hash),
            Arg::Text(&id_.id_number),
            Arg::Text(id_kind_str(id_.id_kind)),
            Arg::Text(&id_.full_name),
            Arg::Text(dob),
            Arg::Text(id_.sex.code()),
            Arg::Text(&v.product),
            Arg::Text(&v.manufacturer),
            Arg::Int(i64::from(v.dose_number)),
            Arg::Int(i64::from(v.series_total)),
            Arg::Text(date),
            Arg::Text(RecordStatus::Confirmed.as_str()),
            Arg::Text(r.result.code()),
            Arg::Text(report),
            Arg::Text(person),
            Arg::Int(now),
            Arg::Int(now),
            Arg::Text(&v.prophylaxis),
        ]);
    }
    let mut ids = Vec::with_capacity(records.len());
    tx.insert_rows(
        INSERT_CONFIRMED_HEAD,
        COLUMNS,
        " ON CONFLICT (clinic_id, idempotency_key) DO NOTHING RETURNING id",
        &args,
        &mut |row| {
            ids.push(row.int("id")?);
            Ok(())
        },
    )
    .await
    .map_err(|e| match super::constraint::of_error(&e) {
        Some(super::constraint::Violation::ForeignKey) => {
            StorageError::UnknownClinic(records.first().map_or(0, |r| r.record.clinic_id))
        }
        _ => e,
    })?;
    let summary = InsertSummary {
        inserted: ids.len() as u64,
        existing: (records.len() - ids.len()) as u64,
    };
    if let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) {
        let entry = audit::NewEntry {
            actor,
            action: "dose_record.batch_import",
            subject: format!("dose_records:{first}-{last}"),
            details: serde_json::json!({
                "inserted": summary.inserted,
                "existing": summary.existing,
                "status": "confirmed",
            }),
        };
        audit::append(tx, now, vec![entry]).await?;
    }
    Ok(summary)
}

/// [`batch_commit_tx`] as a write operation.
fn batch_commit_op(
    certificates: Vec<(i64, NewCertificate)>,
    now: i64,
    actor: String,
    head: std::sync::Arc<audit::HeadCache>,
) -> impl for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<(), StorageError>> + Send + 'static
{
    move |tx| Box::pin(async move { batch_commit_tx(tx, &certificates, now, actor, &head).await })
}

/// `Storage::batch_commit` inside `tx`: the certificates, the records marked `issued` (every
/// one must still be `confirmed`) and the batch's audit entry.
async fn batch_commit_tx(
    tx: &mut dyn Tx,
    certificates: &[(i64, NewCertificate)],
    now: i64,
    actor: String,
    head: &audit::HeadCache,
) -> Result<(), StorageError> {
    let mut args = Vec::with_capacity(certificates.len() * 8);
    for (id, c) in certificates {
        args.extend([
            Arg::Text(&c.uvci),
            Arg::Int(*id),
            Arg::Text(&c.hc1),
            Arg::Text(&c.payload),
            Arg::Text(&c.kid),
            Arg::Int(c.iat),
            Arg::Int(c.exp),
            Arg::Int(now),
        ]);
    }
    tx.insert_rows(INSERT_CERTIFICATE_HEAD, 8, "", &args, &mut |_| Ok(()))
        .await
        .map_err(|e| {
            super::constraint::batch_certificate_error(super::constraint::of_error(&e)).unwrap_or(e)
        })?;
    // The status change, conditional on `confirmed`; it must touch every record.
    let mut updated = 0;
    for sql in mark_issued_sql(certificates, now) {
        updated += tx.execute(&sql, &[]).await?;
    }
    if updated != certificates.len() as u64 {
        return Err(StorageError::BatchConflict);
    }
    let entry = batch_issue_entry(certificates, actor);
    audit::append_cached(tx, now, vec![entry], head).await
}

impl Storage {
    /// Stores verified, confirmed dose records in one transaction (multi-row INSERTs), with
    /// one audit entry (`dose_record.batch_import`: counts and id range, no personal data).
    /// A record whose clinic already used its idempotency key is skipped (a re-run of the same
    /// import stores nothing twice).
    ///
    /// # Errors
    /// [`StorageError::NotVerified`] for a record whose result is not verified (nothing is
    /// stored), [`StorageError::UnknownClinic`], [`StorageError::Database`].
    pub async fn insert_confirmed_records(
        &self,
        records: &[ConfirmedRecord],
        actor: &Actor,
    ) -> Result<InsertSummary, StorageError> {
        let now = self.now();
        let mut rows = Vec::with_capacity(records.len());
        for r in records {
            let MatchResult::Verified { person, .. } = &r.result else {
                return Err(StorageError::NotVerified {
                    id: 0,
                    status: RecordStatus::of(&r.result),
                });
            };
            let request_hash = hex::encode(Sha256::digest(
                serde_json::to_vec(&r.record).map_err(|_| corrupt("dose record"))?,
            ));
            let report =
                serde_json::to_string(&r.result.report()).map_err(|_| corrupt("report"))?;
            let person = serde_json::to_string(person).map_err(|_| corrupt("registry person"))?;
            rows.push((request_hash, report, person));
        }
        let records = records.to_vec();
        let actor = actor.to_string();
        self.write(move |tx| {
            Box::pin(async move { insert_confirmed_tx(tx, &records, &rows, now, actor).await })
        })
        .await
    }

    /// SQLite: gives the writer's connection a 256 MiB page cache (`PRAGMA cache_size`), so
    /// that bulk transactions (a registry import, a batch commit) do not spill pages to the
    /// WAL while they run. No effect on PostgreSQL. Durability is unchanged.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn tune_for_batch(&self) -> Result<(), StorageError> {
        self.writer.tune_for_batch().await
    }

    /// Claims up to `limit` confirmed records with an id above `after`, in id order (see the
    /// module documentation for what a claim is on each backend).
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn batch_claim(&self, after: i64, limit: u32) -> Result<Claim, StorageError> {
        let limit = i64::from(limit.max(1));
        let sql = format!(
            "SELECT {PENDING_COLUMNS} FROM dose_records \
             WHERE status = 'confirmed' AND id > $1 ORDER BY id LIMIT $2"
        );
        let args = vec![Arg::Int(after), Arg::Int(limit)];
        let (records, lock) = self.reader.claim(sql, args, pending_from_row).await?;
        Ok(Claim {
            records,
            lock: ClaimLock(lock),
        })
    }

    /// Stores a batch of certificates (`(dose record id, certificate)`) in ONE transaction:
    /// the certificates (multi-row INSERTs), the records' status `issued` (only from
    /// `confirmed`, every one of them), and one audit entry `certificate.batch_issue` with the
    /// count and the record id range. All or nothing.
    ///
    /// # Errors
    /// [`StorageError::BatchConflict`] (a record is no longer confirmed: another process
    /// issued it), [`StorageError::DuplicateUvci`], [`StorageError::Database`]. Nothing is
    /// stored then.
    pub async fn batch_commit(
        &self,
        lock: ClaimLock,
        certificates: &[(i64, NewCertificate)],
        actor: &Actor,
    ) -> Result<(), StorageError> {
        if certificates.is_empty() {
            if let Some(tx) = lock.0 {
                tx.rollback().await.map_err(db)?;
            }
            return Ok(());
        }
        let now = self.now();
        let certificates = certificates.to_vec();
        let actor = actor.to_string();
        let head = self.audit_head.clone();
        let commit = batch_commit_op(certificates, now, actor, head);
        match lock.0 {
            // The claim's transaction, which holds the records' row locks.
            Some(tx) => {
                let mut tx = Bulk::Postgres(tx);
                tx.run(commit).await?;
                tx.commit().await
            }
            // A write of the writer (on SQLite grouped with those waiting).
            None => self.write(commit).await,
        }
    }

    /// Up to `limit` (capped at 50,000) registry persons with an ID number above `after`, in
    /// ID number order: loads the registry in memory for a batch import.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn registry_page(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<RegistryPerson>, StorageError> {
        let sql = "SELECT id_number, full_name, date_of_birth, sex FROM registry_persons \
             WHERE id_number > $1 ORDER BY id_number LIMIT $2";
        let args = [Arg::Text(after), Arg::Int(i64::from(limit.min(50_000)))];
        self.reader
            .all(sql, &args, |row| {
                let id = IdNumber::parse(&row.text("id_number")?, IdKind::National)
                    .map_err(|_| corrupt("registry ID number"))?;
                super::person_from_row(row, &id)
            })
            .await
    }

    /// Number of records by status `confirmed` (waiting for batch issuance).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn confirmed_count(&self) -> Result<u64, StorageError> {
        self.count("SELECT COUNT(*) AS n FROM dose_records WHERE status = 'confirmed'")
            .await
    }

    /// Number of stored certificates.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn certificate_count(&self) -> Result<u64, StorageError> {
        self.count("SELECT COUNT(*) AS n FROM certificates").await
    }

    /// Up to `limit` (capped at 10,000) certificates with a row id above `after`, in id order:
    /// the pages of `batch export`.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn export_certificates(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ExportedCertificate>, StorageError> {
        let sql = "SELECT id, uvci, dose_record_id, hc1 FROM certificates WHERE id > $1 \
             ORDER BY id LIMIT $2";
        let args = [Arg::Int(after), Arg::Int(i64::from(limit.min(10_000)))];
        self.reader
            .all(sql, &args, |r| {
                Ok(ExportedCertificate {
                    id: r.int("id")?,
                    uvci: r.text("uvci")?,
                    dose_record_id: r.int("dose_record_id")?,
                    hc1: r.text("hc1")?,
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists() {
        assert_eq!(id_list([3, 4, 5].into_iter()), "3,4,5");
    }

    #[test]
    fn id_ranges_cover_every_id_once() {
        // 100..=199 consecutive, 7 singles, 150 twice (two spans then: an UPDATE touches it
        // once, so the count check fails, as it must).
        let mut ids: Vec<i64> = (100..200).collect();
        ids.extend([5, 300, 302, 304, 306, 308, 1]);
        ids.push(150);
        let ranges = id_ranges(ids.iter().rev().copied());
        assert_eq!(
            ranges,
            vec![
                IdRange::Span(100, 150),
                IdRange::Span(150, 199),
                IdRange::List(vec![1, 5, 300, 302, 304, 306, 308]),
            ]
        );
        assert!(id_ranges(std::iter::empty()).is_empty());
        let many: Vec<i64> = (0..2_500).map(|i| i * 2).collect();
        let ranges = id_ranges(many.into_iter());
        assert_eq!(ranges.len(), 3);
        assert!(matches!(&ranges[2], IdRange::List(l) if l.len() == 500));
    }
}
