//! The admin API under [`ADMIN_PREFIX`] on the admin listener: what the operator console and
//! scripts use (the routes are listed in [`wire::admin_api`]). Every route needs the admin
//! bearer token; a gateway without one configured answers 401 `admin.disabled`.
//!
//! - [`objections`] — list, detail, claim, and the workflow actions.
//! - [`venues`] — register, rotate a key, disable, enable.
//! - [`audit`] — recent verifications and look-up by verification id.

pub mod audit;
pub mod objections;
pub mod venues;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use sha2::{Digest as _, Sha256};
use wire::admin_api::ADMIN_PREFIX;
use wire::catalogue::Catalogue;

use crate::admin::snapshot::SnapshotFeed;
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
    /// SHA-256 of the bearer token; `None`: the API is off.
    token_hash: Option<[u8; 32]>,
    pub desk: ObjectionDesk,
    pub registry: VenueRegistry,
    pub catalogue: Arc<Catalogue>,
    pub snapshots: SnapshotFeed,
    pub rollout_reload: RolloutReload,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi")
            .field("enabled", &self.token_hash.is_some())
            .finish()
    }
}

/// A route's answer: the metric label and the response.
pub type Routed = (&'static str, Response<Full<Bytes>>);

impl AdminApi {
    pub fn new(
        token: Option<&str>,
        desk: ObjectionDesk,
        registry: VenueRegistry,
        catalogue: Arc<Catalogue>,
        snapshots: SnapshotFeed,
        rollout_reload: RolloutReload,
    ) -> AdminApi {
        AdminApi {
            token_hash: token.map(|t| Sha256::digest(t.as_bytes()).into()),
            desk,
            registry,
            catalogue,
            snapshots,
            rollout_reload,
        }
    }

    /// Whether `path` is one of this API's.
    pub fn owns(path: &str) -> bool {
        path == ADMIN_PREFIX || path.starts_with(&format!("{ADMIN_PREFIX}/"))
    }

    fn authorize<B>(&self, req: &Request<B>) -> Result<(), Failure> {
        let expected = self.token_hash.ok_or(Failure::AdminDisabled)?;
        let given = request::bearer(req.headers()).ok_or(Failure::AdminUnauthorized)?;
        // Comparing hashes: equal-length values whose timing says nothing about the token.
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        if given == expected {
            Ok(())
        } else {
            Err(Failure::AdminUnauthorized)
        }
    }

    /// Answers one request under [`ADMIN_PREFIX`].
    pub async fn handle(&self, req: Request<Incoming>) -> Routed {
        let request_id = request::request_id(&req);
        if let Err(failure) = self.authorize(&req) {
            return (
                "admin_refused",
                failure.problem(&request_id).into_response(),
            );
        }
        let segments = segments(&req);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = req.method().clone();
        let call = |req| Call {
            req,
            segments: &segments,
            request_id: &request_id,
        };
        let answer = |route, result: Answer| match result {
            Ok(response) => (route, response),
            Err(failure) => (
                route,
                json::answer::<()>(Err(failure), StatusCode::OK, &request_id),
            ),
        };
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
            (_, ["venues", ..]) => answer("admin_venues", venues::route(self, call(req)).await),
            (_, ["audit", ..]) => answer("admin_audit", audit::route(self, call(req)).await),
            (&Method::POST, ["rollout", "reload"]) => answer(
                "admin_rollout",
                (self.rollout_reload)()
                    .map(|loaded| json::reply(StatusCode::OK, &loaded, &request_id))
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
