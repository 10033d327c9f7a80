//! Stage 2, authenticate: the venue key from `Authorization: Bearer <key>` → the venue (from
//! the registry's cache, or the store), refused when disabled, then the venue's rate quota,
//! held across nodes by [`crate::cluster::quota`] (429 with `Retry-After` when exhausted).

use std::sync::Arc;

use http::HeaderMap;

use crate::error::Failure;
use crate::venues::registry::VenueRegistry;
use crate::venues::Venue;

pub async fn venue(registry: &VenueRegistry, headers: &HeaderMap) -> Result<Arc<Venue>, Failure> {
    let key = crate::http::request::bearer(headers).ok_or(Failure::MissingCredentials)?;
    let venue = registry
        .by_key(key)
        .await
        .map_err(|e| Failure::StoreUnavailable(e.to_string()))?
        .ok_or(Failure::UnknownVenue)?;
    if venue.disabled {
        return Err(Failure::VenueDisabled);
    }
    venue
        .quota()
        .admit()
        .await
        .map_err(|wait| Failure::RateLimited {
            retry_after_secs: crate::error::retry_after_secs(wait),
        })?;
    Ok(venue)
}
