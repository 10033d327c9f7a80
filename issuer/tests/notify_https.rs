//! Change notices over https: delivered to a local TLS "gateway" whose certificate is signed by
//! a CA of the test's own, given as the notifier's `ca_file`; refused by a notifier that does
//! not trust that CA; and plain http accepted on loopback only.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use issuer::config::NotifyConfig;
use issuer::notify::Notifier;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::net::TcpListener;
use wire::issuer_api::{Change, IssuerEvent};

/// What the TLS gateway received: (path, authorization header, body).
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A CA, and a server certificate for `localhost` it signed: (CA PEM, server cert PEM, server
/// key PEM).
fn ca_and_server_certificate() -> (String, String, String) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let server_key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("server params")
        .signed_by(&server_key, &ca, &ca_key)
        .expect("server certificate");
    (ca.pem(), server.pem(), server_key.serialize_pem())
}

/// A TLS server on 127.0.0.1 answering 202 to everything, recording what it received.
async fn tls_gateway(cert_pem: &str, key_pem: &str) -> (u16, Received) {
    let certs = rustls_pemfile_certs(cert_pem);
    let key = rustls_pemfile_key(key_pem);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received: Received = Arc::default();
    let seen = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                // A client that does not trust the CA fails the handshake here.
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let seen = Arc::clone(&seen);
                    async move {
                        let path = req.uri().path().to_owned();
                        let auth = req
                            .headers()
                            .get(http::header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes().to_vec())
                            .unwrap_or_default();
                        seen.lock().expect("lock").push((path, auth, body));
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(202)
                                .body(Full::new(Bytes::new()))
                                .expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, received)
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("certificates")
}

fn rustls_pemfile_key(pem: &str) -> rustls::pki_types::PrivateKeyDer<'static> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .expect("pem")
        .expect("a key")
}

fn event() -> IssuerEvent {
    IssuerEvent {
        event_id: "evt-https-1".into(),
        department: "health".into(),
        subject: "demo-000001".into(),
        certificate: "senior-citizen-card".into(),
        change: Change::Revoked,
        at: chrono::Utc::now(),
    }
}

fn notify_config(port: u16, ca_file: Option<std::path::PathBuf>) -> NotifyConfig {
    let mut config = NotifyConfig::new(format!("https://localhost:{port}"));
    config.ca_file = ca_file;
    config.default_token = Some("health-token".into());
    config.max_attempts = 1;
    config.timeout = Duration::from_secs(10);
    config.validate().expect("an https URL is valid");
    config
}

/// Waits (bounded) until the notifier has settled one event.
async fn settled(notifier: &Notifier) -> issuer::notify::NotifyCounts {
    for _ in 0..300 {
        let counts = notifier.counts();
        if counts.delivered + counts.gave_up + counts.rejected >= 1 {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the event was not settled: {:?}", notifier.counts());
}

#[tokio::test]
async fn a_change_notice_reaches_an_https_gateway_whose_ca_is_configured() {
    let (ca_pem, cert_pem, key_pem) = ca_and_server_certificate();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("gateway-ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write the CA");
    let (port, received) = tls_gateway(&cert_pem, &key_pem).await;

    let notifier = Notifier::spawn(notify_config(port, Some(ca_file)), Some(1)).expect("spawn");
    notifier.send(event());
    let counts = settled(&notifier).await;
    assert_eq!(counts.delivered, 1, "{counts:?}");
    let received = received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1);
    let (path, auth, body) = &received[0];
    assert_eq!(path, wire::issuer_api::EVENTS_PATH);
    assert_eq!(auth, "Bearer health-token");
    let sent: IssuerEvent = serde_json::from_slice(body).expect("an event");
    assert_eq!(sent.event_id, "evt-https-1");
}

#[tokio::test]
async fn a_gateway_certificate_outside_the_trusted_roots_gets_nothing() {
    let (_, cert_pem, key_pem) = ca_and_server_certificate();
    let (port, received) = tls_gateway(&cert_pem, &key_pem).await;
    // The public web PKI roots do not include the test's CA.
    let notifier = Notifier::spawn(notify_config(port, None), Some(1)).expect("spawn");
    notifier.send(event());
    let counts = settled(&notifier).await;
    assert_eq!((counts.delivered, counts.gave_up), (0, 1), "{counts:?}");
    assert!(received.lock().expect("lock").is_empty());
}

#[test]
fn plain_http_is_for_loopback_only() {
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        "https://gateway.example:8443",
    ] {
        NotifyConfig::new(ok)
            .validate()
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let err = NotifyConfig::new("http://gateway.example:8080")
        .validate()
        .expect_err("plain http off loopback");
    assert!(err.contains("use https://"), "{err}");
    let err = NotifyConfig::new("ftp://127.0.0.1")
        .validate()
        .expect_err("another scheme");
    assert!(err.contains("https://"), "{err}");
    let mut with_ca = NotifyConfig::new("http://127.0.0.1:8080");
    with_ca.ca_file = Some("ca.pem".into());
    assert!(with_ca.validate().is_err(), "a CA file for plain http");
    let mut missing = NotifyConfig::new("https://gateway.example:8443");
    missing.ca_file = Some("/nonexistent/ca.pem".into());
    // The CA file is read before anything is spawned.
    let err = Notifier::spawn(missing, None).expect_err("no CA file");
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}
