//! Records waiting for a registry match: those stored while the population registry could not
//! answer (outcome `REGISTRY_UNAVAILABLE`), and any left `received` by a crash between storing
//! and matching. The issuer's `rematch_pending` drives it.
//!
//! The scan filters on `status = 'received'` over the primary key order; received records are
//! few in normal operation, but a partial index (`WHERE status = 'received'`) would keep the
//! pass cheap on a very large table (a later migration).

use super::read::Arg;
use super::tx;
use super::{Actor, DoseRecord, RECORD_COLUMNS, Storage, StorageError, audit, record_from_row};

impl Storage {
    /// Records still `received` with an id above `after_id`, oldest first, at most `limit`
    /// (capped at 1,000).
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn records_awaiting_match(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<DoseRecord>, StorageError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM dose_records WHERE status = 'received' AND id > $1 \
             ORDER BY id LIMIT $2"
        );
        let args = [Arg::Int(after_id), Arg::Int(i64::from(limit.min(1_000)))];
        self.reader.all(&sql, &args, record_from_row).await
    }

    /// Notes on a `received` record that the registry could not be asked: its outcome becomes
    /// `REGISTRY_UNAVAILABLE` (the status stays `received`), with an audit entry
    /// `dose_record.registry_unavailable` carrying the failure's code (`TIMEOUT`, …, never
    /// personal data). A record matched meanwhile is left as it is.
    ///
    /// # Errors
    /// [`StorageError::NotFound`], [`StorageError::Database`].
    pub async fn mark_registry_unavailable(
        &self,
        id: i64,
        error_code: &'static str,
        actor: &Actor,
    ) -> Result<(), StorageError> {
        let now = self.now();
        let actor = actor.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let args = [
                    Arg::Text(vaxpass_issuer_domain::record::REGISTRY_UNAVAILABLE),
                    Arg::Int(now),
                    Arg::Int(id),
                ];
                let updated = tx::first(
                    tx,
                    "UPDATE dose_records SET outcome = $1, updated_at = $2 \
                     WHERE id = $3 AND status = 'received' RETURNING id",
                    &args,
                    |_| Ok(()),
                )
                .await?;
                if updated.is_none() {
                    // Matched meanwhile (left as it is), or gone.
                    let exists = tx::first(
                        tx,
                        "SELECT id FROM dose_records WHERE id = $1",
                        &[Arg::Int(id)],
                        |_| Ok(()),
                    )
                    .await?;
                    return match exists {
                        Some(()) => Ok(()),
                        None => Err(StorageError::NotFound {
                            what: "dose record",
                            id,
                        }),
                    };
                }
                let entry = audit::NewEntry {
                    actor,
                    action: "dose_record.registry_unavailable",
                    subject: format!("dose_record:{id}"),
                    details: serde_json::json!({ "error": error_code }),
                };
                audit::append(tx, now, vec![entry]).await
            })
        })
        .await
    }
}
