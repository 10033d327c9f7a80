//! The `issuer` binary: keygen writes usable key files, serve prints its backends' base URLs
//! and answers on them, find prints holders.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_issuer");

/// Kills the child when dropped, so a failing test leaves no server behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

#[test]
fn keygen_then_serve_then_query() {
    let dir = tempfile::tempdir().expect("tmp");
    let secret = dir.path().join("seals.secret.toml");
    let trust = dir.path().join("seals.trust.toml");
    let keygen = |force: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "keygen",
            "--departments",
            "health,education",
            "--out-secret",
        ])
        .arg(&secret)
        .arg("--out-trust")
        .arg(&trust);
        if force {
            cmd.arg("--force");
        }
        cmd.output().expect("keygen runs")
    };
    assert!(keygen(false).status.success());
    let text = std::fs::read_to_string(&secret).expect("secret file");
    assert!(text.starts_with("# DEMO KEYS — never use in production"));
    assert_eq!(
        wire::keys::load_signing_keys(&secret).expect("keys").len(),
        2
    );
    // Existing files are not overwritten by accident.
    let again = keygen(false);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--departments",
            "health",
        ])
        .arg("--seal-keys")
        .arg(&secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("ISSUER_ADMIN_TOKEN", "t")
        .spawn()
        .expect("serve starts");
    let mut child = Killed(child);
    let mut lines = BufReader::new(child.0.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let url = first
        .strip_prefix("issuer listening on ")
        .expect("listening line")
        .to_string();
    let backend = lines.next().expect("a backend line").expect("utf-8");
    assert!(backend.starts_with("health/province"), "{backend}");
    assert!(backend.ends_with(&format!("{url}/backends/health/province")));

    let addr = url.trim_start_matches("http://");
    let body = r#"{"subject":"h-1","holder_kind":"person","certificates":["senior-citizen-card"]}"#;
    let answer = http(
        addr,
        &format!(
            "POST /backends/health/province/v1/records:query HTTP/1.1\r\nhost: x\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = &answer[answer.find("\r\n\r\n").expect("body") + 4..];
    let resp: wire::issuer_api::RecordResponse = serde_json::from_str(json).expect("response");
    let trust = wire::keys::TrustList::load(&trust).expect("trust list");
    resp.records[0]
        .verify_seal(&trust, chrono::Utc::now())
        .expect("sealed with the generated key");
}

#[test]
fn serve_refuses_an_unknown_department() {
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--departments", "nope"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`nope`"));
}

#[test]
fn find_prints_matching_holders() {
    let out = Command::new(BIN)
        .args([
            "find",
            "--certificate",
            "senior-citizen-card",
            "--min-age",
            "60",
            "-n",
            "3",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        let age: u32 = l["age"].as_str().expect("age").parse().expect("number");
        assert!(age >= 60);
    }
}
