//! Tab 5, Audit: the newest verifications (holders already masked by the gateway) and, after
//! `/`, one verification looked up by id.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use wire::admin_api::AuditView;

use super::common::{placeholder, selectable};
use super::theme::Theme;
use crate::state::{Loadable, State, Tab};

pub fn render(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let (list_area, lookup_area) = match &state.lookup {
        None => (area, None),
        Some(_) => {
            let [list, lookup] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(9)]).areas(area);
            (list, Some(lookup))
        }
    };
    recent(state, theme, frame, list_area);
    if let (Some(lookup), Some(area)) = (&state.lookup, lookup_area) {
        let block = Block::bordered().title(format!(" verification {} — Esc closes ", lookup.id));
        match &lookup.result {
            Loadable::Loading => placeholder("looking up …", theme, block, frame, area),
            Loadable::Failed(error) => frame.render_widget(
                Paragraph::new(Span::styled(error.clone(), theme.bad())).block(block),
                area,
            ),
            Loadable::Ready(found) => {
                let text = found_lines(found, theme);
                frame.render_widget(
                    Paragraph::new(text).wrap(Wrap { trim: false }).block(block),
                    area,
                )
            }
        }
    }
}

fn recent(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let block = Block::bordered().title(" Audit · newest first · / looks up a verification id ");
    let Some(items) = &state.audit else {
        return placeholder("loading the audit log …", theme, block, frame, area);
    };
    if items.is_empty() {
        return placeholder("no verification recorded yet", theme, block, frame, area);
    }
    let rows = items.iter().map(|item| {
        Row::new([
            Cell::from(item.at.format("%H:%M:%S").to_string()),
            Cell::from(item.verification_id.clone()),
            Cell::from(item.venue.clone()),
            Cell::from(item.scenario.clone()),
            Cell::from(Span::styled(
                item.verdict.clone(),
                verdict_style(&item.verdict, theme),
            )),
            Cell::from(
                Line::from(format!("{:.1} ms", item.latency_us as f64 / 1000.0)).right_aligned(),
            ),
            Cell::from(item.subject.clone()),
        ])
    });
    let header = Row::new([
        "at UTC",
        "verification",
        "venue",
        "scenario",
        "verdict",
        "   latency",
        "subject",
    ])
    .style(theme.heading());
    let widths = [
        Constraint::Length(8),
        Constraint::Fill(2),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(11),
        Constraint::Length(10),
        Constraint::Length(8),
    ];
    let table = Table::new(rows, widths).header(header).block(block);
    selectable(table, state.list(Tab::Audit).selected, theme, frame, area);
}

fn verdict_style(verdict: &str, theme: Theme) -> Style {
    match verdict {
        "pass" => theme.good(),
        "fail" => theme.bad(),
        "unavailable" => theme.warn(),
        _ => Style::new(),
    }
}

fn found_lines(found: &AuditView, theme: Theme) -> Vec<Line<'static>> {
    let field = |name: &str, value: Span<'static>| {
        Line::from(vec![
            Span::styled(format!("{name:<13}"), theme.dim()),
            value,
        ])
    };
    let requirements: Vec<String> = found
        .requirements
        .iter()
        .map(|(certificate, verdict)| format!("{certificate} {verdict}"))
        .collect();
    vec![
        field(
            "verdict",
            Span::styled(found.verdict.clone(), verdict_style(&found.verdict, theme)),
        ),
        field(
            "at",
            Span::raw(found.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        ),
        field(
            "venue",
            Span::raw(format!("{} · {}", found.venue, found.scenario)),
        ),
        field("requirements", Span::raw(requirements.join(", "))),
        field(
            "latency",
            Span::raw(format!("{:.1} ms", found.latency_us as f64 / 1000.0)),
        ),
        field("subject", Span::raw(found.subject.clone())),
        field(
            "node · seq",
            Span::raw(format!("{} · {}", found.node, found.seq)),
        ),
    ]
}
