//! `vaxpass-issuer backup` and `restore` (issue 18, item 4): a backup taken while a replica
//! serves, restored into a fresh database; the restore verifies the audit chain, and the
//! certificates issued before the backup are found in the restored database.
//!
//! SQLite (`VACUUM INTO`) always; PostgreSQL (`pg_dump` / `pg_restore`) with
//! `VAXPASS_TEST_POSTGRES_URL` and the PostgreSQL client tools (it prints `SKIPPED` and why
//! otherwise).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/tests/common/mod.rs"]
mod common;
mod support;

use std::process::Command;
use std::time::Duration;

use support::{audit_verify, issue_one, run_bin as run, setup, start_replica};
use vaxpass_issuer::storage::Storage;

/// `restore --from backup --database url`: the exit code and the output.
fn restore(backup: &std::path::Path, url: &str) -> (i32, String) {
    run(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--database",
        url,
    ])
}

/// Issues `n` certificates on a replica of `url`, takes a backup to `out` while it serves,
/// issues one more (not in the backup), and returns the UVCIs before and after.
async fn serve_and_back_up(url: &str, out: &std::path::Path) -> (Vec<String>, String) {
    let s = setup(url, 200).await;
    let replica = start_replica(s.dir.path(), url, &[], Duration::from_secs(60));
    let mut before = Vec::new();
    for i in 0..8 {
        before.push(
            issue_one(replica.addr, &s.token, &s.persons[i], 1)
                .await
                .unwrap(),
        );
    }
    let (code, text) = run(&["backup", "--database", url, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("backup written to"), "{text}");
    let after = issue_one(replica.addr, &s.token, &s.persons[9], 1)
        .await
        .unwrap();
    drop(replica);
    drop(s);
    (before, after)
}

async fn check_restored(url: &str, before: &[String], after: &str) {
    let storage = Storage::open(url).await.unwrap();
    for uvci in before {
        let c = storage.get_certificate(uvci).await.unwrap();
        assert!(
            c.is_some_and(|c| c.hc1.starts_with("HC1:")),
            "{uvci} not restored"
        );
    }
    // Issued after the backup: not in it.
    assert!(storage.get_certificate(after).await.unwrap().is_none());
    storage.close().await;
    let (code, text) = audit_verify(url);
    assert_eq!(code, 0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_restores_into_a_fresh_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("issuer.db").display()
    );
    let backup = dir.path().join("backup.db");
    let (before, after) = serve_and_back_up(&url, &backup).await;
    // A backup file is private, like the database.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let restored = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("restored.db").display()
    );
    let (code, text) = restore(&backup, &restored);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("audit log intact"), "{text}");
    check_restored(&restored, &before, &after).await;
    // A restore never overwrites a database.
    let (code, text) = restore(&backup, &restored);
    assert_eq!(code, 2, "{text}");
    // A damaged backup is refused, and leaves no file behind.
    let damaged = dir.path().join("damaged.db");
    let mut bytes = std::fs::read(&backup).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 4096].fill(0xa5);
    std::fs::write(&damaged, bytes).unwrap();
    let target = dir.path().join("from-damaged.db");
    let (code, text) = restore(&damaged, &format!("sqlite://{}?mode=rwc", target.display()));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("damaged"), "{text}");
    assert!(!target.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_restores_into_a_fresh_database() {
    let Some(db) = common::pg_database("vaxpass_backup_src").await else {
        return;
    };
    if Command::new("pg_dump").arg("--version").output().is_err() {
        println!("SKIPPED (PostgreSQL backup): pg_dump is not installed (postgresql-client)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("issuer.pgdump");
    let (before, after) = serve_and_back_up(&db.url, &dump).await;
    let fresh = common::pg_database("vaxpass_backup_dst").await.unwrap();
    let (code, text) = restore(&dump, &fresh.url);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("audit log intact"), "{text}");
    check_restored(&fresh.url, &before, &after).await;
    fresh.drop().await;
    db.drop().await;
}
