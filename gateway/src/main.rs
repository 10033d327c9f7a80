//! `gateway`: the Mianzheng verification gateway and its operator commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use gateway::commands::{code, keys};
use wire::catalogue::Catalogue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "gateway", version, about = "Mianzheng certificate-verification gateway")]
struct Cli {
    /// Folder of the catalogue files (certificates.toml, departments.toml, ...)
    /// [default: the catalogue embedded in the binary].
    #[arg(long, global = true, value_name = "DIR", env = "MIANZHENG_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Holder codes: inspect and mint.
    #[command(subcommand)]
    Code(CodeCommand),
    /// Platform key management.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum CodeCommand {
    /// Decode and verify a code; print its claims as JSON.
    Inspect(code::InspectArgs),
    /// Mint a fresh code with the platform key.
    Mint(code::MintArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a platform key set and its trust list.
    Generate(keys::GenerateArgs),
}

fn catalogue(dir: Option<&PathBuf>) -> Result<Catalogue> {
    match dir {
        Some(d) => Catalogue::load(d)
            .with_context(|| format!("loading the catalogue from `{}`", d.display())),
        None => Ok(Catalogue::embedded()),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        None => {
            eprintln!(
                "error: the verification server is not built yet (it comes with the verify path); \
                 available now: `gateway code inspect`, `gateway code mint`, `gateway keys generate`"
            );
            Ok(ExitCode::from(2))
        }
        Some(Command::Code(CodeCommand::Inspect(args))) => match code::inspect(&args, &mut out)? {
            code::Inspected::Verified => Ok(ExitCode::SUCCESS),
            code::Inspected::Refused(machine_code) => {
                eprintln!("error: {machine_code}");
                Ok(ExitCode::from(1))
            }
        },
        Some(Command::Code(CodeCommand::Mint(args))) => {
            code::mint(&args, &catalogue(cli.config_dir.as_ref())?, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Keys(KeysCommand::Generate(args))) => {
            keys::generate(&args, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
