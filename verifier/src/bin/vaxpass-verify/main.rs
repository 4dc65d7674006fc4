//! `vaxpass-verify`: check EU Digital COVID Certificates offline.

mod cli;
mod input;
mod trust_list;

use clap::Parser as _;
use cli::{Cli, Command, Format};
use std::process::ExitCode;
use vaxpass_verifier::conformance;

/// Exit status: the certificate (or every conformance pair) is valid.
const EXIT_VALID: u8 = 0;
/// Exit status: decoded or read, but not valid.
const EXIT_INVALID: u8 = 1;
/// Exit status: usage or I/O error.
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Conformance {
            dir,
            waivers,
            format,
        } => run_conformance(&dir, waivers.as_deref(), format),
        Command::TrustList(cmd) => trust_list::run(cmd),
        Command::Check { .. } | Command::Decode { .. } => {
            eprintln!("error: not available yet");
            EXIT_ERROR
        }
    };
    ExitCode::from(code)
}

fn run_conformance(dir: &std::path::Path, waivers: Option<&std::path::Path>, format: Format) -> u8 {
    let waivers = match waivers.map(std::fs::read_to_string).transpose() {
        Ok(text) => match conformance::Waivers::parse(text.as_deref().unwrap_or("")) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_ERROR;
            }
        },
        Err(e) => {
            eprintln!("error: cannot read the waiver list: {e}");
            return EXIT_ERROR;
        }
    };
    let report = match conformance::run(dir, &waivers) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    match format {
        Format::Json => {
            for pair in &report.results {
                match serde_json::to_string(pair) {
                    Ok(line) => println!("{line}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            for broken in &report.broken {
                println!(
                    "{}",
                    serde_json::json!({"file": broken.file, "error": broken.error})
                );
            }
        }
        Format::Human => {
            for pair in report.results.iter().filter(|p| !p.agrees()) {
                let mark = if pair.waived.is_some() {
                    "WAIVED"
                } else {
                    "FAIL  "
                };
                println!(
                    "{mark} {} {}: expected {}, got {} ({})",
                    pair.file, pair.flag, pair.expected, pair.actual, pair.detail
                );
                if let Some(reason) = &pair.waived {
                    println!("       waiver: {reason}");
                }
            }
            for broken in &report.broken {
                println!("FAIL   {}: not a test case: {}", broken.file, broken.error);
            }
            for unused in &report.unused_waivers {
                println!("note: waiver `{unused}` matched no disagreement; remove it");
            }
            println!("{} waived", report.waived());
        }
    }
    // The closing line counts (file, flag) pairs; waived disagreements count as passed.
    println!("{report}");
    if report.all_passed() {
        EXIT_VALID
    } else {
        EXIT_INVALID
    }
}
