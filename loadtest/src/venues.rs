//! `--venues N`: a province has many venues, not one per scenario. Before a run, N venues per
//! scenario of the mix are registered through the gateway's admin API
//! (`POST /admin/v1/venues`, role `venue-admin`), each in the city of the scenario's demo venue
//! and with its own quota; the run spreads its requests over them; afterwards every one is
//! deleted (`DELETE /admin/v1/venues/{id}`), whatever the run's outcome. A venue that could not
//! be deleted is named with the command that deletes it.

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::RngCore as _;
use wire::admin_api::{VenueKeyIssued, VenueRegistration, ADMIN_PREFIX};

/// Where the venues go and as whom.
#[derive(Debug, Clone)]
pub struct AdminApi {
    /// `http://host:port` of the admin listener, no trailing slash.
    base: String,
    token: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// One scenario's venues to register.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub scenario: String,
    pub city: u32,
    pub count: usize,
    pub rate_per_sec: u32,
}

/// The venues registered for this run, to delete when it ends.
#[derive(Debug)]
pub struct Registered {
    pub ids: Vec<String>,
    /// Per scenario (in the order asked), the venues' keys.
    pub keys: Vec<Vec<String>>,
}

impl AdminApi {
    /// The admin API at `url` (plain HTTP: the admin listener) with an operator's `token`.
    pub fn new(url: &str, token: &str) -> Result<AdminApi> {
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") {
            bail!("`--admin {url}` must be the admin listener's `http://host:port`");
        }
        Ok(AdminApi {
            base,
            token: token.to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Registers every venue wanted; on a failure the ones already registered are deleted
    /// before the error is returned.
    pub async fn register(&self, wanted: &[Wanted]) -> Result<Registered> {
        let mut run_id = [0u8; 4];
        rand::thread_rng().fill_bytes(&mut run_id);
        let run_id: String = run_id.iter().map(|b| format!("{b:02x}")).collect();
        let mut registered = Registered {
            ids: Vec::new(),
            keys: Vec::new(),
        };
        for want in wanted {
            let mut keys = Vec::with_capacity(want.count);
            for n in 0..want.count {
                let registration = VenueRegistration {
                    id: format!("loadtest-{run_id}-{}-{n}", want.scenario),
                    name: format!("loadtest {run_id} {} #{n}", want.scenario),
                    city: want.city,
                    scenarios: vec![want.scenario.clone()],
                    rate_per_sec: want.rate_per_sec,
                    client_certificate: false,
                    service_window: false,
                };
                match self.register_one(&registration).await {
                    Ok(issued) => {
                        registered.ids.push(issued.venue.id);
                        keys.push(issued.key);
                    }
                    Err(e) => {
                        self.delete(&registered.ids).await;
                        return Err(e);
                    }
                }
            }
            registered.keys.push(keys);
        }
        Ok(registered)
    }

    async fn register_one(&self, registration: &VenueRegistration) -> Result<VenueKeyIssued> {
        let body = serde_json::to_vec(registration).context("a venue registration")?;
        let (status, answer) = self.call(Method::POST, "/venues", Some(body)).await?;
        if status != StatusCode::CREATED {
            bail!(
                "registering venue `{}` through {}{ADMIN_PREFIX}/venues: {status} {}",
                registration.id,
                self.base,
                String::from_utf8_lossy(&answer)
            );
        }
        serde_json::from_slice(&answer).context("the gateway's answer to a venue registration")
    }

    /// Deletes these venues; says on stderr which could not be, with the command that does it.
    /// Returns how many were deleted.
    pub async fn delete(&self, ids: &[String]) -> usize {
        let mut deleted = 0;
        for id in ids {
            match self
                .call(Method::DELETE, &format!("/venues/{id}"), None)
                .await
            {
                Ok((StatusCode::NO_CONTENT, _)) => deleted += 1,
                Ok((status, answer)) => eprintln!(
                    "warning: venue `{id}` was not deleted ({status} {}); run `gateway venues delete {id}`",
                    String::from_utf8_lossy(&answer)
                ),
                Err(e) => eprintln!(
                    "warning: venue `{id}` was not deleted ({e:#}); run `gateway venues delete {id}`"
                ),
            }
        }
        deleted
    }

    /// `method` on `/admin/v1{path}`: the status and the body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes)> {
        let url = format!("{}{ADMIN_PREFIX}{path}", self.base);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .with_context(|| format!("a request to `{url}`"))?;
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.client.request(request),
        )
        .await
        .with_context(|| format!("`{url}` did not answer within 10 s"))?
        .with_context(|| format!("calling `{url}` (is `--admin` the gateway's admin listener?)"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the answer of `{url}`"))?
            .to_bytes();
        Ok((status, body))
    }
}
