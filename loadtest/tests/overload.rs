//! `loadtest overload` as a user runs it, starting the debug `gateway` binary beside this
//! test's `loadtest`: it finds a saturation, runs its half-load and overload phases, answers
//! every request of them either as admitted or shed (nothing else), reports the findings
//! against the goals, and stops its gateway; bad flags exit 2 naming the value.
//!
//! A file of its own, so no other test loads the machine while it overloads a gateway.
//! Runs are a few seconds long and nothing is asserted about speed: no timing thresholds.

mod common;

use common::{gateway_binary, loadtest, n, succeeded_with_report, text};

#[tokio::test]
async fn overload_finds_saturation_and_every_request_is_admitted_or_shed() {
    let gateway = gateway_binary();
    let out = loadtest(&[
        "overload",
        "--gateway-bin",
        gateway.to_str().expect("UTF-8 path"),
        "--probe",
        "2s",
        "--probe-connections",
        "8",
        "-z",
        "3s",
        "-c",
        "64",
        "--profile",
        "hmac",
        "--population",
        "50",
        "--json",
        "--no-tui",
    ])
    .await;
    let report = succeeded_with_report(&out);
    assert_eq!(report["command"], "overload");
    let f = &report["findings"];
    let saturation = f["saturation_rps"].as_f64().expect("a saturation");
    assert!(saturation > 0.0);
    // Twice the saturation (computed apart: equal up to rounding).
    let offered = f["offered_rps"].as_f64().expect("an offered rate");
    assert!(
        (offered - 2.0 * saturation).abs() <= 1e-9 * offered,
        "offered {offered} against saturation {saturation}"
    );
    assert!(n(&report["probe"]["by_status"]["200"]) > 0);
    for phase in ["half_load", "overload"] {
        let s = &report[phase];
        assert!(n(&s["requests"]) > 0, "{phase}");
        assert_eq!(n(&s["expectations_failed"]), 0, "{phase}: {s:#}");
        // Every answer was a verdict or a shed request, nothing in between.
        assert_eq!(
            n(&s["by_status"]["200"]) + n(&s["shed"]),
            n(&s["requests"]),
            "{phase}: {s:#}"
        );
    }
    let shed = n(&report["overload"]["shed"]);
    assert_eq!(
        f["refusal_p99_ms"].is_number(),
        shed > 0,
        "a refusal latency exactly when something was shed: {f:#}"
    );
    for goal in ["refusals_fast", "admitted_p99_kept"] {
        assert!(f[goal].is_boolean(), "{goal}");
    }
}

#[tokio::test]
async fn bad_overload_flags_exit_2_and_name_the_value() {
    for (args, expected) in [
        (&["overload", "--factor", "0.8"][..], "`--factor`"),
        (&["overload", "-z", "10m"][..], "`-z` must be at most"),
        (&["overload", "--saturation", "0"][..], "`--saturation`"),
    ] {
        let out = loadtest(args).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
