//! The commitments desk (告知承诺): a service window records an applicant's signed commitment
//! for a material its materials answer (`POST /v1/materials`) said a commitment may replace;
//! the department that answers for the material checks it afterwards, by a deadline
//! (`commitments.check_days` in `config/gateway.toml`), and operators move it through
//! pending → in check → confirmed or false. The HTTP handlers ([`filing`], the admin routes in
//! `admin/api/commitments.rs`) only translate to and from this.
//!
//! A commitment is only as good as the answer it cites: the answer's audit entry (its
//! `verification_id` is the `materials_request_id`) must be the filing window's own, and must
//! have said `commitment_allowed` for the material, which the catalogue must still allow.

pub mod filing;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use rand::RngCore as _;
use store::{
    Commitment, CommitmentEvent, CommitmentFilter, CommitmentStatus, CommitmentTransitionError,
    Store, StoreError,
};
use wire::admin_api::CommitmentAction;
use wire::catalogue::model::{Material, ServiceItem, Supply};
use wire::catalogue::Catalogue;
use wire::materials_api::{CommitmentFiling, MaterialStatus};

use crate::error::Failure;
use crate::metrics::Metrics;

/// Longest `text_version`, in characters (visible ASCII only).
pub const MAX_TEXT_VERSION: usize = 32;
/// Longest reason or note an operator writes, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// The prefix of a materials answer's audit scenario: `item:<no>`.
const ITEM_SCENARIO: &str = "item:";

/// Records commitments and moves them through the post-check workflow.
#[derive(Debug, Clone)]
pub struct CommitmentDesk {
    pub store: Store,
    pub catalogue: Arc<Catalogue>,
    /// How long the department has to check one, from the filing (`commitments.check_days`).
    pub check_period: TimeDelta,
    pub metrics: Metrics,
}

/// The department that post-checks a commitment to `material` of `item`: for a certificate,
/// the department that answers for it — its first issuing department, today's routing rule for
/// the department of a certificate type (`CertificateType::departments[0]`); for a paper
/// material, the item's own department. `None` when the catalogue names no department.
pub fn checking_department(
    catalogue: &Catalogue,
    item: &ServiceItem,
    material: &Material,
) -> Option<String> {
    match &material.supply {
        Supply::Certificate(code) => catalogue
            .certificate(code)
            .and_then(|c| c.departments.first())
            .cloned(),
        Supply::Paper { .. } => Some(item.department.clone()),
    }
}

/// Whether `id` may have a post-check queue: a department of the catalogue, or the department
/// of a service item (a paper material's commitment is checked there, and an item's department
/// need not have a backend of its own).
pub fn is_checking_department(catalogue: &Catalogue, id: &str) -> bool {
    catalogue.department(id).is_some()
        || catalogue.service_items().iter().any(|i| i.department == id)
}

/// `cm-` + milliseconds since the epoch (hex) + random: time-ordered across nodes, unguessable.
fn commitment_id(at: DateTime<Utc>) -> String {
    let mut random = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut random);
    format!("cm-{:012x}{}", at.timestamp_millis(), hex::encode(random))
}

/// The version of the commitment text: 1–[`MAX_TEXT_VERSION`] visible ASCII characters.
fn text_version(text: &str) -> Result<(), Failure> {
    if text.is_empty()
        || text.len() > MAX_TEXT_VERSION
        || !text.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Failure::MalformedRequest(format!(
            "text_version must be 1–{MAX_TEXT_VERSION} visible ASCII characters (no spaces)"
        )));
    }
    Ok(())
}

/// The service item a materials answer's audit scenario (`item:<no>`) names.
fn item_of(scenario: &str) -> Option<u32> {
    scenario.strip_prefix(ITEM_SCENARIO)?.parse().ok()
}

/// An operator's text, trimmed: required, at most [`MAX_NOTE_CHARS`].
fn required(text: &str, what: &str) -> Result<String, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::MalformedRequest(format!(
            "{what} must not be empty"
        )));
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(Failure::MalformedRequest(format!(
            "{what} is longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(text.to_owned())
}

fn transition_failure(e: CommitmentTransitionError) -> Failure {
    match e {
        CommitmentTransitionError::NotFound(id) => Failure::Missing {
            what: "commitment",
            id,
        },
        CommitmentTransitionError::Store(e) => e.into(),
        other => Failure::Conflict(other.to_string()),
    }
}

impl CommitmentDesk {
    /// A desk on `store`, with the post-check period of `settings`.
    pub fn new(
        store: Store,
        catalogue: Arc<Catalogue>,
        settings: &crate::config::Commitments,
        metrics: Metrics,
    ) -> CommitmentDesk {
        CommitmentDesk {
            store,
            catalogue,
            check_period: settings.check_period(),
            metrics,
        }
    }

    /// Checks a filing by service window `venue` against the materials answer it cites, routes
    /// it to the department that checks it with the deadline, and stores it. Durable when this
    /// returns.
    pub async fn file(
        &self,
        venue: &str,
        filing: &CommitmentFiling,
        now: DateTime<Utc>,
    ) -> Result<Commitment, Failure> {
        text_version(&filing.text_version)?;
        if filing.material.is_empty() {
            return Err(Failure::MalformedRequest(
                "material must not be empty".into(),
            ));
        }
        let request = &filing.materials_request_id;
        // Another window's answer, or a verification's, is as unknown as no answer at all.
        let unknown = || Failure::Missing {
            what: "materials request",
            id: request.clone(),
        };
        let entry = self
            .store
            .audit_by_verification(request)
            .await?
            .ok_or_else(unknown)?;
        if entry.venue != venue {
            return Err(unknown());
        }
        let no = item_of(&entry.scenario).ok_or_else(unknown)?;
        let not_allowed = |why: String| Failure::CommitmentNotAllowed {
            material: filing.material.clone(),
            why,
        };
        let answered = entry
            .requirement_verdicts
            .iter()
            .find(|(material, _)| *material == filing.material)
            .map(|(_, status)| status.as_str())
            .ok_or_else(|| Failure::MaterialNotInRequest {
                request: request.clone(),
                material: filing.material.clone(),
            })?;
        if answered != MaterialStatus::CommitmentAllowed.as_str() {
            return Err(not_allowed(format!(
                "the materials answer said `{answered}`, not `commitment_allowed`"
            )));
        }
        let item = self.catalogue.service_item(no).ok_or_else(|| {
            not_allowed(format!("service item {no} is no longer in the catalogue"))
        })?;
        let material = item
            .material(&filing.material)
            .filter(|m| m.commitment)
            .ok_or_else(|| {
                not_allowed(format!(
                    "service item {no} allows no commitment for it in the catalogue"
                ))
            })?;
        let department = checking_department(&self.catalogue, item, material).ok_or_else(|| {
            Failure::Internal(format!(
                "material `{}` of item {no} has no department to check it",
                filing.material
            ))
        })?;
        let now = store::micros(now);
        let commitment = Commitment {
            id: commitment_id(now),
            created_at: now,
            materials_request_id: request.clone(),
            venue: venue.to_owned(),
            subject_hash: entry.subject_hash,
            item: no,
            material: filing.material.clone(),
            department,
            text_version: filing.text_version.clone(),
            status: CommitmentStatus::Pending,
            assignee: None,
            deadline: now + self.check_period,
            updated_at: now,
        };
        match self.store.create_commitment(&commitment).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Failure::CommitmentExists {
                    request: request.clone(),
                    material: filing.material.clone(),
                })
            }
            Err(e) => return Err(e.into()),
        }
        self.metrics.commitment(&commitment.department, "filed");
        tracing::info!(commitment = %commitment.id, department = %commitment.department,
            item = no, material = %commitment.material, "commitment recorded");
        Ok(commitment)
    }

    /// The catalogue the desk checks filings against.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// A commitment with its history.
    pub async fn detail(&self, id: &str) -> Result<(Commitment, Vec<CommitmentEvent>), Failure> {
        self.store
            .commitment(id)
            .await?
            .ok_or_else(|| Failure::Missing {
                what: "commitment",
                id: id.to_owned(),
            })
    }

    pub async fn list(&self, filter: &CommitmentFilter) -> Result<Vec<Commitment>, Failure> {
        Ok(self.store.list_commitments(filter).await?)
    }

    /// Per department: pending, in check, overdue at `now`, confirmed, found false.
    pub async fn counts(&self, now: DateTime<Utc>) -> Result<Vec<store::CommitmentCount>, Failure> {
        Ok(self.store.commitment_counts(now).await?)
    }

    /// The department's pending commitment with the oldest deadline, now in check for `actor`.
    pub async fn claim(&self, department: &str, actor: &str) -> Result<Option<String>, Failure> {
        if !is_checking_department(&self.catalogue, department) {
            return Err(Failure::Missing {
                what: "department",
                id: department.to_owned(),
            });
        }
        let actor = required(actor, "actor")?;
        let claimed = self.store.claim_next_commitment(department, &actor).await?;
        Ok(claimed.map(|c| c.id))
    }

    /// Resolves the commitment as `actor` (the signed-in operator) says; a pending one is first
    /// taken into check by `actor` (both steps are in the history). The commitment and its
    /// history afterwards.
    pub async fn act(
        &self,
        id: &str,
        actor: &str,
        action: &CommitmentAction,
    ) -> Result<(Commitment, Vec<CommitmentEvent>), Failure> {
        use CommitmentStatus::*;
        let actor = required(actor, "actor")?;
        let (to, note) = match action {
            CommitmentAction::Confirm { note } => (
                Confirmed,
                match note.as_deref().map(str::trim) {
                    None | Some("") => "confirmed".to_owned(),
                    Some(note) => required(note, "note")?,
                },
            ),
            CommitmentAction::MarkFalse { reason } => (False, required(reason, "reason")?),
        };
        let (current, _) = self.detail(id).await?;
        if current.status == Pending {
            self.store
                .transition_commitment(
                    id,
                    &[Pending],
                    InCheck,
                    &actor,
                    "taken into check to resolve",
                    Some(&actor),
                )
                .await
                .map_err(transition_failure)?;
        }
        let resolved = self
            .store
            .transition_commitment(id, &[InCheck], to, &actor, &note, None)
            .await
            .map_err(transition_failure)?;
        self.metrics.commitment(&resolved.department, to.as_str());
        tracing::info!(commitment = %id, department = %resolved.department, operator = %actor,
            status = %to, "commitment checked");
        self.detail(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An audit entry of `window-1` as `/v1/materials` leaves one (`scenario` `item:<no>` for a
    /// materials answer), saying a status of each material.
    async fn answered(
        store: &Store,
        seq: i64,
        id: &str,
        scenario: &str,
        statuses: &[(&str, &str)],
    ) {
        let record = store::AuditRecord {
            at: store::now(),
            node: "n".into(),
            venue: "window-1".into(),
            scenario: scenario.into(),
            certificates: Vec::new(),
            verdict: "commitment_allowed".into(),
            requirement_verdicts: statuses
                .iter()
                .map(|(m, s)| (m.to_string(), s.to_string()))
                .collect(),
            latency_us: 1,
            subject_hash: [9; 32],
            verification_id: id.into(),
            means: Default::default(),
            presented_by: None,
        };
        let entry = store::AuditEntry {
            chain: "n".into(),
            seq,
            record,
            prev_hash: [u8::try_from(seq - 1).expect("small"); 32],
            hash: [u8::try_from(seq).expect("small"); 32],
        };
        store.append_audit(&[entry]).await.expect("appended");
    }

    #[tokio::test]
    async fn a_filing_must_cite_an_answer_of_its_own_that_allowed_it() {
        store::testing::on_sqlite(|fx| async move {
            let store = fx.open().await;
            let desk = CommitmentDesk::new(
                store.clone(),
                Arc::new(Catalogue::embedded()),
                &crate::config::Commitments::default(),
                Metrics::new(),
            );
            // Said `commitment_allowed` of a material the catalogue allows none for (an answer
            // of an older catalogue, say), and of the paper one.
            let statuses = [
                ("resident-id-card", "commitment_allowed"),
                ("lease-or-residence-proof", "commitment_allowed"),
            ];
            answered(&store, 1, "m-1", "item:23", &statuses).await;
            answered(&store, 2, "v-1", "park-entry-senior", &statuses).await;
            let filing = |request: &str, material: &str| CommitmentFiling {
                materials_request_id: request.into(),
                material: material.into(),
                text_version: "2026-01".into(),
            };
            let now = Utc::now();
            let refused = desk
                .file("window-1", &filing("m-1", "resident-id-card"), now)
                .await
                .expect_err("the catalogue allows none");
            assert_eq!(refused.code(), "commitment.not_allowed", "{refused}");
            assert!(refused.to_string().contains("catalogue"), "{refused}");
            for (venue, request) in [("window-2", "m-1"), ("window-1", "v-1")] {
                let refused = desk
                    .file(venue, &filing(request, "lease-or-residence-proof"), now)
                    .await
                    .expect_err("not this window's answer, or not a materials answer");
                assert_eq!(refused.code(), "resource.not_found", "{refused}");
            }
            let recorded = desk
                .file("window-1", &filing("m-1", "lease-or-residence-proof"), now)
                .await
                .expect("recorded");
            assert_eq!(recorded.department, "public-security", "item 23's");
            assert_eq!(recorded.subject_hash, [9; 32]);
            assert_eq!(recorded.deadline, store::micros(now) + TimeDelta::days(20));
        })
        .await;
    }

    #[test]
    fn text_versions_are_short_visible_ascii() {
        assert!(text_version("2026-01").is_ok());
        assert!(text_version(&"v".repeat(MAX_TEXT_VERSION)).is_ok());
        for bad in ["", "2026 01", "版本1", "v\t1"] {
            assert!(text_version(bad).is_err(), "{bad:?}");
        }
        assert!(text_version(&"v".repeat(MAX_TEXT_VERSION + 1)).is_err());
    }

    #[test]
    fn ids_sort_by_time_and_scenarios_name_items() {
        let early = commitment_id(DateTime::from_timestamp(1_700_000_000, 0).expect("time"));
        let late = commitment_id(DateTime::from_timestamp(1_800_000_000, 0).expect("time"));
        assert!(early < late && early.starts_with("cm-"));
        assert_eq!(item_of("item:23"), Some(23));
        assert_eq!(item_of("item:"), None);
        assert_eq!(item_of("park-entry-senior"), None);
    }

    #[test]
    fn a_certificate_is_checked_by_its_department_and_paper_by_the_items() {
        let catalogue = Catalogue::embedded();
        let mut seen = (0, 0);
        for item in catalogue.service_items() {
            for material in &item.materials {
                let department = checking_department(&catalogue, item, material)
                    .unwrap_or_else(|| panic!("item {} `{}`", item.no, material.id()));
                assert!(
                    is_checking_department(&catalogue, &department),
                    "{department}"
                );
                match material.certificate() {
                    Some(code) => {
                        let issuer = &catalogue.certificate(code).expect("known").departments[0];
                        assert_eq!(&department, issuer);
                        seen.0 += 1;
                    }
                    None => {
                        assert_eq!(department, item.department);
                        seen.1 += 1;
                    }
                }
            }
        }
        assert!(seen.0 > 0 && seen.1 > 0, "{seen:?}");
        assert!(!is_checking_department(&catalogue, "no-such-department"));
    }
}
