//! `deploy/`: the systemd unit passes `systemd-analyze verify` (with its `ExecStart` pointed at
//! the binary this build made, which the check requires to exist), and the production
//! configuration beside it loads as a production file.

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
