//! `loadtest soak` as a user runs it, starting the debug `gateway` binary beside this test's
//! `loadtest`: it mints its codes as it goes, samples the gateway every window (memory,
//! sockets, latency), writes its SVG chart, and its exit status follows its memory verdict;
//! bad flags exit 2 naming the value.
//!
//! A file of its own, so no other test loads the machine while the soak expects every request
//! to pass. Runs are a few seconds long and nothing is asserted about speed.

mod common;

use common::{gateway_binary, json_report, loadtest, n, text};

#[tokio::test]
async fn soak_mints_as_it_goes_samples_the_gateway_and_draws_its_chart() {
    let gateway = gateway_binary();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let svg = dir.path().join("soak.svg");
    let out = loadtest(&[
        "soak",
        "--gateway-bin",
        gateway.to_str().expect("UTF-8 path"),
        "-z",
        "6s",
        "-q",
        "200",
        "-c",
        "8",
        "--every",
        "1s",
        "--settle",
        "2s",
        "--svg",
        svg.to_str().expect("UTF-8 path"),
        "--profile",
        "hmac",
        "--population",
        "50",
        "--json",
        "--no-tui",
    ])
    .await;
    let report = json_report(&out);
    let summary = &report["summary"];
    assert_eq!(
        n(&summary["expectations_failed"]),
        0,
        "stderr:\n{}\n{report:#}",
        text(&out.stderr)
    );
    assert_eq!(n(&summary["requests"]), 1200, "200/s for 6 s: {summary:#}");
    let samples = report["samples"].as_array().expect("samples");
    assert!(samples.len() >= 5, "one a second: {samples:#?}");
    for s in samples {
        assert!(n(&s["rss_bytes"]) > 0 && n(&s["sockets"]) > 0, "{s}");
    }
    let sampled: u64 = samples.iter().map(|s| n(&s["requests"])).sum();
    assert_eq!(sampled, 1200, "the windows cover every request");
    let memory = &report["memory"];
    assert!(n(&memory["samples_fitted"]) >= 3, "{memory:#}");
    let flat = memory["flat"].as_bool().expect("a verdict after --settle");
    assert_eq!(
        out.status.code(),
        Some(if flat { 0 } else { 1 }),
        "the exit status follows the memory verdict: {memory:#}"
    );
    let chart = std::fs::read_to_string(&svg).expect("the chart was written");
    assert!(chart.starts_with("<svg") && chart.contains("gateway RSS (MB)"));
}

#[tokio::test]
async fn bad_soak_flags_exit_2_and_name_the_value() {
    for (args, expected) in [
        (&["soak", "-q", "0"][..], "`-q`"),
        (&["soak", "-z", "5s", "--every", "10s"][..], "`--every 10s`"),
        (
            &["soak", "--target", "http://127.0.0.1:1"][..],
            "--target-pid",
        ),
    ] {
        let out = loadtest(args).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
