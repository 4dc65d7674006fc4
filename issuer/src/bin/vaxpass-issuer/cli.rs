//! Command-line definition (clap derive) and dispatch. Subcommands are added as variants of
//! [`Command`] (`serve`, `audit`, … come with the service).

use std::fs::File;
use std::io;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vaxpass_issuer::registry_csv::{self, GenerateError};

/// vaxpass issuer: registry-verified vaccination certificates.
#[derive(Debug, Parser)]
#[command(name = "vaxpass-issuer", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Population registry tools.
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Write a synthetic but realistic registry CSV (id_number,full_name,date_of_birth,sex).
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Number of persons.
    #[arg(long)]
    count: u64,
    /// Seed: the same seed gives the same registry.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Creating the output file failed.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Generation failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Registry(RegistryCommand::Generate(args)) => generate(args),
    }
}

fn generate(args: GenerateArgs) -> Result<(), CliError> {
    let summary = match &args.out {
        Some(path) => {
            let file = File::create(path).map_err(|source| CliError::Create {
                path: path.clone(),
                source,
            })?;
            registry_csv::generate(args.count, args.seed, file)?
        }
        None => registry_csv::generate(args.count, args.seed, io::stdout().lock())?,
    };
    eprintln!(
        "wrote {} synthetic persons ({} CCCD, {} CMND), seed {}",
        summary.persons, summary.cccd, summary.cmnd, args.seed
    );
    Ok(())
}
