//! `vaxpass-issuer registry generate` writes what the library generates, and the reader reads
//! it back without a bad row.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;
use std::process::Command;

use vaxpass_issuer::registry_csv::{generate, read_registry};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vaxpass-issuer"))
}

#[test]
fn registry_generate_to_stdout_and_file() {
    let out = bin()
        .args(["registry", "generate", "--count", "300", "--seed", "9"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected = Vec::new();
    generate(300, 9, &mut expected).unwrap();
    assert_eq!(out.stdout, expected);
    let rows: Vec<_> = read_registry(Cursor::new(out.stdout)).collect();
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(Result::is_ok));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("wrote 300 synthetic persons ("),
        "{stderr}"
    );

    let path = std::env::temp_dir().join(format!("vaxpass-registry-{}.csv", std::process::id()));
    let out = bin()
        .args([
            "registry", "generate", "--count", "300", "--seed", "9", "--out",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let written = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(written, expected);
}

#[test]
fn usage_errors_exit_2() {
    let out = bin().args(["registry", "generate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args([
            "registry",
            "generate",
            "--count",
            "1",
            "--out",
            "/nonexistent-dir/x.csv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create"));
}

#[test]
fn registry_check_reports_bad_rows_by_line() {
    let path = std::env::temp_dir().join(format!("vaxpass-check-{}.csv", std::process::id()));
    std::fs::write(
        &path,
        "id_number,full_name,date_of_birth,sex\n\
         079185012345,Nguyễn Thị Lan,1985-04-12,F\n\
         07918501234,Trần Văn Hùng,1962-11-03,M\n\
         001090123456,Đặng Văn Đức,1990-12-03,X\n\
         012345678,Lê Thị Hòa,1962-11-05,F\n",
    )
    .unwrap();
    let out = bin()
        .args(["registry", "check"])
        .arg(&path)
        .output()
        .unwrap();
    let good = bin()
        .args(["registry", "check", "--max-errors", "1"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "line 3: id_number: the ID number has 11 digits; a CCCD has 12 and a CMND 9\n\
         line 4: sex: must be M or F\n\
         2 persons read, 2 bad rows\n\
         fix or remove the bad rows (line numbers above) and check again\n"
    );
    assert!(
        String::from_utf8(good.stdout)
            .unwrap()
            .contains("… and 1 more bad rows\n")
    );
    let out = bin()
        .args(["registry", "check", "/nonexistent-dir/x.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
