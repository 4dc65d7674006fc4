//! `vaxpass-issuer staff add`: a web console account, its password from standard input.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use vaxpass_issuer::storage::{Actor, Storage};
use vaxpass_issuer_web::accounts::verify_password;

fn staff_add(url: &str, clinic: &str, user: &str, password: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vaxpass-issuer"))
        .args([
            "staff",
            "add",
            "--database",
            url,
            "--clinic",
            clinic,
            "--user",
            user,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_add_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("i.db").display());
    let storage = Storage::open(&url).await.unwrap();
    let clinic = storage
        .create_clinic("Trạm Y tế Phường 1", 79, &Actor::System("test".into()))
        .await
        .unwrap();
    storage.close().await;

    let (code, stdout, stderr) = staff_add(
        &url,
        &clinic.to_string(),
        "Lan.Nguyen",
        "a long password 123",
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("user name lan.nguyen"), "{stdout}");
    assert!(
        !stdout.contains("a long password"),
        "the password is not echoed"
    );

    let storage = Storage::open(&url).await.unwrap();
    let creds = storage.credentials("lan.nguyen").await.unwrap().unwrap();
    assert_eq!(creds.account.staff.clinic_id, clinic);
    assert!(verify_password(
        "a long password 123",
        Some(&creds.password_hash)
    ));
    storage.close().await;

    // Refusals, with what to do: a taken name, a short password, an unknown clinic.
    let (code, _, stderr) = staff_add(&url, &clinic.to_string(), "lan.nguyen", "another password");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("user name is taken"), "{stderr}");
    let (code, _, stderr) = staff_add(&url, &clinic.to_string(), "minh", "short");
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("a password is 10 to 256 characters"),
        "{stderr}"
    );
    let (code, _, stderr) = staff_add(&url, "999", "minh", "a long password 123");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("clinic 999 does not exist"), "{stderr}");
}
