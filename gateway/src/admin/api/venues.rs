//! `/admin/v1/venues…`: the venue registry. A new or rotated key is shown once in the answer;
//! the store keeps only its hash. Changes take effect on every node at once (the venue caches
//! are dropped through [`crate::departments::invalidation`]).

use http::{Method, StatusCode};
use store::VenueRow;
use wire::admin_api::{VenueKeyIssued, VenueRegistration, VenueView};

use super::{AdminApi, Answer, Call};
use crate::error::Failure;
use crate::http::json;

pub fn view(row: &VenueRow) -> VenueView {
    VenueView {
        id: row.id.clone(),
        name: row.name.clone(),
        city: row.city,
        scenarios: row.scenarios.clone(),
        rate_per_sec: row.rate_per_sec,
        disabled: row.disabled,
        client_certificate: row.client_certificate,
        service_window: row.service_window,
        updated_at: row.updated_at,
    }
}

/// Checks a registration against the catalogue; every problem at once.
fn check(api: &AdminApi, r: &VenueRegistration) -> Result<(), Failure> {
    let problems = crate::venues::registration_problems(&api.catalogue, r);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Unprocessable(problems.join("; ")))
    }
}

pub async fn route(api: &AdminApi, call: Call<'_>) -> Answer {
    let registry = &api.registry;
    let tell_nodes = || async {
        if let Err(e) = api.desk.invalidations.publish_venues().await {
            tracing::warn!(error = %e, "other nodes keep their venue cache until it expires");
        }
    };
    let issued = |status, (row, key): (VenueRow, String)| {
        json::reply(
            status,
            &VenueKeyIssued {
                venue: view(&row),
                key,
            },
            call.request_id,
        )
    };
    match (call.req.method().clone(), call.segments) {
        (Method::GET, ["venues"]) => {
            let rows = registry
                .store()
                .list_venues()
                .await
                .map_err(Failure::from)?;
            let views: Vec<VenueView> = rows.iter().map(view).collect();
            Ok(json::reply(StatusCode::OK, &views, call.request_id))
        }
        (Method::POST, ["venues"]) => {
            let (parts, body) = call.req.into_parts();
            let r: VenueRegistration = json::read(&parts.headers, body).await?;
            check(api, &r)?;
            let row = crate::venues::registration_row(r);
            let created = registry.register(row).await.map_err(Failure::from)?;
            tracing::info!(operator = %call.operator.name, venue = %created.0.id, "venue registered");
            tell_nodes().await;
            Ok(issued(StatusCode::CREATED, created))
        }
        (Method::DELETE, ["venues", id]) => {
            registry.delete(id).await.map_err(Failure::from)?;
            tracing::info!(operator = %call.operator.name, venue = %id, "venue deleted");
            tell_nodes().await;
            Ok(json::no_content(call.request_id))
        }
        (Method::POST, ["venues", id, "rotate"]) => {
            let rotated = registry.rotate(id).await.map_err(Failure::from)?;
            tracing::info!(operator = %call.operator.name, venue = %id, "venue key rotated");
            tell_nodes().await;
            Ok(issued(StatusCode::OK, rotated))
        }
        (Method::POST, ["venues", id, action @ ("disable" | "enable")]) => {
            let row = registry
                .set_disabled(id, *action == "disable")
                .await
                .map_err(Failure::from)?;
            tracing::info!(operator = %call.operator.name, venue = %id, action, "venue changed");
            tell_nodes().await;
            Ok(json::reply(StatusCode::OK, &view(&row), call.request_id))
        }
        (Method::POST, ["venues", id, action @ ("bind-certificate" | "unbind-certificate")]) => {
            let row = registry
                .set_client_certificate(id, *action == "bind-certificate")
                .await
                .map_err(Failure::from)?;
            tracing::info!(operator = %call.operator.name, venue = %id, action, "venue changed");
            tell_nodes().await;
            Ok(json::reply(StatusCode::OK, &view(&row), call.request_id))
        }
        _ => Err(Failure::NotFound),
    }
}
