//! `GET /admin/v1/kpis?from=&to=&by=`: the plan's targets measured from traffic over a window
//! (default: the last 30 days in China, today included), the table `gateway report` prints.

use chrono::{NaiveDate, Utc};
use http::{Method, StatusCode};

use super::{AdminApi, Answer, Call};
use crate::error::Failure;
use crate::http::json;
use crate::kpis::evaluate::{self, By, Context};

/// The longest window one call may ask for.
const MAX_DAYS: i64 = 366;

fn date(query: Option<&str>, name: &str) -> Result<Option<NaiveDate>, Failure> {
    json::query_param(query, name)
        .map(|text| {
            text.parse().map_err(|_| {
                Failure::MalformedRequest(format!("{name} `{text}` must be a date YYYY-MM-DD"))
            })
        })
        .transpose()
}

pub async fn route(api: &AdminApi, call: Call<'_>) -> Answer {
    if (call.req.method(), call.segments) != (&Method::GET, &["kpis"][..]) {
        return Err(Failure::NotFound);
    }
    let query = call.req.uri().query();
    let (default_from, default_to) = evaluate::last_30_days(Utc::now());
    let to = date(query, "to")?.unwrap_or(default_to);
    let from = date(query, "from")?.unwrap_or(to - (default_to - default_from));
    if to < from || (to - from).num_days() >= MAX_DAYS {
        return Err(Failure::MalformedRequest(format!(
            "the window {from} to {to} must run forward and span at most {MAX_DAYS} days"
        )));
    }
    let by = match json::query_param(query, "by") {
        None => None,
        Some(text) => Some(By::parse(&text).ok_or_else(|| {
            Failure::MalformedRequest(format!("by `{text}` must be day, city or department"))
        })?),
    };
    let plan = api.rollout.as_ref().map(|rollout| rollout.plan());
    let context = Context {
        targets: plan.as_ref().map_or(&[][..], |plan| plan.targets()),
        certificates: api.catalogue.certificates().len(),
    };
    let evaluation = evaluate::evaluation(api.registry.store(), context, from, to, by)
        .await
        .map_err(Failure::from)?;
    Ok(json::reply(StatusCode::OK, &evaluation, call.request_id))
}
