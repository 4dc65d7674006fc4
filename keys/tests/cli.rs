//! The `vaxpass-keys` binary: the offline CSCA flow end to end, exit codes, clear output.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_vaxpass-keys"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let r = run(dir, args, env);
    assert_eq!(
        r.code, 0,
        "{args:?}\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    r.stdout
}

#[test]
fn offline_csca_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let env = [("CSCA_PASS", "csca pass"), ("DSC_PASS", "dsc pass")];
    let t0 = "2026-01-01T00:00:00Z";
    let out = ok(
        d,
        &[
            "csca",
            "init",
            "--dir",
            "offline",
            "--org",
            "Ministry of Health",
            "--cn",
            "VN CSCA",
            "--not-before",
            t0,
            "--passphrase-env",
            "CSCA_PASS",
        ],
        &env,
    );
    assert!(
        out.contains("CSCA created") && out.contains("encrypted"),
        "{out}"
    );
    let out = ok(
        d,
        &[
            "dsc",
            "request",
            "--org",
            "Ministry of Health",
            "--cn",
            "VN DSC 1",
            "--key",
            "signer/dsc-1.key.pem",
            "--csr",
            "dsc-1.csr.pem",
            "--passphrase-env",
            "DSC_PASS",
        ],
        &env,
    );
    assert!(out.contains("CSR: dsc-1.csr.pem"), "{out}");
    let out = ok(
        d,
        &[
            "dsc",
            "sign",
            "--csca-cert",
            "offline/csca.pem",
            "--csca-key",
            "offline/csca.key.pem",
            "--passphrase-env",
            "CSCA_PASS",
            "--csr",
            "dsc-1.csr.pem",
            "--types",
            "v,t",
            "--days",
            "365",
            "--not-before",
            t0,
            "--out",
            "dsc-1.pem",
        ],
        &env,
    );
    assert!(out.contains("types:     v,t"), "{out}");
    assert!(
        out.contains("valid:     2026-01-01T00:00:00Z .. 2027-01-01T00:00:00Z"),
        "{out}"
    );
    let out = ok(
        d,
        &[
            "dsc",
            "install",
            "--dir",
            "signer",
            "--cert",
            "dsc-1.pem",
            "--csca-cert",
            "offline/csca.pem",
            "--key",
            "signer/dsc-1.key.pem",
            "--passphrase-env",
            "DSC_PASS",
            "--activate",
            "--at",
            "2026-01-02",
        ],
        &env,
    );
    assert!(out.contains("(current)"), "{out}");
    let list = ok(
        d,
        &["dsc", "list", "--dir", "signer", "--at", "2026-01-03"],
        &env,
    );
    assert!(
        list.contains("current for v: ") && list.contains("current for r: NONE"),
        "{list}"
    );
    assert!(!list.contains("DEVELOPMENT"), "{list}");

    // A second DSC, installed pending, then rotated in.
    ok(
        d,
        &[
            "dsc",
            "request",
            "--org",
            "Ministry of Health",
            "--cn",
            "VN DSC 2",
            "--algorithm",
            "rsa2048",
            "--key",
            "signer/dsc-2.key.pem",
            "--csr",
            "dsc-2.csr.pem",
        ],
        &env,
    );
    ok(
        d,
        &[
            "dsc",
            "sign",
            "--csca-cert",
            "offline/csca.pem",
            "--csca-key",
            "offline/csca.key.pem",
            "--passphrase-env",
            "CSCA_PASS",
            "--csr",
            "dsc-2.csr.pem",
            "--types",
            "v,t,r",
            "--not-before",
            "2026-02-01",
            "--out",
            "dsc-2.pem",
        ],
        &env,
    );
    let out = ok(
        d,
        &[
            "dsc",
            "install",
            "--dir",
            "signer",
            "--cert",
            "dsc-2.pem",
            "--key",
            "signer/dsc-2.key.pem",
        ],
        &env,
    );
    assert!(out.contains("pending"), "{out}");
    let manifest = std::fs::read_to_string(d.join("signer/keys.toml")).unwrap();
    let kid2 = manifest
        .split("kid = \"")
        .nth(2)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let out = ok(
        d,
        &[
            "dsc",
            "rotate",
            "--dir",
            "signer",
            "--kid",
            &kid2,
            "--at",
            "2026-03-01",
        ],
        &env,
    );
    assert!(
        out.contains("retired")
            && out.contains("stays in the trust list until 2027-01-01T00:00:00Z"),
        "{out}"
    );
    let list = ok(
        d,
        &["dsc", "list", "--dir", "signer", "--at", "2026-03-02"],
        &env,
    );
    assert!(
        list.contains(&format!("current for r: {kid2}")) && list.contains("PS256"),
        "{list}"
    );

    // Refusals: exit code 1 with a clear message and a hint.
    let r = run(
        d,
        &[
            "dsc",
            "sign",
            "--csca-cert",
            "offline/csca.pem",
            "--csca-key",
            "offline/csca.key.pem",
            "--passphrase-env",
            "DSC_PASS",
            "--csr",
            "dsc-1.csr.pem",
            "--out",
            "x.pem",
        ],
        &env,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("wrong passphrase") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    std::fs::set_permissions(
        d.join("offline/csca.key.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let r = run(
        d,
        &[
            "dsc",
            "sign",
            "--csca-cert",
            "offline/csca.pem",
            "--csca-key",
            "offline/csca.key.pem",
            "--passphrase-env",
            "CSCA_PASS",
            "--csr",
            "dsc-1.csr.pem",
            "--out",
            "x.pem",
        ],
        &env,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "refusing key file offline/csca.key.pem: mode 0644 lets other users read it; chmod 600"
        ),
        "{}",
        r.stderr
    );
    // A DSC from another CSCA is not installed.
    ok(d, &["dev-init", "other", "--not-before", t0], &env);
    let r = run(
        d,
        &[
            "dsc",
            "install",
            "--dir",
            "signer",
            "--cert",
            "other/dsc-1.pem",
            "--key",
            "other/dsc-1.key.pem",
        ],
        &env,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("is not issued by this directory's CSCA"),
        "{}",
        r.stderr
    );

    // Usage errors: exit code 2; secrets are not accepted on the command line.
    assert_eq!(run(d, &["dsc", "sign", "--passphrase", "x"], &env).code, 2);
    assert_eq!(
        run(
            d,
            &[
                "csca",
                "init",
                "--dir",
                "x",
                "--org",
                "o",
                "--cn",
                "c",
                "--passphrase-env",
                "UNSET_VAR_FOR_TEST"
            ],
            &env
        )
        .code,
        2
    );
    assert_eq!(
        run(
            d,
            &[
                "dsc",
                "sign",
                "--csca-cert",
                "offline/csca.pem",
                "--csca-key",
                "offline/csca.key.pem",
                "--csr",
                "dsc-1.csr.pem",
                "--types",
                "x",
                "--out",
                "y"
            ],
            &env
        )
        .code,
        1
    );
    assert_eq!(run(d, &["frobnicate"], &env).code, 2);
    assert_eq!(run(d, &["--help"], &env).code, 0);
}

#[test]
fn dev_init_is_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(tmp.path(), &["dev-init", "dev"], &[]);
    assert!(
        out.contains("*** DEVELOPMENT KEYS - NOT FOR PRODUCTION ***"),
        "{out}"
    );
    let list = ok(tmp.path(), &["dsc", "list", "--dir", "dev"], &[]);
    assert!(
        list.starts_with("*** DEVELOPMENT KEYS - NOT FOR PRODUCTION ***"),
        "{list}"
    );
    // Running again refuses (exit 1) instead of overwriting keys.
    assert_eq!(run(tmp.path(), &["dev-init", "dev"], &[]).code, 1);
}

#[test]
fn token_flow_via_cli() {
    let module = std::env::var("VAXPASS_PKCS11_MODULE")
        .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into());
    if !Path::new(&module).exists()
        || Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_err()
    {
        eprintln!("SKIPPED token_flow_via_cli: SoftHSM2 not installed (Debian package `softhsm2`)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join("tokens")).unwrap();
    let conf = d.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            d.join("tokens").display()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap().to_owned();
    let st = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "cli-token",
            "--pin",
            "4321",
            "--so-pin",
            "87654321",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(st.status.success());
    let env = [("SOFTHSM2_CONF", conf.as_str()), ("TOKEN_PIN", "4321")];
    ok(d, &["dev-init", "ca", "--not-before", "2026-01-01"], &env);
    let out = ok(
        d,
        &[
            "dsc",
            "request",
            "--org",
            "MoH",
            "--cn",
            "HSM DSC",
            "--csr",
            "hsm.csr.pem",
            "--pkcs11-module",
            &module,
            "--token",
            "cli-token",
            "--pin-env",
            "TOKEN_PIN",
            "--label",
            "hsm-dsc",
            "--id",
            "0a0b",
        ],
        &env,
    );
    assert!(out.contains("never leaves the token"), "{out}");
    ok(
        d,
        &[
            "dsc",
            "sign",
            "--csca-cert",
            "ca/csca.pem",
            "--csca-key",
            "ca/csca.key.pem",
            "--csr",
            "hsm.csr.pem",
            "--not-before",
            "2026-01-01",
            "--out",
            "hsm.pem",
        ],
        &env,
    );
    ok(
        d,
        &[
            "dsc",
            "install",
            "--dir",
            "ca",
            "--cert",
            "hsm.pem",
            "--pkcs11-module",
            &module,
            "--token",
            "cli-token",
            "--pin-env",
            "TOKEN_PIN",
            "--label",
            "hsm-dsc",
            "--id",
            "0a0b",
            "--activate",
            "--at",
            "2026-01-02",
        ],
        &env,
    );
    let list = ok(
        d,
        &["dsc", "list", "--dir", "ca", "--at", "2026-01-03"],
        &env,
    );
    assert!(
        list.contains("pkcs11 token \"cli-token\" label \"hsm-dsc\""),
        "{list}"
    );
    // Wrong PIN: exit 1, PIN not echoed.
    let r = run(
        d,
        &[
            "dsc",
            "install",
            "--dir",
            "ca",
            "--cert",
            "hsm.pem",
            "--pkcs11-module",
            &module,
            "--token",
            "cli-token",
            "--pin-env",
            "BAD",
            "--label",
            "hsm-dsc",
        ],
        &[("SOFTHSM2_CONF", conf.as_str()), ("BAD", "999999")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("login to token") && !r.stderr.contains("999999"),
        "{}",
        r.stderr
    );
}
