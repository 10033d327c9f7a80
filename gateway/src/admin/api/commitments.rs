//! `/admin/v1/commitments…`: the departments' post-check queues of commitments (告知承诺) and
//! their resolution ([`CommitmentDesk`](crate::commitments::CommitmentDesk)).

use chrono::Utc;
use http::{Method, StatusCode};
use store::{Commitment, CommitmentEvent, CommitmentFilter, CommitmentStatus as Stored};
use wire::admin_api::{
    ClaimRequest, CommitmentAction, CommitmentCounts, CommitmentDetail, CommitmentEventView,
    CommitmentPage, CommitmentStatus, CommitmentView, DepartmentCommitments,
};

use super::{short_hash, AdminApi, Answer, Call};
use crate::error::Failure;
use crate::http::json;

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

fn status_view(status: Stored) -> CommitmentStatus {
    match status {
        Stored::Pending => CommitmentStatus::Pending,
        Stored::InCheck => CommitmentStatus::InCheck,
        Stored::Confirmed => CommitmentStatus::Confirmed,
        Stored::False => CommitmentStatus::False,
    }
}

pub fn view(c: &Commitment) -> CommitmentView {
    CommitmentView {
        id: c.id.clone(),
        created_at: c.created_at,
        materials_request_id: c.materials_request_id.clone(),
        venue: c.venue.clone(),
        item: c.item,
        material: c.material.clone(),
        department: c.department.clone(),
        subject: short_hash(&c.subject_hash),
        text_version: c.text_version.clone(),
        status: status_view(c.status),
        assignee: c.assignee.clone(),
        deadline: c.deadline,
        overdue: !c.status.is_final() && c.deadline < Utc::now(),
        updated_at: c.updated_at,
    }
}

fn detail((commitment, history): (Commitment, Vec<CommitmentEvent>)) -> CommitmentDetail {
    CommitmentDetail {
        commitment: view(&commitment),
        history: history
            .iter()
            .map(|e| CommitmentEventView {
                at: e.at,
                actor: e.actor.clone(),
                from_status: e.from_status.map(status_view),
                to_status: status_view(e.to_status),
                note: e.note.clone(),
            })
            .collect(),
    }
}

fn filter(query: Option<&str>) -> Result<CommitmentFilter, Failure> {
    let status = json::query_param(query, "status")
        .map(|s| s.parse::<Stored>().map_err(Failure::MalformedRequest))
        .transpose()?;
    let flag = |name: &str| match json::query_param(query, name).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Failure::MalformedRequest(format!(
            "{name} `{other}` must be true or false"
        ))),
    };
    let overdue = flag("overdue")?;
    Ok(CommitmentFilter {
        department: json::query_param(query, "department"),
        status,
        open_only: flag("open")?,
        overdue_at: overdue.then(Utc::now),
        limit: json::limit_param(query, DEFAULT_PAGE, MAX_PAGE)?,
        after_id: json::query_param(query, "after"),
    })
}

pub async fn route(api: &AdminApi, call: Call<'_>) -> Answer {
    let desk = &api.commitments;
    let detail_reply = |d| json::reply(StatusCode::OK, &detail(d), call.request_id);
    match (call.req.method().clone(), call.segments) {
        (Method::GET, ["commitments"]) => {
            let mut filter = filter(call.req.uri().query())?;
            let limit = filter.limit as usize;
            // One more than asked tells whether there is a next page.
            filter.limit += 1;
            let mut items = desk.list(&filter).await?;
            let more = items.len() > limit;
            items.truncate(limit);
            let next = more.then(|| items.last().map(|c| c.id.clone())).flatten();
            let page = CommitmentPage {
                items: items.iter().map(view).collect(),
                next,
            };
            Ok(json::reply(StatusCode::OK, &page, call.request_id))
        }
        (Method::GET, ["commitments", "counts"]) => {
            let counts = CommitmentCounts {
                by_department: desk
                    .counts(Utc::now())
                    .await?
                    .into_iter()
                    .map(|c| DepartmentCommitments {
                        department: c.department,
                        pending: c.pending,
                        in_check: c.in_check,
                        overdue: c.overdue,
                        confirmed: c.confirmed,
                        found_false: c.found_false,
                    })
                    .collect(),
            };
            Ok(json::reply(StatusCode::OK, &counts, call.request_id))
        }
        (Method::POST, ["commitments", "claim"]) => {
            let (parts, body) = call.req.into_parts();
            let claim: ClaimRequest = json::read(&parts.headers, body).await?;
            match desk.claim(&claim.department, &call.operator.name).await? {
                Some(id) => Ok(detail_reply(desk.detail(&id).await?)),
                None => Ok(json::no_content(call.request_id)),
            }
        }
        (Method::GET, ["commitments", id]) => Ok(detail_reply(desk.detail(id).await?)),
        (Method::POST, ["commitments", id, "actions"]) => {
            let id = id.to_string();
            let (parts, body) = call.req.into_parts();
            let action: CommitmentAction = json::read(&parts.headers, body).await?;
            Ok(detail_reply(
                desk.act(&id, &call.operator.name, &action).await?,
            ))
        }
        _ => Err(Failure::NotFound),
    }
}
