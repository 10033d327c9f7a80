//! Sending the requests: one HTTP client connection per worker (HTTP/1.1 keep-alive, or HTTP/2
//! — ALPN over TLS, prior knowledge over plain HTTP), each with one request in flight, in a
//! closed loop (send, wait, send) or an open loop (request `i` is due at `start + i / rate`,
//! and its latency counts from then, so a stalled server cannot hide behind the requests it
//! delayed — no coordinated omission). Workers send each result as a [`Sample`] over a channel
//! to one collector, which owns the [`Recorder`] and prints the progress line.
//!
//! The open loop's due times are kept by a pacer thread that releases one request at a time
//! to whichever connection is free (a semaphore permit): its sleep is precise to tens of
//! microseconds, where the runtime's millisecond timer would add up to a millisecond to every
//! latency. Connections are opened before the clock starts; a broken or timed-out connection is
//! replaced on the next request.

use std::io::{IsTerminal as _, Write as _};
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use wire::api::VERIFY_PATH;

use crate::cli::{ClientArgs, Pace};
use crate::codes::Prepared;
use crate::feed::Requests;
use crate::stats::{Failure, Outcome, Recorder, Sample, Stop};
use crate::workload::Expect;

/// Where the requests go.
pub struct Target {
    /// The base URL as given, for the report.
    pub url: String,
    pub addr: SocketAddr,
    pub http2: bool,
    host: HeaderValue,
    /// `/v1/verify` (HTTP/1.1 sends origin-form)...
    path: Uri,
    /// ...and the absolute URI (HTTP/2 needs `:scheme` and `:authority`).
    absolute: Uri,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("addr", &self.addr)
            .field("http2", &self.http2)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Target {
    /// The gateway at base URL `url` (`http://127.0.0.1:8080`; a trailing `/v1/verify` is
    /// accepted too). Resolves the host once, here.
    pub fn new(url: &str, client: &ClientArgs) -> Result<Target> {
        let uri: Uri = url.parse().with_context(|| {
            format!("`--target {url}` is not a URL (expected e.g. `http://127.0.0.1:8080`)")
        })?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => bail!("`--target {url}` must start with `http://` or `https://`"),
        };
        let path = uri.path().trim_end_matches('/');
        if !(path.is_empty() || path == VERIFY_PATH) {
            bail!("`--target {url}` should be the gateway's base URL, without the path `{path}`");
        }
        let authority = uri
            .authority()
            .with_context(|| format!("`--target {url}` names no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .with_context(|| format!("resolving `{host}`"))?
            .next()
            .with_context(|| format!("`{host}` resolves to no address"))?;
        let tls = if https {
            let mut config = if client.insecure {
                insecure_client_config()
            } else if let Some(ca) = &client.cacert {
                gateway::http::tls::client_config_trusting(ca)
                    .with_context(|| format!("reading `--cacert {}`", ca.display()))?
            } else {
                bail!("`--target {url}` is HTTPS: pass `--cacert FILE` (the gateway's certificate, e.g. `data/tls/cert.pem`) or `--insecure`");
            };
            config.alpn_protocols = if client.http2 {
                vec![b"h2".to_vec()]
            } else {
                vec![b"http/1.1".to_vec()]
            };
            let name = ServerName::try_from(host.clone())
                .with_context(|| format!("`{host}` is not a TLS server name"))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        let scheme = if https { "https" } else { "http" };
        Ok(Target {
            url: url
                .trim_end_matches('/')
                .trim_end_matches(VERIFY_PATH)
                .to_string(),
            addr,
            http2: client.http2,
            host: HeaderValue::from_str(authority.as_str()).context("the target's host")?,
            path: Uri::from_static(VERIFY_PATH),
            absolute: format!("{scheme}://{authority}{VERIFY_PATH}")
                .parse()
                .context("the verify URL")?,
            tls,
        })
    }

    fn request(&self, p: &Prepared) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(p.body.clone()));
        *req.method_mut() = Method::POST;
        if self.http2 {
            *req.uri_mut() = self.absolute.clone();
        } else {
            *req.uri_mut() = self.path.clone();
            req.headers_mut().insert(HOST, self.host.clone());
        }
        let headers = req.headers_mut();
        headers.insert(AUTHORIZATION, p.authorization.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        req
    }
}

/// `--insecure`: a TLS client that checks the handshake's signatures but not who signed the
/// certificate.
fn insecure_client_config() -> rustls::ClientConfig {
    let provider = gateway::http::tls::crypto_provider();
    rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth()
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One client connection.
enum Connection {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Connection {
    fn is_closed(&self) -> bool {
        match self {
            Connection::H1(s) => s.is_closed(),
            Connection::H2(s) => s.is_closed(),
        }
    }

    async fn open(target: &Target) -> Result<Connection> {
        let tcp = TcpStream::connect(target.addr).await?;
        tcp.set_nodelay(true)?;
        match &target.tls {
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await?;
                Connection::handshake(TokioIo::new(tls), target.http2).await
            }
            None => Connection::handshake(TokioIo::new(tcp), target.http2).await,
        }
    }

    async fn handshake<I>(io: I, http2: bool) -> Result<Connection>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        if http2 {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(Connection::H2(sender))
        } else {
            let (sender, connection) = http1::Builder::new().handshake(io).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(Connection::H1(sender))
        }
    }

    /// Sends one request and reads the whole answer: its status, whether it says when to
    /// retry (`Retry-After`), its body.
    async fn send(&mut self, req: Request<Full<Bytes>>) -> hyper::Result<(u16, bool, Bytes)> {
        let response = match self {
            Connection::H1(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
            Connection::H2(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key(http::header::RETRY_AFTER);
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, retry_after, body))
    }
}

/// How the progress shows on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Off,
    /// One line per second (`--no-tui`, or stderr is not a terminal).
    Lines,
    /// One line updated in place.
    Live,
}

impl Progress {
    /// `Live` on a terminal unless `--no-tui`.
    pub fn choose(no_tui: bool) -> Progress {
        if !no_tui && std::io::stderr().is_terminal() {
            Progress::Live
        } else {
            Progress::Lines
        }
    }
}

/// One load phase.
#[derive(Debug, Clone)]
pub struct Drive {
    /// Named in the progress line (`run`, `baseline`, `gateway`, `warm-up`).
    pub label: String,
    pub pace: Pace,
    pub connections: usize,
    /// Stop after this many requests...
    pub requests: Option<u64>,
    /// ...or this long after the start.
    pub duration: Option<Duration>,
    pub timeout: Duration,
    /// Check each answer against its request's expectation; otherwise only that it is a 2xx.
    pub check: bool,
    /// The gateway may shed load: a 503 `gateway.overloaded` with `Retry-After` is a refusal
    /// the phase expects (`overload`), not a failure.
    pub shedding: bool,
    /// Where the latency of each window of the run goes as it ends (`soak`).
    pub windows: Option<Windows>,
    pub progress: Progress,
}

/// The run cut into windows of `every`, each summed up as it ends.
#[derive(Debug, Clone)]
pub struct Windows {
    pub every: Duration,
    pub to: mpsc::UnboundedSender<LatencyWindow>,
}

/// The answers of one window of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyWindow {
    /// When the window ended, from the start of the run.
    pub ended: Duration,
    pub requests: u64,
    /// Requests that failed their expectation.
    pub errors: u64,
    /// Latency of the answered requests, milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A window's histogram and counters.
struct OpenWindow {
    latency: hdrhistogram::Histogram<u64>,
    requests: u64,
    errors: u64,
}

impl OpenWindow {
    fn new() -> OpenWindow {
        OpenWindow {
            latency: crate::stats::histogram(),
            requests: 0,
            errors: 0,
        }
    }

    fn record(&mut self, sample: &Sample) {
        self.requests += 1;
        match &sample.outcome {
            Outcome::Answered { mismatch, .. } => {
                let micros = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX);
                self.latency.saturating_record(micros.max(1));
                if mismatch.is_some() {
                    self.errors += 1;
                }
            }
            Outcome::Failed(_) => self.errors += 1,
        }
    }

    /// Sums the window up and starts the next.
    fn close(&mut self, ended: Duration) -> LatencyWindow {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let window = LatencyWindow {
            ended,
            requests: self.requests,
            errors: self.errors,
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            max_ms: self.latency.max() as f64 / 1000.0,
        };
        *self = OpenWindow::new();
        window
    }
}

/// What a phase produced.
#[derive(Debug)]
pub struct Finished {
    pub recorder: Recorder,
    pub elapsed: Duration,
    pub stop: Stop,
}

struct Shared {
    next: AtomicU64,
    exhausted: AtomicBool,
    /// Open loop: one permit per request released at its due time (then one per worker to
    /// stop it).
    released: Option<Arc<Semaphore>>,
    /// Open loop: requests `0..limit` are released; any index past it means stop.
    limit: u64,
}

/// Open loop: requests that can be released, the smallest of `-n`, the requests there are
/// (when they end) and the due times before `-z` ends; and whether the requests there are is
/// what limits it.
fn open_loop_limit(per_sec: f64, drive: &Drive, there_are: Option<u64>) -> (u64, bool) {
    let by_requests = drive.requests.unwrap_or(u64::MAX);
    // Request `i` is due at `i / per_sec`: those due before the end are `ceil(z × rate)`.
    let by_time = drive
        .duration
        .map_or(u64::MAX, |z| (z.as_secs_f64() * per_sec).ceil() as u64);
    let wanted = by_requests.min(by_time);
    match there_are {
        Some(n) if n < wanted => (n, true),
        _ => (wanted, false),
    }
}

/// The pacer of the open loop, on its own thread: releases request `i` at `start + i / rate`.
/// A thread's sleep wakes within tens of microseconds; the runtime's timer ticks by the
/// millisecond, which would add up to a millisecond to every open-loop latency.
fn pace(released: Arc<Semaphore>, start: Instant, per_sec: f64, limit: u64, workers: usize) {
    let start = start.into_std();
    for i in 0..limit {
        let due = start + Duration::from_secs_f64(i as f64 / per_sec);
        let now = std::time::Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        released.add_permits(1);
    }
    released.add_permits(workers);
}

/// Runs one phase against `target` with `requests` (in order).
pub async fn drive(
    target: Arc<Target>,
    requests: Requests,
    scenarios: Vec<String>,
    drive: &Drive,
) -> Finished {
    let mut opening = JoinSet::new();
    for _ in 0..drive.connections {
        let target = Arc::clone(&target);
        let timeout = drive.timeout;
        opening.spawn(async move {
            tokio::time::timeout(timeout, Connection::open(&target))
                .await
                .ok()
                .and_then(Result::ok)
        });
    }
    let connections: Vec<Option<Connection>> = opening.join_all().await;

    let (tx, rx) = mpsc::unbounded_channel();
    let (limit, exhausted) = match drive.pace {
        Pace::Open { per_sec } => open_loop_limit(per_sec, drive, requests.count()),
        Pace::Closed => (u64::MAX, false),
    };
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        exhausted: AtomicBool::new(exhausted),
        released: matches!(drive.pace, Pace::Open { .. }).then(|| Arc::new(Semaphore::new(0))),
        limit,
    });
    let start = Instant::now();
    let pacer = match (drive.pace, &shared.released) {
        (Pace::Open { per_sec }, Some(released)) => {
            let released = Arc::clone(released);
            let workers = connections.len();
            Some(std::thread::spawn(move || {
                pace(released, start, per_sec, limit, workers)
            }))
        }
        _ => None,
    };
    let mut workers = JoinSet::new();
    for connection in connections {
        workers.spawn(worker(
            connection,
            Arc::clone(&target),
            requests.clone(),
            Arc::clone(&shared),
            drive.clone(),
            start,
            tx.clone(),
        ));
    }
    drop(tx);
    let collector = tokio::spawn(collect(
        rx,
        Recorder::new(scenarios),
        drive.label.clone(),
        drive.progress,
        drive.windows.clone(),
        start,
    ));
    while workers.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    if let Some(pacer) = pacer {
        pacer.join().expect("the pacer does not panic");
    }
    let recorder = collector.await.expect("the collector does not panic");
    let sent = recorder.requests();
    let cut_short = drive.duration.is_some() && drive.requests.is_none_or(|n| sent < n);
    let stop = if cut_short && shared.exhausted.load(Ordering::Relaxed) {
        Stop::CodesExhausted
    } else if cut_short {
        Stop::Duration
    } else {
        Stop::Completed
    };
    Finished {
        recorder,
        elapsed,
        stop,
    }
}

async fn worker(
    mut connection: Option<Connection>,
    target: Arc<Target>,
    requests: Requests,
    shared: Arc<Shared>,
    drive: Drive,
    start: Instant,
    samples: mpsc::UnboundedSender<Sample>,
) {
    let deadline = drive.duration.map(|d| start + d);
    loop {
        if let Some(released) = &shared.released {
            match released.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => break,
            }
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let due = match drive.pace {
            Pace::Open { per_sec } => {
                if i >= shared.limit {
                    break;
                }
                // Released at (or, when every connection was busy, after) its due time:
                // latency counts from the due time either way.
                Some(start + Duration::from_secs_f64(i as f64 / per_sec))
            }
            Pace::Closed => {
                if drive.requests.is_some_and(|n| i >= n)
                    || deadline.is_some_and(|d| Instant::now() >= d)
                {
                    break;
                }
                None
            }
        };
        let Some(prepared) = requests.get(i).await else {
            shared.exhausted.store(true, Ordering::Relaxed);
            break;
        };
        let prepared = &prepared;
        let sent = Instant::now();
        let from = due.unwrap_or(sent);
        if connection.as_ref().is_some_and(Connection::is_closed) {
            connection = None;
        }
        let outcome = match connection.as_mut() {
            Some(c) => exchange(c, &target, prepared, &drive).await,
            None => match tokio::time::timeout(drive.timeout, Connection::open(&target)).await {
                Ok(Ok(mut c)) => {
                    let outcome = exchange(&mut c, &target, prepared, &drive).await;
                    connection = Some(c);
                    outcome
                }
                _ => Outcome::Failed(Failure::Connect),
            },
        };
        match outcome {
            Outcome::Failed(Failure::Connect) => {
                // Do not spin on a server that is not there.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Outcome::Failed(_) => connection = None,
            Outcome::Answered { .. } => {}
        }
        let sample = Sample {
            index: i,
            scenario: prepared.scenario,
            input: prepared.input,
            latency: from.elapsed(),
            outcome,
        };
        if samples.send(sample).is_err() {
            break;
        }
    }
}

/// One request and its checked answer.
async fn exchange(
    connection: &mut Connection,
    target: &Target,
    prepared: &Prepared,
    drive: &Drive,
) -> Outcome {
    match tokio::time::timeout(drive.timeout, connection.send(target.request(prepared))).await {
        Err(_) => Outcome::Failed(Failure::Timeout),
        Ok(Err(_)) => Outcome::Failed(Failure::Transport),
        Ok(Ok((status, retry_after, body))) => {
            let expect = if drive.shedding && status == 503 {
                Expect::Shed { retry_after }
            } else if drive.check {
                prepared.expect
            } else {
                Expect::Served
            };
            let checked = expect.check(status, &body);
            Outcome::Answered {
                status,
                verdict: checked.verdict,
                mismatch: checked.mismatch.map(|(kind, got)| {
                    Box::new(crate::stats::Mismatch {
                        request: 0,
                        scenario: String::new(),
                        input: prepared.input,
                        kind,
                        expected: expect.to_string(),
                        got,
                    })
                }),
            }
        }
    }
}

/// The collector: folds samples into the recorder (and the window under way, if the run is
/// cut into windows) and shows progress once a second.
async fn collect(
    mut rx: mpsc::UnboundedReceiver<Sample>,
    mut recorder: Recorder,
    label: String,
    progress: Progress,
    windows: Option<Windows>,
    start: Instant,
) -> Recorder {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let every = windows
        .as_ref()
        .map_or(Duration::from_secs(3600), |w| w.every);
    let mut window_tick = tokio::time::interval_at(start + every, every);
    let mut window = OpenWindow::new();
    let mut batch = Vec::with_capacity(256);
    let mut last = 0u64;
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, 256) => {
                if n == 0 {
                    break;
                }
                for mut sample in batch.drain(..) {
                    if let Outcome::Answered { mismatch: Some(m), .. } = &mut sample.outcome {
                        m.request = sample.index;
                    }
                    if windows.is_some() {
                        window.record(&sample);
                    }
                    recorder.record(sample);
                }
            }
            _ = tick.tick() => {
                let now = recorder.requests();
                show(progress, &label, start.elapsed(), &recorder, now - last);
                last = now;
            }
            _ = window_tick.tick(), if windows.is_some() => {
                if let Some(w) = &windows {
                    let _ = w.to.send(window.close(start.elapsed()));
                }
            }
        }
    }
    if let Some(w) = windows.filter(|_| window.requests > 0) {
        // The last window, shorter than the others.
        let _ = w.to.send(window.close(start.elapsed()));
    }
    if progress == Progress::Live {
        eprint!("\r\x1b[K");
    }
    recorder
}

fn show(progress: Progress, label: &str, elapsed: Duration, recorder: &Recorder, last_second: u64) {
    if progress == Progress::Off {
        return;
    }
    let p = recorder.latency();
    let line = format!(
        "{label} {:>5.1}s  {:>9} requests  {:>7}/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
        elapsed.as_secs_f64(),
        recorder.requests(),
        last_second,
        p.p50,
        p.p99,
        recorder.errors()
    );
    let mut err = std::io::stderr().lock();
    let _ = match progress {
        Progress::Live => write!(err, "\r\x1b[K{line}"),
        _ => writeln!(err, "{line}"),
    };
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive(requests: Option<u64>, duration: Option<Duration>) -> Drive {
        Drive {
            label: "t".into(),
            pace: Pace::Open { per_sec: 100.0 },
            connections: 2,
            requests,
            duration,
            timeout: Duration::from_secs(1),
            check: true,
            shedding: false,
            windows: None,
            progress: Progress::Off,
        }
    }

    #[test]
    fn the_open_loop_releases_what_the_first_limit_allows() {
        let ten_secs = Some(Duration::from_secs(10));
        assert_eq!(
            open_loop_limit(100.0, &drive(None, ten_secs), Some(1000)),
            (1000, false)
        );
        assert_eq!(
            open_loop_limit(100.0, &drive(Some(50), ten_secs), Some(1000)),
            (50, false)
        );
        assert_eq!(
            open_loop_limit(100.0, &drive(None, ten_secs), Some(300)),
            (300, true)
        );
        // A pool that cycles, or requests minted as the run goes, do not end.
        assert_eq!(
            open_loop_limit(100.0, &drive(None, ten_secs), None),
            (1000, false)
        );
        assert_eq!(
            open_loop_limit(
                100.0,
                &drive(None, Some(Duration::from_millis(15))),
                Some(300)
            ),
            (2, false)
        );
    }

    #[test]
    fn the_pacer_releases_every_request_then_one_stop_per_worker() {
        let released = Arc::new(Semaphore::new(0));
        pace(Arc::clone(&released), Instant::now(), 10_000.0, 20, 3);
        assert_eq!(released.available_permits(), 23);
    }

    #[test]
    fn targets_take_a_base_url_and_refuse_others() {
        let plain = ClientArgs {
            http2: false,
            insecure: false,
            cacert: None,
        };
        let t = Target::new("http://127.0.0.1:8080/v1/verify", &plain).expect("valid");
        assert_eq!(t.url, "http://127.0.0.1:8080");
        assert_eq!(t.addr, "127.0.0.1:8080".parse().expect("addr"));
        assert!(Target::new("http://127.0.0.1:8080/other", &plain).is_err());
        assert!(
            Target::new("https://127.0.0.1:8443", &plain).is_err(),
            "needs --cacert or --insecure"
        );
        let insecure = ClientArgs {
            insecure: true,
            ..plain
        };
        assert!(Target::new("https://127.0.0.1:8443", &insecure).is_ok());
    }
}
