//! `GET /v1/holder/accesses`: "who checked me". A holder shows a fresh code of their own
//! (`Authorization: Holder <code>`) and gets the verifications of them, newest first, a page at
//! a time (`?limit=` 1–100, default 20; `?before=` the previous page's `next`): venue, scenario,
//! time, verdict. The audit log knows the holder only by keyed hash; so does this query.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use wire::api::{HolderAccess, HolderAccesses, PresentedBy};
use wire::mask::mask_name;

use crate::error::Failure;
use crate::holder;
use crate::holder::limits::HolderLimits;
use crate::http::json;
use crate::http::request;
use crate::verify::VerifyService;

const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

/// The handler of `GET /v1/holder/accesses`.
#[derive(Debug)]
pub struct HolderAccessesApi {
    pub service: Arc<VerifyService>,
    pub limits: HolderLimits,
}

/// Where a page ended: the last entry's time, chain and seq.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    at: DateTime<Utc>,
    chain: String,
    seq: i64,
}

/// `<microseconds since the epoch>.<seq>.<chain in hex>` of the last entry of a page (hex: a
/// node's name may hold any character, the cursor goes in a URL).
fn cursor(at: DateTime<Utc>, chain: &str, seq: i64) -> String {
    format!("{}.{seq}.{}", at.timestamp_micros(), hex::encode(chain))
}

fn parse_cursor(text: &str) -> Result<Cursor, Failure> {
    let bad = || Failure::MalformedRequest(format!("before `{text}` is not a page cursor"));
    let mut parts = text.splitn(3, '.');
    let (Some(micros), Some(seq), Some(chain)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    let chain = hex::decode(chain)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad)?;
    Ok(Cursor {
        at,
        chain,
        seq: seq.parse().map_err(|_| bad())?,
    })
}

impl HolderAccessesApi {
    /// Answers one request from `client` (the address its per-address limit counts).
    pub async fn handle(&self, req: Request<Incoming>, client: IpAddr) -> Response<Full<Bytes>> {
        let request_id = request::request_id(&req);
        json::answer(self.page(&req, client).await, StatusCode::OK, &request_id)
    }

    async fn page(
        &self,
        req: &Request<Incoming>,
        client: IpAddr,
    ) -> Result<HolderAccesses, Failure> {
        self.limits.admit_address(client).await?;
        let query = req.uri().query();
        let limit = json::limit_param(query, DEFAULT_PAGE, MAX_PAGE)?;
        let before = json::query_param(query, "before")
            .map(|c| parse_cursor(&c))
            .transpose()?;
        let code = holder::code_from_header(req.headers()).ok_or(Failure::MissingHolderCode)?;
        let claims = holder::take(&self.service, &self.limits, code).await?;
        let hash = self.service.subjects.hash(&claims.subject);
        let store = self.service.registry.store();
        // One more than asked tells whether there is a next page. Read before the code is
        // spent, answered only after: a failed read leaves it unspent.
        let before = before.as_ref().map(|c| (c.at, c.chain.as_str(), c.seq));
        let mut entries = match store.holder_accesses(&hash, before, limit + 1).await {
            Ok(entries) => entries,
            Err(e) => {
                holder::give_back(&self.service, &claims);
                return Err(Failure::from(e));
            }
        };
        let presenters = match presenters(store, &entries).await {
            Ok(presenters) => presenters,
            Err(e) => {
                holder::give_back(&self.service, &claims);
                return Err(e);
            }
        };
        holder::commit_spend(&self.service, &claims).await?;
        let more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let next = more
            .then(|| entries.last().map(|e| cursor(e.at, &e.chain, e.seq)))
            .flatten();
        let mut items = Vec::with_capacity(entries.len());
        // A page mostly repeats a few venues: look each up once.
        let mut names: HashMap<String, String> = HashMap::new();
        for entry in entries {
            let venue_name = match names.get(&entry.venue) {
                Some(name) => name.clone(),
                None => {
                    let name = self
                        .service
                        .registry
                        .name_of(&entry.venue)
                        .await
                        .unwrap_or_else(|| entry.venue.clone());
                    names.insert(entry.venue.clone(), name.clone());
                    name
                }
            };
            let record = entry.record;
            let presented_by = record
                .presented_by
                .as_ref()
                .and_then(|delegation| presenters.get(delegation).cloned());
            items.push(HolderAccess {
                at: record.at,
                venue_id: record.venue,
                venue_name,
                scenario: record.scenario,
                verdict: record.verdict,
                certificates: record.certificates,
                verification_id: record.verification_id,
                means: record.means,
                presented_by,
            });
        }
        Ok(HolderAccesses { items, next })
    }
}

/// Who presented the entries shown by someone else, by delegation: the relation and the
/// presenter's masked name, read once per delegation.
async fn presenters(
    store: &store::Store,
    entries: &[store::AuditEntry],
) -> Result<HashMap<String, PresentedBy>, Failure> {
    let mut presenters = HashMap::new();
    for delegation in entries.iter().filter_map(|e| e.presented_by.as_ref()) {
        if presenters.contains_key(delegation) {
            continue;
        }
        if let Some(d) = store.delegation(delegation).await? {
            presenters.insert(
                delegation.clone(),
                PresentedBy {
                    relation: d.relation,
                    name: mask_name(&d.delegate_name),
                },
            );
        }
    }
    Ok(presenters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).expect("time");
        for chain in ["node-a", "", "a.b/c d"] {
            let parsed = parse_cursor(&cursor(at, chain, 42)).expect("a cursor");
            assert_eq!(
                (parsed.at, parsed.chain.as_str(), parsed.seq),
                (at, chain, 42)
            );
        }
        for bad in [
            "", "12", "x.1", "1.y", "1.2", "1.2.zz", "1.y.6161", "1.2.ff",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
