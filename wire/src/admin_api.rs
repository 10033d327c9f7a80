//! The gateway's admin API, on its admin listener, for the operator console and for scripts.
//! Every route except `/livez`, `/readyz` and `/metrics` needs `Authorization: Bearer <token>`
//! with a named operator's token; each route needs one [`Role`] ([`ROUTE_ROLES`]), and a
//! missing one is answered 403 `admin.forbidden` naming it. The bootstrap secret (`admin.token`
//! in `gateway.toml` or `MIANZHENG_ADMIN_TOKEN`) only creates the first operator
//! (`POST /admin/v1/operators` while none exists) and is refused once one does. Whatever an
//! operator does is recorded under the operator's name. Errors are RFC 9457 problems.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /admin/v1/snapshot` | [`Snapshot`] now |
//! | `GET /admin/v1/snapshot?after=<generation>` | long poll: the first [`Snapshot`] newer than `generation` (at most ~2 s wait; one is made per second); a generation ahead of the node's (it restarted) gets the current one at once |
//! | `GET /admin/v1/objections?department=&status=&open=true&overdue=true&limit=&after=` | [`ObjectionPage`], by id; `open=true`: open or in review |
//! | `GET /admin/v1/objections/{id}` | [`ObjectionDetail`] |
//! | `POST /admin/v1/objections/{id}/actions` with [`ObjectionAction`] | [`ObjectionDetail`] after the change (409 when the workflow forbids it) |
//! | `POST /admin/v1/objections/claim` with [`ClaimRequest`] | [`ObjectionDetail`] of the claimed one, or 204 when the queue is empty |
//! | `GET /admin/v1/commitments…`, `POST /admin/v1/commitments/claim`, `…/{id}/actions` | the commitments' post-check queues (告知承诺), listed in [`commitments`] |
//! | `GET /admin/v1/audit/recent?limit=` | [`AuditPage`], newest first |
//! | `GET /admin/v1/audit/verifications/{verification_id}` | [`AuditView`] |
//! | `GET /admin/v1/venues` | `[VenueView]` |
//! | `POST /admin/v1/venues` with [`VenueRegistration`] | 201 [`VenueKeyIssued`] (the key is shown once) |
//! | `DELETE /admin/v1/venues/{id}` | 204: the venue's key and certificate are refused as unknown on every node within seconds (a seeded demo venue comes back at the next start) |
//! | `POST /admin/v1/venues/{id}/rotate` | [`VenueKeyIssued`] |
//! | `POST /admin/v1/venues/{id}/disable`, `/enable` | [`VenueView`] |
//! | `POST /admin/v1/venues/{id}/bind-certificate`, `/unbind-certificate` | [`VenueView`] |
//! | `POST /admin/v1/rollout/reload` | [`RolloutReloaded`] (422 problem and the old plan kept when the file is bad) |
//! | `GET /admin/v1/kpis?from=YYYY-MM-DD&to=YYYY-MM-DD&by=day\|city\|department` | [`Evaluation`]: the plan's targets measured from traffic over the window (default: the last 30 days in China, today included) |
//! | `GET /admin/v1/whoami` | [`WhoAmI`]: the signed-in operator |
//! | `GET /admin/v1/operators` | `[OperatorView]`, by name (never a token) |
//! | `POST /admin/v1/operators` with [`OperatorRegistration`] | 201 [`OperatorTokenIssued`] (the token is shown once) |
//! | `POST /admin/v1/operators/{name}:disable` | [`OperatorView`]; the operator's token is refused on every node within seconds |

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod commitments;
pub use commitments::{
    CommitmentAction, CommitmentCounts, CommitmentDetail, CommitmentEventView, CommitmentPage,
    CommitmentStatus, CommitmentView, DepartmentCommitments,
};

/// Prefix of every admin API route.
pub const ADMIN_PREFIX: &str = "/admin/v1";
/// Environment variable that overrides `admin.token` (the bootstrap secret).
pub const ADMIN_TOKEN_ENV: &str = "MIANZHENG_ADMIN_TOKEN";

/// What an operator may do. Every role may read (the routes that need `viewer`); each other
/// role adds the changes of one desk.
// Adding a role is a variant here, its name in `Role::ALL` and `Role::as_str`, and its lines in
// `ROUTE_ROLES`. (A plain comment: the doc comment is also the role's description in the API
// document.)
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads everything: snapshots, objections, audit, venues, who is signed in.
    Viewer,
    /// Claims objections and acts on them (assign, note, resolve, reject).
    ObjectionHandler,
    /// Claims commitments (告知承诺) from a department's post-check queue and resolves them
    /// (confirmed, or false with a reason).
    CommitmentChecker,
    /// Registers venues, rotates their keys, disables and enables them.
    VenueAdmin,
    /// Reloads the rollout plan.
    RolloutAdmin,
    /// Lists, adds and disables operator accounts.
    OperatorAdmin,
}

impl Role {
    /// Every role, in the order they are listed to people.
    pub const ALL: [Role; 6] = [
        Role::Viewer,
        Role::ObjectionHandler,
        Role::CommitmentChecker,
        Role::VenueAdmin,
        Role::RolloutAdmin,
        Role::OperatorAdmin,
    ];

    /// The role's name in requests, the store and the command line (`objection-handler`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::ObjectionHandler => "objection-handler",
            Role::CommitmentChecker => "commitment-checker",
            Role::VenueAdmin => "venue-admin",
            Role::RolloutAdmin => "rollout-admin",
            Role::OperatorAdmin => "operator-admin",
        }
    }

    /// Whether holding this role lets an operator take a route that needs `needed`: the role
    /// itself, and reading, which every role includes.
    pub fn grants(self, needed: Role) -> bool {
        self == needed || needed == Role::Viewer
    }

    /// Whether any of `roles` grants `needed`.
    pub fn any_grants(roles: &[Role], needed: Role) -> bool {
        roles.iter().any(|role| role.grants(needed))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role `{s}`: expected one of {}", known.join(", "))
            })
    }
}

/// The role each admin route needs: method, path after [`ADMIN_PREFIX`], role. In a path,
/// `{id}` stands for one segment and `{name}:verb` for a segment ending in `:verb`. The gateway
/// refuses a route this table does not list, and the console hides what the operator's roles
/// do not grant, both from this one table.
pub const ROUTE_ROLES: &[(&str, &str, Role)] = &[
    ("GET", "/snapshot", Role::Viewer),
    ("GET", "/whoami", Role::Viewer),
    ("GET", "/objections", Role::Viewer),
    ("GET", "/objections/{id}", Role::Viewer),
    ("POST", "/objections/claim", Role::ObjectionHandler),
    ("POST", "/objections/{id}/actions", Role::ObjectionHandler),
    ("GET", "/commitments", Role::Viewer),
    ("GET", "/commitments/counts", Role::Viewer),
    ("GET", "/commitments/{id}", Role::Viewer),
    ("POST", "/commitments/claim", Role::CommitmentChecker),
    ("POST", "/commitments/{id}/actions", Role::CommitmentChecker),
    ("GET", "/audit/recent", Role::Viewer),
    ("GET", "/audit/verifications/{id}", Role::Viewer),
    ("GET", "/venues", Role::Viewer),
    ("POST", "/venues", Role::VenueAdmin),
    ("DELETE", "/venues/{id}", Role::VenueAdmin),
    ("POST", "/venues/{id}/rotate", Role::VenueAdmin),
    ("POST", "/venues/{id}/disable", Role::VenueAdmin),
    ("POST", "/venues/{id}/enable", Role::VenueAdmin),
    ("POST", "/venues/{id}/bind-certificate", Role::VenueAdmin),
    ("POST", "/venues/{id}/unbind-certificate", Role::VenueAdmin),
    ("POST", "/rollout/reload", Role::RolloutAdmin),
    ("GET", "/kpis", Role::Viewer),
    ("GET", "/operators", Role::OperatorAdmin),
    ("POST", "/operators", Role::OperatorAdmin),
    ("POST", "/operators/{name}:disable", Role::OperatorAdmin),
];

/// The role `method path` needs (`path` after [`ADMIN_PREFIX`], without the query), from
/// [`ROUTE_ROLES`]; `None` when no route has that method and path.
pub fn required_role(method: &str, path: &str) -> Option<Role> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    ROUTE_ROLES
        .iter()
        .find(|(m, pattern, _)| *m == method && route_matches(pattern, &segments))
        .map(|&(_, _, role)| role)
}

fn route_matches(pattern: &str, segments: &[&str]) -> bool {
    let parts: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    parts.len() == segments.len()
        && parts.iter().zip(segments).all(|(part, segment)| {
            match part.strip_prefix('{').and_then(|p| p.split_once('}')) {
                None => part == segment,
                Some((_, "")) => !segment.is_empty(),
                Some((_, suffix)) => segment
                    .strip_suffix(suffix)
                    .is_some_and(|head| !head.is_empty()),
            }
        })
}

/// `GET /admin/v1/whoami`: the operator the request's token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub name: String,
    pub roles: Vec<Role>,
}

/// An operator account as listed (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperatorView {
    pub name: String,
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
    /// The operator who added it, `bootstrap`, `demo`, or `cli:<user>` for the command line.
    pub created_by: String,
    /// When it was disabled; its token is refused from then on.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// `POST /admin/v1/operators`: a new operator; the gateway makes its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "name": "li.wei", "roles": ["objection-handler"] })))]
pub struct OperatorRegistration {
    /// 1–64 lowercase letters, digits, `-`, `_` or `.`; unique.
    pub name: String,
    /// At least one.
    pub roles: Vec<Role>,
}

/// A new operator's token, shown once: only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperatorTokenIssued {
    pub operator: OperatorView,
    pub token: String,
}

/// One view of the whole gateway node, made once per second off the verify path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Snapshot {
    /// Increases by one per snapshot; give it back as `after=` to wait for the next.
    pub generation: u64,
    pub at: DateTime<Utc>,
    pub node: String,
    pub uptime_secs: u64,
    pub traffic: Traffic,
    pub departments: Vec<BackendHealth>,
    pub objections: ObjectionCounts,
    pub rollout: RolloutView,
    /// The holder platform's figures, read from the store every nodes shares.
    #[serde(default)]
    pub holders: HolderCounts,
}

/// The holder platform seen from the store (every platform and gateway node's work): codes
/// issued, and the delegations by which agents and family members show codes for others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HolderCounts {
    /// Codes issued in the last minute.
    pub issued_last_minute: IssuedCounts,
    /// Codes issued in the last hour.
    pub issued_last_hour: IssuedCounts,
    /// Agents' authorizations (企业码) and family members' grants (代亮码), by relation.
    pub delegations: Vec<DelegationCounts>,
}

/// Codes issued over a span: on phones, printed, and of those asked for by a presenter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedCounts {
    pub phone: u64,
    pub paper: u64,
    /// Asked for by an agent or a family member.
    pub presented: u64,
}

/// The delegations of one relation (`agent`, `family`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DelegationCounts {
    pub relation: crate::code::Relation,
    pub active: u64,
    pub lapsed: u64,
    pub revoked: u64,
}

/// Counts of verification outcomes (overall verdicts, plus refused requests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerdictCounts<T> {
    pub pass: T,
    pub fail: T,
    pub unavailable: T,
    /// The certificate is not yet live in the holder's city (the venue uses paper).
    pub not_offered: T,
    /// Requests refused before a verdict (bad code, unknown venue, quota, …).
    pub refused: T,
}

/// Latency of answered verifications, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

/// The verify path's traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Traffic {
    /// Per second over the last snapshot interval.
    pub per_sec: VerdictCounts<f64>,
    /// Since the node started.
    pub totals: VerdictCounts<u64>,
    /// Verifications per second (all outcomes), one value per second, oldest first, at most
    /// 120 values (`RATE_HISTORY`).
    pub rate_history: Vec<f64>,
    /// Over the last snapshot interval (zeros when nothing was answered).
    pub latency: Percentiles,
    /// Share of record look-ups answered from the cache since start, 0–1 (`None` before any).
    pub cache_hit_rate: Option<f64>,
    pub in_flight: u64,
    /// Audit entries accepted but not yet committed.
    pub audit_backlog: u64,
    /// Service items' materials answered by this node since it started (免证办).
    #[serde(default)]
    pub materials: MaterialCounts,
}

/// Service items' materials answered (`POST /v1/materials`) since the node started: the
/// requests, and their materials by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MaterialCounts {
    pub requests: u64,
    pub provided: u64,
    pub commitment_allowed: u64,
    pub must_present: u64,
    pub unavailable: u64,
}

/// How many per-second rates a snapshot keeps for the sparkline.
pub const RATE_HISTORY: usize = 120;

/// The circuit breaker in front of a department backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// One department backend as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackendHealth {
    /// `department` or `department/city-code`.
    pub backend: String,
    pub department: String,
    /// Calls per second over the last snapshot interval.
    pub rate_per_sec: f64,
    /// Failed calls (error, timeout, refused answer) per second over the last interval.
    pub errors_per_sec: f64,
    /// Over the last interval; `None` when no call finished.
    pub p99_ms: Option<f64>,
    pub state: BreakerState,
}

/// Objection counts of one department.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DepartmentObjections {
    pub department: String,
    pub open: u64,
    pub in_review: u64,
    pub resolved: u64,
    pub rejected: u64,
    /// Open or in review with the deadline passed (also counted in `open`/`in_review`).
    pub overdue: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectionCounts {
    /// Departments with at least one objection, by id.
    pub by_department: Vec<DepartmentObjections>,
}

/// Where a certificate type stands in a city.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Planned,
    Pilot,
    Live,
}

/// One city of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CityRef {
    pub code: u32,
    pub name_zh: String,
    pub name_en: String,
}

/// One (certificate type, city) cell: the plan and the live figures since start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RolloutCell {
    pub certificate: String,
    pub city: u32,
    /// The stage in effect today.
    pub stage: Stage,
    /// When that stage began (`None` for planned without a date).
    pub since: Option<NaiveDate>,
    /// Requirements of this type asked of holders of this city, by verdict.
    pub requirements: VerdictCounts<u64>,
    /// Answered electronically (pass, fail) ÷ all asked; `None` before any.
    pub substitution_rate: Option<f64>,
}

/// One of the plan's targets against its live figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Kpi {
    /// The metric id of `targets.tsv`, e.g. `top_certificates_in_use`.
    pub id: String,
    pub title: String,
    /// The year the target is for.
    pub year: i32,
    /// The target as a number (a share is 0–1).
    pub target: f64,
    /// The live figure, same unit; `None` when the gateway cannot measure it.
    pub actual: Option<f64>,
    /// `count` or `share`.
    pub unit: String,
}

/// The rollout plan with live figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RolloutView {
    pub cities: Vec<CityRef>,
    /// Certificate type ids, in catalogue order.
    pub certificates: Vec<String>,
    /// Certificate-major order: every city of the first certificate, then the next.
    pub cells: Vec<RolloutCell>,
    pub kpis: Vec<Kpi>,
}

/// Status of an objection (the store's workflow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionStatus {
    Open,
    InReview,
    ResolvedCorrected,
    ResolvedUpheld,
    Rejected,
}

/// An objection as operators see it (the holder only as a short hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectionView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// `app`, `hall` or `hotline`.
    pub channel: String,
    /// `venue` or `holder`.
    pub filed_by: String,
    /// The venue id, or `holder`.
    pub filer: String,
    pub verification_id: Option<String>,
    pub certificate: String,
    pub department: String,
    /// First 8 hex digits of the holder's keyed hash.
    pub subject: String,
    pub description: String,
    pub status: ObjectionStatus,
    pub assignee: Option<String>,
    pub deadline: DateTime<Utc>,
    pub overdue: bool,
    pub updated_at: DateTime<Utc>,
}

/// One change in an objection's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectionEventView {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub from_status: Option<ObjectionStatus>,
    pub to_status: ObjectionStatus,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectionDetail {
    pub objection: ObjectionView,
    /// Oldest first; the first is the filing.
    pub history: Vec<ObjectionEventView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectionPage {
    pub items: Vec<ObjectionView>,
    /// Pass as `after=` for the next page; `None` on the last.
    pub next: Option<String>,
}

/// An operator's action on an objection. The history records the signed-in operator's name as
/// its actor. `actor` is accepted for older clients and ignored: who acts is the account the
/// token belongs to, never what the request says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
#[schema(examples(
    json!({ "action": "assign", "assignee": "li.wei" }),
    json!({
        "action": "resolve_corrected",
        "note": "penalty points corrected",
        "correction": { "field": "penalty_points", "value": { "integer": 3 } }
    }),
    json!({ "action": "reject", "reason": "the record is right: the card expired in 2025" })
))]
pub enum ObjectionAction {
    /// Hand it to an operator (an open one moves to in review).
    Assign {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        assignee: String,
    },
    /// Add a note; the status stays.
    Note {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        note: String,
    },
    /// The record was wrong and is corrected: cached answers are dropped on every node. With a
    /// `correction` (and the holder's handle known) the department's backend is told to apply
    /// it; without one, the department corrects the record in its own system.
    ResolveCorrected {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        note: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        correction: Option<Correction>,
    },
    /// The record was right.
    ResolveUpheld {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        note: String,
    },
    /// Not a valid objection; `reason` is required.
    Reject {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        reason: String,
    },
}

/// The corrected value of one field of the record, in the department backend's override form
/// (e.g. `{"field": "penalty_points", "value": {"integer": 3}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    pub field: String,
    /// One key naming the value's type: `{"date": "1950-03-02"}`, `{"integer": 3}`,
    /// `{"text": "…"}`, `{"list": ["C1", "C2"]}`.
    pub value: serde_json::Value,
}

/// `POST /admin/v1/objections/claim`: the next open objection of a department, oldest
/// deadline first, moved to in review for the signed-in operator; two operators never get the
/// same one. `actor` is accepted for older clients and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "department": "health" })))]
pub struct ClaimRequest {
    pub department: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// One verification in the audit log, as operators see it (holder as a short hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    /// The chain holding the entry: the node that wrote it (`""`: the one chain every node
    /// shared before chains were per node).
    #[serde(default)]
    pub chain: String,
    /// The entry's place in its chain.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub node: String,
    pub venue: String,
    pub scenario: String,
    pub verdict: String,
    /// (certificate type, verdict) per requirement.
    pub requirements: Vec<(String, String)>,
    pub latency_us: i64,
    pub verification_id: String,
    /// First 8 hex digits of the holder's keyed hash.
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
}

/// A venue in the registry (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VenueView {
    pub id: String,
    pub name: String,
    pub city: u32,
    pub scenarios: Vec<String>,
    pub rate_per_sec: u32,
    pub disabled: bool,
    /// Bound to a client certificate: refused on a connection without one naming it (mTLS).
    #[serde(default)]
    pub client_certificate: bool,
    /// A service window: may pull an applicant's materials for a service item.
    #[serde(default)]
    pub service_window: bool,
    pub updated_at: DateTime<Utc>,
}

/// `POST /admin/v1/venues`: a new venue; the gateway makes its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "id": "jinan-daming-lake-park",
    "name": "大明湖公园东门",
    "city": 370100,
    "scenarios": ["park-entry-senior"],
    "rate_per_sec": 50
})))]
pub struct VenueRegistration {
    /// 1–64 lowercase letters, digits or `-`; unique.
    pub id: String,
    /// The name holders see in "who checked me".
    pub name: String,
    /// The venue's city (GB/T 2260 code), from the catalogue.
    pub city: u32,
    /// The catalogue's scenarios the venue may verify for, at least one unless it is a
    /// service window.
    pub scenarios: Vec<String>,
    /// Requests per second, at least 1 (a burst of 2 s worth).
    pub rate_per_sec: u32,
    /// Bind the venue to a client certificate from the venues' CA naming it (mTLS): its key
    /// alone is then refused.
    #[serde(default)]
    pub client_certificate: bool,
    /// A service window of a service hall: it may pull an applicant's materials for a
    /// service item (`POST /v1/materials`) and record their commitments.
    #[serde(default)]
    pub service_window: bool,
}

/// A venue's new key, shown once: only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VenueKeyIssued {
    pub venue: VenueView,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RolloutReloaded {
    /// The file the plan was read from.
    pub source: String,
    pub cells: usize,
}

/// The plan's targets measured from the traffic every node counted in the store, over a window
/// of days in China: what `gateway report` prints and the console's Overview shows. Figures over
/// service items come twice, over the items whose materials list is the province's (`plan`)
/// and over those whose list is a proposal (`assumed`), so an assumption never passes for a
/// measurement. The formulas are in the README ("Targets measured from traffic").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evaluation {
    /// First day of the window (China time), included.
    pub from: NaiveDate,
    /// Last day of the window, included.
    pub to: NaiveDate,
    /// `day`, `city` or `department` when the rows are grouped; `None` for the whole window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub rows: Vec<EvaluationRow>,
}

/// One metric over one basis (and one group, when grouped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvaluationRow {
    /// The day, city code (`0`: province-level backends) or department id of the row, when
    /// grouped; `None` for a row over the whole window (or one that has no such group:
    /// objections have no city).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The metric id (targets.tsv's where it has a target), e.g. `proof_material_share_rate`.
    pub metric: String,
    /// What operators read, e.g. `证明材料共享率 material share`.
    pub title: String,
    /// `plan` or `assumed` (service items by their materials source), or `all`.
    pub basis: String,
    pub numerator: u64,
    /// For a share, what the numerator is counted out of; for a count (certificates in use),
    /// the catalogue's certificate types, for scale.
    pub denominator: u64,
    /// A share (0–1) or a count; `None` for a share out of nothing.
    pub value: Option<f64>,
    /// `share` or `count`.
    pub unit: String,
    /// The plan's targets for this metric, by year (none for a metric without one).
    pub targets: Vec<TargetCheck>,
}

/// One year's target of a metric, and whether the figure meets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetCheck {
    pub year: i32,
    /// Same unit as the row's value.
    pub target: f64,
    /// The target is "all": every certificate type of the catalogue (`target` is their number).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// `None` when the figure is `None`.
    pub met: Option<bool>,
}

/// A figure as people read it: a share in per cent with one decimal, a count whole.
pub fn figure_text(value: f64, unit: &str) -> String {
    if unit == "count" {
        format!("{value:.0}")
    } else {
        format!("{:.1} %", value * 100.0)
    }
}

impl EvaluationRow {
    /// The row's value as people read it (`41.7 %`, `3`), `—` for none.
    pub fn value_text(&self) -> String {
        self.value
            .map_or_else(|| "—".to_owned(), |v| figure_text(v, &self.unit))
    }

    /// The target for `year` and whether it is met, as people read it (`40.0 % met`,
    /// `all (50) not met`), `—` for none.
    pub fn target_text(&self, year: i32) -> String {
        let Some(target) = self.targets.iter().find(|t| t.year == year) else {
            return "—".to_owned();
        };
        let value = figure_text(target.target, &self.unit);
        let value = if target.all {
            format!("all ({value})")
        } else {
            value
        };
        let met = match target.met {
            Some(true) => "met",
            Some(false) => "not met",
            None => "no data",
        };
        format!("{value} {met}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_needs_the_role_of_its_desk() {
        assert_eq!(required_role("GET", "/snapshot"), Some(Role::Viewer));
        assert_eq!(
            required_role("GET", "/objections/obj-1"),
            Some(Role::Viewer)
        );
        assert_eq!(
            required_role("POST", "/objections/obj-1/actions"),
            Some(Role::ObjectionHandler)
        );
        assert_eq!(
            required_role("POST", "/objections/claim"),
            Some(Role::ObjectionHandler)
        );
        assert_eq!(
            required_role("POST", "/commitments/claim"),
            Some(Role::CommitmentChecker)
        );
        assert_eq!(
            required_role("POST", "/commitments/cm-1/actions"),
            Some(Role::CommitmentChecker)
        );
        assert_eq!(
            required_role("GET", "/commitments/counts"),
            Some(Role::Viewer)
        );
        assert_eq!(
            required_role("POST", "/venues/v-1/rotate"),
            Some(Role::VenueAdmin)
        );
        assert_eq!(
            required_role("POST", "/rollout/reload"),
            Some(Role::RolloutAdmin)
        );
        assert_eq!(
            required_role("POST", "/operators/li.wei:disable"),
            Some(Role::OperatorAdmin)
        );
        assert_eq!(required_role("POST", "/operators/:disable"), None);
        assert_eq!(required_role("POST", "/operators/li.wei"), None);
        assert_eq!(required_role("DELETE", "/venues"), None);
        assert_eq!(required_role("GET", "/nowhere"), None);
    }

    #[test]
    fn every_role_reads_and_only_its_own_desk_changes() {
        for role in Role::ALL {
            assert!(role.grants(Role::Viewer), "{role} reads");
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(!Role::Viewer.grants(Role::ObjectionHandler));
        assert!(!Role::VenueAdmin.grants(Role::ObjectionHandler));
        assert!(!Role::ObjectionHandler.grants(Role::CommitmentChecker));
        assert!(!Role::CommitmentChecker.grants(Role::ObjectionHandler));
        assert!(Role::any_grants(
            &[Role::Viewer, Role::ObjectionHandler],
            Role::ObjectionHandler
        ));
        assert!("admin"
            .parse::<Role>()
            .expect_err("no such role")
            .contains("objection-handler"));
    }

    #[test]
    fn a_client_sent_actor_is_still_accepted() {
        let action: ObjectionAction =
            serde_json::from_str(r#"{"action":"note","actor":"someone","note":"n"}"#)
                .expect("older clients' body");
        assert!(matches!(action, ObjectionAction::Note { .. }));
        let action: ObjectionAction =
            serde_json::from_str(r#"{"action":"note","note":"n"}"#).expect("without actor");
        assert_eq!(
            serde_json::to_string(&action).expect("json"),
            r#"{"action":"note","note":"n"}"#
        );
    }
}
