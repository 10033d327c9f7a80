//! What the gateway counts, in one registry, exposed by the admin listener's `/metrics`.
//!
//! [`Metrics`] is a cheap `Clone` handle; every stage records through its small typed
//! methods, so metric names, label names and buckets are written down only here.
//!
//! **Label values come only from bounded sets**: listener names, static route names, status
//! codes, scenario ids and certificate codes from the configuration, backend ids, machine
//! error codes, and the closed verdict / outcome / cache-name sets listed on each method.
//! Never pass anything a client chose (a subject, a venue key, a raw path): every distinct
//! value is a new time series kept for the life of the process. Debug builds assert the
//! closed sets.
//!
//! The text is OpenMetrics 1.0 (what `prometheus-client` writes: counters as `<name>_total`,
//! a final `# EOF`), so `/metrics` says so in its content type ([`CONTENT_TYPE`]); Prometheus
//! negotiates that format itself.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Verdicts, overall and per requirement.
pub const VERDICTS: [&str; 4] = ["pass", "fail", "unavailable", "not_offered"];
/// Outcomes of one upstream call.
pub const UPSTREAM_OUTCOMES: [&str; 6] = [
    "ok",
    "error",
    "timeout",
    "breaker_open",
    "rejected",
    "stale_record",
];
/// The caches that report hits and misses (`signatures`: codes whose signature verified before,
/// [`crate::verify::verified_codes`]).
pub const CACHES: [&str; 4] = ["records", "venues", "replay", "signatures"];
/// Where a record-cache invalidation came from: this node, another node (LISTEN/NOTIFY), or a
/// whole-cache flush after the listener reconnected.
pub const INVALIDATIONS: [&str; 3] = ["local", "remote", "flush"];
/// What became of a commitment (告知承诺), as [`Metrics::commitment`] counts it.
pub const COMMITMENT_OUTCOMES: [&str; 3] = ["filed", "confirmed", "false"];
/// How this node holds venue quotas ([`crate::cluster::quota::Mode`]).
pub const QUOTA_MODES: [&str; 3] = ["shared", "fallback", "local"];

/// Seconds. From half a millisecond (a cache hit and one signature check) to two seconds (past
/// any request deadline), roughly doubling, so both the fast path and a slow department show.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
];

type Label = Cow<'static, str>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    listener: Label,
    route: Label,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerificationLabels {
    scenario: Label,
    verdict: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScenarioLabels {
    scenario: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: Label,
    result: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    backend: Label,
    outcome: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequirementLabels {
    certificate: Label,
    verdict: Label,
}

/// What was presented when not a code on the holder's own phone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PresentationLabels {
    /// `phone`, `paper` or `card_reader`.
    means: Label,
    /// `holder`, `agent` or `family`.
    presenter: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevocationLabels {
    /// `delegation` or `paper_code`.
    kind: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MaterialLabels {
    source: Label,
    status: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommitmentLabels {
    department: Label,
    outcome: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    listener: Label,
    /// `total` (the listener's cap) or `per_address` (one client address's cap).
    cap: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: Label,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The gateway's metrics. Clone it freely: clones share one registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    verifications: Family<VerificationLabels, Counter>,
    verify_duration: HistogramFamily<ScenarioLabels>,
    code_rejections: Family<CodeLabels, Counter>,
    cache_requests: Family<CacheLabels, Counter>,
    upstream_requests: Family<UpstreamLabels, Counter>,
    upstream_duration: HistogramFamily<BackendLabels>,
    requirements: Family<RequirementLabels, Counter>,
    paper_fallbacks: Family<ScenarioLabels, Counter>,
    materials_requests: Family<SourceLabels, Counter>,
    materials: Family<MaterialLabels, Counter>,
    commitments: Family<CommitmentLabels, Counter>,
    in_flight: Family<ListenerLabels, Gauge>,
    open_connections: Family<ListenerLabels, Gauge>,
    connections_refused: Family<RefusedLabels, Counter>,
    invalidations: Family<SourceLabels, Counter>,
    presentations: Family<PresentationLabels, Counter>,
    revocations_received: Family<RevocationLabels, Counter>,
    quota_mode: Family<ModeLabels, Gauge>,
    /// The verify route's adaptive limit on verifications in flight (`verify::admission`).
    verify_limit: Gauge,
    /// How long a ready task waits for the runtime (`verify::admission::QueueDelay`).
    queue_delay: Gauge<f64, AtomicU64>,
    quota_fallbacks: Counter,
    /// Handles to the series of the configured scenarios and certificate types, made once
    /// by [`Metrics::prepare`] so the verify path bumps atomics instead of looking up label
    /// sets (a lock, a hash and an allocation per call).
    prepared: OnceLock<Prepared>,
    /// `[cache][miss, hit]` for the closed set [`CACHES`].
    cache_series: [[Counter; 2]; 4],
    /// The same events as plain atomics, for the console's snapshot.
    live: crate::admin::live::Live,
    /// Metrics of parts that start after the registry (the audit writer).
    later: Later,
}

/// A collector given after the registry is built, encoded at every scrape once given.
#[derive(Debug, Clone, Default)]
struct Later(Arc<OnceLock<Box<dyn Collector>>>);

impl Collector for Later {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        match self.0.get() {
            Some(collector) => collector.encode(encoder),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Default)]
struct Prepared {
    scenarios: HashMap<String, ScenarioSeries>,
    certificates: HashMap<String, [Counter; 4]>,
}

#[derive(Debug)]
struct ScenarioSeries {
    verdicts: [Counter; 4],
    paper_fallbacks: Counter,
    duration: Histogram,
}

/// One counter per verdict, in [`VERDICTS`] order.
fn verdict_series<S>(
    family: &Family<S, Counter>,
    labels: impl Fn(&'static str) -> S,
) -> [Counter; 4]
where
    S: Clone + std::hash::Hash + Eq,
{
    VERDICTS.map(|v| family.get_or_create(&labels(v)).clone())
}

fn verdict_index(verdict: &str) -> usize {
    VERDICTS.iter().position(|v| *v == verdict).unwrap_or(1)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered (and empty).
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let http_requests = Family::default();
        let verifications = Family::default();
        let verify_duration = HistogramFamily::new_with_constructor(latency_histogram as fn() -> _);
        let code_rejections = Family::default();
        let cache_requests: Family<CacheLabels, Counter> = Family::default();
        let upstream_requests = Family::default();
        let upstream_duration =
            HistogramFamily::new_with_constructor(latency_histogram as fn() -> _);
        let requirements = Family::default();
        let paper_fallbacks = Family::default();
        let materials_requests = Family::default();
        let materials = Family::default();
        let commitments = Family::default();
        let in_flight = Family::default();
        let open_connections = Family::default();
        let connections_refused = Family::default();
        let invalidations = Family::default();
        let presentations = Family::default();
        let revocations_received = Family::default();
        let quota_mode = Family::default();
        let quota_fallbacks = Counter::default();
        let verify_limit = Gauge::default();
        let queue_delay = Gauge::<f64, AtomicU64>::default();

        let cache_series = CACHES.map(|cache| {
            ["miss", "hit"].map(|result| {
                cache_requests
                    .get_or_create(&CacheLabels {
                        cache: Cow::Borrowed(cache),
                        result: Cow::Borrowed(result),
                    })
                    .clone()
            })
        });

        // Counter names are given without `_total`: the encoder appends it.
        registry.register(
            "mz_http_requests",
            "HTTP requests answered, by listener, route and status",
            http_requests.clone(),
        );
        registry.register(
            "mz_verifications",
            "Verifications answered, by scenario and overall verdict",
            verifications.clone(),
        );
        registry.register(
            "mz_verify_duration_seconds",
            "Time from admitting a verify request to its answer, by scenario",
            verify_duration.clone(),
        );
        registry.register(
            "mz_code_rejections",
            "Holder codes rejected, by machine code",
            code_rejections.clone(),
        );
        registry.register(
            "mz_cache_requests",
            "Cache look-ups, by cache and result (hit or miss)",
            cache_requests.clone(),
        );
        registry.register(
            "mz_upstream_requests",
            "Calls to department backends, by backend and outcome",
            upstream_requests.clone(),
        );
        registry.register(
            "mz_upstream_duration_seconds",
            "Duration of calls that reached a department backend, by backend",
            upstream_duration.clone(),
        );
        registry.register(
            "mz_requirements",
            "Requirement verdicts, by certificate type and verdict",
            requirements.clone(),
        );
        registry.register(
            "mz_materials_requests",
            "Service items' materials answered (POST /v1/materials), by the source of the item's \
             materials list (plan or assumed)",
            materials_requests.clone(),
        );
        registry.register(
            "mz_materials",
            "Materials of the service items answered, by the source of the item's materials list \
             and status (provided, commitment_allowed, must_present, unavailable)",
            materials.clone(),
        );
        registry.register(
            "mz_paper_fallbacks",
            "Verifications answered unavailable or not_offered, so the venue falls back to paper, by scenario",
            paper_fallbacks.clone(),
        );
        registry.register(
            "mz_commitments",
            "Commitments (告知承诺) recorded and post-checked, by the department that checks them \
             and outcome (filed; confirmed or false once checked)",
            commitments.clone(),
        );
        registry.register(
            "mz_in_flight_requests",
            "Requests being handled now, by listener",
            in_flight.clone(),
        );
        registry.register(
            "mz_open_connections",
            "Open client connections (including TLS handshakes), by listener",
            open_connections.clone(),
        );
        registry.register(
            "mz_connections_refused",
            "Connections closed at accept because a cap was reached, by listener and cap (total or per_address)",
            connections_refused.clone(),
        );
        registry.register(
            "mz_record_cache_invalidations",
            "Record-cache invalidations, by source (local, remote node, flush on reconnect)",
            invalidations.clone(),
        );
        registry.register(
            "mz_presentations",
            "Verifications answered where the holder did not show a code on their own phone, by means (phone, paper: a printed code, card_reader: the ID card in the venue's reader) and presenter (holder, agent, family): how many still rely on the fallbacks and on others",
            presentations.clone(),
        );
        registry.register(
            "mz_revocations_received",
            "Revocations this node received from the store as they were committed (PostgreSQL LISTEN/NOTIFY), by kind (delegation, paper_code); applied before the count is taken",
            revocations_received.clone(),
        );
        registry.register(
            "mz_quota_mode",
            "How this node holds venue quotas: 1 for the mode in force (shared: in Redis; fallback: Redis unreachable, the node's share; local: no Redis configured, the node's share)",
            quota_mode.clone(),
        );
        registry.register(
            "mz_verify_in_flight_limit",
            "The verify route's adaptive limit on verifications in flight: beyond it a verification is refused at once with 503 gateway.overloaded (counted in mz_code_rejections)",
            verify_limit.clone(),
        );
        registry.register(
            "mz_runtime_queue_delay_seconds",
            "How long a task that became ready waited for the runtime, last measured (every 5 ms, only while limits.verify_queue_delay_ms is set; 0 otherwise): beyond it new verifications are refused with 503 gateway.overloaded",
            queue_delay.clone(),
        );
        registry.register(
            "mz_quota_fallbacks",
            "Times this node lost the shared venue quotas and fell back to its share",
            quota_fallbacks.clone(),
        );
        let later = Later::default();
        registry.register_collector(Box::new(later.clone()));

        Metrics {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                verifications,
                verify_duration,
                code_rejections,
                cache_requests,
                upstream_requests,
                upstream_duration,
                requirements,
                paper_fallbacks,
                materials_requests,
                materials,
                commitments,
                in_flight,
                open_connections,
                connections_refused,
                invalidations,
                presentations,
                revocations_received,
                quota_mode,
                quota_fallbacks,
                verify_limit,
                queue_delay,
                prepared: OnceLock::new(),
                cache_series,
                live: crate::admin::live::Live::default(),
                later,
            }),
        }
    }

    /// Adds the metrics of a part that starts after the registry (the audit writer's,
    /// `crate::audit::metrics`); the first one given is kept.
    pub fn collect(&self, collector: Box<dyn Collector>) {
        let _ = self.inner.later.0.set(collector);
    }

    /// Creates every series of these scenarios and certificate types now (they show as zero
    /// from the start) and keeps handles for the verify path. Call once, at start-up.
    pub fn prepare<'a>(
        &self,
        scenarios: impl IntoIterator<Item = &'a str>,
        certificates: impl IntoIterator<Item = &'a str>,
    ) {
        let inner = &self.inner;
        let mut prepared = Prepared::default();
        for id in scenarios {
            let scenario: Label = Cow::Owned(id.to_owned());
            let verdicts = verdict_series(&inner.verifications, |v| VerificationLabels {
                scenario: scenario.clone(),
                verdict: Cow::Borrowed(v),
            });
            let labels = ScenarioLabels { scenario };
            prepared.scenarios.insert(
                id.to_owned(),
                ScenarioSeries {
                    verdicts,
                    paper_fallbacks: inner.paper_fallbacks.get_or_create(&labels).clone(),
                    duration: inner.verify_duration.get_or_create(&labels).clone(),
                },
            );
        }
        for code in certificates {
            let certificate: Label = Cow::Owned(code.to_owned());
            let verdicts = verdict_series(&inner.requirements, |v| RequirementLabels {
                certificate: certificate.clone(),
                verdict: Cow::Borrowed(v),
            });
            prepared.certificates.insert(code.to_owned(), verdicts);
        }
        if inner.prepared.set(prepared).is_err() {
            tracing::warn!("metrics prepared twice; keeping the first set");
        }
    }

    /// One answered request. `route` is the route's static name (`verify`, `readyz`,
    /// `not_found`), never the raw path.
    pub fn http(&self, listener: &'static str, route: &'static str, status: http::StatusCode) {
        let labels = HttpLabels {
            listener: Cow::Borrowed(listener),
            route: Cow::Borrowed(route),
            status: status.as_u16(),
        };
        self.inner.http_requests.get_or_create(&labels).inc();
        if route == "verify" && status != http::StatusCode::OK {
            self.inner.live.outcome("refused");
        }
    }

    /// Requests being handled now on the public listeners.
    pub fn public_in_flight(&self) -> i64 {
        ["public", "public_plain"]
            .iter()
            .map(|l| self.listener(l).in_flight())
            .sum()
    }

    /// The live counters (read by the snapshot task).
    pub fn live(&self) -> &crate::admin::live::Live {
        &self.inner.live
    }

    /// One verification answered with `verdict` (one of [`VERDICTS`]) after `elapsed`.
    /// An `unavailable` or `not_offered` verdict also counts a paper fallback: that is what the
    /// venue does.
    pub fn verification(&self, scenario: &str, verdict: &'static str, elapsed: Duration) {
        debug_assert!(VERDICTS.contains(&verdict), "verdict `{verdict}`");
        self.inner.live.outcome(verdict);
        self.inner.live.latency.observe(elapsed);
        if let Some(series) = self
            .inner
            .prepared
            .get()
            .and_then(|p| p.scenarios.get(scenario))
        {
            series.verdicts[verdict_index(verdict)].inc();
            if matches!(verdict, "unavailable" | "not_offered") {
                series.paper_fallbacks.inc();
            }
            series.duration.observe(elapsed.as_secs_f64());
            return;
        }
        let scenario: Label = Cow::Owned(scenario.to_owned());
        self.inner
            .verifications
            .get_or_create(&VerificationLabels {
                scenario: scenario.clone(),
                verdict: Cow::Borrowed(verdict),
            })
            .inc();
        if matches!(verdict, "unavailable" | "not_offered") {
            self.inner
                .paper_fallbacks
                .get_or_create(&ScenarioLabels {
                    scenario: scenario.clone(),
                })
                .inc();
        }
        self.inner
            .verify_duration
            .get_or_create(&ScenarioLabels { scenario })
            .observe(elapsed.as_secs_f64());
    }

    /// A holder code rejected with machine `code` (the problem code the venue saw).
    pub fn rejection(&self, code: &'static str) {
        self.inner
            .code_rejections
            .get_or_create(&CodeLabels {
                code: Cow::Borrowed(code),
            })
            .inc();
    }

    /// One record-cache invalidation from `source` (one of [`INVALIDATIONS`]).
    /// A verification answered where the holder did not show a code on their own phone
    /// (`means` other than phone, or a presenter: `agent`, `family`); not called otherwise.
    pub fn presentation(&self, means: &'static str, presenter: &'static str) {
        self.inner
            .presentations
            .get_or_create(&PresentationLabels {
                means: Cow::Borrowed(means),
                presenter: Cow::Borrowed(presenter),
            })
            .inc();
    }

    /// A revocation received from the store and applied (after it is applied).
    pub fn revocation_received(&self, kind: &'static str) {
        self.inner
            .revocations_received
            .get_or_create(&RevocationLabels {
                kind: Cow::Borrowed(kind),
            })
            .inc();
    }

    pub fn invalidation(&self, source: &'static str) {
        debug_assert!(INVALIDATIONS.contains(&source), "source `{source}`");
        self.inner
            .invalidations
            .get_or_create(&SourceLabels {
                source: Cow::Borrowed(source),
            })
            .inc();
    }

    /// The gauge of the verify route's limit on verifications in flight, for its
    /// [`crate::verify::admission::Admission`] to set.
    pub fn verify_limit(&self) -> Gauge {
        self.inner.verify_limit.clone()
    }

    /// The gauge of the runtime's queue delay, for its
    /// [`crate::verify::admission::QueueDelay`] to set.
    pub fn queue_delay(&self) -> Gauge<f64, AtomicU64> {
        self.inner.queue_delay.clone()
    }

    /// The quota mode in force now (one of [`QUOTA_MODES`]): its series is 1, the others 0.
    pub fn quota_mode(&self, mode: &'static str) {
        debug_assert!(QUOTA_MODES.contains(&mode), "mode `{mode}`");
        for m in QUOTA_MODES {
            let labels = ModeLabels {
                mode: Cow::Borrowed(m),
            };
            self.inner
                .quota_mode
                .get_or_create(&labels)
                .set(i64::from(m == mode));
        }
    }

    /// The node lost the shared quotas and fell back to its share.
    pub fn quota_fallback(&self) {
        self.inner.quota_fallbacks.inc();
    }

    /// One look-up in `cache` (one of [`CACHES`]).
    pub fn cache(&self, cache: &'static str, hit: bool) {
        debug_assert!(CACHES.contains(&cache), "cache `{cache}`");
        if cache == "records" {
            self.inner.live.record_lookup(hit);
        }
        if let Some(i) = CACHES.iter().position(|c| *c == cache) {
            self.inner.cache_series[i][usize::from(hit)].inc();
            return;
        }
        let labels = CacheLabels {
            cache: Cow::Borrowed(cache),
            result: Cow::Borrowed(if hit { "hit" } else { "miss" }),
        };
        self.inner.cache_requests.get_or_create(&labels).inc();
    }

    /// One call to department `backend` with `outcome` (one of [`UPSTREAM_OUTCOMES`]).
    /// The duration histogram only takes calls that were attempted: `breaker_open` answers
    /// take no time and would drag the percentiles down exactly when a backend is bad.
    pub fn upstream(&self, backend: &str, outcome: &'static str, elapsed: Duration) {
        debug_assert!(UPSTREAM_OUTCOMES.contains(&outcome), "outcome `{outcome}`");
        self.inner.live.upstream(backend, outcome, elapsed);
        let backend: Label = Cow::Owned(backend.to_owned());
        self.inner
            .upstream_requests
            .get_or_create(&UpstreamLabels {
                backend: backend.clone(),
                outcome: Cow::Borrowed(outcome),
            })
            .inc();
        if outcome != "breaker_open" {
            self.inner
                .upstream_duration
                .get_or_create(&BackendLabels { backend })
                .observe(elapsed.as_secs_f64());
        }
    }

    /// One service item's materials answered: each material by its status, under the source of
    /// the item's materials list (`plan` or `assumed`, a closed set), and in the live figures.
    pub fn materials(&self, response: &wire::materials_api::MaterialsResponse) {
        let source: Label = Cow::Owned(response.source.clone());
        self.inner
            .materials_requests
            .get_or_create(&SourceLabels {
                source: source.clone(),
            })
            .inc();
        for material in &response.materials {
            self.inner.live.material(material.status);
            self.inner
                .materials
                .get_or_create(&MaterialLabels {
                    source: source.clone(),
                    status: Cow::Borrowed(material.status.as_str()),
                })
                .inc();
        }
        self.inner.live.materials_request();
    }

    /// One requirement decided: `certificate` is the certificate type's code, `verdict` one
    /// of [`VERDICTS`].
    pub fn requirement(&self, certificate: &str, verdict: &'static str) {
        debug_assert!(VERDICTS.contains(&verdict), "verdict `{verdict}`");
        if let Some(series) = self
            .inner
            .prepared
            .get()
            .and_then(|p| p.certificates.get(certificate))
        {
            series[verdict_index(verdict)].inc();
            return;
        }
        let labels = RequirementLabels {
            certificate: Cow::Owned(certificate.to_owned()),
            verdict: Cow::Borrowed(verdict),
        };
        self.inner.requirements.get_or_create(&labels).inc();
    }

    /// A commitment filed, or its post-check resolved: `outcome` is one of
    /// [`COMMITMENT_OUTCOMES`], `department` a catalogue department (a bounded set).
    pub fn commitment(&self, department: &str, outcome: &'static str) {
        debug_assert!(
            COMMITMENT_OUTCOMES.contains(&outcome),
            "outcome `{outcome}`"
        );
        let labels = CommitmentLabels {
            department: Cow::Owned(department.to_owned()),
            outcome: Cow::Borrowed(outcome),
        };
        self.inner.commitments.get_or_create(&labels).inc();
    }

    /// The connection and in-flight gauges of one listener, for [`crate::http::server`].
    pub fn listener(&self, name: &'static str) -> ListenerGauges {
        let labels = ListenerLabels {
            listener: Cow::Borrowed(name),
        };
        let refused = |cap: &'static str| {
            self.inner
                .connections_refused
                .get_or_create(&RefusedLabels {
                    listener: Cow::Borrowed(name),
                    cap: Cow::Borrowed(cap),
                })
                .clone()
        };
        ListenerGauges {
            open_connections: self.inner.open_connections.get_or_create(&labels).clone(),
            in_flight: self.inner.in_flight.get_or_create(&labels).clone(),
            refused_total: refused("total"),
            refused_per_address: refused("per_address"),
        }
    }

    /// The whole registry in the text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }
}

/// Open connections and in-flight requests of one listener. The server counts with the
/// guards; anyone may read the current values. `Default` gives gauges that belong to no
/// registry (for tests, or a listener nobody scrapes).
#[derive(Clone, Debug, Default)]
pub struct ListenerGauges {
    open_connections: Gauge,
    in_flight: Gauge,
    refused_total: Counter,
    refused_per_address: Counter,
}

impl ListenerGauges {
    /// Counts a connection until the guard is dropped.
    pub fn connection_opened(&self) -> GaugeGuard {
        GaugeGuard::new(&self.open_connections)
    }

    /// Counts a request in flight until the guard is dropped (also when the client goes away
    /// and the request future is dropped).
    pub fn request_started(&self) -> GaugeGuard {
        GaugeGuard::new(&self.in_flight)
    }

    pub fn open_connections(&self) -> i64 {
        self.open_connections.get()
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Counts a connection closed at accept: the listener's cap (`per_address == false`) or
    /// one address's was reached.
    pub fn connection_refused(&self, per_address: bool) {
        if per_address {
            self.refused_per_address.inc();
        } else {
            self.refused_total.inc();
        }
    }
}

/// Decrements its gauge when dropped.
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn new(gauge: &Gauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILIES: [(&str, &str); 11] = [
        ("mz_http_requests", "counter"),
        ("mz_verifications", "counter"),
        ("mz_verify_duration_seconds", "histogram"),
        ("mz_code_rejections", "counter"),
        ("mz_cache_requests", "counter"),
        ("mz_upstream_requests", "counter"),
        ("mz_upstream_duration_seconds", "histogram"),
        ("mz_requirements", "counter"),
        ("mz_paper_fallbacks", "counter"),
        ("mz_in_flight_requests", "gauge"),
        ("mz_open_connections", "gauge"),
    ];

    /// A sample line: `name{labels} value`, returning the name-with-labels and the value.
    fn parse_sample(line: &str) -> (&str, f64) {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value = value.parse().expect("the value is a number");
        (series, value)
    }

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(parse_sample)
            .find(|(s, _)| *s == series)
            .map(|(_, v)| v)
    }

    #[test]
    fn an_empty_registry_declares_every_family_and_parses() {
        let text = Metrics::new().render();
        for (name, kind) in FAMILIES {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "`{name}` is declared as a {kind} in:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn recordings_show_up_with_their_labels() {
        let metrics = Metrics::new();
        metrics.http("public", "verify", http::StatusCode::OK);
        metrics.http("public", "verify", http::StatusCode::OK);
        metrics.verification("hotel-checkin", "pass", Duration::from_micros(700));
        metrics.verification("hotel-checkin", "unavailable", Duration::from_millis(30));
        metrics.rejection("code.expired");
        metrics.cache("records", true);
        metrics.cache("records", false);
        metrics.upstream("police/44", "ok", Duration::from_millis(3));
        metrics.upstream("police/44", "breaker_open", Duration::ZERO);
        metrics.requirement("id-card", "pass");
        let gauges = metrics.listener("public");
        let connection = gauges.connection_opened();
        let request = gauges.request_started();

        let text = metrics.render();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            parse_sample(line);
        }
        let expect = [
            (
                r#"mz_http_requests_total{listener="public",route="verify",status="200"}"#,
                2.0,
            ),
            (
                r#"mz_verifications_total{scenario="hotel-checkin",verdict="pass"}"#,
                1.0,
            ),
            (r#"mz_paper_fallbacks_total{scenario="hotel-checkin"}"#, 1.0),
            (
                r#"mz_verify_duration_seconds_bucket{le="0.001",scenario="hotel-checkin"}"#,
                1.0,
            ),
            (
                r#"mz_verify_duration_seconds_count{scenario="hotel-checkin"}"#,
                2.0,
            ),
            (r#"mz_code_rejections_total{code="code.expired"}"#, 1.0),
            (
                r#"mz_cache_requests_total{cache="records",result="hit"}"#,
                1.0,
            ),
            (
                r#"mz_cache_requests_total{cache="records",result="miss"}"#,
                1.0,
            ),
            (
                r#"mz_upstream_requests_total{backend="police/44",outcome="breaker_open"}"#,
                1.0,
            ),
            // The breaker's instant answer is not a latency sample.
            (
                r#"mz_upstream_duration_seconds_count{backend="police/44"}"#,
                1.0,
            ),
            (
                r#"mz_requirements_total{certificate="id-card",verdict="pass"}"#,
                1.0,
            ),
            (r#"mz_open_connections{listener="public"}"#, 1.0),
            (r#"mz_in_flight_requests{listener="public"}"#, 1.0),
        ];
        for (series, value) in expect {
            assert_eq!(sample(&text, series), Some(value), "`{series}` in:\n{text}");
        }

        drop((connection, request));
        let text = metrics.render();
        assert_eq!(
            sample(&text, r#"mz_open_connections{listener="public"}"#),
            Some(0.0)
        );
        assert_eq!(gauges.in_flight(), 0);
    }
}
