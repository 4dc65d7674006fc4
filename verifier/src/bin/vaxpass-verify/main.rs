//! `vaxpass-verify`: check EU Digital COVID Certificates offline.

mod cli;
mod human;
mod input;
mod report;
mod revocations;
mod trust_list;

use clap::Parser as _;
use cli::{Cli, Command, Format, RulesCommand};
use input::InputError;
use report::{CheckReport, DecodeReport, Decoded, Failure};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vaxpass_verifier::rules::RuleSet;
use vaxpass_verifier::{Timestamp, TrustStore, conformance};

/// Exit status: the certificate (or every conformance pair) is valid.
const EXIT_VALID: u8 = 0;
/// Exit status: decoded or read, but not valid.
const EXIT_INVALID: u8 = 1;
/// Exit status: usage or I/O error.
const EXIT_ERROR: u8 = 2;
/// Exit status: cannot decide (revocation status unknown).
const EXIT_UNDECIDED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Conformance {
            dir,
            waivers,
            format,
        } => run_conformance(&dir, waivers.as_deref(), format),
        Command::Check {
            dsc,
            trust,
            at,
            format,
            rules,
            country,
            revocations,
            input,
        } => {
            let rules = rules.zip(country);
            match prepare_check(&dsc, &trust, at.as_deref(), rules, revocations.as_deref()) {
                Ok(setup) => run_check(&setup, &input, format),
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_ERROR
                }
            }
        }
        Command::TrustList(cmd) => trust_list::run(cmd),
        Command::Revocations(cmd) => revocations::run(cmd),
        Command::Decode { format, input } => run_decode(&input, format),
        Command::Rules { command } => run_rules(&command),
    };
    ExitCode::from(code)
}

/// What `check` needs besides the input: trust store, clock, rules.
struct CheckSetup {
    store: TrustStore,
    at: Timestamp,
    rules: Option<(RuleSet, String)>,
    /// The trust list the signers came from, when one was given.
    trust_list: Option<trust_list::TrustListReport>,
    /// The revocation list, when one was given.
    revocations: Option<revocations::Loaded>,
}

/// Reads the options of `check`; every error is a usage or I/O error (exit status 2), with
/// what to do.
fn prepare_check(
    dsc: &[PathBuf],
    trust: &trust_list::TrustListArgs,
    at: Option<&str>,
    rules: Option<(PathBuf, String)>,
    revocations_dir: Option<&Path>,
) -> Result<CheckSetup, String> {
    let at = match at {
        None => Timestamp::now(),
        Some(text) => Timestamp::parse(text).map_err(|e| {
            format!("--at: {e}; give an RFC 3339 date-time such as 2021-06-01T12:00:00Z")
        })?,
    };
    let mut store = TrustStore::new();
    for path in dsc {
        let loaded = if path.is_dir() {
            store.load_dir(path)
        } else {
            store.load_file(path)
        };
        loaded.map_err(|e| {
            format!(
                "cannot use signer certificate {e}; --dsc takes PEM or DER X.509 signer \
                 certificates (DSC), or a folder of .pem/.crt/.cer/.der files"
            )
        })?;
    }
    if trust.anchor.is_some() && !trust.is_given() {
        return Err("--anchor goes with --trust-list FILE or --cache DIR".into());
    }
    if dsc.is_empty() && !trust.is_given() {
        return Err(
            "no trusted signers: give --dsc FILE|DIR, or --trust-list FILE / --cache DIR with \
             --anchor CSCA.pem"
                .into(),
        );
    }
    let mut trust_list = None;
    if trust.is_given() {
        let loaded = trust_list::load_trust_store(trust, at)?;
        store.merge(loaded.store);
        trust_list = Some(loaded.report);
    }
    if store.is_empty() {
        return Err(
            "no signer certificate found in the --dsc folders or the trust list; put \
             .pem/.crt/.cer/.der files there"
                .into(),
        );
    }
    let rules = match rules {
        None => None,
        Some((dir, country)) => {
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "--country {country:?}: give an ISO 3166 alpha-2 code in capitals, e.g. VN"
                ));
            }
            let set = RuleSet::load_dir(&dir)
                .map_err(|e| format!("--rules: {e}; give a folder of rule files"))?;
            if let Some(problem) = set.problems().first() {
                return Err(format!(
                    "--rules: cannot use {}: {}; fix or remove the file (a rule that cannot be \
                     read would be silently skipped)",
                    problem.path.display(),
                    problem.error
                ));
            }
            Some((set, country))
        }
    };
    let revocations = match revocations_dir {
        None => None,
        Some(dir) => {
            let anchor = trust
                .anchor
                .as_deref()
                .ok_or("--revocations needs --anchor CSCA.pem (the list is verified against it)")?;
            Some(revocations::load(dir, anchor, at)?)
        }
    };
    Ok(CheckSetup {
        store,
        at,
        rules,
        trust_list,
        revocations,
    })
}

/// Prints a report as JSON (one object) or as text.
fn emit<R: Serialize>(report: &R, format: Format, human: impl FnOnce(&R) -> String) {
    match format {
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("error: {e}"),
        },
        Format::Human => print!("{}", human(report)),
    }
}

fn run_check(setup: &CheckSetup, input: &str, format: Format) -> u8 {
    let text = match input::read_input(input) {
        Ok(text) => text,
        Err(InputError::Io(e)) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
        Err(InputError::Qr(message)) => {
            let f = Failure {
                code: report::QR_IMAGE,
                message,
            };
            emit(&checker(setup).undecoded(f), format, human::check);
            return EXIT_INVALID;
        }
    };
    let report = match check(setup, &text) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    emit(&report, format, human::check);
    match &report.failure {
        None => EXIT_VALID,
        Some(f) if f.code == revocations::UNKNOWN => EXIT_UNDECIDED,
        Some(_) => EXIT_INVALID,
    }
}

/// Decodes, verifies at the clock and evaluates the rules (the library's
/// [`vaxpass_verifier::report::Checker`]). `Err` only for an internal error (embedded value
/// sets unreadable).
fn check(setup: &CheckSetup, text: &str) -> Result<CheckReport, String> {
    checker(setup).check(text).map_err(|e| e.to_string())
}

fn checker(setup: &CheckSetup) -> report::Checker<'_> {
    let mut checker = report::Checker::new(&setup.store, setup.at);
    if let Some((set, cc)) = &setup.rules {
        checker = checker.with_rules(set, cc);
    }
    if let Some(list) = &setup.trust_list {
        checker = checker.with_trust_list(list);
    }
    if let Some(loaded) = &setup.revocations {
        checker = checker.with_revocations(loaded.store(), loaded.report());
    }
    checker
}

fn run_decode(input: &str, format: Format) -> u8 {
    let (decoded, failure) = match input::read_input(input) {
        Err(InputError::Io(e)) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
        Err(InputError::Qr(message)) => (
            Decoded::default(),
            Some(Failure {
                code: report::QR_IMAGE,
                message,
            }),
        ),
        Ok(text) => {
            let r = report::decode_report(&text);
            (r.decoded, r.failure)
        }
    };
    let code = if failure.is_some() {
        EXIT_INVALID
    } else {
        EXIT_VALID
    };
    let report = DecodeReport {
        verified: false,
        failure,
        decoded,
    };
    emit(&report, format, human::decode);
    code
}

fn run_rules(command: &RulesCommand) -> u8 {
    use vaxpass_verifier::rules::{run_certlogic_suite, run_rule_tests, run_validation_suite};
    let (dir, result) = match command {
        RulesCommand::Test { dir } => (dir, run_rule_tests(dir)),
        RulesCommand::CertlogicSuite { dir } => (dir, run_certlogic_suite(dir)),
        RulesCommand::ValidationSuite { dir } => (dir, run_validation_suite(dir)),
    };
    match result {
        Err(e) => {
            eprintln!(
                "error: {e}; give the folder of the suite ({})",
                dir.display()
            );
            EXIT_ERROR
        }
        Ok(report) => {
            // Every disagreement on its own line, then `N passed, M failed`.
            println!("{report}");
            if report.all_agree() {
                EXIT_VALID
            } else {
                EXIT_INVALID
            }
        }
    }
}

fn run_conformance(dir: &Path, waivers: Option<&Path>, format: Format) -> u8 {
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
