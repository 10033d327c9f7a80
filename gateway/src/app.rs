//! Assembling a gateway from its configuration and running it. [`start`] reads as the list of
//! its steps: check the configuration, load the catalogue, open the store, refuse what the
//! mode forbids (demo material and exposed secrets in production), build trust (code keys,
//! venues), join the store's nodes, start the audit writer and the venue quotas, bind the
//! listeners, connect the departments, assemble the verify service and the routes beside it,
//! then start the background tasks and the listeners. `main.rs` and the tests both start a
//! gateway through [`start`].
//!
//! - [`public`] — the public listener's routes.

mod public;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use wire::catalogue::model::Endpoint;
use wire::catalogue::Catalogue;
use wire::code::Verifier;
use wire::issuer_api::backend_name;
use wire::keys::TrustList;

use crate::admin::api::AdminApi;
use crate::admin::operators::Operators;
use crate::admin::rollout::Rollout;
use crate::admin::snapshot::{SnapshotFeed, Sources};
use crate::admin::{AdminHandler, Readiness};
use crate::audit::checkpoint::node_key_algorithm;
use crate::audit::subject::load_or_create_subject_key;
use crate::audit::{
    pin_node_key, AnchorSink, AuditWriter, CheckpointSettings, SubjectHasher, WriterSettings,
};
use crate::cluster::membership::Membership;
use crate::cluster::quota::{self, QuotaSettings, Quotas};
use crate::cluster::replay::ReplayGuard;
use crate::cluster::revocations::Revocations;
use crate::commitments::filing::CommitmentFilingApi;
use crate::commitments::CommitmentDesk;
use crate::config::{GatewayConfig, Mode, TlsMode};
#[cfg(feature = "demo")]
use crate::demo;
use crate::departments::breaker::BreakerSettings;
use crate::departments::cache::{CacheSettings, RecordCache};
use crate::departments::corrections::DepartmentAdmin;
use crate::departments::invalidation::Invalidations;
use crate::departments::issuer_events::{EventTokens, IssuerEvents};
use crate::departments::upstream::{self, BackendClient};
use crate::holder::accesses::HolderAccessesApi;
use crate::holder::limits::HolderLimits;
use crate::holder::objection_filing::ObjectionFilingApi;
use crate::http::proxy_protocol::TrustedProxies;
use crate::http::server::{self, Listener};
use crate::http::tls::TlsAcceptor;
use crate::in_use::InUse;
use crate::kpis::KpiRecorder;
use crate::materials::MaterialsService;
use crate::metrics::Metrics;
use crate::objections::ObjectionDesk;
use crate::shutdown::Shutdown;
use crate::venues::registry::VenueRegistry;
use crate::venues::Venues;
use crate::verify::admission::{Admission, AdmissionSettings, QueueDelay};
use crate::verify::fetch::{Backends, Fetcher};
use crate::verify::record::AuditRecorder;
use crate::verify::signature_batch::SignatureBatcher;
use crate::verify::verified_codes::{self, VerifiedCodes};
use crate::verify::{VerifyLimits, VerifyService};
use public::PublicHandler;
use store::Store;

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    /// The public listener (HTTPS unless `tls.mode = "off"`).
    pub public_addr: SocketAddr,
    pub public_tls: bool,
    /// The plain-HTTP loopback listener, when configured.
    pub plain_addr: Option<SocketAddr>,
    /// The admin listener, unless it is off (left out of the configuration).
    pub admin_addr: Option<SocketAddr>,
    /// The mode and what the gateway runs on, for the start-up banner (boxed: tests hold
    /// several gateways across awaits).
    pub in_use: Box<InUse>,
    /// The self-signed or configured certificate clients should trust (PEM path).
    pub certificate: Option<std::path::PathBuf>,
    pub service: Arc<VerifyService>,
    /// Fires the drain: public listeners stop accepting and finish in-flight requests while
    /// `/readyz` answers 503; the admin listener stops after them.
    pub shutdown: Shutdown,
    admin_shutdown: Shutdown,
    admin_task: Option<tokio::task::JoinHandle<Result<()>>>,
    /// The embedded department backends (demo), when any endpoint is `embedded`.
    #[cfg(feature = "demo")]
    pub embedded: Option<issuer::RunningIssuer>,
    /// The seed of the embedded departments' synthetic population (demo).
    #[cfg(feature = "demo")]
    pub(crate) population_seed: u64,
    /// This node's lease on its name in the store.
    pub membership: Arc<Membership>,
    tasks: JoinSet<Result<()>>,
}

/// Starts a gateway: everything is loaded and bound before this returns, so a bad
/// configuration fails here with a clear error, and the addresses are real (port 0 works).
pub async fn start(config: GatewayConfig) -> Result<Gateway> {
    check(&config)?;
    let metrics = Metrics::new();
    let shutdown = Shutdown::new();
    let readiness = Readiness::new(shutdown.clone());
    let catalogue = load_catalogue(&config, &metrics)?;
    let store = open_store(&config).await?;
    refuse_what_the_mode_forbids(&config, &catalogue, &store).await?;
    let verifier = code_verifier(&config)?;
    let venues = load_venues(&config, &catalogue)?;
    // The demo signs the console in with nothing set up (production refused the demo token).
    #[cfg(feature = "demo")]
    if config.mode == crate::config::Mode::Demo {
        demo::operator::create_if_first(&store, config.admin_token().as_deref()).await?;
    }
    let node = join_nodes(&config, &store).await?;
    let audit = start_audit_writer(&config, &store, &node).await?;
    metrics.collect(Box::new(crate::audit::metrics::WriterMetrics(
        audit.clone(),
    )));
    let registry = venue_registry(
        &config, &store, &node, &venues, &metrics, &readiness, &shutdown,
    )
    .await?;
    let bound = bind_listeners(&config).await?;
    let departments = connect_departments(&config, &catalogue, &bound, &metrics).await?;
    let records = RecordCache::new(cache_settings(&config));
    let fetcher = Fetcher::new(
        departments.backends,
        Arc::clone(&catalogue),
        Arc::new(seal_trust(&config)?),
        Duration::from_secs(config.fetch.record_max_age_secs.into()),
        metrics.clone(),
        records.clone(),
    );
    let rollout = Arc::new(Rollout::load(&config, Arc::clone(&catalogue))?);
    let kpis = KpiRecorder::new(
        store.clone(),
        Arc::clone(&catalogue),
        Arc::clone(&rollout),
        &node.name,
    );
    fetcher.count_seals_in(Arc::new(kpis.clone()));
    let service = verify_service(
        &config,
        VerifyParts {
            rollout,
            kpis,
            catalogue,
            verifier,
            venues,
            registry,
            fetcher,
            metrics: metrics.clone(),
            revocations: Revocations::start(&store, metrics.clone(), shutdown.clone()),
        },
        &node,
        &audit,
    );
    let desk = ObjectionDesk {
        store: store.clone(),
        catalogue: Arc::clone(&service.catalogue),
        invalidations: Invalidations::start(
            records,
            service.registry.clone(),
            &store,
            metrics.clone(),
            shutdown.clone(),
        ),
        departments: departments.corrections,
    };
    let public = public_routes(&config, &service, &desk, departments.event_tokens);
    let admin = admin_routes(
        &config, &service, desk, &store, &audit, &readiness, &shutdown,
    )
    .await;
    start_background_tasks(
        &config,
        &store,
        &node.membership,
        &bound,
        &service,
        &shutdown,
    );
    #[cfg(feature = "demo")]
    let embedded_url = departments
        .embedded
        .as_ref()
        .map(issuer::RunningIssuer::url);
    #[cfg(not(feature = "demo"))]
    let embedded_url: Option<String> = None;
    let in_use = Box::new(InUse::describe(
        &config,
        &service.catalogue,
        embedded_url.as_deref(),
    ));
    if in_use.catalogue_edits_unused {
        tracing::warn!("catalogue: {}", in_use.catalogue);
    }
    let listening = start_listeners(&config, bound, public, admin, &metrics, &shutdown);
    readiness.set_ready();
    Ok(Gateway {
        public_addr: listening.public_addr,
        public_tls: listening.public_tls,
        plain_addr: listening.plain_addr,
        admin_addr: listening.admin_addr,
        in_use,
        certificate: listening.certificate,
        service,
        shutdown,
        admin_shutdown: listening.admin_shutdown,
        admin_task: listening.admin_task,
        #[cfg(feature = "demo")]
        embedded: departments.embedded,
        #[cfg(feature = "demo")]
        population_seed: config.departments.population_seed,
        membership: node.membership,
        tasks: listening.tasks,
    })
}

/// The checks a configuration built in code (tests, benchmarks, load tests) did not pass
/// through parsing, repeated because a mistake in them would leave verifications unrecorded
/// or the demo reachable; and the public listener, without which a gateway serves nothing.
fn check(config: &GatewayConfig) -> Result<()> {
    config.check_audit_switch().map_err(anyhow::Error::msg)?;
    config.check_mode().map_err(anyhow::Error::msg)?;
    if config.listen.public.is_none() {
        anyhow::bail!(
            "listen.public is not set (a listener left out is off): name the address the public \
             API listens on, e.g. `public = \"0.0.0.0:8443\"` under [listen]"
        );
    }
    if !config.audit.enabled {
        tracing::warn!("audit.enabled = false: verifications are not recorded (measurement only)");
    }
    Ok(())
}

/// In production, every piece of demo material and every secret file others may read, found
/// before anything starts and refused in one error ([`crate::production`]); in the demo, loose
/// secret files are only warned about.
async fn refuse_what_the_mode_forbids(
    config: &GatewayConfig,
    catalogue: &Catalogue,
    store: &Store,
) -> Result<()> {
    let exposed = crate::production::exposed_secret_files(config);
    match config.mode {
        Mode::Demo => {
            for problem in exposed {
                tracing::warn!("{problem} (refused in production)");
            }
            Ok(())
        }
        Mode::Production => {
            let mut problems = crate::production::demo_material_in_configuration(config, catalogue);
            problems.extend(
                crate::production::demo_venues_in_store(store)
                    .await
                    .context("looking for demo venues in the store")?,
            );
            problems.extend(exposed);
            crate::production::Refusal::from_problems(problems)?;
            Ok(())
        }
    }
}

/// A configured path, resolved against the configuration file's folder.
fn resolved(config: &GatewayConfig, path: &Option<PathBuf>) -> Option<PathBuf> {
    path.as_ref().map(|p| config.resolve(p))
}

/// The catalogue folder's files, or the catalogue embedded in the binary; its scenarios and
/// certificate types are the metrics' labels.
fn load_catalogue(config: &GatewayConfig, metrics: &Metrics) -> Result<Arc<Catalogue>> {
    let catalogue = configured_catalogue(config)?;
    metrics.prepare(
        catalogue.scenarios().iter().map(|s| s.id.as_str()),
        catalogue.certificates().iter().map(|c| c.code.as_str()),
    );
    Ok(catalogue)
}

/// The catalogue the configuration names (`catalogue.dir`), or the embedded one.
pub(crate) fn configured_catalogue(config: &GatewayConfig) -> Result<Arc<Catalogue>> {
    Ok(Arc::new(match resolved(config, &config.catalogue.dir) {
        Some(dir) => Catalogue::load(&dir)
            .with_context(|| format!("loading the catalogue from `{}`", dir.display()))?,
        None => Catalogue::embedded(),
    }))
}

/// A trust list from a key file, PEM or DER certificate.
fn load_trust(path: &Path, what: &str) -> Result<TrustList> {
    TrustList::load(path).with_context(|| format!("loading the {what} from `{}`", path.display()))
}

/// An unset setting the gateway cannot start without: only the demo (`mode = "demo"` in a
/// build with the `demo` feature) falls back to its own.
fn required(setting: &str) -> anyhow::Error {
    if cfg!(feature = "demo") {
        anyhow::anyhow!("`{setting}` is not set, and only mode = \"demo\" falls back to the demo's")
    } else {
        anyhow::anyhow!(
            "`{setting}` is not set, and this gateway is built without the demo (the `demo` feature) to fall back to"
        )
    }
}

/// How codes are checked: the platform's trust list, the profiles, skew and lifetime accepted.
fn code_verifier(config: &GatewayConfig) -> Result<Verifier> {
    let trust = match resolved(config, &config.codes.trust) {
        Some(path) => load_trust(&path, "code trust list")?,
        #[cfg(feature = "demo")]
        None if config.mode == Mode::Demo => demo::platform_trust()?,
        None => return Err(required("codes.trust")),
    };
    Ok(Verifier::new(trust)
        .accept(&config.codes.profiles)
        .clock_skew(config.codes.clock_skew_secs)
        .max_lifetime(config.codes.max_lifetime_secs)
        .max_paper_lifetime(
            config
                .codes
                .max_paper_lifetime_days
                .saturating_mul(24 * 3600),
        ))
}

/// The departments' seal keys, which every record they answer must carry.
fn seal_trust(config: &GatewayConfig) -> Result<TrustList> {
    match resolved(config, &config.departments.seal_trust) {
        Some(path) => load_trust(&path, "department seal trust list"),
        #[cfg(feature = "demo")]
        None if config.mode == Mode::Demo => demo::seal_trust(),
        None => Err(required("departments.seal_trust")),
    }
}

/// The venues file the store is seeded from (the demo venues when unset in the demo; none
/// otherwise: the venues are the store's).
fn load_venues(config: &GatewayConfig, catalogue: &Catalogue) -> Result<Venues> {
    match resolved(config, &config.venues.file) {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading `{}`", path.display()))?;
            Venues::parse(&text, &path.display().to_string(), catalogue).map_err(anyhow::Error::msg)
        }
        #[cfg(feature = "demo")]
        None if config.mode == Mode::Demo => demo::venues(catalogue),
        None => Ok(Venues::default()),
    }
}

/// This node among those sharing the store: its name and lease, its checkpoint key, and the
/// subject-hash key every node shares.
struct Node {
    name: String,
    subjects: SubjectHasher,
    key: wire::keys::SigningKey,
    /// Where the node's checkpoints are also written (`audit.anchor_file`).
    anchor: AnchorSink,
    membership: Arc<Membership>,
}

async fn join_nodes(config: &GatewayConfig, store: &Store) -> Result<Node> {
    let name = node_name(config);
    let subject_key_path = resolved(config, &config.audit.subject_key_file)
        .unwrap_or_else(|| config.data_dir().join("subject-key"));
    let subjects = SubjectHasher::new(
        &load_or_create_subject_key(&subject_key_path)
            .with_context(|| format!("the subject-hash secret `{}`", subject_key_path.display()))?,
    );
    let anchor_path = config.anchor_file();
    let anchor = AnchorSink::open(&anchor_path)
        .with_context(|| format!("the audit anchor `{}`", anchor_path.display()))?;
    let algorithm = node_key_algorithm(config.audit.hash);
    let key = pin_node_key(store, &config.data_dir(), &name, algorithm, &anchor)
        .await
        .context("the node's checkpoint key")?;
    let membership = Arc::new(
        Membership::join(
            store.clone(),
            &name,
            &key.kid().to_string(),
            &subjects,
            config.audit.hash,
        )
        .await
        .with_context(|| format!("joining the store's nodes as `{name}`"))?,
    );
    Ok(Node {
        name,
        subjects,
        key,
        anchor,
        membership,
    })
}

/// The node's one audit writer, on a store connection of its own.
async fn start_audit_writer(
    config: &GatewayConfig,
    store: &Store,
    node: &Node,
) -> Result<AuditWriter> {
    Ok(AuditWriter::start(
        store
            .dedicated()
            .await
            .context("opening the audit writer's connection to the store")?,
        node.name.clone(),
        WriterSettings {
            max_batch: config.audit.max_batch,
            max_delay: Duration::from_millis(config.audit.max_delay_ms),
            backlog: config.audit.backlog,
            checkpoint: Some(CheckpointSettings {
                key: node.key.clone(),
                interval: Duration::from_secs(config.audit.checkpoint_interval_secs),
                anchor: Some(node.anchor.clone()),
            }),
            hash: config.audit.hash,
        },
    ))
}

/// The venues, in the store (seeded from the venues file when configured), each with its rate
/// quota. How many gateway nodes share the store, and so the quotas, now: the
/// live leases, counted by the membership's heartbeat. A node admitting on its own (no Redis,
/// or Redis unreachable) takes that share.
async fn venue_registry(
    config: &GatewayConfig,
    store: &Store,
    node: &Node,
    venues: &Venues,
    metrics: &Metrics,
    readiness: &Readiness,
    shutdown: &Shutdown,
) -> Result<VenueRegistry> {
    let quotas = Quotas::start(
        QuotaSettings::from_config(config),
        node.membership.live_nodes(),
        metrics.clone(),
        shutdown.clone(),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    if quotas.mode() == quota::Mode::Local && store.postgres_pool().is_some() {
        tracing::warn!(
            "no quotas.redis_url: each node sharing this store admits its own share of a venue's quota (quota / live nodes), not one quota for the venue"
        );
    }
    readiness.add_detail({
        let quotas = quotas.clone();
        Arc::new(move || quotas.describe())
    });
    let registry = VenueRegistry::new(store.clone(), metrics.clone(), quotas);
    if config.venues.seed {
        registry
            .seed(venues)
            .await
            .context("seeding the store with the venues file")?;
    }
    Ok(registry)
}

/// The listeners, bound before anything is served, so a taken port fails the start.
struct Bound {
    public: TcpListener,
    public_addr: SocketAddr,
    plain: Option<TcpListener>,
    plain_addr: Option<SocketAddr>,
    admin: Option<TcpListener>,
    admin_addr: Option<SocketAddr>,
    tls: Option<TlsAcceptor>,
    /// The certificate clients should trust (PEM path).
    certificate: Option<PathBuf>,
    /// The balancers whose connections to the public listeners start with a PROXY header.
    proxies: TrustedProxies,
}

impl Bound {
    /// Where the public routes answer in plain HTTP, if anywhere.
    #[cfg(feature = "demo")]
    fn plain_http(&self) -> Option<SocketAddr> {
        self.plain_addr
            .or(self.tls.is_none().then_some(self.public_addr))
    }
}

async fn bind_listeners(config: &GatewayConfig) -> Result<Bound> {
    let bind = |addr: SocketAddr, what: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} ({what})"))
    };
    let (tls, certificate) = match config.tls.mode {
        TlsMode::Off => (None, None),
        TlsMode::SelfSigned => {
            let dir = config.data_dir().join("tls");
            let (cert, key) =
                crate::http::tls::ensure_self_signed(&dir, &["localhost", "127.0.0.1"])?;
            (Some(TlsAcceptor::from_pem_files(&cert, &key)?), Some(cert))
        }
        TlsMode::Files => {
            let cert = resolved(config, &config.tls.cert).context("tls.cert")?;
            let key = resolved(config, &config.tls.key).context("tls.key")?;
            (Some(TlsAcceptor::from_pem_files(&cert, &key)?), Some(cert))
        }
    };
    let tls = match (tls, resolved(config, &config.venues.client_ca)) {
        (Some(tls), Some(ca)) => Some(tls.with_client_ca(&ca)?),
        (tls, _) => tls, // a CA without TLS is refused by the configuration check
    };
    let proxies =
        TrustedProxies::parse(&config.listen.proxy_protocol_from).map_err(anyhow::Error::msg)?;
    let public_addr = config.listen.public.context("listen.public is not set")?;
    let public = bind(public_addr, "public").await?;
    let plain = match config.listen.public_plain {
        Some(addr) => Some(bind(addr, "public plain").await?),
        None => None,
    };
    let admin = match config.listen.admin {
        Some(addr) => Some(bind(addr, "admin").await?),
        None => None,
    };
    Ok(Bound {
        public_addr: public.local_addr()?,
        public,
        plain_addr: plain.as_ref().map(TcpListener::local_addr).transpose()?,
        plain,
        admin_addr: admin.as_ref().map(TcpListener::local_addr).transpose()?,
        admin,
        tls,
        certificate,
        proxies,
    })
}

/// The department side: a client per backend, where corrections go, who may push events.
struct Departments {
    backends: Backends,
    corrections: DepartmentAdmin,
    event_tokens: EventTokens,
    #[cfg(feature = "demo")]
    embedded: Option<issuer::RunningIssuer>,
}

async fn connect_departments(
    config: &GatewayConfig,
    catalogue: &Arc<Catalogue>,
    bound: &Bound,
    metrics: &Metrics,
) -> Result<Departments> {
    // The demo adds its departments' event token and admin endpoint.
    #[cfg_attr(not(feature = "demo"), allow(unused_mut))]
    let mut event_tokens =
        EventTokens::from_config(&config.departments.event_tokens).map_err(anyhow::Error::msg)?;
    let connector = upstream::connector(match resolved(config, &config.departments.ca_file) {
        Some(ca) => Some(crate::http::tls::client_config_trusting(&ca)?),
        None => None,
    });
    #[cfg_attr(not(feature = "demo"), allow(unused_mut))]
    let mut corrections = DepartmentAdmin::new(connector.clone());
    #[cfg(feature = "demo")]
    let embedded = demo::departments::start(
        config,
        catalogue,
        bound.plain_http(),
        &mut event_tokens,
        &mut corrections,
    )
    .await?;
    #[cfg(not(feature = "demo"))]
    let _ = bound;
    let breaker = BreakerSettings {
        failures: config.fetch.breaker_failures,
        open: Duration::from_millis(config.fetch.breaker_open_ms),
        open_max: Duration::from_millis(config.fetch.breaker_open_max_ms),
    };
    let mut backends: Backends = HashMap::new();
    for department in catalogue.departments() {
        for backend in &department.backends {
            let url = match &backend.endpoint {
                Endpoint::Url(url) => {
                    wire::issuer_api::check_backend_url(url).map_err(|e| {
                        anyhow::anyhow!("department `{}`: {e}", backend.department)
                    })?;
                    url.clone()
                }
                #[cfg(feature = "demo")]
                Endpoint::Embedded => embedded
                    .as_ref()
                    .map(|issuer| issuer.base_url(&backend.department, backend.scope))
                    .context("an embedded backend without the embedded issuer")?,
                #[cfg(not(feature = "demo"))]
                Endpoint::Embedded => anyhow::bail!(
                    "department `{}`: endpoint `embedded` needs the demo departments (the `demo` feature); give the backend's URL",
                    backend.department
                ),
            };
            let client = BackendClient::new(
                backend_name(&backend.department, backend.scope),
                &url,
                connector.clone(),
                breaker,
                config.fetch.retry_budget,
                metrics.clone(),
            );
            backends
                .entry(backend.department.clone())
                .or_default()
                .insert(backend.scope, Arc::new(client));
        }
    }
    metrics.live().prepare_backends(
        backends
            .values()
            .flat_map(HashMap::values)
            .map(|client| client.name()),
    );
    Ok(Departments {
        backends,
        corrections,
        event_tokens,
        #[cfg(feature = "demo")]
        embedded,
    })
}

/// What the verify path is made of, from the steps before.
struct VerifyParts {
    catalogue: Arc<Catalogue>,
    revocations: Revocations,
    rollout: Arc<Rollout>,
    kpis: KpiRecorder,
    verifier: Verifier,
    venues: Venues,
    registry: VenueRegistry,
    fetcher: Fetcher,
    metrics: Metrics,
}

fn verify_service(
    config: &GatewayConfig,
    parts: VerifyParts,
    node: &Node,
    audit: &AuditWriter,
) -> Arc<VerifyService> {
    // The queue-delay gate, when configured (off by default): its watcher runs only then.
    let queue = (config.limits.verify_queue_delay_ms > 0).then(|| {
        let queue = Arc::new(QueueDelay::new(
            Duration::from_millis(config.limits.verify_queue_delay_ms),
            parts.metrics.queue_delay(),
        ));
        QueueDelay::watch(&queue);
        queue
    });
    let admission = Admission::new(
        AdmissionSettings {
            target: Duration::from_millis(config.limits.verify_target_ms),
            min: config.limits.verify_min_in_flight,
            max: config.limits.verify_max_in_flight,
        },
        parts.metrics.verify_limit(),
        queue,
    );
    Arc::new(VerifyService {
        catalogue: parts.catalogue,
        rollout: parts.rollout,
        kpis: parts.kpis,
        verifier: parts.verifier,
        replay: ReplayGuard::new(&node.name, config.codes.clock_skew_secs),
        revocations: parts.revocations,
        signatures: SignatureBatcher::start(),
        verified_codes: VerifiedCodes::new(verified_codes::CAPACITY),
        clock_skew: Duration::from_secs(config.codes.clock_skew_secs.into()),
        venues: Arc::new(parts.venues),
        registry: parts.registry,
        fetcher: parts.fetcher,
        metrics: parts.metrics,
        limits: VerifyLimits {
            max_body_bytes: config.limits.max_body_bytes,
            body_timeout: Duration::from_millis(config.limits.body_timeout_ms),
            fetch_deadline: config.deadline(),
        },
        admission,
        subjects: node.subjects.clone(),
        audit: AuditRecorder {
            writer: audit.clone(),
            node: node.name.clone(),
            enabled: config.audit.enabled,
            wait_for_commit: config.audit.wait_for_commit,
            commit_timeout: Duration::from_millis(config.audit.commit_timeout_ms),
        },
    })
}

/// The public listener's routes: verify, the departments' events, objections, "who checked me",
/// a service window's materials.
fn public_routes(
    config: &GatewayConfig,
    service: &Arc<VerifyService>,
    desk: &ObjectionDesk,
    event_tokens: EventTokens,
) -> PublicHandler {
    let holder_limits = HolderLimits::new(
        service.registry.quotas().clone(),
        config.limits.holder_per_address_per_sec,
        config.limits.holder_per_subject_per_sec,
    );
    PublicHandler {
        service: Arc::clone(service),
        events: Arc::new(IssuerEvents {
            tokens: event_tokens,
            catalogue: Arc::clone(&service.catalogue),
            invalidations: desk.invalidations.clone(),
            subjects: service.subjects.clone(),
        }),
        objections: Arc::new(ObjectionFilingApi {
            service: Arc::clone(service),
            desk: desk.clone(),
            limits: holder_limits.clone(),
        }),
        accesses: Arc::new(HolderAccessesApi {
            service: Arc::clone(service),
            limits: holder_limits,
        }),
        materials: Arc::new(MaterialsService::new(Arc::clone(service))),
        commitments: Arc::new(CommitmentFilingApi {
            registry: service.registry.clone(),
            desk: commitment_desk(config, service, &desk.store),
            kpis: service.kpis.clone(),
        }),
        // Each listener serves these routes under its own label (`start_listeners`).
        listener: "public",
    }
}

/// The commitments desk (告知承诺): stateless over the store, so each listener's routes may
/// hold their own.
fn commitment_desk(
    config: &GatewayConfig,
    service: &Arc<VerifyService>,
    store: &Store,
) -> CommitmentDesk {
    CommitmentDesk::new(
        store.clone(),
        Arc::clone(&service.catalogue),
        &config.commitments,
        service.metrics.clone(),
    )
}

/// The admin listener's routes: probes, metrics, and the operator console's API over its
/// snapshots.
async fn admin_routes(
    config: &GatewayConfig,
    service: &Arc<VerifyService>,
    desk: ObjectionDesk,
    store: &Store,
    audit: &AuditWriter,
    readiness: &Readiness,
    shutdown: &Shutdown,
) -> AdminHandler {
    let snapshots = start_snapshots(service, store, audit, shutdown).await;
    let api = AdminApi::new(
        Operators::new(store.clone(), config.admin_token().as_deref()),
        desk,
        commitment_desk(config, service, store),
        service.registry.clone(),
        Arc::clone(&service.catalogue),
        snapshots,
        {
            let rollout = Arc::clone(&service.rollout);
            Arc::new(move || rollout.reload())
        },
    )
    .with_rollout(Arc::clone(&service.rollout));
    AdminHandler::new(service.metrics.clone(), readiness.clone()).with_api(api)
}

fn cache_settings(config: &GatewayConfig) -> CacheSettings {
    CacheSettings {
        capacity: config.fetch.cache_capacity,
        not_found_ttl: Duration::from_secs(config.fetch.not_found_ttl_secs.into()),
        ttl_jitter: config.fetch.ttl_jitter,
        stale_grace: Duration::from_secs(config.fetch.stale_grace_secs.into()),
    }
}

/// The operator console's snapshot, made once per second off the verify path.
async fn start_snapshots(
    service: &Arc<VerifyService>,
    store: &Store,
    audit: &AuditWriter,
    shutdown: &Shutdown,
) -> SnapshotFeed {
    SnapshotFeed::start(
        Sources {
            node: service.audit.node.clone(),
            metrics: service.metrics.clone(),
            backends: service.fetcher.clients().cloned().collect(),
            store: store.clone(),
            audit: audit.clone(),
            rollout: {
                let rollout = Arc::clone(&service.rollout);
                Arc::new(move || rollout.view_now())
            },
        },
        shutdown.clone(),
    )
    .await
}

/// What runs beside the requests until the shutdown: pruning spent codes, the membership
/// heartbeat, and the reloads of the TLS certificate and the rollout plan.
fn start_background_tasks(
    config: &GatewayConfig,
    store: &Store,
    membership: &Arc<Membership>,
    bound: &Bound,
    service: &VerifyService,
    shutdown: &Shutdown,
) {
    let _pruner = crate::audit::spent::spawn_pruner(
        store.clone(),
        config.codes.clock_skew_secs,
        shutdown.clone(),
    );
    let _subject_indexer =
        crate::audit::subject_index::spawn_indexer(store.clone(), shutdown.clone());
    let _heartbeat = membership.spawn_heartbeat(shutdown.clone());
    if let Some(tls) = &bound.tls {
        let _reloader = tls.spawn_reloader(Duration::from_secs(5), shutdown.clone());
    }
    let _rollout_reloader = service.rollout.spawn_reloader(
        Duration::from_secs(config.rollout.reload_check_secs),
        shutdown.clone(),
    );
    let _kpi_flusher = service
        .kpis
        .spawn_flusher(crate::kpis::FLUSH_EVERY, shutdown.clone());
}

/// The listeners serving, and where.
struct Listening {
    public_addr: SocketAddr,
    public_tls: bool,
    plain_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    certificate: Option<PathBuf>,
    tasks: JoinSet<Result<()>>,
    admin_shutdown: Shutdown,
    admin_task: Option<tokio::task::JoinHandle<Result<()>>>,
}

/// Serves the public routes on the public listener (and the plain loopback one), and the admin
/// routes on the admin listener, which outlives the drain so load balancers see `/readyz`
/// turn 503.
fn start_listeners(
    config: &GatewayConfig,
    bound: Bound,
    public: PublicHandler,
    admin: AdminHandler,
    metrics: &Metrics,
    shutdown: &Shutdown,
) -> Listening {
    let limits = server::Limits {
        header_read_timeout: Duration::from_millis(config.limits.header_read_timeout_ms),
        max_header_bytes: config.limits.max_header_bytes,
        max_headers: config.limits.max_headers,
        tls_handshake_timeout: Duration::from_millis(config.limits.tls_handshake_timeout_ms),
        keep_alive_idle: Duration::from_secs(config.limits.keep_alive_idle_secs),
        drain_timeout: Duration::from_millis(config.limits.drain_timeout_ms),
        max_connections: config.limits.max_connections,
        max_connections_per_address: config.limits.max_connections_per_address,
    };
    let public_tls = bound.tls.is_some();
    let public_name = if public_tls { "public" } else { "public_plain" };
    let listeners = [
        Some((
            Listener::new(public_name, bound.public, bound.tls, metrics)
                .behind(bound.proxies.clone()),
            public_name,
        )),
        bound.plain.map(|p| {
            (
                Listener::new("public_plain", p, None, metrics).behind(bound.proxies),
                "public_plain",
            )
        }),
    ];
    let mut tasks = JoinSet::new();
    for (listener, name) in listeners.into_iter().flatten() {
        let handler = PublicHandler {
            listener: name,
            ..public.clone()
        };
        tasks.spawn(server::serve(
            listener,
            handler,
            limits.clone(),
            shutdown.clone(),
        ));
    }
    let admin_shutdown = Shutdown::new();
    let admin_task = bound.admin.map(|listener| {
        tokio::spawn(server::serve(
            Listener::new("admin", listener, None, metrics),
            admin,
            limits,
            admin_shutdown.clone(),
        ))
    });
    Listening {
        public_addr: bound.public_addr,
        public_tls,
        plain_addr: bound.plain_addr,
        admin_addr: bound.admin_addr,
        certificate: bound.certificate,
        tasks,
        admin_shutdown,
        admin_task,
    }
}

/// Opens (and migrates) the store: `DATABASE_URL` or `store.url`, else SQLite in the data folder
/// (what the gateway and the `gateway venues` and `gateway operators` commands open).
pub async fn open_store(config: &GatewayConfig) -> Result<Store> {
    match config.store_url() {
        Some(url) => Store::open(&url)
            .await
            .with_context(|| format!("opening the store at `{}`", store::redact(&url))),
        None => {
            let dir = config.data_dir();
            Store::open_sqlite_in(&dir)
                .await
                .with_context(|| format!("opening the SQLite store in `{}`", dir.display()))
        }
    }
}

/// `audit.node`, else the host name, else `gateway`.
pub(crate) fn node_name(config: &GatewayConfig) -> String {
    config
        .audit
        .node
        .clone()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "gateway".to_string())
}

impl Gateway {
    /// Serves until the shutdown fires (a signal, or [`Shutdown::trigger`]) and the
    /// listeners have drained; then stops the embedded backends.
    pub async fn run(mut self) -> Result<()> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(e) = result {
                tracing::error!(error = %e, "a listener stopped");
                self.shutdown.trigger();
                first_error.get_or_insert(e);
            }
        }
        // Every accepted audit entry is committed before the process ends (bounded: a store
        // that stays down cannot hold the shutdown forever).
        let audit = self.service.audit.writer.clone();
        if tokio::time::timeout(Duration::from_secs(10), audit.shutdown())
            .await
            .is_err()
        {
            tracing::error!(
                backlog = audit.backlog(),
                "the store did not take the last audit entries within 10 s"
            );
        }
        // What this node counted for the plan's targets, after the last request (bounded too).
        match tokio::time::timeout(Duration::from_secs(10), self.service.kpis.flush()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the last KPI counters were not stored"),
            Err(_) => tracing::error!("the store did not take the last KPI counters within 10 s"),
        }
        self.membership.leave().await;
        self.admin_shutdown.trigger();
        if let Some(admin) = self.admin_task.take() {
            if let Err(e) = admin.await.map_err(anyhow::Error::from).and_then(|r| r) {
                first_error.get_or_insert(e);
            }
        }
        #[cfg(feature = "demo")]
        if let Some(issuer) = self.embedded.take() {
            issuer.shutdown().await;
        }
        first_error.map_or(Ok(()), Err)
    }
}
