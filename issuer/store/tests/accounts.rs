//! Staff accounts and web sessions (migration 0007) on a SQLite file and, when
//! `VAXPASS_TEST_POSTGRES_URL` is set, on PostgreSQL (a database of its own).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use vaxpass_issuer_store::{Actor, Role, Storage, StorageError};

const T0: i64 = 1_790_000_000;
const HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

async fn accounts_and_sessions(url: &str) {
    let clock = Arc::new(AtomicI64::new(T0));
    let c = clock.clone();
    let storage = Storage::open(url)
        .await
        .unwrap()
        .with_clock(move || c.load(Ordering::SeqCst));
    let actor = Actor::System("test".into());
    let clinic = storage
        .create_clinic("Trạm Y tế", 79, &actor)
        .await
        .unwrap();

    // An account, with a token of its own as the actor of what it does.
    let account = storage
        .create_account(clinic, "lan.nguyen", HASH, Role::Staff, &actor)
        .await
        .unwrap();
    assert_eq!(account.staff.clinic_id, clinic);
    assert_eq!(account.staff.role, Role::Staff);
    let creds = storage.credentials("lan.nguyen").await.unwrap().unwrap();
    assert_eq!(creds.account, account);
    assert_eq!(creds.password_hash, HASH);
    assert!(
        !format!("{creds:?}").contains("argon2"),
        "Debug hides the hash"
    );
    assert!(storage.credentials("nobody").await.unwrap().is_none());

    // A taken user name, an unknown clinic.
    let taken = storage
        .create_account(clinic, "lan.nguyen", HASH, Role::Admin, &actor)
        .await
        .unwrap_err();
    assert!(matches!(taken, StorageError::UsernameTaken), "{taken}");
    let unknown = storage
        .create_account(9_999, "minh", HASH, Role::Staff, &actor)
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, StorageError::UnknownClinic(9_999)),
        "{unknown}"
    );

    // A session: found by its token only, with its CSRF token.
    let token = "a".repeat(64);
    let csrf = storage
        .create_session(account.id, &token, 3_600)
        .await
        .unwrap();
    let s = storage.session(&token, 600).await.unwrap().unwrap();
    assert_eq!(s.csrf_token, csrf);
    assert_eq!(s.staff, account.staff);
    assert_eq!(s.username, "lan.nguyen");
    assert_eq!(s.expires_at, T0 + 3_600);
    assert!(
        storage
            .session(&"b".repeat(64), 600)
            .await
            .unwrap()
            .is_none()
    );

    // Idle expiry: 600 s without use ends it; a touch starts the idle time again.
    clock.store(T0 + 500, Ordering::SeqCst);
    storage.touch_session(s.id).await.unwrap();
    clock.store(T0 + 1_000, Ordering::SeqCst);
    assert!(storage.session(&token, 600).await.unwrap().is_some());
    clock.store(T0 + 1_200, Ordering::SeqCst);
    assert!(
        storage.session(&token, 600).await.unwrap().is_none(),
        "idle"
    );
    // Absolute expiry, however recent the use.
    let token2 = "c".repeat(64);
    storage
        .create_session(account.id, &token2, 3_600)
        .await
        .unwrap();
    let s2 = storage.session(&token2, 600).await.unwrap().unwrap();
    clock.store(T0 + 1_200 + 3_599, Ordering::SeqCst);
    storage.touch_session(s2.id).await.unwrap();
    assert!(storage.session(&token2, 600).await.unwrap().is_some());
    clock.store(T0 + 1_200 + 3_600, Ordering::SeqCst);
    assert!(
        storage.session(&token2, 600).await.unwrap().is_none(),
        "absolute"
    );

    // Sign-out revokes; a second sign-out finds nothing.
    let token3 = "d".repeat(64);
    storage
        .create_session(account.id, &token3, 3_600)
        .await
        .unwrap();
    assert!(storage.revoke_session(&token3).await.unwrap());
    assert!(storage.session(&token3, 600).await.unwrap().is_none());
    assert!(!storage.revoke_session(&token3).await.unwrap());

    // Revoking the account's token (admin API) ends its sessions.
    let token4 = "e".repeat(64);
    storage
        .create_session(account.id, &token4, 3_600)
        .await
        .unwrap();
    assert!(storage.session(&token4, 600).await.unwrap().is_some());
    storage
        .revoke_token(account.staff.token_id, &actor)
        .await
        .unwrap();
    assert!(storage.session(&token4, 600).await.unwrap().is_none());

    // Audited, without the user name; the chain intact.
    let entries = storage.audit_entries(0, 100).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"staff_account.create"));
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "staff_account.sign_in")
            .count(),
        4
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "staff_account.sign_out")
            .count(),
        1
    );
    assert!(
        entries
            .iter()
            .all(|e| !e.details.to_string().contains("lan.nguyen"))
    );
    storage.audit_verify().await.unwrap();
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_sessions_on_sqlite() {
    let (url, _dir) = common::sqlite_url();
    accounts_and_sessions(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_sessions_on_postgres() {
    let Some(db) = common::pg_database("vaxpass_accounts").await else {
        return;
    };
    accounts_and_sessions(&db.url).await;
    db.drop().await;
}
