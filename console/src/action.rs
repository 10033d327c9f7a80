//! What the operator asked for ([`Action`], looked up in [`crate::keys`]) and what the I/O
//! layer must do about it ([`Effect`], returned by [`crate::update::update`]).

use wire::admin_api::{required_role, CommitmentAction, ObjectionAction, Role};

use crate::state::Tab;
use crate::verb::{CommitmentVerb, Verb};

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
    /// Open the selected row's detail (objections, commitments: the detail pane with history).
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
    /// Claim the next pending commitment of the selected row's department (confirm first).
    ClaimCommitment,
    /// Start resolving the selected commitment (prompt, then confirm).
    StartCommitment(CommitmentVerb),
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
        matches!(
            self,
            Action::StartObjection(_) | Action::ClaimCommitment | Action::StartCommitment(_)
        )
    }

    /// The role the gateway asks of the route this action ends in (from the gateway's own
    /// table, [`wire::admin_api::ROUTE_ROLES`]); `None` for what only reads.
    pub fn needs(self) -> Option<Role> {
        match self {
            Action::StartObjection(_) => required_role("POST", "/objections/{id}/actions"),
            Action::ClaimCommitment => required_role("POST", "/commitments/claim"),
            Action::StartCommitment(_) => required_role("POST", "/commitments/{id}/actions"),
            _ => None,
        }
    }

    /// Whether the signed-in operator's roles let them take this action (hidden from the help
    /// otherwise).
    pub fn allowed(self, state: &crate::state::State) -> bool {
        self.needs().is_none_or(|role| state.may(role))
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
    /// `POST /commitments/{id}/actions`.
    ResolveCommitment {
        id: String,
        action: CommitmentAction,
    },
    /// `POST /commitments/claim` for `department`.
    ClaimCommitment { department: String },
    /// `GET /commitments/{id}` for the detail pane.
    LoadCommitment(String),
    /// `GET /commitments?open=true` and `GET /commitments/counts` now.
    RefreshCommitments,
}
