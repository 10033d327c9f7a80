//! Crash safety of the real `gateway` binary: what it answered `200` (with an audit seq) or
//! `201` (an objection) before a `kill -9` is in its store after a restart, no code it accepted
//! passes again, and `gateway audit verify` finds the chain intact; an edited audit row is then
//! found and named.
//!
//! The binary is not built here: `cargo build -p gateway` (or a workspace build) puts it in the
//! target folder next to this test's `deps/` folder, where the test finds it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use testkit::process::{post, try_send, Process};
use testkit::{http_client, patiently, venue_key, Holder, PATIENCE};
use wire::api::{ObjectionFiled, VerifyResponse};

const SCENARIO: &str = "park-entry-senior";
const CERTIFICATE: &str = "senior-citizen-card";

/// Runs `gateway audit verify` on `data` (with `extra` arguments); its exit status and what it
/// printed.
fn audit_verify(config: &Path, data: &Path, extra: &[&str]) -> (std::process::ExitStatus, String) {
    let output = Command::new(testkit::gateway_binary())
        .args(["audit", "verify", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .current_dir(config.parent().expect("the config's folder"))
        .env_remove("DATABASE_URL")
        .env_remove("MIANZHENG_CONFIG_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run `gateway audit verify`");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}

/// What the gateway confirmed before it was killed.
#[derive(Debug, Default)]
struct Confirmed {
    /// (verification id, audit seq, the code it spent).
    verifications: Vec<(String, i64, String)>,
    objections: Vec<String>,
}

/// Sends verifications (one loop per task) or holder objections until `stop`.
async fn stream(
    public: SocketAddr,
    holder: Holder,
    objections: bool,
    stop: Arc<AtomicBool>,
) -> Confirmed {
    let client = http_client();
    let key = format!("Bearer {}", venue_key(SCENARIO));
    let mut confirmed = Confirmed::default();
    while !stop.load(Ordering::Relaxed) {
        if objections {
            let body = json!({ "code": holder.own_code().mint(), "certificate": CERTIFICATE,
                               "channel": "app", "description": "crash test objection" });
            let url = format!("http://{public}{}", wire::api::OBJECTIONS_PATH);
            if let Some(reply) = try_send(&client, post(&url, None, body)).await {
                if reply.status == StatusCode::CREATED {
                    let filed: ObjectionFiled =
                        serde_json::from_slice(&reply.body).expect("an ObjectionFiled");
                    confirmed.objections.push(filed.objection_id);
                }
            }
        } else {
            let code = holder.code().mint();
            let body = json!({ "code": code, "scenario": SCENARIO });
            let url = format!("http://{public}{}", wire::api::VERIFY_PATH);
            if let Some(reply) = try_send(&client, post(&url, Some(&key), body)).await {
                if reply.status == StatusCode::OK {
                    let answer: VerifyResponse =
                        serde_json::from_slice(&reply.body).expect("a verify response");
                    let seq = answer
                        .audit_seq
                        .expect("a 200 names its committed audit entry");
                    confirmed
                        .verifications
                        .push((answer.verification_id, seq, code));
                }
            }
        }
    }
    confirmed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_confirmed_before_kill_9_survives_and_the_chain_verifies() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = dir.path().join("data");
    let holder = Holder::passing(SCENARIO);

    // Traffic for about two seconds, then SIGKILL while it is still flowing.
    // Checkpoints every second, so that one is signed (and anchored) before the kill.
    let every_second = [("audit", "checkpoint_interval_secs", "1".to_owned())];
    let mut first = Process::start_with(dir.path(), &data, &every_second).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for objections in [false, false, false, true] {
        tasks.push(tokio::spawn(stream(
            first.public,
            holder.clone(),
            objections,
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let anchor = data.join(gateway::audit::anchor::ANCHOR_FILE);
    patiently("a checkpoint before the kill", async {
        while !std::fs::read_to_string(&anchor)
            .unwrap_or_default()
            .contains(r#""kind":"checkpoint""#)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    first.signal("-KILL");
    let status = first.wait().await;
    assert!(!status.success(), "killed, not exited: {status}");
    stop.store(true, Ordering::Relaxed);
    let mut confirmed = Confirmed::default();
    for task in tasks {
        let c = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the streams stop")
            .expect("a stream task");
        confirmed.verifications.extend(c.verifications);
        confirmed.objections.extend(c.objections);
    }
    assert!(
        !confirmed.verifications.is_empty() && !confirmed.objections.is_empty(),
        "traffic was answered before the kill: {} verifications, {} objections; logs:\n{}",
        confirmed.verifications.len(),
        confirmed.objections.len(),
        first.logs()
    );
    let mut seqs: Vec<i64> = confirmed.verifications.iter().map(|(_, s, _)| *s).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        confirmed.verifications.len(),
        "every answer has its own seq"
    );
    let config = dir.path().join("gateway.toml");
    drop(first);

    // The chain as the crash left it: the entries after the last checkpoint are newer than
    // the check's horizon (they would fail it once older, had no node appended since).
    let (status, report) = audit_verify(&config, &data, &["--uncovered-after", "3600"]);
    eprintln!(
        "before kill -9: {} verifications and {} objections confirmed; after it: {report}",
        confirmed.verifications.len(),
        confirmed.objections.len()
    );
    assert!(
        status.success(),
        "`gateway audit verify` right after kill -9: {status}\n{report}"
    );
    assert!(report.contains("audit log intact"), "{report}");

    // Restarted on the same data: everything confirmed is there.
    let mut second = Process::start(dir.path(), &data).await;
    let client = http_client();
    for (verification_id, seq, _) in &confirmed.verifications {
        let reply = second
            .admin(&client, &format!("/audit/verifications/{verification_id}"))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "verification {verification_id} (seq {seq}) answered 200 before the kill: {}",
            reply.text()
        );
        let view = reply.json();
        assert_eq!(view["seq"], *seq, "{view}");
        assert_eq!(view["verdict"], "pass", "{view}");
    }
    for id in &confirmed.objections {
        let reply = second.admin(&client, &format!("/objections/{id}")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "objection {id} got 201 before the kill: {}",
            reply.text()
        );
        assert_eq!(reply.json()["objection"]["status"], "open");
    }

    // No code it confirmed passes again: each was spent in the commit of its entry.
    let key = format!("Bearer {}", venue_key(SCENARIO));
    let url = format!("http://{}{}", second.public, wire::api::VERIFY_PATH);
    for (verification_id, _, code) in confirmed.verifications.iter().take(40) {
        let reply = try_send(
            &client,
            post(
                &url,
                Some(&key),
                json!({ "code": code, "scenario": SCENARIO }),
            ),
        )
        .await
        .expect("an answer after the restart");
        reply.assert_problem(StatusCode::CONFLICT, "code.replayed", None);
        assert!(
            reply.json()["detail"]
                .as_str()
                .is_some_and(|d| d.contains("already used, on node")),
            "the code of {verification_id}: {}",
            reply.text()
        );
    }

    // It continues the chain after the last entry that made it to disk.
    let last = *seqs.last().expect("a seq");
    let body = json!({ "code": holder.code().mint(), "scenario": SCENARIO });
    let reply = try_send(&client, post(&url, Some(&key), body))
        .await
        .expect("an answer after the restart");
    let answer = reply.verdict();
    assert!(
        answer.audit_seq.expect("a seq") > last,
        "{answer:?} after seq {last}"
    );

    // A clean stop, and the chain verifies.
    second.signal("-TERM");
    let status = second.wait().await;
    assert!(status.success(), "{status}; logs:\n{}", second.logs());
    let (status, report) = audit_verify(&config, &data, &[]);
    assert!(status.success(), "{status}\n{report}");
    assert!(report.contains("audit log intact"), "{report}");

    // An edited row is found and named.
    let edited = seqs[seqs.len() / 2];
    let url = format!(
        "sqlite://{}?mode=rw",
        data.join(store::SQLITE_FILE).display()
    );
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("open `{url}`: {e}"));
    let changed = sqlx::query("UPDATE audit_entries SET verdict = 'fail' WHERE seq = ?")
        .bind(edited)
        .execute(&pool)
        .await
        .expect("edit one audit row")
        .rows_affected();
    assert_eq!(changed, 1);
    pool.close().await;
    let (status, report) = audit_verify(&config, &data, &[]);
    assert_eq!(
        status.code(),
        Some(1),
        "an edited chain fails the check: {report}"
    );
    assert!(
        report.contains(&format!("broken at seq {edited}")),
        "{report}"
    );
    assert!(report.contains("edited"), "{report}");
}
