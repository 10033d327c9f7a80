//! `loadtest baseline`: a bare hyper server — HTTP/1.1 with keep-alive and h2c, on tokio's
//! multi-threaded runtime like the gateway — that reads each request's body and answers with a
//! fixed verify response of the size the gateway sends for `park-entry-senior`. What it
//! sustains is the ceiling of the HTTP layer on this machine; `compare` sets the gateway
//! against it.
//!
//! It prints its base URL (`http://ADDR`) as the first line on stdout and serves until SIGTERM
//! or Ctrl-C.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use wire::api::{DisclosedHolder, RequirementResult, Verdict, VerifyResponse};
use wire::catalogue::model::HolderKind;

use crate::cli::BaselineArgs;

/// A typical answer: a real `park-entry-senior` pass (id, masked name, one requirement,
/// timestamp, audit position).
pub fn typical_response() -> VerifyResponse {
    VerifyResponse {
        verification_id: gateway::verify::respond::verification_id(chrono::Utc::now()),
        scenario: "park-entry-senior".into(),
        verdict: Verdict::Pass,
        holder: DisclosedHolder {
            kind: HolderKind::Person,
            name: Some("王*华".into()),
        },
        requirements: vec![RequirementResult {
            certificate: "senior-citizen-card".into(),
            verdict: Verdict::Pass,
            reason: None,
            disclosed: BTreeMap::new(),
            legal_basis: None,
            stale: false,
        }],
        decided_at: chrono::Utc::now(),
        presented_by: None,
        means: Default::default(),
        audit_seq: Some(1_234_567),
        audit_chain: Some("gw-hz-01".into()),
    }
}

/// The body every answer carries: [`typical_response`] as the gateway serializes it, so both
/// servers send the same bytes.
pub fn body() -> Bytes {
    gateway::verify::respond::json(&typical_response())
}

async fn answer(req: Request<Incoming>, body: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the request as the gateway must; a broken body still gets the answer.
    let _ = req.into_body().collect().await;
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // The gateway echoes a 16-hex-digit request id; so does the baseline, for equal bytes.
    headers.insert("x-request-id", HeaderValue::from_static("00000000baseline"));
    Ok(response)
}

/// Accepts and serves connections on `listener` until `stop` resolves.
pub async fn serve(listener: TcpListener, stop: impl std::future::Future<Output = ()>) {
    let body = body();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A connection that failed during accept, or out of descriptors: keep going.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let builder = builder.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, body.clone()));
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The `baseline` command.
pub fn run(args: &BaselineArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on `{}`", args.listen))?;
        let addr: SocketAddr = listener.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "http://{addr}")?;
        out.flush()?;
        drop(out);
        serve(listener, crate::run::terminated()).await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_a_verify_response_of_the_usual_size() {
        let b = body();
        let parsed: VerifyResponse = serde_json::from_slice(&b).expect("a verify response");
        assert_eq!(parsed.verdict, Verdict::Pass);
        assert!((180..=340).contains(&b.len()), "{} bytes", b.len());
    }
}
