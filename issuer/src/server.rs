//! The HTTP/1.1 server: one listener for every served backend, routing by path, the accept
//! loop with back-off, and shutdown — all in this one place.
//!
//! Routes:
//! - `POST /backends/<department>/<province|city code|national>/v1/records:query` —
//!   [`crate::query::answer`]
//! - `POST /backends/<department>/province/v1/records:locate` — [`crate::query::locate`]: the
//!   index of where the department's records are held
//! - `GET /backends` — the served backends and their base paths
//! - `GET /healthz` — `ok`
//! - `/admin/overrides`, `/admin/faults`, `/admin/stats` — [`crate::admin`], bearer token
//!
//! Shutdown ([`RunningIssuer::shutdown`], or dropping the handle): stop accepting, let open
//! connections finish their request (up to the grace period), then give pending change
//! notifications the rest of the grace period.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wire::catalogue::model::BackendScope;
use wire::issuer_api::{LOCATE_PATH, QUERY_PATH};

use crate::backends::{parse_scope, scope_segment, ServedBackend};
use crate::config::IssuerConfig;
use crate::faults::Faults;
use crate::notify::Notifier;
use crate::overrides::OverrideStore;
use crate::population::Population;
use crate::problem::{json_response, ApiError};
use crate::shared::State;
use crate::StartError;

/// A running issuer: where it listens, and how to stop it. Dropping the handle also starts a
/// shutdown (without waiting for it).
#[derive(Debug)]
pub struct RunningIssuer {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    names: Vec<String>,
}

impl RunningIssuer {
    /// The address the listener is bound to (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL of one backend: `http://HOST:PORT/backends/<department>/<province|code>`.
    /// Queries go to `{base}/v1/records:query`. (Whether it is served is not checked; see
    /// [`RunningIssuer::backends`].)
    pub fn base_url(&self, department: &str, scope: BackendScope) -> String {
        format!(
            "http://{}/backends/{department}/{}",
            self.addr,
            scope_segment(scope)
        )
    }

    /// The served backends' names (`<department>/<province|code>`), by department, each
    /// province backend before its cities.
    pub fn backends(&self) -> &[String] {
        &self.names
    }

    /// Stops accepting, drains connections and notifications (bounded by the configured
    /// grace), and returns when done.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!("issuer server task failed: {e}");
            }
        }
    }
}

impl Drop for RunningIssuer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Builds the state from `config` and serves it on `listener` until shut down.
pub async fn start(
    config: IssuerConfig,
    listener: TcpListener,
) -> Result<RunningIssuer, StartError> {
    let backends = crate::backends::build(&config)?;
    config
        .faults
        .validate(|name| backends.contains_key(name))
        .map_err(StartError::Config)?;
    let notifier = match &config.notify {
        Some(n) => {
            n.validate().map_err(StartError::Config)?;
            Notifier::spawn(n.clone(), config.rng_seed).map_err(StartError::Config)?
        }
        None => Notifier::disabled(),
    };
    let addr = listener.local_addr().map_err(StartError::Io)?;
    let mut sorted: Vec<&ServedBackend> = backends.values().map(|b| &**b).collect();
    sorted.sort_by(|a, b| {
        (&a.backend.department, a.backend.scope).cmp(&(&b.backend.department, b.backend.scope))
    });
    let names: Vec<String> = sorted.iter().map(|b| b.name.clone()).collect();
    let state = Arc::new(State {
        population: Population::with_cities(config.seed, config.catalogue.cities()),
        out_of_province: Population::out_of_province(config.seed),
        catalogue: config.catalogue.clone(),
        backends,
        overrides: OverrideStore::new(),
        faults: Faults::new(config.faults.clone(), config.rng_seed),
        notifier,
        admin_token: config.admin_token.clone(),
        max_query_bytes: config.max_query_bytes,
    });
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve(listener, state, rx, config.shutdown_grace));
    tracing::info!(%addr, backends = names.len(), "issuer listening");
    Ok(RunningIssuer {
        addr,
        shutdown: tx,
        task: Some(task),
        names,
    })
}

/// Waits for Ctrl-C or, on Unix, SIGTERM: what the binary stops on.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The accept loop, then the drain.
async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    backoff = Duration::from_millis(5);
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(route(&state, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!("connection ended with an error: {e}");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let started = tokio::time::Instant::now();
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(grace) => {
            tracing::warn!("connections still open after {grace:?}; closing them");
        }
    }
    let left = grace.saturating_sub(started.elapsed());
    state.notifier.close(left).await;
    tracing::info!("issuer stopped");
}

/// Dispatches one request by method and path.
async fn route(state: &State, req: hyper::Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let result = if let Some(rest) = path.strip_prefix("/backends/") {
        backend_route(state, rest, req).await
    } else if let Some(rest) = path.strip_prefix("/admin/") {
        if !crate::admin::authorized(state, &req) {
            Err(ApiError::Unauthorized)
        } else {
            match (method, rest) {
                (Method::GET, "overrides") => Ok(crate::admin::list_overrides(state)),
                (Method::POST, "overrides") => crate::admin::post_override(state, req).await,
                (Method::GET, "faults") => Ok(crate::admin::get_faults(state)),
                (Method::PUT, "faults") => crate::admin::put_faults(state, req).await,
                (Method::GET, "stats") => Ok(crate::admin::stats(state)),
                (_, "overrides" | "faults" | "stats") => Err(ApiError::MethodNotAllowed),
                _ => Err(ApiError::NotFound),
            }
        }
    } else {
        match (method, path.as_str()) {
            (Method::GET, "/healthz") => Ok(Response::new(Full::new(Bytes::from_static(b"ok\n")))),
            (Method::GET, "/backends") => Ok(list_backends(state)),
            (_, "/healthz" | "/backends") => Err(ApiError::MethodNotAllowed),
            _ => Err(ApiError::NotFound),
        }
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// `/backends/<department>/<scope>/v1/records:query` and `…/v1/records:locate`.
async fn backend_route(
    state: &State,
    rest: &str,
    req: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let mut parts = rest.splitn(3, '/');
    let (Some(department), Some(scope), tail) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ApiError::NotFound);
    };
    let scope = parse_scope(scope).ok_or(ApiError::NotFound)?;
    let name = format!("{department}/{}", scope_segment(scope));
    let backend = state.backends.get(&name).ok_or(ApiError::NotFound)?;
    let locate = match tail.map(|t| format!("/{t}")).as_deref() {
        Some(QUERY_PATH) => false,
        Some(LOCATE_PATH) => true,
        _ => return Err(ApiError::NotFound),
    };
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    match locate {
        true => crate::query::locate(state, backend, req).await,
        false => crate::query::answer(state, backend, req).await,
    }
}

fn list_backends(state: &State) -> Response<Full<Bytes>> {
    #[derive(Serialize)]
    struct Entry<'a> {
        name: &'a str,
        base_path: String,
        certificates: Vec<&'a str>,
    }
    #[derive(Serialize)]
    struct List<'a> {
        backends: Vec<Entry<'a>>,
    }
    let mut backends: Vec<Entry<'_>> = state
        .backends
        .values()
        .map(|b| {
            let mut certificates: Vec<&str> = b.certificates.iter().map(String::as_str).collect();
            certificates.sort_unstable();
            Entry {
                name: &b.name,
                base_path: format!("/backends/{}", b.name),
                certificates,
            }
        })
        .collect();
    backends.sort_by(|a, b| a.name.cmp(b.name));
    json_response(&List { backends })
}
