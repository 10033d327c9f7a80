//! What the `loadtest` end-to-end tests share: running the binary (bounded), reading its
//! output, and the debug gateway beside it.

#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

/// Bound on any one `loadtest` process; reached only when something is broken.
pub const PATIENCE: Duration = Duration::from_secs(180);

pub fn loadtest_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loadtest"))
}

/// The binary of package `name` beside `loadtest` (the workspace's tests build the gateway and
/// the issuer there: both crates have integration tests; or `cargo build -p gateway -p issuer`).
pub fn beside(name: &str) -> PathBuf {
    let path = loadtest_binary().with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "no {name} binary at `{}`: build it with `cargo build -p {name}` (the workspace's tests do)",
        path.display()
    );
    path
}

/// The debug gateway beside `loadtest`.
pub fn gateway_binary() -> PathBuf {
    beside("gateway")
}

/// Runs `loadtest args` to completion (bounded).
pub async fn loadtest(args: &[&str]) -> Output {
    let run = tokio::process::Command::new(loadtest_binary())
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(PATIENCE, run)
        .await
        .unwrap_or_else(|_| panic!("loadtest {args:?} did not finish within {PATIENCE:?}"))
        .expect("loadtest runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The JSON report on stdout (the panic shows stdout and stderr).
pub fn json_report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "a JSON report ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// A count in a report (0 when absent).
pub fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The JSON report of a run that must have exited 0 (the panic shows the exit, stderr and the
/// report).
pub fn succeeded_with_report(out: &Output) -> Value {
    let report = json_report(out);
    assert!(
        out.status.success(),
        "exit {:?}; stderr:\n{}\n{report:#}",
        out.status,
        text(&out.stderr)
    );
    report
}
