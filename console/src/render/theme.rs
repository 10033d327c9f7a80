//! Every style the console uses, in one place. With `NO_COLOR` no colour is ever set: meaning
//! is carried by modifiers (bold, reversed, underlined, dim) and by the text itself.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    fn colored(self, color: Color, otherwise: Modifier) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new().add_modifier(otherwise)
        }
    }

    /// Healthy: breaker closed, a pass, a stage that is live.
    pub fn good(self) -> Style {
        self.colored(Color::Green, Modifier::empty())
    }

    /// Trouble: breaker open, overdue, a failure, an error message.
    pub fn bad(self) -> Style {
        self.colored(Color::Red, Modifier::BOLD)
    }

    /// Watch it: half-open, pilot, unavailable.
    pub fn warn(self) -> Style {
        self.colored(Color::Yellow, Modifier::UNDERLINED)
    }

    /// Done or not yet: closed objections, planned cells, hints.
    pub fn dim(self) -> Style {
        self.colored(Color::DarkGray, Modifier::DIM)
    }

    pub fn heading(self) -> Style {
        self.colored(Color::Cyan, Modifier::empty())
            .add_modifier(Modifier::BOLD)
    }

    /// The selected row and the current tab.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// The disconnected banner.
    pub fn banner(self) -> Style {
        let style = Style::new().add_modifier(Modifier::BOLD);
        if self.color {
            style.fg(Color::White).bg(Color::Red)
        } else {
            style.add_modifier(Modifier::REVERSED)
        }
    }
}
