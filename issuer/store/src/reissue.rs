//! Re-signing the certificates of a DSC that must no longer be trusted (migration 0010,
//! `vaxpass-issuer batch reissue --signed-by KID`).
//!
//! - [`Storage::resign_candidates`]: the live certificates signed by a DSC (not revoked, not
//!   expired), in record order after a cursor.
//! - [`Storage::resign_commit`]: one transaction per batch: each old signed instance is copied
//!   to `signature_revocations` and the certificate's row takes the new `HC1:` text and kid —
//!   only while it is still signed by the old DSC. That condition makes a run exactly-once and
//!   resumable: a batch lost to a crash still names the old DSC and is claimed again; a
//!   committed one never matches again, and of two processes re-signing the same certificate
//!   only the first commit changes it.
//! - [`Storage::live_signature_revocations`]: what the revocation list publishes as
//!   `SIGNATURE` entries.

use std::fmt;

use super::read::Arg;
use super::{Actor, Storage, StorageError, audit};

/// A certificate to re-sign.
#[derive(Clone, PartialEq, Eq)]
pub struct ToResign {
    /// Its dose record.
    pub dose_record_id: i64,
    /// Its UVCI (kept).
    pub uvci: String,
    /// Its `HC1:` text as signed by the old DSC.
    pub hc1: String,
}

impl fmt::Debug for ToResign {
    /// Redacted: no HC1 text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToResign")
            .field("dose_record_id", &self.dose_record_id)
            .field("uvci", &self.uvci)
            .finish_non_exhaustive()
    }
}

/// A revoked signed instance (the certificate itself lives on, re-signed).
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureRevocation {
    /// The certificate's UVCI.
    pub uvci: String,
    /// The DSC of the revoked signature (base64).
    pub kid: String,
    /// The revoked `HC1:` text.
    pub hc1: String,
    /// Its expiry.
    pub exp: i64,
}

impl fmt::Debug for SignatureRevocation {
    /// Redacted: no HC1 text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureRevocation")
            .field("uvci", &self.uvci)
            .field("kid", &self.kid)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Up to `limit` (capped at 50,000) certificates signed by `kid` with a dose record id
    /// above `after`, neither revoked nor expired at `now`, in record order.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn resign_candidates(
        &self,
        kid: &str,
        after: i64,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ToResign>, StorageError> {
        self.reader
            .all(
                "SELECT c.dose_record_id, c.uvci, c.hc1 FROM certificates c \
                 WHERE c.kid = $1 AND c.dose_record_id > $2 AND c.exp > $3 \
                 AND NOT EXISTS (SELECT 1 FROM certificate_revocations r WHERE r.uvci = c.uvci) \
                 ORDER BY c.dose_record_id LIMIT $4",
                &[
                    Arg::Text(kid),
                    Arg::Int(after),
                    Arg::Int(now),
                    Arg::Int(i64::from(limit.clamp(1, 50_000))),
                ],
                |row| {
                    Ok(ToResign {
                        dose_record_id: row.int("dose_record_id")?,
                        uvci: row.text("uvci")?,
                        hc1: row.text("hc1")?,
                    })
                },
            )
            .await
    }

    /// Stores a batch of re-signed certificates in ONE transaction (see the module
    /// documentation): `(dose record id, UVCI, new HC1)` each, from `old_kid` to `new_kid`,
    /// with the audit entry `certificate.batch_reissue`. Returns how many certificates it
    /// changed (fewer than given when some were re-signed meanwhile).
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing is stored then.
    pub async fn resign_commit(
        &self,
        old_kid: &str,
        new_kid: &str,
        resigned: Vec<(i64, String, String)>,
        actor: &Actor,
    ) -> Result<u64, StorageError> {
        if resigned.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let (old_kid, new_kid) = (old_kid.to_owned(), new_kid.to_owned());
        let actor = actor.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let mut changed = 0u64;
                for (record, uvci, hc1) in &resigned {
                    tx.execute(
                        "INSERT INTO signature_revocations (uvci, kid, dose_record_id, hc1, exp, \
                         revoked_at) SELECT uvci, kid, dose_record_id, hc1, exp, $4 \
                         FROM certificates WHERE dose_record_id = $1 AND uvci = $2 AND kid = $3 \
                         ON CONFLICT (uvci, kid) DO NOTHING",
                        &[
                            Arg::Int(*record),
                            Arg::Text(uvci),
                            Arg::Text(&old_kid),
                            Arg::Int(now),
                        ],
                    )
                    .await?;
                    changed += tx
                        .execute(
                            "UPDATE certificates SET hc1 = $1, kid = $2 \
                             WHERE dose_record_id = $3 AND uvci = $4 AND kid = $5",
                            &[
                                Arg::Text(hc1),
                                Arg::Text(&new_kid),
                                Arg::Int(*record),
                                Arg::Text(uvci),
                                Arg::Text(&old_kid),
                            ],
                        )
                        .await?;
                }
                if changed > 0 {
                    tx.execute(
                        "UPDATE revocation_list_state SET changes = changes + 1 WHERE id = 1",
                        &[],
                    )
                    .await?;
                    let first = resigned.first().map(|r| r.0);
                    let last = resigned.last().map(|r| r.0);
                    audit::append(
                        tx,
                        now,
                        vec![audit::NewEntry {
                            actor,
                            action: "certificate.batch_reissue",
                            subject: format!("dsc:{old_kid}"),
                            details: serde_json::json!({
                                "old_kid": old_kid,
                                "new_kid": new_kid,
                                "count": changed,
                                "first_record": first,
                                "last_record": last,
                            }),
                        }],
                    )
                    .await?;
                }
                Ok(changed)
            })
        })
        .await
    }

    /// How many live (not revoked, not expired at `now`) certificates `kid` still signs.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn live_certificates_of(&self, kid: &str, now: i64) -> Result<u64, StorageError> {
        let n = self
            .reader
            .one(
                "SELECT COUNT(*) AS n FROM certificates c WHERE c.kid = $1 AND c.exp > $2 \
                 AND NOT EXISTS (SELECT 1 FROM certificate_revocations r WHERE r.uvci = c.uvci)",
                &[Arg::Text(kid), Arg::Int(now)],
                |row| row.int("n"),
            )
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The revoked signed instances whose certificate has not expired at `now`, in UVCI order.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn live_signature_revocations(
        &self,
        now: i64,
    ) -> Result<Vec<SignatureRevocation>, StorageError> {
        self.reader
            .all_large(
                "SELECT uvci, kid, hc1, exp FROM signature_revocations WHERE exp > $1 \
                 ORDER BY uvci, kid"
                    .to_owned(),
                vec![Arg::Int(now)],
                |row| {
                    Ok(SignatureRevocation {
                        uvci: row.text("uvci")?,
                        kid: row.text("kid")?,
                        hc1: row.text("hc1")?,
                        exp: row.int("exp")?,
                    })
                },
            )
            .await
    }
}
