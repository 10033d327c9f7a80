//! `render(&State, &mut Frame)`: draws the whole screen from the state and nothing else (no
//! I/O, no clock), so whole screens are tested as `TestBackend` snapshots.
//!
//! - [`common`] — the tab bar, the disconnected banner, the status line, the help, prompt and
//!   confirm overlays, and small helpers the tabs share.
//! - [`theme`] — every style, with and without colour (`NO_COLOR`).
//! - one file per tab: [`overview`], [`departments`], [`objections`], [`rollout`], [`audit`],
//!   [`commitments`];
//!   [`kpis`]: the Overview's table of the plan's targets measured from traffic.

pub mod audit;
pub mod commitments;
pub mod common;
pub mod departments;
pub mod kpis;
pub mod objections;
pub mod overview;
pub mod rollout;
pub mod theme;

use ratatui::layout::{Constraint, Layout};
use ratatui::Frame;

use crate::state::{Overlay, State, Tab};
use theme::Theme;

/// Draws the screen: tab bar, banner (when disconnected), the tab, the status line, overlays.
pub fn render(state: &State, frame: &mut Frame) {
    let theme = Theme::new(state.color);
    let banner = common::banner(state, theme);
    let [bar, banner_area, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(banner.is_some())),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    common::tab_bar(state, theme, frame, bar);
    if let Some(banner) = banner {
        frame.render_widget(banner, banner_area);
    }
    match state.tab {
        Tab::Overview => overview::render(state, theme, frame, body),
        Tab::Departments => departments::render(state, theme, frame, body),
        Tab::Objections => objections::render(state, theme, frame, body),
        Tab::Rollout => rollout::render(state, theme, frame, body),
        Tab::Audit => audit::render(state, theme, frame, body),
        Tab::Commitments => commitments::render(state, theme, frame, body),
    }
    common::status_line(state, theme, frame, status);
    match &state.overlay {
        None => {}
        Some(Overlay::Help) => common::help(state, theme, frame, body),
        Some(Overlay::Prompt(prompt)) => common::prompt(prompt, theme, frame, body),
        Some(Overlay::Confirm(confirm)) => common::confirm(confirm, theme, frame, body),
    }
}
