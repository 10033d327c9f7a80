//! The public API venues call: `POST /v1/verify`, its request and its answer.
//!
//! ```json
//! { "code": "MZ1:…", "scenario": "park-entry-senior" }
//! ```
//! answers
//! ```json
//! { "verification_id": "v-0193…", "scenario": "park-entry-senior", "verdict": "pass",
//!   "holder": { "kind": "person", "name": "张*三" },
//!   "requirements": [ { "certificate": "senior-citizen-card", "verdict": "pass",
//!                       "disclosed": {} } ],
//!   "decided_at": "2026-11-26T08:00:00.123Z" }
//! ```
//! `unavailable` means a department could not answer in time, and `not_offered` that the
//! certificate is not yet offered electronically in the holder's city for this scenario (the
//! province's rollout plan, `config/rollout.toml`): either way the venue falls back to the paper
//! certificate. Overall, any `fail` fails; else any `unavailable` makes it `unavailable`; else
//! any `not_offered` makes it `not_offered`; else `pass`. Malformed or unauthorised requests get
//! RFC 9457 problems instead.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::audit::Means;
use crate::catalogue::model::HolderKind;
pub use crate::code::Relation;

/// Path of the verify endpoint on the public listener.
pub const VERIFY_PATH: &str = "/v1/verify";

/// The body of `POST /v1/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "code": "MZ1:NCFOXN%TS3DH0YOJ58S*…", "scenario": "park-entry-senior" })))]
pub struct VerifyRequest {
    /// The holder's code as scanned.
    pub code: String,
    /// A scenario id from the catalogue that the venue is allowed to use.
    pub scenario: String,
}

/// The outcome, overall or for one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The department could not answer in time; the venue uses the paper certificate.
    Unavailable,
    /// The certificate is not yet offered electronically in the holder's city for this
    /// scenario (rollout plan); the department was not asked and the venue uses paper.
    NotOffered,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unavailable => "unavailable",
            Verdict::NotOffered => "not_offered",
        }
    }
}

/// Why a requirement did not pass. Stable strings: venues show them and count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The holder has no certificate of this type.
    NotHeld,
    /// The certificate's validity has ended (status or dates).
    Expired,
    /// The certificate's validity has not begun.
    NotYetValid,
    Revoked,
    Suspended,
    /// An age predicate did not hold.
    UnderAge,
    /// A `covers` predicate did not hold (e.g. the licence lacks class C1).
    NotCovered,
    /// A `one-of` predicate did not hold.
    NotEligible,
    /// The record lacks the field a predicate needs.
    MissingField,
    /// The department did not answer within the deadline, or its breaker is open.
    DepartmentUnavailable,
    /// The department answered with something the gateway cannot trust (bad seal, malformed
    /// identifier, wrong subject): treated like no answer, and counted.
    DepartmentAnswerRejected,
    /// The department's answer was sealed for another query, or too long ago
    /// (`department.stale_record`): possibly an old answer replayed; treated like no answer,
    /// and counted. A retry asks again.
    DepartmentStaleRecord,
    /// The rollout plan does not yet offer the certificate in the holder's city for this
    /// scenario (planned there, or piloted for other scenarios).
    NotOffered,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotHeld => "not_held",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Revoked => "revoked",
            Reason::Suspended => "suspended",
            Reason::UnderAge => "under_age",
            Reason::NotCovered => "not_covered",
            Reason::NotEligible => "not_eligible",
            Reason::MissingField => "missing_field",
            Reason::DepartmentUnavailable => "department_unavailable",
            Reason::DepartmentAnswerRejected => "department_answer_rejected",
            Reason::DepartmentStaleRecord => "department_stale_record",
            Reason::NotOffered => "not_offered",
        }
    }
}

/// The holder as the venue may see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DisclosedHolder {
    pub kind: HolderKind,
    /// Masked for persons (张*三), unless a passing requirement's `legal_basis` obliges the
    /// venue to register the holder (a hotel its guest, a bank its customer): then in full.
    /// Organisations' registered names are public, always in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The verdict on one required certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RequirementResult {
    pub certificate: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The fields the scenario may disclose, masked where personal; a resident ID number only
    /// under a `legal_basis`, then in full.
    #[serde(default)]
    pub disclosed: BTreeMap<String, String>,
    /// The provision under which the venue needs what this requirement discloses (e.g.
    /// `《旅馆业治安管理办法》第六条`): why it receives an ID number or a full name. Absent
    /// when the scenario records none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// The answer came from a cache past its TTL while the department was down, as the
    /// scenario allows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// The answer of `POST /v1/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    pub verification_id: String,
    pub scenario: String,
    pub verdict: Verdict,
    pub holder: DisclosedHolder,
    pub requirements: Vec<RequirementResult>,
    pub decided_at: DateTime<Utc>,
    /// Who presented the code when it was not the holder: an agent for the company the code
    /// names, or a family member for the holder (代亮码).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented_by: Option<PresentedBy>,
    /// What was presented when it was not a code on a phone: `paper` (a printed code) or
    /// `card_reader` (the ID card in the venue's reader).
    #[serde(default, skip_serializing_if = "Means::is_phone")]
    pub means: Means,
    /// The verification's place in the gateway's hash-chained audit log, once committed: its
    /// seq in the chain `audit_chain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
    /// The audit chain holding the verification's entry: the name of the gateway node that
    /// wrote it (each node keeps a chain of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_chain: Option<String>,
}

/// Who presented a code that names someone else: "agent 王* for company Y", "family member 李*".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PresentedBy {
    pub relation: Relation,
    /// The presenter's name, masked.
    pub name: String,
}

/// The RFC 9457 problem the gateway answers refused requests with.
pub use crate::problem::Problem as ProblemBody;

/// Path of the objection endpoint on the public listener.
pub const OBJECTIONS_PATH: &str = "/v1/objections";
/// Path of the "who checked me" endpoint on the public listener.
pub const HOLDER_ACCESSES_PATH: &str = "/v1/holder/accesses";
/// The `Authorization` scheme a holder shows a fresh code of their own with:
/// `Authorization: Holder MZ1:…`.
pub const HOLDER_AUTH_SCHEME: &str = "Holder";

/// The body of `POST /v1/objections` ("the record is wrong").
///
/// - A **venue** files with its key (`Authorization: Bearer <venue key>`) and names one of its
///   own verifications (`verification_id`), and/or gives the `code` the holder shows at the
///   counter (then `certificate` is required).
/// - A **holder** files with a fresh code of their own in `code` (no `Authorization`), naming
///   the `certificate` concerned and optionally the `verification_id`.
///
/// `certificate` may be left out when the verification asked for one certificate only.
/// Answers `201 Created` with an `ObjectionFiled` only once the objection is stored durably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(
    json!({
        "code": "MZ1:NCFOXN%TS3DH0YOJ58S*…",
        "certificate": "senior-citizen-card",
        "channel": "app",
        "description": "my card is shown as expired; it was renewed in March"
    }),
    json!({
        "verification_id": "v-019a3c5e7f20b1d2c3d4e5f6a7b8c9d0",
        "channel": "hall",
        "description": "the holder shows a valid paper card; the record says revoked"
    })
))]
pub struct ObjectionFiling {
    /// The verification concerned (a venue's own, or one of the holder's).
    #[serde(default)]
    pub verification_id: Option<String>,
    /// The certificate type concerned, from the catalogue (`senior-citizen-card`).
    #[serde(default)]
    pub certificate: Option<String>,
    /// A holder's fresh code of their own, or the code a holder shows a venue at the counter.
    #[serde(default)]
    pub code: Option<String>,
    /// `app`, `hall` or `hotline` (12345).
    pub channel: String,
    /// What is wrong, 1–2000 characters.
    pub description: String,
}

/// The answer to a filed objection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectionFiled {
    pub objection_id: String,
    /// The department that issues the certificate and must answer.
    pub department: String,
    pub certificate: String,
    /// When the department's service level runs out.
    pub deadline: DateTime<Utc>,
    pub status: String,
}

/// One verification of the holder, as the holder sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HolderAccess {
    pub at: DateTime<Utc>,
    pub venue_id: String,
    /// The venue's registered name (its id when the venue is gone).
    pub venue_name: String,
    pub scenario: String,
    pub verdict: String,
    pub certificates: Vec<String>,
    pub verification_id: String,
    /// What was presented when it was not a code on a phone (`paper`, `card_reader`).
    #[serde(default, skip_serializing_if = "Means::is_phone")]
    pub means: Means,
    /// Who presented the holder's code, when it was not the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented_by: Option<PresentedBy>,
}

/// `GET /v1/holder/accesses?limit=N&before=CURSOR`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HolderAccesses {
    pub items: Vec<HolderAccess>,
    /// Pass as `before=` for the next (older) page; `None` on the last.
    pub next: Option<String>,
}
