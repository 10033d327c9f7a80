//! The Overview's table of the plan's targets measured from traffic (`GET /admin/v1/kpis`,
//! the last 30 days): per metric and basis — service items with the province's materials list
//! (`plan`) apart from those with a proposed one (`assumed`) — the figure, its fraction, and
//! the targets for 2022, 2023 and 2025, met or not.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;
use wire::admin_api::{Evaluation, EvaluationRow};

use super::common::placeholder;
use super::theme::Theme;

/// The plan's years, one column each.
const YEARS: [i32; 3] = [2022, 2023, 2025];

pub fn render(kpis: &Result<Evaluation, String>, theme: Theme, frame: &mut Frame, area: Rect) {
    let evaluation = match kpis {
        Ok(evaluation) => evaluation,
        Err(error) => {
            let text = format!("targets unavailable: {error}");
            placeholder(
                &text,
                theme,
                Block::bordered().title(" targets "),
                frame,
                area,
            );
            return;
        }
    };
    let cell = |row: &EvaluationRow, year: i32| {
        let text = row.target_text(year);
        let style = if text.ends_with(" not met") {
            theme.bad()
        } else if text.ends_with(" met") {
            theme.good()
        } else {
            theme.dim()
        };
        Cell::from(Span::styled(text, style))
    };
    let rows = evaluation.rows.iter().map(|row| {
        let mut cells = vec![
            Cell::from(row.metric.as_str()),
            Cell::from(row.basis.as_str()),
            Cell::from(Line::from(row.value_text()).right_aligned()),
            Cell::from(
                Line::from(format!("{}/{}", row.numerator, row.denominator)).right_aligned(),
            ),
        ];
        cells.extend(YEARS.iter().map(|&year| cell(row, year)));
        Row::new(cells)
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(33),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new([
            "metric", "basis", "   value", "   of", "2022", "2023", "2025",
        ])
        .style(theme.heading()),
    )
    .block(Block::bordered().title(format!(
        " targets measured from traffic, {} to {} (China time) ",
        evaluation.from, evaluation.to
    )));
    frame.render_widget(table, area);
}
