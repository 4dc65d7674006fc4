//! `staff add`: a staff account of the web console (user name and password).

use std::io::{self, BufRead, IsTerminal};

use clap::{Args, Subcommand, ValueEnum};
use vaxpass_issuer::storage::{Actor, Role, Storage};
use vaxpass_issuer_web::accounts::{self, AccountError};

use crate::cli::{CliError, Outcome};

/// Staff accounts of the web console.
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create a staff account of a clinic: it signs in at /clinic/sign-in with a user name and
    /// a password. The password is read from standard input (one line) when it is not a
    /// terminal, or with --password-stdin; otherwise one is generated and printed once.
    Add(StaffAddArgs),
}

/// The account's role.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Acts on its own clinic's records.
    Staff,
    /// Also manages clinics (admin API).
    Admin,
}

/// `staff add`.
#[derive(Debug, Args)]
pub struct StaffAddArgs {
    /// Database URL: `sqlite://PATH` or `postgres://…` (pending migrations are applied).
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// The clinic's id.
    #[arg(long)]
    clinic: i64,
    /// The user name: 3 to 64 of a-z, 0-9, '.', '_' and '-'.
    #[arg(long)]
    user: String,
    /// The role.
    #[arg(long, value_enum, default_value = "staff")]
    role: RoleArg,
    /// Read the password from standard input (one line) even when it is a terminal.
    #[arg(long)]
    password_stdin: bool,
}

/// Runs `staff …`.
pub fn run(cmd: StaffCommand) -> Result<Outcome, CliError> {
    let StaffCommand::Add(args) = cmd;
    let (password, generated) = if args.password_stdin || !io::stdin().is_terminal() {
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line).map_err(|e| {
            CliError::Usage(format!("cannot read the password from standard input: {e}"))
        })?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (accounts::generate_password(), true)
    };
    let role = match args.role {
        RoleArg::Staff => Role::Staff,
        RoleArg::Admin => Role::Admin,
    };
    let runtime = crate::cli::runtime().map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let storage = Storage::open(&args.database).await?;
        let created = accounts::create_account(
            &storage,
            args.clinic,
            &args.user,
            &password,
            role,
            &Actor::System("cli".into()),
        )
        .await;
        storage.close().await;
        let account = created.map_err(|e| match e {
            AccountError::Storage(e) => CliError::Storage(e),
            other => CliError::Usage(other.to_string()),
        })?;
        println!(
            "staff account {} created for clinic {}: user name {}",
            account.id, account.staff.clinic_id, account.username
        );
        if generated {
            println!("password (shown once, not stored): {password}");
        }
        Ok(Outcome::Ok)
    })
}
