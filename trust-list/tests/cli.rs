//! The `vaxpass-trust-list` binary: build → show → sign → show --anchor → export → import.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_verifier::Timestamp;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vaxpass-trust-list"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn build_sign_show_export_import() {
    let tmp = tempfile::tempdir().unwrap();
    let start = Timestamp::from_unix_seconds(Timestamp::now().unix_seconds() - 3600);
    let vn = tmp.path().join("vn");
    dev_init(&vn, &DevOptions::new(start)).unwrap();
    let mut de_opts = DevOptions::new(start);
    de_opts.country = "DE".into();
    let de = tmp.path().join("de");
    dev_init(&de, &de_opts).unwrap();
    let f = |name: &str| tmp.path().join(name);

    // DE publishes and exports its DSCs in the gateway form.
    let o = run(&["build", "--keys", p(&de), "-o", p(&f("de.cbor"))]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&[
        "sign",
        "--keys",
        p(&de),
        "--list",
        p(&f("de.cbor")),
        "-o",
        p(&f("de.cose")),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("sequence 1"), "{}", text(&o));
    let o = run(&[
        "export",
        "--keys",
        p(&de),
        "--list",
        p(&f("de.cose")),
        "-o",
        p(&f("de-gw.json")),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let gw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f("de-gw.json")).unwrap()).unwrap();
    assert_eq!(gw[0]["country"], "DE");

    // VN imports it: without a CSCA for DE the entry is rejected and reported.
    let o = run(&[
        "build",
        "--keys",
        p(&vn),
        "--gateway",
        p(&f("de-gw.json")),
        "-o",
        p(&f("vn.cbor")),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("no CSCA configured for this country"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("0 imported"), "{}", text(&o));
    // With DE's CSCA: imported, chain checked.
    let csca = format!("DE={}", p(&de.join("csca.pem")));
    let o = run(&[
        "build",
        "--keys",
        p(&vn),
        "--gateway",
        p(&f("de-gw.json")),
        "--csca",
        &csca,
        "-o",
        p(&f("vn.cbor")),
    ]);
    assert!(
        text(&o).contains("1 imported (0 DANGEROUS-unanchored), 0 rejected"),
        "{}",
        text(&o)
    );
    let o = run(&["show", p(&f("vn.cbor"))]);
    assert!(text(&o).contains("UNSIGNED"), "{}", text(&o));
    assert!(text(&o).contains("anchor: foreign-csca"), "{}", text(&o));
    let o = run(&[
        "sign",
        "--keys",
        p(&vn),
        "--list",
        p(&f("vn.cbor")),
        "-o",
        p(&f("vn.cose")),
        "--json",
        p(&f("vn.json")),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&[
        "show",
        p(&f("vn.cose")),
        "--anchor",
        p(&vn.join("csca.pem")),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("VERIFIED against the pinned CSCA; fresh"),
        "{}",
        text(&o)
    );
    // The wrong anchor: refused, exit 1.
    let o = run(&[
        "show",
        p(&f("vn.cose")),
        "--anchor",
        p(&de.join("csca.pem")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("[TRUST_LIST_CHAIN]"), "{}", text(&o));

    // Unanchored import: loud, flagged in the JSON.
    let o = run(&[
        "build",
        "--keys",
        p(&vn),
        "--gateway",
        p(&f("de-gw.json")),
        "--allow-unanchored",
        "-o",
        p(&f("vn2.cbor")),
    ]);
    assert!(
        text(&o).contains("WARNING: --allow-unanchored"),
        "{}",
        text(&o)
    );
    let o = run(&["show", p(&f("vn2.cbor")), "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["unanchoredEntries"], 1);
    assert_eq!(json["entries"][1]["dangerousUnanchored"], true);
    // The sequence persisted: the next signature is sequence 2.
    let o = run(&[
        "sign",
        "--keys",
        p(&vn),
        "--list",
        p(&f("vn2.cbor")),
        "-o",
        p(&f("vn2.cose")),
    ]);
    assert!(text(&o).contains("sequence 2"), "{}", text(&o));
}
