//! Crash safety of the real `gateway` binary: what it answered `200` (with an audit seq) or
//! `201` (an objection) before a `kill -9` is in its store after a restart, and
//! `gateway audit verify` finds the chain intact; an edited audit row is then found and named.
//!
//! The binary is not built here: `cargo build -p gateway` (or a workspace build) puts it in the
//! target folder next to this test's `deps/` folder, where the test finds it.

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{http_client, venue_key, Holder, HttpClient, Reply, GATEWAY_ADMIN_TOKEN, PATIENCE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use serde_json::json;
use wire::api::{ObjectionFiled, VerifyResponse};

const SCENARIO: &str = "park-entry-senior";
const CERTIFICATE: &str = "senior-citizen-card";

/// A free loopback port (bound, read, released: another process could take it meanwhile, which
/// would fail the start loudly, never silently).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The embedded demo configuration with plain HTTP on fixed loopback ports, the data folder
/// `data`, and a generous fetch deadline; written to `dir/gateway.toml`.
fn write_config(dir: &Path, data: &Path) -> (PathBuf, SocketAddr, SocketAddr) {
    let public: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    // Files the embedded configuration names relative to its own folder (the rollout plan) are
    // not beside this copy: left out, so the gateway uses its embedded ones.
    let mut section = String::new();
    let mut lines: Vec<String> = Vec::new();
    for line in gateway::config::EMBEDDED.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
        }
        if section == "[rollout]" && trimmed.starts_with("file =") {
            continue;
        }
        lines.push(line.to_owned());
    }
    let mut replace = |line_start: &str, with: String| {
        let line = lines
            .iter_mut()
            .find(|l| l.trim_start().starts_with(line_start))
            .unwrap_or_else(|| panic!("the embedded configuration has a `{line_start}` line"));
        *line = with;
    };
    replace("public =", format!("public = \"{public}\""));
    replace("admin =", format!("admin = \"{admin}\""));
    replace("mode =", "mode = \"off\"".to_owned());
    replace("dir =", format!("dir = {:?}", data.display().to_string()));
    replace("deadline_ms =", "deadline_ms = 10000".to_owned());
    let path = dir.join("gateway.toml");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write the configuration");
    (path, public, admin)
}

/// The gateway process; killed if the test fails before stopping it.
struct Process {
    child: Child,
    logs: mpsc::Receiver<String>,
    public: SocketAddr,
    admin: SocketAddr,
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Process {
    fn logs(&self) -> String {
        self.logs.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Starts the binary on a configuration written into `dir` for the data folder `data`, and
    /// waits until `/readyz` answers 200.
    async fn start(dir: &Path, data: &Path) -> Process {
        let binary = common::gateway_binary();
        let (config, public, admin) = write_config(dir, data);
        let mut child = Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .args(["--listen-plain", "off"])
            .current_dir(dir)
            .env_remove("MIANZHENG_GATEWAY_CONFIG")
            .env_remove("MIANZHENG_CONFIG_DIR")
            .env_remove("MIANZHENG_LOG_FORMAT")
            .env_remove("MIANZHENG_ADMIN_TOKEN")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", binary.display()));
        let (tx, logs) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut process = Process {
            child,
            logs,
            public,
            admin,
        };
        let client = http_client();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = process.child.try_wait().expect("poll the gateway") {
                panic!(
                    "the gateway exited at start ({status}); logs:\n{}",
                    process.logs()
                );
            }
            let ready = try_send(&client, get(&format!("http://{admin}/readyz"), None)).await;
            if ready.is_some_and(|r| r.status == StatusCode::OK) {
                return process;
            }
            assert!(
                Instant::now() < deadline,
                "not ready within {PATIENCE:?}; logs:\n{}",
                process.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Waits (bounded) for the process to end and returns its exit status.
    async fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the gateway") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not exit within {PATIENCE:?}; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn admin(&self, client: &HttpClient, path: &str) -> Reply {
        let url = format!("http://{}/admin/v1{path}", self.admin);
        try_send(client, get(&url, Some(GATEWAY_ADMIN_TOKEN)))
            .await
            .unwrap_or_else(|| panic!("GET {url}: no answer; logs:\n{}", self.logs()))
    }
}

fn get(url: &str, token: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::builder().method(Method::GET).uri(url);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req.body(Full::new(Bytes::new())).expect("a request")
}

fn post(url: &str, auth: Option<&str>, body: serde_json::Value) -> Request<Full<Bytes>> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/json");
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    req.body(Full::new(Bytes::from(body.to_string())))
        .expect("a request")
}

/// The whole answer, or `None` when the connection failed (the process was killed) or nothing
/// came within [`PATIENCE`].
async fn try_send(client: &HttpClient, req: Request<Full<Bytes>>) -> Option<Reply> {
    tokio::time::timeout(PATIENCE, async {
        let resp = client.request(req).await.ok()?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        Some(Reply {
            status,
            headers,
            body,
        })
    })
    .await
    .ok()
    .flatten()
}

/// Runs `gateway audit verify` on `data`; its exit status and what it printed.
fn audit_verify(config: &Path, data: &Path) -> (std::process::ExitStatus, String) {
    let output = Command::new(common::gateway_binary())
        .args(["audit", "verify", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
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
    verifications: Vec<(String, i64)>,
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
            let body = json!({ "code": holder.code().mint(), "certificate": CERTIFICATE,
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
            let body = json!({ "code": holder.code().mint(), "scenario": SCENARIO });
            let url = format!("http://{public}{}", wire::api::VERIFY_PATH);
            if let Some(reply) = try_send(&client, post(&url, Some(&key), body)).await {
                if reply.status == StatusCode::OK {
                    let answer: VerifyResponse =
                        serde_json::from_slice(&reply.body).expect("a verify response");
                    let seq = answer
                        .audit_seq
                        .expect("a 200 names its committed audit entry");
                    confirmed.verifications.push((answer.verification_id, seq));
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
    let mut first = Process::start(dir.path(), &data).await;
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
    let mut seqs: Vec<i64> = confirmed.verifications.iter().map(|(_, s)| *s).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        confirmed.verifications.len(),
        "every answer has its own seq"
    );
    let config = dir.path().join("gateway.toml");
    drop(first);

    // The chain as the crash left it.
    let (status, report) = audit_verify(&config, &data);
    eprintln!(
        "before kill -9: {} verifications and {} objections confirmed; after it: {report}",
        confirmed.verifications.len(),
        confirmed.objections.len()
    );
    assert!(
        status.success(),
        "`gateway audit verify` right after kill -9: {status}\n{report}"
    );
    assert!(report.contains("audit chain intact"), "{report}");

    // Restarted on the same data: everything confirmed is there.
    let mut second = Process::start(dir.path(), &data).await;
    let client = http_client();
    for (verification_id, seq) in &confirmed.verifications {
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

    // It continues the chain after the last entry that made it to disk.
    let last = *seqs.last().expect("a seq");
    let body = json!({ "code": holder.code().mint(), "scenario": SCENARIO });
    let key = format!("Bearer {}", venue_key(SCENARIO));
    let url = format!("http://{}{}", second.public, wire::api::VERIFY_PATH);
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
    let (status, report) = audit_verify(&config, &data);
    assert!(status.success(), "{status}\n{report}");
    assert!(report.contains("audit chain intact"), "{report}");

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
    let (status, report) = audit_verify(&config, &data);
    assert_eq!(
        status.code(),
        Some(1),
        "an edited chain fails the check: {report}"
    );
    assert!(
        report.contains(&format!("audit chain broken at seq {edited}")),
        "{report}"
    );
    assert!(report.contains("edited"), "{report}");
}
