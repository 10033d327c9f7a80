//! The Overview's table of the plan's targets measured from traffic: drawn once the gateway
//! answered `GET /admin/v1/kpis`, with each year's target met or not, and the reason when the
//! gateway could not answer; the fake API is asked for it.
#![allow(clippy::unwrap_used)]

mod support;

use console::event::{Data, Event};
use console::state::Tab;
use console::update::update;
use support::*;

fn overview_with(kpis: Result<wire::admin_api::Evaluation, String>) -> String {
    let mut state = full_state();
    state.tab = Tab::Overview;
    update(&mut state, Event::Data(Data::Kpis(kpis)));
    screen(&state, 140, 40)
}

#[test]
fn the_overview_shows_the_targets_met_and_not_met() {
    let text = overview_with(Ok(kpis()));
    let lines: Vec<&str> = text.lines().collect();
    let title = lines
        .iter()
        .find(|l| l.contains("targets measured from traffic, 2026-11-20 to 2026-11-26"))
        .unwrap_or_else(|| panic!("the table's title:\n{text}"));
    assert!(title.contains("China time"), "{title}");
    let row = |metric: &str, basis: &str| {
        lines
            .iter()
            .find(|l| l.contains(metric) && l.contains(&format!(" {basis} ")))
            .unwrap_or_else(|| panic!("{metric} {basis}:\n{text}"))
            .to_string()
    };
    let plan = row("proof_material_share_rate", "plan");
    for part in ["41.7 %", "5/12", "40.0 % met", "60.0 % not met"] {
        assert!(plan.contains(part), "`{part}` in {plan}");
    }
    let assumed = row("proof_material_share_rate", "assumed");
    assert!(
        assumed.contains("0/0") && assumed.contains('—'),
        "{assumed}"
    );
    let in_use = row("top_certificates_in_use", "all");
    assert!(
        in_use.contains("3/50") && in_use.contains("all (50) not met"),
        "{in_use}"
    );
    // The tables above are still there.
    assert!(
        text.contains("verdicts") && text.contains("latency and load"),
        "{text}"
    );
}

#[test]
fn the_overview_says_why_the_targets_are_missing() {
    let text = overview_with(Err("the store is unavailable".into()));
    assert!(
        text.contains("targets unavailable: the store is unavailable"),
        "{text}"
    );
}

#[tokio::test]
async fn the_client_is_asked_for_the_last_30_days() {
    let api = FakeApi::default();
    let kpis = console::client::AdminApi::kpis(&api).await.unwrap();
    assert_eq!(kpis.rows.len(), 3);
    assert_eq!(*api.calls.lock().unwrap(), ["kpis"]);
}
