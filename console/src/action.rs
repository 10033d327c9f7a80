//! What the operator asked for ([`Action`], looked up in [`crate::keys`]) and what the I/O
//! layer must do about it ([`Effect`], returned by [`crate::update::update`]).

use wire::admin_api::ObjectionAction;

use crate::state::Tab;

/// One thing the operator asked for, in words of the console rather than of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SwitchTab(Tab),
    NextTab,
    PrevTab,
    /// Move the selection by this many rows (negative: up).
    Move(i32),
    MoveToTop,
    MoveToBottom,
    /// Open the selected row's detail (objections: the detail pane with history).
    OpenDetail,
    /// Close what is open (detail, filter, look-up); at the top level, quit.
    Back,
    Quit,
    ToggleHelp,
    /// Start typing a filter for the current list.
    StartFilter,
    /// Start typing a verification id to look up (Audit).
    StartLookup,
    /// Cycle the sort order of the departments table.
    CycleSort,
    /// Start an action on the selected objection (prompt, then confirm).
    StartObjection(Verb),
    /// Typing in a prompt.
    Input(char),
    DeleteChar,
    /// Enter in a prompt.
    Submit,
    /// Esc in a prompt or confirm step.
    Cancel,
    /// `y` at a confirm step.
    Confirm,
    /// `n` at a confirm step.
    Deny,
}

impl Action {
    /// Actions that change the gateway's data: disabled with `--read-only`.
    pub fn mutates(self) -> bool {
        matches!(self, Action::StartObjection(_))
    }
}

/// The operator's actions on an objection (each becomes an [`ObjectionAction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Assign,
    ResolveCorrected,
    ResolveUpheld,
    Reject,
}

impl Verb {
    /// What the prompt asks for.
    pub fn prompt(self, id: &str) -> String {
        match self {
            Verb::Assign => format!("assign {id} to"),
            Verb::ResolveCorrected => format!("note for resolving {id} as corrected (required)"),
            Verb::ResolveUpheld => format!("note for resolving {id} as upheld (required)"),
            Verb::Reject => format!("reason for rejecting {id} (required)"),
        }
    }

    /// Why an input is refused, if it is.
    pub fn refuse(self, input: &str) -> Option<&'static str> {
        match self {
            Verb::Assign if input.trim().is_empty() => Some("an assignee is required"),
            Verb::Reject if input.trim().is_empty() => Some("a reason is required"),
            Verb::ResolveCorrected | Verb::ResolveUpheld if input.trim().is_empty() => {
                Some("a note is required: it goes into the objection's history")
            }
            _ => None,
        }
    }

    /// The API action, from the prompt's input and the acting operator.
    pub fn action(self, actor: &str, input: &str) -> ObjectionAction {
        let actor = actor.to_string();
        let text = input.trim().to_string();
        match self {
            Verb::Assign => ObjectionAction::Assign {
                actor,
                assignee: text,
            },
            Verb::ResolveCorrected => ObjectionAction::ResolveCorrected {
                actor,
                note: text,
                correction: None,
            },
            Verb::ResolveUpheld => ObjectionAction::ResolveUpheld { actor, note: text },
            Verb::Reject => ObjectionAction::Reject {
                actor,
                reason: text,
            },
        }
    }
}

/// The confirm step's question for `action` on objection `id`.
pub fn question(id: &str, action: &ObjectionAction) -> String {
    match action {
        ObjectionAction::Assign { assignee, .. } => format!("Assign {id} to {assignee}? y/n"),
        ObjectionAction::Note { .. } => format!("Add the note to {id}? y/n"),
        ObjectionAction::ResolveCorrected { .. } => format!("Resolve {id} as corrected? y/n"),
        ObjectionAction::ResolveUpheld { .. } => format!("Resolve {id} as upheld? y/n"),
        ObjectionAction::Reject { .. } => format!("Reject {id}? y/n"),
    }
}

/// What `action` did, for the status line once the gateway accepted it.
pub fn done(id: &str, action: &ObjectionAction) -> String {
    match action {
        ObjectionAction::Assign { assignee, .. } => format!("{id} assigned to {assignee}"),
        ObjectionAction::Note { .. } => format!("{id}: note added"),
        ObjectionAction::ResolveCorrected { .. } => format!("{id} resolved as corrected"),
        ObjectionAction::ResolveUpheld { .. } => format!("{id} resolved as upheld"),
        ObjectionAction::Reject { .. } => format!("{id} rejected"),
    }
}

/// Work for the I/O layer ([`crate::perform::perform`]); its outcome comes back as
/// [`crate::event::Data`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `POST /objections/{id}/actions`.
    Execute { id: String, action: ObjectionAction },
    /// `GET /objections/{id}` for the detail pane.
    LoadObjection(String),
    /// `GET /objections` now (after an action), not at the next periodic refresh.
    RefreshObjections,
    /// `GET /audit/verifications/{id}`.
    LookupAudit(String),
}
