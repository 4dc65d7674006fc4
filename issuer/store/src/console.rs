//! The web console's list of a clinic's records: by status, newest first, a page at a time.

use super::read::Arg;
use super::{DoseRecord, RECORD_COLUMNS, RecordStatus, Storage, StorageError, record_from_row};

/// The most records [`Storage::records_by_status`] returns at once.
pub const MAX_CONSOLE_PAGE: u32 = 200;

impl Storage {
    /// A clinic's records with `status` (`None`: every status), newest first: those with an
    /// id below `before` (`None`: from the newest), at most `limit` (capped at
    /// [`MAX_CONSOLE_PAGE`]). Keyset paging on the `(clinic_id, id)` index.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn records_by_status(
        &self,
        clinic_id: i64,
        status: Option<RecordStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DoseRecord>, StorageError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM dose_records WHERE clinic_id = $1 \
             AND ($2 = '' OR status = $2) AND id < $3 ORDER BY id DESC LIMIT $4"
        );
        let args = [
            Arg::Int(clinic_id),
            Arg::Text(status.map_or("", RecordStatus::as_str)),
            Arg::Int(before.unwrap_or(i64::MAX)),
            Arg::Int(i64::from(limit.min(MAX_CONSOLE_PAGE))),
        ];
        self.reader.all(&sql, &args, record_from_row).await
    }
}
