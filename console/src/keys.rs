//! The one key table. [`action_for`] looks keys up in [`BINDINGS`] and the help overlay lists
//! [`BINDINGS`], so the help cannot drift from what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

use crate::action::Action;
use crate::state::{Mode, Tab};
use crate::verb::{CommitmentVerb, Verb};

/// One input the table knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Key(KeyCode),
    /// Ctrl plus a letter.
    Ctrl(char),
    ScrollUp,
    ScrollDown,
    /// Any printable character (typing in a prompt).
    AnyChar,
}

impl Input {
    /// The input of a key press; `None` for releases and repeats of kinds the table ignores.
    pub fn from_key(key: KeyEvent) -> Option<Input> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        match key.code {
            KeyCode::Char(c) if key.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Input::Ctrl(c.to_ascii_lowercase()))
            }
            code => Some(Input::Key(code)),
        }
    }

    pub fn from_mouse(mouse: MouseEvent) -> Option<Input> {
        match mouse.kind {
            MouseEventKind::ScrollUp => Some(Input::ScrollUp),
            MouseEventKind::ScrollDown => Some(Input::ScrollDown),
            _ => None,
        }
    }

    /// How the help overlay names the input.
    pub fn label(self) -> String {
        match self {
            Input::Key(KeyCode::Char(' ')) => "Space".into(),
            Input::Key(KeyCode::Char(c)) => c.to_string(),
            Input::Key(KeyCode::Up) => "↑".into(),
            Input::Key(KeyCode::Down) => "↓".into(),
            Input::Key(KeyCode::Left) => "←".into(),
            Input::Key(KeyCode::Right) => "→".into(),
            Input::Key(KeyCode::Tab) => "Tab".into(),
            Input::Key(KeyCode::BackTab) => "Shift-Tab".into(),
            Input::Key(KeyCode::Enter) => "Enter".into(),
            Input::Key(KeyCode::Esc) => "Esc".into(),
            Input::Key(KeyCode::Backspace) => "Backspace".into(),
            Input::Key(KeyCode::Home) => "Home".into(),
            Input::Key(KeyCode::End) => "End".into(),
            Input::Key(KeyCode::PageUp) => "PgUp".into(),
            Input::Key(KeyCode::PageDown) => "PgDn".into(),
            Input::Key(other) => format!("{other:?}"),
            Input::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            Input::ScrollUp => "wheel↑".into(),
            Input::ScrollDown => "wheel↓".into(),
            Input::AnyChar => "text".into(),
        }
    }
}

/// One row of the table: in `mode` (and on `tab`, when given), any of `inputs` means `action`.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub mode: Mode,
    pub tab: Option<Tab>,
    pub inputs: &'static [Input],
    pub action: Action,
    pub help: &'static str,
}

const fn key(code: KeyCode) -> Input {
    Input::Key(code)
}

const fn ch(c: char) -> Input {
    Input::Key(KeyCode::Char(c))
}

const fn normal(inputs: &'static [Input], action: Action, help: &'static str) -> Binding {
    Binding {
        mode: Mode::Normal,
        tab: None,
        inputs,
        action,
        help,
    }
}

const fn on(tab: Tab, inputs: &'static [Input], action: Action, help: &'static str) -> Binding {
    Binding {
        mode: Mode::Normal,
        tab: Some(tab),
        inputs,
        action,
        help,
    }
}

const fn when(mode: Mode, inputs: &'static [Input], action: Action, help: &'static str) -> Binding {
    Binding {
        mode,
        tab: None,
        inputs,
        action,
        help,
    }
}

/// Every key the console knows. Tab-specific rows come before the general ones they override.
pub const BINDINGS: &[Binding] = &[
    normal(&[ch('1')], Action::SwitchTab(Tab::Overview), "Overview tab"),
    normal(
        &[ch('2')],
        Action::SwitchTab(Tab::Departments),
        "Departments tab",
    ),
    normal(
        &[ch('3')],
        Action::SwitchTab(Tab::Objections),
        "Objections tab",
    ),
    normal(&[ch('4')], Action::SwitchTab(Tab::Rollout), "Rollout tab"),
    normal(&[ch('5')], Action::SwitchTab(Tab::Audit), "Audit tab"),
    normal(
        &[ch('6')],
        Action::SwitchTab(Tab::Commitments),
        "Commitments tab",
    ),
    normal(
        &[key(KeyCode::Tab), ch('l'), key(KeyCode::Right)],
        Action::NextTab,
        "next tab",
    ),
    normal(
        &[key(KeyCode::BackTab), ch('h'), key(KeyCode::Left)],
        Action::PrevTab,
        "previous tab",
    ),
    normal(
        &[ch('j'), key(KeyCode::Down), Input::ScrollDown],
        Action::Move(1),
        "move down",
    ),
    normal(
        &[ch('k'), key(KeyCode::Up), Input::ScrollUp],
        Action::Move(-1),
        "move up",
    ),
    normal(
        &[key(KeyCode::PageDown), Input::Ctrl('d')],
        Action::Move(10),
        "ten rows down",
    ),
    normal(
        &[key(KeyCode::PageUp), Input::Ctrl('u')],
        Action::Move(-10),
        "ten rows up",
    ),
    normal(
        &[ch('g'), key(KeyCode::Home)],
        Action::MoveToTop,
        "first row",
    ),
    normal(
        &[ch('G'), key(KeyCode::End)],
        Action::MoveToBottom,
        "last row",
    ),
    on(
        Tab::Audit,
        &[ch('/')],
        Action::StartLookup,
        "look up a verification id",
    ),
    normal(&[ch('/')], Action::StartFilter, "filter the list"),
    on(
        Tab::Departments,
        &[ch('s')],
        Action::CycleSort,
        "cycle the sort column",
    ),
    on(
        Tab::Objections,
        &[key(KeyCode::Enter)],
        Action::OpenDetail,
        "detail and history",
    ),
    on(
        Tab::Objections,
        &[ch('a')],
        Action::StartObjection(Verb::Assign),
        "assign to an operator",
    ),
    on(
        Tab::Objections,
        &[ch('c')],
        Action::StartObjection(Verb::ResolveCorrected),
        "resolve: corrected",
    ),
    on(
        Tab::Objections,
        &[ch('u')],
        Action::StartObjection(Verb::ResolveUpheld),
        "resolve: upheld",
    ),
    on(
        Tab::Objections,
        &[ch('x')],
        Action::StartObjection(Verb::Reject),
        "reject (reason required)",
    ),
    on(
        Tab::Commitments,
        &[key(KeyCode::Enter)],
        Action::OpenDetail,
        "detail and history",
    ),
    on(
        Tab::Commitments,
        &[ch('c')],
        Action::ClaimCommitment,
        "claim the next of this department",
    ),
    on(
        Tab::Commitments,
        &[ch('v')],
        Action::StartCommitment(CommitmentVerb::Confirm),
        "resolve: confirmed (true)",
    ),
    on(
        Tab::Commitments,
        &[ch('f')],
        Action::StartCommitment(CommitmentVerb::MarkFalse),
        "resolve: false (reason required)",
    ),
    normal(&[ch('?')], Action::ToggleHelp, "this help"),
    normal(
        &[key(KeyCode::Esc)],
        Action::Back,
        "close detail/filter, else quit",
    ),
    normal(&[ch('q'), Input::Ctrl('c')], Action::Quit, "quit"),
    when(
        Mode::Help,
        &[ch('j'), key(KeyCode::Down), Input::ScrollDown],
        Action::Move(1),
        "scroll down",
    ),
    when(
        Mode::Help,
        &[ch('k'), key(KeyCode::Up), Input::ScrollUp],
        Action::Move(-1),
        "scroll up",
    ),
    when(
        Mode::Help,
        &[ch('?'), key(KeyCode::Esc), ch('q')],
        Action::ToggleHelp,
        "close the help",
    ),
    when(Mode::Help, &[Input::Ctrl('c')], Action::Quit, "quit"),
    when(
        Mode::Prompt,
        &[key(KeyCode::Enter)],
        Action::Submit,
        "submit",
    ),
    when(
        Mode::Prompt,
        &[key(KeyCode::Esc)],
        Action::Cancel,
        "cancel (clears a filter)",
    ),
    when(
        Mode::Prompt,
        &[key(KeyCode::Backspace)],
        Action::DeleteChar,
        "delete a character",
    ),
    when(Mode::Prompt, &[Input::Ctrl('c')], Action::Quit, "quit"),
    when(Mode::Prompt, &[Input::AnyChar], Action::Input('\0'), "type"),
    when(
        Mode::Confirm,
        &[ch('y'), ch('Y')],
        Action::Confirm,
        "yes: send it",
    ),
    when(
        Mode::Confirm,
        &[ch('n'), ch('N'), key(KeyCode::Esc)],
        Action::Deny,
        "no: drop it",
    ),
    when(Mode::Confirm, &[Input::Ctrl('c')], Action::Quit, "quit"),
];

/// What `input` means in `mode` on `tab`, if anything.
pub fn action_for(mode: Mode, tab: Tab, input: Input) -> Option<Action> {
    let applies = |binding: &&Binding| binding.mode == mode && binding.tab.is_none_or(|t| t == tab);
    if let Some(binding) = BINDINGS
        .iter()
        .filter(applies)
        .find(|b| b.inputs.contains(&input))
    {
        return Some(binding.action);
    }
    match input {
        Input::Key(KeyCode::Char(c))
            if BINDINGS
                .iter()
                .filter(applies)
                .any(|b| b.inputs.contains(&Input::AnyChar)) =>
        {
            Some(Action::Input(c))
        }
        _ => None,
    }
}

/// A heading of the help overlay and the bindings under it.
pub fn help_sections() -> Vec<(String, Vec<&'static Binding>)> {
    let mut sections: Vec<(String, Vec<&'static Binding>)> = Vec::new();
    for binding in BINDINGS {
        let heading = match (binding.mode, binding.tab) {
            (Mode::Normal, None) => "everywhere".to_string(),
            (Mode::Normal, Some(tab)) => tab.title().to_string(),
            (Mode::Help, _) => "in this help".to_string(),
            (Mode::Prompt, _) => "typing (filter, id, note)".to_string(),
            (Mode::Confirm, _) => "confirm step".to_string(),
        };
        match sections.iter_mut().find(|(h, _)| *h == heading) {
            Some((_, rows)) => rows.push(binding),
            None => sections.push((heading, vec![binding])),
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_rows_override_general_ones() {
        assert_eq!(
            action_for(Mode::Normal, Tab::Audit, ch('/')),
            Some(Action::StartLookup)
        );
        assert_eq!(
            action_for(Mode::Normal, Tab::Objections, ch('/')),
            Some(Action::StartFilter)
        );
    }

    #[test]
    fn prompts_take_any_character_but_keep_their_keys() {
        assert_eq!(
            action_for(Mode::Prompt, Tab::Audit, ch('q')),
            Some(Action::Input('q'))
        );
        assert_eq!(
            action_for(Mode::Prompt, Tab::Audit, key(KeyCode::Enter)),
            Some(Action::Submit)
        );
        assert_eq!(action_for(Mode::Confirm, Tab::Audit, ch('z')), None);
    }

    #[test]
    fn no_input_is_bound_twice_in_one_place() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.mode == b.mode && a.tab == b.tab {
                    for input in a.inputs {
                        assert!(
                            !b.inputs.contains(input),
                            "{input:?} twice: {} / {}",
                            a.help,
                            b.help
                        );
                    }
                }
            }
        }
    }
}
