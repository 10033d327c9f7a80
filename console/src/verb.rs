//! The operator's verbs on an objection ([`Verb`]) and on a commitment ([`CommitmentVerb`]):
//! what the prompt asks, which input it refuses, the API action it becomes, and the confirm and
//! status lines that speak of it.

use wire::admin_api::{CommitmentAction, ObjectionAction};

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

    /// The API action, from the prompt's input. No actor: the gateway records the operator the
    /// console's token signs in.
    pub fn action(self, input: &str) -> ObjectionAction {
        let text = input.trim().to_string();
        match self {
            Verb::Assign => ObjectionAction::Assign {
                actor: None,
                assignee: text,
            },
            Verb::ResolveCorrected => ObjectionAction::ResolveCorrected {
                actor: None,
                note: text,
                correction: None,
            },
            Verb::ResolveUpheld => ObjectionAction::ResolveUpheld {
                actor: None,
                note: text,
            },
            Verb::Reject => ObjectionAction::Reject {
                actor: None,
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

/// The operator's resolutions of a commitment's post-check (each becomes a
/// [`CommitmentAction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitmentVerb {
    /// The commitment is true; the note is optional.
    Confirm,
    /// The commitment is false (不实承诺); the reason is required.
    MarkFalse,
}

impl CommitmentVerb {
    /// What the prompt asks for.
    pub fn prompt(self, id: &str) -> String {
        match self {
            CommitmentVerb::Confirm => format!("note for confirming {id} (optional)"),
            CommitmentVerb::MarkFalse => format!("reason {id} is false (required)"),
        }
    }

    /// Why an input is refused, if it is.
    pub fn refuse(self, input: &str) -> Option<&'static str> {
        match self {
            CommitmentVerb::MarkFalse if input.trim().is_empty() => {
                Some("a reason is required: it goes into the commitment's history")
            }
            _ => None,
        }
    }

    /// The API action, from the prompt's input.
    pub fn action(self, input: &str) -> CommitmentAction {
        let text = input.trim().to_string();
        match self {
            CommitmentVerb::Confirm => CommitmentAction::Confirm {
                note: (!text.is_empty()).then_some(text),
            },
            CommitmentVerb::MarkFalse => CommitmentAction::MarkFalse { reason: text },
        }
    }
}

/// The confirm step's question for `action` on commitment `id`.
pub fn commitment_question(id: &str, action: &CommitmentAction) -> String {
    match action {
        CommitmentAction::Confirm { .. } => format!("Confirm {id} as true? y/n"),
        CommitmentAction::MarkFalse { .. } => format!("Mark {id} as false? y/n"),
    }
}

/// What `action` did, for the status line once the gateway accepted it.
pub fn commitment_done(id: &str, action: &CommitmentAction) -> String {
    match action {
        CommitmentAction::Confirm { .. } => format!("{id} confirmed"),
        CommitmentAction::MarkFalse { .. } => format!("{id} marked false"),
    }
}

/// The confirm step's question for a claim.
pub fn claim_question(department: &str) -> String {
    format!("Claim the next pending commitment of {department}? y/n")
}
