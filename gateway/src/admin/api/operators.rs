//! `/admin/v1/whoami` and `/admin/v1/operators…`: who is signed in, and the operator accounts
//! ([`crate::admin::operators`]). A new operator's token is shown once in the answer; the store
//! keeps only its hash.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use store::OperatorRow;
use wire::admin_api::{OperatorRegistration, OperatorTokenIssued, WhoAmI};

use super::{AdminApi, Answer, Call};
use crate::admin::operators::view;
use crate::error::Failure;
use crate::http::json;

fn issued((row, token): (OperatorRow, String), request_id: &str) -> Response<Full<Bytes>> {
    json::reply(
        StatusCode::CREATED,
        &OperatorTokenIssued {
            operator: view(&row),
            token,
        },
        request_id,
    )
}

pub async fn route(api: &AdminApi, call: Call<'_>) -> Answer {
    let operators = &api.operators;
    let actor = &call.operator.name;
    match (call.req.method().clone(), call.segments) {
        (Method::GET, ["whoami"]) => {
            let me = WhoAmI {
                name: actor.clone(),
                roles: call.operator.roles.clone(),
            };
            Ok(json::reply(StatusCode::OK, &me, call.request_id))
        }
        (Method::GET, ["operators"]) => {
            let views: Vec<_> = operators.list().await?.iter().map(view).collect();
            Ok(json::reply(StatusCode::OK, &views, call.request_id))
        }
        (Method::POST, ["operators"]) => {
            let (parts, body) = call.req.into_parts();
            let registration: OperatorRegistration = json::read(&parts.headers, body).await?;
            let added = operators.add(&registration, actor).await?;
            tracing::info!(operator = %actor, added = %added.0.name, "operator added");
            Ok(issued(added, call.request_id))
        }
        (Method::POST, ["operators", target]) => {
            let name = target.strip_suffix(":disable").ok_or(Failure::NotFound)?;
            let row = operators.disable(name).await?;
            tracing::info!(operator = %actor, disabled = %name, "operator disabled");
            Ok(json::reply(StatusCode::OK, &view(&row), call.request_id))
        }
        _ => Err(Failure::NotFound),
    }
}

/// `POST /admin/v1/operators` with the bootstrap secret: the first operator, who must hold
/// `operator-admin`.
pub async fn bootstrap(api: &AdminApi, req: Request<Incoming>, request_id: &str) -> Answer {
    let (parts, body) = req.into_parts();
    let registration: OperatorRegistration = json::read(&parts.headers, body).await?;
    let added = api.operators.add_first(&registration).await?;
    tracing::info!(added = %added.0.name, "first operator added with the bootstrap token");
    Ok(issued(added, request_id))
}
