//! Named operators on the admin API, over real sockets on loopback: who may call (their own
//! token; the demo's is `demo-operator`'s), what each role may do (403 `admin.forbidden` naming
//! the role), the actor recorded from the account whatever the body says, disabling, the
//! bootstrap secret that only creates the first operator, and tokens kept only as hashes.

use gateway::admin::operators::hash_token;
use gateway::demo::operator::DEMO_OPERATOR;
use http::{Method, StatusCode};
use serde_json::json;
use testkit::{Holder, TestGateway};
use wire::admin_api::{ObjectionDetail, OperatorTokenIssued, OperatorView, Role, WhoAmI};
use wire::api::ObjectionFiled;

const SCENARIO: &str = "park-entry-senior";
const CERTIFICATE: &str = "senior-citizen-card";
/// The bootstrap secret of the gateway started without the demo token.
const BOOTSTRAP: &str = "e2e-bootstrap-secret-5d0c9e";

async fn file_objection(gw: &TestGateway) -> String {
    let code = Holder::passing(SCENARIO).own_code().mint();
    let reply = gw
        .file_objection(
            None,
            &json!({ "code": code, "certificate": CERTIFICATE, "channel": "app",
                     "description": "my card is shown as expired" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let filed: ObjectionFiled = serde_json::from_slice(&reply.body).expect("ObjectionFiled");
    filed.objection_id
}

fn whoami(reply: &testkit::Reply) -> WhoAmI {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    serde_json::from_slice(&reply.body).expect("a WhoAmI")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operator_signs_in_with_their_own_token_and_roles() {
    let gw = TestGateway::start().await;

    // No token, a wrong token.
    gw.admin_as(None, Method::GET, "/snapshot", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "admin.unauthorized", None);
    gw.admin_as(Some("not-a-token"), Method::GET, "/whoami", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "admin.unauthorized", None);

    // The demo token is the demo operator's, with every role.
    let demo = whoami(&gw.admin(Method::GET, "/whoami", None).await);
    assert_eq!(demo.name, DEMO_OPERATOR);
    assert_eq!(demo.roles, Role::ALL);

    let viewer = gw.add_operator("zhao", &["viewer"]).await;
    let handler = gw.add_operator("li.wei", &["objection-handler"]).await;
    assert_eq!(
        whoami(
            &gw.admin_as(Some(&viewer), Method::GET, "/whoami", None)
                .await
        ),
        WhoAmI {
            name: "zhao".into(),
            roles: vec![Role::Viewer]
        }
    );

    // A viewer reads, and is refused every change with the role it needs.
    let id = file_objection(&gw).await;
    for path in [
        "/objections",
        &format!("/objections/{id}"),
        "/venues",
        "/audit/recent",
    ] {
        let reply = gw.admin_as(Some(&viewer), Method::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
    }
    let resolve = json!({ "action": "resolve_upheld", "note": "the record is right" });
    let refused = gw
        .admin_as(
            Some(&viewer),
            Method::POST,
            &format!("/objections/{id}/actions"),
            Some(resolve.clone()),
        )
        .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "admin.forbidden", None);
    assert!(
        refused.text().contains("`objection-handler`"),
        "{}",
        refused.text()
    );
    for (path, role) in [
        ("/objections/claim", "objection-handler"),
        ("/venues/jinan-baotu-spring-park/disable", "venue-admin"),
        ("/rollout/reload", "rollout-admin"),
        ("/operators", "operator-admin"),
    ] {
        let reply = gw
            .admin_as(Some(&viewer), Method::POST, path, Some(json!({})))
            .await;
        reply.assert_problem(StatusCode::FORBIDDEN, "admin.forbidden", None);
        assert!(reply.text().contains(role), "{path}: {}", reply.text());
    }
    // A handler may not touch what is not its desk.
    gw.admin_as(Some(&handler), Method::GET, "/operators", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "admin.forbidden", None);

    // The objection handler acts: the history names the account, not what the body says.
    let reply = gw
        .admin_as(
            Some(&handler),
            Method::POST,
            &format!("/objections/{id}/actions"),
            Some(
                json!({ "action": "resolve_upheld", "actor": "somebody-else",
                         "note": "the record is right" }),
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let detail: ObjectionDetail = serde_json::from_slice(&reply.body).expect("a detail");
    let actors: Vec<&str> = detail.history[1..]
        .iter()
        .map(|e| e.actor.as_str())
        .collect();
    assert!(
        !actors.is_empty() && actors.iter().all(|a| *a == "li.wei"),
        "{actors:?}"
    );

    // The list shows accounts, never a token.
    let reply = gw.admin(Method::GET, "/operators", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let listed: Vec<OperatorView> = serde_json::from_slice(&reply.body).expect("operators");
    let names: Vec<&str> = listed.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, [DEMO_OPERATOR, "li.wei", "zhao"]);
    assert_eq!(listed[2].created_by, DEMO_OPERATOR);
    for token in [&viewer, &handler] {
        assert!(!reply.text().contains(token.as_str()), "{}", reply.text());
    }

    // A disabled operator is refused at once; the others carry on.
    let reply = gw
        .admin(Method::POST, "/operators/li.wei:disable", None)
        .await;
    let disabled: OperatorView = serde_json::from_slice(&reply.body).expect("an operator");
    assert!(disabled.disabled_at.is_some(), "{}", reply.text());
    gw.admin_as(Some(&handler), Method::GET, "/objections", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "admin.operator_disabled", None);
    whoami(
        &gw.admin_as(Some(&viewer), Method::GET, "/whoami", None)
            .await,
    );
    gw.admin(Method::POST, "/operators/nobody:disable", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_token_creates_the_first_operator_and_nothing_else() {
    let gw = TestGateway::start_with(|c| c.admin.token = Some(BOOTSTRAP.to_string())).await;
    let bootstrap =
        |method, path: &'static str, body| gw.admin_as(Some(BOOTSTRAP), method, path, body);

    // While no operator exists it may only create one, holding `operator-admin`.
    bootstrap(Method::GET, "/snapshot", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "admin.forbidden", None);
    bootstrap(
        Method::POST,
        "/operators",
        Some(json!({ "name": "root", "roles": ["viewer"] })),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "request.unprocessable",
        None,
    );
    let reply = bootstrap(
        Method::POST,
        "/operators",
        Some(json!({ "name": "root", "roles": ["operator-admin", "venue-admin"] })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let issued: OperatorTokenIssued = serde_json::from_slice(&reply.body).expect("issued");
    assert_eq!(issued.operator.created_by, "bootstrap");

    // Afterwards the bootstrap token is refused everywhere, saying what to use instead.
    for (method, path) in [(Method::POST, "/operators"), (Method::GET, "/snapshot")] {
        let body = (method == Method::POST)
            .then(|| json!({ "name": "second", "roles": ["operator-admin"] }));
        let reply = bootstrap(method, path, body).await;
        reply.assert_problem(StatusCode::UNAUTHORIZED, "admin.bootstrap_spent", None);
        assert!(
            reply.text().contains("operator's token"),
            "{}",
            reply.text()
        );
    }
    let root = whoami(
        &gw.admin_as(Some(&issued.token), Method::GET, "/whoami", None)
            .await,
    );
    assert_eq!(root.name, "root");
    assert_eq!(root.roles, [Role::VenueAdmin, Role::OperatorAdmin]);
    let second = gw
        .admin_as(
            Some(&issued.token),
            Method::POST,
            "/operators",
            Some(json!({ "name": "second", "roles": ["viewer"] })),
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text());

    // The store holds the token's hash, and no file of it holds the token.
    let data = gw.stop().await;
    let store = store::Store::open_sqlite_in(data.path())
        .await
        .expect("the store");
    let row = store.operator("root").await.expect("read").expect("root");
    assert_eq!(row.token_hash, hash_token(&issued.token));
    store.close().await;
    for entry in std::fs::read_dir(data.path()).expect("the data folder") {
        let path = entry.expect("an entry").path();
        if path.is_file() {
            // SQLite's `-wal` and `-shm` files may go between the listing and the read.
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("`{}` is not readable: {e}", path.display()),
            };
            assert!(
                !bytes
                    .windows(issued.token.len())
                    .any(|w| w == issued.token.as_bytes()),
                "`{}` holds the token in clear",
                path.display()
            );
        }
    }
}
