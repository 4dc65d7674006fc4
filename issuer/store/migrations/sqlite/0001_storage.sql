-- vaxpass issuer storage, SQLite. Times are Unix seconds (UTC); JSON is stored as TEXT.

CREATE TABLE registry_persons (
    id_number     TEXT PRIMARY KEY NOT NULL,
    full_name     TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,            -- yyyy-mm-dd
    sex           TEXT NOT NULL CHECK (sex IN ('M', 'F'))
) WITHOUT ROWID;

CREATE TABLE clinics (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    province   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE staff_tokens (
    id         INTEGER PRIMARY KEY,
    clinic_id  INTEGER NOT NULL REFERENCES clinics (id),
    role       TEXT NOT NULL CHECK (role IN ('staff', 'admin')),
    token_hash TEXT NOT NULL UNIQUE,        -- hex SHA-256 of the token; the token itself is never stored
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE dose_records (
    id               INTEGER PRIMARY KEY,
    clinic_id        INTEGER NOT NULL REFERENCES clinics (id),
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,         -- hex SHA-256 of the submitted content
    id_number        TEXT NOT NULL,
    id_kind          TEXT NOT NULL CHECK (id_kind IN ('national', 'foreign_passport')),
    full_name        TEXT NOT NULL,
    date_of_birth    TEXT NOT NULL,         -- as submitted: yyyy, yyyy-mm or yyyy-mm-dd
    sex              TEXT NOT NULL CHECK (sex IN ('M', 'F')),
    product          TEXT NOT NULL,
    manufacturer     TEXT NOT NULL,
    dose_number      INTEGER NOT NULL,
    series_total     INTEGER NOT NULL,
    vaccination_date TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                       ('received', 'verified', 'mismatch', 'not_found', 'manual_review', 'confirmed', 'issued')),
    outcome          TEXT,                  -- VERIFIED, MISMATCH, NOT_FOUND, FOREIGN_PASSPORT
    match_report     TEXT,                  -- MatchReport JSON
    registry_person  TEXT,                  -- RegistryPerson JSON (verified only): what the certificate carries
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (clinic_id, idempotency_key)
);
CREATE INDEX dose_records_by_clinic ON dose_records (clinic_id, id);

CREATE TABLE certificates (
    id             INTEGER PRIMARY KEY,
    uvci           TEXT NOT NULL UNIQUE,
    dose_record_id INTEGER NOT NULL UNIQUE REFERENCES dose_records (id),
    hc1            TEXT NOT NULL,
    payload        TEXT NOT NULL,
    kid            TEXT NOT NULL,
    iat            INTEGER NOT NULL,
    exp            INTEGER NOT NULL,
    issued_at      INTEGER NOT NULL
);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,                -- JSON, never personal data
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- The chain's head: one row, locked by every append (serialises appenders), and the witness of
-- the last entry (a removed tail is detected).
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only: the application never updates or deletes entries.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
