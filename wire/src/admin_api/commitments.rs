//! The commitments desk of the admin API (告知承诺): the departments' post-check queues. A
//! service window records an applicant's commitment for a material (`POST /v1/commitments`,
//! [`crate::materials_api`]); the department that answers for the material claims it, checks
//! it, and resolves it as confirmed or false (with a reason) by its deadline.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /admin/v1/commitments?department=&status=&open=true&overdue=true&limit=&after=` | [`CommitmentPage`], by id; `open=true`: pending or in check |
//! | `GET /admin/v1/commitments/counts` | [`CommitmentCounts`] per department |
//! | `GET /admin/v1/commitments/{id}` | [`CommitmentDetail`] |
//! | `POST /admin/v1/commitments/claim` with [`ClaimRequest`](super::ClaimRequest) | [`CommitmentDetail`] of the claimed one, or 204 when the queue is empty |
//! | `POST /admin/v1/commitments/{id}/actions` with [`CommitmentAction`] | [`CommitmentDetail`] after the change (409 when the workflow forbids it) |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a commitment stands: pending → in check (claimed) → confirmed or false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommitmentStatus {
    /// Filed, waiting in the department's queue.
    Pending,
    /// Claimed: an operator of the department is checking it.
    InCheck,
    /// Found true.
    Confirmed,
    /// Found false (不实承诺); the reason is in the history.
    False,
}

impl CommitmentStatus {
    /// The status as the API writes it (`in_check`).
    pub fn as_str(self) -> &'static str {
        match self {
            CommitmentStatus::Pending => "pending",
            CommitmentStatus::InCheck => "in_check",
            CommitmentStatus::Confirmed => "confirmed",
            CommitmentStatus::False => "false",
        }
    }

    /// Whether the check is over.
    pub fn is_final(self) -> bool {
        matches!(self, CommitmentStatus::Confirmed | CommitmentStatus::False)
    }
}

/// A commitment as operators see it (the applicant only as a short hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitmentView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The materials answer it answers (`m-…`): its audit entry names the applicant.
    pub materials_request_id: String,
    /// The service window that recorded it.
    pub venue: String,
    /// The service item's number.
    pub item: u32,
    /// The material's id in the item: a certificate type, or a paper material's id.
    pub material: String,
    /// The department that checks it.
    pub department: String,
    /// First 8 hex digits of the applicant's keyed hash.
    pub subject: String,
    /// The version of the commitment text the applicant signed.
    pub text_version: String,
    pub status: CommitmentStatus,
    pub assignee: Option<String>,
    /// When the post-check must be done by.
    pub deadline: DateTime<Utc>,
    /// Pending or in check, past the deadline.
    pub overdue: bool,
    pub updated_at: DateTime<Utc>,
}

/// One change in a commitment's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitmentEventView {
    pub at: DateTime<Utc>,
    /// The operator, or the service window for the filing.
    pub actor: String,
    pub from_status: Option<CommitmentStatus>,
    pub to_status: CommitmentStatus,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitmentDetail {
    pub commitment: CommitmentView,
    /// Oldest first; the first is the filing.
    pub history: Vec<CommitmentEventView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitmentPage {
    pub items: Vec<CommitmentView>,
    /// Pass as `after=` for the next page; `None` on the last.
    pub next: Option<String>,
}

/// An operator's resolution of a post-check; the history records the signed-in operator. A
/// pending commitment is first taken into check by the resolving operator (both steps are in
/// the history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
#[schema(examples(
    json!({ "action": "confirm", "note": "lease registered with the housing bureau" }),
    json!({ "action": "mark_false", "reason": "no lease registered at that address" })
))]
pub enum CommitmentAction {
    /// The commitment is true.
    Confirm {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The commitment is false (不实承诺): `reason` is required.
    MarkFalse { reason: String },
}

/// One department's commitments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DepartmentCommitments {
    pub department: String,
    pub pending: u64,
    pub in_check: u64,
    /// Pending or in check past the deadline (also counted in `pending`/`in_check`).
    pub overdue: u64,
    pub confirmed: u64,
    /// Found false.
    pub found_false: u64,
}

impl DepartmentCommitments {
    /// Pending or in check.
    pub fn open(&self) -> u64 {
        self.pending + self.in_check
    }
}

/// `GET /admin/v1/commitments/counts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitmentCounts {
    /// Departments with at least one commitment, by id.
    pub by_department: Vec<DepartmentCommitments>,
}
