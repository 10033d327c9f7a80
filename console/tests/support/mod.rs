//! Shared test fixtures: hand-made gateway data at a fixed time, a fake [`AdminApi`] that
//! records what it is asked, and helpers to press keys and draw screens.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use console::action::Effect;
use console::cli::Settings;
use console::client::{AdminApi, ClientError};
use console::event::Event;
use console::perform::perform;
use console::render::render;
use console::state::State;
use console::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use wire::admin_api::*;
use wire::code::Relation;
use wire::problem::Problem;

pub fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .unwrap()
}

pub fn settings() -> Settings {
    Settings {
        url: "http://127.0.0.1:9090".to_string(),
        token: "t".to_string(),
        read_only: false,
        no_color: false,
    }
}

/// A state at 2026-11-26 12:00 UTC with nothing received yet but who is signed in: `mei`,
/// who handles objections.
pub fn empty_state() -> State {
    let mut state = State::new(&settings(), at(26, 12, 0));
    state.operator = Some(mei());
    state
}

/// The operator the fixtures sign in.
pub fn mei() -> WhoAmI {
    WhoAmI {
        name: "mei".to_string(),
        roles: vec![Role::Viewer, Role::ObjectionHandler],
    }
}

/// A state with a snapshot, the objection queue and the audit log.
pub fn full_state() -> State {
    let mut state = empty_state();
    state.snapshot = Some(snapshot());
    state.connection = console::state::Connection::Connected;
    state.objections = Some(objections());
    state.audit = Some(audit().items);
    state
}

pub fn snapshot() -> Snapshot {
    let per_sec = VerdictCounts {
        pass: 41.0,
        fail: 3.5,
        unavailable: 1.0,
        not_offered: 0.5,
        refused: 0.2,
    };
    let totals = VerdictCounts {
        pass: 120_431,
        fail: 9_002,
        unavailable: 310,
        not_offered: 77,
        refused: 54,
    };
    Snapshot {
        generation: 4711,
        at: at(26, 11, 59),
        node: "gateway-1".to_string(),
        uptime_secs: 93_784,
        traffic: Traffic {
            per_sec,
            totals,
            rate_history: (0..120).map(|i| 20.0 + f64::from((i * 7) % 30)).collect(),
            latency: Percentiles {
                p50_ms: 3.2,
                p90_ms: 8.9,
                p99_ms: 41.5,
            },
            cache_hit_rate: Some(0.873),
            in_flight: 12,
            audit_backlog: 3,
            materials: MaterialCounts {
                requests: 40,
                provided: 95,
                commitment_allowed: 12,
                must_present: 6,
                unavailable: 2,
            },
        },
        departments: vec![
            backend(
                "public-security",
                30.0,
                0.0,
                Some(12.5),
                BreakerState::Closed,
            ),
            backend(
                "civil-affairs/3301",
                8.0,
                4.5,
                Some(780.0),
                BreakerState::Open,
            ),
            backend("education", 5.5, 0.5, Some(95.0), BreakerState::HalfOpen),
            backend("market-regulation", 0.0, 0.0, None, BreakerState::Closed),
        ],
        objections: ObjectionCounts {
            by_department: vec![DepartmentObjections {
                department: "civil-affairs".to_string(),
                open: 2,
                in_review: 1,
                resolved: 1,
                rejected: 0,
                overdue: 1,
            }],
        },
        rollout: rollout(),
        holders: HolderCounts {
            issued_last_minute: IssuedCounts {
                phone: 212,
                paper: 1,
                presented: 9,
            },
            issued_last_hour: IssuedCounts {
                phone: 11_950,
                paper: 37,
                presented: 402,
            },
            delegations: vec![
                DelegationCounts {
                    relation: Relation::Agent,
                    active: 58,
                    lapsed: 4,
                    revoked: 3,
                },
                DelegationCounts {
                    relation: Relation::Family,
                    active: 1_204,
                    lapsed: 17,
                    revoked: 22,
                },
            ],
        },
    }
}

fn backend(
    name: &str,
    rate: f64,
    errors: f64,
    p99: Option<f64>,
    state: BreakerState,
) -> BackendHealth {
    BackendHealth {
        backend: name.to_string(),
        department: name.split('/').next().unwrap().to_string(),
        rate_per_sec: rate,
        errors_per_sec: errors,
        p99_ms: p99,
        state,
    }
}

pub fn rollout() -> RolloutView {
    let cities = vec![
        CityRef {
            code: 3301,
            name_zh: "杭州".into(),
            name_en: "Hangzhou".into(),
        },
        CityRef {
            code: 3302,
            name_zh: "宁波".into(),
            name_en: "Ningbo".into(),
        },
        CityRef {
            code: 3303,
            name_zh: "温州".into(),
            name_en: "Wenzhou".into(),
        },
    ];
    let certificates = vec!["resident-id".to_string(), "driving-licence".to_string()];
    let stages = [
        (Stage::Live, Some(0.87)),
        (Stage::Pilot, Some(0.12)),
        (Stage::Planned, None),
        (Stage::Live, None),
        (Stage::Planned, None),
        (Stage::Planned, None),
    ];
    let mut cells = Vec::new();
    for (i, certificate) in certificates.iter().enumerate() {
        for (j, city) in cities.iter().enumerate() {
            let (stage, substitution_rate) = stages[i * cities.len() + j];
            cells.push(RolloutCell {
                certificate: certificate.clone(),
                city: city.code,
                stage,
                since: NaiveDate::from_ymd_opt(2026, 9, 1),
                requirements: VerdictCounts::default(),
                substitution_rate,
            });
        }
    }
    let kpis = vec![
        Kpi {
            id: "substitution_rate".into(),
            title: "substitution rate".into(),
            year: 2026,
            target: 0.8,
            actual: Some(0.62),
            unit: "share".into(),
        },
        Kpi {
            id: "top_certificates_in_use".into(),
            title: "top certificates in use".into(),
            year: 2026,
            target: 2.0,
            actual: Some(2.0),
            unit: "count".into(),
        },
        Kpi {
            id: "demand_satisfaction".into(),
            title: "demand satisfaction".into(),
            year: 2027,
            target: 0.99,
            actual: None,
            unit: "share".into(),
        },
    ];
    RolloutView {
        cities,
        certificates,
        cells,
        kpis,
    }
}

pub fn objection(
    id: &str,
    deadline: DateTime<Utc>,
    status: ObjectionStatus,
    overdue: bool,
) -> ObjectionView {
    ObjectionView {
        id: id.to_string(),
        created_at: at(20, 9, 0),
        channel: "app".to_string(),
        filed_by: "holder".to_string(),
        filer: "holder".to_string(),
        verification_id: Some(format!("v-{id}")),
        certificate: "resident-id".to_string(),
        department: "civil-affairs".to_string(),
        subject: "a1b2c3d4".to_string(),
        description: "the address on record is outdated".to_string(),
        status,
        assignee: (status == ObjectionStatus::InReview).then(|| "li".to_string()),
        deadline,
        overdue,
        updated_at: at(21, 9, 0),
    }
}

/// In queue order: obj-2 (overdue), obj-1, obj-3 (in review), obj-4 (resolved).
pub fn objections() -> Vec<ObjectionView> {
    vec![
        objection("obj-1", at(27, 9, 0), ObjectionStatus::Open, false),
        objection("obj-2", at(26, 10, 0), ObjectionStatus::Open, true),
        objection("obj-3", at(28, 17, 30), ObjectionStatus::InReview, false),
        objection(
            "obj-4",
            at(20, 12, 0),
            ObjectionStatus::ResolvedUpheld,
            false,
        ),
    ]
}

pub fn detail(id: &str) -> ObjectionDetail {
    let objection = objections().into_iter().find(|o| o.id == id).unwrap();
    ObjectionDetail {
        history: vec![
            ObjectionEventView {
                at: at(20, 9, 0),
                actor: "holder".to_string(),
                from_status: None,
                to_status: ObjectionStatus::Open,
                note: "filed in the app".to_string(),
            },
            ObjectionEventView {
                at: at(21, 9, 0),
                actor: "li".to_string(),
                from_status: Some(ObjectionStatus::Open),
                to_status: ObjectionStatus::InReview,
                note: String::new(),
            },
        ],
        objection,
    }
}

pub fn audit() -> AuditPage {
    let item = |seq: i64, minute: u32, verdict: &str| AuditView {
        chain: "gateway-1".to_string(),
        seq,
        at: at(26, 11, minute),
        node: "gateway-1".to_string(),
        venue: "hz-hotel-7".to_string(),
        scenario: "hotel-checkin".to_string(),
        verdict: verdict.to_string(),
        requirements: vec![("resident-id".to_string(), verdict.to_string())],
        latency_us: 3_450,
        verification_id: format!("ver-{seq:04}"),
        subject: "9f8e7d6c".to_string(),
    };
    AuditPage {
        items: vec![
            item(3, 58, "pass"),
            item(2, 57, "fail"),
            item(1, 56, "unavailable"),
        ],
    }
}

pub fn commitment(
    id: &str,
    department: &str,
    deadline: DateTime<Utc>,
    status: CommitmentStatus,
    overdue: bool,
) -> CommitmentView {
    CommitmentView {
        id: id.to_string(),
        created_at: at(6, 9, 0),
        materials_request_id: format!("m-{id}"),
        venue: "jinan-lixia-hall-1".to_string(),
        item: 23,
        material: "lease-or-residence-proof".to_string(),
        department: department.to_string(),
        subject: "5e6f7a8b".to_string(),
        text_version: "2026-01".to_string(),
        status,
        assignee: (status == CommitmentStatus::InCheck).then(|| "wang".to_string()),
        deadline,
        overdue,
        updated_at: at(7, 9, 0),
    }
}

/// In queue order: cm-2 (civil-affairs), cm-3 (public-security, overdue), cm-1, cm-4 (in
/// check).
pub fn commitments() -> Vec<CommitmentView> {
    use CommitmentStatus::*;
    vec![
        commitment("cm-1", "public-security", at(27, 9, 0), Pending, false),
        commitment("cm-2", "civil-affairs", at(28, 9, 0), Pending, false),
        commitment("cm-3", "public-security", at(26, 10, 0), Pending, true),
        commitment("cm-4", "public-security", at(29, 9, 0), InCheck, false),
    ]
}

pub fn commitment_counts() -> CommitmentCounts {
    CommitmentCounts {
        by_department: vec![
            DepartmentCommitments {
                department: "civil-affairs".to_string(),
                pending: 1,
                in_check: 0,
                overdue: 0,
                confirmed: 4,
                found_false: 0,
            },
            DepartmentCommitments {
                department: "public-security".to_string(),
                pending: 2,
                in_check: 1,
                overdue: 1,
                confirmed: 7,
                found_false: 2,
            },
        ],
    }
}

pub fn commitment_detail(id: &str) -> CommitmentDetail {
    let commitment = commitments().into_iter().find(|c| c.id == id).unwrap();
    CommitmentDetail {
        history: vec![CommitmentEventView {
            at: at(6, 9, 0),
            actor: "jinan-lixia-hall-1".to_string(),
            from_status: None,
            to_status: CommitmentStatus::Pending,
            note: "filed (text version 2026-01)".to_string(),
        }],
        commitment,
    }
}

/// A state on the Commitments tab with its queue and counts.
pub fn commitments_state() -> State {
    let mut state = full_state();
    state.tab = console::state::Tab::Commitments;
    state.commitments = Some(commitments());
    state.commitment_counts = Some(commitment_counts());
    state
}

/// Records every call; answers from its data.
#[derive(Debug, Clone, Default)]
pub struct FakeApi {
    pub calls: Arc<Mutex<Vec<String>>>,
    pub acts: Arc<Mutex<Vec<(String, ObjectionAction)>>>,
    pub resolutions: Arc<Mutex<Vec<(String, CommitmentAction)>>>,
    /// Departments whose queue is empty to a claim.
    pub empty_queues: Vec<String>,
    /// Answer to `act` with this problem instead of success.
    pub refuse_with: Option<Problem>,
}

impl FakeApi {
    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

impl AdminApi for FakeApi {
    async fn snapshot(&self, after: Option<u64>) -> Result<Snapshot, ClientError> {
        self.record(format!("snapshot {after:?}"));
        Ok(snapshot())
    }

    async fn objections(&self, limit: usize) -> Result<ObjectionPage, ClientError> {
        self.record(format!("objections {limit}"));
        Ok(ObjectionPage {
            items: objections(),
            next: None,
        })
    }

    async fn objection(&self, id: &str) -> Result<ObjectionDetail, ClientError> {
        self.record(format!("objection {id}"));
        Ok(detail(id))
    }

    async fn act(
        &self,
        id: &str,
        action: &ObjectionAction,
    ) -> Result<ObjectionDetail, ClientError> {
        self.record(format!("act {id}"));
        self.acts
            .lock()
            .unwrap()
            .push((id.to_string(), action.clone()));
        match &self.refuse_with {
            Some(problem) => Err(ClientError::Problem(Box::new(problem.clone()))),
            None => Ok(detail(id)),
        }
    }

    async fn audit_recent(&self, limit: usize) -> Result<AuditPage, ClientError> {
        self.record(format!("audit_recent {limit}"));
        Ok(audit())
    }

    async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.record("whoami".to_string());
        Ok(mei())
    }

    async fn commitments(&self, limit: usize) -> Result<CommitmentPage, ClientError> {
        self.record(format!("commitments {limit}"));
        Ok(CommitmentPage {
            items: commitments(),
            next: None,
        })
    }

    async fn commitment_counts(&self) -> Result<CommitmentCounts, ClientError> {
        self.record("commitment_counts".to_string());
        Ok(commitment_counts())
    }

    async fn commitment(&self, id: &str) -> Result<CommitmentDetail, ClientError> {
        self.record(format!("commitment {id}"));
        Ok(commitment_detail(id))
    }

    async fn resolve_commitment(
        &self,
        id: &str,
        action: &CommitmentAction,
    ) -> Result<CommitmentDetail, ClientError> {
        self.record(format!("resolve_commitment {id}"));
        self.resolutions
            .lock()
            .unwrap()
            .push((id.to_string(), action.clone()));
        match &self.refuse_with {
            Some(problem) => Err(ClientError::Problem(Box::new(problem.clone()))),
            None => Ok(commitment_detail(id)),
        }
    }

    async fn claim_commitment(
        &self,
        department: &str,
    ) -> Result<Option<CommitmentDetail>, ClientError> {
        self.record(format!("claim_commitment {department}"));
        if self.empty_queues.iter().any(|d| d == department) {
            return Ok(None);
        }
        let first = commitments()
            .into_iter()
            .filter(|c| c.department == department && c.status == CommitmentStatus::Pending)
            .min_by_key(|c| c.deadline);
        Ok(first.map(|mut c| {
            c.status = CommitmentStatus::InCheck;
            c.assignee = Some(mei().name);
            let mut detail = commitment_detail(&c.id);
            detail.commitment = c;
            detail
        }))
    }

    async fn kpis(&self) -> Result<Evaluation, ClientError> {
        self.record("kpis".to_string());
        Ok(kpis())
    }

    async fn audit_lookup(&self, verification_id: &str) -> Result<AuditView, ClientError> {
        self.record(format!("audit_lookup {verification_id}"));
        audit()
            .items
            .into_iter()
            .find(|item| item.verification_id == verification_id)
            .ok_or_else(|| {
                let detail = Some(verification_id.to_string());
                ClientError::Problem(Box::new(Problem::new(
                    404,
                    "audit.not_found",
                    "not found",
                    detail,
                )))
            })
    }
}

pub fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Presses each character of `keys` in turn; returns every effect asked for.
pub fn type_keys(state: &mut State, keys: &str) -> Vec<Effect> {
    keys.chars()
        .flat_map(|c| update(state, key(KeyCode::Char(c))))
        .collect()
}

pub fn press(state: &mut State, code: KeyCode) -> Vec<Effect> {
    update(state, key(code))
}

/// Runs effects against `api` and feeds what came back into `update`, until none is left.
pub async fn settle(state: &mut State, api: &FakeApi, mut effects: Vec<Effect>) {
    while let Some(effect) = effects.pop() {
        let data = perform(api, effect).await;
        effects.extend(update(state, Event::Data(data)));
    }
}

pub fn terminal(state: &State, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| render(state, frame)).unwrap();
    terminal
}

/// The screen as text, one quoted line per row (colours are checked separately).
pub fn screen(state: &State, width: u16, height: u16) -> String {
    terminal(state, width, height).backend().to_string()
}

/// The plan's targets over a week: material share over `plan` items meets 2022's 40 % but not
/// 2023's 60 %; certificates in use fall short of all 50.
pub fn kpis() -> Evaluation {
    let target = |year, target, all, met| TargetCheck {
        year,
        target,
        all,
        met: Some(met),
    };
    Evaluation {
        from: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        by: None,
        rows: vec![
            EvaluationRow {
                group: None,
                metric: "proof_material_share_rate".into(),
                title: "证明材料共享率 material share".into(),
                basis: "plan".into(),
                numerator: 5,
                denominator: 12,
                value: Some(5.0 / 12.0),
                unit: "share".into(),
                targets: vec![
                    target(2022, 0.4, false, true),
                    target(2023, 0.6, false, false),
                ],
            },
            EvaluationRow {
                group: None,
                metric: "proof_material_share_rate".into(),
                title: "证明材料共享率 material share".into(),
                basis: "assumed".into(),
                numerator: 0,
                denominator: 0,
                value: None,
                unit: "share".into(),
                targets: Vec::new(),
            },
            EvaluationRow {
                group: None,
                metric: "top_certificates_in_use".into(),
                title: "certificates in use".into(),
                basis: "all".into(),
                numerator: 3,
                denominator: 50,
                value: Some(3.0),
                unit: "count".into(),
                targets: vec![target(2025, 50.0, true, false)],
            },
        ],
    }
}
