//! Tab 3, Objections: the queue, open ones first by deadline, overdue ones in red; Enter opens
//! the detail pane with the objection's history.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use wire::admin_api::{ObjectionDetail, ObjectionView};

use super::common::{placeholder, selectable, titled};
use super::theme::Theme;
use crate::state::{is_closed, status_word, Loadable, State, Tab};

pub fn render(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let (list_area, detail_area) = match &state.detail {
        None => (area, None),
        Some(_) => {
            let [list, detail] = if area.width >= 110 {
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(area)
            } else {
                Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(area)
            };
            (list, Some(detail))
        }
    };
    queue(state, theme, frame, list_area);
    if let (Some(detail), Some(area)) = (&state.detail, detail_area) {
        let block = Block::bordered().title(format!(" {} — Esc closes ", detail.id));
        match &detail.data {
            Loadable::Loading => placeholder("loading …", theme, block, frame, area),
            Loadable::Failed(error) => frame.render_widget(
                Paragraph::new(Span::styled(error.clone(), theme.bad())).block(block),
                area,
            ),
            Loadable::Ready(loaded) => {
                let text = detail_lines(loaded, theme);
                frame.render_widget(
                    Paragraph::new(text).wrap(Wrap { trim: false }).block(block),
                    area,
                );
            }
        }
    }
}

fn queue(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let list = state.list(Tab::Objections);
    let rows = state.visible_objections();
    let block = Block::bordered().title(titled(counts(state), &list.filter));
    let Some(all) = &state.objections else {
        return placeholder("loading the objection queue …", theme, block, frame, area);
    };
    if rows.is_empty() {
        let text = if all.is_empty() {
            "no objections"
        } else {
            "no objection matches the filter"
        };
        return placeholder(text, theme, block, frame, area);
    }
    let rows = rows.iter().map(|o| row(o, theme));
    let header = Row::new([
        "",
        "deadline UTC",
        "id",
        "department",
        "certificate",
        "status",
        "assignee",
    ])
    .style(theme.heading());
    let widths = [
        Constraint::Length(1),
        Constraint::Length(12),
        // Ids are 32 characters (`obj-` + time + random): whole where there is room, since
        // operators read them out; on a narrow screen the deadline and status matter more.
        if area.width >= 110 {
            Constraint::Length(32)
        } else {
            Constraint::Fill(2)
        },
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Length(9),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths).header(header).block(block);
    selectable(table, list.selected, theme, frame, area);
}

/// `Objections · open 3 · in review 1 · overdue 2`, from the snapshot's counts.
fn counts(state: &State) -> String {
    let Some(snapshot) = &state.snapshot else {
        return "Objections".to_string();
    };
    let by = &snapshot.objections.by_department;
    let sum = |f: fn(&wire::admin_api::DepartmentObjections) -> u64| by.iter().map(f).sum::<u64>();
    format!(
        "Objections · open {} · in review {} · overdue {}",
        sum(|d| d.open),
        sum(|d| d.in_review),
        sum(|d| d.overdue)
    )
}

fn row(o: &ObjectionView, theme: Theme) -> Row<'static> {
    let style = if o.overdue {
        theme.bad()
    } else if is_closed(o.status) {
        theme.dim()
    } else {
        Style::new()
    };
    Row::new([
        Cell::from(if o.overdue { "!" } else { " " }),
        Cell::from(o.deadline.format("%m-%d %H:%M").to_string()),
        Cell::from(o.id.clone()),
        Cell::from(o.department.clone()),
        Cell::from(o.certificate.clone()),
        Cell::from(status_word(o.status)),
        Cell::from(o.assignee.clone().unwrap_or_default()),
    ])
    .style(style)
}

fn detail_lines(loaded: &ObjectionDetail, theme: Theme) -> Vec<Line<'static>> {
    let o = &loaded.objection;
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<13}"), theme.dim()),
            Span::raw(value),
        ])
    };
    let deadline = format!(
        "{} UTC{}",
        o.deadline.format("%Y-%m-%d %H:%M"),
        if o.overdue { "  OVERDUE" } else { "" }
    );
    let mut lines = vec![
        field("status", status_word(o.status).to_string()),
        Line::from(vec![
            Span::styled(format!("{:<13}", "deadline"), theme.dim()),
            Span::styled(deadline, if o.overdue { theme.bad() } else { Style::new() }),
        ]),
        field("department", o.department.clone()),
        field("certificate", o.certificate.clone()),
        field("subject", o.subject.clone()),
        field("filed by", filed_by(o)),
        field(
            "filed",
            o.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
        field(
            "verification",
            o.verification_id.clone().unwrap_or_else(|| "—".to_string()),
        ),
        field(
            "assignee",
            o.assignee.clone().unwrap_or_else(|| "—".to_string()),
        ),
        field("description", o.description.clone()),
        Line::default(),
        Line::from(Span::styled("history", theme.heading())),
    ];
    for event in &loaded.history {
        let change = match event.from_status {
            Some(from) => format!("{} → {}", status_word(from), status_word(event.to_status)),
            None => status_word(event.to_status).to_string(),
        };
        let mut spans = vec![
            Span::styled(event.at.format("%m-%d %H:%M ").to_string(), theme.dim()),
            Span::styled(
                event.actor.clone(),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(" {change}")),
        ];
        if !event.note.is_empty() {
            spans.push(Span::raw(format!(": {}", event.note)));
        }
        lines.push(Line::from(spans));
    }
    lines
}

/// `venue hz-hotel-7 via hall`, or `holder via app` (the filer of a holder is `holder`).
fn filed_by(o: &ObjectionView) -> String {
    if o.filer == o.filed_by {
        format!("{} via {}", o.filed_by, o.channel)
    } else {
        format!("{} {} via {}", o.filed_by, o.filer, o.channel)
    }
}
