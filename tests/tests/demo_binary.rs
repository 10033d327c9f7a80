//! The demo as a newcomer runs it: the real `gateway` binary on port 0 prints a banner ending in
//! a ready-to-paste `curl` line; that exact request gets `pass`, and the service window's line
//! gets the item's materials; SIGTERM stops it cleanly.
//!
//! The binary is not built here: `cargo build -p gateway` (or a workspace build) puts it in the
//! target folder next to this test's `deps/` folder, where the test finds it.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use testkit::{http_client, send, PATIENCE};
use wire::api::{Verdict, VerifyResponse};

/// The gateway process; killed if the test fails before stopping it.
struct Process {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Process {
    /// Everything the process wrote to stderr so far (its logs), for failure messages.
    fn logs(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Splits a shell command line into words, the way `sh` does for the quoting the banner uses:
/// single quotes (no escapes inside) and plain words.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = vec![];
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quotes in `{line}`");
    if in_word {
        words.push(word);
    }
    words
}

/// The request a `curl -s [-k] URL -H 'h: v'... -d 'BODY'` line sends.
struct CurlLine {
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_curl(line: &str) -> CurlLine {
    let words = shell_words(line);
    assert_eq!(words.first().map(String::as_str), Some("curl"), "{line}");
    let (mut url, mut headers, mut body) = (None, vec![], None);
    let mut rest = words[1..].iter();
    while let Some(word) = rest.next() {
        match word.as_str() {
            "-H" | "--header" => {
                let h = rest.next().expect("a header after -H");
                let (name, value) = h.split_once(':').expect("`name: value`");
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
            "-d" | "--data" | "--data-raw" => {
                body = Some(rest.next().expect("a body after -d").clone())
            }
            flag if flag.starts_with('-') => {} // -s, -k: how curl behaves, not what it sends
            u => url = Some(u.to_string()),
        }
    }
    CurlLine {
        url: url.expect("a URL"),
        headers,
        body: body.expect("a body"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_banner_curl_line_passes_and_sigterm_stops_the_gateway() {
    let binary = testkit::gateway_binary();
    let data = tempfile::tempdir().expect("a temporary folder");
    let mut child = Command::new(&binary)
        .args([
            "--listen-public",
            "127.0.0.1:0",
            "--listen-plain",
            "127.0.0.1:0",
            "--listen-admin",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data.path())
        // An empty folder: no ./config/gateway.toml, so the embedded demo configuration.
        .current_dir(data.path())
        .env_remove("MIANZHENG_GATEWAY_CONFIG")
        .env_remove("MIANZHENG_CONFIG_DIR")
        .env_remove("MIANZHENG_LOG_FORMAT")
        .env_remove("MIANZHENG_EMBEDDED_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", binary.display()));

    // Read both pipes on threads so the process never blocks on a full pipe.
    let forward = |pipe: Box<dyn std::io::Read + Send>, tx: mpsc::Sender<String>| {
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    };
    let (out_tx, out_rx) = mpsc::channel();
    let (err_tx, err_rx) = mpsc::channel();
    forward(Box::new(child.stdout.take().expect("stdout")), out_tx);
    forward(Box::new(child.stderr.take().expect("stderr")), err_tx);
    let mut process = Process {
        child,
        stderr: err_rx,
    };

    // The banner, up to the curl line.
    let deadline = Instant::now() + PATIENCE;
    let mut banner = vec![];
    let curl = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match out_rx.recv_timeout(left) {
            Ok(line) if line.trim_start().starts_with("curl ") => break line,
            Ok(line) => banner.push(line),
            Err(e) => panic!(
                "no curl line ({e}); banner so far:\n{}\nlogs:\n{}",
                banner.join("\n"),
                process.logs()
            ),
        }
    };
    assert!(
        banner.iter().any(|l| l.contains("Mianzheng gateway ready")),
        "{banner:?}"
    );

    // Exactly the request the line describes.
    let request = parse_curl(curl.trim());
    assert!(
        request.url.starts_with("http://127.0.0.1:"),
        "{}",
        request.url
    );
    let mut req = Request::builder().method(Method::POST).uri(&request.url);
    for (name, value) in &request.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(request.body.clone())))
        .expect("a request");
    let reply = send(&http_client(), req).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}\nlogs:\n{}",
        reply.text(),
        process.logs()
    );
    let answer: VerifyResponse = serde_json::from_slice(&reply.body).expect("a verify response");
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    assert_eq!(answer.scenario, "park-entry-senior");

    // The service window's line: the same holder's materials for a service item.
    let materials = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match out_rx.recv_timeout(left) {
            Ok(line) if line.trim_start().starts_with("curl ") => break line,
            Ok(line) => banner.push(line),
            Err(e) => panic!(
                "no materials curl line ({e}); banner:\n{}",
                banner.join("\n")
            ),
        }
    };
    let request = parse_curl(materials.trim());
    let mut req = Request::builder().method(Method::POST).uri(&request.url);
    for (name, value) in &request.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(request.body.clone())))
        .expect("a request");
    let reply = send(&http_client(), req).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let answer: wire::materials_api::MaterialsResponse =
        serde_json::from_slice(&reply.body).expect("a materials answer");
    assert_eq!(answer.item, gateway::demo::request::DEMO_ITEM);
    assert!(!answer.materials.is_empty(), "{answer:?}");

    // SIGTERM: drain and exit 0.
    let pid = process.child.id().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(kill.success(), "kill -TERM {pid}");
    let stopped = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = process.child.try_wait().expect("wait for the gateway") {
            break status;
        }
        assert!(
            Instant::now() < stopped,
            "the gateway did not exit within {PATIENCE:?} of SIGTERM; logs:\n{}",
            process.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "exit status {status}; logs:\n{}",
        process.logs()
    );
}
