//! The public API of a service window (免证办): `POST /v1/materials` pulls the materials a
//! service item requires from the issuing departments with the applicant's code, and
//! `POST /v1/commitments` records the applicant's signed commitment (告知承诺) for a material
//! that could not be pulled.
//!
//! ```json
//! { "code": "MZ1:…", "item": 23 }
//! ```
//! answers, per material of the item (its id is its certificate code, or the paper
//! material's id):
//! ```json
//! { "materials_request_id": "m-0193…", "item": 23, "source": "assumed",
//!   "materials": [
//!     { "material": "resident-id-card", "status": "provided",
//!       "fields": { "holder_name": "张三", "id_number": "370102…" } },
//!     { "material": "lease-or-residence-proof", "status": "commitment_allowed" } ],
//!   "form": { "fields": 7, "filled": 5 },
//!   "decided_at": "2026-12-03T08:00:00.123Z" }
//! ```
//! A material is `provided` (pulled, seal checked, only the fields the form needs),
//! `commitment_allowed` (not pulled, and a commitment may replace it), `must_present` (not
//! pulled: the applicant brings it) or `unavailable` (its department did not answer: try again,
//! or present it) — never silently left out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Path of the materials endpoint on the public listener.
pub const MATERIALS_PATH: &str = "/v1/materials";
/// Path of the commitments endpoint on the public listener.
pub const COMMITMENTS_PATH: &str = "/v1/commitments";

/// The body of `POST /v1/materials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "code": "MZ1:NCFOXN%TS3DH0YOJ58S*…", "item": 23 })))]
pub struct MaterialsRequest {
    /// The applicant's code, minted for the service window (purpose `service-window`) with
    /// consent naming the item (`item:23`) or its department (`department:public-security`).
    pub code: String,
    /// The service item's Annex 1 number.
    pub item: u32,
}

/// What became of one material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialStatus {
    /// Pulled from the issuing department, its seal checked: the form's fields are filled.
    Provided,
    /// Not pulled (no valid record, or not offered in the applicant's city, or a paper
    /// material), and a signed commitment may replace it.
    CommitmentAllowed,
    /// Not pulled, and no commitment may replace it: the applicant presents it.
    MustPresent,
    /// The department did not answer in time: try again, or present it.
    Unavailable,
}

impl MaterialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MaterialStatus::Provided => "provided",
            MaterialStatus::CommitmentAllowed => "commitment_allowed",
            MaterialStatus::MustPresent => "must_present",
            MaterialStatus::Unavailable => "unavailable",
        }
    }
}

/// One material of the item, as the service window sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MaterialResult {
    /// The material's id in the item: its certificate code, or the paper material's id.
    pub material: String,
    pub status: MaterialStatus,
    /// For `provided`: the form fields it fills, and only those.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// Why it was not provided, as a machine code (`not_found`, `expired`, `revoked`,
    /// `not_offered`, `paper`, `department_unavailable`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The answer came from the cache past its lifetime while the department was down.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// How much of the item's form the shared data filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FormFill {
    /// Fields on the form, each once.
    pub fields: u32,
    /// Of those, filled from a provided material.
    pub filled: u32,
}

/// The answer of `POST /v1/materials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MaterialsResponse {
    /// Names this answer in a commitment (`POST /v1/commitments`) and in the audit log.
    pub materials_request_id: String,
    pub item: u32,
    /// Whether the item's materials list is the province's (`plan`) or a proposal (`assumed`).
    pub source: String,
    pub materials: Vec<MaterialResult>,
    pub form: FormFill,
    pub decided_at: DateTime<Utc>,
    /// The answer's place in the gateway's audit log: its seq in the chain `audit_chain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_chain: Option<String>,
}

/// The body of `POST /v1/commitments`: the applicant commits (告知承诺) that a material they
/// did not present is true, for the department to check afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "materials_request_id": "m-019a3c5e7f20b1d2c3d4e5f6a7b8c9d0",
    "material": "lease-or-residence-proof",
    "text_version": "2026-01"
})))]
pub struct CommitmentFiling {
    /// The materials answer this commitment answers: it names the applicant and the item.
    pub materials_request_id: String,
    /// The material committed to, as that answer named it.
    pub material: String,
    /// The version of the commitment text the applicant signed.
    pub text_version: String,
}

/// The answer to a recorded commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitmentRecorded {
    pub commitment_id: String,
    /// The department that checks it afterwards.
    pub department: String,
    pub item: u32,
    pub material: String,
    /// When the post-check must be done by.
    pub deadline: DateTime<Utc>,
    pub status: String,
}
