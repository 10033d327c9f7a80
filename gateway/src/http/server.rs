//! Accept loops and connections for every listener: the one place that knows about sockets,
//! TLS handshakes, HTTP versions, connection limits and shutdown.
//!
//! [`serve`] runs one listener. Each connection speaks HTTP/1.1 (keep-alive) or HTTP/2 on the
//! same port: over TLS the client picks by ALPN (`h2`, `http/1.1`), in plain text HTTP/2 is
//! recognised by its connection preface ("prior knowledge"). A [`Handler`] turns each request
//! into a complete response; it reads the body itself.
//!
//! What a client cannot do to a listener ([`Limits`]):
//! - hold a connection without sending a request head: HTTP/1 heads must arrive within
//!   `header_read_timeout` (hyper's timer, which also runs while a keep-alive connection waits
//!   for its next request); a fresh connection of either version must send its first request
//!   within `header_read_timeout` and an idle one is closed after `keep_alive_idle` (our
//!   watchdog: hyper-util's version sniffing and HTTP/2 have no such timer);
//! - send big or many headers: HTTP/1 heads are bounded by hyper's read buffer
//!   (`max_header_bytes`, at least 8 KiB, hyper's minimum) and `max_headers`; HTTP/2 header
//!   lists by `max_header_bytes` (SETTINGS_MAX_HEADER_LIST_SIZE). Both answer 431;
//! - stall a TLS handshake past `tls_handshake_timeout`;
//! - open more than `max_connections_per_address` connections from one address, or fill the
//!   listener past `max_connections` ([`ConnectionSlots`]: closed at accept, counted);
//! - claim another address: the PROXY protocol header is read only from the listener's
//!   trusted balancers ([`TrustedProxies`]), and required from them within
//!   `header_read_timeout`; the address it reports is the client's for the caps above and for
//!   every route. (A balancer's connection takes its place under the caps once its header has
//!   been read.)
//! - keep a finished response unread forever: once nothing is in flight, a connection counts
//!   as idle even while hyper still writes, so a stalled reader is dropped after
//!   `keep_alive_idle` plus `header_read_timeout`.
//!
//! Accept errors that concern one connection are skipped; others (EMFILE, ENFILE, ENOBUFS)
//! are logged and retried after a pause that doubles from 10 ms to 1 s, so a full file table
//! neither spins a core nor floods the log.
//!
//! Shutdown: when the [`Shutdown`] fires, the listener socket is closed (new connections are
//! refused), every connection is told to finish gracefully (HTTP/1: close after the current
//! response; HTTP/2: GOAWAY, finish open streams), and [`serve`] returns when all are done or
//! `drain_timeout` has passed, dropping what is left.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Result};
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::http::client_certificate::ClientCertificate;
use crate::http::connection_slots::{CapReached, ConnectionSlots, Slot};
use crate::http::problem::{fresh_request_id, Problem};
use crate::http::proxy_protocol::{self, TrustedProxies};
use crate::http::tls::TlsAcceptor;
use crate::metrics::{ListenerGauges, Metrics};
use crate::shutdown::Shutdown;

/// hyper's smallest HTTP/1 read buffer; `max_header_bytes` below it is raised to it.
const MIN_HTTP1_BUFFER: usize = 8 * 1024;
/// hyper's default header count: up to it the parser works on the stack; setting any
/// `max_headers` moves it to the heap (hyper measures ~5 %), so the default is left alone.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What one client may cost a listener. See the module documentation for what each bounds.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub tls_handshake_timeout: Duration,
    pub keep_alive_idle: Duration,
    pub drain_timeout: Duration,
    /// Connections open at once on the listener.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_connections_per_address: usize,
}

impl Default for Limits {
    /// Values for a public listener: generous for venues on slow mobile links, small enough
    /// that idle or stalled clients do not pile up.
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: HYPER_DEFAULT_MAX_HEADERS,
            tls_handshake_timeout: Duration::from_secs(10),
            keep_alive_idle: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(20),
            max_connections: 10_000,
            max_connections_per_address: 256,
        }
    }
}

impl Limits {
    /// Rejects limits that would disable a protection or that hyper cannot take.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("header_read_timeout", self.header_read_timeout),
            ("tls_handshake_timeout", self.tls_handshake_timeout),
            ("keep_alive_idle", self.keep_alive_idle),
        ] {
            ensure!(!value.is_zero(), "`{name}` must be more than zero");
        }
        ensure!(self.max_headers > 0, "`max_headers` must be more than zero");
        ensure!(
            self.max_connections > 0 && self.max_connections_per_address > 0,
            "`max_connections` and `max_connections_per_address` must be more than zero"
        );
        ensure!(
            self.max_header_bytes > 0 && u32::try_from(self.max_header_bytes).is_ok(),
            "`max_header_bytes` must be between 1 and {}",
            u32::MAX
        );
        Ok(())
    }
}

/// Who is at the other end of a connection, as far as the listener can tell.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's address: the TCP peer's, or the one a trusted balancer reported.
    pub addr: SocketAddr,
    /// The client certificate verified during the TLS handshake (mTLS), if one was presented.
    pub certificate: Option<Arc<ClientCertificate>>,
}

impl Peer {
    /// A client at `addr` without a certificate.
    pub fn at(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            certificate: None,
        }
    }
}

/// Turns a request into a complete response. Implemented by the public verify pipeline and
/// by the admin routes. A panic in `call` is caught: the client gets a 500 problem and the
/// other requests on the same (HTTP/2) connection are unaffected.
pub trait Handler: Clone + Send + Sync + 'static {
    fn call(
        &self,
        req: Request<Incoming>,
        peer: Peer,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send;
}

/// One bound socket and how to serve it.
#[derive(Debug)]
pub struct Listener {
    pub tcp: TcpListener,
    /// `Some` for a TLS listener.
    pub tls: Option<TlsAcceptor>,
    /// The balancers whose connections start with a PROXY header (none by default).
    pub proxies: TrustedProxies,
    /// Static name for logs and metric labels (`public`, `admin`, ...).
    pub name: &'static str,
    /// Where the listener counts its connections and requests in flight.
    pub gauges: ListenerGauges,
}

impl Listener {
    /// A listener whose gauges are registered in `metrics` under its `name`.
    pub fn new(
        name: &'static str,
        tcp: TcpListener,
        tls: Option<TlsAcceptor>,
        metrics: &Metrics,
    ) -> Listener {
        Listener {
            tcp,
            tls,
            proxies: TrustedProxies::default(),
            name,
            gauges: metrics.listener(name),
        }
    }

    /// The same listener, reading the PROXY header from `proxies`.
    pub fn behind(mut self, proxies: TrustedProxies) -> Listener {
        self.proxies = proxies;
        self
    }
}

/// What every connection of one listener shares.
struct Context<H> {
    name: &'static str,
    http: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    proxies: TrustedProxies,
    handler: H,
    limits: Limits,
    shutdown: Shutdown,
    gauges: ListenerGauges,
}

/// Serves until `shutdown` fires and connections drained (or drain_timeout passed).
/// Fails only on invalid `limits`; accept errors are retried, connection errors logged at
/// debug level (they are the client's).
pub async fn serve<H: Handler>(
    listener: Listener,
    handler: H,
    limits: Limits,
    shutdown: Shutdown,
) -> Result<()> {
    limits.validate()?;
    let Listener {
        tcp,
        tls,
        proxies,
        name,
        gauges,
    } = listener;
    let context = Arc::new(Context {
        name,
        http: http_builder(&limits),
        tls,
        proxies,
        handler,
        limits,
        shutdown,
        gauges,
    });
    if let Ok(addr) = tcp.local_addr() {
        let scheme = if context.tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!(listener = name, "listening on {scheme}://{addr}");
    }

    let slots = ConnectionSlots::new(
        context.limits.max_connections,
        context.limits.max_connections_per_address,
    );
    let mut connections = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_FIRST;
    loop {
        tokio::select! {
            biased;
            () = context.shutdown.wait() => break,
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                log_task_end(name, finished);
            }
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = ACCEPT_BACKOFF_FIRST;
                    if context.proxies.trusts(peer.ip()) {
                        connections.spawn(proxied_connection(stream, peer, slots.clone(), context.clone()));
                    } else if let Some(slot) = take_slot(&slots, peer, &context) {
                        connections.spawn(connection(stream, peer, slot, context.clone()));
                    }
                    // Else the stream is dropped: closed before a byte is read.
                }
                Err(e) if is_connection_error(&e) => {
                    tracing::debug!(listener = name, "accept: {e}");
                }
                Err(e) => {
                    tracing::warn!(listener = name, "accept failed, retrying in {backoff:?}: {e}");
                    tokio::select! {
                        () = context.shutdown.wait() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            },
        }
    }

    drop(tcp); // from here new connections are refused
    tracing::info!(
        listener = name,
        connections = connections.len(),
        "stopped accepting; draining"
    );
    let drain = async {
        while let Some(finished) = connections.join_next().await {
            log_task_end(name, finished);
        }
    };
    if tokio::time::timeout(context.limits.drain_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            connections = connections.len(),
            "drain timeout passed; dropping the remaining connections"
        );
        connections.shutdown().await;
    }
    tracing::info!(listener = name, "stopped");
    Ok(())
}

fn http_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.header_read_timeout)
        // hyper 1.12 also has `max_header_size` (exact), but hyper-util 0.1's auto builder
        // does not pass it on; the read buffer bound is what it offers.
        .max_buf_size(limits.max_header_bytes.max(MIN_HTTP1_BUFFER));
    if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        builder.http1().max_headers(limits.max_headers);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Errors of one half-open connection: skip it and accept the next at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

fn log_task_end(listener: &'static str, finished: Result<(), tokio::task::JoinError>) {
    if let Err(e) = finished {
        if e.is_panic() {
            tracing::error!(listener, "a connection task panicked: {e}");
        }
    }
}

/// A place under the listener's caps for a connection from `client`, or `None` (counted).
fn take_slot<H>(
    slots: &Arc<ConnectionSlots>,
    client: SocketAddr,
    context: &Context<H>,
) -> Option<Slot> {
    match slots.take(client.ip()) {
        Ok(slot) => Some(slot),
        Err(cap) => {
            tracing::debug!(listener = context.name, %client, ?cap, "connection refused: cap reached");
            context
                .gauges
                .connection_refused(cap == CapReached::PerAddress);
            None
        }
    }
}

/// A connection from a trusted balancer: its PROXY header names the client, who then takes a
/// place under the caps; a connection without a valid header in time is closed.
async fn proxied_connection<H: Handler>(
    mut stream: TcpStream,
    balancer: SocketAddr,
    slots: Arc<ConnectionSlots>,
    context: Arc<Context<H>>,
) {
    let header = tokio::time::timeout(
        context.limits.header_read_timeout,
        proxy_protocol::read_client_address(&mut stream, balancer),
    );
    let client = tokio::select! {
        () = context.shutdown.wait() => return,
        result = header => match result {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                tracing::warn!(listener = context.name, %balancer, "connection from a trusted balancer closed: {e}");
                return;
            }
            Err(_) => {
                tracing::warn!(listener = context.name, %balancer, "connection from a trusted balancer closed: no PROXY header in time");
                return;
            }
        },
    };
    if let Some(slot) = take_slot(&slots, client, &context) {
        connection(stream, client, slot, context).await;
    }
}

/// One accepted connection, from TLS handshake to close.
/// `_slot` holds the connection's place under the listener's caps until it closes.
async fn connection<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    _slot: Slot,
    context: Arc<Context<H>>,
) {
    let _open = context.gauges.connection_opened();
    // Responses are small and complete; waiting to coalesce them only adds latency.
    let _ = stream.set_nodelay(true);
    let Some(tls) = &context.tls else {
        return drive(TokioIo::new(stream), Peer::at(peer), &context).await;
    };
    let handshake = tokio::time::timeout(context.limits.tls_handshake_timeout, tls.accept(stream));
    let stream = tokio::select! {
        () = context.shutdown.wait() => return,
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(listener = context.name, %peer, "TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!(listener = context.name, %peer, "TLS handshake timed out");
                return;
            }
        },
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(<[_]>::first)
        .map(|der| Arc::new(ClientCertificate::from_der(der)));
    let peer = Peer {
        addr: peer,
        certificate,
    };
    drive(TokioIo::new(stream), peer, &context).await
}

/// Serves HTTP on an established (plain or TLS) stream until the client closes, the
/// connection is idle too long, or shutdown.
async fn drive<H, I>(io: TokioIo<I>, peer: Peer, context: &Context<H>)
where
    H: Handler,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = {
        let handler = context.handler.clone();
        let gauges = context.gauges.clone();
        let activity = activity.clone();
        let peer = peer.clone(); // the connection keeps its own for its log lines
        service_fn(move |req| {
            let in_flight = (gauges.request_started(), activity.request_started());
            let handler = handler.clone();
            let peer = peer.clone();
            async move {
                let response = call_catching_panics(&handler, req, peer).await;
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let connection = context.http.serve_connection(io, service);
    tokio::pin!(connection);

    let idle = activity.idle(
        context.limits.header_read_timeout,
        context.limits.keep_alive_idle,
    );
    let draining = tokio::select! {
        result = connection.as_mut() => return log_connection_end(context.name, peer.addr, result),
        () = context.shutdown.wait() => true,
        () = idle => false,
    };
    connection.as_mut().graceful_shutdown();
    let result = if draining {
        // `serve` bounds the whole drain.
        connection.await
    } else {
        // Nothing is in flight, so this is quick unless the client stopped reading.
        match tokio::time::timeout(context.limits.header_read_timeout, connection).await {
            Ok(result) => result,
            Err(_) => {
                tracing::debug!(listener = context.name, peer = %peer.addr, "idle connection would not close; dropped");
                return;
            }
        }
    };
    log_connection_end(context.name, peer.addr, result)
}

fn log_connection_end(
    listener: &'static str,
    peer: SocketAddr,
    result: Result<(), Box<dyn std::error::Error + Send + Sync>>,
) {
    // Resets, timeouts and malformed requests are the client's business, not an alert.
    if let Err(e) = result {
        tracing::debug!(listener, %peer, "connection ended: {e}");
    }
}

async fn call_catching_panics<H: Handler>(
    handler: &H,
    req: Request<Incoming>,
    peer: Peer,
) -> Response<Full<Bytes>> {
    let addr = peer.addr;
    match AssertUnwindSafe(handler.call(req, peer))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            let request_id = fresh_request_id();
            tracing::error!(peer = %addr, request_id, "request handler panicked: {message}");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "gateway.internal",
                "Internal error",
                request_id,
            )
            .into_response()
        }
    }
}

/// Requests in flight on one connection and since when it has been idle: what the idle
/// watchdog needs, updated by the request guards.
#[derive(Debug)]
struct Activity {
    state: watch::Sender<ActivityState>,
}

#[derive(Debug, Clone, Copy)]
struct ActivityState {
    in_flight: u32,
    served: u64,
    idle_since: Instant,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: watch::Sender::new(ActivityState {
                in_flight: 0,
                served: 0,
                idle_since: Instant::now(),
            }),
        }
    }

    fn request_started(self: &Arc<Self>) -> ActivityGuard {
        // No wake-up: the watchdog re-checks when its timer fires.
        self.state.send_if_modified(|state| {
            state.in_flight += 1;
            false
        });
        ActivityGuard(self.clone())
    }

    /// Resolves when the connection has had nothing in flight for `idle_limit` — or, before
    /// its first request, for `first_request_within`.
    async fn idle(&self, first_request_within: Duration, idle_limit: Duration) {
        let mut state = self.state.subscribe();
        loop {
            let now = *state.borrow_and_update();
            if now.in_flight > 0 {
                // The sender lives in `self`, so this cannot fail.
                let _ = state.changed().await;
                continue;
            }
            let limit = if now.served == 0 {
                first_request_within
            } else {
                idle_limit
            };
            let deadline = now.idle_since + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// Counts one request on its connection until dropped.
struct ActivityGuard(Arc<Activity>);

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        self.0.state.send_if_modified(|state| {
            state.in_flight -= 1;
            state.served += 1;
            if state.in_flight == 0 {
                state.idle_since = Instant::now();
                true // the watchdog may be waiting for exactly this
            } else {
                false
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_are_valid_and_zeroes_are_not() {
        Limits::default().validate().expect("defaults are valid");
        let zero_timeout = Limits {
            header_read_timeout: Duration::ZERO,
            ..Limits::default()
        };
        assert!(zero_timeout.validate().is_err());
        let no_headers = Limits {
            max_headers: 0,
            ..Limits::default()
        };
        assert!(no_headers.validate().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_fires_after_the_first_request_deadline_without_requests() {
        let activity = Arc::new(Activity::new());
        let start = Instant::now();
        activity
            .idle(Duration::from_secs(3), Duration::from_secs(60))
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_requests_in_flight_and_counts_from_the_last_one() {
        let activity = Arc::new(Activity::new());
        let start = Instant::now();
        let guard = activity.request_started();
        let watchdog = tokio::spawn({
            let activity = activity.clone();
            async move {
                activity
                    .idle(Duration::from_secs(3), Duration::from_secs(5))
                    .await
            }
        });
        // A request far longer than both limits does not make the connection idle.
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(!watchdog.is_finished());
        drop(guard);
        watchdog.await.expect("watchdog");
        assert_eq!(start.elapsed(), Duration::from_secs(25));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_during_the_idle_wait_restarts_the_clock() {
        let activity = Arc::new(Activity::new());
        drop(activity.request_started()); // one request served at t=0
        let start = Instant::now();
        let watchdog = tokio::spawn({
            let activity = activity.clone();
            async move {
                activity
                    .idle(Duration::from_secs(1), Duration::from_secs(5))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_secs(4)).await;
        drop(activity.request_started()); // another at t=4
        watchdog.await.expect("watchdog");
        assert_eq!(start.elapsed(), Duration::from_secs(9));
    }
}
