//! The request the demo prints at start, so a newcomer sees a `pass`: a freshly minted code
//! for a synthetic holder who passes `park-entry-senior`, sent with that scenario's demo venue
//! key, as a ready-to-paste curl line; and the same holder's materials for a service item, as
//! the demo's service window would pull them (免证办).

use chrono::Utc;
use wire::api::VERIFY_PATH;
use wire::calendar::china_today;
use wire::code::{HolderClaims, Minter, Profile, Purpose};
use wire::materials_api::MATERIALS_PATH;

use crate::app::Gateway;

/// What the demo prints.
#[derive(Debug, Clone)]
pub struct DemoRequest {
    pub curl: String,
    /// The command that mints another code for the same holder.
    pub mint: String,
    /// The service window's request for the same holder's materials of [`DEMO_ITEM`], when
    /// the venues include a service window.
    pub materials: Option<String>,
}

/// The service item the demo's materials request names: 居住证办理 (a residence permit).
pub const DEMO_ITEM: u32 = 23;

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
    let minter = Minter::new(signing);
    let code = minter.mint(&HolderClaims::fresh_person(&handle, Some(city), 600));
    let (scheme, addr, insecure) = match gateway.plain_addr {
        Some(addr) => ("http", addr, ""),
        None => ("https", gateway.public_addr, " -k"),
    };
    let window = service
        .venues
        .iter()
        .find(|v| v.service_window)
        .and_then(|v| v.demo_key.as_deref());
    let materials = window.map(|key| {
        let claims = HolderClaims {
            purpose: Purpose::ServiceWindow,
            presenter: None,
            medium: Default::default(),
            scope: Some(vec![format!("item:{DEMO_ITEM}")]),
            ..HolderClaims::fresh_person(&handle, Some(city), 600)
        };
        let code = minter.mint(&claims);
        format!(
            "curl -s{insecure} {scheme}://{addr}{MATERIALS_PATH} -H 'authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"code\":\"{code}\",\"item\":{DEMO_ITEM}}}'"
        )
    });
    Some(DemoRequest {
        curl: format!(
            "curl -s{insecure} {scheme}://{addr}{VERIFY_PATH} -H 'authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"code\":\"{code}\",\"scenario\":\"{scenario}\"}}'"
        ),
        mint: format!("cargo run -q -p gateway -- code mint --demo-keys --subject {handle} --kind person --city {city} --format raw"),
        materials,
    })
}
