-- Several `serve` processes on one database (issue 18): the state they must share.
--
-- The rate limits' token buckets (lookup portal, corrections, staff sign-in, submissions per
-- token), one row a bucket. `key` is the SHA-256 of the salt below, the limiter's name and the
-- bucket's key (a client address, an ID number's salted hash, a token id): no ID number or
-- user name is stored. `level` is in the limiter's own units at `at` (Unix seconds);
-- `full_at` is when the bucket is full again (a full bucket is the same as no row, so rows
-- past it are swept); `granted` (1 or 0) says whether the last take succeeded (read back by the
-- statement that took it).
CREATE TABLE rate_buckets (
    key     TEXT PRIMARY KEY,
    level   BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    full_at BIGINT NOT NULL,
    granted BIGINT NOT NULL
);
CREATE INDEX rate_buckets_by_full_at ON rate_buckets (full_at);

-- The salt of the rate-limit keys, the same for every process (made by the first one).
CREATE TABLE rate_limit_salt (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    salt TEXT NOT NULL
);

-- The trust list's sequence, taken by whichever process re-signs the list: strictly
-- increasing across processes (it continues from the key directory's `trust-list.seq`).
CREATE TABLE trust_list_state (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    sequence BIGINT NOT NULL
);
INSERT INTO trust_list_state (id, sequence) VALUES (1, 0);

-- The last audit entry's time: an entry is stamped no earlier (a clock stepping back, or a
-- replica whose clock is behind, never puts the log out of time order).
ALTER TABLE audit_head ADD COLUMN at BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET at = COALESCE((SELECT MAX(at) FROM audit_log), 0) WHERE id = 1;
