//! `loadtest` as a user runs it, against real gateways on 127.0.0.1 port 0:
//!
//! - a small mixed run with bad inputs against a gateway started in-process holds every
//!   expectation, exits 0, and its JSON report has the documented schema;
//! - an open-loop HTTP/2 run writes its text report to a file;
//! - holders from another population get verdicts they did not expect: exit 1, listed;
//! - usage errors exit 2 with a message naming the value;
//! - `compare` starts the baseline and the debug `gateway` binary and reports both;
//! - `compare --audit both` starts a gateway with the audit trail on, then one with it off,
//!   and reports both and their ratio; with `--store`, on PostgreSQL in schemas it drops;
//! - bad `compare` flags exit 2 and name the value.
//!
//! Runs are tiny and nothing is asserted about speed: no timing thresholds.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    gateway_binary, json_report, loadtest, loadtest_binary, succeeded_with_report, text, PATIENCE,
};
use serde_json::Value;
use testkit::TestGateway;

fn count(v: &Value, path: &[&str]) -> u64 {
    let mut at = v;
    for p in path {
        at = &at[*p];
    }
    at.as_u64().unwrap_or(0)
}

/// The summary fields the schema documents.
fn assert_summary_shape(summary: &Value) {
    for field in [
        "requests",
        "answered",
        "elapsed_secs",
        "throughput_rps",
        "latency_ms",
        "by_status",
        "by_verdict",
        "by_input",
        "by_scenario",
        "errors",
        "expectations_checked",
        "expectations_failed",
        "mismatches",
        "stop",
    ] {
        assert!(
            summary.get(field).is_some(),
            "summary lacks `{field}`: {summary:#}"
        );
    }
    for p in ["p50", "p90", "p99", "p99_9", "max", "mean"] {
        assert!(summary["latency_ms"][p].is_number(), "latency_ms.{p}");
    }
    for e in [
        "connect",
        "timeout",
        "transport",
        "unexpected_status",
        "unexpected_verdict",
        "unexpected_body",
    ] {
        assert!(summary["errors"][e].is_u64(), "errors.{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_mixed_run_holds_every_expectation_and_reports_json() {
    let gw = TestGateway::start().await;
    let out = loadtest(&[
        "--target",
        &gw.url(),
        "-n",
        "200",
        "-c",
        "4",
        "--closed",
        "--bad",
        "0.1",
        "--mix",
        "park-entry-senior:50,hotel-check-in:50",
        "--json",
        "--no-tui",
    ])
    .await;
    let report = succeeded_with_report(&out);

    assert_eq!(report["schema"], "mianzheng-loadtest/1");
    assert_eq!(report["command"], "run");
    let setup = &report["setup"];
    assert_eq!(setup["target"], gw.url().as_str());
    assert_eq!(
        (setup["mode"].as_str(), setup["connections"].as_u64()),
        (Some("closed"), Some(4))
    );
    assert_eq!(
        (setup["requests"].as_u64(), setup["codes_minted"].as_u64()),
        (Some(200), Some(200))
    );
    assert_eq!(setup["mix"], "park-entry-senior:50,hotel-check-in:50");
    assert_eq!(setup["profile"], "eddsa");
    assert!(setup["machine"]["cpus"].as_u64().is_some_and(|n| n >= 1));

    let r = &report["result"];
    assert_summary_shape(r);
    assert_eq!(
        (count(r, &["requests"]), count(r, &["answered"])),
        (200, 200)
    );
    assert_eq!(r["stop"], "completed");
    assert_eq!(count(r, &["expectations_checked"]), 200);
    assert_eq!(count(r, &["expectations_failed"]), 0, "{r:#}");
    assert_eq!(r["mismatches"].as_array().map(Vec::len), Some(0));

    // 10 % bad: exactly 20, dealt out 7/7/6; every valid request passed.
    let valid = count(r, &["by_input", "valid"]);
    let tampered = count(r, &["by_input", "tampered_code"]);
    let expired = count(r, &["by_input", "expired_code"]);
    let unknown = count(r, &["by_input", "unknown_venue"]);
    assert_eq!((valid, tampered + expired + unknown), (180, 20));
    assert!(
        [tampered, expired, unknown]
            .iter()
            .all(|n| (6..=7).contains(n)),
        "{r:#}"
    );
    assert_eq!(count(r, &["by_verdict", "pass"]), 180);
    assert_eq!(count(r, &["by_status", "200"]), 180);
    assert_eq!(count(r, &["by_status", "401"]), unknown);
    assert_eq!(
        count(r, &["by_status", "422"]) + count(r, &["by_status", "400"]),
        tampered + expired
    );
    for scenario in ["park-entry-senior", "hotel-check-in"] {
        assert!(
            count(r, &["by_scenario", scenario, "requests"]) > 0,
            "{scenario}"
        );
    }
    gw.stop().await;
}

/// `--venues 3`: venues registered through the admin API, the requests spread over them, and
/// every one deleted afterwards; `--replay`: replayed codes refused with 409, counted apart from
/// failures; the text report draws the latency histogram.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_registered_venues_with_replays_cleans_up_after_itself() {
    let gw = TestGateway::start().await;
    let admin = format!(
        "http://{}",
        gw.gateway
            .admin_addr
            .expect("the test gateway's admin listener")
    );
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = dir.path().join("report.txt");
    let json = dir.path().join("report.json");
    let common = [
        "--target",
        &gw.url(),
        "-n",
        "200",
        "-c",
        "4",
        "--venues",
        "3",
        "--admin",
        &admin,
        "--replay",
        "0.1",
        "--bad",
        "0.05",
        "--mix",
        "park-entry-senior:50,hotel-check-in:50",
        "--no-tui",
    ];
    let mut args = common.to_vec();
    args.extend(["--json", "-o", json.to_str().expect("utf-8 path")]);
    let out = loadtest(&args).await;
    let stderr = text(&out.stderr);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report"))
            .expect("JSON");
    assert!(
        out.status.success(),
        "exit {:?}; stderr:\n{stderr}\n{:#}",
        out.status,
        report["result"]
    );
    assert!(stderr.contains("registered 6 venues"), "{stderr}");
    assert!(stderr.contains("deleted 6 of the 6 venues"), "{stderr}");
    assert_eq!(report["setup"]["venues"], 3);
    // Neither `-q` nor `--closed`: open loop at the default rate.
    assert_eq!(
        (
            report["setup"]["mode"].as_str(),
            report["setup"]["rate_per_sec"].as_f64()
        ),
        (Some("open"), Some(1000.0))
    );
    let r = &report["result"];
    assert_eq!(count(r, &["expectations_failed"]), 0, "{r:#}");
    let replayed = count(r, &["by_input", "replayed"]);
    assert_eq!(replayed, 20, "{r:#}");
    assert_eq!(count(r, &["by_status", "409"]), replayed, "{r:#}");
    assert_eq!(count(r, &["refused_as_expected"]), replayed + 10, "{r:#}");
    assert!(r["latency_histogram"]
        .as_array()
        .is_some_and(|b| !b.is_empty()));
    for status in ["200", "409"] {
        assert!(
            r["latency_ms_by_status"][status]["p99"].is_number(),
            "latency of the {status} answers: {r:#}"
        );
    }

    // Nothing of the run is left in the registry.
    let venues = gw.admin(http::Method::GET, "/venues", None).await.json();
    let left: Vec<&Value> = venues
        .as_array()
        .expect("a list")
        .iter()
        .filter(|v| {
            v["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("loadtest-"))
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The text report of the same run.
    let mut args = common.to_vec();
    args.extend(["-o", file.to_str().expect("utf-8 path")]);
    let out = loadtest(&args).await;
    assert!(out.status.success(), "stderr:\n{}", text(&out.stderr));
    let report = std::fs::read_to_string(&file).expect("the report file");
    assert!(
        report.contains("3 registered venues per scenario"),
        "{report}"
    );
    assert!(report.contains("replays 10%"), "{report}");
    assert!(report.contains("refused      30 as expected"), "{report}");
    assert!(report.contains("  histogram    < "), "{report}");
    assert!(
        report.contains("expectations 200 checked, all held"),
        "{report}"
    );

    // A wrong operator token: a clear error, nothing registered, exit 2.
    let mut args = common.to_vec();
    args.extend(["--admin-token", "not-a-token"]);
    let out = loadtest(&args).await;
    assert_eq!(out.status.code(), Some(2), "stderr:\n{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("registering venue `loadtest-"),
        "{}",
        text(&out.stderr)
    );
    gw.stop().await;
}

/// Ctrl-C (SIGINT) in the middle of a run over registered venues ends it and deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_deletes_the_venues_it_registered() {
    use tokio::io::{AsyncBufReadExt as _, BufReader};
    let gw = TestGateway::start().await;
    let admin = format!(
        "http://{}",
        gw.gateway
            .admin_addr
            .expect("the test gateway's admin listener")
    );
    let mut child = tokio::process::Command::new(loadtest_binary())
        .args(["--target", &gw.url(), "-q", "50", "-z", "60s", "-c", "2"])
        .args(["--venues", "2", "--admin", &admin, "--no-tui"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("loadtest starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        // The run is under way once its first progress line is out.
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            let running = line.starts_with("run ");
            seen.push(line);
            if running {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no progress line: {seen:?}"));
    assert!(
        seen.iter().any(|l| l.starts_with("registered 2 venues")),
        "{seen:?}"
    );
    let pid = nix::unistd::Pid::from_raw(child.id().expect("running") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("loadtest ends after SIGINT")
        .expect("exit status");
    while let Some(line) = stderr.next_line().await.expect("stderr") {
        seen.push(line);
    }
    assert_eq!(status.code(), Some(130), "{seen:?}");
    assert!(
        seen.iter()
            .any(|l| l.starts_with("deleted 2 of the 2 venues")),
        "{seen:?}"
    );
    let venues = gw.admin(http::Method::GET, "/venues", None).await.json();
    assert!(
        !venues.to_string().contains("loadtest-"),
        "venues left behind: {venues}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_http2_run_writes_its_text_report_to_a_file() {
    let gw = TestGateway::start().await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = dir.path().join("report.txt");
    let out = loadtest(&[
        "--target",
        &gw.url(),
        "-q",
        "100",
        "-n",
        "60",
        "-c",
        "2",
        "--http2",
        "--profile",
        "hmac",
        "--population",
        "20",
        "--no-tui",
        "-o",
        file.to_str().expect("utf-8 path"),
    ])
    .await;
    assert!(
        out.status.success(),
        "exit {:?}; stderr:\n{}",
        out.status,
        text(&out.stderr)
    );
    let report = std::fs::read_to_string(&file).expect("the report file");
    assert!(
        report.contains("open loop at 100 req/s, 2 connections, 60 requests, HTTP/2"),
        "{report}"
    );
    assert!(report.contains("profile hmac"), "{report}");
    assert!(report.contains("60 sent, 60 answered"), "{report}");
    assert!(
        report.contains("expectations 60 checked, all held"),
        "{report}"
    );
    assert!(out.stdout.is_empty(), "the report went to the file");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holders_of_another_population_fail_their_expectations_and_exit_1() {
    let gw = TestGateway::start().await;
    // The gateway's departments serve population seed 1; holders picked from seed 2 pass by
    // seed 2's records, and many of them do not by seed 1's.
    let out = loadtest(&[
        "--target",
        &gw.url(),
        "-n",
        "40",
        "-c",
        "2",
        "--population-seed",
        "2",
        "--population",
        "40",
        "--zipf",
        "0",
        "--json",
        "--no-tui",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "stderr:\n{}", text(&out.stderr));
    let r = json_report(&out)["result"].clone();
    assert!(count(&r, &["expectations_failed"]) > 0);
    assert_eq!(
        count(&r, &["errors", "unexpected_verdict"]),
        count(&r, &["expectations_failed"]),
        "{r:#}"
    );
    let first = &r["mismatches"][0];
    assert_eq!(first["kind"], "unexpected_verdict");
    assert_eq!(first["expected"], "200 pass");
    assert_eq!(first["scenario"], "park-entry-senior");
    assert!(
        first["got"].as_str().is_some_and(|g| g.starts_with("200 ")),
        "{first}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn usage_errors_exit_2_and_name_the_value() {
    let cases: [(&[&str], &str); 4] = [
        (&["-n", "10"], "`--target URL`"),
        (
            &["--target", "http://127.0.0.1:9", "--mix", "nope:1"],
            "unknown scenario `nope`",
        ),
        (
            &["--target", "ftp://127.0.0.1:9"],
            "`--target ftp://127.0.0.1:9`",
        ),
        (&["--target", "https://127.0.0.1:9"], "`--cacert FILE`"),
    ];
    for (args, expected) in cases {
        let out = loadtest(args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test]
async fn compare_runs_the_baseline_and_the_gateway_binary() {
    let gateway = gateway_binary();
    assert!(Path::new(&gateway).is_file());
    let out = loadtest(&[
        "compare",
        "-n",
        "100",
        "-c",
        "4",
        "--bad",
        "0.05",
        "--warm",
        "--population",
        "50",
        "--json",
        "--no-tui",
    ])
    .await;
    let report = succeeded_with_report(&out);
    assert_eq!(report["schema"], "mianzheng-loadtest/1");
    assert_eq!(report["command"], "compare");
    assert_eq!(
        (report["warm"].as_bool(), report["pinned"].as_bool()),
        (Some(true), Some(false))
    );
    for side in ["baseline", "gateway"] {
        let s = &report[side];
        assert_summary_shape(&s["result"]);
        assert_eq!(count(s, &["result", "answered"]), 100, "{side}");
        assert_eq!(
            count(s, &["result", "expectations_failed"]),
            0,
            "{side}: {s:#}"
        );
        assert!(s["pid"].as_u64().is_some_and(|p| p > 0));
        assert_eq!(s["started"], true);
        assert_eq!(
            count(s, &["warm_up", "requests"]),
            50,
            "{side}: one per holder"
        );
        for cpu in ["server_cpu", "generator_cpu"] {
            for field in ["ticks", "ticks_per_sec", "secs", "us_per_request"] {
                assert!(s[cpu][field].is_number(), "{side}.{cpu}.{field}");
            }
        }
    }
    assert_eq!(
        count(&report["gateway"], &["result", "by_verdict", "pass"]),
        95
    );
    assert!(report["ratios"].get("throughput").is_some());
    assert!(report["ratios"].get("server_cpu_per_request").is_some());
    // Both children are gone.
    for side in ["baseline", "gateway"] {
        assert_gone(side, report[side]["pid"].as_u64().expect("pid"));
    }
}

/// Waits until process `pid` is gone (or a zombie).
fn assert_gone(what: &str, pid: u64) {
    let gone = (0..100).any(|_| {
        let alive =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
        if alive {
            std::thread::sleep(Duration::from_millis(50));
        }
        !alive
    });
    assert!(gone, "the {what} (pid {pid}) was stopped");
}

/// The CPU fields of a side, and that its total is its server's plus its store's.
fn assert_cpu_shape(side: &Value, name: &str) {
    for cpu in ["server_cpu", "generator_cpu", "total_cpu"] {
        for field in ["ticks", "ticks_per_sec", "secs", "us_per_request"] {
            assert!(side[cpu][field].is_number(), "{name}.{cpu}.{field}");
        }
    }
    let store = count(side, &["store", "cpu", "ticks"]);
    assert_eq!(
        count(side, &["total_cpu", "ticks"]),
        count(side, &["server_cpu", "ticks"]) + store,
        "{name}: {side:#}"
    );
}

/// A short `compare --audit both` run: 1 s per phase, few codes, two connections.
async fn compare_audit_both(extra: &[&str]) -> Value {
    let mut args = vec![
        "compare",
        "--audit",
        "both",
        "-z",
        "1s",
        "-c",
        "2",
        "--max-requests",
        "20000",
        "--profile",
        "hmac",
        "--warm",
        "--population",
        "20",
        "--json",
        "--no-tui",
    ];
    args.extend_from_slice(extra);
    let out = loadtest(&args).await;
    let report = succeeded_with_report(&out);
    assert_eq!(report["schema"], "mianzheng-loadtest/1");
    assert_eq!(report["audit"], "both");
    for (side, audit) in [
        ("baseline", Value::Null),
        ("gateway", Value::Bool(true)),
        ("gateway_audit_off", Value::Bool(false)),
    ] {
        let s = &report[side];
        assert_eq!(s["audit"], audit, "{side}");
        assert_summary_shape(&s["result"]);
        assert!(count(s, &["result", "answered"]) > 0, "{side}: {s:#}");
        assert_eq!(
            count(s, &["result", "expectations_failed"]),
            0,
            "{side}: {s:#}"
        );
        assert_eq!(count(s, &["warm_up", "requests"]), 20, "{side}");
        assert_eq!(s["started"], true);
        assert_cpu_shape(s, side);
    }
    for ratios in ["ratios", "ratios_audit_off", "audit_on_over_off"] {
        for field in [
            "throughput",
            "p50",
            "p99",
            "server_cpu_per_request",
            "total_cpu_per_request",
        ] {
            assert!(
                report[ratios].get(field).is_some(),
                "{ratios}.{field}: {report:#}"
            );
        }
    }
    for side in ["baseline", "gateway", "gateway_audit_off"] {
        assert_gone(side, report[side]["pid"].as_u64().expect("pid"));
    }
    report
}

#[tokio::test]
async fn compare_audit_both_runs_a_gateway_with_the_trail_on_then_one_with_it_off() {
    gateway_binary();
    let report = compare_audit_both(&[]).await;
    assert_eq!(report["store_url"], Value::Null, "SQLite by default");
    for side in ["gateway", "gateway_audit_off"] {
        assert_eq!(
            report[side]["store"],
            Value::Null,
            "{side}: inside the gateway"
        );
    }
    assert_ne!(report["gateway"]["pid"], report["gateway_audit_off"]["pid"]);
}

/// The PostgreSQL server of the store's tests (`store::testing`).
fn postgres_url() -> String {
    std::env::var("MIANZHENG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

#[tokio::test]
async fn compare_on_postgres_uses_a_schema_per_gateway_drops_them_and_counts_the_backends() {
    gateway_binary();
    let url = postgres_url();
    let report = compare_audit_both(&["--store", &url]).await;
    assert!(report["store_url"].is_string(), "{report:#}");
    let mut schemas = Vec::new();
    for side in ["gateway", "gateway_audit_off"] {
        let store = &report[side]["store"];
        assert_eq!(store["engine"], "postgres", "{side}");
        let schema = store["schema"].as_str().expect("schema").to_string();
        assert!(schema.starts_with("mz_compare_"), "{schema}");
        assert_eq!(store["application_name"], schema.as_str());
        // A server in a container (as on some CI) is not counted, and says why.
        if store["counted"] == true {
            assert!(count(store, &["backends"]) >= 1, "{side}: {store:#}");
            assert!(store["cpu"]["us_per_request"].is_number(), "{store:#}");
        } else {
            assert!(store["note"].is_string(), "{side}: {store:#}");
        }
        schemas.push(schema);
    }
    assert_ne!(schemas[0], schemas[1], "a fresh schema per gateway");
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at `{url}` ({e})"));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1)")
        .bind(&schemas)
        .fetch_one(&admin)
        .await
        .expect("asks");
    assert_eq!(left, 0, "the schemas {schemas:?} are dropped");
    admin.close().await;
}

#[tokio::test]
async fn bad_compare_flags_exit_2_and_name_the_value() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["compare", "--audit", "sometimes"],
            "invalid value 'sometimes' for '--audit <MODE>'",
        ),
        (
            &["compare", "--audit", "sometimes"],
            "[possible values: on, off, both]",
        ),
        (
            &[
                "compare",
                "--audit",
                "both",
                "--target",
                "http://127.0.0.1:9",
                "--target-pid",
                "1",
            ],
            "`--audit both` starts gateways of its own",
        ),
        (
            &["compare", "--store", "sqlite://x.db"],
            "`--store sqlite://x.db` is not a PostgreSQL URL",
        ),
    ];
    for (args, expected) in cases {
        let out = loadtest(args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{args:?}: {err}"
        );
    }
}
