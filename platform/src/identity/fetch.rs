//! One fetch of the provider's JWKS: `GET jwks_url` over https (certificates checked against
//! the public web PKI roots) or http on loopback, bounded in time ([`FETCH_TIMEOUT`], the
//! whole exchange) and in size ([`MAX_JWKS_BYTES`]), the answer read into a key set.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::keys::{self, Parsed};
use super::ConfigError;

/// Largest JWKS document read: providers publish a handful of keys, a few kilobytes.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Longest a fetch may take, from connecting to the last byte of the body.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a fetch of the JWKS brought no keys. For logs and operators, not for clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("GET {url}: no complete answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: the answer is over {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("GET {url}: not a JWKS: {reason}")]
    NotJwks { url: String, reason: String },
    #[error("GET {url}: no key fit to verify tokens ({})", skipped.join("; "))]
    NoUsableKeys { url: String, skipped: Vec<String> },
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Fetches the JWKS at one URL.
#[derive(Debug)]
pub(crate) struct Fetcher {
    url: http::Uri,
    shown: String,
    client: HttpClient,
}

impl Fetcher {
    pub fn new(url: http::Uri) -> Result<Fetcher, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| ConfigError::Tls(e.to_string()))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(FETCH_TIMEOUT));
        let connector = https.https_or_http().enable_http1().wrap_connector(http);
        Ok(Fetcher {
            shown: url.to_string(),
            url,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Fetches and reads the JWKS; an answer with no usable key is a failure too.
    pub async fn fetch(&self) -> Result<Parsed, FetchError> {
        let body = tokio::time::timeout(FETCH_TIMEOUT, self.body())
            .await
            .map_err(|_| FetchError::Timeout {
                url: self.shown.clone(),
                timeout: FETCH_TIMEOUT,
            })??;
        let parsed = keys::parse(&body).map_err(|reason| FetchError::NotJwks {
            url: self.shown.clone(),
            reason,
        })?;
        if parsed.keys.is_empty() {
            return Err(FetchError::NoUsableKeys {
                url: self.shown.clone(),
                skipped: parsed.skipped,
            });
        }
        Ok(parsed)
    }

    async fn body(&self) -> Result<Bytes, FetchError> {
        let unreachable = |reason: String| FetchError::Unreachable {
            url: self.shown.clone(),
            reason,
        };
        let request = http::Request::get(self.url.clone())
            .header(
                http::header::ACCEPT,
                "application/json, application/jwk-set+json",
            )
            .body(Empty::new())
            .map_err(|e| unreachable(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = response.status();
        if status != http::StatusCode::OK {
            return Err(FetchError::Status {
                url: self.shown.clone(),
                status: status.as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge {
            url: self.shown.clone(),
            limit: MAX_JWKS_BYTES,
        };
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err(too_large());
        }
        match Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
        {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(too_large())
            }
            Err(e) => Err(unreachable(format!("reading the answer: {e}"))),
        }
    }
}

/// An error and its sources, `: `-joined (a client error alone says only "client error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
