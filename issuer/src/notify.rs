//! Outbound change notifications: every override becomes an [`IssuerEvent`] posted to the
//! gateway (`POST {url}/v1/issuer-events`, bearer token of the record's department), over
//! https (certificate checked against `ca_file`, or the public web PKI roots), or plain http
//! to a loopback address only ([`NotifyConfig::validate`]).
//!
//! One background task drains a bounded queue in order. A delivery that fails with a network
//! error, a timeout, `408`, `429` or `5xx` is retried with exponential back-off and jitter
//! ([`backoff`]) up to `max_attempts`; any other `4xx` is permanent (a retry cannot help). A
//! full queue drops the new event. Every give-up is logged at error level and counted, so an
//! operator sees that the gateway may hold stale answers until their TTL ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::rngs::StdRng;
use rand::SeedableRng as _;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wire::issuer_api::{IssuerEvent, EVENTS_PATH};

use crate::config::NotifyConfig;
use crate::population::log_tag;

/// Counters of the notifier, shown by `GET /admin/stats`.
#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    delivered: AtomicU64,
    retries: AtomicU64,
    gave_up: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
}

/// A snapshot of the notifier's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyCounts {
    /// Events accepted into the queue.
    pub queued: u64,
    /// Events the gateway acknowledged (2xx).
    pub delivered: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// Events abandoned after `max_attempts` transient failures.
    pub gave_up: u64,
    /// Events the gateway refused for good (4xx other than 408/429).
    pub rejected: u64,
    /// Events dropped because the queue was full (or no gateway is configured).
    pub dropped: u64,
}

/// The sending half: cheap to call from request handlers.
#[derive(Debug)]
pub struct Notifier {
    tx: Mutex<Option<mpsc::Sender<IssuerEvent>>>,
    counters: Arc<Counters>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Notifier {
    /// A notifier that sends nothing (no gateway configured): events are counted as dropped.
    pub fn disabled() -> Notifier {
        Notifier {
            tx: Mutex::new(None),
            counters: Arc::default(),
            task: Mutex::new(None),
        }
    }

    /// Starts the delivery task. `rng_seed` makes the jitter reproducible. Fails when the
    /// configuration's `ca_file` cannot be read.
    pub fn spawn(config: NotifyConfig, rng_seed: Option<u64>) -> Result<Notifier, String> {
        let client = client(&config)?;
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let counters = Arc::new(Counters::default());
        let rng = match rng_seed {
            Some(s) => StdRng::seed_from_u64(s ^ 0x6e6f_7469_6679),
            None => StdRng::from_entropy(),
        };
        let task = tokio::spawn(run(client, config, rx, counters.clone(), rng));
        Ok(Notifier {
            tx: Mutex::new(Some(tx)),
            counters,
            task: Mutex::new(Some(task)),
        })
    }

    /// Queues an event; never waits. A full queue drops it (logged and counted).
    pub fn send(&self, event: IssuerEvent) {
        let sent = match &*self.tx.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(tx) => tx.try_send(event),
            None => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        match sent {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                let event = e.into_inner();
                tracing::error!(
                    event_id = %event.event_id,
                    subject = %log_tag(&event.subject),
                    "notification queue full: event dropped, the gateway may serve a stale answer until its TTL ends"
                );
            }
        }
    }

    pub fn counts(&self) -> NotifyCounts {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NotifyCounts {
            queued: get(&c.queued),
            delivered: get(&c.delivered),
            retries: get(&c.retries),
            gave_up: get(&c.gave_up),
            rejected: get(&c.rejected),
            dropped: get(&c.dropped),
        }
    }

    /// Stops taking events and gives the queue up to `grace` to drain; what is left is lost
    /// (logged).
    pub async fn close(&self, grace: Duration) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut task) = task {
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
                let c = self.counts();
                let settled = c.delivered + c.gave_up + c.rejected;
                tracing::error!(
                    undelivered = c.queued.saturating_sub(settled),
                    "notifications still pending at shutdown were abandoned"
                );
            }
        }
    }
}

/// The delay before attempt `attempt + 1` (attempt counts from 1): "equal jitter" — half of
/// `min(max, base · 2^(attempt-1))` fixed, the other half uniform — so delays grow
/// exponentially yet retries of many issuers do not line up.
pub fn backoff(attempt: u32, base: Duration, max: Duration, rng: &mut impl rand::Rng) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let cap = exp.min(max);
    let half = cap / 2;
    half + half.mul_f64(rng.gen::<f64>())
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for http and https gateways; https certificates are checked against the
/// configuration's `ca_file`, or the public web PKI roots.
fn client(config: &NotifyConfig) -> Result<HttpClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match &config.ca_file {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in read_certificates(path)? {
                roots.add(certificate).map_err(|e| {
                    format!(
                        "notify ca_file `{}`: a certificate cannot be a root: {e}",
                        path.display()
                    )
                })?;
            }
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS for change notices: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            builder.with_tls_config(tls)
        }
        None => builder
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| format!("TLS for change notices: {e}"))?,
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// The PEM certificates of `path`.
fn read_certificates(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let problem = |e: &dyn std::fmt::Display| format!("notify ca_file `{}`: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| problem(&e))?;
    let certificates = rustls_pemfile::certs(&mut std::io::BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(&e))?;
    if certificates.is_empty() {
        return Err(problem(&"holds no PEM certificate"));
    }
    Ok(certificates)
}

async fn run(
    client: HttpClient,
    config: NotifyConfig,
    mut rx: mpsc::Receiver<IssuerEvent>,
    counters: Arc<Counters>,
    mut rng: StdRng,
) {
    let url = format!("{}{EVENTS_PATH}", config.url.trim_end_matches('/'));
    while let Some(event) = rx.recv().await {
        deliver(&client, &config, &url, &event, &counters, &mut rng).await;
    }
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    Permanent(String),
    Transient(String),
}

async fn deliver(
    client: &HttpClient,
    config: &NotifyConfig,
    url: &str,
    event: &IssuerEvent,
    counters: &Counters,
    rng: &mut StdRng,
) {
    let body = Bytes::from(serde_json::to_vec(event).expect("events serialize"));
    let token = config
        .tokens
        .get(&event.department)
        .or(config.default_token.as_ref());
    let attempts = config.max_attempts.max(1);
    for attempt in 1..=attempts {
        match post(
            client,
            url,
            token.map(String::as_str),
            body.clone(),
            config.timeout,
        )
        .await
        {
            Attempt::Delivered => {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(event_id = %event.event_id, attempt, "event delivered");
                return;
            }
            Attempt::Permanent(why) => {
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::error!(event_id = %event.event_id, department = %event.department, %why, "gateway refused event; not retrying");
                return;
            }
            Attempt::Transient(why) if attempt == attempts => {
                counters.gave_up.fetch_add(1, Ordering::Relaxed);
                tracing::error!(event_id = %event.event_id, department = %event.department, attempts, %why, "giving up on event");
                return;
            }
            Attempt::Transient(why) => {
                counters.retries.fetch_add(1, Ordering::Relaxed);
                let delay = backoff(attempt, config.base_backoff, config.max_backoff, rng);
                tracing::warn!(event_id = %event.event_id, attempt, %why, retry_in_ms = delay.as_millis() as u64, "event delivery failed; will retry");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

async fn post(
    client: &HttpClient,
    url: &str,
    token: Option<&str>,
    body: Bytes,
    timeout: Duration,
) -> Attempt {
    let mut req = hyper::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let req = match req.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return Attempt::Permanent(format!("cannot build request: {e}")),
    };
    match tokio::time::timeout(timeout, client.request(req)).await {
        Err(_) => Attempt::Transient(format!("no answer within {timeout:?}")),
        Ok(Err(e)) => Attempt::Transient(format!("request failed: {e}")),
        Ok(Ok(resp)) => {
            let status = resp.status();
            if status.is_success() {
                Attempt::Delivered
            } else if status.is_server_error()
                || status == http::StatusCode::REQUEST_TIMEOUT
                || status == http::StatusCode::TOO_MANY_REQUESTS
            {
                Attempt::Transient(format!("gateway answered {status}"))
            } else {
                Attempt::Permanent(format!("gateway answered {status}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut rng = StdRng::seed_from_u64(9);
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 1..12 {
            let cap = (base * (1 << (attempt - 1))).min(max);
            let d = backoff(attempt, base, max, &mut rng);
            assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(40, base, max, &mut rng) <= max);
    }
}
