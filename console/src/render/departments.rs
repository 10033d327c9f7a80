//! Tab 2, Departments: each department backend as the gateway sees it — call rate, errors,
//! p99 and the circuit breaker (green closed, red open, yellow half-open), errors first.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row};
use ratatui::Frame;
use wire::admin_api::BreakerState;

use super::common::{
    before_first_snapshot, number, placeholder, selectable, table, titled, Column,
};
use super::theme::Theme;
use crate::state::{breaker_word, State, Tab};

pub fn render(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let list = state.list(Tab::Departments);
    let rows = state.visible_departments();
    let title = format!(
        "Departments · {} backends · by {} (s)",
        rows.len(),
        state.department_sort.label()
    );
    let block = Block::bordered().title(titled(title, &list.filter));
    if state.snapshot.is_none() {
        return before_first_snapshot(theme, block, frame, area);
    }
    if rows.is_empty() {
        return placeholder("no department backend to show", theme, block, frame, area);
    }
    let rows = rows.iter().map(|row| {
        let breaker = match row.state {
            BreakerState::Closed => theme.good(),
            BreakerState::Open => theme.bad(),
            BreakerState::HalfOpen => theme.warn(),
        };
        let errors = if row.errors_per_sec > 0.0 {
            theme.bad()
        } else {
            Default::default()
        };
        Row::new([
            Cell::from(row.backend.as_str()),
            Cell::from(Line::from(format!("{:.1}", row.rate_per_sec)).right_aligned()),
            Cell::from(
                Line::from(Span::styled(format!("{:.1}", row.errors_per_sec), errors))
                    .right_aligned(),
            ),
            Cell::from(Line::from(number(row.p99_ms, 1)).right_aligned()),
            Cell::from(Span::styled(breaker_word(row.state), breaker)),
        ])
    });
    let columns = [
        Column::words("backend", Constraint::Fill(1)),
        Column::figures("rate/s", Constraint::Length(9)),
        Column::figures("errors/s", Constraint::Length(9)),
        Column::figures("p99 ms", Constraint::Length(9)),
        Column::words("breaker", Constraint::Length(10)),
    ];
    let table = table(rows, &columns, theme).block(block);
    selectable(table, list.selected, theme, frame, area);
}
