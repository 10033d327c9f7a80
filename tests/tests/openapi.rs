//! The API document over a real socket: `GET /openapi.json` on the admin listener, without a
//! token, is the checked-in `docs/openapi.json` byte for byte (the test says how to make the
//! copy anew when the code changed), and names every machine code the gateway can answer with.

use std::path::PathBuf;

use gateway::error::Failure;
use gateway::openapi::{PATH, REGENERATE};
use http::{Method, StatusCode};
use testkit::{request, Reply, TestGateway};
use wire::code::CodeError;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

async fn ask(gw: &TestGateway, method: Method) -> Reply {
    let admin = gw
        .gateway
        .admin_addr
        .expect("the test gateway has an admin listener");
    request(
        &gw.client,
        method,
        &format!("http://{admin}{PATH}"),
        &[],
        None,
    )
    .await
}

/// The first line where two texts differ, numbered from 1, with both versions.
fn first_difference(served: &str, copy: &str) -> String {
    let mut copy_lines = copy.lines();
    for (n, served_line) in served.lines().enumerate() {
        match copy_lines.next() {
            Some(copy_line) if copy_line == served_line => continue,
            Some(copy_line) => {
                return format!(
                    "line {}: served `{served_line}`, checked in `{copy_line}`",
                    n + 1
                )
            }
            None => return format!("line {}: the checked-in copy ends early", n + 1),
        }
    }
    "the checked-in copy goes on after the served document ends (or differs in line ends)".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_the_checked_in_document() {
    let gw = TestGateway::start().await;

    let reply = ask(&gw, Method::GET).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let served = reply.text();

    let path = checked_in();
    let copy = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        served == copy,
        "`{}` is not the document the gateway serves ({}): write it anew from the repository's \
         root with `{REGENERATE}`, and commit it",
        path.display(),
        first_difference(&served, &copy)
    );

    let refused = ask(&gw, Method::POST).await;
    refused.assert_problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "request.method_not_allowed",
        None,
    );
    assert_eq!(refused.header("allow"), Some("GET"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_names_every_problem_code() {
    let gw = TestGateway::start().await;
    let document = ask(&gw, Method::GET).await.json();
    let listed: Vec<&str> = document["components"]["schemas"]["Problem"]["properties"]["code"]
        ["enum"]
        .as_array()
        .expect("the problem code's enum")
        .iter()
        .map(|code| code.as_str().expect("a code"))
        .collect();
    for failure in Failure::one_of_each() {
        let code = failure.code();
        assert!(
            listed.contains(&code),
            "`{code}` ({failure:?}) is not listed"
        );
    }
    for error in CodeError::one_of_each() {
        let code = error.code();
        assert!(listed.contains(&code), "`{code}` ({error:?}) is not listed");
    }
    gw.stop().await;
}
