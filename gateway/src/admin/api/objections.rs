//! `/admin/v1/objections…`: the department queues and the workflow ([`ObjectionDesk`]).

use chrono::Utc;
use http::{Method, StatusCode};
use store::{Objection, ObjectionEvent, ObjectionFilter, Status};
use wire::admin_api::{
    ClaimRequest, ObjectionAction, ObjectionDetail, ObjectionEventView, ObjectionPage,
    ObjectionStatus, ObjectionView,
};

use super::{short_hash, AdminApi, Answer, Call};
use crate::error::Failure;
use crate::http::json;

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

fn status_view(status: Status) -> ObjectionStatus {
    match status {
        Status::Open => ObjectionStatus::Open,
        Status::InReview => ObjectionStatus::InReview,
        Status::ResolvedCorrected => ObjectionStatus::ResolvedCorrected,
        Status::ResolvedUpheld => ObjectionStatus::ResolvedUpheld,
        Status::Rejected => ObjectionStatus::Rejected,
    }
}

pub fn view(o: &Objection) -> ObjectionView {
    ObjectionView {
        id: o.id.clone(),
        created_at: o.created_at,
        channel: o.channel.as_str().to_owned(),
        filed_by: o.filed_by.as_str().to_owned(),
        filer: o.filer.clone(),
        verification_id: o.verification_id.clone(),
        certificate: o.certificate.clone(),
        department: o.department.clone(),
        subject: short_hash(&o.subject_hash),
        description: o.description.clone(),
        status: status_view(o.status),
        assignee: o.assignee.clone(),
        deadline: o.deadline,
        overdue: !o.status.is_final() && o.deadline < Utc::now(),
        updated_at: o.updated_at,
    }
}

fn detail((objection, history): (Objection, Vec<ObjectionEvent>)) -> ObjectionDetail {
    ObjectionDetail {
        objection: view(&objection),
        history: history
            .iter()
            .map(|e| ObjectionEventView {
                at: e.at,
                actor: e.actor.clone(),
                from_status: e.from_status.map(status_view),
                to_status: status_view(e.to_status),
                note: e.note.clone(),
            })
            .collect(),
    }
}

fn filter(query: Option<&str>) -> Result<ObjectionFilter, Failure> {
    let status = json::query_param(query, "status")
        .map(|s| s.parse::<Status>().map_err(Failure::MalformedRequest))
        .transpose()?;
    let flag = |name: &str| match json::query_param(query, name).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Failure::MalformedRequest(format!(
            "{name} `{other}` must be true or false"
        ))),
    };
    let overdue = flag("overdue")?;
    Ok(ObjectionFilter {
        department: json::query_param(query, "department"),
        status,
        open_only: flag("open")?,
        overdue_at: overdue.then(Utc::now),
        limit: json::limit_param(query, DEFAULT_PAGE, MAX_PAGE)?,
        after_id: json::query_param(query, "after"),
    })
}

pub async fn route(api: &AdminApi, call: Call<'_>) -> Answer {
    let desk = &api.desk;
    let detail_reply = |d| json::reply(StatusCode::OK, &detail(d), call.request_id);
    match (call.req.method().clone(), call.segments) {
        (Method::GET, ["objections"]) => {
            let mut filter = filter(call.req.uri().query())?;
            let limit = filter.limit as usize;
            // One more than asked tells whether there is a next page.
            filter.limit += 1;
            let mut items = desk.list(&filter).await?;
            let more = items.len() > limit;
            items.truncate(limit);
            let next = more.then(|| items.last().map(|o| o.id.clone())).flatten();
            let page = ObjectionPage {
                items: items.iter().map(view).collect(),
                next,
            };
            Ok(json::reply(StatusCode::OK, &page, call.request_id))
        }
        (Method::POST, ["objections", "claim"]) => {
            let (parts, body) = call.req.into_parts();
            let claim: ClaimRequest = json::read(&parts.headers, body).await?;
            match desk.claim(&claim.department, &call.operator.name).await? {
                Some(id) => Ok(detail_reply(desk.detail(&id).await?)),
                None => Ok(json::no_content(call.request_id)),
            }
        }
        (Method::GET, ["objections", id]) => Ok(detail_reply(desk.detail(id).await?)),
        (Method::POST, ["objections", id, "actions"]) => {
            let id = id.to_string();
            let (parts, body) = call.req.into_parts();
            let action: ObjectionAction = json::read(&parts.headers, body).await?;
            let actor = &call.operator.name;
            Ok(detail_reply(desk.act(&id, actor, &action).await?))
        }
        _ => Err(Failure::NotFound),
    }
}
