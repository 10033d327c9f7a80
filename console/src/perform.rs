//! Carries one [`Effect`] out against an [`AdminApi`] and says what came back, as the
//! [`Data`] the loop feeds to [`crate::update::update`].

use crate::action::Effect;
use crate::client::{AdminApi, ClientError};
use crate::event::Data;

/// How many objections the queue shows (one page).
pub const OBJECTIONS_LIMIT: usize = 200;
/// How many recent verifications the Audit tab shows.
pub const AUDIT_LIMIT: usize = 100;
/// How many commitments the queue shows (one page).
pub const COMMITMENTS_LIMIT: usize = 200;

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
        Effect::ResolveCommitment { id, action } => {
            let result = api
                .resolve_commitment(&id, &action)
                .await
                .map_err(|err| err.to_string());
            Data::CommitmentResolved { id, action, result }
        }
        Effect::ClaimCommitment { department } => {
            let result = api
                .claim_commitment(&department)
                .await
                .map_err(|err| err.to_string());
            Data::CommitmentClaimed { department, result }
        }
        Effect::LoadCommitment(id) => {
            let result = api.commitment(&id).await.map_err(|err| err.to_string());
            Data::CommitmentLoaded { id, result }
        }
        Effect::RefreshCommitments => {
            let queue = async {
                let page = api.commitments(COMMITMENTS_LIMIT).await?;
                Ok((page, api.commitment_counts().await?))
            };
            Data::Commitments(queue.await.map_err(|err: ClientError| err.to_string()))
        }
    }
}
