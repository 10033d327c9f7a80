//! Tab 6, Commitments (告知承诺): the departments' post-check queues — a line per department
//! (pending, in check, overdue, confirmed, found false), then the queue, pending or in check,
//! by department and deadline, overdue ones marked `!` in red. Enter opens the selected one's
//! history; `c` claims the next of its department, `v` confirms, `f` marks false.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use wire::admin_api::{CommitmentCounts, CommitmentDetail, CommitmentView};

use super::common::{placeholder, selectable, titled};
use super::theme::Theme;
use crate::state::{commitment_word, Loadable, State, Tab};

/// Most department lines shown above the queue.
const DEPARTMENT_LINES: usize = 6;

pub fn render(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let departments = state
        .commitment_counts
        .as_ref()
        .map_or(0, |c| c.by_department.len().min(DEPARTMENT_LINES));
    let [summary_area, area] = Layout::vertical([
        Constraint::Length(if departments == 0 {
            0
        } else {
            departments as u16 + 3
        }),
        Constraint::Min(0),
    ])
    .areas(area);
    if let Some(counts) = state.commitment_counts.as_ref().filter(|_| departments > 0) {
        summary(counts, theme, frame, summary_area);
    }
    let (list_area, detail_area) = match &state.commitment {
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
    if let (Some(pane), Some(area)) = (&state.commitment, detail_area) {
        let block = Block::bordered().title(format!(" {} — Esc closes ", pane.id));
        match &pane.data {
            Loadable::Loading => placeholder("loading …", theme, block, frame, area),
            Loadable::Failed(error) => frame.render_widget(
                Paragraph::new(Span::styled(error.clone(), theme.bad())).block(block),
                area,
            ),
            Loadable::Ready(loaded) => frame.render_widget(
                Paragraph::new(detail_lines(loaded, theme))
                    .wrap(Wrap { trim: false })
                    .block(block),
                area,
            ),
        }
    }
}

/// A line per department: its queue and what its checks found.
fn summary(counts: &CommitmentCounts, theme: Theme, frame: &mut Frame, area: Rect) {
    let header = Row::new([
        "department",
        "pending",
        "in check",
        "overdue",
        "confirmed",
        "false",
    ])
    .style(theme.heading());
    let rows = counts.by_department.iter().map(|d| {
        let overdue = Cell::from(d.overdue.to_string());
        Row::new([
            Cell::from(d.department.clone()),
            Cell::from(d.pending.to_string()),
            Cell::from(d.in_check.to_string()),
            if d.overdue > 0 {
                overdue.style(theme.bad())
            } else {
                overdue
            },
            Cell::from(d.confirmed.to_string()),
            Cell::from(d.found_false.to_string()),
        ])
    });
    let widths = [
        Constraint::Fill(3),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(7),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(" Post-check by department "));
    frame.render_widget(table, area);
}

fn queue(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let list = state.list(Tab::Commitments);
    let rows = state.visible_commitments();
    let block = Block::bordered().title(titled(title(state), &list.filter));
    let Some(all) = &state.commitments else {
        return placeholder(
            "loading the commitments' queue …",
            theme,
            block,
            frame,
            area,
        );
    };
    if rows.is_empty() {
        let text = if all.is_empty() {
            "no commitment waits for its check"
        } else {
            "no commitment matches the filter"
        };
        return placeholder(text, theme, block, frame, area);
    }
    let rows = rows.iter().map(|c| row(c, theme));
    let header = Row::new([
        "",
        "deadline UTC",
        "id",
        "department",
        "item",
        "material",
        "status",
        "assignee",
    ])
    .style(theme.heading());
    let widths = [
        Constraint::Length(1),
        Constraint::Length(12),
        // Ids are 31 characters (`cm-` + time + random): whole where there is room.
        if area.width >= 120 {
            Constraint::Length(31)
        } else {
            Constraint::Fill(2)
        },
        Constraint::Fill(2),
        Constraint::Length(4),
        Constraint::Fill(2),
        Constraint::Length(9),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths).header(header).block(block);
    selectable(table, list.selected, theme, frame, area);
}

/// `Commitments · pending 3 · in check 1 · overdue 2 · false 1`, from the counts.
fn title(state: &State) -> String {
    let Some(counts) = &state.commitment_counts else {
        return "Commitments".to_string();
    };
    let by = &counts.by_department;
    let sum = |f: fn(&wire::admin_api::DepartmentCommitments) -> u64| by.iter().map(f).sum::<u64>();
    format!(
        "Commitments · pending {} · in check {} · overdue {} · false {}",
        sum(|d| d.pending),
        sum(|d| d.in_check),
        sum(|d| d.overdue),
        sum(|d| d.found_false)
    )
}

fn row(c: &CommitmentView, theme: Theme) -> Row<'static> {
    let style = if c.overdue {
        theme.bad()
    } else if c.status.is_final() {
        theme.dim()
    } else {
        Style::new()
    };
    Row::new([
        Cell::from(if c.overdue { "!" } else { " " }),
        Cell::from(c.deadline.format("%m-%d %H:%M").to_string()),
        Cell::from(c.id.clone()),
        Cell::from(c.department.clone()),
        Cell::from(c.item.to_string()),
        Cell::from(c.material.clone()),
        Cell::from(commitment_word(c.status)),
        Cell::from(c.assignee.clone().unwrap_or_default()),
    ])
    .style(style)
}

fn detail_lines(loaded: &CommitmentDetail, theme: Theme) -> Vec<Line<'static>> {
    let c = &loaded.commitment;
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<13}"), theme.dim()),
            Span::raw(value),
        ])
    };
    let deadline = format!(
        "{} UTC{}",
        c.deadline.format("%Y-%m-%d %H:%M"),
        if c.overdue { "  OVERDUE" } else { "" }
    );
    let mut lines = vec![
        field("status", commitment_word(c.status).to_string()),
        Line::from(vec![
            Span::styled(format!("{:<13}", "deadline"), theme.dim()),
            Span::styled(deadline, if c.overdue { theme.bad() } else { Style::new() }),
        ]),
        field("department", c.department.clone()),
        field("item", c.item.to_string()),
        field("material", c.material.clone()),
        field("applicant", c.subject.clone()),
        field("window", c.venue.clone()),
        field("answer", c.materials_request_id.clone()),
        field("text version", c.text_version.clone()),
        field(
            "filed",
            c.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
        field(
            "assignee",
            c.assignee.clone().unwrap_or_else(|| "—".to_string()),
        ),
        Line::default(),
        Line::from(Span::styled("history", theme.heading())),
    ];
    for event in &loaded.history {
        let change = match event.from_status {
            Some(from) => format!(
                "{} → {}",
                commitment_word(from),
                commitment_word(event.to_status)
            ),
            None => commitment_word(event.to_status).to_string(),
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
