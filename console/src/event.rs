//! What reaches the console's loop: the operator's input, the clock, and data (or its
//! absence) from the gateway. Values only; [`crate::update::update`] decides what they mean.

use chrono::{DateTime, NaiveTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};
use wire::admin_api::{
    AuditPage, AuditView, CommitmentAction, CommitmentCounts, CommitmentDetail, CommitmentPage,
    ObjectionAction, ObjectionDetail, ObjectionPage, Snapshot, WhoAmI,
};

// One event at a time moves through the loop; boxing the data would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    /// The terminal changed size; the next frame is laid out for it.
    Resize(u16, u16),
    /// The wall clock, once a second.
    Tick(DateTime<Utc>),
    Data(Data),
}

/// What came back from the gateway. Errors are already in words (the client's `Display`).
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// A snapshot arrived: the gateway is reachable.
    Snapshot(Box<Snapshot>),
    /// The snapshot poll failed with the gateway unreachable; the feed retries with back-off.
    /// `since` is the local time of the first failure in a row.
    Disconnected {
        since: NaiveTime,
        error: String,
    },
    /// Who the token signs in (after each (re)connection).
    SignedIn(Result<WhoAmI, String>),
    Objections(Result<ObjectionPage, String>),
    AuditRecent(Result<AuditPage, String>),
    /// The plan's targets measured from traffic over the last 30 days.
    Kpis(Result<wire::admin_api::Evaluation, String>),
    /// One objection with its history, for the detail pane.
    ObjectionLoaded {
        id: String,
        result: Result<ObjectionDetail, String>,
    },
    /// The gateway's answer to an operator's action on an objection.
    ActionDone {
        id: String,
        action: ObjectionAction,
        result: Result<ObjectionDetail, String>,
    },
    /// The commitments' queue and their counts per department.
    Commitments(Result<(CommitmentPage, CommitmentCounts), String>),
    /// One commitment with its history, for the detail pane.
    CommitmentLoaded {
        id: String,
        result: Result<CommitmentDetail, String>,
    },
    /// The gateway's answer to a resolution of a commitment.
    CommitmentResolved {
        id: String,
        action: CommitmentAction,
        result: Result<CommitmentDetail, String>,
    },
    /// The gateway's answer to a claim: the claimed commitment, or `None` for an empty queue.
    CommitmentClaimed {
        department: String,
        result: Result<Option<CommitmentDetail>, String>,
    },
    /// The answer to a verification id look-up.
    AuditFound {
        id: String,
        result: Result<AuditView, String>,
    },
}
