-- The outbox of the emails that tell a citizen the outcome of a correction report (issue 14):
-- a row is written in the same transaction as the outcome (approval, rejection), so that no
-- outcome is ever committed without its notice; the service's sender delivers it, marks it
-- sent, and after a failure retries it later (`next_attempt_at`, backing off). Without an SMTP
-- server configured the rows stay unsent (and are reported as such), never dropped.
CREATE TABLE notice_outbox (
    id              INTEGER PRIMARY KEY,
    correction_id   INTEGER NOT NULL REFERENCES correction_reports (id),
    email           TEXT NOT NULL,
    reference       TEXT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('reissued', 'accepted', 'rejected')),
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT                    -- the SMTP failure of the last attempt (no address)
);
CREATE INDEX notice_outbox_due ON notice_outbox (next_attempt_at, id) WHERE sent_at IS NULL;
