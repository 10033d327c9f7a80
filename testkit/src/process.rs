//! The real `gateway` binary as a child process: a configuration written from the embedded
//! one with loopback ports and chosen settings, started and awaited until ready, signalled,
//! and asked over plain HTTP. For tests about what a process does across a crash, a restart or
//! beside another process.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};

use crate::{http_client, HttpClient, Reply, GATEWAY_ADMIN_TOKEN, PATIENCE};

/// A free loopback port (bound, read, released: another process could take it meanwhile, which
/// would fail the start loudly, never silently).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The embedded demo configuration with plain HTTP on fixed loopback ports, the data folder
/// `data`, a generous fetch deadline, and `settings` ((section, key, TOML value), replacing the
/// embedded line for that key, commented out or not); written to `dir/gateway.toml`.
pub fn write_config(
    dir: &Path,
    data: &Path,
    settings: &[(&str, &str, String)],
) -> (PathBuf, SocketAddr, SocketAddr) {
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
    replace("mode = \"self-signed\"", "mode = \"off\"".to_owned());
    replace("dir =", format!("dir = {:?}", data.display().to_string()));
    replace("deadline_ms =", "deadline_ms = 10000".to_owned());
    for (section, key, value) in settings {
        let header = format!("[{section}]");
        let at = lines
            .iter()
            .position(|l| l.trim() == header)
            .unwrap_or_else(|| panic!("the embedded configuration has a `{header}` section"));
        let mut end = lines[at + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .map_or(lines.len(), |n| at + 1 + n);
        let mut i = at + 1;
        while i < end {
            let bare = lines[i].trim_start().trim_start_matches('#').trim_start();
            if bare.starts_with(&format!("{key} =")) {
                lines.remove(i);
                end -= 1;
            } else {
                i += 1;
            }
        }
        lines.insert(at + 1, format!("{key} = {value}"));
    }
    let path = dir.join("gateway.toml");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write the configuration");
    (path, public, admin)
}

/// The gateway process; killed if the test fails before stopping it.
#[derive(Debug)]
pub struct Process {
    child: Child,
    /// Behind a lock so that `&Process` may cross an `.await` in a `Send` future.
    logs: std::sync::Mutex<mpsc::Receiver<String>>,
    pub public: SocketAddr,
    pub admin: SocketAddr,
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
    pub fn logs(&self) -> String {
        let logs = self
            .logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        logs.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Starts the binary on a configuration written into `dir` for the data folder `data`, and
    /// waits until `/readyz` answers 200.
    pub async fn start(dir: &Path, data: &Path) -> Process {
        Process::start_with(dir, data, &[]).await
    }

    /// [`Process::start`] with `settings` (see [`write_config`]).
    pub async fn start_with(dir: &Path, data: &Path, settings: &[(&str, &str, String)]) -> Process {
        let binary = super::gateway_binary();
        let (config, public, admin) = write_config(dir, data, settings);
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
            logs: std::sync::Mutex::new(logs),
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

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Waits (bounded) for the process to end and returns its exit status.
    pub async fn wait(&mut self) -> std::process::ExitStatus {
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

    pub async fn admin(&self, client: &HttpClient, path: &str) -> Reply {
        let url = format!("http://{}/admin/v1{path}", self.admin);
        try_send(client, get(&url, Some(GATEWAY_ADMIN_TOKEN)))
            .await
            .unwrap_or_else(|| panic!("GET {url}: no answer; logs:\n{}", self.logs()))
    }
}

pub fn get(url: &str, token: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::builder().method(Method::GET).uri(url);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req.body(Full::new(Bytes::new())).expect("a request")
}

pub fn post(url: &str, auth: Option<&str>, body: serde_json::Value) -> Request<Full<Bytes>> {
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
pub async fn try_send(client: &HttpClient, req: Request<Full<Bytes>>) -> Option<Reply> {
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
