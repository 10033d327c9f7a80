//! Assembling a gateway from its configuration and running it: catalogue, trust lists,
//! venues, embedded department backends for the demo, backend clients, the verify service,
//! and the listeners (public TLS, plain loopback, admin). `main.rs` and the tests both start
//! a gateway through [`start`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use wire::api::{HOLDER_ACCESSES_PATH, OBJECTIONS_PATH, VERIFY_PATH};
use wire::catalogue::model::{Endpoint, HolderKind};
use wire::catalogue::Catalogue;
use wire::code::{HolderClaims, Minter, Profile, Verifier};
use wire::issuer_api::{backend_name, RecordStatus, EVENTS_PATH};
use wire::keys::{SigningKey, TrustList};

use crate::admin::api::AdminApi;
use crate::admin::snapshot::{SnapshotFeed, Sources};
use crate::admin::{AdminHandler, Readiness};
use crate::audit::subject::load_or_create_subject_key;
use crate::audit::{
    load_or_create_node_key, AuditWriter, CheckpointSettings, SubjectHasher, WriterSettings,
};
use crate::cluster::membership::Membership;
use crate::cluster::quota::{self, QuotaSettings, Quotas};
use crate::cluster::replay::ReplayGuard;
use crate::config::{GatewayConfig, TlsMode};
use crate::demo;
use crate::departments::breaker::BreakerSettings;
use crate::departments::corrections::DepartmentAdmin;
use crate::departments::invalidation::Invalidations;
use crate::departments::issuer_events::IssuerEvents;
use crate::departments::upstream::{self, BackendClient};
use crate::error::Failure;
use crate::holder::accesses::HolderAccessesApi;
use crate::holder::objection_filing::ObjectionFilingApi;
use crate::http::server::{self, Handler, Listener};
use crate::http::tls::TlsAcceptor;
use crate::metrics::Metrics;
use crate::objections::ObjectionDesk;
use crate::shutdown::Shutdown;
use crate::venues::registry::VenueRegistry;
use crate::venues::{self, Venues};
use crate::verify::fetch::{Backends, CacheSettings, Fetcher};
use crate::verify::record::AuditRecorder;
use crate::verify::signature_batch::SignatureBatcher;
use crate::verify::{VerifyLimits, VerifyService};
use store::Store;

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    /// The public listener (HTTPS unless `tls.mode = "off"`).
    pub public_addr: SocketAddr,
    pub public_tls: bool,
    /// The plain-HTTP loopback listener, when configured.
    pub plain_addr: Option<SocketAddr>,
    pub admin_addr: SocketAddr,
    /// The self-signed or configured certificate clients should trust (PEM path).
    pub certificate: Option<std::path::PathBuf>,
    pub service: Arc<VerifyService>,
    /// Fires the drain: public listeners stop accepting and finish in-flight requests while
    /// `/readyz` answers 503; the admin listener stops after them.
    pub shutdown: Shutdown,
    admin_shutdown: Shutdown,
    admin_task: Option<tokio::task::JoinHandle<Result<()>>>,
    /// The embedded department backends (demo), when any endpoint is `embedded`.
    pub embedded: Option<issuer::RunningIssuer>,
    /// This node's lease on its name in the store.
    pub membership: Arc<Membership>,
    population_seed: u64,
    tasks: JoinSet<Result<()>>,
}

/// The public listener's routes.
#[derive(Clone)]
struct PublicHandler {
    service: Arc<VerifyService>,
    events: Arc<IssuerEvents>,
    objections: Arc<ObjectionFilingApi>,
    accesses: Arc<HolderAccessesApi>,
    listener: &'static str,
}

/// 405 with the method a path takes.
fn method_not_allowed(req: &Request<Incoming>, allow: &'static str) -> Response<Full<Bytes>> {
    let id = crate::http::request::request_id(req);
    let mut r = Failure::MethodNotAllowed.problem(&id).into_response();
    r.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    r
}

impl Handler for PublicHandler {
    async fn call(&self, req: Request<Incoming>, _peer: SocketAddr) -> Response<Full<Bytes>> {
        let (route, response) = match (req.method(), req.uri().path()) {
            (&Method::POST, VERIFY_PATH) => ("verify", self.service.handle(req).await),
            (&Method::POST, EVENTS_PATH) => ("issuer_events", self.events.handle(req).await),
            (&Method::POST, OBJECTIONS_PATH) => ("objections", self.objections.handle(req).await),
            (&Method::GET, HOLDER_ACCESSES_PATH) => {
                ("holder_accesses", self.accesses.handle(req).await)
            }
            (_, VERIFY_PATH) => ("verify", method_not_allowed(&req, "POST")),
            (_, OBJECTIONS_PATH) => ("objections", method_not_allowed(&req, "POST")),
            (_, HOLDER_ACCESSES_PATH) => ("holder_accesses", method_not_allowed(&req, "GET")),
            _ => {
                let id = crate::http::request::request_id(&req);
                ("other", Failure::NotFound.problem(&id).into_response())
            }
        };
        self.service
            .metrics
            .http(self.listener, route, response.status());
        response
    }
}

fn load_trust(path: Option<&Path>, embedded: &str, what: &str) -> Result<TrustList> {
    match path {
        Some(p) => {
            TrustList::load(p).with_context(|| format!("loading the {what} from `{}`", p.display()))
        }
        None => TrustList::parse(embedded).with_context(|| format!("the embedded demo {what}")),
    }
}

/// Starts a gateway: everything is loaded and bound before this returns, so a bad
/// configuration fails here with a clear error, and the addresses are real (port 0 works).
pub async fn start(config: GatewayConfig) -> Result<Gateway> {
    // Command-line overrides are applied after the file was validated.
    config.check_audit_switch().map_err(anyhow::Error::msg)?;
    if !config.audit.enabled {
        tracing::warn!("audit.enabled = false: verifications are not recorded (measurement only)");
    }
    let metrics = Metrics::new();
    let shutdown = Shutdown::new();
    let readiness = Readiness::new(shutdown.clone());
    let resolve = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| config.resolve(p));

    let catalogue = Arc::new(match resolve(&config.catalogue.dir) {
        Some(dir) => Catalogue::load(&dir)
            .with_context(|| format!("loading the catalogue from `{}`", dir.display()))?,
        None => Catalogue::embedded(),
    });
    metrics.prepare(
        catalogue.scenarios().iter().map(|s| s.id.as_str()),
        catalogue.certificates().iter().map(|c| c.code.as_str()),
    );
    let code_trust = load_trust(
        resolve(&config.codes.trust).as_deref(),
        demo::PLATFORM_TRUST,
        "code trust list",
    )?;
    let verifier = Verifier::new(code_trust)
        .accept(&config.codes.profiles)
        .clock_skew(config.codes.clock_skew_secs)
        .max_lifetime(config.codes.max_lifetime_secs);
    let venues = match resolve(&config.venues.file) {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading `{}`", path.display()))?;
            Venues::parse(&text, &path.display().to_string(), &catalogue)
        }
        None => Venues::parse(venues::EMBEDDED, "embedded venues.toml", &catalogue),
    }
    .map_err(anyhow::Error::msg)?;
    let store = open_store(&config).await?;
    let node = node_name(&config);
    let subject_key_path = resolve(&config.audit.subject_key_file)
        .unwrap_or_else(|| config.data_dir().join("subject-key"));
    let subjects = SubjectHasher::new(
        &load_or_create_subject_key(&subject_key_path)
            .with_context(|| format!("the subject-hash secret `{}`", subject_key_path.display()))?,
    );
    let node_key =
        load_or_create_node_key(&config.data_dir(), &node).context("the node's checkpoint key")?;
    let membership = Arc::new(
        Membership::join(store.clone(), &node, &node_key.kid().to_string(), &subjects)
            .await
            .with_context(|| format!("joining the store's nodes as `{node}`"))?,
    );
    let audit = AuditWriter::start(
        store
            .dedicated()
            .await
            .context("opening the audit writer's connection to the store")?,
        node.clone(),
        WriterSettings {
            max_batch: config.audit.max_batch,
            max_delay: Duration::from_millis(config.audit.max_delay_ms),
            backlog: config.audit.backlog,
            checkpoint: Some(CheckpointSettings {
                key: node_key,
                interval: Duration::from_secs(config.audit.checkpoint_interval_secs),
            }),
        },
    );
    // How many gateway nodes share the store, and so the venues' quotas, now: the live leases,
    // counted by the membership's heartbeat. A node admitting on its own (no Redis, or Redis
    // unreachable) takes that share.
    let quotas = Quotas::start(
        QuotaSettings::from_config(&config),
        membership.live_nodes(),
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
            .seed(&venues)
            .await
            .context("seeding the store with the venues file")?;
    }
    let seal_trust = load_trust(
        resolve(&config.departments.seal_trust).as_deref(),
        demo::DEPARTMENT_SEALS_TRUST,
        "department seal trust list",
    )?;

    // Listeners: bind everything first, so a taken port fails the start.
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
            let cert = resolve(&config.tls.cert).context("tls.cert")?;
            let key = resolve(&config.tls.key).context("tls.key")?;
            (Some(TlsAcceptor::from_pem_files(&cert, &key)?), Some(cert))
        }
    };
    let public = bind(config.listen.public, "public").await?;
    let plain = match config.listen.public_plain {
        Some(addr) => Some(bind(addr, "public plain").await?),
        None => None,
    };
    let admin = bind(config.listen.admin, "admin").await?;
    let public_addr = public.local_addr()?;
    let plain_addr = plain.as_ref().map(TcpListener::local_addr).transpose()?;
    let admin_addr = admin.local_addr()?;

    // The embedded departments push their changes to a plain-HTTP listener (the issuer speaks
    // plain HTTP only) with a token made for this run.
    let mut event_tokens = crate::departments::issuer_events::EventTokens::from_config(
        &config.departments.event_tokens,
    )
    .map_err(anyhow::Error::msg)?;
    let plain_public = (config.tls.mode == TlsMode::Off).then_some(public_addr);
    let embedded_notify = plain_addr.or(plain_public).map(|addr| {
        let token = crate::departments::issuer_events::fresh_token();
        (format!("http://{addr}"), token)
    });
    // The gateway tells the embedded departments of corrections through their admin endpoint.
    let embedded_admin_token = config
        .departments
        .embedded_admin_token
        .clone()
        .or_else(|| std::env::var("MIANZHENG_EMBEDDED_ADMIN_TOKEN").ok())
        .unwrap_or_else(crate::departments::issuer_events::fresh_token);
    let embedded = start_embedded_issuers(
        &config,
        &catalogue,
        embedded_notify.clone(),
        &embedded_admin_token,
    )
    .await?;
    if let (Some(_), Some((_, token))) = (&embedded, &embedded_notify) {
        event_tokens.allow(token, issuer_departments(&catalogue));
    }
    if embedded.is_some() && embedded_notify.is_none() {
        tracing::warn!(
            "no plain-HTTP listener: the embedded departments cannot push their changes"
        );
    }

    let connector = upstream::connector(match resolve(&config.departments.ca_file) {
        Some(ca) => Some(crate::http::tls::client_config_trusting(&ca)?),
        None => None,
    });
    let mut department_admin = DepartmentAdmin::new(connector.clone());
    if let Some(issuer) = &embedded {
        for department in issuer_departments(&catalogue) {
            department_admin.add(&department, &issuer.url(), &embedded_admin_token);
        }
    }
    let breaker = BreakerSettings {
        failures: config.fetch.breaker_failures,
        open: Duration::from_millis(config.fetch.breaker_open_ms),
        open_max: Duration::from_millis(config.fetch.breaker_open_max_ms),
    };
    let mut backends: Backends = HashMap::new();
    for department in catalogue.departments() {
        for backend in &department.backends {
            let url = match &backend.endpoint {
                Endpoint::Url(url) => url.clone(),
                Endpoint::Embedded => embedded
                    .as_ref()
                    .map(|issuer| issuer.base_url(&backend.department, backend.scope))
                    .context("an embedded backend without the embedded issuer")?,
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
    let fetcher = Fetcher::new(
        backends,
        Arc::clone(&catalogue),
        Arc::new(seal_trust),
        metrics.clone(),
        CacheSettings {
            capacity: config.fetch.cache_capacity,
            not_found_ttl: Duration::from_secs(config.fetch.not_found_ttl_secs.into()),
            ttl_jitter: config.fetch.ttl_jitter,
            stale_grace: Duration::from_secs(config.fetch.stale_grace_secs.into()),
        },
    );
    let rollout = Arc::new(crate::admin::rollout::Rollout::load(
        &config,
        Arc::clone(&catalogue),
    )?);
    let service = Arc::new(VerifyService {
        catalogue,
        rollout,
        verifier,
        replay: ReplayGuard::new(&node, config.codes.clock_skew_secs),
        signatures: SignatureBatcher::start(),
        venues: Arc::new(venues),
        registry,
        fetcher,
        metrics: metrics.clone(),
        limits: VerifyLimits {
            max_body_bytes: config.limits.max_body_bytes,
            body_timeout: Duration::from_millis(config.limits.body_timeout_ms),
            fetch_deadline: config.deadline(),
        },
        subjects,
        audit: AuditRecorder {
            writer: audit.clone(),
            node,
            enabled: config.audit.enabled,
            wait_for_commit: config.audit.wait_for_commit,
            commit_timeout: Duration::from_millis(config.audit.commit_timeout_ms),
        },
    });

    let limits = server::Limits {
        header_read_timeout: Duration::from_millis(config.limits.header_read_timeout_ms),
        max_header_bytes: config.limits.max_header_bytes,
        max_headers: config.limits.max_headers,
        tls_handshake_timeout: Duration::from_millis(config.limits.tls_handshake_timeout_ms),
        keep_alive_idle: Duration::from_secs(config.limits.keep_alive_idle_secs),
        drain_timeout: Duration::from_millis(config.limits.drain_timeout_ms),
    };
    let invalidations = Invalidations::start(
        service.fetcher.clone(),
        service.registry.clone(),
        &store,
        metrics.clone(),
        shutdown.clone(),
    );
    let events = Arc::new(IssuerEvents {
        tokens: event_tokens,
        catalogue: Arc::clone(&service.catalogue),
        invalidations: invalidations.clone(),
        subjects: service.subjects.clone(),
    });
    let desk = ObjectionDesk {
        store: store.clone(),
        catalogue: Arc::clone(&service.catalogue),
        invalidations: invalidations.clone(),
        departments: department_admin,
    };
    let objections = Arc::new(ObjectionFilingApi {
        service: Arc::clone(&service),
        desk: desk.clone(),
    });
    let accesses = Arc::new(HolderAccessesApi {
        service: Arc::clone(&service),
    });
    let snapshots = SnapshotFeed::start(
        Sources {
            node: service.audit.node.clone(),
            metrics: metrics.clone(),
            fetcher: service.fetcher.clone(),
            store: store.clone(),
            audit: audit.clone(),
            rollout: {
                let rollout = Arc::clone(&service.rollout);
                Arc::new(move || rollout.view_now())
            },
        },
        shutdown.clone(),
    )
    .await;
    let admin_api = AdminApi::new(
        config.admin_token().as_deref(),
        desk,
        service.registry.clone(),
        Arc::clone(&service.catalogue),
        snapshots,
        {
            let rollout = Arc::clone(&service.rollout);
            Arc::new(move || rollout.reload())
        },
    );
    let mut tasks = JoinSet::new();
    let _pruner = crate::audit::spent::spawn_pruner(
        store.clone(),
        config.codes.clock_skew_secs,
        shutdown.clone(),
    );
    let _heartbeat = membership.spawn_heartbeat(shutdown.clone());
    if let Some(tls) = &tls {
        let _reloader = tls.spawn_reloader(Duration::from_secs(5), shutdown.clone());
    }
    let _rollout_reloader = service.rollout.spawn_reloader(
        Duration::from_secs(config.rollout.reload_check_secs),
        shutdown.clone(),
    );
    let public_tls = tls.is_some();
    let public_name = if public_tls { "public" } else { "public_plain" };
    let listeners = [
        Some((
            Listener::new(public_name, public, tls, &metrics),
            public_name,
        )),
        plain.map(|p| {
            (
                Listener::new("public_plain", p, None, &metrics),
                "public_plain",
            )
        }),
    ];
    for (listener, name) in listeners.into_iter().flatten() {
        let handler = PublicHandler {
            service: Arc::clone(&service),
            events: Arc::clone(&events),
            objections: Arc::clone(&objections),
            accesses: Arc::clone(&accesses),
            listener: name,
        };
        tasks.spawn(server::serve(
            listener,
            handler,
            limits.clone(),
            shutdown.clone(),
        ));
    }
    // The admin listener outlives the drain, so load balancers see `/readyz` turn 503.
    let admin_shutdown = Shutdown::new();
    let admin_task = tokio::spawn(server::serve(
        Listener::new("admin", admin, None, &metrics),
        AdminHandler::new(metrics.clone(), readiness.clone()).with_api(admin_api),
        limits,
        admin_shutdown.clone(),
    ));
    readiness.set_ready();
    Ok(Gateway {
        public_addr,
        public_tls,
        plain_addr,
        admin_addr,
        certificate,
        service,
        shutdown,
        admin_shutdown,
        admin_task: Some(admin_task),
        embedded,
        membership,
        population_seed: config.departments.population_seed,
        tasks,
    })
}

/// Opens (and migrates) the store: `DATABASE_URL` or `store.url`, else SQLite in the data folder.
async fn open_store(config: &GatewayConfig) -> Result<Store> {
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
fn node_name(config: &GatewayConfig) -> String {
    config
        .audit
        .node
        .clone()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "gateway".to_string())
}

/// The departments with at least one embedded backend.
fn issuer_departments(catalogue: &Catalogue) -> Vec<String> {
    catalogue
        .departments()
        .iter()
        .filter(|d| d.backends.iter().any(|b| b.endpoint == Endpoint::Embedded))
        .map(|d| d.id.clone())
        .collect()
}

/// Starts one in-process issuer on a loopback port for every backend whose endpoint is
/// `embedded` (the demo), with the embedded or configured seal keys; `notify` = (gateway URL,
/// token) for its change notifications.
async fn start_embedded_issuers(
    config: &GatewayConfig,
    catalogue: &Arc<Catalogue>,
    notify: Option<(String, String)>,
    admin_token: &str,
) -> Result<Option<issuer::RunningIssuer>> {
    let embedded = issuer_departments(catalogue);
    if embedded.is_empty() {
        return Ok(None);
    }
    let keys: Vec<SigningKey> = match config
        .departments
        .embedded_seal_keys
        .as_ref()
        .map(|p| config.resolve(p))
    {
        Some(path) => wire::keys::load_signing_keys(&path)
            .with_context(|| format!("loading seal keys from `{}`", path.display()))?,
        None => issuer::seal_keys::demo_seal_keys(),
    };
    let mut issuer_config = issuer::IssuerConfig::new(Arc::clone(catalogue), keys);
    issuer_config.departments = Some(embedded);
    issuer_config.seed = config.departments.population_seed;
    if let Some((url, token)) = notify {
        let mut notify = issuer::config::NotifyConfig::new(url);
        notify.default_token = Some(token);
        issuer_config.notify = Some(notify);
    }
    issuer_config.admin_token = Some(admin_token.to_owned());
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding the embedded issuers' loopback port")?;
    let running = issuer::start(issuer_config, listener)
        .await
        .context("starting the embedded department backends")?;
    Ok(Some(running))
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
        self.membership.leave().await;
        self.admin_shutdown.trigger();
        if let Some(admin) = self.admin_task.take() {
            if let Err(e) = admin.await.map_err(anyhow::Error::from).and_then(|r| r) {
                first_error.get_or_insert(e);
            }
        }
        if let Some(issuer) = self.embedded.take() {
            issuer.shutdown().await;
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A ready-to-paste request that verifies a freshly minted demo code for a holder who
    /// passes `park-entry-senior` (an embedded demo only: it needs the synthetic population).
    pub fn demo_request(&self) -> Option<DemoRequest> {
        self.embedded.as_ref()?;
        let scenario = "park-entry-senior";
        let service = &self.service;
        let (_, key) = service.venues.demo_for(scenario)?;
        let population = issuer::population::Population::new(self.population_seed);
        let today = wire::calendar::china_today(chrono::Utc::now());
        let handle = population
            .find_handles("demo-senior-", 1, |h| {
                population.person(h).age_on(today) >= 60
                    && population
                        .record_in(
                            &service.catalogue,
                            h,
                            HolderKind::Person,
                            "senior-citizen-card",
                            today,
                        )
                        .is_some_and(|r| {
                            r.status == RecordStatus::Valid
                                && r.valid_until.is_none_or(|u| u > today)
                        })
            })
            .pop()?;
        let city = population.person(&handle).home_city;
        let signing = wire::keys::parse_signing_keys(demo::PLATFORM_SECRET)
            .ok()?
            .into_iter()
            .find(|k| k.algorithm() == Profile::Eddsa.algorithm())?;
        let now = chrono::Utc::now().timestamp();
        let claims = HolderClaims {
            issuer: "mianzheng-platform".into(),
            subject: handle.clone(),
            kind: HolderKind::Person,
            city: Some(city),
            issued_at: now,
            expires_at: now + 600,
            nonce: rand::random::<[u8; 16]>().to_vec(),
            scope: None,
        };
        let code = Minter::new(signing).mint(&claims);
        let (scheme, addr, insecure) = match self.plain_addr {
            Some(addr) => ("http", addr, ""),
            None => ("https", self.public_addr, " -k"),
        };
        Some(DemoRequest {
            curl: format!(
                "curl -s{insecure} {scheme}://{addr}{VERIFY_PATH} -H 'authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"code\":\"{code}\",\"scenario\":\"{scenario}\"}}'"
            ),
            mint: format!("cargo run -q -p gateway -- code mint --subject {handle} --kind person --city {city} --format raw"),
        })
    }
}

/// What the demo prints so a newcomer sees a `pass`.
#[derive(Debug, Clone)]
pub struct DemoRequest {
    pub curl: String,
    pub mint: String,
}
