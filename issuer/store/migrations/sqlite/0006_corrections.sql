-- Corrections and revocation (issue 14): citizens' correction reports, the earlier values of an
-- amended dose record, the revocations of certificates, and the published revocation list's
-- sequence.

-- A citizen's report that a certificate (or a dose never entered) is wrong. Only the hash of
-- the status token is kept. `dose_record_id` is NULL for a dose never entered: the report then
-- goes to the clinic it names. `photo` is the Base64 of a JPEG, PNG or WebP picture of the paper
-- vaccination record, read only by the reviewing clinic.
CREATE TABLE correction_reports (
    id             INTEGER PRIMARY KEY,
    reference      TEXT NOT NULL UNIQUE,
    token_hash     TEXT NOT NULL,           -- hex SHA-256 of the status token
    dose_record_id INTEGER REFERENCES dose_records (id),
    uvci           TEXT,                    -- the certificate the report is about, if any
    clinic_id      INTEGER NOT NULL REFERENCES clinics (id),  -- the reviewing clinic
    kind           TEXT NOT NULL CHECK (kind IN
                     ('name', 'birth_date', 'sex', 'id_number', 'missing_dose', 'dose_details')),
    proposed       TEXT NOT NULL,           -- JSON: the values the citizen proposes
    note           TEXT NOT NULL,
    photo          TEXT,                    -- Base64
    photo_type     TEXT,                    -- image/jpeg, image/png, image/webp
    email          TEXT,
    status         TEXT NOT NULL CHECK (status IN ('open', 'approved', 'rejected', 'escalated')),
    reason         TEXT,                    -- the reviewer's reason (rejection, escalation)
    new_uvci       TEXT,                    -- the certificate issued on approval
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    reviewed_at    INTEGER,
    reviewed_by    TEXT
);
CREATE INDEX correction_reports_by_clinic ON correction_reports (clinic_id, status, id);
CREATE INDEX correction_reports_by_record ON correction_reports (dose_record_id);

-- The values a dose record held before each amendment (JSON of its identity and dose).
CREATE TABLE dose_record_history (
    id             INTEGER PRIMARY KEY,
    dose_record_id INTEGER NOT NULL REFERENCES dose_records (id),
    correction_id  INTEGER REFERENCES correction_reports (id),
    previous       TEXT NOT NULL,
    amended_at     INTEGER NOT NULL,
    amended_by     TEXT NOT NULL
);
CREATE INDEX dose_record_history_by_record ON dose_record_history (dose_record_id, id);

-- The certificate a re-issued one replaces (its UVCI); NULL for a first certificate.
ALTER TABLE certificates ADD COLUMN replaces TEXT;

-- Revoked certificates, with what the revocation list needs (the HC1 text, from which the
-- three EU hashes are computed, and the expiry after which the entry leaves the list). A
-- superseded certificate lives on only here: its record's row in `certificates` now holds
-- the replacement.
CREATE TABLE certificate_revocations (
    uvci           TEXT PRIMARY KEY NOT NULL,
    dose_record_id INTEGER NOT NULL REFERENCES dose_records (id),
    reason         TEXT NOT NULL CHECK (reason IN ('superseded', 'error', 'fraud')),
    revoked_at     INTEGER NOT NULL,
    revoked_by     TEXT NOT NULL,
    replaced_by    TEXT,
    hc1            TEXT NOT NULL,
    payload        TEXT NOT NULL,
    kid            TEXT NOT NULL,
    iat            INTEGER NOT NULL,
    exp            INTEGER NOT NULL,
    issued_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX certificate_revocations_by_exp ON certificate_revocations (exp);

-- The published revocation list: the last sequence signed (strictly increasing) and a counter
-- of committed revocations (a publisher rebuilds when it moved).
CREATE TABLE revocation_list_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    sequence INTEGER NOT NULL,
    changes  INTEGER NOT NULL
);
INSERT INTO revocation_list_state (id, sequence, changes) VALUES (1, 0, 0);
