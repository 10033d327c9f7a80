//! The admin API under [`ADMIN_PREFIX`] on the admin listener: what the operator console and
//! scripts use (the routes are listed in [`wire::admin_api`]). Every request is signed in as a
//! named operator by its bearer token ([`Operators`]) and needs the role
//! [`wire::admin_api::ROUTE_ROLES`] gives its route; what it changes is recorded under the
//! operator's name. The bootstrap secret may only create the first operator. Each route is
//! described in the API document by [`crate::openapi::admin`].
//!
//! - [`objections`] — list, detail, claim, and the workflow actions.
//! - [`commitments`] — the commitments' post-check queues: list, counts, detail, claim,
//!   resolve (告知承诺).
//! - [`venues`] — register, rotate a key, disable, enable.
//! - [`audit`] — recent verifications and look-up by verification id.
//! - [`operators`] — who is signed in; list, add and disable operators.
//! - [`kpis`] — the plan's targets measured from traffic, over a window.

pub mod audit;
pub mod commitments;
pub mod kpis;
pub mod objections;
pub mod operators;
pub mod venues;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use wire::admin_api::{required_role, ADMIN_PREFIX};
use wire::catalogue::Catalogue;

use crate::admin::operators::{Caller, Operator, Operators};
use crate::admin::snapshot::SnapshotFeed;
use crate::commitments::CommitmentDesk;
use crate::error::Failure;
use crate::http::json;
use crate::http::request;
use crate::objections::ObjectionDesk;
use crate::venues::registry::VenueRegistry;

/// Longest a long poll for the next snapshot waits.
const LONG_POLL: Duration = Duration::from_secs(2);

/// Reloads the rollout plan; answers what was loaded, or why the file was refused.
pub type RolloutReload =
    Arc<dyn Fn() -> Result<wire::admin_api::RolloutReloaded, String> + Send + Sync>;

/// Everything the admin API reads and changes.
#[derive(Clone)]
pub struct AdminApi {
    /// Who may call, with which roles.
    pub operators: Operators,
    pub desk: ObjectionDesk,
    /// The commitments' post-check queues.
    pub commitments: CommitmentDesk,
    pub registry: VenueRegistry,
    pub catalogue: Arc<Catalogue>,
    pub snapshots: SnapshotFeed,
    pub rollout_reload: RolloutReload,
    /// The rollout plan in force: its targets, for the KPI table ([`AdminApi::with_rollout`];
    /// without it the table has no targets).
    pub rollout: Option<Arc<crate::admin::rollout::Rollout>>,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi")
            .field("operators", &self.operators)
            .finish()
    }
}

/// A route's answer: the metric label and the response.
pub type Routed = (&'static str, Response<Full<Bytes>>);

impl AdminApi {
    pub fn new(
        operators: Operators,
        desk: ObjectionDesk,
        commitments: CommitmentDesk,
        registry: VenueRegistry,
        catalogue: Arc<Catalogue>,
        snapshots: SnapshotFeed,
        rollout_reload: RolloutReload,
    ) -> AdminApi {
        AdminApi {
            operators,
            desk,
            commitments,
            registry,
            catalogue,
            snapshots,
            rollout_reload,
            rollout: None,
        }
    }

    /// The rollout plan whose targets the KPI table (`GET /kpis`) is measured against.
    pub fn with_rollout(mut self, rollout: Arc<crate::admin::rollout::Rollout>) -> AdminApi {
        self.rollout = Some(rollout);
        self
    }

    /// Whether `path` is one of this API's.
    pub fn owns(path: &str) -> bool {
        path == ADMIN_PREFIX || path.starts_with(&format!("{ADMIN_PREFIX}/"))
    }

    /// Signs the caller in and checks that its roles grant the route: the operator, or the
    /// bootstrap secret (which may only create the first operator). A route the table does not
    /// list is 404, after authentication so that strangers learn nothing.
    async fn authorize<B>(&self, req: &Request<B>) -> Result<Caller, Failure> {
        let caller = self
            .operators
            .authenticate(request::bearer(req.headers()))
            .await?;
        let path = &req.uri().path()[ADMIN_PREFIX.len()..];
        let needed = required_role(req.method().as_str(), path).ok_or(Failure::NotFound)?;
        match &caller {
            Caller::Operator(operator) => operator.require(needed)?,
            Caller::Bootstrap if (req.method(), path) == (&Method::POST, "/operators") => {}
            Caller::Bootstrap => return Err(Failure::BootstrapOnly),
        }
        Ok(caller)
    }

    /// Answers one request under [`ADMIN_PREFIX`].
    pub async fn handle(&self, req: Request<Incoming>) -> Routed {
        let request_id = request::request_id(&req);
        let refused = |failure| json::answer::<()>(Err(failure), StatusCode::OK, &request_id);
        let operator = match self.authorize(&req).await {
            Ok(Caller::Operator(operator)) => operator,
            Ok(Caller::Bootstrap) => {
                let result = operators::bootstrap(self, req, &request_id).await;
                return ("admin_operators", result.unwrap_or_else(refused));
            }
            Err(failure) => return ("admin_refused", refused(failure)),
        };
        let segments = segments(&req);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = req.method().clone();
        let call = |req| Call {
            req,
            segments: &segments,
            request_id: &request_id,
            operator: &operator,
        };
        let answer = |route, result: Answer| (route, result.unwrap_or_else(refused));
        match (&method, segments.as_slice()) {
            (&Method::GET, ["snapshot"]) => {
                let after = json::query_param(req.uri().query(), "after")
                    .map(|a| a.parse::<u64>())
                    .transpose();
                match after {
                    Ok(None) => (
                        "admin_snapshot",
                        json::reply(StatusCode::OK, &*self.snapshots.latest(), &request_id),
                    ),
                    Ok(Some(generation)) => {
                        let snapshot = self.snapshots.after(generation, LONG_POLL).await;
                        (
                            "admin_snapshot",
                            json::reply(StatusCode::OK, &*snapshot, &request_id),
                        )
                    }
                    Err(_) => answer(
                        "admin_snapshot",
                        Err(Failure::MalformedRequest(
                            "after must be a snapshot generation (a number)".into(),
                        )),
                    ),
                }
            }
            (_, ["objections", ..]) => {
                answer("admin_objections", objections::route(self, call(req)).await)
            }
            (_, ["commitments", ..]) => answer(
                "admin_commitments",
                commitments::route(self, call(req)).await,
            ),
            (_, ["venues", ..]) => answer("admin_venues", venues::route(self, call(req)).await),
            (_, ["audit", ..]) => answer("admin_audit", audit::route(self, call(req)).await),
            (_, ["kpis"]) => answer("admin_kpis", kpis::route(self, call(req)).await),
            (_, ["whoami" | "operators", ..]) => {
                answer("admin_operators", operators::route(self, call(req)).await)
            }
            (&Method::POST, ["rollout", "reload"]) => answer(
                "admin_rollout",
                (self.rollout_reload)()
                    .map(|loaded| {
                        let file = &loaded.source;
                        tracing::info!(operator = %operator.name, file, "rollout plan reloaded");
                        json::reply(StatusCode::OK, &loaded, &request_id)
                    })
                    .map_err(|e| {
                        Failure::Unprocessable(format!(
                            "the rollout plan was refused and the old one kept: {e}"
                        ))
                    }),
            ),
            _ => answer("not_found", Err(Failure::NotFound)),
        }
    }
}

/// One request on its way to the route that owns it.
#[derive(Debug)]
pub struct Call<'a> {
    pub req: Request<Incoming>,
    /// The request's path after [`ADMIN_PREFIX`], split at `/`.
    pub segments: &'a [&'a str],
    pub request_id: &'a str,
    /// The signed-in operator: the actor of whatever the request changes.
    pub operator: &'a Operator,
}

/// What a route answers: a response, or the failure to answer with.
pub type Answer = Result<Response<Full<Bytes>>, Failure>;

/// The path segments after [`ADMIN_PREFIX`] of a request (ids are plain slugs: no decoding).
fn segments<B>(req: &Request<B>) -> Vec<String> {
    req.uri().path()[ADMIN_PREFIX.len()..]
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first 8 hex digits of a subject hash: enough to tell holders apart on a screen.
pub(crate) fn short_hash(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..4])
}
