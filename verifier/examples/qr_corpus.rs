//! Decodes every picture of a corpus made by `scripts/qr-corpus/generate.py` with this crate's
//! picture reader and prints one line a picture: `file<TAB>ok|fail<TAB>microseconds<TAB>detail`.
//! `scripts/qr-corpus/compare.py` runs it beside zxing-cpp and prints the per-class table.
//!
//! `cargo run --release -p vaxpass-verifier --features qr-image --example qr_corpus -- DIR`
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::io::Write as _;
use std::time::Instant;

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: qr_corpus CORPUS_DIR (with manifest.tsv and texts.txt)");
        return std::process::ExitCode::from(2);
    };
    let dir = std::path::Path::new(&dir);
    let (Ok(manifest), Ok(texts)) = (
        std::fs::read_to_string(dir.join("manifest.tsv")),
        std::fs::read_to_string(dir.join("texts.txt")),
    ) else {
        eprintln!("cannot read {}/manifest.tsv and texts.txt", dir.display());
        return std::process::ExitCode::from(2);
    };
    let texts: Vec<&str> = texts.lines().collect();
    let mut out = std::io::stdout().lock();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(index)) = (cols.first(), cols.get(3)) else {
            continue;
        };
        let expected = index.parse::<usize>().ok().and_then(|i| texts.get(i));
        let Ok(bytes) = std::fs::read(dir.join(file)) else {
            let _ = writeln!(out, "{file}\tfail\t0\tunreadable file");
            continue;
        };
        let start = Instant::now();
        let result = vaxpass_verifier::qr::decode_image(&bytes);
        let micros = start.elapsed().as_micros();
        let (verdict, detail) = match (&result, expected) {
            (Ok(text), Some(want)) if text == want => ("ok", "ok".to_owned()),
            (Ok(_), _) => ("fail", "another text".to_owned()),
            (Err(e), _) => ("fail", e.to_string()),
        };
        let _ = writeln!(out, "{file}\t{verdict}\t{micros}\t{detail}");
    }
    std::process::ExitCode::SUCCESS
}
