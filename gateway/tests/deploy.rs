//! `deploy/`: the systemd unit passes `systemd-analyze verify` (with its `ExecStart` pointed at
//! the binary this build made, which the check requires to exist), the production
//! configuration beside it loads as a production file, and `two-nodes.sh --check` brings up two
//! production nodes on PostgreSQL behind HAProxy and sees one code accepted once across them.

use std::path::{Path, PathBuf};
use std::process::Command;

use gateway::config::{GatewayConfig, Mode, Overrides};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file)
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(deploy("mianzheng-gateway.service")).expect("the unit");
    let installed = "/usr/local/bin/mianzheng-gateway";
    assert!(unit.contains(&format!("ExecStart={installed} ")), "{unit}");
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("mianzheng-gateway.service");
    std::fs::write(
        &copy,
        unit.replace(installed, env!("CARGO_BIN_EXE_gateway")),
    )
    .expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze runs (package `systemd`; .ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A setting it does not understand is only a warning: any output fails the test.
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {:?}\n{stderr}",
        out.status
    );
}

/// The check itself catches a broken unit: a misspelt setting is reported.
#[test]
fn systemd_analyze_reports_a_broken_unit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = dir.path().join("broken.service");
    std::fs::write(
        &unit,
        format!(
            "[Service]\nType=exek\nExecStart={}\n",
            env!("CARGO_BIN_EXE_gateway")
        ),
    )
    .expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exek"),
        "{out:?}"
    );
}

#[test]
fn the_production_configuration_loads_as_production() {
    let path = deploy("gateway.toml");
    let config = GatewayConfig::load_with(Some(&path), &Overrides::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(config.mode, Mode::Production);
    assert_eq!(config.data_dir(), Path::new("/var/lib/mianzheng"));
    assert!(config
        .store_url()
        .is_some_and(|url| url.starts_with("postgres://")));
    assert!(config
        .listen
        .admin
        .is_some_and(|admin| admin.ip().is_loopback()));
}

/// The script a new operator runs: keys, departments, catalogue, venue, two nodes on one
/// PostgreSQL schema, HAProxy in front; one code through HAProxy twice, once to each node:
/// 200 pass, then 409 `code.replayed` from the other node. Needs haproxy, psql, PostgreSQL
/// and Redis on 127.0.0.1 (`.ci/run` sees to them) and the workspace's `issuer` binary.
#[test]
fn two_nodes_behind_haproxy_accept_a_code_once() {
    let bin = Path::new(env!("CARGO_BIN_EXE_gateway"))
        .parent()
        .expect("the binaries' folder");
    assert!(
        bin.join("issuer").is_file(),
        "no `issuer` beside the gateway in {}: run the workspace's tests (`cargo test --workspace`) or `cargo build -p issuer`",
        bin.display()
    );
    // Bounded: the script stops everything it started when it ends, however it ends.
    let out = Command::new("timeout")
        .args(["--kill-after=10", "240"])
        .arg(deploy("two-nodes.sh"))
        .arg("--bin")
        .arg(bin)
        .arg("--check")
        .output()
        .expect("run deploy/two-nodes.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "two-nodes.sh --check: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("first presentation: 200"), "{stdout}");
    assert!(stdout.contains("second presentation: 409"), "{stdout}");
    assert!(stdout.contains("check passed"), "{stdout}");
}
