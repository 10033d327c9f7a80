//! `issuer`: run the reference department backend, generate seal keys, or find test holders.
//! Parses arguments and calls into the library; nothing else lives here.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use issuer::config::{FileConfig, NotifyFile};
use issuer::{IssuerConfig, Population};
use wire::catalogue::model::HolderKind;
use wire::catalogue::Catalogue;
use wire::issuer_api::RecordStatus;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "issuer",
    version,
    about = "Reference department backend for Mianzheng"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve department backends on one listener and print each backend's base URL.
    Serve(ServeArgs),
    /// Generate one Ed25519 seal key per department: a secret file and a trust list.
    Keygen(KeygenArgs),
    /// Find subject handles of the synthetic population holding a certificate.
    Find(FindArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// TOML config file (see issuer/src/config.rs); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7100].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Folder with the catalogue files [default: the built-in copy of config/].
    #[arg(long)]
    catalogue: Option<PathBuf>,
    /// Serve only these departments' backends (comma-separated ids) [default: all].
    #[arg(long, value_delimiter = ',')]
    departments: Option<Vec<String>>,
    /// Seal key file [default: the built-in DEMO keys of config/keys/].
    #[arg(long)]
    seal_keys: Option<PathBuf>,
    /// Gateway base URL for change notifications ({url}/v1/issuer-events): https://, or
    /// http:// on loopback only.
    #[arg(long)]
    notify_url: Option<String>,
    /// PEM roots the https gateway's certificate must chain to [default: the public web PKI
    /// roots].
    #[arg(long, value_name = "FILE")]
    notify_ca: Option<PathBuf>,
    /// Bearer token for change notifications (departments without their own token).
    #[arg(long, env = "ISSUER_NOTIFY_TOKEN", hide_env_values = true)]
    notify_token: Option<String>,
    /// Bearer token of /admin/* [default: random, printed at start].
    #[arg(long, env = "ISSUER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Seed of the synthetic population [default: 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Seed for fault and jitter draws (reproducible runs).
    #[arg(long)]
    rng_seed: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct KeygenArgs {
    #[arg(long)]
    out_secret: PathBuf,
    #[arg(long)]
    out_trust: PathBuf,
    /// Departments to generate keys for (comma-separated) [default: every catalogue department].
    #[arg(long, value_delimiter = ',')]
    departments: Option<Vec<String>>,
    /// Departments whose seal key is SM2 with SM3 (国密, GB/T 32918) instead of Ed25519
    /// (comma-separated; each must be among the departments generated).
    #[arg(long, value_delimiter = ',')]
    sm2: Vec<String>,
    /// Folder with the catalogue files [default: built in].
    #[arg(long)]
    catalogue: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct FindArgs {
    /// Certificate type code, e.g. senior-citizen-card.
    #[arg(long)]
    certificate: String,
    /// Wanted status: valid, expired, revoked, suspended or not_found.
    #[arg(long, default_value = "valid")]
    status: String,
    /// Holder kind: person or organisation [default: the certificate's].
    #[arg(long)]
    kind: Option<String>,
    /// Persons only: minimum age today.
    #[arg(long)]
    min_age: Option<u32>,
    /// How many handles.
    #[arg(short = 'n', long, default_value_t = 5)]
    count: usize,
    /// Handles are `{prefix}{i}`.
    #[arg(long, default_value = "h-")]
    prefix: String,
    #[arg(long, default_value_t = issuer::config::DEFAULT_SEED)]
    seed: u64,
    #[arg(long)]
    catalogue: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // Colour only on a terminal: a log file or a journal gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args),
        Command::Keygen(args) => keygen(args),
        Command::Find(args) => find(args),
    }
}

fn load_catalogue(dir: Option<&Path>) -> anyhow::Result<Catalogue> {
    match dir {
        Some(dir) => Catalogue::load(dir)
            .with_context(|| format!("cannot load the catalogue from `{}`", dir.display())),
        None => Ok(Catalogue::embedded()),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let catalogue = load_catalogue(args.catalogue.as_deref().or(file.catalogue.as_deref()))?;
    let seal_keys = match args.seal_keys.as_deref().or(file.seal_keys.as_deref()) {
        Some(path) => wire::keys::load_signing_keys(path)
            .with_context(|| format!("cannot load seal keys from `{}`", path.display()))?,
        None => {
            tracing::warn!("no --seal-keys: using the built-in DEMO seal keys");
            issuer::seal_keys::demo_seal_keys()
        }
    };
    let mut config = IssuerConfig::new(Arc::new(catalogue), seal_keys);
    config.departments = args.departments.or(file.departments);
    config.seed = args
        .seed
        .or(file.seed)
        .unwrap_or(issuer::config::DEFAULT_SEED);
    config.rng_seed = args.rng_seed.or(file.rng_seed);
    config.faults = file.faults;
    if let Some(n) = file.max_query_bytes {
        config.max_query_bytes = n;
    }
    let mut notify = file.notify;
    if let Some(url) = args.notify_url {
        notify.get_or_insert_with(NotifyFile::default).url = url;
    }
    if let (Some(n), Some(token)) = (notify.as_mut(), args.notify_token) {
        n.default_token = Some(token);
    }
    if let (Some(n), Some(ca)) = (notify.as_mut(), args.notify_ca) {
        n.ca_file = Some(ca);
    }
    config.notify = notify.map(NotifyFile::into_config);
    let admin_token = args.admin_token.or(file.admin_token);
    let print_token = admin_token.is_none();
    config.admin_token =
        Some(admin_token.unwrap_or_else(|| format!("{:032x}", rand::random::<u128>())));
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7100)));

    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on `{listen}`"))?;
        let token = config.admin_token.clone().unwrap_or_default();
        let running = issuer::start(config, listener)
            .await
            .context("cannot start the issuer")?;
        println!("issuer listening on {}", running.url());
        if print_token {
            println!("admin token: {token}");
        }
        for name in running.backends() {
            println!("{name:<48} {}/backends/{name}", running.url());
        }
        issuer::server::shutdown_signal().await;
        tracing::info!("shutting down");
        running.shutdown().await;
        Ok(())
    })
}

fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let departments = match args.departments {
        Some(d) => d,
        None => load_catalogue(args.catalogue.as_deref())?
            .departments()
            .iter()
            .map(|d| d.id.clone())
            .collect(),
    };
    if departments.is_empty() {
        bail!("no departments to generate keys for");
    }
    if let Some(stranger) = args.sm2.iter().find(|d| !departments.contains(d)) {
        bail!("--sm2 names `{stranger}`, which is not among the departments to generate keys for");
    }
    for path in [&args.out_secret, &args.out_trust] {
        if path.exists() && !args.force && std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            bail!("`{}` exists; pass --force to overwrite it", path.display());
        }
    }
    let sm2: Vec<&str> = args.sm2.iter().map(String::as_str).collect();
    let keys = issuer::seal_keys::generate(departments.iter().map(String::as_str), &sm2)
        .context("cannot generate seal keys")?;
    // Past the check above, an existing file may be replaced (it is empty, or --force).
    wire::secret_file::write(
        &args.out_secret,
        issuer::seal_keys::secret_file(&keys).as_bytes(),
        wire::secret_file::Existing::Replace,
    )
    .with_context(|| format!("cannot write `{}`", args.out_secret.display()))?;
    std::fs::write(&args.out_trust, issuer::seal_keys::trust_file(&keys))
        .with_context(|| format!("cannot write `{}`", args.out_trust.display()))?;
    println!(
        "wrote {} seal keys: secret `{}`, trust list `{}`",
        keys.len(),
        args.out_secret.display(),
        args.out_trust.display()
    );
    Ok(())
}

fn find(args: FindArgs) -> anyhow::Result<()> {
    let catalogue = load_catalogue(args.catalogue.as_deref())?;
    let cert = catalogue.certificate(&args.certificate).with_context(|| {
        format!(
            "no certificate type `{}` in the catalogue",
            args.certificate
        )
    })?;
    let status: RecordStatus =
        serde_json::from_value(serde_json::Value::String(args.status.clone()))
            .with_context(|| format!("unknown status `{}`", args.status))?;
    let kind = match args.kind.as_deref() {
        Some("person") => HolderKind::Person,
        Some("organisation") => HolderKind::Organisation,
        Some(other) => bail!("unknown holder kind `{other}`: person or organisation"),
        None => match cert.holder {
            wire::catalogue::model::HolderKinds::Organisation => HolderKind::Organisation,
            _ => HolderKind::Person,
        },
    };
    let pop = Population::with_cities(args.seed, catalogue.cities());
    let today = wire::calendar::china_today(chrono::Utc::now());
    let handles = pop.find_handles(&args.prefix, args.count, |h| {
        if let Some(min) = args.min_age {
            if pop.person(h).age_on(today) < min {
                return false;
            }
        }
        pop.record_in(&catalogue, h, kind, &cert.code, today)
            .is_some_and(|r| r.status == status)
    });
    for h in &handles {
        let holder = pop.holder(h, kind);
        let mut line = BTreeMap::new();
        line.insert("handle", h.clone());
        line.insert("name", holder.name().to_string());
        line.insert("home_city", holder.home_city().to_string());
        if let Some(p) = holder.as_person() {
            line.insert("age", p.age_on(today).to_string());
        }
        println!("{}", serde_json::to_string(&line).context("cannot print")?);
    }
    if handles.len() < args.count {
        bail!("found only {} of {} handles", handles.len(), args.count);
    }
    Ok(())
}
