//! Stage 2, authenticate: the venue key from `Authorization: Bearer <key>` → the venue, then
//! the venue's rate quota (429 with `Retry-After` when exhausted).

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::error::Failure;
use crate::venues::{Venue, Venues};

pub fn venue(venues: &Venues, headers: &HeaderMap) -> Result<Arc<Venue>, Failure> {
    let key = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        })
        .filter(|k| !k.is_empty())
        .ok_or(Failure::MissingCredentials)?;
    let venue = venues.by_key(key).ok_or(Failure::UnknownVenue)?;
    venue.admit().map_err(|wait| Failure::RateLimited {
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u32,
    })?;
    Ok(Arc::clone(venue))
}
