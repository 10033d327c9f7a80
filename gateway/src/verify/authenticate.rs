//! Stage 2, authenticate: which venue sends the request — by its key (`Authorization: Bearer
//! <key>`, looked up by hash in the registry's cache, or the store), by the client certificate
//! the TLS handshake verified against the venues' CA ([`crate::http::client_certificate`]),
//! or both, which must then agree. A venue bound to a certificate is refused without it,
//! whatever key it sends. Then a disabled venue is refused, and the venue's rate quota is
//! taken, held across nodes by [`crate::cluster::quota`] (429 with `Retry-After` when
//! exhausted).

use std::sync::Arc;

use http::HeaderMap;

use crate::error::Failure;
use crate::http::client_certificate::ClientCertificate;
use crate::venues::registry::VenueRegistry;
use crate::venues::Venue;

pub async fn venue(
    registry: &VenueRegistry,
    headers: &HeaderMap,
    certificate: Option<&ClientCertificate>,
) -> Result<Arc<Venue>, Failure> {
    let named = certificate.and_then(ClientCertificate::venue);
    let venue = match (crate::http::request::bearer(headers), named) {
        (Some(key), _) => registry.by_key(key).await,
        (None, Some(id)) => registry.by_id(id).await,
        (None, None) => return Err(Failure::MissingCredentials),
    }
    .map_err(|e| Failure::StoreUnavailable(e.to_string()))?
    .ok_or(Failure::UnknownVenue)?;
    match named {
        Some(id) if id != venue.id => {
            return Err(Failure::ClientCertificateMismatch {
                certificate: id.to_owned(),
                key: venue.id.clone(),
            })
        }
        None if venue.client_certificate => {
            return Err(Failure::ClientCertificateRequired(venue.id.clone()))
        }
        _ => {}
    }
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

/// Whether a request says it comes from a venue (a key, or a certificate naming a venue)
/// rather than from a holder: the routes both may call decide by it before reading the body.
pub fn claims_a_venue(headers: &HeaderMap, certificate: Option<&ClientCertificate>) -> bool {
    crate::http::request::bearer(headers).is_some()
        || certificate.and_then(ClientCertificate::venue).is_some()
}
