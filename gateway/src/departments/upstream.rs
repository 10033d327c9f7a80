//! The client side of "whoever issues, verifies": one pooled HTTP(S) client per department
//! backend, one query per backend carrying every certificate type wanted from it, deadlines
//! propagated, a breaker per backend, and retries only within a budget (about 20 % of calls).

use std::sync::atomic::{AtomicU64, Ordering};

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use wire::issuer_api::{
    LocateQuery, LocateResponse, RecordQuery, RecordResponse, LOCATE_PATH, QUERY_PATH,
};

use crate::departments::breaker::{Admission, Breaker, BreakerSettings, BreakerState};
use crate::metrics::Metrics;

/// Largest answer accepted from a backend.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// A retry is only worth it with this much of the deadline left.
const MIN_TIME_FOR_RETRY: Duration = Duration::from_millis(50);

/// Why a backend gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("breaker open")]
    BreakerOpen,
    #[error("no answer within the deadline")]
    Timeout,
    #[error("transport: {0}")]
    Transport(String),
    #[error("answered HTTP {0}")]
    Status(StatusCode),
    #[error("answer does not parse: {0}")]
    Malformed(String),
}

impl UpstreamError {
    /// The metrics label of this outcome.
    pub fn outcome(&self) -> &'static str {
        match self {
            UpstreamError::BreakerOpen => "breaker_open",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Transport(_) | UpstreamError::Status(_) => "error",
            UpstreamError::Malformed(_) => "rejected",
        }
    }

    /// Whether another attempt could get an answer.
    fn retryable(&self) -> bool {
        match self {
            UpstreamError::Transport(_) => true,
            UpstreamError::Status(s) => {
                *s == StatusCode::SERVICE_UNAVAILABLE || *s == StatusCode::BAD_GATEWAY
            }
            _ => false,
        }
    }
}

/// The HTTP(S) connector every backend client uses: plain HTTP for loopback demos, HTTPS with
/// the web PKI roots, or only the roots in `tls` when given for real departments.
pub type Connector = HttpsConnector<HttpConnector>;

pub fn connector(tls: Option<rustls::ClientConfig>) -> Connector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(2)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match tls {
        Some(config) => builder.with_tls_config(config),
        None => builder
            .with_provider_and_webpki_roots(crate::http::tls::crypto_provider())
            .expect("the ring provider supports the default protocol versions"),
    };
    builder
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http)
}

/// Retries allowed as a share of calls: each call deposits `ratio` of a token (at most ten
/// tokens saved), each retry spends one.
#[derive(Debug)]
struct RetryBudget {
    milli_tokens: AtomicU64,
    deposit: u64,
}

impl RetryBudget {
    fn new(ratio: f64) -> RetryBudget {
        RetryBudget {
            milli_tokens: AtomicU64::new(0),
            deposit: (ratio * 1000.0) as u64,
        }
    }

    fn deposit(&self) {
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some((t + self.deposit).min(10_000))
            });
    }

    fn withdraw(&self) -> bool {
        self.milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                t.checked_sub(1000)
            })
            .is_ok()
    }
}

/// One department backend as the gateway calls it.
#[derive(Debug)]
pub struct BackendClient {
    name: String,
    url: String,
    /// The index's path (`records:locate`), which only a province backend answers.
    locate_url: String,
    client: Client<Connector, Full<Bytes>>,
    breaker: Breaker,
    budget: RetryBudget,
    metrics: Metrics,
}

impl BackendClient {
    /// `name` is `<department>/<province|city>`; `base_url` the backend's base (the query path
    /// is appended).
    pub fn new(
        name: String,
        base_url: &str,
        connector: Connector,
        breaker: BreakerSettings,
        retry_budget: f64,
        metrics: Metrics,
    ) -> BackendClient {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .build(connector);
        BackendClient {
            url: format!("{}{QUERY_PATH}", base_url.trim_end_matches('/')),
            locate_url: format!("{}{LOCATE_PATH}", base_url.trim_end_matches('/')),
            name,
            client,
            breaker: Breaker::new(breaker),
            budget: RetryBudget::new(retry_budget),
            metrics,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state(Instant::now())
    }

    /// Asks the backend, retrying once within the budget, until `deadline`.
    pub async fn query(
        &self,
        query: &RecordQuery,
        deadline: Instant,
    ) -> Result<RecordResponse, UpstreamError> {
        let admission = self.breaker.admit(Instant::now());
        if admission == Admission::Refused {
            self.metrics
                .upstream(&self.name, "breaker_open", Duration::ZERO);
            return Err(UpstreamError::BreakerOpen);
        }
        self.budget.deposit();
        let body = Bytes::from(serde_json::to_vec(query).expect("a query serializes"));
        let mut attempt = self.attempt(query, body.clone(), deadline).await;
        if let Err(e) = &attempt {
            let time_left = deadline.saturating_duration_since(Instant::now());
            if admission == Admission::Allowed
                && e.retryable()
                && time_left > MIN_TIME_FOR_RETRY
                && self.budget.withdraw()
            {
                attempt = self.attempt(query, body, deadline).await;
            }
        }
        match &attempt {
            Ok(_) => self.breaker.on_success(),
            // A malformed answer is the department's fault too: it counts against the breaker.
            Err(_) => self.breaker.on_failure(Instant::now()),
        }
        attempt
    }

    /// Asks the backend's index where the holder's records of the query's types are held,
    /// once, until `deadline`. Counted with the backend's queries, in its breaker and metrics.
    pub async fn locate(
        &self,
        query: &LocateQuery,
        deadline: Instant,
    ) -> Result<LocateResponse, UpstreamError> {
        if self.breaker.admit(Instant::now()) == Admission::Refused {
            self.metrics
                .upstream(&self.name, "breaker_open", Duration::ZERO);
            return Err(UpstreamError::BreakerOpen);
        }
        let body = Bytes::from(serde_json::to_vec(query).expect("a query serializes"));
        let started = Instant::now();
        let sent = self.post(&self.locate_url, query.request_id.as_deref(), body);
        let result = match tokio::time::timeout_at(deadline.into(), sent).await {
            Ok(Ok(bytes)) => serde_json::from_slice::<LocateResponse>(&bytes)
                .map_err(|e| UpstreamError::Malformed(e.to_string()))
                .and_then(|r| {
                    r.answers(query)
                        .map(|()| r)
                        .map_err(|e| UpstreamError::Malformed(e.to_string()))
                }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(UpstreamError::Timeout),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        self.metrics
            .upstream(&self.name, outcome, started.elapsed());
        match &result {
            Ok(_) => self.breaker.on_success(),
            Err(_) => self.breaker.on_failure(Instant::now()),
        }
        result
    }

    async fn attempt(
        &self,
        query: &RecordQuery,
        body: Bytes,
        deadline: Instant,
    ) -> Result<RecordResponse, UpstreamError> {
        let started = Instant::now();
        let result = tokio::time::timeout_at(deadline.into(), self.send(query, body)).await;
        let result = result.unwrap_or(Err(UpstreamError::Timeout));
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        self.metrics
            .upstream(&self.name, outcome, started.elapsed());
        result
    }

    async fn send(
        &self,
        query: &RecordQuery,
        body: Bytes,
    ) -> Result<RecordResponse, UpstreamError> {
        let bytes = self
            .post(&self.url, query.request_id.as_deref(), body)
            .await?;
        let response: RecordResponse =
            serde_json::from_slice(&bytes).map_err(|e| UpstreamError::Malformed(e.to_string()))?;
        response
            .answers(query)
            .map_err(|e| UpstreamError::Malformed(e.to_string()))?;
        Ok(response)
    }

    /// POSTs `body` as JSON to `url`: the answer's body if it is 200.
    async fn post(
        &self,
        url: &str,
        request_id: Option<&str>,
        body: Bytes,
    ) -> Result<Bytes, UpstreamError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json");
        if let Some(id) = request_id {
            req = req.header("x-request-id", id);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Transport(format!("building the request: {e}")))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| UpstreamError::Transport(format!("reading the answer: {e}")))?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(UpstreamError::Status(status));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_budget_allows_about_its_ratio() {
        let budget = RetryBudget::new(0.2);
        let mut retries = 0;
        for _ in 0..100 {
            budget.deposit();
            if budget.withdraw() {
                retries += 1;
            }
        }
        assert_eq!(retries, 20);
        let empty = RetryBudget::new(0.2);
        assert!(!empty.withdraw(), "no retry before any call");
    }
}
