//! Records waiting for a registry match: those stored while the population registry could not
//! answer (outcome `REGISTRY_UNAVAILABLE`), and any left `received` by a crash between storing
//! and matching. The issuer's `rematch_pending` drives it.
//!
//! The scan filters on `status = 'received'` over the primary key order; received records are
//! few in normal operation, but a partial index (`WHERE status = 'received'`) would keep the
//! pass cheap on a very large table (a later migration).

use super::db;
use super::read::Arg;
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
        let mut tx = self.begin_write().await?;
        let updated: Option<i64> = sqlx::query_scalar(
            "UPDATE dose_records SET outcome = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'received' RETURNING id",
        )
        .bind(vaxpass_issuer_domain::record::REGISTRY_UNAVAILABLE)
        .bind(now)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
        if updated.is_none() {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM dose_records WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db)?;
            tx.rollback().await.map_err(db)?;
            return match exists {
                Some(_) => Ok(()),
                None => Err(StorageError::NotFound {
                    what: "dose record",
                    id,
                }),
            };
        }
        audit::append(
            &mut crate::tx::SqlxTx(&mut tx),
            now,
            vec![audit::NewEntry {
                actor: actor.to_string(),
                action: "dose_record.registry_unavailable",
                subject: format!("dose_record:{id}"),
                details: serde_json::json!({ "error": error_code }),
            }],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
