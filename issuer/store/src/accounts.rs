//! Staff accounts and web sessions (migration 0007): what the web console (`vaxpass-issuer-web`)
//! signs people in with.
//!
//! - An account is a user name and a password hash (a PHC string made by the caller: the store
//!   never sees a password), tied to a clinic and a role. Each account acts through a staff
//!   token of its own, created with it in the same transaction, whose secret nobody is given:
//!   [`Staff::token_id`] is the audit actor of everything the account does, exactly as for a
//!   bearer token, and revoking that token through the admin API ends the account's sessions.
//! - A session is stored by the SHA-256 of its cookie token only, with its CSRF token, its
//!   absolute expiry and when it was last seen; [`Storage::session`] answers only for a
//!   session that is neither revoked, past its absolute expiry, idle for longer than asked,
//!   nor of a disabled account or revoked token.
//!
//! Audit entries (no user name, no personal data): `staff_account.create`,
//! `staff_account.sign_in`, `staff_account.sign_out`.

use rand_core::{OsRng, RngCore};

use super::constraint::{self, Violation};
use super::read::Arg;
use super::tokens::{insert_token, role_of};
use super::tx;
use super::{Actor, Columns, Role, Staff, Storage, StorageError, audit, token_hash};

/// A staff account (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's id.
    pub id: i64,
    /// The user name it signs in with.
    pub username: String,
    /// Who it acts as: its clinic, its role and its own token (the audit actor).
    pub staff: Staff,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None`: the account may sign in.
    pub disabled_at: Option<i64>,
}

/// An account with its password hash, for checking a sign-in. `Debug` hides the hash.
#[derive(Clone)]
pub struct Credentials {
    /// The account.
    pub account: Account,
    /// The PHC string stored at creation (`$argon2id$…`).
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// A live web session, as [`Storage::session`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's id.
    pub id: i64,
    /// Its account.
    pub account_id: i64,
    /// The account's user name (shown in the page header).
    pub username: String,
    /// Who the session acts as.
    pub staff: Staff,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// Unix seconds.
    pub last_seen_at: i64,
    /// Unix seconds: the absolute expiry.
    pub expires_at: i64,
}

const ACCOUNT_COLUMNS: &str = "a.id AS id, a.username AS username, a.clinic_id AS clinic_id, \
    a.role AS role, a.token_id AS token_id, a.created_at AS created_at, \
    a.disabled_at AS disabled_at";

fn account_of(row: &dyn Columns) -> Result<Account, StorageError> {
    Ok(Account {
        id: row.int("id")?,
        username: row.text("username")?,
        staff: Staff {
            token_id: row.int("token_id")?,
            clinic_id: row.int("clinic_id")?,
            role: role_of(&row.text("role")?)?,
        },
        created_at: row.int("created_at")?,
        disabled_at: row.int_or_null("disabled_at")?,
    })
}

/// 32 random bytes as hex.
fn random_hex() -> String {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

impl Storage {
    /// Creates a staff account of `clinic_id` with `role`, signing in as `username` (stored as
    /// given: the caller normalises it) with the password whose PHC hash is `password_hash`,
    /// and the account's own staff token (its secret is thrown away). Audited as
    /// `staff_account.create` (the clinic, the role and the token; not the user name).
    ///
    /// # Errors
    /// [`StorageError::UsernameTaken`], [`StorageError::UnknownClinic`],
    /// [`StorageError::Database`].
    pub async fn create_account(
        &self,
        clinic_id: i64,
        username: &str,
        password_hash: &str,
        role: Role,
        actor: &Actor,
    ) -> Result<Account, StorageError> {
        let now = self.now();
        let username = username.to_owned();
        let password_hash = password_hash.to_owned();
        let actor = actor.to_string();
        // A token nobody holds: only its hash is stored, and the secret is dropped here.
        let token_hash = token_hash(&format!("vxp_account_{}", random_hex()));
        self.write(move |tx| {
            Box::pin(async move {
                let token_id = insert_token(tx, clinic_id, role, &token_hash, now, None).await?;
                let id = tx::one(
                    tx,
                    "INSERT INTO staff_accounts \
                     (clinic_id, username, password_hash, role, token_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[
                        Arg::Int(clinic_id),
                        Arg::Text(&username),
                        Arg::Text(&password_hash),
                        Arg::Text(role.as_str()),
                        Arg::Int(token_id),
                        Arg::Int(now),
                    ],
                    |row| row.int("id"),
                )
                .await
                // The token's insert checked the clinic; the one unique column left is the name.
                .map_err(|e| match constraint::of_error(&e) {
                    Some(Violation::OtherUnique) => StorageError::UsernameTaken,
                    _ => e,
                })?;
                audit::append(
                    tx,
                    now,
                    vec![audit::NewEntry {
                        actor,
                        action: "staff_account.create",
                        subject: format!("staff_account:{id}"),
                        details: serde_json::json!({
                            "clinic": clinic_id,
                            "role": role.as_str(),
                            "token": token_id,
                        }),
                    }],
                )
                .await?;
                Ok(Account {
                    id,
                    username,
                    staff: Staff {
                        token_id,
                        clinic_id,
                        role,
                    },
                    created_at: now,
                    disabled_at: None,
                })
            })
        })
        .await
    }

    /// The account that signs in as `username`, with its password hash, if there is one
    /// (disabled or not: the caller refuses a disabled one after checking the password, so
    /// the answer does not tell which).
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>, StorageError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, a.password_hash AS password_hash \
             FROM staff_accounts a WHERE a.username = $1"
        );
        self.reader
            .first(&sql, &[Arg::Text(username)], |row| {
                Ok(Credentials {
                    account: account_of(row)?,
                    password_hash: row.text("password_hash")?,
                })
            })
            .await
    }

    /// Opens a session for `account_id`: stores the SHA-256 of `token` (the cookie's random
    /// value), a fresh CSRF token and the absolute expiry `lifetime_secs` from now. Audited as
    /// `staff_account.sign_in`. Returns the CSRF token.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] (no such account), [`StorageError::Database`].
    pub async fn create_session(
        &self,
        account_id: i64,
        token: &str,
        lifetime_secs: i64,
    ) -> Result<String, StorageError> {
        let now = self.now();
        let hash = token_hash(token);
        let csrf = random_hex();
        let answer = csrf.clone();
        let expires_at = now.saturating_add(lifetime_secs.max(0));
        self.write(move |tx| {
            Box::pin(async move {
                let token_id = tx::first(
                    tx,
                    "SELECT token_id FROM staff_accounts WHERE id = $1",
                    &[Arg::Int(account_id)],
                    |row| row.int("token_id"),
                )
                .await?
                .ok_or(StorageError::NotFound {
                    what: "staff account",
                    id: account_id,
                })?;
                let id = tx::one(
                    tx,
                    "INSERT INTO web_sessions \
                     (token_hash, account_id, csrf_token, created_at, last_seen_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
                    &[
                        Arg::Text(&hash),
                        Arg::Int(account_id),
                        Arg::Text(&csrf),
                        Arg::Int(now),
                        Arg::Int(expires_at),
                    ],
                    |row| row.int("id"),
                )
                .await?;
                audit::append(
                    tx,
                    now,
                    vec![audit::NewEntry {
                        actor: Actor::Staff(token_id).to_string(),
                        action: "staff_account.sign_in",
                        subject: format!("staff_account:{account_id}"),
                        details: serde_json::json!({ "session": id, "expires_at": expires_at }),
                    }],
                )
                .await
            })
        })
        .await?;
        Ok(answer)
    }

    /// The live session of the cookie token `token`: not revoked, before its absolute expiry,
    /// seen within the last `idle_secs`, of an account that is not disabled and whose token is
    /// not revoked. Does not record the visit ([`Storage::touch_session`] does).
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn session(
        &self,
        token: &str,
        idle_secs: i64,
    ) -> Result<Option<Session>, StorageError> {
        let now = self.now();
        let hash = token_hash(token);
        let sql = format!(
            "SELECT s.id AS session_id, s.csrf_token AS csrf_token, \
             s.last_seen_at AS last_seen_at, s.expires_at AS expires_at, {ACCOUNT_COLUMNS} \
             FROM web_sessions s \
             JOIN staff_accounts a ON a.id = s.account_id \
             JOIN staff_tokens t ON t.id = a.token_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
             AND s.last_seen_at > $3 AND a.disabled_at IS NULL AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2)"
        );
        let args = [
            Arg::Text(&hash),
            Arg::Int(now),
            Arg::Int(now.saturating_sub(idle_secs)),
        ];
        self.reader
            .first(&sql, &args, |row| {
                let account = account_of(row)?;
                Ok(Session {
                    id: row.int("session_id")?,
                    account_id: account.id,
                    username: account.username,
                    staff: account.staff,
                    csrf_token: row.text("csrf_token")?,
                    last_seen_at: row.int("last_seen_at")?,
                    expires_at: row.int("expires_at")?,
                })
            })
            .await
    }

    /// Records that session `id` was used now (its idle time starts again). Not audited.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn touch_session(&self, id: i64) -> Result<(), StorageError> {
        let now = self.now();
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE web_sessions SET last_seen_at = $1 WHERE id = $2",
                    &[Arg::Int(now), Arg::Int(id)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Ends the session of the cookie token `token` (sign-out), audited as
    /// `staff_account.sign_out`. Returns whether a live session was ended.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn revoke_session(&self, token: &str) -> Result<bool, StorageError> {
        let now = self.now();
        let hash = token_hash(token);
        self.write(move |tx| {
            Box::pin(async move {
                let found = tx::first(
                    tx,
                    "SELECT s.id AS id, s.account_id AS account_id, a.token_id AS token_id \
                     FROM web_sessions s JOIN staff_accounts a ON a.id = s.account_id \
                     WHERE s.token_hash = $1 AND s.revoked_at IS NULL",
                    &[Arg::Text(&hash)],
                    |row| Ok((row.int("id")?, row.int("account_id")?, row.int("token_id")?)),
                )
                .await?;
                let Some((id, account_id, token_id)) = found else {
                    return Ok(false);
                };
                tx.execute(
                    "UPDATE web_sessions SET revoked_at = $1 WHERE id = $2",
                    &[Arg::Int(now), Arg::Int(id)],
                )
                .await?;
                audit::append(
                    tx,
                    now,
                    vec![audit::NewEntry {
                        actor: Actor::Staff(token_id).to_string(),
                        action: "staff_account.sign_out",
                        subject: format!("staff_account:{account_id}"),
                        details: serde_json::json!({ "session": id }),
                    }],
                )
                .await?;
                Ok(true)
            })
        })
        .await
    }
}
