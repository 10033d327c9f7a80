//! `loadtest memory` as a user runs it: it starts the `issuer` and the `gateway` binaries built
//! beside it, fills the record cache to a tiny count through the issuer, and reports the
//! gateway's memory per entry as JSON. Nothing is asserted about the figure or the speed (a
//! debug build on a shared machine): only that the fill reached the count, every verification
//! the gateway did not shed passed, and the report has what the module documents.

mod common;

use common::{beside, loadtest, succeeded_with_report};

#[tokio::test]
async fn memory_fills_the_record_cache_through_the_issuer_and_reports_bytes_per_entry() {
    // Both are started by the command, from beside it.
    beside("gateway");
    beside("issuer");
    let out = loadtest(&[
        "memory",
        "--entries",
        "2000",
        "--steps",
        "4",
        "-c",
        "8",
        "--json",
        "--no-tui",
    ])
    .await;
    let report = succeeded_with_report(&out);
    assert_eq!(report["schema"], "mianzheng-loadtest/1");
    assert_eq!(report["command"], "memory");
    assert_eq!(report["scenario"], "park-entry-senior");
    assert_eq!(report["audit"], false);
    assert_eq!(report["cache_capacity"], 2000);
    let entries = report["entries"].as_u64().expect("entries");
    assert!(entries >= 2000, "{report:#}");
    assert_eq!(report["verifications_failed"], 0, "{report:#}");
    // park-entry-senior caches one record per verification: one miss for each that was not
    // shed (a debug build sheds under load).
    assert_eq!(report["records_per_verification"], 1);
    let sent = report["verifications"].as_u64().expect("verifications");
    let shed = report["verifications_shed"].as_u64().expect("shed");
    assert_eq!(sent - shed, entries, "{report:#}");
    let samples = report["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 5, "the start and four steps");
    let counts: Vec<u64> = samples
        .iter()
        .map(|s| s["entries"].as_u64().expect("entries"))
        .collect();
    assert_eq!(counts, [0, 500, 1000, 1500, 2000]);
    assert!(samples
        .iter()
        .all(|s| s["rss_bytes"].as_u64().is_some_and(|b| b > 0)));
    assert!(report["bytes_per_entry"].is_number(), "{report:#}");
    assert!(report["goal_met"].is_boolean());
    assert_eq!(report["goal_bytes_per_entry"], 300.0);
}
