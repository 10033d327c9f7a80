//! What every tab shares: the tab bar, the disconnected banner, the status line, the overlays
//! (help, prompt, confirm) and small formatting helpers.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::theme::Theme;
use crate::keys::{help_sections, Binding, BINDINGS};
use crate::state::{Confirm, Connection, Prompt, State, StatusKind, Tab};

/// `1 Overview  2 Departments …`, the current one reversed; the filter and mode at the right.
pub fn tab_bar(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, tab.title());
        let style = if *tab == state.tab {
            theme.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(label, style));
    }
    frame.render_widget(Line::from(spans), area);
    let mut right = Vec::new();
    if state.read_only {
        right.push(Span::styled(" read-only ", theme.warn()));
    }
    if let Some(snapshot) = &state.snapshot {
        right.push(Span::styled(format!(" {} ", snapshot.node), theme.dim()));
    }
    let right = Line::from(right).right_aligned();
    // Only where it does not cover the tabs.
    let tabs_width: u16 = Tab::ALL.iter().map(|t| t.title().len() as u16 + 4).sum();
    if area.width > tabs_width + right.width() as u16 {
        frame.render_widget(right, area);
    }
}

/// The red line saying the gateway is unreachable, or that the console is still connecting.
pub fn banner(state: &State, theme: Theme) -> Option<Paragraph<'static>> {
    let text = match &state.connection {
        Connection::Connected => return None,
        Connection::Connecting if state.snapshot.is_some() => return None,
        Connection::Connecting => {
            return Some(
                Paragraph::new(format!(" connecting to {} …", state.url)).style(theme.warn()),
            )
        }
        Connection::Disconnected { since, error } => format!(
            " disconnected from {} — retrying (since {}) — {error}",
            state.url,
            since.format("%H:%M:%S")
        ),
    };
    Some(Paragraph::new(text).style(theme.banner()))
}

/// The last action's result or a key's refusal; otherwise the main keys.
pub fn status_line(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let line = match &state.status {
        Some(status) => {
            let style = match status.kind {
                StatusKind::Info => Style::new(),
                StatusKind::Error => theme.bad(),
            };
            Line::from(Span::styled(format!(" {}", status.text), style))
        }
        None => Line::from(Span::styled(
            " ? help · / filter · Enter detail · q quit",
            theme.dim(),
        )),
    };
    frame.render_widget(line, area);
    // Who is signed in and their roles; only the name where the roles do not fit.
    let (full, short) = match &state.operator {
        Some(who) => {
            let roles: Vec<&str> = who.roles.iter().map(|role| role.as_str()).collect();
            (
                format!("{} ({}) ", who.name, roles.join(", ")),
                format!("{} ", who.name),
            )
        }
        None => ("signing in… ".to_string(), "signing in… ".to_string()),
    };
    let fits = |text: &str| area.width as usize > 60 + text.chars().count();
    if let Some(who) = [full, short].into_iter().find(|text| fits(text)) {
        frame.render_widget(
            Line::from(Span::styled(who, theme.dim())).right_aligned(),
            area,
        );
    }
}

/// Every key of [`crate::keys::BINDINGS`], by where it applies, in as many columns as needed.
pub fn help(state: &State, theme: Theme, frame: &mut Frame, area: Rect) {
    let label = |binding: &Binding| {
        binding
            .inputs
            .iter()
            .map(|input| input.label())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let key_width = BINDINGS
        .iter()
        .map(|binding| label(binding).chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = Vec::new();
    // Where each section starts, so that columns break between sections.
    let mut starts = Vec::new();
    for (heading, bindings) in help_sections() {
        starts.push(lines.len());
        lines.push(Line::from(Span::styled(heading, theme.heading())));
        // What the operator may not take is not offered.
        for binding in bindings.into_iter().filter(|b| b.action.allowed(state)) {
            let mut spans = vec![
                Span::raw(format!(" {:<key_width$} ", label(binding))),
                Span::raw(binding.help),
            ];
            if state.read_only && binding.action.mutates() {
                spans.push(Span::styled(" (read-only: off)", theme.dim()));
            }
            lines.push(Line::from(spans));
        }
    }
    let area = inset(area, 2, 1);
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(" keys — ? or Esc closes ");
    let inner = block.inner(area);
    let height = usize::from(inner.height.max(1));
    // One column when it fits; else columns as wide as their longest line, when they fit side
    // by side; else one column that j/k scroll.
    let columns = columns_of(&lines, &starts, height);
    let widths: Vec<u16> = columns
        .iter()
        .map(|column| column.iter().map(Line::width).max().unwrap_or(0) + 2)
        .map(|width| u16::try_from(width).unwrap_or(u16::MAX))
        .collect();
    if columns.len() > 1 && widths.iter().sum::<u16>() > inner.width {
        let scroll = state.help_scroll.min(lines.len().saturating_sub(height));
        let block = block.title_bottom(format!(
            " j/k scroll · {}/{} ",
            scroll + height.min(lines.len()),
            lines.len()
        ));
        let shown = lines[scroll..].to_vec();
        frame.render_widget(Paragraph::new(shown).block(block), area);
        return;
    }
    frame.render_widget(block, area);
    let areas = Layout::horizontal(widths.into_iter().map(Constraint::Length)).split(inner);
    for (column, area) in columns.into_iter().zip(areas.iter()) {
        frame.render_widget(Paragraph::new(column.to_vec()), *area);
    }
}

/// `lines` cut into columns of at most `height`, each break at a section start where one fits.
fn columns_of<'a, 'b>(
    lines: &'a [Line<'b>],
    starts: &[usize],
    height: usize,
) -> Vec<&'a [Line<'b>]> {
    let mut columns = Vec::new();
    let mut begin = 0;
    while begin < lines.len() {
        let limit = (begin + height).min(lines.len());
        let end = match starts
            .iter()
            .rev()
            .find(|&&start| start > begin && start <= limit)
        {
            Some(&start) if limit < lines.len() => start,
            _ => limit,
        };
        columns.push(&lines[begin..end]);
        begin = end;
    }
    columns
}

/// A one-line input box near the bottom, titled with what it asks for.
pub fn prompt(prompt: &Prompt, theme: Theme, frame: &mut Frame, area: Rect) {
    let area = bottom_box(area, 3);
    frame.render_widget(Clear, area);
    let line = Line::from(vec![
        Span::raw(prompt.input.clone()),
        Span::styled(" ", theme.selected()),
    ]);
    let block = Block::bordered()
        .title(format!(" {} ", prompt.label))
        .title_bottom(" Enter submit · Esc cancel ");
    frame.render_widget(Paragraph::new(line).block(block), area);
}

/// The confirm step: the question, and nothing is sent before `y`.
pub fn confirm(confirm: &Confirm, theme: Theme, frame: &mut Frame, area: Rect) {
    let area = bottom_box(area, 3);
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(" confirm ")
        .border_style(theme.warn());
    let line = Line::from(Span::styled(
        confirm.question.clone(),
        Style::new().add_modifier(Modifier::BOLD),
    ));
    frame.render_widget(
        Paragraph::new(line).wrap(Wrap { trim: true }).block(block),
        area,
    );
}

/// `area` less `dx` columns and `dy` rows on every side (when there is room).
pub fn inset(area: Rect, dx: u16, dy: u16) -> Rect {
    let dx = if area.width > 4 * dx { dx } else { 0 };
    let dy = if area.height > 4 * dy { dy } else { 0 };
    Rect::new(
        area.x + dx,
        area.y + dy,
        area.width - 2 * dx,
        area.height - 2 * dy,
    )
}

/// A box `height` rows tall at the bottom of `area`, at most 80 columns wide, centred.
fn bottom_box(area: Rect, height: u16) -> Rect {
    let width = area.width.min(80);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + area.height - height,
        width,
        height,
    )
}

/// A block's title with the list's filter, when one is set.
pub fn titled(title: String, filter: &str) -> String {
    if filter.is_empty() {
        format!(" {title} ")
    } else {
        format!(" {title} · filter: {filter} ")
    }
}

/// A centred note where a list has nothing to show.
pub fn placeholder(text: &str, theme: Theme, block: Block<'_>, frame: &mut Frame, area: Rect) {
    frame.render_widget(
        Paragraph::new(Span::styled(text.to_string(), theme.dim())).block(block),
        area,
    );
}

/// The placeholder of a tab drawn from the snapshot, before the first one has come.
pub fn before_first_snapshot(theme: Theme, block: Block<'_>, frame: &mut Frame, area: Rect) {
    placeholder(
        "waiting for the first snapshot …",
        theme,
        block,
        frame,
        area,
    );
}

/// `1.5`, `12`, `—` for none.
pub fn number(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(value) => format!("{value:.decimals$}"),
        None => "—".to_string(),
    }
}

/// A share 0–1 as `87.5%`.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// `3d 04:05:06` from seconds.
pub fn uptime(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let clock = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if days > 0 {
        format!("{days}d {clock}")
    } else {
        clock
    }
}

/// Renders a tab's list as a table with row `selected` highlighted, the way every list tab does.
pub fn selectable(table: Table<'_>, selected: usize, theme: Theme, frame: &mut Frame, area: Rect) {
    let table = table
        .row_highlight_style(theme.selected())
        .highlight_symbol("> ");
    let mut table_state = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut table_state);
}

/// One column of a [`table`]: its heading, its width, and whether its figures align right.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub heading: &'static str,
    pub width: Constraint,
    pub right: bool,
}

impl Column {
    /// A column of words, aligned left.
    pub const fn words(heading: &'static str, width: Constraint) -> Column {
        Column {
            heading,
            width,
            right: false,
        }
    }

    /// A column of figures, aligned right.
    pub const fn figures(heading: &'static str, width: Constraint) -> Column {
        Column {
            heading,
            width,
            right: true,
        }
    }
}

/// A table of `rows` under the headings of `columns`, at their widths.
pub fn table<'a>(
    rows: impl IntoIterator<Item = Row<'a>>,
    columns: &[Column],
    theme: Theme,
) -> Table<'a> {
    let header = Row::new(columns.iter().map(|c| {
        let heading = Line::from(c.heading);
        Cell::from(if c.right {
            heading.right_aligned()
        } else {
            heading
        })
    }))
    .style(theme.heading());
    Table::new(rows, columns.iter().map(|c| c.width)).header(header)
}
