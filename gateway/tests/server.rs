//! The listeners over real sockets on 127.0.0.1, port 0: HTTP versions, TLS and ALPN,
//! certificate reload, header limits and timeouts, graceful shutdown, and the admin routes.
//!
//! Waits are bounded by [`PATIENCE`] so a broken server fails the test instead of hanging
//! it; no test asserts that anything happens *faster* than some threshold.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway::admin::{AdminHandler, Readiness};
use gateway::http::proxy_protocol::TrustedProxies;
use gateway::http::server::{serve, Handler, Limits, Listener, Peer};
use gateway::http::tls::{client_config_trusting, ensure_self_signed, TlsAcceptor};
use gateway::metrics::Metrics;
use gateway::shutdown::Shutdown;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Upper bound for anything the server is expected to do; only reached when it is broken.
const PATIENCE: Duration = Duration::from_secs(10);

async fn patiently<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after {PATIENCE:?}"))
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

/// Answers `<version> <peer>[ venue=<venue its certificate names>]`; `/slow` sleeps 500 ms first, `/hang` never answers (both
/// notify `started` when they begin), `/panic` panics.
#[derive(Clone, Default)]
struct TestHandler {
    started: Arc<Notify>,
}

impl Handler for TestHandler {
    fn call(
        &self,
        req: Request<Incoming>,
        peer: Peer,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send {
        let started = self.started.clone();
        async move {
            match req.uri().path() {
                "/slow" => {
                    started.notify_one();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                "/hang" => {
                    started.notify_one();
                    std::future::pending::<()>().await
                }
                "/panic" => panic!("the test handler panics on purpose"),
                _ => {}
            }
            let venue = peer
                .certificate
                .as_ref()
                .and_then(|c| c.venue())
                .map(|v| format!(" venue={v}"))
                .unwrap_or_default();
            Response::new(Full::new(Bytes::from(format!(
                "{:?} {}{venue}",
                req.version(),
                peer.addr
            ))))
        }
    }
}

struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.trigger();
        patiently("serve returns", self.task)
            .await
            .expect("serve does not panic")
            .expect("serve succeeds");
    }
}

fn test_limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(300),
        max_header_bytes: 8 * 1024,
        max_headers: 20,
        tls_handshake_timeout: Duration::from_millis(300),
        keep_alive_idle: Duration::from_secs(30),
        drain_timeout: Duration::from_secs(5),
        max_connections: 1000,
        max_connections_per_address: 1000,
    }
}

async fn start<H: Handler>(
    handler: H,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    metrics: &Metrics,
    name: &'static str,
    shutdown: Shutdown,
) -> Running {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("local addr");
    let listener = Listener::new(name, tcp, tls, metrics);
    let task = tokio::spawn(serve(listener, handler, limits, shutdown.clone()));
    Running {
        addr,
        shutdown,
        task,
    }
}

async fn start_plain(limits: Limits) -> Running {
    start(
        TestHandler::default(),
        None,
        limits,
        &Metrics::new(),
        "public",
        Shutdown::new(),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

type H1 = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;
type H2 = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

/// An HTTP/1.1 client on `io`, and the task driving the connection (ends when it closes).
async fn http1<I>(io: I) -> (H1, JoinHandle<()>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP/1 handshake");
    (
        sender,
        tokio::spawn(async move {
            let _ = connection.await;
        }),
    )
}

/// An HTTP/2 client on `io` (prior knowledge unless ALPN chose it), and its connection task.
async fn http2<I>(io: I) -> (H2, JoinHandle<()>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("HTTP/2 handshake");
    (
        sender,
        tokio::spawn(async move {
            let _ = connection.await;
        }),
    )
}

fn request(path: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .uri(path)
        .header(http::header::HOST, "localhost")
        .body(Empty::new())
        .expect("request")
}

/// Status, version and body of one response.
async fn read(response: Response<Incoming>) -> (StatusCode, Version, String) {
    let status = response.status();
    let version = response.version();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        version,
        String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    )
}

async fn get1(sender: &mut H1, path: &str) -> (StatusCode, Version, String) {
    sender.ready().await.expect("connection ready");
    read(sender.send_request(request(path)).await.expect("response")).await
}

async fn get2(sender: &mut H2, path: &str) -> (StatusCode, Version, String) {
    // HTTP/2 requests carry the authority in the URI.
    let mut req = request(path);
    *req.uri_mut() = format!("https://localhost{path}").parse().expect("uri");
    sender.ready().await.expect("connection ready");
    read(sender.send_request(req).await.expect("response")).await
}

async fn tls_connect(
    addr: SocketAddr,
    trust: &Path,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    // A fresh client config per connection: no session resumption hiding a new certificate.
    let mut config = client_config_trusting(trust).expect("client config");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
}

fn peer_certificate(
    stream: &tokio_rustls::client::TlsStream<TcpStream>,
) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("server certificate")[0]
        .clone()
}

/// Writes `bytes` (the server may close early; that is fine) and returns everything read
/// until the server closes the connection.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let _ = tcp.write_all(bytes).await;
    read_until_closed(&mut tcp).await
}

async fn read_until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    patiently("the server closes the connection", async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    received
}

fn status_line(response: &[u8]) -> String {
    String::from_utf8_lossy(response)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Writes a fresh self-signed pair into `dir` by temporary file and rename, the way a
/// certificate manager replaces files.
fn write_certificate(dir: &Path) -> (PathBuf, PathBuf, CertificateDer<'static>, String) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("rcgen");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let pem = generated.cert.pem();
    for (path, contents) in [
        (&key, generated.key_pair.serialize_pem()),
        (&cert, pem.clone()),
    ] {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, contents).expect("write");
        std::fs::rename(&tmp, path).expect("rename");
    }
    (cert, key, generated.cert.der().clone(), pem)
}

// ---------------------------------------------------------------------------------------------
// HTTP versions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn http1_keep_alive_and_http2_prior_knowledge_share_a_plain_port() {
    let server = start_plain(test_limits()).await;

    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let client_addr = tcp.local_addr().expect("client addr");
    let (mut h1, _) = http1(tcp).await;
    for _ in 0..2 {
        let (status, version, body) = get1(&mut h1, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(version, Version::HTTP_11);
        // The server saw our one connection both times.
        assert_eq!(body, format!("HTTP/1.1 {client_addr}"));
    }

    let (mut h2, _) = http2(TcpStream::connect(server.addr).await.expect("connect")).await;
    let (status, version, body) = get2(&mut h2, "/").await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
    assert!(body.starts_with("HTTP/2.0 "), "{body}");

    server.stop().await;
}

#[tokio::test]
async fn tls_serves_h2_and_http1_by_alpn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ensure_self_signed(dir.path(), &["localhost", "127.0.0.1"]).expect("demo");
    let acceptor = TlsAcceptor::from_pem_files(&cert, &key).expect("acceptor");
    let server = start(
        TestHandler::default(),
        Some(acceptor),
        test_limits(),
        &Metrics::new(),
        "public",
        Shutdown::new(),
    )
    .await;

    let tls = tls_connect(server.addr, &cert, &[b"h2", b"http/1.1"])
        .await
        .expect("TLS");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, _) = http2(tls).await;
    let (status, version, _) = get2(&mut h2, "/").await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));

    let tls = tls_connect(server.addr, &cert, &[b"http/1.1"])
        .await
        .expect("TLS");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut h1, _) = http1(tls).await;
    let (status, version, _) = get1(&mut h1, "/").await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_11));

    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_connection_carries_on() {
    let server = start_plain(test_limits()).await;
    let (mut h2, _) = http2(TcpStream::connect(server.addr).await.expect("connect")).await;
    let (status, _, body) = get2(&mut h2, "/panic").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("\"code\":\"gateway.internal\""), "{body}");
    assert!(
        !body.contains("on purpose"),
        "the panic message stays inside: {body}"
    );
    let (status, _, _) = get2(&mut h2, "/").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Slow and oversized clients
// ---------------------------------------------------------------------------------------------

/// One address may hold `max_connections_per_address` connections: the next is closed at
/// accept (counted in the metrics) and, once one of its connections closes, a new one is served.
#[tokio::test]
async fn connections_past_the_per_address_cap_are_closed_at_accept() {
    let metrics = Metrics::new();
    let limits = Limits {
        max_connections_per_address: 2,
        ..test_limits()
    };
    let server = start(
        TestHandler::default(),
        None,
        limits,
        &metrics,
        "public",
        Shutdown::new(),
    )
    .await;
    let (mut first, first_task) =
        http1(TcpStream::connect(server.addr).await.expect("connect")).await;
    let (mut second, _) = http1(TcpStream::connect(server.addr).await.expect("connect")).await;
    assert_eq!(get1(&mut first, "/").await.0, StatusCode::OK);
    assert_eq!(get1(&mut second, "/").await.0, StatusCode::OK);
    // The third from the same address: closed without an answer.
    let refused = raw_exchange(server.addr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(refused.is_empty(), "{}", String::from_utf8_lossy(&refused));
    assert!(
        metrics
            .render()
            .contains("mz_connections_refused_total{listener=\"public\",cap=\"per_address\"} 1"),
        "{}",
        metrics.render()
    );
    // A closed connection frees its place.
    drop(first);
    patiently("the first connection closes", first_task)
        .await
        .ok();
    patiently(
        "a place is free again",
        Box::pin(async {
            loop {
                let answer = raw_exchange(
                    server.addr,
                    b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                )
                .await;
                if status_line(&answer).contains("200") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }),
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn half_a_request_head_is_cut_off_after_header_read_timeout() {
    let server = start_plain(test_limits()).await;
    let received = raw_exchange(server.addr, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Sl").await;
    // Closed, and nothing was served.
    assert!(!status_line(&received).contains(" 200 "), "{received:?}");

    // The same on a keep-alive connection after a request was served. (Here `keep_alive_idle`,
    // 30 s, is not what closes it: hyper's header timer is.)
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: loc")
        .await
        .expect("write");
    let received = read_until_closed(&mut tcp).await;
    let text = String::from_utf8_lossy(&received);
    assert_eq!(text.matches("HTTP/1.1 200 ").count(), 1, "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    // Before the first bytes hyper-util is still sniffing the HTTP version, where hyper's
    // header timer does not run yet; the server's own watchdog closes it.
    let server = start_plain(test_limits()).await;
    assert!(raw_exchange(server.addr, b"").await.is_empty());
    // Likewise a client that stalls inside the HTTP/2 preface.
    assert!(raw_exchange(server.addr, b"PRI * HTTP/2.0\r\n")
        .await
        .is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ensure_self_signed(dir.path(), &["localhost"]).expect("demo");
    let acceptor = TlsAcceptor::from_pem_files(&cert, &key).expect("acceptor");
    let server = start(
        TestHandler::default(),
        Some(acceptor),
        test_limits(),
        &Metrics::new(),
        "public",
        Shutdown::new(),
    )
    .await;
    assert!(raw_exchange(server.addr, b"").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn too_many_headers_get_431_or_a_closed_connection() {
    let server = start_plain(test_limits()).await;
    let mut head = String::from("GET / HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..50 {
        head.push_str(&format!("X-Header-{i}: {i}\r\n"));
    }
    head.push_str("\r\n");
    let received = raw_exchange(server.addr, head.as_bytes()).await;
    let status = status_line(&received);
    assert!(
        received.is_empty() || status.starts_with("HTTP/1.1 431 "),
        "{status}"
    );
    server.stop().await;
}

#[tokio::test]
async fn too_large_headers_get_431_or_a_closed_connection() {
    let server = start_plain(test_limits()).await;

    // Within the limit: served (and the connection then closed by the client).
    let within = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(4 * 1024)
    );
    let received = raw_exchange(server.addr, within.as_bytes()).await;
    assert!(
        status_line(&received).starts_with("HTTP/1.1 200 "),
        "{received:?}"
    );

    let over = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let received = raw_exchange(server.addr, over.as_bytes()).await;
    let status = status_line(&received);
    assert!(
        received.is_empty() || status.starts_with("HTTP/1.1 431 "),
        "{status}"
    );

    // HTTP/2 bounds the header list the same way.
    let (mut h2, _) = http2(TcpStream::connect(server.addr).await.expect("connect")).await;
    let mut req = request("/");
    *req.uri_mut() = "http://localhost/".parse().expect("uri");
    req.headers_mut().insert(
        "x-big",
        "a".repeat(20 * 1024).parse().expect("header value"),
    );
    h2.ready().await.expect("ready");
    let response = h2.send_request(req).await.expect("an answer");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );

    server.stop().await;
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_keep_alive_idle() {
    let server = start_plain(Limits {
        keep_alive_idle: Duration::from_millis(300),
        ..test_limits()
    })
    .await;
    let (mut h2, connection) = http2(TcpStream::connect(server.addr).await.expect("connect")).await;
    assert_eq!(get2(&mut h2, "/").await.0, StatusCode::OK);
    patiently("the idle connection is closed", connection)
        .await
        .expect("client task");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Behind a load balancer (PROXY protocol v2)
// ---------------------------------------------------------------------------------------------

/// A plain listener that reads PROXY headers from `trusted`.
async fn start_behind(trusted: &[&str], limits: Limits) -> Running {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("local addr");
    let proxies = TrustedProxies::parse(&trusted.iter().map(|t| t.to_string()).collect::<Vec<_>>())
        .expect("trusted balancers");
    let listener = Listener::new("public", tcp, None, &Metrics::new()).behind(proxies);
    let shutdown = Shutdown::new();
    let task = tokio::spawn(serve(
        listener,
        TestHandler::default(),
        limits,
        shutdown.clone(),
    ));
    Running {
        addr,
        shutdown,
        task,
    }
}

/// A connection to `server` that starts with a PROXY v2 header for `client`. The header's
/// destination is of the client's family, as a balancer's is (mixed families make the header
/// "unspecified").
async fn connect_as(server: SocketAddr, client: &str) -> TcpStream {
    let client: SocketAddr = client.parse().expect("client address");
    let destination = match client {
        SocketAddr::V4(_) => server,
        SocketAddr::V6(_) => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, server.port())),
    };
    let header =
        ppp::v2::Builder::with_addresses(0x21, ppp::v2::Protocol::Stream, (client, destination))
            .build()
            .expect("PROXY header");
    let mut tcp = TcpStream::connect(server).await.expect("connect");
    tcp.write_all(&header).await.expect("write the header");
    tcp
}

#[tokio::test]
async fn a_trusted_balancer_names_the_client_for_the_caps_and_the_routes() {
    let server = start_behind(
        &["127.0.0.1"],
        Limits {
            max_connections_per_address: 1,
            ..test_limits()
        },
    )
    .await;

    // The routes see the client the balancer names, not the balancer.
    let (mut first, _) = http1(connect_as(server.addr, "203.0.113.9:51000").await).await;
    let (status, _, body) = get1(&mut first, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "HTTP/1.1 203.0.113.9:51000");

    // The per-address cap counts that client: its second connection is closed at once,
    // while another client behind the same balancer still gets in.
    let mut second = connect_as(server.addr, "203.0.113.9:51001").await;
    let _ = second
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await;
    assert!(read_until_closed(&mut second).await.is_empty());
    let (mut other, _) = http1(connect_as(server.addr, "[2001:db8::5]:7000").await).await;
    assert_eq!(get1(&mut other, "/").await.2, "HTTP/1.1 [2001:db8::5]:7000");

    // From the balancer, no header (or a broken one) is no connection.
    let refused = raw_exchange(server.addr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(refused.is_empty(), "{}", String::from_utf8_lossy(&refused));
    server.stop().await;
}

#[tokio::test]
async fn a_proxy_header_from_anyone_else_is_not_believed() {
    // Only 192.0.2.1 is a balancer; the test connects from 127.0.0.1.
    let server = start_behind(&["192.0.2.1"], test_limits()).await;
    let mut tcp = connect_as(server.addr, "203.0.113.9:51000").await;
    let _ = tcp
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await;
    let received = String::from_utf8_lossy(&read_until_closed(&mut tcp).await).into_owned();
    assert!(
        !received.contains("203.0.113.9"),
        "a client cannot claim another address: {received}"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Certificate reload
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_replaced_certificate_reaches_new_handshakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, first, _) = write_certificate(dir.path());
    let acceptor = TlsAcceptor::from_pem_files(&cert, &key).expect("acceptor");
    let shutdown = Shutdown::new();
    let reloader = acceptor.spawn_reloader(Duration::from_millis(50), shutdown.clone());
    let server = start(
        TestHandler::default(),
        Some(acceptor.clone()),
        test_limits(),
        &Metrics::new(),
        "public",
        shutdown.clone(),
    )
    .await;

    let before = tls_connect(server.addr, &cert, &[b"http/1.1"])
        .await
        .expect("TLS");
    assert_eq!(peer_certificate(&before), first);

    let (_, _, second, second_pem) = write_certificate(dir.path());
    assert_ne!(first, second);
    patiently("the reloader picks up the new files", async {
        while acceptor.generation() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let after = tls_connect(server.addr, &cert, &[b"http/1.1"])
        .await
        .expect("TLS");
    assert_eq!(peer_certificate(&after), second);
    // The connection opened before the reload still works with the old certificate.
    let (mut h1, _) = http1(before).await;
    assert_eq!(get1(&mut h1, "/").await.0, StatusCode::OK);

    // A broken file is not taken: the last good certificate stays.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\ngarbage\n").expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(acceptor.generation(), 1);
    let trust = dir.path().join("second.pem");
    std::fs::write(&trust, second_pem).expect("write trust");
    let still = tls_connect(server.addr, &trust, &[b"http/1.1"])
        .await
        .expect("TLS");
    assert_eq!(peer_certificate(&still), second);

    server.stop().await;
    patiently("the reloader stops", reloader)
        .await
        .expect("reloader");
}

// ---------------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_refuses_new_ones_and_readyz_turns_503() {
    let metrics = Metrics::new();
    let shutdown = Shutdown::new();
    let readiness = Readiness::new(shutdown.clone());
    readiness.set_ready();
    let handler = TestHandler::default();
    let public = start(
        handler.clone(),
        None,
        test_limits(),
        &metrics,
        "public",
        shutdown.clone(),
    )
    .await;
    // The admin listener stops last, on its own signal, so `/readyz` can say "draining".
    let admin = start(
        AdminHandler::new(metrics.clone(), readiness),
        None,
        test_limits(),
        &metrics,
        "admin",
        Shutdown::new(),
    )
    .await;
    let (mut probe, _) = http1(TcpStream::connect(admin.addr).await.expect("connect")).await;
    assert_eq!(get1(&mut probe, "/readyz").await.0, StatusCode::OK);

    let (mut h1, _) = http1(TcpStream::connect(public.addr).await.expect("connect")).await;
    let slow = tokio::spawn(async move { get1(&mut h1, "/slow").await });
    patiently("the slow request starts", handler.started.notified()).await;

    shutdown.trigger();
    let (status, _, body) = get1(&mut probe, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("admin.draining"), "{body}");

    patiently("new connections are refused", async {
        while TcpStream::connect(public.addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    let (status, _, _) = patiently("the slow request finishes", slow)
        .await
        .expect("client task");
    assert_eq!(status, StatusCode::OK);
    patiently("the public listener drains", public.task)
        .await
        .expect("serve does not panic")
        .expect("serve succeeds");
    admin.stop().await;
}

#[tokio::test]
async fn connections_left_after_drain_timeout_are_dropped() {
    let handler = TestHandler::default();
    let server = start(
        handler.clone(),
        None,
        Limits {
            drain_timeout: Duration::from_millis(300),
            ..test_limits()
        },
        &Metrics::new(),
        "public",
        Shutdown::new(),
    )
    .await;
    let (mut h1, _) = http1(TcpStream::connect(server.addr).await.expect("connect")).await;
    let hanging = tokio::spawn(async move {
        h1.ready().await?;
        h1.send_request(request("/hang")).await
    });
    patiently("the hanging request starts", handler.started.notified()).await;
    server.stop().await;
    let outcome = patiently("the client sees the end", hanging)
        .await
        .expect("client task");
    assert!(
        outcome.is_err(),
        "no answer for a request that never finished"
    );
}

// ---------------------------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn admin_serves_livez_readyz_and_metrics() {
    let metrics = Metrics::new();
    let readiness = Readiness::new(Shutdown::new());
    let admin = start(
        AdminHandler::new(metrics.clone(), readiness.clone()),
        None,
        test_limits(),
        &metrics,
        "admin",
        Shutdown::new(),
    )
    .await;
    let (mut client, _) = http1(TcpStream::connect(admin.addr).await.expect("connect")).await;

    assert_eq!(get1(&mut client, "/livez").await.0, StatusCode::OK);
    let (status, _, body) = get1(&mut client, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("admin.starting"), "{body}");
    readiness.set_ready();
    assert_eq!(get1(&mut client, "/readyz").await.0, StatusCode::OK);
    let (status, _, body) = get1(&mut client, "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("\"code\":\"request.not_found\""), "{body}");

    client.ready().await.expect("ready");
    let response = client
        .send_request(request("/metrics"))
        .await
        .expect("metrics");
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        gateway::metrics::CONTENT_TYPE
    );
    let (status, _, text) = read(response).await;
    assert_eq!(status, StatusCode::OK);
    for family in [
        "# TYPE mz_http_requests counter",
        "# TYPE mz_verifications counter",
        "# TYPE mz_verify_duration_seconds histogram",
        "# TYPE mz_code_rejections counter",
        "# TYPE mz_cache_requests counter",
        "# TYPE mz_upstream_requests counter",
        "# TYPE mz_upstream_duration_seconds histogram",
        "# TYPE mz_requirements counter",
        "# TYPE mz_paper_fallbacks counter",
        "# TYPE mz_in_flight_requests gauge",
        "# TYPE mz_open_connections gauge",
    ] {
        assert!(text.contains(family), "`{family}` in:\n{text}");
    }
    // The listener's own gauges and counters are wired: this connection, this request.
    for sample in [
        "mz_open_connections{listener=\"admin\"} 1",
        "mz_in_flight_requests{listener=\"admin\"} 1",
        "mz_http_requests_total{listener=\"admin\",route=\"livez\",status=\"200\"} 1",
        "mz_http_requests_total{listener=\"admin\",route=\"not_found\",status=\"404\"} 1",
    ] {
        assert!(text.contains(sample), "`{sample}` in:\n{text}");
    }

    admin.stop().await;
}
