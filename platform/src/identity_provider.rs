//! A small OpenID Connect identity provider for the demo and the tests: a real HTTP/1.1 server
//! on a loopback address, with a fixed list of demo holders and their passwords.
//!
//! Routes:
//! - `GET /.well-known/openid-configuration` — discovery: `issuer`, `jwks_uri`,
//!   `token_endpoint`, the algorithms
//! - `GET /jwks.json` — the public half of the current signing key
//! - `POST /token` — the password grant (`identity_provider/token_endpoint.rs`): form fields `grant_type=password`,
//!   `username`, `password`, `client_id` (the token's audience); answers
//!   `{"access_token", "token_type": "Bearer", "expires_in"}` or an RFC 6749 error
//!
//! Tokens are ES256 JWTs signed with a P-256 key made at start (`identity_provider/signing.rs`),
//! valid for
//! [`DEFAULT_TOKEN_LIFETIME`]. For the tests: [`DemoIdentityProvider::mint`] signs any claims,
//! [`DemoIdentityProvider::rotate_key`] replaces the key, and
//! [`DemoIdentityProvider::set_available`] makes every route answer `503` (the provider down).
//!
//! Shutdown: [`DemoIdentityProvider::shutdown`], or dropping the handle.

mod signing;
mod token_endpoint;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wire::catalogue::model::{CityCode, HolderKind};
use wire::code::claims::MAX_SUBJECT_LEN;

use self::signing::Signer;

/// How long the tokens of `POST /token` are valid unless changed
/// ([`DemoIdentityProvider::set_token_lifetime`]).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long shutdown waits for open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A demo holder: who may sign in, and what their token says about them.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoHolder {
    pub username: String,
    pub password: String,
    /// The subject handle the token carries (`sub`): 1–64 characters of `A–Z a–z 0–9 - _ .`.
    pub subject: String,
    pub kind: HolderKind,
    /// Home city (GB/T 2260), carried as `city`.
    pub city: Option<CityCode>,
    /// Display name, carried as `name`.
    pub name: String,
}

impl std::fmt::Debug for DemoHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoHolder")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("subject", &self.subject)
            .field("kind", &self.kind)
            .field("city", &self.city)
            .field("name", &self.name)
            .finish()
    }
}

/// Why the demo provider cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "the demo identity provider listens on loopback only, and {0} is not a loopback address"
    )]
    NotLoopback(SocketAddr),
    #[error("the demo identity provider cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the demo identity provider's issuer `{base}`: {reason}")]
    Issuer { base: String, reason: &'static str },
    #[error("demo holder `{username}`: {reason}")]
    Holder {
        username: String,
        reason: &'static str,
    },
    #[error("the demo identity provider's signing key: {0}")]
    Key(String),
}

/// A running demo identity provider.
#[derive(Debug)]
pub struct DemoIdentityProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// What the request handlers share with the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    issuer: String,
    holders: HashMap<String, DemoHolder>,
    signer: RwLock<Signer>,
    available: AtomicBool,
    token_lifetime_secs: AtomicI64,
    jwks_requests: AtomicU64,
    tokens_issued: AtomicU64,
}

impl Shared {
    fn signer(&self) -> std::sync::RwLockReadGuard<'_, Signer> {
        self.signer.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn sign(&self, claims: &Value) -> Result<String, String> {
        self.signer().sign(claims)
    }

    pub(crate) fn token_lifetime_secs(&self) -> i64 {
        self.token_lifetime_secs.load(Ordering::Relaxed)
    }

    fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks.json", self.issuer),
            "token_endpoint": format!("{}/token", self.issuer),
            "grant_types_supported": ["password"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported":
                ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "name", "holder_kind", "city"],
        })
    }

    fn jwks(&self) -> Value {
        serde_json::to_value(self.signer().jwks()).unwrap_or_else(|_| json!({"keys": []}))
    }
}

impl DemoIdentityProvider {
    /// Starts the provider on `addr` (a loopback address; port 0 picks a free port) for
    /// `holders`. Its issuer is `issuer_base` (no trailing `/`), or `http://{addr}` by default;
    /// discovery names the JWKS and token endpoint under the issuer, so an `issuer_base` must
    /// reach this listener (a proxy in front of it, say).
    pub async fn start(
        addr: SocketAddr,
        issuer_base: Option<String>,
        holders: Vec<DemoHolder>,
    ) -> Result<DemoIdentityProvider, StartError> {
        if !addr.ip().is_loopback() {
            return Err(StartError::NotLoopback(addr));
        }
        let holders = check_holders(holders)?;
        let issuer_base = issuer_base.map(check_issuer).transpose()?;
        let signer = Signer::generate().map_err(StartError::Key)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            issuer: issuer_base.unwrap_or_else(|| format!("http://{addr}")),
            holders,
            signer: RwLock::new(signer),
            available: AtomicBool::new(true),
            token_lifetime_secs: AtomicI64::new(seconds(DEFAULT_TOKEN_LIFETIME)),
            jwks_requests: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
        });
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, shared.clone(), rx));
        tracing::info!(%addr, issuer = %shared.issuer, "demo identity provider listening");
        Ok(DemoIdentityProvider {
            addr,
            shared,
            shutdown: tx,
            task: Some(task),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`: where this listener is reached on this machine.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The issuer identifier its tokens carry (`iss`).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The JWKS on this listener, `http://HOST:PORT/jwks.json`: what a verifier on this machine
    /// fetches.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.url())
    }

    /// The token endpoint on this listener, `http://HOST:PORT/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url())
    }

    /// The current signing key's id.
    pub fn kid(&self) -> String {
        self.shared.signer().kid().to_string()
    }

    /// The JWKS document `GET /jwks.json` serves.
    pub fn jwks(&self) -> Value {
        self.shared.jwks()
    }

    /// `claims`, whatever they say, signed ES256 with the current key (its `kid` in the
    /// header). For tests: a token with any issuer, audience, times or holder.
    pub fn mint(&self, claims: Value) -> String {
        self.shared
            .sign(&claims)
            .expect("a P-256 key made at start signs any JSON claims")
    }

    /// The claims `POST /token` would sign for the holder `username` and `audience` at Unix
    /// time `now`, if there is such a holder.
    pub fn claims_for(&self, username: &str, audience: &str, now: i64) -> Option<Value> {
        let holder = self.shared.holders.get(username)?;
        Some(token_endpoint::claims(
            &self.shared.issuer,
            holder,
            audience,
            now,
            self.shared.token_lifetime_secs(),
        ))
    }

    /// Replaces the signing key with a new one of a new id; the old key leaves the JWKS at
    /// once. The new key's id.
    pub fn rotate_key(&self) -> String {
        let signer = Signer::generate().expect("a fresh P-256 key encodes as PKCS#8");
        let kid = signer.kid().to_string();
        *self
            .shared
            .signer
            .write()
            .unwrap_or_else(PoisonError::into_inner) = signer;
        tracing::info!(%kid, "demo identity provider rotated its signing key");
        kid
    }

    /// `false`: every route answers `503` until set back to `true`.
    pub fn set_available(&self, available: bool) {
        self.shared.available.store(available, Ordering::Relaxed);
    }

    /// How long the tokens of `POST /token` are valid from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared
            .token_lifetime_secs
            .store(seconds(lifetime), Ordering::Relaxed);
    }

    /// `GET /jwks.json` requests answered with the keys (not counting `503`s).
    pub fn jwks_requests(&self) -> u64 {
        self.shared.jwks_requests.load(Ordering::Relaxed)
    }

    /// Tokens issued by `POST /token`.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued.load(Ordering::Relaxed)
    }

    /// Stops accepting, lets open connections finish (up to a few seconds), and returns when
    /// done.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!("demo identity provider task failed: {e}");
            }
        }
    }
}

impl Drop for DemoIdentityProvider {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The holders by username, each checked: what the provider signs, a verifier must accept.
fn check_holders(holders: Vec<DemoHolder>) -> Result<HashMap<String, DemoHolder>, StartError> {
    let mut by_name = HashMap::with_capacity(holders.len());
    for holder in holders {
        let bad = |reason| StartError::Holder {
            username: holder.username.clone(),
            reason,
        };
        if holder.username.is_empty() {
            return Err(bad("the username is empty"));
        }
        if holder.password.is_empty() {
            return Err(bad("the password is empty"));
        }
        if holder.subject.is_empty()
            || holder.subject.len() > MAX_SUBJECT_LEN
            || !holder
                .subject
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(bad(
                "the subject must be 1–64 characters of A–Z a–z 0–9 - _ .",
            ));
        }
        if holder
            .city
            .is_some_and(|c| !(100_000..=999_999).contains(&c))
        {
            return Err(bad("the city is not a 6-digit GB/T 2260 code"));
        }
        if by_name.contains_key(&holder.username) {
            return Err(bad("the username is listed twice"));
        }
        by_name.insert(holder.username.clone(), holder);
    }
    Ok(by_name)
}

/// An issuer base URL: `http(s)://host[:port][/path]`, without its trailing `/`.
fn check_issuer(base: String) -> Result<String, StartError> {
    let bad = |reason| StartError::Issuer {
        base: base.clone(),
        reason,
    };
    let uri: http::Uri = base.parse().map_err(|_| bad("not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(bad("it must be an absolute http:// or https:// URL"));
    }
    if uri.query().is_some() || base.contains('#') {
        return Err(bad("an issuer has no query or fragment"));
    }
    Ok(base.trim_end_matches('/').to_string())
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The accept loop, then the drain.
async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    backoff = Duration::from_millis(5);
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let service = service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(route(&shared, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!("demo identity provider connection ended with an error: {e}");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("demo identity provider: accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("demo identity provider: connections still open after {SHUTDOWN_GRACE:?}; closing them");
        }
    }
    tracing::info!("demo identity provider stopped");
}

/// Dispatches one request by method and path.
async fn route(shared: &Shared, req: hyper::Request<Incoming>) -> Response<Full<Bytes>> {
    if !shared.available.load(Ordering::Relaxed) {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "temporarily_unavailable",
                    "error_description": "the identity provider is down (set so by the demo)"}),
        );
    }
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/.well-known/openid-configuration") => {
            json_response(StatusCode::OK, &shared.discovery())
        }
        (Method::GET, "/jwks.json") => {
            shared.jwks_requests.fetch_add(1, Ordering::Relaxed);
            let mut response = json_response(StatusCode::OK, &shared.jwks());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/jwk-set+json"),
            );
            response
        }
        (Method::POST, "/token") => token(shared, req).await,
        (_, "/.well-known/openid-configuration" | "/jwks.json" | "/token") => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method_not_allowed"}),
        ),
        _ => json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
    }
}

/// `POST /token`, answered with `Cache-Control: no-store` (RFC 6749 §5.1).
async fn token(shared: &Shared, req: hyper::Request<Incoming>) -> Response<Full<Bytes>> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let limit = token_endpoint::MAX_TOKEN_REQUEST_BYTES;
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": "invalid_request",
                        "error_description": format!("the body is unreadable or over {limit} bytes")}),
            )
        }
    };
    let now = chrono::Utc::now().timestamp();
    let mut response = match token_endpoint::answer(shared, content_type.as_deref(), &body, now) {
        Ok(answer) => {
            shared.tokens_issued.fetch_add(1, Ordering::Relaxed);
            json_response(StatusCode::OK, &answer)
        }
        Err(e) => json_response(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            &e.body(),
        ),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
