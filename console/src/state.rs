//! The console's state: pure data, changed only by [`crate::update::update`] and drawn by
//! [`crate::render::render`]. The filtered and sorted views of its lists live here, so that the
//! key handler and the renderer agree on which row is selected.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveTime, Utc};
use wire::admin_api::{
    AuditView, BackendHealth, CommitmentAction, CommitmentCounts, CommitmentDetail,
    CommitmentStatus, CommitmentView, ObjectionAction, ObjectionDetail, ObjectionStatus,
    ObjectionView, Role, Snapshot, WhoAmI,
};

use crate::cli::Settings;
use crate::verb::{CommitmentVerb, Verb};

/// The six screens, in key order (`1`–`6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Overview,
    Departments,
    Objections,
    Rollout,
    Audit,
    Commitments,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Departments,
        Tab::Objections,
        Tab::Rollout,
        Tab::Audit,
        Tab::Commitments,
    ];

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|tab| *tab == self).unwrap_or(0)
    }

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Departments => "Departments",
            Tab::Objections => "Objections",
            Tab::Rollout => "Rollout",
            Tab::Audit => "Audit",
            Tab::Commitments => "Commitments",
        }
    }

    /// The next tab (`forward`) or the previous one, wrapping round.
    pub fn step(self, forward: bool) -> Tab {
        let n = Tab::ALL.len();
        let i = if forward {
            self.index() + 1
        } else {
            self.index() + n - 1
        };
        Tab::ALL[i % n]
    }

    /// Whether the tab has a list that `/` filters.
    pub fn filterable(self) -> bool {
        matches!(
            self,
            Tab::Departments | Tab::Objections | Tab::Rollout | Tab::Commitments
        )
    }
}

/// Whether the gateway is reachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// No answer yet.
    Connecting,
    Connected,
    /// Unreachable since `since` (local time); the feed is retrying.
    Disconnected {
        since: NaiveTime,
        error: String,
    },
}

/// Something fetched on demand.
#[derive(Debug, Clone, PartialEq)]
pub enum Loadable<T> {
    Loading,
    Ready(T),
    Failed(String),
}

/// One list's cursor and filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListView {
    pub selected: usize,
    /// Case-insensitive substring; empty shows everything.
    pub filter: String,
}

/// Order of the departments table (`s` cycles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DepartmentSort {
    /// Most errors per second first, so trouble is at the top.
    #[default]
    Errors,
    Backend,
    Rate,
    P99,
}

impl DepartmentSort {
    pub fn next(self) -> DepartmentSort {
        match self {
            DepartmentSort::Errors => DepartmentSort::Backend,
            DepartmentSort::Backend => DepartmentSort::Rate,
            DepartmentSort::Rate => DepartmentSort::P99,
            DepartmentSort::P99 => DepartmentSort::Errors,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DepartmentSort::Errors => "errors/s",
            DepartmentSort::Backend => "backend",
            DepartmentSort::Rate => "rate",
            DepartmentSort::P99 => "p99",
        }
    }
}

/// What a prompt's input is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptFor {
    /// The current tab's filter, applied as it is typed.
    Filter,
    /// A verification id to look up.
    Lookup,
    /// An action on an objection (`assignee`, note or reason).
    Objection { id: String, verb: Verb },
    /// A commitment's resolution (a note, or the reason it is false).
    Commitment { id: String, verb: CommitmentVerb },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub purpose: PromptFor,
    pub label: String,
    pub input: String,
}

/// An action waiting for `y`/`n`: the confirm step is data, nothing is sent before `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub question: String,
    pub sends: Sends,
}

/// What `y` at a confirm step sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sends {
    /// An action on objection `id`.
    Objection { id: String, action: ObjectionAction },
    /// The resolution of commitment `id`.
    Commitment {
        id: String,
        action: CommitmentAction,
    },
    /// A claim of the next pending commitment of `department`.
    ClaimCommitment { department: String },
}

/// What is drawn over the tab, and gets the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help,
    Prompt(Prompt),
    Confirm(Confirm),
}

/// Which part of the key table applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Normal,
    Help,
    Prompt,
    Confirm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Error,
}

/// The status line's message (result of the last action, or why a key did nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub kind: StatusKind,
    pub text: String,
}

/// The objection shown in the detail pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub id: String,
    pub data: Loadable<ObjectionDetail>,
}

/// The commitment shown in the detail pane of the Commitments tab.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitmentPane {
    pub id: String,
    pub data: Loadable<CommitmentDetail>,
}

/// A verification id look-up on the Audit tab.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub id: String,
    pub result: Loadable<AuditView>,
}

/// Everything the console shows.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The admin API's base URL (for the banner).
    pub url: String,
    /// Who the token signs in, once the gateway said (`GET /whoami`).
    pub operator: Option<WhoAmI>,
    pub read_only: bool,
    /// False under `NO_COLOR`: the renderer uses modifiers only.
    pub color: bool,
    pub now: DateTime<Utc>,
    pub tab: Tab,
    pub connection: Connection,
    pub snapshot: Option<Snapshot>,
    /// `None` until the first answer.
    pub objections: Option<Vec<ObjectionView>>,
    pub audit: Option<Vec<AuditView>>,
    /// The plan's targets measured from traffic (the Overview's table); `None` until the first
    /// answer.
    pub kpis: Option<Result<wire::admin_api::Evaluation, String>>,
    /// The commitments' post-check queues (pending and in check), `None` until the first
    /// answer; and their counts per department.
    pub commitments: Option<Vec<CommitmentView>>,
    pub commitment_counts: Option<CommitmentCounts>,
    /// The commitment whose history is open on the Commitments tab.
    pub commitment: Option<CommitmentPane>,
    /// One per tab, in [`Tab::ALL`] order.
    pub lists: [ListView; 6],
    pub department_sort: DepartmentSort,
    pub detail: Option<Detail>,
    pub lookup: Option<Lookup>,
    pub overlay: Option<Overlay>,
    /// First line of the help shown, when it needs scrolling.
    pub help_scroll: usize,
    pub status: Option<Status>,
    pub quit: bool,
}

impl State {
    pub fn new(settings: &Settings, now: DateTime<Utc>) -> State {
        State {
            url: settings.url.clone(),
            operator: None,
            read_only: settings.read_only,
            color: !settings.no_color,
            now,
            tab: Tab::Overview,
            connection: Connection::Connecting,
            snapshot: None,
            objections: None,
            audit: None,
            kpis: None,
            commitments: None,
            commitment_counts: None,
            commitment: None,
            lists: Default::default(),
            department_sort: DepartmentSort::default(),
            detail: None,
            lookup: None,
            overlay: None,
            help_scroll: 0,
            status: None,
            quit: false,
        }
    }

    pub fn mode(&self) -> Mode {
        match &self.overlay {
            None => Mode::Normal,
            Some(Overlay::Help) => Mode::Help,
            Some(Overlay::Prompt(_)) => Mode::Prompt,
            Some(Overlay::Confirm(_)) => Mode::Confirm,
        }
    }

    /// Whether the signed-in operator's roles grant `needed` (not before the gateway said who
    /// is signed in).
    pub fn may(&self, needed: Role) -> bool {
        self.operator
            .as_ref()
            .is_some_and(|who| Role::any_grants(&who.roles, needed))
    }

    pub fn list(&self, tab: Tab) -> &ListView {
        &self.lists[tab.index()]
    }

    pub fn list_mut(&mut self, tab: Tab) -> &mut ListView {
        &mut self.lists[tab.index()]
    }

    /// Rows of the current tab's list (after the filter).
    pub fn row_count(&self, tab: Tab) -> usize {
        match tab {
            Tab::Overview => 0,
            Tab::Departments => self.visible_departments().len(),
            Tab::Objections => self.visible_objections().len(),
            Tab::Rollout => self.visible_certificates().len(),
            Tab::Audit => self.audit.as_ref().map_or(0, Vec::len),
            Tab::Commitments => self.visible_commitments().len(),
        }
    }

    /// Departments after the filter, in the chosen order.
    pub fn visible_departments(&self) -> Vec<&BackendHealth> {
        let filter = self.list(Tab::Departments).filter.to_lowercase();
        let mut rows: Vec<&BackendHealth> = self
            .snapshot
            .iter()
            .flat_map(|snapshot| &snapshot.departments)
            .filter(|row| {
                matches(
                    &filter,
                    &[&row.backend, &row.department, breaker_word(row.state)],
                )
            })
            .collect();
        let by_name = |a: &&BackendHealth, b: &&BackendHealth| a.backend.cmp(&b.backend);
        let desc = |a: f64, b: f64| b.partial_cmp(&a).unwrap_or(Ordering::Equal);
        match self.department_sort {
            DepartmentSort::Errors => {
                rows.sort_by(|a, b| desc(a.errors_per_sec, b.errors_per_sec).then(by_name(a, b)))
            }
            DepartmentSort::Backend => rows.sort_by(by_name),
            DepartmentSort::Rate => {
                rows.sort_by(|a, b| desc(a.rate_per_sec, b.rate_per_sec).then(by_name(a, b)))
            }
            DepartmentSort::P99 => rows.sort_by(|a, b| {
                desc(a.p99_ms.unwrap_or(-1.0), b.p99_ms.unwrap_or(-1.0)).then(by_name(a, b))
            }),
        }
        rows
    }

    /// The queue: still-open objections first, each group by deadline, after the filter.
    pub fn visible_objections(&self) -> Vec<&ObjectionView> {
        let filter = self.list(Tab::Objections).filter.to_lowercase();
        let mut rows: Vec<&ObjectionView> = self
            .objections
            .iter()
            .flatten()
            .filter(|o| {
                matches(
                    &filter,
                    &[
                        &o.id,
                        &o.department,
                        &o.certificate,
                        status_word(o.status),
                        o.assignee.as_deref().unwrap_or(""),
                        &o.subject,
                        &o.channel,
                        &o.description,
                    ],
                )
            })
            .collect();
        rows.sort_by(|a, b| {
            (is_closed(a.status), a.deadline, &a.id).cmp(&(is_closed(b.status), b.deadline, &b.id))
        });
        rows
    }

    /// Rows of the rollout matrix (certificate types) after the filter.
    pub fn visible_certificates(&self) -> Vec<&str> {
        let filter = self.list(Tab::Rollout).filter.to_lowercase();
        self.snapshot
            .iter()
            .flat_map(|snapshot| &snapshot.rollout.certificates)
            .filter(|id| matches(&filter, &[id]))
            .map(String::as_str)
            .collect()
    }

    /// The objection the actions apply to: the open detail's, else the selected row's.
    pub fn target_objection(&self) -> Option<String> {
        if self.tab != Tab::Objections {
            return None;
        }
        if let Some(detail) = &self.detail {
            return Some(detail.id.clone());
        }
        let selected = self.list(Tab::Objections).selected;
        self.visible_objections()
            .get(selected)
            .map(|o| o.id.clone())
    }

    /// The commitments' queue after the filter: pending or in check first, by department, then
    /// deadline.
    pub fn visible_commitments(&self) -> Vec<&CommitmentView> {
        let filter = self.list(Tab::Commitments).filter.to_lowercase();
        let mut rows: Vec<&CommitmentView> = self
            .commitments
            .iter()
            .flatten()
            .filter(|c| {
                matches(
                    &filter,
                    &[
                        &c.id,
                        &c.department,
                        &c.material,
                        &c.item.to_string(),
                        commitment_word(c.status),
                        c.assignee.as_deref().unwrap_or(""),
                        &c.venue,
                        &c.subject,
                    ],
                )
            })
            .collect();
        rows.sort_by(|a, b| {
            (a.status.is_final(), &a.department, a.deadline, &a.id).cmp(&(
                b.status.is_final(),
                &b.department,
                b.deadline,
                &b.id,
            ))
        });
        rows
    }

    /// The commitment the resolutions apply to: the open detail's, else the selected row's.
    pub fn target_commitment(&self) -> Option<String> {
        if self.tab != Tab::Commitments {
            return None;
        }
        if let Some(pane) = &self.commitment {
            return Some(pane.id.clone());
        }
        self.selected_commitment().map(|c| c.id.clone())
    }

    /// The selected row of the commitments' queue.
    pub fn selected_commitment(&self) -> Option<&CommitmentView> {
        let selected = self.list(Tab::Commitments).selected;
        self.visible_commitments().get(selected).copied()
    }

    /// The department whose queue a claim takes from: the open detail's, else the selected
    /// row's.
    pub fn claim_department(&self) -> Option<String> {
        if self.tab != Tab::Commitments {
            return None;
        }
        if let Some(Loadable::Ready(detail)) = self.commitment.as_ref().map(|p| &p.data) {
            return Some(detail.commitment.department.clone());
        }
        self.selected_commitment().map(|c| c.department.clone())
    }

    /// Keeps every cursor on a row after the data or a filter changed.
    pub fn clamp_selections(&mut self) {
        for tab in Tab::ALL {
            let rows = self.row_count(tab);
            let list = self.list_mut(tab);
            list.selected = list.selected.min(rows.saturating_sub(1));
        }
    }
}

fn matches(filter: &str, fields: &[&str]) -> bool {
    filter.is_empty()
        || fields
            .iter()
            .any(|field| field.to_lowercase().contains(filter))
}

/// Resolved or rejected: done, shown after the open ones.
pub fn is_closed(status: ObjectionStatus) -> bool {
    !matches!(status, ObjectionStatus::Open | ObjectionStatus::InReview)
}

pub fn status_word(status: ObjectionStatus) -> &'static str {
    match status {
        ObjectionStatus::Open => "open",
        ObjectionStatus::InReview => "in review",
        ObjectionStatus::ResolvedCorrected => "corrected",
        ObjectionStatus::ResolvedUpheld => "upheld",
        ObjectionStatus::Rejected => "rejected",
    }
}

/// A commitment's status as the console writes it.
pub fn commitment_word(status: CommitmentStatus) -> &'static str {
    match status {
        CommitmentStatus::Pending => "pending",
        CommitmentStatus::InCheck => "in check",
        CommitmentStatus::Confirmed => "confirmed",
        CommitmentStatus::False => "false",
    }
}

pub fn breaker_word(state: wire::admin_api::BreakerState) -> &'static str {
    match state {
        wire::admin_api::BreakerState::Closed => "closed",
        wire::admin_api::BreakerState::Open => "open",
        wire::admin_api::BreakerState::HalfOpen => "half-open",
    }
}
