//! `vaxpass-issuer registry import`: good rows imported, bad rows reported by line number
//! without stopping, exit 1 when some were bad; a second import updates instead of duplicating.
//! And `serve` without TLS outside the demo is refused with what to do.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use vaxpass_issuer::identity::IdNumber;
use vaxpass_issuer::storage::Storage;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vaxpass-issuer"));
    cmd.env_remove("DATABASE_URL");
    cmd
}

#[tokio::test]
async fn registry_import_reports_bad_rows_by_line_and_imports_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("registry.csv");
    std::fs::write(
        &csv,
        "id_number,full_name,date_of_birth,sex\n\
         079185012345,Nguyễn Thị Lan,1985-04-12,F\n\
         07918501234,Trần Văn Hùng,1962-11-03,M\n\
         001062000001,Trần Văn Hùng,1962-11-03,M\n\
         001185000002,Phạm Thị Mai,1985-02-30,F\n",
    )
    .unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("issuer.db").display()
    );
    let out = bin()
        .args(["registry", "import"])
        .arg(&csv)
        .args(["--database", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("line 3: id_number"), "{stdout}");
    assert!(stdout.contains("line 5: date_of_birth"), "{stdout}");
    assert!(
        stdout.contains("2 persons imported (inserted or updated), 2 bad rows skipped; the registry now holds 2 persons"),
        "{stdout}"
    );
    // Row errors name the line and the field, never the value.
    assert!(
        !stdout.contains("Trần") && !stdout.contains("07918501234"),
        "{stdout}"
    );

    // The good rows only, again: updated, not duplicated; exit 0.
    std::fs::write(
        &csv,
        "id_number,full_name,date_of_birth,sex\n\
         079185012345,Nguyễn Thị Lan,1985-04-12,F\n\
         001062000001,Trần Văn Hùng,1962-11-03,M\n",
    )
    .unwrap();
    let out = bin()
        .args(["registry", "import"])
        .arg(&csv)
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("the registry now holds 2 persons"),
        "{stdout}"
    );

    let storage = Storage::open(&url).await.unwrap();
    assert_eq!(storage.registry_count().await.unwrap(), 2);
    let lan = storage
        .find_person(&IdNumber::parse_national("079185012345").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lan.full_name, "Nguyễn Thị Lan");
    storage.close().await;

    // A file that cannot be read: exit 2.
    let out = bin()
        .args([
            "registry",
            "import",
            "/nonexistent/registry.csv",
            "--database",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open /nonexistent/registry.csv"));
}

#[test]
fn serve_without_tls_is_refused_outside_the_loopback_demo() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("VAXPASS_TLS_CERT")
        .env_remove("VAXPASS_TLS_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("pass --tls-cert and --tls-key (PEM), or --insecure-plain-http"),
        "{stderr}"
    );
    // Nothing was created.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
