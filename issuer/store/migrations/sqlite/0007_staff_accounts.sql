-- Staff accounts of the web console (issue 16): a user name and an Argon2id password hash (a
-- PHC string; the password itself is never stored), tied to a clinic and a role. Each account
-- acts through a staff token of its own (`token_id`, whose secret is never shown to anyone):
-- the audit log and the use cases see one kind of actor, and revoking that token (admin API)
-- ends the account's sessions too.
CREATE TABLE staff_accounts (
    id            INTEGER PRIMARY KEY,
    clinic_id     INTEGER NOT NULL REFERENCES clinics (id),
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('staff', 'admin')),
    token_id      INTEGER NOT NULL UNIQUE REFERENCES staff_tokens (id),
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER
);

-- Server-side sessions of the web console: only the SHA-256 of the cookie's random token is
-- stored. A session ends at `expires_at` (absolute), after the idle time since `last_seen_at`
-- (checked by the reader), or when revoked (sign-out).
CREATE TABLE web_sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    account_id   INTEGER NOT NULL REFERENCES staff_accounts (id),
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX web_sessions_by_account ON web_sessions (account_id);
