//! Tab 4, Rollout: certificate types × cities, each cell coloured by stage (planned, pilot,
//! live) with its substitution rate; below, the plan's KPIs against their targets.

use std::collections::HashMap;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;
use wire::admin_api::{Kpi, RolloutCell, RolloutView, Stage};

use super::common::{
    before_first_snapshot, number, percent, placeholder, selectable, table, titled, Column,
};
use super::theme::Theme;
use crate::state::{State, Tab};

/// Columns per city: `L 87%`.
const CELL_WIDTH: u16 = 6;

pub fn render(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let list = state.list(Tab::Rollout);
    let title = titled(
        "Rollout · L live · P pilot · · planned · % substitution".to_string(),
        &list.filter,
    );
    let block = Block::bordered().title(title);
    let Some(snapshot) = &state.snapshot else {
        return before_first_snapshot(theme, block, frame, area);
    };
    let rollout = &snapshot.rollout;
    if rollout.certificates.is_empty() {
        return placeholder("no rollout plan", theme, block, frame, area);
    }
    let kpi_height = if rollout.kpis.is_empty() {
        0
    } else {
        rollout.kpis.len() as u16 + 3
    };
    let [matrix_area, kpi_area] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(kpi_height)]).areas(area);
    matrix(state, rollout, theme, block, frame, matrix_area);
    if kpi_height > 0 {
        kpis(&rollout.kpis, theme, frame, kpi_area);
    }
}

fn matrix(
    state: &State,
    rollout: &RolloutView,
    theme: Theme,
    block: Block<'_>,
    frame: &mut Frame,
    area: Rect,
) {
    let cells: HashMap<(&str, u32), &RolloutCell> = rollout
        .cells
        .iter()
        .map(|cell| ((cell.certificate.as_str(), cell.city), cell))
        .collect();
    let mut header = vec![Cell::from("certificate")];
    header.extend(
        rollout
            .cities
            .iter()
            .map(|city| Cell::from(short(&city.name_en))),
    );
    let rows =
        state.visible_certificates().into_iter().map(|certificate| {
            let mut row = vec![Cell::from(certificate.to_string())];
            row.extend(rollout.cities.iter().map(
                |city| match cells.get(&(certificate, city.code)) {
                    None => Cell::from(""),
                    Some(cell) => stage_cell(cell, theme),
                },
            ));
            Row::new(row)
        });
    let widest = rollout
        .certificates
        .iter()
        .map(|id| id.chars().count())
        .max()
        .unwrap_or(0);
    let mut widths = vec![Constraint::Length(
        u16::try_from(widest.max(11)).unwrap_or(u16::MAX),
    )];
    widths.extend(
        rollout
            .cities
            .iter()
            .map(|_| Constraint::Length(CELL_WIDTH)),
    );
    let table = Table::new(rows, widths)
        .flex(Flex::Start)
        .header(Row::new(header).style(theme.heading()))
        .block(block);
    selectable(table, state.list(Tab::Rollout).selected, theme, frame, area);
}

/// A city's English name cut to a column.
fn short(name: &str) -> String {
    name.chars().take(usize::from(CELL_WIDTH)).collect()
}

fn stage_cell(cell: &RolloutCell, theme: Theme) -> Cell<'static> {
    let (letter, style) = match cell.stage {
        Stage::Planned => ("·", theme.dim()),
        Stage::Pilot => ("P", theme.warn()),
        Stage::Live => ("L", theme.good()),
    };
    let text = match cell.substitution_rate {
        Some(rate) => format!("{letter} {:.0}%", rate * 100.0),
        None => letter.to_string(),
    };
    Cell::from(Span::styled(text, style))
}

fn kpis(kpis: &[Kpi], theme: Theme, frame: &mut Frame, area: Rect) {
    let value = |kpi: &Kpi, value: f64| match kpi.unit.as_str() {
        "share" => percent(value),
        _ => number(Some(value), 0),
    };
    let rows = kpis.iter().map(|kpi| {
        let (actual, verdict) = match kpi.actual {
            None => ("—".to_string(), Span::styled("not measured", theme.dim())),
            Some(actual) if actual >= kpi.target => {
                (value(kpi, actual), Span::styled("met", theme.good()))
            }
            Some(actual) => (value(kpi, actual), Span::styled("below", theme.bad())),
        };
        Row::new([
            Cell::from(kpi.title.clone()),
            Cell::from(kpi.year.to_string()),
            Cell::from(Line::from(value(kpi, kpi.target)).right_aligned()),
            Cell::from(Line::from(actual).right_aligned()),
            Cell::from(verdict),
        ])
    });
    let columns = [
        Column::words("KPI", Constraint::Fill(1)),
        Column::words("year", Constraint::Length(5)),
        Column::figures("target", Constraint::Length(10)),
        Column::figures("actual", Constraint::Length(10)),
        Column::words("", Constraint::Length(12)),
    ];
    let table =
        table(rows, &columns, theme).block(Block::bordered().title(" KPIs: target vs actual "));
    frame.render_widget(table, area);
}
