//! Tab 1, Overview: the verify path at a glance — throughput sparkline, verdict split per second
//! and in total since start, latency percentiles, cache hit rate, in-flight requests, audit backlog,
//! the service items' materials served (免证办), and the holder platform: codes issued (on
//! phones, printed, asked for by presenters) and the agents' authorizations and family grants.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Sparkline, Table};
use ratatui::Frame;
use wire::admin_api::{HolderCounts, MaterialCounts, Snapshot};
use wire::code::Relation;

use super::common::{number, percent, placeholder, uptime};
use super::theme::Theme;
use crate::state::State;

pub fn render(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let Some(snapshot) = &state.snapshot else {
        let text = format!("waiting for the first snapshot from {} …", state.url);
        placeholder(
            &text,
            theme,
            Block::bordered().title(" Overview "),
            frame,
            area,
        );
        return;
    };
    let [header, spark, tables] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(8),
        Constraint::Min(0),
    ])
    .areas(area);
    let line = Line::from(vec![
        Span::styled(format!(" {} ", snapshot.node), theme.heading()),
        Span::raw(format!(
            "up {} · snapshot #{} at {} UTC",
            uptime(snapshot.uptime_secs),
            snapshot.generation,
            snapshot.at.format("%H:%M:%S")
        )),
    ]);
    frame.render_widget(line, header);
    sparkline(snapshot, frame, spark);
    // The plan's targets below the tables, once the gateway answered for them.
    let tables = match &state.kpis {
        Some(kpis) => {
            let [tables, targets] =
                Layout::vertical([Constraint::Length(10), Constraint::Min(0)]).areas(tables);
            super::kpis::render(kpis, theme, frame, targets);
            tables
        }
        None => tables,
    };
    let [verdicts, load, holders] = Layout::horizontal([
        Constraint::Length(33),
        Constraint::Fill(1),
        Constraint::Length(27),
    ])
    .areas(tables);
    verdict_table(snapshot, theme, frame, verdicts);
    load_table(snapshot, frame, load);
    holder_table(&snapshot.holders, frame, holders);
}

/// One relation's delegations: (active, revoked).
fn delegations(counts: &HolderCounts, relation: Relation) -> (String, String) {
    counts
        .delegations
        .iter()
        .find(|d| d.relation == relation)
        .map_or(("0".to_owned(), "0".to_owned()), |d| {
            (d.active.to_string(), d.revoked.to_string())
        })
}

fn holder_table(counts: &HolderCounts, frame: &mut Frame, area: Rect) {
    let (minute, hour) = (&counts.issued_last_minute, &counts.issued_last_hour);
    let (agents, agents_revoked) = delegations(counts, Relation::Agent);
    let (family, family_revoked) = delegations(counts, Relation::Family);
    let rows = [
        ("codes /min", (minute.phone + minute.paper).to_string()),
        ("codes last h", (hour.phone + hour.paper).to_string()),
        ("printed last h", hour.paper.to_string()),
        ("for others h", hour.presented.to_string()),
        ("agents", agents),
        ("  revoked", agents_revoked),
        ("family grants", family),
        ("  revoked", family_revoked),
    ]
    .into_iter()
    .map(|(name, value)| {
        Row::new([
            Cell::from(name),
            Cell::from(Line::from(value).right_aligned()),
        ])
    });
    let table = Table::new(rows, [Constraint::Length(14), Constraint::Fill(1)])
        .block(Block::bordered().title(" holder platform "));
    frame.render_widget(table, area);
}

fn sparkline(snapshot: &Snapshot, frame: &mut Frame, area: Rect) {
    let history = &snapshot.traffic.rate_history;
    let now = history.last().copied().unwrap_or(0.0);
    let peak = history.iter().copied().fold(0.0, f64::max);
    let block = Block::bordered().title(format!(
        " verifications/s — now {now:.1} · peak {peak:.1} · last {} s ",
        history.len()
    ));
    // The newest values that fit, scaled by ten so that rates below one still show.
    let width = usize::from(block.inner(area).width);
    let data: Vec<u64> = history[history.len().saturating_sub(width)..]
        .iter()
        .map(|rate| (rate.max(0.0) * 10.0).round() as u64)
        .collect();
    frame.render_widget(Sparkline::default().block(block).data(&data), area);
}

fn verdict_table(snapshot: &Snapshot, theme: Theme, frame: &mut Frame, area: Rect) {
    let (per_sec, totals) = (&snapshot.traffic.per_sec, &snapshot.traffic.totals);
    let rows = [
        ("pass", per_sec.pass, totals.pass, theme.good()),
        ("fail", per_sec.fail, totals.fail, theme.bad()),
        (
            "unavailable",
            per_sec.unavailable,
            totals.unavailable,
            theme.warn(),
        ),
        (
            "not offered",
            per_sec.not_offered,
            totals.not_offered,
            theme.dim(),
        ),
        ("refused", per_sec.refused, totals.refused, theme.dim()),
    ]
    .into_iter()
    .map(|(name, rate, total, style)| {
        Row::new([
            Cell::from(Span::styled(name, style)),
            Cell::from(Line::from(format!("{rate:.1}")).right_aligned()),
            Cell::from(Line::from(total.to_string()).right_aligned()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["verdict", "   per s", "   total"]).style(theme.heading()))
    .block(Block::bordered().title(" verdicts "));
    frame.render_widget(table, area);
}

/// `95/115 pulled (82.6%)`: the materials provided by data sharing of all those answered
/// (免证办).
fn materials_pulled(m: &MaterialCounts) -> String {
    let all = m.provided + m.commitment_allowed + m.must_present + m.unavailable;
    if all == 0 {
        return number(None, 0);
    }
    format!(
        "{}/{all} pulled ({})",
        m.provided,
        percent(m.provided as f64 / all as f64)
    )
}

fn load_table(snapshot: &Snapshot, frame: &mut Frame, area: Rect) {
    let traffic = &snapshot.traffic;
    let rows = [
        ("latency p50", format!("{:.1} ms", traffic.latency.p50_ms)),
        ("latency p90", format!("{:.1} ms", traffic.latency.p90_ms)),
        ("latency p99", format!("{:.1} ms", traffic.latency.p99_ms)),
        (
            "cache hit rate",
            traffic
                .cache_hit_rate
                .map_or_else(|| number(None, 0), percent),
        ),
        ("in flight", traffic.in_flight.to_string()),
        ("audit backlog", traffic.audit_backlog.to_string()),
        ("items served", traffic.materials.requests.to_string()),
        ("materials", materials_pulled(&traffic.materials)),
    ]
    .into_iter()
    .map(|(name, value)| {
        Row::new([
            Cell::from(name),
            Cell::from(Line::from(value).right_aligned()),
        ])
    });
    let table = Table::new(rows, [Constraint::Length(14), Constraint::Fill(1)])
        .block(Block::bordered().title(" latency and load "));
    frame.render_widget(table, area);
}
