//! `vaxpass-issuer audit verify`: exit 0 on an intact log, 1 naming the first bad entry.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sqlx::{AnyPool, Executor};
use vaxpass_issuer::storage::{Actor, Storage};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vaxpass-issuer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("i.db").display());
    let s = Storage::open(&url).await.unwrap();
    let actor = Actor::System("test".into());
    for name in ["A", "B", "C"] {
        s.create_clinic(name, 1, &actor).await.unwrap();
    }
    let head = s.audit_verify().await.unwrap().head_hash;
    s.close().await;

    let out = bin()
        .args(["audit", "verify", "--database", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout,
        format!("audit log intact: 3 entries, last hash {head}\n")
    );

    sqlx::any::install_default_drivers();
    let raw = AnyPool::connect(&url).await.unwrap();
    raw.execute("DROP TRIGGER audit_log_no_update")
        .await
        .unwrap();
    raw.execute("UPDATE audit_log SET actor = 'system:someone' WHERE seq = 2")
        .await
        .unwrap();
    raw.close().await;
    let out = bin()
        .args(["audit", "verify"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(
            "the audit log is broken at entry 2: its content does not match its hash (edited)\n"
        ),
        "{stdout}"
    );

    let out = bin()
        .args(["audit", "verify", "--database", "mysql://x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: unsupported database URL: expected sqlite://… or postgres://…\n"
    );
}
