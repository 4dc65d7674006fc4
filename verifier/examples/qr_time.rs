//! Times `qr::decode_image` on picture files: for each file, `ROUNDS` decodes (default 5), and
//! prints `file<TAB>result<TAB>min ms<TAB>median ms`. Peak memory is measured around it by the
//! script (`/usr/bin/time -v`); run one file a process for that.
//!
//! `cargo run --release -p vaxpass-verifier --features qr-image --example qr_time -- FILE… [-n ROUNDS]`
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::time::Instant;

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut rounds = 5usize;
    if let Some(i) = args.iter().position(|a| a == "-n") {
        rounds = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(5)
            .max(1);
        args.drain(i..(i + 2).min(args.len()));
    }
    if args.is_empty() {
        eprintln!("usage: qr_time FILE… [-n ROUNDS]");
        return std::process::ExitCode::from(2);
    }
    for file in &args {
        let Ok(bytes) = std::fs::read(file) else {
            eprintln!("cannot read {file}");
            return std::process::ExitCode::from(2);
        };
        let mut times = Vec::with_capacity(rounds);
        let mut outcome = String::new();
        for _ in 0..rounds {
            let start = Instant::now();
            let result = vaxpass_verifier::qr::decode_image(&bytes);
            times.push(start.elapsed().as_secs_f64() * 1e3);
            outcome = match result {
                Ok(text) if text.starts_with("HC1:") => "read HC1".to_owned(),
                Ok(_) => "read other text".to_owned(),
                Err(e) => format!("refused: {e}"),
            };
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{file}\t{outcome}\t{:.1}\t{:.1}",
            times[0],
            times[times.len() / 2]
        );
    }
    std::process::ExitCode::SUCCESS
}
