//! Telling a department's backend about a correction an operator resolved: the backend's
//! override endpoint (`POST /admin/overrides` of the reference issuer) applies it to the record
//! and sends its change notification back through `POST /v1/issuer-events`, as for any change
//! the department makes itself.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use wire::admin_api::Correction;

use crate::departments::upstream::Connector;

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Target {
    /// The backend's root, e.g. `http://127.0.0.1:9300`.
    url: String,
    token: String,
}

/// The override endpoints the gateway may call, by department.
#[derive(Clone)]
pub struct DepartmentAdmin {
    client: Client<Connector, Full<Bytes>>,
    targets: HashMap<String, Target>,
}

impl std::fmt::Debug for DepartmentAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepartmentAdmin")
            .field("departments", &self.targets.len())
            .finish()
    }
}

impl DepartmentAdmin {
    pub fn new(connector: Connector) -> DepartmentAdmin {
        DepartmentAdmin {
            client: Client::builder(TokioExecutor::new()).build(connector),
            targets: HashMap::new(),
        }
    }

    /// Corrections for `department` go to `url` (the backend's root) with `token`.
    pub fn add(&mut self, department: &str, url: &str, token: &str) {
        self.targets.insert(
            department.to_owned(),
            Target {
                url: url.trim_end_matches('/').to_owned(),
                token: token.to_owned(),
            },
        );
    }

    /// Applies `correction` to (subject, certificate) at the department's backend; the
    /// backend's change event id on success.
    pub async fn correct(
        &self,
        department: &str,
        subject: &str,
        certificate: &str,
        correction: &Correction,
    ) -> Result<String, String> {
        let target = self
            .targets
            .get(department)
            .ok_or_else(|| format!("no override endpoint is configured for `{department}`"))?;
        let body = serde_json::json!({
            "subject": subject,
            "certificate": certificate,
            "action": "correct",
            "field": correction.field,
            "value": correction.value,
        });
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/admin/overrides", target.url))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", target.token))
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("building the request: {e}"))?;
        let call = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("cannot reach the backend: {e}"))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            if !status.is_success() {
                return Err(format!(
                    "the backend answered {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                ));
            }
            let answer: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| format!("the backend's answer is not JSON: {e}"))?;
            Ok(answer["event_id"].as_str().unwrap_or("?").to_owned())
        };
        tokio::time::timeout(TIMEOUT, call)
            .await
            .map_err(|_| format!("the backend did not answer within {} s", TIMEOUT.as_secs()))?
    }
}
