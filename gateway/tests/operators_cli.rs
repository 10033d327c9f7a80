//! `gateway operators add|list|disable`, run as the real binary against a SQLite store in a
//! temporary folder: the token is printed once and stored only as its hash; the list never shows
//! a token; a disabled operator is listed as such.

use std::process::{Command, Output};

fn operators(args: &[&str], store: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("operators")
        .args(args)
        .args(["--store", store])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run gateway")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn operators_are_added_listed_and_disabled_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/mianzheng.db?mode=rwc", dir.path().display());

    let out = operators(&["list"], &url);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no operator yet"), "{}", text(&out));

    let out = operators(
        &[
            "add",
            "--name",
            "li.wei",
            "--role",
            "objection-handler",
            "--role",
            "viewer",
        ],
        &url,
    );
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let token = printed
        .lines()
        .last()
        .expect("the token line")
        .trim()
        .to_owned();
    assert!(token.starts_with("mzo_"), "{printed}");
    assert!(printed.contains("viewer, objection-handler"), "{printed}");

    // Names are unique; roles are checked.
    let out = operators(&["add", "--name", "li.wei", "--role", "viewer"], &url);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    let out = operators(&["add", "--name", "mei", "--role", "admin"], &url);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("unknown role `admin`"),
        "{}",
        text(&out)
    );

    let out = operators(&["list"], &url);
    let listed = text(&out);
    assert!(out.status.success(), "{listed}");
    let row = listed
        .lines()
        .find(|l| l.starts_with("li.wei"))
        .unwrap_or_else(|| panic!("li.wei listed: {listed}"));
    assert!(
        row.contains("by cli:") && row.trim_end().ends_with('-'),
        "{row}"
    );
    assert!(!listed.contains(&token), "never a token: {listed}");

    let out = operators(&["disable", "--name", "li.wei"], &url);
    assert!(out.status.success(), "{}", text(&out));
    let listed = text(&operators(&["list"], &url));
    let row = listed
        .lines()
        .find(|l| l.starts_with("li.wei"))
        .expect("listed");
    assert!(!row.trim_end().ends_with('-'), "a disabled time: {row}");
    let out = operators(&["disable", "--name", "nobody"], &url);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("operator `nobody` not found"),
        "{}",
        text(&out)
    );

    // The store has the token's hash only.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let row = runtime.block_on(async {
        let store = store::Store::open(&url).await.expect("the store");
        store
            .operator("li.wei")
            .await
            .expect("read")
            .expect("li.wei")
    });
    assert_eq!(
        row.token_hash,
        gateway::admin::operators::hash_token(&token)
    );
}
