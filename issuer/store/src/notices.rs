//! The outbox of the citizens' emails (migration 0009): the outcome of a correction report
//! (approved, rejected) with an email address gets a row in `notice_outbox` in the same
//! transaction that stores the outcome (`enqueue`, called by
//! [`Storage::close_correction`] and [`Storage::amend_and_reissue`]), so an outcome is never
//! committed without its notice and a crash loses none. The service's sender reads the due
//! rows ([`Storage::due_notices`]), delivers them, and marks each sent
//! ([`Storage::mark_notice_sent`]) or failed with the time of the next attempt
//! ([`Storage::mark_notice_failed`]).
//!
//! A notice carries the report's reference and outcome and the address: nothing else of the
//! report (no name, birth date, ID number, note or reason). `Debug` leaves the address out.

use std::fmt;

use super::read::Arg;
use super::{Storage, StorageError, corrupt, tx};

/// The outcome a notice tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeOutcome {
    /// Approved and re-issued: a new certificate replaces the old, which is revoked.
    Reissued,
    /// Approved without a re-issue (a dose never entered: the clinic enters it).
    Accepted,
    /// Rejected (the reason is shown with the report's status, not in the email).
    Rejected,
}

impl NoticeOutcome {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeOutcome::Reissued => "reissued",
            NoticeOutcome::Accepted => "accepted",
            NoticeOutcome::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<NoticeOutcome> {
        Some(match s {
            "reissued" => NoticeOutcome::Reissued,
            "accepted" => NoticeOutcome::Accepted,
            "rejected" => NoticeOutcome::Rejected,
            _ => return None,
        })
    }
}

/// A notice waiting in the outbox.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxNotice {
    /// Its id.
    pub id: i64,
    /// The address to send it to.
    pub email: String,
    /// The report's reference.
    pub reference: String,
    /// The outcome.
    pub outcome: NoticeOutcome,
    /// Attempts so far.
    pub attempts: u32,
    /// Unix seconds.
    pub created_at: i64,
}

impl fmt::Debug for OutboxNotice {
    /// Redacted: no address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxNotice")
            .field("id", &self.id)
            .field("reference", &self.reference)
            .field("outcome", &self.outcome)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How many notices are where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    /// Delivered.
    pub sent: u64,
    /// Not delivered yet (waiting for their first attempt or a retry).
    pub unsent: u64,
    /// Of those, how many failed at least once.
    pub failing: u64,
    /// The failed attempts at the unsent ones, added up.
    pub unsent_attempts: u64,
}

/// Queues the notice of report `correction_id`'s outcome, inside the transaction that stores
/// it: one row when the report has an email address and its status is now approved or
/// rejected, none otherwise.
pub(crate) async fn enqueue(
    tx: &mut dyn tx::Tx,
    correction_id: i64,
    now: i64,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO notice_outbox (correction_id, email, reference, outcome, created_at, \
         next_attempt_at) \
         SELECT id, email, reference, CASE WHEN status = 'rejected' THEN 'rejected' \
         WHEN new_uvci IS NOT NULL THEN 'reissued' ELSE 'accepted' END, $2, $2 \
         FROM correction_reports \
         WHERE id = $1 AND email IS NOT NULL AND status IN ('approved', 'rejected')",
        &[Arg::Int(correction_id), Arg::Int(now)],
    )
    .await?;
    Ok(())
}

fn notice_from_row(row: &dyn super::Columns) -> Result<OutboxNotice, StorageError> {
    let outcome = NoticeOutcome::parse(&row.text("outcome")?).ok_or(corrupt("notice outcome"))?;
    Ok(OutboxNotice {
        id: row.int("id")?,
        email: row.text("email")?,
        reference: row.text("reference")?,
        outcome,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
        created_at: row.int("created_at")?,
    })
}

impl Storage {
    /// The unsent notices due at `now` (first attempt, or a retry whose time came), oldest
    /// first, at most `limit` (capped at 500).
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn due_notices(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<OutboxNotice>, StorageError> {
        self.reader
            .all(
                "SELECT id, email, reference, outcome, attempts, created_at FROM notice_outbox \
                 WHERE sent_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id \
                 LIMIT $2",
                &[Arg::Int(now), Arg::Int(i64::from(limit.min(500)))],
                notice_from_row,
            )
            .await
    }

    /// Marks notice `id` delivered at the storage clock's now. Marking it twice changes
    /// nothing.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn mark_notice_sent(&self, id: i64) -> Result<(), StorageError> {
        let now = self.now();
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE notice_outbox SET sent_at = $1, attempts = attempts + 1, \
                     last_error = NULL WHERE id = $2 AND sent_at IS NULL",
                    &[Arg::Int(now), Arg::Int(id)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Records a failed attempt at notice `id` (`error`: the SMTP failure, which must not
    /// quote the address) and when to try again.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn mark_notice_failed(
        &self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StorageError> {
        let error: String = error.chars().take(500).collect();
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE notice_outbox SET attempts = attempts + 1, next_attempt_at = $1, \
                     last_error = $2 WHERE id = $3 AND sent_at IS NULL",
                    &[Arg::Int(next_attempt_at), Arg::Text(&error), Arg::Int(id)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// How many notices were sent, are waiting, and have failed at least once.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn notice_counts(&self) -> Result<OutboxCounts, StorageError> {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        self.reader
            .one(
                "SELECT COUNT(sent_at) AS sent, \
                 COUNT(*) - COUNT(sent_at) AS unsent, \
                 CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL AND attempts > 0 THEN 1 ELSE 0 \
                 END), 0) AS BIGINT) AS failing, \
                 CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL THEN attempts ELSE 0 END), 0) \
                 AS BIGINT) AS unsent_attempts FROM notice_outbox",
                &[],
                |row| {
                    Ok(OutboxCounts {
                        sent: n(row.int("sent")?),
                        unsent: n(row.int("unsent")?),
                        failing: n(row.int("failing")?),
                        unsent_attempts: n(row.int("unsent_attempts")?),
                    })
                },
            )
            .await
    }
}
