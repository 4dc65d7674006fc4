//! `vaxpass-issuer`: the issuer's command line: `serve` (`--demo`), `registry generate`,
//! `registry check`, `registry import`, `audit verify`, `batch …`, `staff add`, `backup`,
//! `restore`.

mod backup;
mod batch;
mod cli;
mod import;
mod serve;
mod staff;

use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: under load the service's many small allocations
/// across threads took ~12 % of its CPU in malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(cli::Outcome::Ok) => ExitCode::SUCCESS,
        Ok(cli::Outcome::Invalid) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
