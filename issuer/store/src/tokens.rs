//! Staff tokens: creation with an expiry, authentication (with a short in-memory cache),
//! revocation, rotation and listing. Every change writes its audit entry in the same
//! transaction (`staff_token.create`, `staff_token.revoke`, `staff_token.rotate`).
//!
//! Expiry: `expires_at` (Unix seconds, the storage clock) is optional. Tokens created before
//! migration 0005, and tokens created by the CLI and the demo, have none: they stay valid
//! until revoked or rotated. The admin API gives new tokens the configured lifetime
//! (`api::Config::token_lifetime_days`).
//!
//! The authentication cache: a token found in the database is trusted from memory for at
//! most [`AUTH_CACHE_TTL`]. A revocation or rotation made through this [`Storage`] (any clone
//! of it) drops the token from the cache at once, so in this process it is refused by the
//! next request; another process sharing the database refuses it at the latest
//! [`AUTH_CACHE_TTL`] later. An expiry is checked on every request, cached or not.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand_core::{OsRng, RngCore};

use super::constraint::{self, Violation};
use super::read::Arg;
use super::tx::{self, Tx};
use super::{
    Actor, Columns, Role, Staff, Storage, StorageError, TokenSecret, audit, corrupt, token_hash,
};

/// How long [`Storage::authenticate`] trusts a token it found without asking the database
/// again. Revocations through this process take effect at once (the cache entry is dropped);
/// a token revoked by another process is refused at the latest this long after.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(5);

/// The most tokens the authentication cache holds; when full it is emptied.
const AUTH_CACHE_MAX: usize = 4096;

/// The longest grace period of a rotation: 7 days.
pub const MAX_ROTATION_GRACE_SECS: i64 = 7 * 86_400;

/// A cached holder: who, until when the token is valid, and when it was read.
#[derive(Clone, Copy)]
struct Cached {
    staff: Staff,
    expires_at: Option<i64>,
    read_at: Instant,
}

/// Token hash → holder and when it was read from the database.
#[derive(Default)]
pub(super) struct AuthCache {
    entries: std::sync::Mutex<HashMap<String, Cached>>,
}

impl AuthCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        // A poisoned lock only means another thread panicked mid-update; the map is intact.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, hash: &str, now: i64) -> Option<Staff> {
        let map = self.lock();
        map.get(hash)
            .filter(|c| c.read_at.elapsed() < AUTH_CACHE_TTL)
            .filter(|c| c.expires_at.is_none_or(|exp| now < exp))
            .map(|c| c.staff)
    }

    fn put(&self, hash: String, staff: Staff, expires_at: Option<i64>) {
        let mut map = self.lock();
        if map.len() >= AUTH_CACHE_MAX {
            map.clear();
        }
        map.insert(
            hash,
            Cached {
                staff,
                expires_at,
                read_at: Instant::now(),
            },
        );
    }

    /// Drops every entry of this token: the next request asks the database.
    fn forget(&self, token_id: i64) {
        self.lock().retain(|_, c| c.staff.token_id != token_id);
    }

    /// Entries held now.
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Whether a token can be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// Valid.
    Active,
    /// Past its `expires_at`.
    Expired,
    /// Revoked (or replaced by a rotation without grace period).
    Revoked,
}

/// A token's metadata (never its secret or hash), as `GET /admin/clinics/{id}/tokens` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// The token's id.
    pub id: i64,
    /// Its clinic.
    pub clinic_id: i64,
    /// `staff` or `admin`.
    pub role: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None`: no expiry (tokens created before expiry existed, or by the CLI).
    pub expires_at: Option<i64>,
    /// Unix seconds; `None`: not revoked.
    pub revoked_at: Option<i64>,
    /// The token that replaced this one in a rotation.
    pub replaced_by: Option<i64>,
    /// Its state at the time of the listing.
    pub state: TokenState,
}

pub(super) fn role_of(text: &str) -> Result<Role, StorageError> {
    match text {
        "staff" => Ok(Role::Staff),
        "admin" => Ok(Role::Admin),
        _ => Err(corrupt("token role")),
    }
}

fn new_secret() -> TokenSecret {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    TokenSecret(format!("vxp_{}", hex::encode(raw)))
}

fn state_at(expires_at: Option<i64>, revoked_at: Option<i64>, now: i64) -> TokenState {
    if revoked_at.is_some() {
        TokenState::Revoked
    } else if expires_at.is_some_and(|exp| now >= exp) {
        TokenState::Expired
    } else {
        TokenState::Active
    }
}

fn info_of(row: &dyn Columns, now: i64) -> Result<TokenInfo, StorageError> {
    let role = role_of(&row.text("role")?)?;
    let expires_at = row.int_or_null("expires_at")?;
    let revoked_at = row.int_or_null("revoked_at")?;
    Ok(TokenInfo {
        id: row.int("id")?,
        clinic_id: row.int("clinic_id")?,
        role: role.as_str(),
        created_at: row.int("created_at")?,
        expires_at,
        revoked_at,
        replaced_by: row.int_or_null("replaced_by")?,
        state: state_at(expires_at, revoked_at, now),
    })
}

const INSERT_TOKEN_SQL: &str = "INSERT INTO staff_tokens \
    (clinic_id, role, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";

const TOKEN_COLUMNS: &str = "id, clinic_id, role, created_at, expires_at, revoked_at, replaced_by";

/// The answer of [`Storage::rotate_token`].
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The new token's plaintext (shown once).
    pub secret: TokenSecret,
    /// The new token.
    pub new: TokenInfo,
    /// The old token as it is now (revoked, or expiring at the end of the grace period).
    pub old: TokenInfo,
}

/// Inserts a token row (its hash only) and returns its id; an unknown clinic is
/// [`StorageError::UnknownClinic`]. Not audited: the caller writes its own entry.
pub(super) async fn insert_token(
    tx: &mut dyn Tx,
    clinic_id: i64,
    role: Role,
    hash: &str,
    now: i64,
    expires_at: Option<i64>,
) -> Result<i64, StorageError> {
    let args = [
        Arg::Int(clinic_id),
        Arg::Text(role.as_str()),
        Arg::Text(hash),
        Arg::Int(now),
        Arg::OptInt(expires_at),
    ];
    tx::one(tx, INSERT_TOKEN_SQL, &args, |row| row.int("id"))
        .await
        .map_err(|e| match constraint::of_error(&e) {
            Some(Violation::ForeignKey) => StorageError::UnknownClinic(clinic_id),
            _ => e,
        })
}

async fn load_info(tx: &mut dyn Tx, id: i64, now: i64) -> Result<Option<TokenInfo>, StorageError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM staff_tokens WHERE id = $1");
    tx::first(tx, &sql, &[Arg::Int(id)], |row| info_of(row, now)).await
}

impl Storage {
    /// Creates a token for a clinic valid until `expires_at` (Unix seconds; `None`: no
    /// expiry): 32 random bytes, returned once as plaintext; only its SHA-256 is stored.
    /// Returns the plaintext and the token's id.
    ///
    /// # Errors
    /// [`StorageError::UnknownClinic`], [`StorageError::Database`].
    pub async fn create_staff_token_until(
        &self,
        clinic_id: i64,
        role: Role,
        expires_at: Option<i64>,
        actor: &Actor,
    ) -> Result<(TokenSecret, i64), StorageError> {
        let secret = new_secret();
        let now = self.now();
        let hash = token_hash(secret.expose());
        let actor = actor.to_string();
        let id = self
            .write(move |tx| {
                Box::pin(async move {
                    let id = insert_token(tx, clinic_id, role, &hash, now, expires_at).await?;
                    audit::append(
                        tx,
                        now,
                        vec![audit::NewEntry {
                            actor,
                            action: "staff_token.create",
                            subject: format!("staff_token:{id}"),
                            details: serde_json::json!({
                                "clinic": clinic_id,
                                "role": role.as_str(),
                                "expires_at": expires_at,
                            }),
                        }],
                    )
                    .await?;
                    Ok(id)
                })
            })
            .await?;
        Ok((secret, id))
    }

    /// The holder of a token, if the token is known, not revoked and not expired (at the
    /// storage clock).
    ///
    /// A token found is remembered in memory (by its hash) for at most [`AUTH_CACHE_TTL`];
    /// [`Storage::revoke_token`] and [`Storage::rotate_token`] drop it from the cache at once.
    /// Unknown tokens are never remembered.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn authenticate(&self, token: &str) -> Result<Option<Staff>, StorageError> {
        let hash = token_hash(token);
        let now = self.now();
        if let Some(staff) = self.auth_cache.get(&hash, now) {
            return Ok(Some(staff));
        }
        let found = self
            .reader
            .first(
                "SELECT id, clinic_id, role, expires_at FROM staff_tokens \
                 WHERE token_hash = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $2)",
                &[Arg::Text(&hash), Arg::Int(now)],
                |row| {
                    let staff = Staff {
                        token_id: row.int("id")?,
                        clinic_id: row.int("clinic_id")?,
                        role: role_of(&row.text("role")?)?,
                    };
                    Ok((staff, row.int_or_null("expires_at")?))
                },
            )
            .await?;
        let Some((staff, expires_at)) = found else {
            return Ok(None);
        };
        self.auth_cache.put(hash, staff, expires_at);
        Ok(Some(staff))
    }

    /// Entries in the authentication cache (for tests of its bound).
    pub fn auth_cache_len(&self) -> usize {
        self.auth_cache.len()
    }

    /// One token's metadata.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn token_info(&self, id: i64) -> Result<Option<TokenInfo>, StorageError> {
        let now = self.now();
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM staff_tokens WHERE id = $1");
        self.reader
            .first(&sql, &[Arg::Int(id)], |row| info_of(row, now))
            .await
    }

    /// A clinic's tokens, oldest first: metadata only, never secrets or hashes.
    ///
    /// # Errors
    /// [`StorageError::UnknownClinic`], [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn list_tokens(&self, clinic_id: i64) -> Result<Vec<TokenInfo>, StorageError> {
        let now = self.now();
        let clinic = [Arg::Int(clinic_id)];
        let exists = self
            .reader
            .first("SELECT id FROM clinics WHERE id = $1", &clinic, |_| Ok(()))
            .await?;
        if exists.is_none() {
            return Err(StorageError::UnknownClinic(clinic_id));
        }
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM staff_tokens WHERE clinic_id = $1 ORDER BY id");
        self.reader
            .all(&sql, &clinic, |row| info_of(row, now))
            .await
    }

    /// Revokes a token now (audited as `staff_token.revoke`) and drops it from this process's
    /// authentication cache. Revoking a revoked token changes nothing and writes no entry.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] (no such token), [`StorageError::Database`].
    pub async fn revoke_token(&self, id: i64, actor: &Actor) -> Result<TokenInfo, StorageError> {
        let now = self.now();
        let actor = actor.to_string();
        let result = self
            .write(move |tx| {
                Box::pin(async move {
                    let info = load_info(tx, id, now)
                        .await?
                        .ok_or(StorageError::NotFound {
                            what: "staff token",
                            id,
                        })?;
                    if info.revoked_at.is_some() {
                        return Ok(info);
                    }
                    tx.execute(
                        "UPDATE staff_tokens SET revoked_at = $1 WHERE id = $2",
                        &[Arg::Int(now), Arg::Int(id)],
                    )
                    .await?;
                    audit::append(
                        tx,
                        now,
                        vec![audit::NewEntry {
                            actor,
                            action: "staff_token.revoke",
                            subject: format!("staff_token:{id}"),
                            details: serde_json::json!({ "clinic": info.clinic_id }),
                        }],
                    )
                    .await?;
                    Ok(TokenInfo {
                        revoked_at: Some(now),
                        state: TokenState::Revoked,
                        ..info
                    })
                })
            })
            .await;
        // Forgotten whatever the outcome: a failed write must not leave a stale entry either.
        self.auth_cache.forget(id);
        result
    }

    /// Replaces a token by a new one of the same clinic and role, valid until `expires_at`
    /// (`None`: no expiry). With `grace_secs` 0 the old token is revoked now; otherwise it
    /// expires `grace_secs` seconds from now (at most [`MAX_ROTATION_GRACE_SECS`], and never
    /// later than it would have). Audited as `staff_token.rotate` in the same transaction.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] (no such token), [`StorageError::TokenRevoked`] (revoked or
    /// expired already), [`StorageError::Database`].
    pub async fn rotate_token(
        &self,
        id: i64,
        expires_at: Option<i64>,
        grace_secs: i64,
        actor: &Actor,
    ) -> Result<Rotated, StorageError> {
        let now = self.now();
        let grace = grace_secs.clamp(0, MAX_ROTATION_GRACE_SECS);
        let secret = new_secret();
        let hash = token_hash(secret.expose());
        let actor = actor.to_string();
        let result = self
            .write(move |tx| {
                Box::pin(async move {
                    let old = load_info(tx, id, now).await?.ok_or(StorageError::NotFound {
                        what: "staff token",
                        id,
                    })?;
                    if old.state != TokenState::Active {
                        return Err(StorageError::TokenRevoked(id));
                    }
                    let args = [
                        Arg::Int(old.clinic_id),
                        Arg::Text(old.role),
                        Arg::Text(&hash),
                        Arg::Int(now),
                        Arg::OptInt(expires_at),
                    ];
                    let new_id = tx::one(tx, INSERT_TOKEN_SQL, &args, |row| row.int("id")).await?;
                    let (old_expires, old_revoked) = if grace == 0 {
                        (old.expires_at, Some(now))
                    } else {
                        let end = now.saturating_add(grace);
                        (Some(old.expires_at.map_or(end, |e| e.min(end))), None)
                    };
                    tx.execute(
                        "UPDATE staff_tokens SET revoked_at = $1, expires_at = $2, replaced_by = $3 \
                         WHERE id = $4",
                        &[
                            Arg::OptInt(old_revoked),
                            Arg::OptInt(old_expires),
                            Arg::Int(new_id),
                            Arg::Int(id),
                        ],
                    )
                    .await?;
                    audit::append(
                        tx,
                        now,
                        vec![audit::NewEntry {
                            actor,
                            action: "staff_token.rotate",
                            subject: format!("staff_token:{id}"),
                            details: serde_json::json!({
                                "clinic": old.clinic_id,
                                "new_token": new_id,
                                "grace_secs": grace,
                                "expires_at": expires_at,
                            }),
                        }],
                    )
                    .await?;
                    let new = TokenInfo {
                        id: new_id,
                        clinic_id: old.clinic_id,
                        role: old.role,
                        created_at: now,
                        expires_at,
                        revoked_at: None,
                        replaced_by: None,
                        state: TokenState::Active,
                    };
                    let old = TokenInfo {
                        expires_at: old_expires,
                        revoked_at: old_revoked,
                        replaced_by: Some(new_id),
                        state: state_at(old_expires, old_revoked, now),
                        ..old
                    };
                    Ok((new, old))
                })
            })
            .await;
        self.auth_cache.forget(id);
        let (new, old) = result?;
        Ok(Rotated { secret, new, old })
    }
}
