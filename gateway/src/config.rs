//! The gateway's configuration (`config/gateway.toml`): documented serde structs, parsed then
//! validated, with relative paths resolved against the file's folder. The repository's file is
//! embedded in the binary, so the gateway starts with its demo defaults from any folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wire::code::Profile;

use crate::audit::ChainHash;

/// `config/gateway.toml` as shipped, used when no file is found.
pub const EMBEDDED: &str = include_str!("../../config/gateway.toml");

/// Everything the gateway reads at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Demo or production; a file without `mode` is production.
    pub mode: Mode,
    pub listen: Listen,
    pub admin: AdminApi,
    pub tls: Tls,
    pub data: Data,
    pub catalogue: CatalogueSource,
    pub codes: Codes,
    pub venues: Venues,
    pub store: StoreConfig,
    pub audit: Audit,
    pub departments: Departments,
    pub fetch: Fetch,
    pub limits: Limits,
    pub rollout: RolloutPlan,
    pub quotas: Quotas,
    pub commitments: Commitments,
    /// The folder relative paths are resolved against (the config file's folder).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file this configuration was read from (none: embedded, or built in code); a secret
    /// file when it holds `admin.token`.
    #[serde(skip)]
    pub source_file: Option<PathBuf>,
}

/// What the gateway is run as (`mode` at the top of the file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The repository's demo: loopback listeners only; the demo keys, venues, departments and
    /// admin token stand in for whatever is not configured.
    Demo,
    /// A deployment (what a file without `mode` is): it refuses to start with any demo
    /// material ([`crate::production`]) and with secret files others may read.
    #[default]
    Production,
}

impl Mode {
    /// The word the file uses.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Demo => "demo",
            Mode::Production => "production",
        }
    }
}

/// The listeners. A listener left out of the file (and not given on the command line) is off;
/// the shipped demo file names all three.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// The public API for venues (TLS unless `tls.mode = "off"`). A gateway does not start
    /// without it.
    #[serde(deserialize_with = "listener")]
    pub public: Option<SocketAddr>,
    /// Plain-HTTP public listener; refused on anything but a loopback address. `"off"` turns
    /// it off (read by [`parse_plain_listener`], as `--listen-plain` is).
    #[serde(deserialize_with = "listener")]
    pub public_plain: Option<SocketAddr>,
    /// Probes, metrics and the admin API.
    #[serde(deserialize_with = "listener")]
    pub admin: Option<SocketAddr>,
    /// Load balancers (addresses or CIDR ranges) whose connections to the public listeners
    /// start with a PROXY protocol v2 header naming the client; required from them, never
    /// read from anyone else ([`crate::http::proxy_protocol`]).
    pub proxy_protocol_from: Vec<String>,
}

impl Listen {
    /// The listeners that are on, by their setting's name.
    pub fn configured(&self) -> impl Iterator<Item = (&'static str, SocketAddr)> {
        [
            self.public.map(|a| ("listen.public", a)),
            self.public_plain.map(|a| ("listen.public_plain", a)),
            self.admin.map(|a| ("listen.admin", a)),
        ]
        .into_iter()
        .flatten()
    }

    /// The first listener that is not on a loopback address.
    pub fn off_loopback(&self) -> Option<(&'static str, SocketAddr)> {
        self.configured().find(|(_, addr)| !addr.ip().is_loopback())
    }
}

/// A listener as written in the file (`listen.public`, `listen.public_plain`, `listen.admin`) or
/// given to `--listen-plain`: an address, or `off` for none. The one parser for all of them, so
/// they accept the same words.
pub fn parse_plain_listener(text: &str) -> Result<Option<SocketAddr>, String> {
    if text == "off" {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| format!("`{text}` is neither an address (such as `127.0.0.1:8080`) nor `off`"))
}

/// A listener's address in the file, or `off`.
fn listener<'de, D>(deserializer: D) -> Result<Option<SocketAddr>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    parse_plain_listener(&text).map_err(serde::de::Error::custom)
}

/// Settings given on the command line. They are applied to the file's settings before those
/// are validated, so an override is checked exactly as the same setting in the file would be.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen-public`: `listen.public`.
    pub listen_public: Option<SocketAddr>,
    /// `--listen-plain`: `listen.public_plain`; `Some(None)` is `off`.
    pub listen_plain: Option<Option<SocketAddr>>,
    /// `--listen-admin`: `listen.admin`.
    pub listen_admin: Option<SocketAddr>,
    /// `--data-dir`: `data.dir` (absolute, or relative to the configuration's folder).
    pub data_dir: Option<PathBuf>,
}

impl Overrides {
    fn apply(&self, config: &mut GatewayConfig) {
        if let Some(addr) = self.listen_public {
            config.listen.public = Some(addr);
        }
        if let Some(plain) = self.listen_plain {
            config.listen.public_plain = plain;
        }
        if let Some(addr) = self.listen_admin {
            config.listen.admin = Some(addr);
        }
        if let Some(dir) = &self.data_dir {
            config.data.dir.clone_from(dir);
        }
    }

    /// The flags given, as an error names them after the file.
    fn describe(&self) -> Vec<String> {
        let mut given = Vec::new();
        if let Some(addr) = self.listen_public {
            given.push(format!("--listen-public {addr}"));
        }
        match self.listen_plain {
            Some(Some(addr)) => given.push(format!("--listen-plain {addr}")),
            Some(None) => given.push("--listen-plain off".to_owned()),
            None => {}
        }
        if let Some(addr) = self.listen_admin {
            given.push(format!("--listen-admin {addr}"));
        }
        if let Some(dir) = &self.data_dir {
            given.push(format!("--data-dir {}", dir.display()));
        }
        given
    }
}

/// The admin API on the admin listener (what the console reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminApi {
    /// Bearer token; `MIANZHENG_ADMIN_TOKEN` overrides it. None: the admin API answers 401.
    pub token: Option<String>,
}

/// The token shipped in `config/gateway.toml`: accepted only on a loopback admin listener.
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin-7d1f0c4b2a9e";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    SelfSigned,
    Files,
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    pub mode: TlsMode,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Data {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogueSource {
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Codes {
    pub trust: Option<PathBuf>,
    pub profiles: Vec<Profile>,
    pub clock_skew_secs: u32,
    pub max_lifetime_secs: u32,
    /// The lifetime cap of a printed code (for a holder without a smartphone), in days.
    pub max_paper_lifetime_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Venues {
    pub file: Option<PathBuf>,
    /// PEM file of the CA that issues venues' client certificates (mTLS on the public TLS
    /// listener, see [`crate::http::client_certificate`]). None: no client certificates.
    pub client_ca: Option<PathBuf>,
    /// At start, add the file's venues the store does not hold yet (demo seeding); a venue
    /// already registered is left as its operator left it.
    pub seed: bool,
}

impl Default for Venues {
    fn default() -> Venues {
        Venues {
            file: None,
            client_ca: None,
            seed: true,
        }
    }
}

/// The audit trail: one hash-chained entry per verification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Record every verification (the default). `false` is a switch for measuring what the
    /// trail costs (`loadtest compare --audit both`): refused unless every listener is on
    /// loopback, and with it a code is remembered as spent by this process only.
    pub enabled: bool,
    /// This node's name in entries and checkpoints, and the name of its audit chain; default:
    /// the host name. Nodes sharing a store hold their names as leases: a second live node with
    /// the same name is refused. A renamed node starts a new chain (the old one stays, verified).
    pub node: Option<String>,
    /// Answer a verification only after its entry is committed (what a venue was told is
    /// never lost).
    pub wait_for_commit: bool,
    /// How long a verification waits for its entry's commit before it is answered 503 with
    /// `Retry-After` (the store down or too slow), in milliseconds. An entry given up on is
    /// not committed later, so its code is not spent and the venue may retry it.
    pub commit_timeout_ms: u64,
    /// A batch that is not full waits this long for more entries, in milliseconds. 0 (the
    /// default): the writer commits what is queued as soon as its previous commit is done, and
    /// what arrives during a commit forms the next batch, so batches grow with the load by
    /// themselves. Measured with `loadtest compare --warm --pin -c 32`: 2 ms cost half the
    /// throughput and twice the median latency, for 8 % less CPU per verification.
    pub max_delay_ms: u64,
    /// Entries per commit at most.
    pub max_batch: usize,
    /// Entries accepted and not yet committed, at most; beyond, verifications get 503.
    pub backlog: usize,
    /// Seconds between signed checkpoints of the chain head.
    pub checkpoint_interval_secs: u64,
    /// File with the secret (hex, 32 bytes) that keys subject hashes; every node sharing a
    /// store needs the same one. Default: `<data dir>/subject-key`, created on first start.
    pub subject_key_file: Option<PathBuf>,
    /// The append-only file (JSON lines) where this node also writes its checkpoint key and
    /// every checkpoint, to be shipped off the host; `gateway audit verify --anchor` checks the
    /// store against it. Default: `<data dir>/audit-anchor.jsonl`.
    pub anchor_file: Option<PathBuf>,
    /// The chain's hash: `sha256` (the default) or `sm3` (GB/T 32905). The store records the
    /// hash its chain began with; a node configured with another one refuses to start.
    pub hash: ChainHash,
}

impl Default for Audit {
    fn default() -> Audit {
        Audit {
            enabled: true,
            node: None,
            wait_for_commit: true,
            commit_timeout_ms: 2000,
            max_delay_ms: 0,
            max_batch: 512,
            backlog: 65_536,
            checkpoint_interval_secs: 60,
            subject_key_file: None,
            anchor_file: None,
            hash: ChainHash::Sha256,
        }
    }
}

/// Where durable state lives: venues, the audit log, objections.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`; `DATABASE_URL` overrides it. Default: SQLite in
    /// the data folder (`mianzheng.db`), created on first start.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Departments {
    pub seal_trust: Option<PathBuf>,
    /// PEM roots for departments reached over HTTPS; default: the public web PKI roots.
    pub ca_file: Option<PathBuf>,
    pub embedded_seal_keys: Option<PathBuf>,
    pub population_seed: u64,
    /// Bearer token of the embedded backends' admin endpoints (overrides, fault knobs, stats);
    /// also read from `MIANZHENG_EMBEDDED_ADMIN_TOKEN`; absent: a fresh one per run, known
    /// only to the gateway.
    pub embedded_admin_token: Option<String>,
    /// Tokens departments push changes with (`POST /v1/issuer-events`): department id → hex
    /// SHA-256 of its bearer token. The embedded demo departments get a fresh token per run.
    pub event_tokens: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fetch {
    pub deadline_ms: u64,
    pub cache_capacity: u64,
    pub not_found_ttl_secs: u32,
    pub ttl_jitter: f64,
    pub stale_grace_secs: u32,
    /// A department's answer must have been sealed (`issued_at`) within this many seconds of
    /// the gateway's clock, either way, and for the query's nonce: `department.stale_record`.
    pub record_max_age_secs: u32,
    pub breaker_failures: u32,
    pub breaker_open_ms: u64,
    pub breaker_open_max_ms: u64,
    pub retry_budget: f64,
}

/// The province's rollout plan (`config/rollout.toml`, see [`crate::admin::rollout`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutPlan {
    /// The plan file, reloaded when it changes. Default: the copy embedded in the binary
    /// (never reloaded).
    pub file: Option<PathBuf>,
    /// How often the file's modification time and size are checked, in seconds.
    pub reload_check_secs: u64,
}

impl Default for RolloutPlan {
    fn default() -> RolloutPlan {
        RolloutPlan {
            file: None,
            reload_check_secs: 5,
        }
    }
}

/// Commitments (告知承诺) a service window records for an applicant (see
/// [`crate::commitments`]): how long the department has to check one afterwards.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Commitments {
    /// The post-check period, in days counted from the filing (1–365): the deadline past which
    /// an unchecked commitment is overdue.
    pub check_days: u32,
}

impl Default for Commitments {
    fn default() -> Commitments {
        Commitments { check_days: 20 }
    }
}

impl Commitments {
    fn validate(&self) -> Result<(), String> {
        if !(1..=365).contains(&self.check_days) {
            return Err(format!(
                "commitments.check_days `{}` must be within 1..=365",
                self.check_days
            ));
        }
        Ok(())
    }

    /// The post-check period.
    pub fn check_period(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::days(i64::from(self.check_days))
    }
}

/// Venue rate quotas held for each venue as a whole across gateway nodes (see
/// [`crate::cluster::quota`]): a token bucket per venue in Redis, taken from in small chunks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// `redis://[:PASSWORD@]HOST[:PORT][/DB]`; `MIANZHENG_REDIS_URL` overrides it. None: each
    /// node admits its share of every venue's quota on its own (the whole quota when alone).
    pub redis_url: Option<String>,
    /// Prefix of the buckets' keys (one key per venue, expiring when idle).
    pub key_prefix: String,
    /// A node takes this many milliseconds' worth of a venue's rate per call (at least one
    /// request's worth): what it may admit beyond the quota, at most, per venue.
    pub chunk_ms: u64,
    /// Tokens a node has held this long, in milliseconds, are dropped unspent.
    pub lease_ms: u64,
    /// Bound on one call to Redis, in milliseconds; past it the node falls back to its share.
    pub call_timeout_ms: u64,
    /// While Redis is unreachable, how often the node tries it again, in milliseconds.
    pub probe_interval_ms: u64,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            redis_url: None,
            key_prefix: "mz:quota:".into(),
            chunk_ms: 50,
            lease_ms: 1000,
            call_timeout_ms: 50,
            probe_interval_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub body_timeout_ms: u64,
    pub header_read_timeout_ms: u64,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub tls_handshake_timeout_ms: u64,
    pub keep_alive_idle_secs: u64,
    pub drain_timeout_ms: u64,
    /// Connections open at once on each listener, and from one client address (a venue's NAT
    /// shares one address: size it for the largest).
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// The holder's own routes ("who checked me", a holder's objection): requests per second
    /// from one client address, and for one holder, across all nodes (burst: two seconds'
    /// worth).
    pub holder_per_address_per_sec: u32,
    pub holder_per_subject_per_sec: u32,
    /// Load shedding on the verify route (`verify::admission`): the gateway's own time for a
    /// verification (departments' time excluded) beyond which it sheds, and the bounds of its
    /// limit on verifications in flight.
    pub verify_target_ms: u64,
    pub verify_min_in_flight: usize,
    pub verify_max_in_flight: usize,
    /// Verifications are refused at once while a ready task has waited longer than this for
    /// the runtime [`QueueDelay::STANDING`] measurements in a row (0: never).
    ///
    /// [`QueueDelay::STANDING`]: crate::verify::admission::QueueDelay::STANDING
    pub verify_queue_delay_ms: u64,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            mode: Mode::default(),
            listen: Listen::default(),
            admin: AdminApi::default(),
            tls: Tls::default(),
            data: Data::default(),
            catalogue: CatalogueSource::default(),
            codes: Codes::default(),
            venues: Venues::default(),
            store: StoreConfig::default(),
            audit: Audit::default(),
            departments: Departments::default(),
            fetch: Fetch::default(),
            limits: Limits::default(),
            rollout: RolloutPlan::default(),
            quotas: Quotas::default(),
            commitments: Commitments::default(),
            base_dir: PathBuf::from("."),
            source_file: None,
        }
    }
}

impl Default for Tls {
    fn default() -> Tls {
        Tls {
            mode: TlsMode::SelfSigned,
            cert: None,
            key: None,
        }
    }
}

impl Default for Data {
    fn default() -> Data {
        Data {
            dir: PathBuf::from("data"),
        }
    }
}

impl Default for Codes {
    fn default() -> Codes {
        Codes {
            trust: None,
            profiles: Profile::ALL.to_vec(),
            clock_skew_secs: 30,
            max_lifetime_secs: 600,
            max_paper_lifetime_days: 366,
        }
    }
}

impl Default for Departments {
    fn default() -> Departments {
        Departments {
            seal_trust: None,
            ca_file: None,
            embedded_seal_keys: None,
            population_seed: 1,
            embedded_admin_token: None,
            event_tokens: Default::default(),
        }
    }
}

impl Default for Fetch {
    fn default() -> Fetch {
        Fetch {
            deadline_ms: 800,
            cache_capacity: 1_000_000,
            not_found_ttl_secs: 60,
            ttl_jitter: 0.1,
            stale_grace_secs: 3600,
            record_max_age_secs: 30,
            breaker_failures: 5,
            breaker_open_ms: 2000,
            breaker_open_max_ms: 30_000,
            retry_budget: 0.2,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 16 * 1024,
            body_timeout_ms: 2000,
            header_read_timeout_ms: 5000,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            tls_handshake_timeout_ms: 5000,
            keep_alive_idle_secs: 60,
            drain_timeout_ms: 10_000,
            max_connections: 10_000,
            max_connections_per_address: 256,
            holder_per_address_per_sec: 10,
            holder_per_subject_per_sec: 1,
            verify_target_ms: 50,
            verify_min_in_flight: 64,
            verify_max_in_flight: 4096,
            verify_queue_delay_ms: 0,
        }
    }
}

/// A configuration that could not be read or does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl GatewayConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::load_with(Some(path), &Overrides::default())
    }

    /// `path`, else `./config/gateway.toml` when it exists, else the embedded configuration:
    /// what the server and the operator commands read.
    pub fn load_or_default(path: Option<&Path>) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::load_with(path, &Overrides::default())
    }

    /// What [`GatewayConfig::load_or_default`] reads, with the command-line `overrides` applied
    /// before it is validated; an error names the file and the overrides given.
    pub fn load_with(
        path: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<GatewayConfig, ConfigError> {
        let default = Path::new("config/gateway.toml");
        let path = path.or(default.is_file().then_some(default));
        let (mut config, name) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                let name = path.display().to_string();
                let mut config = GatewayConfig::parse_unchecked(&text, &name, base)?;
                config.source_file = Some(path.to_path_buf());
                (config, name)
            }
            None => {
                let name = "embedded gateway.toml".to_owned();
                let mut config =
                    GatewayConfig::parse_unchecked(EMBEDDED, &name, PathBuf::from("config"))?;
                // The plan file it names lies beside a configuration file that is not there.
                config.rollout.file = None;
                (config, name)
            }
        };
        overrides.apply(&mut config);
        let given = overrides.describe();
        let name = if given.is_empty() {
            name
        } else {
            format!("{name} with {}", given.join(" "))
        };
        config.validate().map_err(|message| ConfigError::Invalid {
            file: name,
            message,
        })?;
        Ok(config)
    }

    /// The embedded demo configuration, with paths relative to `./config`, and the embedded
    /// rollout plan: the plan file it names lies beside a configuration file that is not
    /// there.
    pub fn embedded() -> GatewayConfig {
        let mut config =
            GatewayConfig::parse(EMBEDDED, "embedded gateway.toml", PathBuf::from("config"))
                .expect("the embedded gateway.toml is valid (a unit test checks it)");
        config.rollout.file = None;
        config
    }

    /// The embedded configuration on loopback only, as tests, benchmarks and load tests run
    /// it (demo mode): plain HTTP on the public listener, no second plain listener, every port
    /// 0 (the started gateway says which it got), and its data in `data_dir`.
    pub fn loopback(data_dir: &Path) -> GatewayConfig {
        let mut config = GatewayConfig::embedded();
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        config.listen.public = Some(any_port);
        config.listen.public_plain = None;
        config.listen.admin = Some(any_port);
        config.tls.mode = TlsMode::Off;
        config.data.dir = data_dir.to_path_buf();
        config
    }

    /// Parses and validates a configuration text; `name` is used in errors.
    pub fn parse(text: &str, name: &str, base_dir: PathBuf) -> Result<GatewayConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            file: name.to_string(),
            message,
        };
        let config = GatewayConfig::parse_unchecked(text, name, base_dir)?;
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    /// Parses a configuration text without validating it (overrides come first).
    fn parse_unchecked(
        text: &str,
        name: &str,
        base_dir: PathBuf,
    ) -> Result<GatewayConfig, ConfigError> {
        let mut config: GatewayConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            file: name.to_string(),
            message: e.to_string(),
        })?;
        config.base_dir = base_dir;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        self.check_audit_switch()?;
        if let Some(plain) = self.listen.public_plain {
            if !plain.ip().is_loopback() {
                return Err(format!(
                    "listen.public_plain `{plain}` must be a loopback address: plain HTTP carries codes and venue keys in clear"
                ));
            }
        }
        if let Some(admin) = self.listen.admin {
            if self.admin_token().as_deref() == Some(DEMO_ADMIN_TOKEN) && !admin.ip().is_loopback()
            {
                return Err(format!(
                    "admin.token is the demo token from the repository, and listen.admin `{admin}` is not a loopback address: set a token of your own"
                ));
            }
        }
        self.check_mode()?;
        if self.admin_token().is_some_and(|t| t.len() < 16) {
            return Err("admin.token must be at least 16 characters".into());
        }
        if self.tls.mode == TlsMode::Files && (self.tls.cert.is_none() || self.tls.key.is_none()) {
            return Err("tls.mode = \"files\" needs both tls.cert and tls.key".into());
        }
        if self.tls.mode != TlsMode::Files && (self.tls.cert.is_some() || self.tls.key.is_some()) {
            return Err("tls.cert/tls.key are only read with tls.mode = \"files\"".into());
        }
        if self.venues.client_ca.is_some() && self.tls.mode == TlsMode::Off {
            return Err("venues.client_ca needs TLS on the public listener (tls.mode = \"files\" or \"self-signed\"): client certificates travel in the TLS handshake".into());
        }
        crate::http::proxy_protocol::TrustedProxies::parse(&self.listen.proxy_protocol_from)?;
        if self.codes.profiles.is_empty() {
            return Err("codes.profiles must name at least one profile".into());
        }
        if self.fetch.deadline_ms == 0 || self.fetch.deadline_ms > 60_000 {
            return Err(format!(
                "fetch.deadline_ms `{}` must be within 1..=60000",
                self.fetch.deadline_ms
            ));
        }
        let max_age_ms = u64::from(self.fetch.record_max_age_secs) * 1000;
        if max_age_ms < self.fetch.deadline_ms || self.fetch.record_max_age_secs > 86_400 {
            return Err(format!(
                "fetch.record_max_age_secs `{}` must be within 1..=86400 and cover fetch.deadline_ms ({} ms): an answer that arrives in time must not be stale",
                self.fetch.record_max_age_secs, self.fetch.deadline_ms
            ));
        }
        if !(0.0..=0.5).contains(&self.fetch.ttl_jitter) {
            return Err(format!(
                "fetch.ttl_jitter `{}` must be within 0..=0.5",
                self.fetch.ttl_jitter
            ));
        }
        if !(0.0..=1.0).contains(&self.fetch.retry_budget) {
            return Err(format!(
                "fetch.retry_budget `{}` must be within 0..=1",
                self.fetch.retry_budget
            ));
        }
        if self.fetch.breaker_failures == 0 {
            return Err("fetch.breaker_failures must be at least 1".into());
        }
        if self.audit.backlog == 0 || self.audit.max_batch == 0 {
            return Err("audit.backlog and audit.max_batch must be at least 1".into());
        }
        if self.audit.checkpoint_interval_secs == 0 {
            return Err("audit.checkpoint_interval_secs must be at least 1".into());
        }
        if self.rollout.reload_check_secs == 0 {
            return Err("rollout.reload_check_secs must be at least 1".into());
        }
        if self.limits.holder_per_address_per_sec == 0
            || self.limits.holder_per_subject_per_sec == 0
        {
            return Err(
                "limits.holder_per_address_per_sec and limits.holder_per_subject_per_sec must be at least 1"
                    .into(),
            );
        }
        if self.limits.max_connections == 0 || self.limits.max_connections_per_address == 0 {
            return Err(
                "limits.max_connections and limits.max_connections_per_address must be at least 1"
                    .into(),
            );
        }
        if self.limits.max_body_bytes < 256 {
            return Err("limits.max_body_bytes must be at least 256".into());
        }
        let limits = &self.limits;
        if limits.verify_target_ms == 0 {
            return Err("limits.verify_target_ms must be at least 1".into());
        }
        if limits.verify_min_in_flight == 0
            || limits.verify_min_in_flight > limits.verify_max_in_flight
        {
            return Err(format!(
                "limits.verify_min_in_flight ({}) must be at least 1 and at most limits.verify_max_in_flight ({})",
                limits.verify_min_in_flight, limits.verify_max_in_flight
            ));
        }
        self.commitments.validate()?;
        self.quotas.validate()
    }

    /// The mode's rules on the listeners, checked after the command line's overrides: the demo
    /// listens on loopback only — a listener anywhere else makes a deployment, which must say
    /// `mode = "production"` and bring its own material (refused rather than switched
    /// silently).
    pub fn check_mode(&self) -> Result<(), String> {
        if self.mode == Mode::Demo {
            if let Some((name, addr)) = self.listen.off_loopback() {
                return Err(format!(
                    "mode = \"demo\" listens on loopback only, and {name} `{addr}` is not a \
                     loopback address: a gateway others can reach is a deployment; set \
                     mode = \"production\" and give it keys, venues and departments of its own \
                     (README, \"Production\")"
                ));
            }
        }
        Ok(())
    }

    /// `audit.enabled = false` is for measurement on this machine only: refused when any
    /// listener is off loopback. Checked again at start, for configurations built in code.
    pub fn check_audit_switch(&self) -> Result<(), String> {
        if self.audit.enabled {
            return Ok(());
        }
        match self.listen.off_loopback() {
            Some((name, addr)) => Err(format!(
                "audit.enabled = false is a switch for measurement on loopback only, and {name} \
                 `{addr}` is not a loopback address: remove the setting"
            )),
            None => Ok(()),
        }
    }

    /// `path` resolved against the configuration's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.resolve(&self.data.dir)
    }

    /// This node's audit anchor: `audit.anchor_file`, else `<data dir>/audit-anchor.jsonl`.
    pub fn anchor_file(&self) -> PathBuf {
        self.audit.anchor_file.as_ref().map_or_else(
            || self.data_dir().join(crate::audit::anchor::ANCHOR_FILE),
            |path| self.resolve(path),
        )
    }

    /// The store URL: `DATABASE_URL`, else `store.url`; `None` means SQLite in the data folder.
    pub fn store_url(&self) -> Option<String> {
        std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.store.url.clone())
    }

    /// The Redis holding the venues' quotas: `MIANZHENG_REDIS_URL`, else `quotas.redis_url`.
    pub fn redis_url(&self) -> Option<String> {
        std::env::var(REDIS_URL_ENV)
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.quotas.redis_url.clone())
    }

    /// The admin API's bearer token: `MIANZHENG_ADMIN_TOKEN`, else `admin.token`.
    pub fn admin_token(&self) -> Option<String> {
        std::env::var(wire::admin_api::ADMIN_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| self.admin.token.clone())
    }

    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.fetch.deadline_ms)
    }
}

/// Overrides `quotas.redis_url`.
pub const REDIS_URL_ENV: &str = "MIANZHENG_REDIS_URL";

impl Quotas {
    fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.redis_url {
            check_redis_url(url).map_err(|e| format!("quotas.redis_url {e}"))?;
        }
        if self.key_prefix.is_empty() || self.key_prefix.chars().any(char::is_whitespace) {
            return Err(format!(
                "quotas.key_prefix `{}` must be non-empty, without spaces",
                self.key_prefix
            ));
        }
        if !(1..=1000).contains(&self.chunk_ms) {
            return Err(format!(
                "quotas.chunk_ms `{}` must be within 1..=1000",
                self.chunk_ms
            ));
        }
        if self.lease_ms < self.chunk_ms || self.lease_ms > 10_000 {
            return Err(format!(
                "quotas.lease_ms `{}` must be within quotas.chunk_ms ({})..=10000: a node must be \
                 able to spend a chunk before its lease ends",
                self.lease_ms, self.chunk_ms
            ));
        }
        if !(1..=5000).contains(&self.call_timeout_ms) {
            return Err(format!(
                "quotas.call_timeout_ms `{}` must be within 1..=5000",
                self.call_timeout_ms
            ));
        }
        if !(100..=60_000).contains(&self.probe_interval_ms) {
            return Err(format!(
                "quotas.probe_interval_ms `{}` must be within 100..=60000",
                self.probe_interval_ms
            ));
        }
        Ok(())
    }
}

/// Whether `url` names a Redis this build can reach; the error starts with the URL (its
/// password hidden) in backticks.
pub fn check_redis_url(url: &str) -> Result<(), String> {
    redis::Client::open(url)
        .map(drop)
        .map_err(|e| format!("`{}`: {e}", store::redact(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_configuration_is_valid_and_matches_the_defaults() {
        let config = GatewayConfig::embedded();
        let defaults = GatewayConfig::default();
        assert_eq!(config.mode, Mode::Demo, "the shipped file is the demo");
        assert_eq!(
            defaults.mode,
            Mode::Production,
            "without `mode`: production"
        );
        // The demo names its three listeners; left out, a listener is off.
        assert_eq!(config.listen.public, Some(([127, 0, 0, 1], 8443).into()));
        assert_eq!(
            config.listen.public_plain,
            Some(([127, 0, 0, 1], 8080).into())
        );
        assert_eq!(config.listen.admin, Some(([127, 0, 0, 1], 9090).into()));
        assert_eq!(
            (
                defaults.listen.public,
                defaults.listen.public_plain,
                defaults.listen.admin
            ),
            (None, None, None)
        );
        assert_eq!(GatewayConfig::loopback(Path::new("d")).mode, Mode::Demo);
        assert_eq!(config.fetch.deadline_ms, defaults.fetch.deadline_ms);
        assert_eq!(config.limits.max_body_bytes, defaults.limits.max_body_bytes);
        let (shipped, default) = (&config.quotas, &defaults.quotas);
        assert_eq!(shipped.redis_url, None);
        assert_eq!(shipped.key_prefix, default.key_prefix);
        assert_eq!(
            (shipped.chunk_ms, shipped.lease_ms),
            (default.chunk_ms, default.lease_ms)
        );
        assert_eq!(
            (shipped.call_timeout_ms, shipped.probe_interval_ms),
            (default.call_timeout_ms, default.probe_interval_ms)
        );
        assert_eq!(config.data_dir(), PathBuf::from("config/../data"));
        assert_eq!(
            config.commitments.check_days,
            defaults.commitments.check_days
        );
        assert_eq!(config.rollout.file, None, "the embedded plan");
        let shipped =
            GatewayConfig::parse(EMBEDDED, "gateway.toml", PathBuf::from("config")).expect("valid");
        assert_eq!(
            shipped.rollout.file.map(|f| shipped.base_dir.join(f)),
            Some(PathBuf::from("config/rollout.toml"))
        );
    }

    #[test]
    fn invalid_configurations_say_what_is_wrong() {
        let cases = [
            (
                "[listen]\npublic_plain = \"0.0.0.0:8080\"",
                "must be a loopback address",
            ),
            ("[tls]\nmode = \"files\"", "needs both tls.cert and tls.key"),
            (
                "[listen]\nadmin = \"0.0.0.0:9090\"\n[admin]\ntoken = \"demo-admin-7d1f0c4b2a9e\"",
                "set a token of your own",
            ),
            ("[admin]\ntoken = \"short\"", "at least 16 characters"),
            (
                "[listen]\npublic = \"0.0.0.0:8443\"\n[audit]\nenabled = false",
                "listen.public `0.0.0.0:8443` is not a loopback address",
            ),
            ("[codes]\nprofiles = []", "at least one profile"),
            ("[codes]\nprofiles = [\"rsa\"]", "unknown variant `rsa`"),
            ("[fetch]\ndeadline_ms = 0", "fetch.deadline_ms `0`"),
            ("[fetch]\nretry_budget = 3.0", "fetch.retry_budget `3`"),
            ("[fetch]\ndeadline = 3", "unknown field `deadline`"),
            (
                "[rollout]\nreload_check_secs = 0",
                "rollout.reload_check_secs must be at least 1",
            ),
            (
                "[quotas]\nredis_url = \"http://127.0.0.1:6379\"",
                "quotas.redis_url `http://127.0.0.1:6379`",
            ),
            (
                "[quotas]\nredis_url = \"redis://:hunter2@127.0.0.1:6379/x\"",
                "quotas.redis_url `redis://:***@127.0.0.1:6379/x`",
            ),
            ("[quotas]\nredis_url = \"rediss://127.0.0.1:6379\"", "TLS"),
            (
                "[quotas]\nkey_prefix = \"\"",
                "quotas.key_prefix `` must be",
            ),
            (
                "[quotas]\nchunk_ms = 0",
                "quotas.chunk_ms `0` must be within",
            ),
            (
                "[quotas]\nchunk_ms = 200\nlease_ms = 100",
                "quotas.lease_ms `100` must be within quotas.chunk_ms (200)",
            ),
            (
                "[quotas]\ncall_timeout_ms = 0",
                "quotas.call_timeout_ms `0` must be within 1..=5000",
            ),
            (
                "[quotas]\nprobe_interval_ms = 10",
                "quotas.probe_interval_ms `10`",
            ),
            ("[quotas]\nchunk = 3", "unknown field `chunk`"),
            (
                "[commitments]\ncheck_days = 0",
                "commitments.check_days `0` must be within 1..=365",
            ),
            ("[commitments]\ndays = 20", "unknown field `days`"),
            (
                "[listen]\npublic_plain = \"nowhere\"",
                "`nowhere` is neither an address (such as `127.0.0.1:8080`) nor `off`",
            ),
        ];
        for (text, expected) in cases {
            let err = GatewayConfig::parse(text, "test.toml", PathBuf::new())
                .expect_err(text)
                .to_string();
            assert!(err.starts_with("test.toml: "), "{err}");
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn a_file_without_mode_is_production_and_starts_only_the_listeners_it_names() {
        let config = GatewayConfig::parse(
            "[listen]\npublic = \"0.0.0.0:8443\"",
            "test.toml",
            PathBuf::new(),
        )
        .expect("valid");
        assert_eq!(config.mode, Mode::Production);
        assert_eq!(config.listen.public, Some(([0, 0, 0, 0], 8443).into()));
        assert_eq!(
            (config.listen.public_plain, config.listen.admin),
            (None, None)
        );
        let config = GatewayConfig::parse("", "test.toml", PathBuf::new()).expect("valid");
        assert_eq!(config.mode, Mode::Production);
        assert_eq!(config.listen.public, None, "refused when the gateway binds");
        let config = GatewayConfig::parse(
            "mode = \"production\"\n[listen]\npublic = \"127.0.0.1:8443\"\nadmin = \"off\"",
            "test.toml",
            PathBuf::new(),
        )
        .expect("valid");
        assert_eq!(config.listen.admin, None);
    }

    #[test]
    fn a_listener_off_loopback_is_refused_in_the_demo_file_or_on_its_command_line() {
        for listener in ["public = \"0.0.0.0:8443\"", "admin = \"10.0.0.5:9090\""] {
            let text =
                format!("mode = \"demo\"\n[listen]\npublic = \"127.0.0.1:8443\"\n{listener}");
            let text = text.replacen("public = \"127.0.0.1:8443\"\npublic", "public", 1);
            let err = GatewayConfig::parse(&text, "test.toml", PathBuf::new())
                .expect_err(&text)
                .to_string();
            assert!(
                err.contains("mode = \"demo\" listens on loopback only")
                    && err.contains("set mode = \"production\""),
                "{text}: {err}"
            );
        }
        let overrides = Overrides {
            listen_public: Some(([0, 0, 0, 0], 8443).into()),
            ..Overrides::default()
        };
        let err = GatewayConfig::load_with(None, &overrides)
            .expect_err("the demo off loopback")
            .to_string();
        assert!(
            err.starts_with(
                "embedded gateway.toml with --listen-public 0.0.0.0:8443: mode = \"demo\""
            ),
            "{err}"
        );
        // The same listener in production is the deployment's business.
        let config = GatewayConfig::parse(
            "mode = \"production\"\n[listen]\npublic = \"0.0.0.0:8443\"",
            "test.toml",
            PathBuf::new(),
        )
        .expect("valid");
        assert_eq!(config.mode, Mode::Production);
    }

    #[test]
    fn public_plain_off_in_the_file_turns_the_plain_listener_off() {
        let config = GatewayConfig::parse(
            "[listen]\npublic_plain = \"off\"",
            "test.toml",
            PathBuf::new(),
        )
        .expect("valid");
        assert_eq!(config.listen.public_plain, None);
        let config = GatewayConfig::parse(
            "[listen]\npublic_plain = \"127.0.0.1:8081\"",
            "test.toml",
            PathBuf::new(),
        )
        .expect("valid");
        assert_eq!(
            config.listen.public_plain,
            Some(([127, 0, 0, 1], 8081).into())
        );
        assert_eq!(parse_plain_listener("off"), Ok(None));
    }

    #[test]
    fn overrides_are_validated_like_the_file() {
        let overrides = Overrides {
            listen_admin: Some(([0, 0, 0, 0], 0).into()),
            ..Overrides::default()
        };
        let err = GatewayConfig::load_with(None, &overrides)
            .expect_err("the demo token off loopback")
            .to_string();
        assert!(
            err.starts_with("embedded gateway.toml with --listen-admin 0.0.0.0:0: admin.token"),
            "{err}"
        );
        let overrides = Overrides {
            listen_plain: Some(None),
            ..Overrides::default()
        };
        let config = GatewayConfig::load_with(None, &overrides).expect("valid");
        assert_eq!(config.listen.public_plain, None);
    }
}
