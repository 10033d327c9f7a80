//! The servers a measurement starts as child processes — a gateway in demo mode from a
//! configuration written to a folder of its own, the bare baseline, or the reference department
//! backend (`issuer serve`) — or a running one given by address and pid; each started server is
//! stopped (SIGTERM, then SIGKILL) when dropped.
//!
//! A started gateway runs plain HTTP on loopback with the embedded department backends (unless
//! its configuration says otherwise) and the demo venues with their rate quotas raised, so the
//! quota does not cap the measurement.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a child server may take to print its address.
const START_PATIENCE: Duration = Duration::from_secs(60);
/// How long a child server may take to exit after SIGTERM before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(15);

/// A server under test: a child we started (stopped when dropped), or a running process.
#[derive(Debug)]
pub struct Server {
    pub name: &'static str,
    pub url: String,
    pub pid: u32,
    child: Option<Child>,
    pub pinned: bool,
    /// Where a started gateway's log goes.
    log: Option<PathBuf>,
    /// A started server's stdout lines not read yet (its banner).
    banner: Option<mpsc::Receiver<String>>,
}

impl Server {
    /// Starts `program args` (under `taskset -c 0` when pinned) and waits for the first stdout
    /// line `url_of` accepts.
    pub fn start(
        name: &'static str,
        program: &Path,
        args: &[&str],
        pin: bool,
        configure: impl FnOnce(&mut Command),
        url_of: fn(&str) -> Option<String>,
        log: Option<PathBuf>,
    ) -> Result<Server> {
        let mut command = if pin {
            let mut c = Command::new("taskset");
            c.arg("-c").arg("0").arg(program);
            c
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        configure(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting the {name} (`{}`)", program.display()))?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let (tx, rx) = mpsc::channel();
        // Reads the banner, then drains stdout until the child exits.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining.
                }
            }
        });
        let pid = child.id();
        let mut server = Server {
            name,
            url: String::new(),
            pid,
            child: Some(child),
            pinned: pin,
            log,
            banner: Some(rx),
        };
        server.url = server.banner_line("its address", url_of)?;
        Ok(server)
    }

    /// The next stdout line of a started server that `found` accepts (what it returns), the
    /// lines before it skipped; `what` names it in the error if the server exits or stays silent.
    pub fn banner_line(&mut self, what: &str, found: fn(&str) -> Option<String>) -> Result<String> {
        let name = self.name;
        let lines = self
            .banner
            .as_ref()
            .with_context(|| format!("the {name} was not started here: no banner to read"))?;
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(value) = found(&line) {
                        return Ok(value);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if left > Duration::ZERO => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "the {name} printed no line with {what} within {} s{}",
                        START_PATIENCE.as_secs(),
                        self.log_tail()
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().and_then(|c| c.wait().ok());
                    bail!(
                        "the {name} exited before printing {what} ({}){}",
                        status.map_or_else(|| "status unknown".into(), |s| s.to_string()),
                        self.log_tail()
                    )
                }
            }
        }
    }

    /// A process this measurement did not start (never stopped by it).
    pub fn running(name: &'static str, url: String, pid: u32) -> Server {
        Server {
            name,
            url,
            pid,
            child: None,
            pinned: false,
            log: None,
            banner: None,
        }
    }

    /// Whether this measurement started it.
    pub fn started(&self) -> bool {
        self.child.is_some()
    }

    /// The last lines of a started gateway's log, for an error message.
    pub fn log_tail(&self) -> String {
        let Some(text) = self
            .log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return String::new();
        };
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("; its log ends:\n{tail}")
    }

    /// SIGTERM, then SIGKILL if it does not exit in time.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "note: the {} (pid {}) did not stop within {} s of SIGTERM; killing it",
            self.name,
            self.pid,
            STOP_PATIENCE.as_secs()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `http://ADDR` as `loadtest baseline` prints it.
pub fn baseline_url(line: &str) -> Option<String> {
    line.trim()
        .starts_with("http://")
        .then(|| line.trim().to_string())
}

/// The public API line of the gateway's banner: `  public API   http://ADDR/v1/verify`.
pub fn gateway_url(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("public API")?;
    let url = rest.split_whitespace().next()?;
    Some(url.trim_end_matches(wire::api::VERIFY_PATH).to_string())
}

/// The admin line of the gateway's banner, `  admin        http://ADDR/metrics  /livez …`:
/// the admin listener's base URL.
pub fn admin_url(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("admin")?;
    let url = rest.split_whitespace().next()?;
    url.strip_suffix("/metrics").map(str::to_string)
}

/// The first line `issuer serve` prints: `issuer listening on http://ADDR`.
pub fn issuer_url(line: &str) -> Option<String> {
    let url = line.trim().strip_prefix("issuer listening on ")?;
    url.starts_with("http://").then(|| url.to_string())
}

/// Starts `issuer serve` — every department's backend on one loopback listener (port 0), the
/// demo seal keys, the synthetic population of `seed` — logging warnings to `issuer.log` in
/// `dir`. It runs where this process may run (a pinned caller pins it too).
pub fn start_issuer(bin: &Path, dir: &Path, seed: u64) -> Result<Server> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let log = dir.join("issuer.log");
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("creating `{}`", log.display()))?;
    let seed = seed.to_string();
    Server::start(
        "issuer",
        bin,
        &["serve", "--listen", "127.0.0.1:0", "--seed", &seed],
        false,
        move |c| {
            c.env("RUST_LOG", "warn").stderr(Stdio::from(log_file));
        },
        issuer_url,
        Some(log),
    )
}

/// The demo venues with every rate quota raised to `per_sec`.
pub fn venues_without_quota(per_sec: i64) -> Result<String> {
    let mut file: toml::Table =
        toml::from_str(gateway::demo::VENUES).context("the embedded venues.toml")?;
    if let Some(toml::Value::Array(venues)) = file.get_mut("venue") {
        for venue in venues.iter_mut().filter_map(toml::Value::as_table_mut) {
            venue.insert("rate_per_sec".into(), toml::Value::Integer(per_sec));
        }
    }
    Ok(format!(
        "# Written by `loadtest`: the demo venues, with rate quotas raised so that the quota\n\
         # does not cap the measurement.\n\n{}",
        toml::to_string(&file).context("writing venues.toml")?
    ))
}

const GATEWAY_TOML: &str = "\
# Written by `loadtest`: the demo gateway over plain HTTP on loopback (the load test
# measures the verify path, not TLS), with the demo venues of venues.toml beside this file.
mode = \"demo\"

[tls]
mode = \"off\"

[venues]
file = \"venues.toml\"
";

/// The configuration of a gateway compare starts: [`GATEWAY_TOML`], the audit trail off when
/// asked (a measurement switch the gateway accepts on loopback only, where compare puts it),
/// and the store when it is not SQLite in the data folder.
pub fn gateway_toml(audit: bool, store_url: Option<&str>) -> String {
    let mut text = GATEWAY_TOML.to_string();
    if !audit {
        text.push_str("\n# `loadtest compare --audit off|both`: nothing is recorded.\n[audit]\nenabled = false\n");
    }
    if let Some(url) = store_url {
        text.push_str(&format!(
            "\n# `loadtest compare --store`: a schema of this gateway's own.\n[store]\nurl = {}\n",
            toml::Value::String(url.to_string())
        ));
    }
    text
}

/// The configuration a started gateway adds for a run of `connections` connections: room
/// for all of them from this one address (the default cap per address is 256).
pub fn connection_room_toml(connections: usize) -> String {
    let room = connections + 64;
    format!(
        "# `loadtest`: every connection comes from this one address.\n[limits]\nmax_connections = {}\nmax_connections_per_address = {room}\n",
        room.max(10_000)
    )
}

/// `over` merged into `base`: each key of `over` replaces the same key of `base`, and a table
/// in both is merged the same way, key by key.
pub fn merge_toml(base: &str, over: &str) -> Result<String> {
    fn merge(base: &mut toml::Table, over: toml::Table) {
        for (key, value) in over {
            match (base.get_mut(&key), value) {
                (Some(toml::Value::Table(into)), toml::Value::Table(from)) => merge(into, from),
                (_, value) => {
                    base.insert(key, value);
                }
            }
        }
    }
    let mut merged: toml::Table = toml::from_str(base).context("the base configuration")?;
    let over: toml::Table = toml::from_str(over).context("the configuration added to it")?;
    merge(&mut merged, over);
    Ok(format!(
        "# Written by `loadtest` for the gateway it starts.\n{}",
        toml::to_string(&merged).context("writing the configuration")?
    ))
}

/// `given`, or the `gateway` binary next to this executable.
pub fn gateway_binary(given: Option<&Path>) -> Result<PathBuf> {
    sibling_binary("gateway", "--gateway-bin", given)
}

/// `given`, or the `issuer` binary next to this executable.
pub fn issuer_binary(given: Option<&Path>) -> Result<PathBuf> {
    sibling_binary("issuer", "--issuer-bin", given)
}

/// `given` (the value of `flag`), or the binary of package `name` next to this executable.
fn sibling_binary(name: &str, flag: &str, given: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        ensure!(
            path.is_file(),
            "no {name} binary at `{flag} {}`",
            path.display()
        );
        return Ok(path.to_path_buf());
    }
    let here = std::env::current_exe().context("finding this executable")?;
    let path = here.with_file_name(name);
    ensure!(
        path.is_file(),
        "no {name} binary next to this one (`{}`): build it with `cargo build --release -p {name}`, or pass `{flag} PATH`",
        path.display()
    );
    Ok(path)
}

/// How to start a gateway: which binary, pinned or not, its log level, and what its
/// configuration adds to [`GATEWAY_TOML`].
#[derive(Debug, Clone)]
pub struct GatewayLaunch {
    pub bin: PathBuf,
    /// Under `taskset -c 0`.
    pub pin: bool,
    /// Its `MIANZHENG_LOG`; the log goes to `gateway.log` in its folder.
    pub log_level: String,
    /// `audit.enabled`.
    pub audit: bool,
    /// `store.url` [default: SQLite in the folder's `data`].
    pub store_url: Option<String>,
    /// More TOML merged over the configuration, key by key (a table it names adds to or
    /// replaces the keys of the same table).
    pub extra_toml: String,
}

impl GatewayLaunch {
    /// The configuration file's text.
    pub fn config(&self) -> Result<String> {
        merge_toml(
            &gateway_toml(self.audit, self.store_url.as_deref()),
            &self.extra_toml,
        )
    }

    /// Starts the gateway in the folder `dir` (created) and waits for its banner.
    pub fn start(&self, name: &'static str, dir: &Path) -> Result<Server> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
        let config = dir.join("gateway.toml");
        std::fs::write(&config, self.config()?)
            .with_context(|| format!("writing `{}`", config.display()))?;
        std::fs::write(dir.join("venues.toml"), venues_without_quota(1_000_000)?)
            .context("writing venues.toml")?;
        let log = dir.join("gateway.log");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating `{}`", log.display()))?;
        let config_arg = config.display().to_string();
        let data_arg = dir.join("data").display().to_string();
        let level = self.log_level.clone();
        let dir_owned = dir.to_path_buf();
        Server::start(
            name,
            &self.bin,
            &[
                "--config",
                &config_arg,
                "--listen-public",
                "127.0.0.1:0",
                "--listen-plain",
                "off",
                "--listen-admin",
                "127.0.0.1:0",
                "--data-dir",
                &data_arg,
            ],
            self.pin,
            move |c| {
                // `DATABASE_URL` would override the store of the configuration.
                c.current_dir(dir_owned)
                    .env("MIANZHENG_LOG", level)
                    .env_remove("DATABASE_URL")
                    .stderr(Stdio::from(log_file));
            },
            gateway_url,
            Some(log),
        )
    }
}

/// Starts `loadtest baseline` (this executable).
pub fn start_baseline(pin: bool) -> Result<Server> {
    let me = std::env::current_exe().context("finding this executable")?;
    Server::start(
        "baseline",
        &me,
        &["baseline", "--listen", "127.0.0.1:0"],
        pin,
        |_| {},
        baseline_url,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banners_give_the_urls() {
        assert_eq!(
            gateway_url("  public API   http://127.0.0.1:41234/v1/verify"),
            Some("http://127.0.0.1:41234".into())
        );
        assert_eq!(
            gateway_url("  plain HTTP   http://127.0.0.1:1/v1/verify (loopback only)"),
            None
        );
        assert_eq!(gateway_url("Mianzheng gateway ready"), None);
        assert_eq!(
            baseline_url("http://127.0.0.1:5000\n"),
            Some("http://127.0.0.1:5000".into())
        );
        assert_eq!(baseline_url("warming up"), None);
        assert_eq!(
            admin_url("  admin        http://127.0.0.1:9090/metrics  /livez  /readyz  /admin/v1/… (console: console --url http://127.0.0.1:9090)"),
            Some("http://127.0.0.1:9090".into())
        );
        assert_eq!(
            admin_url("  admin        off (listen.admin is not set)"),
            None
        );
        assert_eq!(
            issuer_url("issuer listening on http://127.0.0.1:7100"),
            Some("http://127.0.0.1:7100".into())
        );
        assert_eq!(issuer_url("admin token: 0f3a"), None);
    }

    #[test]
    fn the_gateway_configuration_switches_the_audit_and_names_the_store() {
        let parse = |text: &str| {
            gateway::config::GatewayConfig::parse(
                text,
                "gateway.toml",
                std::path::PathBuf::from("."),
            )
            .expect("valid")
        };
        let plain = parse(&gateway_toml(true, None));
        assert!(plain.audit.enabled);
        assert_eq!(plain.store.url, None);
        assert_eq!(
            plain.venues.file,
            Some(std::path::PathBuf::from("venues.toml"))
        );
        let url = "postgres://u:p@127.0.0.1/db?options[search_path]=mz_compare_1&application_name=mz_compare_1";
        let off = parse(&gateway_toml(false, Some(url)));
        assert!(!off.audit.enabled);
        assert_eq!(off.store.url.as_deref(), Some(url));
    }

    #[test]
    fn the_venues_keep_their_keys_and_lose_their_quota() {
        let text = venues_without_quota(1_000_000).expect("rewritten");
        let catalogue = wire::catalogue::Catalogue::embedded();
        let venues =
            gateway::venues::Venues::parse(&text, "venues.toml", &catalogue).expect("still valid");
        let park = venues.by_key("demo-park-7f3c9a1e").expect("demo key kept");
        for _ in 0..10_000 {
            assert!(park.admit().is_ok(), "no quota in the way");
        }
    }

    #[test]
    fn a_started_gateway_takes_every_connection_from_one_address() {
        let config = gateway::config::GatewayConfig::parse(
            &format!(
                "{}\n{}",
                gateway_toml(true, None),
                connection_room_toml(1000)
            ),
            "gateway.toml",
            std::path::PathBuf::from("."),
        )
        .expect("valid");
        assert_eq!(config.limits.max_connections_per_address, 1064);
        assert!(config.limits.max_connections >= 1064);
    }

    #[test]
    fn added_configuration_merges_key_by_key_into_the_tables_it_names() {
        let merged = merge_toml(
            "mode = \"demo\"\n[limits]\nmax_connections = 10\nmax_headers = 64\n",
            "[limits]\nmax_connections = 2000\n[audit]\nenabled = false\n",
        )
        .expect("merged");
        let table: toml::Table = toml::from_str(&merged).expect("TOML");
        assert_eq!(table["mode"].as_str(), Some("demo"));
        assert_eq!(table["limits"]["max_connections"].as_integer(), Some(2000));
        assert_eq!(
            table["limits"]["max_headers"].as_integer(),
            Some(64),
            "kept"
        );
        assert_eq!(table["audit"]["enabled"].as_bool(), Some(false));
        let err = merge_toml("mode = \"demo\"", "[limits\n").expect_err("not TOML");
        assert!(
            format!("{err:#}").contains("the configuration added to it"),
            "{err:#}"
        );
    }
}
