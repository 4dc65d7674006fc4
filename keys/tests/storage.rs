//! Key storage: modes, atomic writes, encryption, and no secrets in messages.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::fs::PermissionsExt;

use vaxpass_keys::storage::{self, KeyEncryption, StorageError};
use vaxpass_keys::{Error, KeyAlgorithm, Passphrase, PrivateKey};

fn cheap() -> KeyEncryption {
    // Cheap scrypt for tests; the default (2^15) is slow in debug builds.
    KeyEncryption::with_log_n(10)
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn round_trip_plain_and_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048] {
        let key = PrivateKey::generate(alg).unwrap();
        let plain = dir.path().join(format!("{alg}.key.pem"));
        storage::write_private_key(&plain, &key, None, cheap()).unwrap();
        assert_eq!(mode(&plain), 0o600);
        let text = std::fs::read_to_string(&plain).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = storage::read_private_key(&plain, None).unwrap();
        assert_eq!(back.public_key(), key.public_key());

        let enc = dir.path().join(format!("{alg}.enc.pem"));
        let pass = Passphrase::new("s3cret passphrase".into()).unwrap();
        storage::write_private_key(&enc, &key, Some(&pass), cheap()).unwrap();
        assert_eq!(mode(&enc), 0o600);
        let text = std::fs::read_to_string(&enc).unwrap();
        assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let back = storage::read_private_key(&enc, Some(&pass)).unwrap();
        assert_eq!(back.public_key(), key.public_key());

        // No passphrase for an encrypted key.
        let err = storage::read_private_key(&enc, None).unwrap_err();
        assert!(matches!(err, StorageError::PassphraseRequired(_)));
    }
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().starts_with('.')),
        "{names:?}"
    );
}

#[test]
fn default_cost_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let path = dir.path().join("k.pem");
    let pass = Passphrase::new("pw".into()).unwrap();
    storage::write_private_key(&path, &key, Some(&pass), KeyEncryption::default()).unwrap();
    assert!(storage::read_private_key(&path, Some(&pass)).is_ok());
}

#[test]
fn wrong_passphrase_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let path = dir.path().join("dsc.key.pem");
    let pass = Passphrase::new("right".into()).unwrap();
    storage::write_private_key(&path, &key, Some(&pass), cheap()).unwrap();
    let wrong = Passphrase::new("wrong".into()).unwrap();
    let err = storage::read_private_key(&path, Some(&wrong)).unwrap_err();
    assert!(matches!(err, StorageError::WrongPassphrase(_)));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot decrypt key file {}: wrong passphrase (or the file is damaged)",
            path.display()
        )
    );
    assert!(
        !format!("{err} {err:?}").contains("wrong\""),
        "passphrase leaked"
    );
}

#[test]
fn group_or_world_readable_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let path = dir.path().join("dsc.key.pem");
    storage::write_private_key(&path, &key, None, cheap()).unwrap();
    for bad in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).unwrap();
        let err = storage::read_private_key(&path, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refusing key file {p}: mode {bad:04o} lets other users read it; chmod 600 {p}",
                p = path.display()
            )
        );
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(storage::read_private_key(&path, None).is_ok());
}

#[test]
fn existing_key_file_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let path = dir.path().join("k.pem");
    storage::write_private_key(&path, &key, None, cheap()).unwrap();
    let err = storage::write_private_key(&path, &key, None, cheap()).unwrap_err();
    assert!(matches!(err, StorageError::KeyFileExists(_)));
}

#[test]
fn no_key_material_in_debug_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048] {
        let key = PrivateKey::generate(alg).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let debug = format!("{key:?}");
        assert_eq!(debug, format!("PrivateKey({alg}, <redacted>)"));
        // No 8-byte window of the PKCS#8 encoding appears in any rendering, hex or not.
        let hex: String = der.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        for w in hex.as_bytes().chunks(16).skip(3) {
            assert!(!debug.contains(std::str::from_utf8(w).unwrap()));
        }
        // A key file with the wrong mode: the error names the file, not its contents.
        let path = dir.path().join(format!("{alg}.pem"));
        storage::write_private_key(&path, &key, None, cheap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Error::from(storage::read_private_key(&path, None).unwrap_err());
        let pem = std::fs::read_to_string(&path).unwrap();
        let body: String = pem.lines().nth(2).unwrap().to_owned();
        assert!(!format!("{err} {err:?}").contains(&body));
    }
    let pass = Passphrase::new("hunter2-secret".into()).unwrap();
    assert_eq!(format!("{pass:?}"), "Passphrase(<redacted>)");
    let secrets = vaxpass_keys::manifest::Secrets {
        passphrase: Some(pass.clone()),
        pin: Some(pass),
    };
    assert!(!format!("{secrets:?}").contains("hunter2"));
}

#[test]
fn passphrase_sources() {
    assert!(matches!(
        Passphrase::new(String::new()),
        Err(StorageError::EmptyPassphrase)
    ));
    let err = Passphrase::from_env("VAXPASS_TEST_SURELY_UNSET_VAR").unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable VAXPASS_TEST_SURELY_UNSET_VAR is not set (it should hold the passphrase or PIN)"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pass");
    std::fs::write(&f, "from file\n").unwrap();
    assert_eq!(
        Passphrase::from_file(&f).unwrap().expose_secret(),
        "from file"
    );
}

#[test]
fn garbage_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pem");
    storage::write_atomic(&path, b"not pem", 0o600).unwrap();
    assert!(matches!(
        storage::read_private_key(&path, None),
        Err(StorageError::Format { .. })
    ));
    storage::write_atomic(
        &path,
        b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        0o600,
    )
    .unwrap();
    let err = storage::read_private_key(&path, None).unwrap_err();
    assert!(
        err.to_string().contains("PEM label \"CERTIFICATE\""),
        "{err}"
    );
}
