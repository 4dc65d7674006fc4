//! The hash-chained, append-only audit log.
//!
//! Entry `n` stores `prev_hash` (the hash of entry `n - 1`, 32 zero bytes for the first) and
//! `hash = SHA-256(prev_hash || canonical(entry))`, where `canonical` is
//! `"vaxpass-audit-v1" || seq (i64 BE) || at (i64 BE) || len-prefixed actor, action, subject,
//! details` (each length a u64 BE). Every field takes part, so an edited entry no longer matches
//! its hash; a removed entry leaves a gap in `seq` (or, at the end, disagrees with the one-row
//! `audit_head`); a reordered entry breaks the `prev_hash` links.
//!
//! Entries never go back in time along the chain: the head also keeps the last entry's `at`,
//! and an entry is stamped no earlier than it (a clock that steps back, or a replica whose
//! clock is behind another's, repeats the last time instead).

use sha2::{Digest, Sha256};

use super::read::Arg;
use super::tx::{Tx, first};

use super::StorageError;

/// The hash before the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The outcome of a successful [`super::Storage::audit_verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Number of entries checked.
    pub entries: u64,
    /// Hash of the last entry (hex), to be compared with an earlier, externally kept copy.
    pub head_hash: String,
}

/// Why the chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditBrokenReason {
    /// The entry's content does not give its stored hash: it was edited.
    HashMismatch,
    /// The entry's `prev_hash` is not the previous entry's hash: entries were reordered or
    /// replaced.
    ChainLink,
    /// The entry with this `seq` is missing (removed).
    Missing,
    /// The last entry's hash is not the one the head row recorded: it was rewritten.
    Head,
}

/// The audit chain is broken at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit log is broken at entry {seq}: {reason}")]
pub struct AuditBroken {
    /// The first entry found wrong (for [`AuditBrokenReason::Missing`], the missing one).
    pub seq: i64,
    /// What is wrong.
    pub reason: AuditBrokenReason,
}

impl std::fmt::Display for AuditBrokenReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuditBrokenReason::HashMismatch => "its content does not match its hash (edited)",
            AuditBrokenReason::ChainLink => {
                "it does not link to the previous entry (reordered or replaced)"
            }
            AuditBrokenReason::Missing => "the entry is missing (removed)",
            AuditBrokenReason::Head => "the last entry is not the recorded head (rewritten)",
        })
    }
}

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who: `staff:<token id>`, `system:<component>`.
    pub actor: String,
    /// What, e.g. `dose_record.create`.
    pub action: String,
    /// On what, e.g. `dose_record:17`.
    pub subject: String,
    /// JSON details; never personal data.
    pub details: String,
    /// Hash of the previous entry (hex).
    pub prev_hash: String,
    /// This entry's hash (hex).
    pub hash: String,
}

/// An entry to append.
pub(crate) struct NewEntry {
    pub actor: String,
    pub action: &'static str,
    pub subject: String,
    pub details: serde_json::Value,
}

/// The chained hash of an entry.
pub(crate) fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    // A malformed stored prev_hash simply yields another hash: verification then fails.
    h.update(hex::decode(prev_hash).unwrap_or_else(|_| prev_hash.as_bytes().to_vec()));
    h.update(b"vaxpass-audit-v1");
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    for field in [actor, action, subject, details] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The audit head (last `seq`, hash and `at`) as this process last wrote it: lets
/// [`append_cached`] skip reading the head. Only a hint: every use is checked against the
/// database inside the writing transaction.
#[derive(Debug, Default)]
pub(crate) struct HeadCache(std::sync::Mutex<Option<Head>>);

/// The head: the last entry's `seq`, hash and `at`.
pub(crate) type Head = (i64, String, i64);

impl HeadCache {
    pub(super) fn get(&self) -> Option<Head> {
        self.0.lock().ok().and_then(|h| h.clone())
    }

    pub(super) fn set(&self, head: Head) {
        if let Ok(mut h) = self.0.lock() {
            *h = Some(head);
        }
    }
}

/// [`append`] in two statements instead of three when `cache` holds the head: the head row
/// is moved to the new end only if it still is what the cache says (`UPDATE … WHERE seq = …
/// AND hash = …`, which also takes the lock), then the entries are inserted. If the head
/// moved (another writer or process appended, or a write that updated the cache was rolled
/// back), nothing was changed and the head is read as in [`append`]. The chain is thus always
/// built on the head the database holds in this transaction.
pub(crate) async fn append_cached(
    tx: &mut dyn Tx,
    at: i64,
    entries: Vec<NewEntry>,
    cache: &HeadCache,
) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    let entries = match cache.get() {
        Some((seq, hash, head_at)) => {
            let at = at.max(head_at);
            let (sql, rows, new_head) = chain(seq, hash.clone(), at, entries);
            let args = [
                Arg::Int(new_head.0),
                Arg::Text(&new_head.1),
                Arg::Int(seq),
                Arg::Text(&hash),
                Arg::Int(at),
            ];
            let moved = tx.execute(MOVE_HEAD_SQL, &args).await?;
            if moved == 1 {
                insert_rows(tx, &sql, at, rows).await?;
                cache.set((new_head.0, new_head.1, at));
                return Ok(());
            }
            rows.into_iter().map(Chained::into_entry).collect()
        }
        None => entries,
    };
    let head = append_rows(tx, at, entries).await?;
    cache.set(head);
    Ok(())
}

/// Moves the head to the new end if it still is where the cache says (the cached `at` is the
/// head's, as `at` only grows: `$5` is never below it).
pub(super) const MOVE_HEAD_SQL: &str = "UPDATE audit_head SET seq = $1, hash = $2, at = $5 \
     WHERE id = 1 AND seq = $3 AND hash = $4 AND at <= $5";

/// Reserves `$1` positions after the head (and locks it); returns the new last `seq`, the
/// hash before the reserved ones and the last entry's `at`.
pub(super) const RESERVE_SQL: &str =
    "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash, at";

/// Records the hash and `at` of the new last entry.
pub(super) const SET_HEAD_HASH_SQL: &str = "UPDATE audit_head SET hash = $1, at = $2 WHERE id = 1";

/// One entry placed in the chain.
pub(super) struct Chained {
    pub(super) seq: i64,
    pub(super) entry: NewEntry,
    pub(super) details: String,
    pub(super) prev_hash: String,
    pub(super) hash: String,
}

impl Chained {
    /// The entry, to be chained again on another head.
    pub(super) fn into_entry(self) -> NewEntry {
        self.entry
    }
}

/// Chains `entries` after the head (`seq`, `prev`): the multi-row INSERT (8 parameters an
/// entry), the rows, and the new head.
pub(super) fn chain(
    mut seq: i64,
    mut prev: String,
    at: i64,
    entries: Vec<NewEntry>,
) -> (String, Vec<Chained>, (i64, String)) {
    let mut sql = String::from(
        "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES ",
    );
    let mut rows = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        seq += 1;
        let details = entry.details.to_string();
        let hash = entry_hash(
            &prev,
            seq,
            at,
            &entry.actor,
            entry.action,
            &entry.subject,
            &details,
        );
        if i > 0 {
            sql.push_str(", ");
        }
        let b = i * 8;
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8
        ));
        let prev_hash = std::mem::replace(&mut prev, hash.clone());
        rows.push(Chained {
            seq,
            entry,
            details,
            prev_hash,
            hash,
        });
    }
    (sql, rows, (seq, prev))
}

async fn insert_rows(
    tx: &mut dyn Tx,
    sql: &str,
    at: i64,
    rows: Vec<Chained>,
) -> Result<(), StorageError> {
    let mut args = Vec::with_capacity(rows.len() * 8);
    for r in &rows {
        args.extend([
            Arg::Int(r.seq),
            Arg::Int(at),
            Arg::Text(&r.entry.actor),
            Arg::Text(r.entry.action),
            Arg::Text(&r.entry.subject),
            Arg::Text(&r.details),
            Arg::Text(&r.prev_hash),
            Arg::Text(&r.hash),
        ]);
    }
    tx.execute(sql, &args).await?;
    Ok(())
}

/// Appends entries inside the caller's transaction. Locks the head row first: appends are
/// serialised on both backends, and the head always names the last entry.
pub(crate) async fn append(
    tx: &mut dyn Tx,
    at: i64,
    entries: Vec<NewEntry>,
) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    append_rows(tx, at, entries).await.map(|_| ())
}

/// [`append`] of a non-empty list; returns the new head.
async fn append_rows(
    tx: &mut dyn Tx,
    at: i64,
    entries: Vec<NewEntry>,
) -> Result<Head, StorageError> {
    let n = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    // UPDATE ... RETURNING takes the row lock (PostgreSQL) / the write lock (SQLite).
    let (last, prev, head_at) = first(tx, RESERVE_SQL, &[Arg::Int(n)], |row| {
        Ok((row.int("seq")?, row.text("hash")?, row.int("at")?))
    })
    .await?
    .ok_or(StorageError::Corrupt { what: "audit head" })?;
    let at = at.max(head_at);
    let (sql, rows, head) = chain(last - n, prev, at, entries);
    insert_rows(tx, &sql, at, rows).await?;
    tx.execute(SET_HEAD_HASH_SQL, &[Arg::Text(&head.1), Arg::Int(at)])
        .await?;
    Ok((head.0, head.1, at))
}

pub(crate) fn entry_from_row(row: &dyn super::Columns) -> Result<AuditEntry, StorageError> {
    Ok(AuditEntry {
        seq: row.int("seq")?,
        at: row.int("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        subject: row.text("subject")?,
        details: row.text("details")?,
        prev_hash: row.text("prev_hash")?,
        hash: row.text("hash")?,
    })
}

/// Checks entries in `seq` order, carrying the state between pages.
pub(crate) struct Verifier {
    pub expected_seq: i64,
    pub prev_hash: String,
    pub entries: u64,
}

impl Verifier {
    pub fn new() -> Self {
        Verifier {
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
            entries: 0,
        }
    }

    pub fn check(&mut self, e: &AuditEntry) -> Result<(), AuditBroken> {
        if e.seq != self.expected_seq {
            return Err(AuditBroken {
                seq: self.expected_seq,
                reason: AuditBrokenReason::Missing,
            });
        }
        let computed = entry_hash(
            &e.prev_hash,
            e.seq,
            e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.details,
        );
        if computed != e.hash {
            return Err(AuditBroken {
                seq: e.seq,
                reason: AuditBrokenReason::HashMismatch,
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(AuditBroken {
                seq: e.seq,
                reason: AuditBrokenReason::ChainLink,
            });
        }
        self.prev_hash.clone_from(&e.hash);
        self.expected_seq += 1;
        self.entries += 1;
        Ok(())
    }

    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<AuditReport, AuditBroken> {
        let last = self.expected_seq - 1;
        if head_seq > last {
            // Entries after `last` were removed.
            return Err(AuditBroken {
                seq: self.expected_seq,
                reason: AuditBrokenReason::Missing,
            });
        }
        if head_seq != last || head_hash != self.prev_hash {
            return Err(AuditBroken {
                seq: last,
                reason: AuditBrokenReason::Head,
            });
        }
        Ok(AuditReport {
            entries: self.entries,
            head_hash: self.prev_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, prev: &str) -> AuditEntry {
        let hash = entry_hash(prev, seq, 10, "system:test", "x.y", "x:1", "{}");
        AuditEntry {
            seq,
            at: 10,
            actor: "system:test".into(),
            action: "x.y".into(),
            subject: "x:1".into(),
            details: "{}".into(),
            prev_hash: prev.into(),
            hash,
        }
    }

    #[test]
    fn chain_verifies_and_detects_edits() {
        let a = entry(1, GENESIS);
        let b = entry(2, &a.hash);
        let mut v = Verifier::new();
        assert_eq!(v.check(&a), Ok(()));
        assert_eq!(v.check(&b), Ok(()));
        let report = v.finish(2, &b.hash);
        assert_eq!(report.map(|r| r.entries), Ok(2));

        let mut edited = b.clone();
        edited.subject = "x:2".into();
        let mut v = Verifier::new();
        assert_eq!(v.check(&a), Ok(()));
        assert_eq!(
            v.check(&edited),
            Err(AuditBroken {
                seq: 2,
                reason: AuditBrokenReason::HashMismatch
            })
        );
    }

    #[test]
    fn field_boundaries_matter() {
        // Moving a character from one field to the next changes the hash.
        assert_ne!(
            entry_hash(GENESIS, 1, 1, "ab", "c", "", ""),
            entry_hash(GENESIS, 1, 1, "a", "bc", "", "")
        );
    }

    #[test]
    fn display_has_no_data() {
        let e = AuditBroken {
            seq: 7,
            reason: AuditBrokenReason::Missing,
        };
        assert_eq!(
            e.to_string(),
            "the audit log is broken at entry 7: the entry is missing (removed)"
        );
    }
}
