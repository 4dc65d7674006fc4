-- The state several `serve` processes on one PostgreSQL database share (issue 18). SQLite is
-- the single-node store: its rate limits stay in the process, so only the trust list's
-- sequence (strictly increasing, continuing from the key directory's `trust-list.seq`) lives
-- here, as on PostgreSQL.
CREATE TABLE trust_list_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    sequence INTEGER NOT NULL
);
INSERT INTO trust_list_state (id, sequence) VALUES (1, 0);

-- The last audit entry's time: an entry is stamped no earlier (a clock stepping back, or a
-- replica whose clock is behind, never puts the log out of time order).
ALTER TABLE audit_head ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
UPDATE audit_head SET at = COALESCE((SELECT MAX(at) FROM audit_log), 0) WHERE id = 1;
