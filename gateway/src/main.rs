//! `gateway`: the Mianzheng verification gateway and its operator commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use gateway::commands::{audit, catalogue, code, keys, openapi, operators, report, venues};
use std::io::{IsTerminal as _, Write as _};

use gateway::config::{parse_plain_listener, GatewayConfig, Overrides};
use wire::catalogue::Catalogue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about = "Mianzheng certificate-verification gateway",
    long_about = "Mianzheng certificate-verification gateway.\n\nWithout a command it serves: \
                  it reads config/gateway.toml (or the embedded defaults). In mode = \"demo\" \
                  (the shipped file) it starts the embedded demo department backends and prints \
                  a ready-to-paste curl line; in production (a file without `mode`) it refuses \
                  any demo material."
)]
struct Cli {
    /// Folder of the catalogue files (certificates.toml, departments.toml, ...) for the code
    /// commands [default: the catalogue embedded in the binary].
    #[arg(long, global = true, value_name = "DIR", env = "MIANZHENG_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Options of the server (no command).
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file [default: ./config/gateway.toml if present, else the embedded one].
    #[arg(long, value_name = "FILE", env = "MIANZHENG_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Override `listen.public` (e.g. 127.0.0.1:0 for any free port).
    #[arg(long, value_name = "ADDR")]
    listen_public: Option<std::net::SocketAddr>,
    /// Override `listen.public_plain`; `off` disables it.
    #[arg(long, value_name = "ADDR|off", value_parser = plain_listener)]
    listen_plain: Option<PlainListener>,
    /// Override `listen.admin`.
    #[arg(long, value_name = "ADDR")]
    listen_admin: Option<std::net::SocketAddr>,
    /// Override `data.dir`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "MIANZHENG_LOG_FORMAT")]
    log_format: LogFormat,
}

/// `--listen-plain`: an address, or `off` (`None`), read as the file's `listen.public_plain` is.
#[derive(Debug, Clone, Copy)]
struct PlainListener(Option<std::net::SocketAddr>);

fn plain_listener(text: &str) -> Result<PlainListener, String> {
    parse_plain_listener(text).map(PlainListener)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Holder codes: inspect and mint.
    #[command(subcommand)]
    Code(CodeCommand),
    /// Platform key management.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The catalogue of certificates, scenarios and service items.
    #[command(subcommand)]
    Catalogue(CatalogueCommand),
    /// The venue registry in the store, without a running gateway.
    #[command(subcommand)]
    Venues(VenuesCommand),
    /// Operator accounts of the admin API.
    #[command(subcommand)]
    Operators(OperatorsCommand),
    /// The plan's targets measured from the traffic the nodes counted in the store, for a
    /// window of days (China time): metric, basis, numerator, denominator, value, targets.
    Report(report::ReportArgs),
    /// Print the OpenAPI document of the public and admin APIs (what the admin listener serves
    /// at /openapi.json; `gateway openapi > docs/openapi.json` updates the checked-in copy).
    Openapi,
}

#[derive(Debug, Subcommand)]
enum VenuesCommand {
    /// Register a venue under a fresh key (printed once).
    Add(venues::AddArgs),
    /// Disable a venue: its key is refused from now on.
    Disable(venues::VenueArgs),
    /// Delete a venue: its key is refused as unknown and its id is free again (a demo venue
    /// comes back at the next demo start).
    Delete(venues::VenueArgs),
    /// Give a venue a fresh key (printed once); the old one stops working.
    Rotate(venues::VenueArgs),
    /// Bind a venue to a client certificate naming it (mTLS): its key alone is refused.
    BindCertificate(venues::VenueArgs),
    /// Free a venue of its client-certificate binding: its key alone works again.
    UnbindCertificate(venues::VenueArgs),
}

#[derive(Debug, Subcommand)]
enum OperatorsCommand {
    /// Add an operator with its roles; print its token once.
    Add(operators::AddArgs),
    /// List the operators: name, roles, created, disabled (never a token).
    List(operators::ListArgs),
    /// Disable an operator: its token is refused from then on.
    Disable(operators::DisableArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Re-walk the hash chain and the signed checkpoints, check them against the anchors;
    /// exit 1 on any break, gap or untrusted key.
    Verify(audit::VerifyArgs),
    /// Replace a node's checkpoint key on purpose (the node stopped): the old key is retired
    /// in the store and the anchor and still verifies what it signed.
    RotateNodeKey(audit::RotateArgs),
}

#[derive(Debug, Subcommand)]
enum CatalogueCommand {
    /// Validate the catalogue (--config-dir, or the embedded one) and report the materials
    /// library's coverage of the service items; exit 1 if it is invalid or a certificate type
    /// is reached by no scenario and no service item.
    Check,
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

fn load_catalogue(dir: Option<&PathBuf>) -> Result<Catalogue> {
    match dir {
        Some(d) => Catalogue::load(d)
            .with_context(|| format!("loading the catalogue from `{}`", d.display())),
        None => Ok(Catalogue::embedded()),
    }
}

/// Runs an operator command's future on a runtime of its own (one thread: commands wait on the
/// store, they do not serve).
fn block_on<T>(command: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(command)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        None => {
            serve(cli.serve)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Code(CodeCommand::Inspect(args))) => match code::inspect(&args, &mut out)? {
            code::Inspected::Verified => Ok(ExitCode::SUCCESS),
            code::Inspected::Refused(machine_code) => {
                eprintln!("error: {machine_code}");
                Ok(ExitCode::from(1))
            }
        },
        Some(Command::Code(CodeCommand::Mint(args))) => {
            code::mint(&args, &load_catalogue(cli.config_dir.as_ref())?, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Audit(AuditCommand::Verify(args))) => {
            match block_on(audit::verify(&args, &mut out))? {
                audit::Verified::Intact => Ok(ExitCode::SUCCESS),
                audit::Verified::Broken => Ok(ExitCode::from(1)),
            }
        }
        Some(Command::Catalogue(CatalogueCommand::Check)) => {
            match catalogue::check(cli.config_dir.as_deref(), &mut out)? {
                catalogue::Checked::Consistent => Ok(ExitCode::SUCCESS),
                catalogue::Checked::Inconsistent => Ok(ExitCode::from(1)),
            }
        }
        Some(Command::Audit(AuditCommand::RotateNodeKey(args))) => {
            block_on(audit::rotate(&args, &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Operators(command)) => {
            block_on(async {
                match command {
                    OperatorsCommand::Add(args) => operators::add(&args, &mut out).await,
                    OperatorsCommand::List(args) => operators::list(&args, &mut out).await,
                    OperatorsCommand::Disable(args) => operators::disable(&args, &mut out).await,
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report(args)) => {
            block_on(report::report(&args, &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Openapi) => {
            openapi::print(&mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Keys(KeysCommand::Generate(args))) => {
            keys::generate(&args, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Venues(command)) => {
            block_on(async {
                match command {
                    VenuesCommand::Add(args) => {
                        venues::add(&args, &load_catalogue(cli.config_dir.as_ref())?, &mut out)
                            .await
                    }
                    VenuesCommand::Disable(args) => venues::disable(&args, &mut out).await,
                    VenuesCommand::Delete(args) => venues::delete(&args, &mut out).await,
                    VenuesCommand::Rotate(args) => venues::rotate(&args, &mut out).await,
                    VenuesCommand::BindCertificate(args) => {
                        venues::bind_certificate(&args, true, &mut out).await
                    }
                    VenuesCommand::UnbindCertificate(args) => {
                        venues::bind_certificate(&args, false, &mut out).await
                    }
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_config(args: &ServeArgs) -> Result<GatewayConfig> {
    let data_dir = match &args.data_dir {
        Some(dir) => Some(std::env::current_dir()?.join(dir)),
        None => None,
    };
    let overrides = Overrides {
        listen_public: args.listen_public,
        listen_plain: args.listen_plain.map(|plain| plain.0),
        listen_admin: args.listen_admin,
        data_dir,
    };
    Ok(GatewayConfig::load_with(
        args.config.as_deref(),
        &overrides,
    )?)
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIANZHENG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: a log file or a journal gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    init_logs(args.log_format);
    let config = load_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let gateway = gateway::app::start(config).await?;
        let _signals = gateway.shutdown.listen_for_signals();
        print_banner(&gateway);
        gateway.run().await
    })
}

/// What a newcomer needs: the mode and what is in use, where it listens, and (in the demo) one
/// request that shows a `pass`.
fn print_banner(gateway: &gateway::app::Gateway) {
    let mut out = std::io::stdout().lock();
    let scheme = if gateway.public_tls { "https" } else { "http" };
    let in_use = &gateway.in_use;
    let _ = writeln!(out, "Mianzheng gateway ready");
    let _ = writeln!(out, "  mode         {}", in_use.mode_line());
    let _ = writeln!(out, "  code trust   {}", in_use.code_trust);
    let _ = writeln!(out, "  seal trust   {}", in_use.seal_trust);
    let _ = writeln!(out, "  venues       {}", in_use.venues);
    let _ = writeln!(out, "  store        {}", in_use.store);
    let _ = writeln!(out, "  catalogue    {}", in_use.catalogue);
    let _ = writeln!(out, "  departments  {}", in_use.departments);
    let _ = writeln!(
        out,
        "  public API   {scheme}://{}/v1/verify",
        gateway.public_addr
    );
    if let Some(cert) = &gateway.certificate {
        let _ = writeln!(out, "               certificate {}", cert.display());
    }
    if let Some(balancers) = &in_use.proxy_protocol_from {
        let _ = writeln!(
            out,
            "               PROXY v2 header required from {balancers}"
        );
    }
    match gateway.plain_addr {
        Some(addr) => {
            let _ = writeln!(
                out,
                "  plain HTTP   http://{addr}/v1/verify (loopback only)"
            );
        }
        None => {
            let _ = writeln!(out, "  plain HTTP   off");
        }
    }
    match gateway.admin_addr {
        Some(addr) => {
            let _ = writeln!(
                out,
                "  admin        http://{addr}/metrics  /livez  /readyz  /admin/v1/… (console: {} --url http://{addr})",
                console_command()
            );
        }
        None => {
            let _ = writeln!(out, "  admin        off (listen.admin is not set)");
        }
    }

    #[cfg(feature = "demo")]
    print_demo(&mut out, gateway);
    let _ = out.flush();
}

/// How to start the operator console: the `console` binary beside this one when it is there
/// (a release or a `cargo build` of the workspace builds both), else the cargo command that
/// builds and runs it.
fn console_command() -> String {
    let beside = std::env::current_exe()
        .ok()
        .map(|gateway| gateway.with_file_name(format!("console{}", std::env::consts::EXE_SUFFIX)))
        .filter(|console| console.is_file());
    match beside {
        Some(console) => console.display().to_string(),
        None => "cargo run --release -p console --".to_owned(),
    }
}

/// The demo's request to paste.
#[cfg(feature = "demo")]
fn print_demo(out: &mut impl std::io::Write, gateway: &gateway::app::Gateway) {
    if let Some(demo) = gateway::demo::request::request(gateway) {
        let _ = writeln!(
            out,
            "\nTry it (the code is valid for 10 minutes and, like every code, works once):\n{}",
            demo.curl
        );
        let _ = writeln!(out, "\nA fresh code for the same holder:\n{}", demo.mint);
        if let Some(materials) = &demo.materials {
            let _ = writeln!(
                out,
                "\nA service window pulls the same holder's materials for service item {} \
                 (免证办, POST /v1/materials):\n{materials}",
                gateway::demo::request::DEMO_ITEM
            );
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
