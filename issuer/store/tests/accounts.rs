//! Staff accounts and web sessions (migration 0007), and the console's list of records by
//! status, on a SQLite file and, when
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

/// The console's list: a clinic's records by status, newest first, a page at a time.
async fn records_by_status_pages(url: &str) {
    use vaxpass_issuer_domain::matching::{InMemoryRegistry, match_record};
    use vaxpass_issuer_store::RecordStatus;
    let storage = Storage::open(url).await.unwrap();
    let actor = Actor::System("test".into());
    let a = storage.create_clinic("A", 79, &actor).await.unwrap();
    let b = storage.create_clinic("B", 1, &actor).await.unwrap();
    let persons: Vec<_> = common::generate_persons(7, 3).collect();
    let mut registry = InMemoryRegistry::new();
    let mut ids = Vec::new();
    for (i, p) in persons.iter().enumerate() {
        let record = common::dose_for(a, p, 1);
        let (id, _) = storage
            .insert_dose_record(&record, &format!("k{i}"), &actor)
            .await
            .unwrap();
        // Every other record is matched (verified); the rest stay received.
        if i % 2 == 0 {
            registry.insert(p.clone()).unwrap();
            let result = match_record(&record.identity, &registry);
            storage.set_verification(id, &result, &actor).await.unwrap();
        }
        ids.push(id);
    }
    storage
        .insert_dose_record(&common::dose_for(b, &persons[0], 2), "kb", &actor)
        .await
        .unwrap();

    let page = |status, before, limit| storage.records_by_status(a, status, before, limit);
    let all: Vec<i64> = page(None, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(all, newest_first, "the clinic's own, newest first");
    let first: Vec<i64> = page(None, None, 3)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(first, newest_first[..3]);
    let next: Vec<i64> = page(None, Some(first[2]), 3)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(next, newest_first[3..6]);
    let verified = page(Some(RecordStatus::Verified), None, 100).await.unwrap();
    assert_eq!(verified.len(), 4);
    assert!(verified.iter().all(|r| r.status == RecordStatus::Verified));
    let received = page(Some(RecordStatus::Received), None, 2).await.unwrap();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.status == RecordStatus::Received));
    assert!(
        page(Some(RecordStatus::Issued), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_by_status_pages_on_sqlite() {
    let (url, _dir) = common::sqlite_url();
    records_by_status_pages(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_by_status_pages_on_postgres() {
    let Some(db) = common::pg_database("vaxpass_console").await else {
        return;
    };
    records_by_status_pages(&db.url).await;
    db.drop().await;
}
