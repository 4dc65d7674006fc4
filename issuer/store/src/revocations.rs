//! Revoked certificates and re-issue (migration 0006).
//!
//! - [`Storage::amend_and_reissue`]: the one transaction of an approved correction. The
//!   record's earlier values go to its history, the record takes the amended values and the
//!   new match, the old certificate is copied to `certificate_revocations` (reason
//!   `superseded`, `replaced_by` the new UVCI), the record's row in `certificates` becomes the
//!   new certificate (`replaces` the old UVCI), the report is marked approved, and the audit
//!   entries of each step are appended. Everything is checked again inside the transaction
//!   (the report still pending, the record and its certificate as read before signing): a
//!   crash or a concurrent review leaves either all of it or none, so no certificate is ever
//!   revoked without its replacement, and a record is re-issued once per report.
//! - [`Storage::revoke_certificate`]: revocation without replacement (`error`, `fraud`).
//! - [`Storage::live_revocations`], [`Storage::revocation_list_state`],
//!   [`Storage::next_revocation_sequence`]: what the published revocation list is built from.

use std::fmt;

use vaxpass_issuer_domain::matching::MatchResult;

use super::read::Arg;
use super::{
    Actor, CERT_COLUMNS, Certificate, DoseRecord, NewCertificate, RECORD_COLUMNS, Storage,
    StorageError, Verification, audit, cert_from_row, corrupt, id_kind_str, record_from_row, tx,
};

/// Why a certificate was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// Replaced by a corrected certificate.
    Superseded,
    /// Issued in error; no replacement.
    Error,
    /// Fraudulent.
    Fraud,
}

impl RevocationReason {
    /// The stored (and API) form.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Superseded => "superseded",
            RevocationReason::Error => "error",
            RevocationReason::Fraud => "fraud",
        }
    }

    /// The reason of a stored (or API) form.
    pub fn parse(s: &str) -> Option<RevocationReason> {
        Some(match s {
            "superseded" => RevocationReason::Superseded,
            "error" => RevocationReason::Error,
            "fraud" => RevocationReason::Fraud,
            _ => return None,
        })
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A revoked certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Its UVCI.
    pub uvci: String,
    /// Its dose record.
    pub dose_record_id: i64,
    /// Why.
    pub reason: RevocationReason,
    /// Unix seconds.
    pub revoked_at: i64,
    /// The audit actor.
    pub revoked_by: String,
    /// The replacement's UVCI (superseded).
    pub replaced_by: Option<String>,
    /// The revoked `HC1:` text (the list's hashes are computed from it).
    pub hc1: String,
    /// The signer's kid (base64).
    pub kid: String,
    /// Its CWT expiry: the entry leaves the list after it.
    pub exp: i64,
}

impl fmt::Debug for Revocation {
    /// Redacted: no HC1 text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("uvci", &self.uvci)
            .field("reason", &self.reason)
            .field("replaced_by", &self.replaced_by)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

const REVOCATION_COLUMNS: &str =
    "uvci, dose_record_id, reason, revoked_at, revoked_by, replaced_by, hc1, kid, exp";

fn revocation_from_row(row: &dyn super::Columns) -> Result<Revocation, StorageError> {
    Ok(Revocation {
        uvci: row.text("uvci")?,
        dose_record_id: row.int("dose_record_id")?,
        reason: RevocationReason::parse(&row.text("reason")?)
            .ok_or(corrupt("revocation reason"))?,
        revoked_at: row.int("revoked_at")?,
        revoked_by: row.text("revoked_by")?,
        replaced_by: row.text_or_null("replaced_by")?,
        hc1: row.text("hc1")?,
        kid: row.text("kid")?,
        exp: row.int("exp")?,
    })
}

/// An approved correction, ready to be stored by [`Storage::amend_and_reissue`].
pub struct Amendment {
    /// The report approved (`None`: an amendment without a report).
    pub correction_id: Option<i64>,
    /// The record exactly as read before signing: the transaction refuses one that changed.
    pub before: DoseRecord,
    /// The UVCI of its certificate as read before signing.
    pub old_uvci: String,
    /// The record's identity and dose after the amendment.
    pub after: super::NewDoseRecord,
    /// The registry match of the amended identity (verified).
    pub result: MatchResult,
    /// The new certificate, signed for `result`'s person.
    pub new: NewCertificate,
}

impl fmt::Debug for Amendment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Amendment")
            .field("correction_id", &self.correction_id)
            .field("record", &self.before.id)
            .field("old_uvci", &self.old_uvci)
            .field("new", &self.new)
            .finish_non_exhaustive()
    }
}

/// What [`Storage::revoke_certificate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The revocation (the earlier one when it was revoked before).
    pub revocation: Revocation,
    /// `false`: it was revoked before; nothing changed.
    pub newly_revoked: bool,
}

impl Storage {
    /// Stores an approved correction and its re-issue in one transaction (see the module
    /// documentation); returns the new certificate.
    ///
    /// # Errors
    /// [`StorageError::CorrectionClosed`] (reviewed meanwhile), [`StorageError::Changed`] (the
    /// record changed since it was read), [`StorageError::CertificateChanged`] (its
    /// certificate was replaced meanwhile), [`StorageError::DuplicateUvci`],
    /// [`StorageError::NotFound`], [`StorageError::Database`]. Nothing is stored then.
    pub async fn amend_and_reissue(
        &self,
        amendment: Amendment,
        actor: &Actor,
    ) -> Result<Certificate, StorageError> {
        let now = self.now();
        let actor = actor.to_string();
        let verification = Verification::of(&amendment.result)?;
        self.write(move |tx| {
            Box::pin(async move { reissue_tx(tx, amendment, verification, now, actor).await })
        })
        .await
    }

    /// Revokes a certificate without replacement (`error` or `fraud`), with the audit entry
    /// `certificate.revoke`. A certificate revoked before keeps its first revocation.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] (no such certificate), [`StorageError::Database`].
    pub async fn revoke_certificate(
        &self,
        uvci: &str,
        reason: RevocationReason,
        actor: &Actor,
    ) -> Result<Revoked, StorageError> {
        let now = self.now();
        let uvci = uvci.to_owned();
        let actor = actor.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "INSERT INTO certificate_revocations (uvci, dose_record_id, reason, \
                         revoked_at, revoked_by, replaced_by, hc1, payload, kid, iat, exp, \
                         issued_at) \
                         SELECT uvci, dose_record_id, $2, $3, $4, NULL, hc1, payload, kid, iat, \
                         exp, issued_at FROM certificates WHERE uvci = $1 \
                         ON CONFLICT (uvci) DO NOTHING",
                        &[
                            Arg::Text(&uvci),
                            Arg::Text(reason.as_str()),
                            Arg::Int(now),
                            Arg::Text(&actor),
                        ],
                    )
                    .await?;
                let sql = format!(
                    "SELECT {REVOCATION_COLUMNS} FROM certificate_revocations WHERE uvci = $1"
                );
                let Some(revocation) =
                    tx::first(tx, &sql, &[Arg::Text(&uvci)], revocation_from_row).await?
                else {
                    return Err(StorageError::NotFound {
                        what: "certificate",
                        id: 0,
                    });
                };
                if changed == 0 {
                    return Ok(Revoked {
                        revocation,
                        newly_revoked: false,
                    });
                }
                bump_changes(tx).await?;
                audit::append(tx, now, vec![revoke_entry(&actor, &revocation)]).await?;
                Ok(Revoked {
                    revocation,
                    newly_revoked: true,
                })
            })
        })
        .await
    }

    /// The revocation of a certificate, if it is revoked.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn get_revocation(&self, uvci: &str) -> Result<Option<Revocation>, StorageError> {
        let sql =
            format!("SELECT {REVOCATION_COLUMNS} FROM certificate_revocations WHERE uvci = $1");
        self.reader
            .first(&sql, &[Arg::Text(uvci)], revocation_from_row)
            .await
    }

    /// The revocations whose certificate has not expired at `now`, and with `keep_fraud` the
    /// fraud ones whatever their expiry; in UVCI order.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn live_revocations(
        &self,
        now: i64,
        keep_fraud: bool,
    ) -> Result<Vec<Revocation>, StorageError> {
        let sql = format!(
            "SELECT {REVOCATION_COLUMNS} FROM certificate_revocations \
             WHERE exp > $1 OR (reason = 'fraud' AND $2 = 1) ORDER BY uvci"
        );
        self.reader
            .all_large(
                sql,
                vec![Arg::Int(now), Arg::Int(i64::from(keep_fraud))],
                revocation_from_row,
            )
            .await
    }

    /// The published list's state: `(changes, sequence)`, the count of revocations committed
    /// so far and the last sequence handed out.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn revocation_list_state(&self) -> Result<(i64, u64), StorageError> {
        self.reader
            .one(
                "SELECT changes, sequence FROM revocation_list_state WHERE id = 1",
                &[],
                |row| {
                    Ok((
                        row.int("changes")?,
                        u64::try_from(row.int("sequence")?).map_err(|_| corrupt("sequence"))?,
                    ))
                },
            )
            .await
    }

    /// Takes the next sequence number of the revocation list (strictly increasing, committed
    /// before it is returned, shared by every process on the database).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn next_revocation_sequence(&self) -> Result<u64, StorageError> {
        self.write(move |tx| {
            Box::pin(async move {
                let seq = tx::one(
                    tx,
                    "UPDATE revocation_list_state SET sequence = sequence + 1 WHERE id = 1 \
                     RETURNING sequence",
                    &[],
                    |row| row.int("sequence"),
                )
                .await?;
                u64::try_from(seq).map_err(|_| corrupt("sequence"))
            })
        })
        .await
    }

    /// Takes the next trust-list sequence: one more than both the last one any process took
    /// from this database and `floor` (the key directory's `trust-list.seq`, which an
    /// older issuer counted in), so that the lists every process signs carry strictly
    /// increasing sequences.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Unavailable`].
    pub async fn next_trust_list_sequence(&self, floor: u64) -> Result<u64, StorageError> {
        let floor = i64::try_from(floor).map_err(|_| corrupt("trust-list sequence"))?;
        self.write(move |tx| {
            Box::pin(async move {
                let seq = tx::one(
                    tx,
                    "UPDATE trust_list_state SET sequence = \
                     CASE WHEN sequence > $1 THEN sequence ELSE $1 END + 1 WHERE id = 1 \
                     RETURNING sequence",
                    &[Arg::Int(floor)],
                    |row| row.int("sequence"),
                )
                .await?;
                u64::try_from(seq).map_err(|_| corrupt("trust-list sequence"))
            })
        })
        .await
    }

    /// The UVCI the certificate `uvci` replaces, if it is a re-issue.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn certificate_replaces(&self, uvci: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .reader
            .first(
                "SELECT replaces FROM certificates WHERE uvci = $1",
                &[Arg::Text(uvci)],
                |row| row.text_or_null("replaces"),
            )
            .await?
            .flatten())
    }
}

async fn bump_changes(tx: &mut dyn tx::Tx) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE revocation_list_state SET changes = changes + 1 WHERE id = 1",
        &[],
    )
    .await?;
    Ok(())
}

fn revoke_entry(actor: &str, r: &Revocation) -> audit::NewEntry {
    audit::NewEntry {
        actor: actor.to_owned(),
        action: "certificate.revoke",
        subject: format!("certificate:{}", r.uvci),
        details: serde_json::json!({
            "dose_record": r.dose_record_id,
            "reason": r.reason.as_str(),
            "replaced_by": r.replaced_by,
        }),
    }
}

const AMEND_SQL: &str = "UPDATE dose_records SET id_number = $1, id_kind = $2, full_name = $3, \
    date_of_birth = $4, sex = $5, prophylaxis = $6, product = $7, manufacturer = $8, \
    dose_number = $9, series_total = $10, vaccination_date = $11, outcome = $12, \
    match_report = $13, registry_person = $14, updated_at = $15 \
    WHERE id = $16 AND status = 'issued'";

async fn reissue_tx(
    tx: &mut dyn tx::Tx,
    a: Amendment,
    v: Verification,
    now: i64,
    actor: String,
) -> Result<Certificate, StorageError> {
    let id = a.before.id;
    // 1. The report: still pending (a second approval finds it closed).
    if let Some(correction) = a.correction_id {
        let approved = tx::first(
            tx,
            "UPDATE correction_reports SET status = 'approved', new_uvci = $1, updated_at = $2, \
             reviewed_at = $2, reviewed_by = $3 \
             WHERE id = $4 AND status IN ('open', 'escalated') RETURNING reference",
            &[
                Arg::Text(&a.new.uvci),
                Arg::Int(now),
                Arg::Text(&actor),
                Arg::Int(correction),
            ],
            |row| row.text("reference"),
        )
        .await?;
        if approved.is_none() {
            return Err(super::corrections::correction_not_pending(tx, correction).await);
        }
        // The citizen's email of the outcome, committed with it.
        super::notices::enqueue(tx, correction, now).await?;
    }
    // 2. The record as it was read before signing (row-locked on PostgreSQL).
    let sql = format!(
        "UPDATE dose_records SET updated_at = updated_at WHERE id = $1 RETURNING {RECORD_COLUMNS}"
    );
    let current = tx::first(tx, &sql, &[Arg::Int(id)], record_from_row)
        .await?
        .ok_or(StorageError::NotFound {
            what: "dose record",
            id,
        })?;
    if current != a.before {
        return Err(StorageError::Changed { id });
    }
    // 3. Its earlier values, kept.
    let previous = serde_json::json!({
        "identity": current.identity,
        "vaccination": current.vaccination,
        "registry_person": current.registry_person,
        "outcome": current.outcome,
        "uvci": a.old_uvci,
    })
    .to_string();
    tx.execute(
        "INSERT INTO dose_record_history (dose_record_id, correction_id, previous, amended_at, \
         amended_by) VALUES ($1, $2, $3, $4, $5)",
        &[
            Arg::Int(id),
            Arg::OptInt(a.correction_id),
            Arg::Text(&previous),
            Arg::Int(now),
            Arg::Text(&actor),
        ],
    )
    .await?;
    // 4. The amended values and their match.
    let who = &a.after.identity;
    let dose = &a.after.vaccination;
    let dob = who.date_of_birth.to_string();
    let date = dose.date.to_string();
    let amended = tx
        .execute(
            AMEND_SQL,
            &[
                Arg::Text(&who.id_number),
                Arg::Text(id_kind_str(who.id_kind)),
                Arg::Text(&who.full_name),
                Arg::Text(&dob),
                Arg::Text(who.sex.code()),
                Arg::Text(&dose.prophylaxis),
                Arg::Text(&dose.product),
                Arg::Text(&dose.manufacturer),
                Arg::Int(i64::from(dose.dose_number)),
                Arg::Int(i64::from(dose.series_total)),
                Arg::Text(&date),
                Arg::Text(v.code),
                Arg::Text(&v.report),
                Arg::OptText(v.person.as_deref()),
                Arg::Int(now),
                Arg::Int(id),
            ],
        )
        .await?;
    if amended != 1 {
        return Err(StorageError::Changed { id });
    }
    // 5. The old certificate, revoked (superseded): a copy kept with its revocation. One revoked
    // before (error) keeps its reason and gets its replacement.
    let revoked = tx
        .execute(
            "INSERT INTO certificate_revocations (uvci, dose_record_id, reason, revoked_at, \
             revoked_by, replaced_by, hc1, payload, kid, iat, exp, issued_at) \
             SELECT uvci, dose_record_id, 'superseded', $3, $4, $5, hc1, payload, kid, iat, exp, \
             issued_at FROM certificates WHERE dose_record_id = $1 AND uvci = $2 \
             ON CONFLICT (uvci) DO UPDATE SET replaced_by = excluded.replaced_by",
            &[
                Arg::Int(id),
                Arg::Text(&a.old_uvci),
                Arg::Int(now),
                Arg::Text(&actor),
                Arg::Text(&a.new.uvci),
            ],
        )
        .await?;
    if revoked != 1 {
        return Err(StorageError::CertificateChanged { id });
    }
    // 6. The record's certificate row becomes the new one.
    let new = &a.new;
    let replaced = tx
        .execute(
            "UPDATE certificates SET uvci = $1, hc1 = $2, payload = $3, kid = $4, iat = $5, \
             exp = $6, issued_at = $7, replaces = $8 WHERE dose_record_id = $9 AND uvci = $8",
            &[
                Arg::Text(&new.uvci),
                Arg::Text(&new.hc1),
                Arg::Text(&new.payload),
                Arg::Text(&new.kid),
                Arg::Int(new.iat),
                Arg::Int(new.exp),
                Arg::Int(now),
                Arg::Text(&a.old_uvci),
                Arg::Int(id),
            ],
        )
        .await
        .map_err(|e| match super::constraint::of_error(&e) {
            Some(super::constraint::Violation::DuplicateUvci) => StorageError::DuplicateUvci,
            _ => e,
        })?;
    if replaced != 1 {
        return Err(StorageError::CertificateChanged { id });
    }
    bump_changes(tx).await?;
    let sql = format!("SELECT {REVOCATION_COLUMNS} FROM certificate_revocations WHERE uvci = $1");
    let revocation = tx::one(tx, &sql, &[Arg::Text(&a.old_uvci)], revocation_from_row).await?;
    // 7. The audit entries of each step (codes and ids only).
    let mut entries = Vec::with_capacity(4);
    if let Some(correction) = a.correction_id {
        entries.push(audit::NewEntry {
            actor: actor.clone(),
            action: "correction.approve",
            subject: format!("correction_id:{correction}"),
            details: serde_json::json!({ "dose_record": id, "new_uvci": new.uvci }),
        });
    }
    entries.push(audit::NewEntry {
        actor: actor.clone(),
        action: "dose_record.amend",
        subject: format!("dose_record:{id}"),
        details: serde_json::json!({ "correction_id": a.correction_id, "result": v.redacted }),
    });
    entries.push(revoke_entry(&actor, &revocation));
    entries.push(audit::NewEntry {
        actor,
        action: "certificate.issue",
        subject: format!("certificate:{}", new.uvci),
        details: serde_json::json!({
            "dose_record": id,
            "kid": new.kid,
            "iat": new.iat,
            "exp": new.exp,
            "replaces": a.old_uvci,
        }),
    });
    audit::append(tx, now, entries).await?;
    let sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE dose_record_id = $1");
    tx::one(tx, &sql, &[Arg::Int(id)], cert_from_row).await
}
