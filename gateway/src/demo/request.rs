//! The request the demo prints at start, so a newcomer sees a `pass`: a freshly minted code
//! for a synthetic holder who passes `park-entry-senior`, sent with that scenario's demo venue
//! key, as a ready-to-paste curl line.

use chrono::Utc;
use wire::api::VERIFY_PATH;
use wire::calendar::china_today;
use wire::code::{HolderClaims, Minter, Profile};

use crate::app::Gateway;

/// What the demo prints.
#[derive(Debug, Clone)]
pub struct DemoRequest {
    pub curl: String,
    /// The command that mints another code for the same holder.
    pub mint: String,
}

/// The demo request against `gateway`; `None` unless it runs the embedded departments (it needs
/// their synthetic population).
pub fn request(gateway: &Gateway) -> Option<DemoRequest> {
    gateway.embedded.as_ref()?;
    let scenario = "park-entry-senior";
    let service = &gateway.service;
    let (_, key) = service.venues.demo_for(scenario)?;
    let population = issuer::population::Population::new(gateway.population_seed);
    let today = china_today(Utc::now());
    let handle = population
        .seniors(&service.catalogue, "demo-senior-", 1, today)
        .pop()?;
    let city = population.person(&handle).home_city;
    let signing = super::platform_keys()
        .ok()?
        .into_iter()
        .find(|k| k.algorithm() == Profile::Eddsa.algorithm())?;
    let code = Minter::new(signing).mint(&HolderClaims::fresh_person(&handle, Some(city), 600));
    let (scheme, addr, insecure) = match gateway.plain_addr {
        Some(addr) => ("http", addr, ""),
        None => ("https", gateway.public_addr, " -k"),
    };
    Some(DemoRequest {
        curl: format!(
            "curl -s{insecure} {scheme}://{addr}{VERIFY_PATH} -H 'authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"code\":\"{code}\",\"scenario\":\"{scenario}\"}}'"
        ),
        mint: format!("cargo run -q -p gateway -- code mint --demo-keys --subject {handle} --kind person --city {city} --format raw"),
    })
}
