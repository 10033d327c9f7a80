//! The admin API client. [`AdminApi`] is what the rest of the console needs from the gateway
//! (one method per route it uses); [`HttpAdminClient`] is the real one, over hyper's pooled
//! HTTP/1 client; tests use a fake. No terminal types here.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use wire::admin_api::{
    AuditPage, AuditView, ClaimRequest, CommitmentAction, CommitmentCounts, CommitmentDetail,
    CommitmentPage, ObjectionAction, ObjectionDetail, ObjectionPage, Snapshot, WhoAmI,
    ADMIN_PREFIX,
};
use wire::problem::Problem;

/// Why a call failed: whether the gateway could not be reached (retry), or answered no.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// Connection refused, reset, …: the gateway is down or restarting; retrying helps.
    #[error("cannot reach the gateway: {0}")]
    Unreachable(String),
    /// No answer within the call's deadline; retrying may help.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The gateway refused the call with a problem body (401 bad token, 404, 409 workflow, …).
    #[error("{}", problem_text(.0))]
    Problem(Box<Problem>),
    /// A non-2xx answer without a problem body.
    #[error("the gateway answered {status}: {body}")]
    Status { status: u16, body: String },
    /// A 2xx answer the console cannot read: the gateway speaks another contract version.
    #[error("unreadable answer: {0}")]
    Decode(String),
}

impl ClientError {
    /// True when the gateway was not reached at all (the banner's case), as opposed to an
    /// answer that said no.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, ClientError::Unreachable(_) | ClientError::Timeout(_))
    }
}

fn problem_text(problem: &Problem) -> String {
    match &problem.detail {
        Some(detail) => format!("{} ({}): {detail}", problem.title, problem.status),
        None => format!("{} ({})", problem.title, problem.status),
    }
}

/// The admin API routes the console uses (see [`wire::admin_api`] for the contract).
pub trait AdminApi: Clone + Send + Sync + 'static {
    /// `GET /snapshot`, or with `after` the long poll for the next one.
    fn snapshot(
        &self,
        after: Option<u64>,
    ) -> impl Future<Output = Result<Snapshot, ClientError>> + Send;
    /// `GET /objections?open=true&limit=`: the queue (open or in review).
    fn objections(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<ObjectionPage, ClientError>> + Send;
    /// `GET /objections/{id}`.
    fn objection(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<ObjectionDetail, ClientError>> + Send;
    /// `POST /objections/{id}/actions`.
    fn act(
        &self,
        id: &str,
        action: &ObjectionAction,
    ) -> impl Future<Output = Result<ObjectionDetail, ClientError>> + Send;
    /// `GET /audit/recent?limit=`.
    fn audit_recent(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<AuditPage, ClientError>> + Send;
    /// `GET /audit/verifications/{id}`.
    fn audit_lookup(
        &self,
        verification_id: &str,
    ) -> impl Future<Output = Result<AuditView, ClientError>> + Send;
    /// `GET /commitments?open=true&limit=`: the post-check queues (pending or in check).
    fn commitments(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<CommitmentPage, ClientError>> + Send;
    /// `GET /commitments/counts`.
    fn commitment_counts(
        &self,
    ) -> impl Future<Output = Result<CommitmentCounts, ClientError>> + Send;
    /// `GET /commitments/{id}`.
    fn commitment(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<CommitmentDetail, ClientError>> + Send;
    /// `POST /commitments/{id}/actions`.
    fn resolve_commitment(
        &self,
        id: &str,
        action: &CommitmentAction,
    ) -> impl Future<Output = Result<CommitmentDetail, ClientError>> + Send;
    /// `POST /commitments/claim`: the claimed commitment, `None` when the queue is empty (204).
    fn claim_commitment(
        &self,
        department: &str,
    ) -> impl Future<Output = Result<Option<CommitmentDetail>, ClientError>> + Send;
    /// `GET /whoami`: the operator the token signs in, with their roles.
    fn whoami(&self) -> impl Future<Output = Result<WhoAmI, ClientError>> + Send;
    /// `GET /kpis`: the plan's targets measured from traffic over the last 30 days.
    fn kpis(&self)
        -> impl Future<Output = Result<wire::admin_api::Evaluation, ClientError>> + Send;
}

/// Deadline of an ordinary call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of the snapshot long poll (the gateway answers within about 2 s).
pub const LONG_POLL_TIMEOUT: Duration = Duration::from_secs(10);

/// The admin API over plain HTTP/1 with a bearer token. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct HttpAdminClient {
    base: String,
    authorization: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for HttpAdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("HttpAdminClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HttpAdminClient {
    /// `base` is `http://host:port` (see [`crate::cli::normalize_url`]).
    pub fn new(base: &str, token: &str) -> HttpAdminClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CALL_TIMEOUT));
        connector.set_nodelay(true);
        HttpAdminClient {
            base: base.trim_end_matches('/').to_string(),
            authorization: format!("Bearer {token}"),
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let uri = format!("{}{ADMIN_PREFIX}{path_and_query}", self.base);
        let mut request = Request::builder()
            .method(method)
            .uri(&uri)
            .header(header::AUTHORIZATION, &self.authorization)
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|err| ClientError::Unreachable(format!("bad request `{uri}`: {err}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| ClientError::Unreachable(error_chain(&err)))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|err| ClientError::Unreachable(error_chain(&err)))?
                .to_bytes();
            Ok::<_, ClientError>((status, body))
        };
        let (status, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        decode(status, &body)
    }
}

/// A 2xx body as `T` (204, no body, as JSON `null`: an `Option` reads `None`); anything else
/// as the problem it carries.
fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ClientError> {
    if status == StatusCode::NO_CONTENT {
        return serde_json::from_slice(b"null").map_err(|err| ClientError::Decode(err.to_string()));
    }
    if status.is_success() {
        return serde_json::from_slice(body).map_err(|err| ClientError::Decode(err.to_string()));
    }
    match serde_json::from_slice::<Problem>(body) {
        Ok(problem) => Err(ClientError::Problem(Box::new(problem))),
        Err(_) => Err(ClientError::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_string(),
        }),
    }
}

/// hyper's errors say little at the top ("client error (Connect)"); the innermost source says
/// why ("Connection refused (os error 111)").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut innermost = err;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    innermost.to_string()
}

/// Percent-encodes one path segment (ids are typed by operators).
pub fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl AdminApi for HttpAdminClient {
    async fn snapshot(&self, after: Option<u64>) -> Result<Snapshot, ClientError> {
        match after {
            Some(after) => {
                let path = format!("/snapshot?after={after}");
                self.call(Method::GET, &path, None, LONG_POLL_TIMEOUT).await
            }
            None => {
                self.call(Method::GET, "/snapshot", None, CALL_TIMEOUT)
                    .await
            }
        }
    }

    async fn objections(&self, limit: usize) -> Result<ObjectionPage, ClientError> {
        self.call(
            Method::GET,
            &format!("/objections?open=true&limit={limit}"),
            None,
            CALL_TIMEOUT,
        )
        .await
    }

    async fn objection(&self, id: &str) -> Result<ObjectionDetail, ClientError> {
        let path = format!("/objections/{}", path_segment(id));
        self.call(Method::GET, &path, None, CALL_TIMEOUT).await
    }

    async fn act(
        &self,
        id: &str,
        action: &ObjectionAction,
    ) -> Result<ObjectionDetail, ClientError> {
        let path = format!("/objections/{}/actions", path_segment(id));
        let body =
            serde_json::to_vec(action).map_err(|err| ClientError::Decode(err.to_string()))?;
        self.call(Method::POST, &path, Some(body), CALL_TIMEOUT)
            .await
    }

    async fn audit_recent(&self, limit: usize) -> Result<AuditPage, ClientError> {
        self.call(
            Method::GET,
            &format!("/audit/recent?limit={limit}"),
            None,
            CALL_TIMEOUT,
        )
        .await
    }

    async fn audit_lookup(&self, verification_id: &str) -> Result<AuditView, ClientError> {
        let path = format!("/audit/verifications/{}", path_segment(verification_id));
        self.call(Method::GET, &path, None, CALL_TIMEOUT).await
    }

    async fn commitments(&self, limit: usize) -> Result<CommitmentPage, ClientError> {
        let path = format!("/commitments?open=true&limit={limit}");
        self.call(Method::GET, &path, None, CALL_TIMEOUT).await
    }

    async fn commitment_counts(&self) -> Result<CommitmentCounts, ClientError> {
        self.call(Method::GET, "/commitments/counts", None, CALL_TIMEOUT)
            .await
    }

    async fn commitment(&self, id: &str) -> Result<CommitmentDetail, ClientError> {
        let path = format!("/commitments/{}", path_segment(id));
        self.call(Method::GET, &path, None, CALL_TIMEOUT).await
    }

    async fn resolve_commitment(
        &self,
        id: &str,
        action: &CommitmentAction,
    ) -> Result<CommitmentDetail, ClientError> {
        let path = format!("/commitments/{}/actions", path_segment(id));
        let body =
            serde_json::to_vec(action).map_err(|err| ClientError::Decode(err.to_string()))?;
        self.call(Method::POST, &path, Some(body), CALL_TIMEOUT)
            .await
    }

    async fn claim_commitment(
        &self,
        department: &str,
    ) -> Result<Option<CommitmentDetail>, ClientError> {
        let claim = ClaimRequest {
            department: department.to_string(),
            actor: None,
        };
        let body =
            serde_json::to_vec(&claim).map_err(|err| ClientError::Decode(err.to_string()))?;
        self.call(Method::POST, "/commitments/claim", Some(body), CALL_TIMEOUT)
            .await
    }

    async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.call(Method::GET, "/whoami", None, CALL_TIMEOUT).await
    }

    async fn kpis(&self) -> Result<wire::admin_api::Evaluation, ClientError> {
        self.call(Method::GET, "/kpis", None, CALL_TIMEOUT).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_body_becomes_its_title_and_detail() {
        let problem = Problem::new(
            409,
            "objection.workflow",
            "conflict",
            Some("already resolved".into()),
        );
        let body = serde_json::to_vec(&problem).expect("json");
        let err = decode::<ObjectionDetail>(StatusCode::CONFLICT, &body).expect_err("409");
        assert_eq!(err.to_string(), "conflict (409): already resolved");
        assert!(!err.is_disconnect());
    }

    #[test]
    fn no_content_is_none() {
        let claimed = decode::<Option<CommitmentDetail>>(StatusCode::NO_CONTENT, b"");
        assert_eq!(claimed, Ok(None));
    }

    #[test]
    fn a_bare_error_keeps_status_and_body() {
        let err = decode::<AuditPage>(StatusCode::BAD_GATEWAY, b"upstream down").expect_err("502");
        assert_eq!(err.to_string(), "the gateway answered 502: upstream down");
    }

    #[test]
    fn ids_are_escaped_in_paths() {
        assert_eq!(path_segment("obj-1"), "obj-1");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_disconnect_not_a_panic() {
        // A port that was free a moment ago: nothing listens there now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let client = HttpAdminClient::new(&format!("http://127.0.0.1:{port}"), "t");
        let err = client.snapshot(None).await.expect_err("nothing listens");
        assert!(err.is_disconnect(), "{err}");
    }
}
