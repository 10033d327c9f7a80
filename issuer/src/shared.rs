//! What every request handler shares: the issuer's [`State`], and reading a bounded body.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use wire::catalogue::Catalogue;

use crate::backends::ServedBackend;
use crate::faults::Faults;
use crate::notify::Notifier;
use crate::overrides::OverrideStore;
use crate::population::Population;
use crate::problem::ApiError;

/// Everything the request handlers share.
#[derive(Debug)]
pub(crate) struct State {
    pub catalogue: Arc<Catalogue>,
    pub backends: HashMap<String, Arc<ServedBackend>>,
    pub population: Population,
    /// The national hub's holders: the same seed, living in other provinces.
    pub out_of_province: Population,
    pub overrides: OverrideStore,
    pub faults: Faults,
    pub notifier: Notifier,
    pub admin_token: Option<String>,
    pub max_query_bytes: usize,
}

/// Reads a body up to `limit` bytes (413 beyond, judged by `Content-Length` first).
pub(crate) async fn read_body(
    req: hyper::Request<Incoming>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge { limit });
    }
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::TooLarge { limit })
        }
        Err(e) => Err(ApiError::BadBody(e.to_string())),
    }
}
