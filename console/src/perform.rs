//! Carries one [`Effect`] out against an [`AdminApi`] and says what came back, as the
//! [`Data`] the loop feeds to [`crate::update::update`].

use crate::action::Effect;
use crate::client::AdminApi;
use crate::event::Data;

/// How many objections the queue shows (one page).
pub const OBJECTIONS_LIMIT: usize = 200;
/// How many recent verifications the Audit tab shows.
pub const AUDIT_LIMIT: usize = 100;

pub async fn perform<A: AdminApi>(api: &A, effect: Effect) -> Data {
    match effect {
        Effect::Execute { id, action } => {
            let result = api.act(&id, &action).await.map_err(|err| err.to_string());
            Data::ActionDone { id, action, result }
        }
        Effect::LoadObjection(id) => {
            let result = api.objection(&id).await.map_err(|err| err.to_string());
            Data::ObjectionLoaded { id, result }
        }
        Effect::RefreshObjections => Data::Objections(
            api.objections(OBJECTIONS_LIMIT)
                .await
                .map_err(|err| err.to_string()),
        ),
        Effect::LookupAudit(id) => {
            let result = api.audit_lookup(&id).await.map_err(|err| err.to_string());
            Data::AuditFound { id, result }
        }
    }
}
