//! Stage 3, authorize: the scenario exists and this venue may use it.

use wire::catalogue::model::Scenario;
use wire::catalogue::Catalogue;

use crate::error::Failure;
use crate::venues::Venue;

pub fn scenario<'c>(
    catalogue: &'c Catalogue,
    venue: &Venue,
    id: &str,
) -> Result<&'c Scenario, Failure> {
    let scenario = catalogue
        .scenario(id)
        .ok_or_else(|| Failure::UnknownScenario(id.chars().take(64).collect()))?;
    if !venue.may_use(id) {
        return Err(Failure::ScenarioNotAllowed(id.to_string()));
    }
    Ok(scenario)
}
