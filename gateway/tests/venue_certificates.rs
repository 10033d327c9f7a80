//! Venues with client certificates (mTLS), behind a load balancer that speaks the PROXY
//! protocol: a gateway with the venues' CA and a balancer on 127.0.0.1, and venues that present
//! certificates from that CA (or another), keys, or both, each connection opened as the
//! balancer would (a PROXY v2 header, then TLS). Whether a request got past authentication
//! shows in its problem: 401 `venue.*` if not; past it, a bogus code answers 400 `code.*` and a
//! scenario the venue may not use 403 `scenario.not_allowed`, which also shows which venue the
//! gateway took the request for.
#![cfg(feature = "demo")]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use gateway::config::{GatewayConfig, TlsMode};
use gateway::http::client_certificate::venue_uri;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

const BOUND_KEY: &str = "gate-bound-key-0001";
const FREE_KEY: &str = "gate-free-key-00002";

/// A CA that issues client certificates naming venues.
struct Ca {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let certificate = params.self_signed(&key).expect("CA certificate");
        Ca { certificate, key }
    }

    /// A client certificate naming `venue`, and its key.
    fn issue(&self, venue: &str) -> Identity {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, venue);
        params.subject_alt_names = vec![SanType::URI(
            rcgen::Ia5String::try_from(venue_uri(venue)).expect("IA5 URI"),
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("client key");
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .expect("client certificate");
        Identity {
            chain: vec![certificate.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }
}

/// A venue's client certificate and key.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// The venues file: one venue bound to its certificate, one free to use its key alone.
fn venues_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("venues.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[[venue]]
id = "gate-bound"
name = "Bound gate"
city = 370100
scenarios = ["park-entry-senior"]
rate_per_sec = 1000
demo_key = "{BOUND_KEY}"
client_certificate = true

[[venue]]
id = "gate-free"
name = "Free gate"
city = 370100
scenarios = ["park-entry-senior", "hotel-check-in"]
rate_per_sec = 1000
demo_key = "{FREE_KEY}"
"#
        ),
    )
    .expect("write venues.toml");
    file
}

struct Setup {
    gateway: gateway::app::Gateway,
    server_certificate: CertificateDer<'static>,
    ca: Ca,
    _dir: tempfile::TempDir,
}

async fn start() -> Setup {
    let dir = tempfile::tempdir().expect("dir");
    let server = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("server");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, server.cert.pem()).expect("cert");
    std::fs::write(&key, server.key_pair.serialize_pem()).expect("key");
    let ca = Ca::new("venues CA");
    let ca_file = dir.path().join("venues-ca.pem");
    std::fs::write(&ca_file, ca.certificate.pem()).expect("CA");

    let mut config = GatewayConfig::loopback(&dir.path().join("data"));
    config.tls.mode = TlsMode::Files;
    config.tls.cert = Some(cert);
    config.tls.key = Some(key);
    config.venues.file = Some(venues_file(dir.path()));
    config.venues.client_ca = Some(ca_file);
    config.listen.proxy_protocol_from = vec!["127.0.0.1".to_owned()];
    let gateway = gateway::app::start(config)
        .await
        .expect("the gateway starts");
    Setup {
        gateway,
        server_certificate: server.cert.der().clone(),
        ca,
        _dir: dir,
    }
}

/// Opens a connection as the balancer does for `client` (PROXY header, then TLS, presenting
/// `identity` if any) and sends one verify request with `key` (if any) for `scenario`.
async fn verify_as(
    setup: &Setup,
    client: SocketAddr,
    identity: Option<&Identity>,
    key: Option<&str>,
    scenario: &str,
) -> std::io::Result<(StatusCode, Value)> {
    let mut tcp = TcpStream::connect(setup.gateway.public_addr).await?;
    let header = ppp::v2::Builder::with_addresses(
        0x21,
        ppp::v2::Protocol::Stream,
        (client, setup.gateway.public_addr),
    )
    .build()?;
    tcp.write_all(&header).await?;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(setup.server_certificate.clone())
        .expect("trust the server");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let tls = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    let body = serde_json::json!({ "code": "MZ1:NOT-A-CODE", "scenario": scenario }).to_string();
    let mut request = Request::post("/v1/verify")
        .header("host", "localhost")
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .map_err(std::io::Error::other)?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?;
    Ok((
        status,
        serde_json::from_slice(&body.to_bytes()).expect("JSON"),
    ))
}

fn code(answer: &(StatusCode, Value)) -> (u16, String) {
    (
        answer.0.as_u16(),
        answer.1["code"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn venues_authenticate_by_certificate_and_a_bound_venue_needs_its_own() {
    let setup = start().await;
    let client: SocketAddr = "198.51.100.7:40000".parse().expect("address");
    let bound = setup.ca.issue("gate-bound");
    let free = setup.ca.issue("gate-free");
    let park = "park-entry-senior";
    let answer = |result: std::io::Result<(StatusCode, Value)>| code(&result.expect("an answer"));

    // A free venue's key alone passes authentication (the bogus code is what is refused).
    let (status, problem) = answer(verify_as(&setup, client, None, Some(FREE_KEY), park).await);
    assert_eq!(status, 400, "{problem}");
    assert!(problem.starts_with("code."), "{problem}");

    // A bound venue's key alone is refused, even over TLS; with its certificate it passes.
    assert_eq!(
        answer(verify_as(&setup, client, None, Some(BOUND_KEY), park).await),
        (401, "venue.client_certificate_required".to_owned())
    );
    let (status, problem) =
        answer(verify_as(&setup, client, Some(&bound), Some(BOUND_KEY), park).await);
    assert_eq!(status, 400, "{problem}");

    // The certificate alone authenticates its venue: gate-free may ask for hotel check-in,
    // gate-bound may not, so the answer shows whom the gateway took the request for.
    let (status, problem) = answer(verify_as(&setup, client, Some(&free), None, park).await);
    assert_eq!(status, 400, "{problem}");
    assert_eq!(
        answer(verify_as(&setup, client, Some(&bound), None, "hotel-check-in").await),
        (403, "scenario.not_allowed".to_owned())
    );
    let (status, problem) =
        answer(verify_as(&setup, client, Some(&free), None, "hotel-check-in").await);
    assert_eq!(status, 400, "{problem}");

    // A key and a certificate of two venues disagree.
    assert_eq!(
        answer(verify_as(&setup, client, Some(&bound), Some(FREE_KEY), park).await),
        (401, "venue.client_certificate_mismatch".to_owned())
    );

    // A certificate from another CA does not get through the handshake.
    let stranger = Ca::new("another CA").issue("gate-bound");
    assert!(
        verify_as(&setup, client, Some(&stranger), Some(BOUND_KEY), park)
            .await
            .is_err(),
        "a certificate the venues' CA did not issue is refused"
    );

    setup.gateway.shutdown.trigger();
    setup.gateway.run().await.expect("a clean stop");
}

/// With a balancer configured, a connection from it without a PROXY header is closed before
/// any request: the gateway never guesses whose connection it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_balancer_must_send_the_proxy_header() {
    let setup = start().await;
    let mut tcp = TcpStream::connect(setup.gateway.public_addr)
        .await
        .expect("connect");
    tcp.write_all(b"POST /v1/verify HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("write");
    let mut received = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut received).await;
    assert!(
        read.is_err() || received.is_empty(),
        "closed without an answer, got {:?}",
        String::from_utf8_lossy(&received)
    );
    setup.gateway.shutdown.trigger();
    setup.gateway.run().await.expect("a clean stop");
}
