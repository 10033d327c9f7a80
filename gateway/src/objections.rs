//! The objection desk ("异议"): filing rules, routing to the issuing department with its
//! deadline, and the operators' workflow with its side effects. The HTTP handlers
//! (`POST /v1/objections`, the admin routes) only translate to and from this.
//!
//! A resolution "corrected" drops the cached answers for (holder, certificate) on every node
//! ([`Invalidations`]) and, when the operator gives the corrected value and the holder's handle
//! is known, tells the department's backend ([`DepartmentAdmin`]). What happened is added to
//! the objection's history.

use std::sync::Arc;

use chrono::{DateTime, Duration as Span, Utc};
use rand::RngCore as _;
use store::{
    Channel, FiledBy, Objection, ObjectionEvent, ObjectionFilter, Status, Store, TransitionError,
};
use wire::admin_api::{Correction, ObjectionAction};
use wire::catalogue::Catalogue;

use crate::departments::corrections::DepartmentAdmin;
use crate::departments::invalidation::Invalidations;
use crate::error::Failure;

/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// The actor recorded for what the gateway itself does after a resolution.
const GATEWAY_ACTOR: &str = "gateway";

/// Who is filing.
#[derive(Debug, Clone)]
pub enum Filer {
    /// A venue, authenticated by its key.
    Venue { id: String },
    /// A holder, authenticated by a fresh code of their own.
    Holder,
}

/// The holder an objection is about, when a code named them.
#[derive(Debug, Clone)]
pub struct Holder {
    pub handle: String,
    pub hash: [u8; 32],
}

/// One objection as filed, before the desk checks it.
#[derive(Debug, Clone)]
pub struct Filing {
    pub filer: Filer,
    pub holder: Option<Holder>,
    /// The holder's code to spend with the filing, in its transaction (a holder filing with a
    /// code of their own); `None` when nothing is spent (a venue's filing).
    pub spends: Option<CodeSpend>,
    pub verification_id: Option<String>,
    pub certificate: Option<String>,
    pub channel: String,
    pub description: String,
}

/// A code spent by a filing: its spent-code key, and the node that spends it.
#[derive(Debug, Clone)]
pub struct CodeSpend {
    pub spend: store::Spend,
    pub node: String,
}

/// Files objections and moves them through the workflow.
#[derive(Debug, Clone)]
pub struct ObjectionDesk {
    pub store: Store,
    pub catalogue: Arc<Catalogue>,
    pub invalidations: Invalidations,
    pub departments: DepartmentAdmin,
}

fn transition_failure(e: TransitionError) -> Failure {
    match e {
        TransitionError::NotFound(id) => Failure::Missing {
            what: "objection",
            id,
        },
        TransitionError::Store(e) => e.into(),
        other => Failure::Conflict(other.to_string()),
    }
}

/// `obj-` + milliseconds since the epoch (hex) + random: time-ordered across nodes, unguessable.
fn objection_id(at: DateTime<Utc>) -> String {
    let mut random = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut random);
    format!("obj-{:012x}{}", at.timestamp_millis(), hex::encode(random))
}

fn required(text: &str, what: &str) -> Result<String, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::MalformedRequest(format!(
            "{what} must not be empty"
        )));
    }
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Failure::MalformedRequest(format!(
            "{what} is longer than {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    Ok(text.to_owned())
}

impl ObjectionDesk {
    /// Checks a filing, routes it to the issuing department with that department's deadline,
    /// and stores it. Durable when this returns.
    pub async fn file(&self, filing: Filing, now: DateTime<Utc>) -> Result<Objection, Failure> {
        let (channel, description) = self.precheck(
            &filing.channel,
            &filing.description,
            filing.certificate.as_deref(),
        )?;
        let (subject_hash, certificate) = match &filing.verification_id {
            Some(id) => self.concerned_by_verification(&filing, id).await?,
            None => {
                let holder = filing.holder.as_ref().ok_or_else(|| {
                    Failure::MalformedRequest(
                        "name the verification (`verification_id`) or show the holder's code (`code`)".into(),
                    )
                })?;
                let certificate = filing.certificate.clone().ok_or_else(|| {
                    Failure::MalformedRequest(
                        "`certificate` is required without a verification".into(),
                    )
                })?;
                (holder.hash, certificate)
            }
        };
        let certificate_type =
            self.catalogue
                .certificate(&certificate)
                .ok_or_else(|| Failure::Missing {
                    what: "certificate type",
                    id: certificate.clone(),
                })?;
        let department = self
            .holding_department(subject_hash, certificate_type)
            .ok_or_else(|| {
                Failure::Internal(format!("`{certificate}` has no issuing department"))
            })?;
        let now = store::micros(now);
        let (filed_by, filer) = match &filing.filer {
            Filer::Venue { id } => (FiledBy::Venue, id.clone()),
            Filer::Holder => (FiledBy::Holder, "holder".to_owned()),
        };
        let objection = Objection {
            id: objection_id(now),
            created_at: now,
            channel,
            filed_by,
            filer,
            verification_id: filing.verification_id.clone(),
            certificate,
            department: department.id.clone(),
            subject_hash,
            subject: filing.holder.as_ref().map(|h| h.handle.clone()),
            description,
            status: Status::Open,
            assignee: None,
            deadline: now + Span::hours(i64::from(department.objection_sla_hours)),
            updated_at: now,
        };
        let spends = filing.spends.as_ref().map(|c| store::SpendBy {
            spend: &c.spend,
            node: &c.node,
            at: now,
        });
        if let Some(first) = self
            .store
            .create_objection_spending(&objection, spends)
            .await
            .map_err(Failure::from)?
        {
            return Err(Failure::CodeReplayed {
                node: first.node,
                at: first.at,
            });
        }
        tracing::info!(objection = %objection.id, department = %objection.department,
            certificate = %objection.certificate, "objection filed");
        Ok(objection)
    }

    /// The department that holds the holder's record of `certificate`, which the objection goes
    /// to: the one its index located it at, or whose answer is cached (the national hub's, for
    /// a holder of another province) — known for a day after the verification, when objections
    /// are filed; the type's first department once neither is.
    fn holding_department(
        &self,
        subject_hash: [u8; 32],
        certificate: &wire::catalogue::model::CertificateType,
    ) -> Option<&wire::catalogue::model::Department> {
        let records = self.invalidations.records();
        let key = crate::departments::cache::RecordKey::new(subject_hash, &certificate.code);
        let known = records
            .location(&key)
            .map(|l| l.department.to_string())
            .or_else(|| {
                records
                    .get_if(&key, |_, _| true)
                    .map(|c| c.record.department.clone())
            })
            .filter(|d| {
                certificate.departments.contains(d)
                    || self
                        .catalogue
                        .national_hub()
                        .is_some_and(|hub| &hub.id == d)
            });
        known
            .as_deref()
            .or(certificate.departments.first().map(String::as_str))
            .and_then(|d| self.catalogue.department(d))
    }

    /// What can be checked before anyone is authenticated (so a holder's code is not spent on
    /// a filing refused for its form): the channel, the description, the certificate type.
    pub fn precheck(
        &self,
        channel: &str,
        description: &str,
        certificate: Option<&str>,
    ) -> Result<(Channel, String), Failure> {
        let channel: Channel = channel.parse().map_err(|e: String| {
            Failure::MalformedRequest(format!("channel: {e} (app, hall or hotline)"))
        })?;
        let description = required(description, "description")?;
        if let Some(c) = certificate {
            if self.catalogue.certificate(c).is_none() {
                return Err(Failure::Missing {
                    what: "certificate type",
                    id: c.to_owned(),
                });
            }
        }
        Ok((channel, description))
    }

    /// The holder and certificate a verification concerns, as far as this filer may see it: a
    /// venue only its own verifications, a holder only their own (anything else is "not found").
    async fn concerned_by_verification(
        &self,
        filing: &Filing,
        id: &str,
    ) -> Result<([u8; 32], String), Failure> {
        let not_found = || Failure::Missing {
            what: "verification",
            id: id.to_owned(),
        };
        let entry = self
            .store
            .audit_by_verification(id)
            .await
            .map_err(Failure::from)?
            .ok_or_else(not_found)?;
        match (&filing.filer, &filing.holder) {
            (Filer::Venue { id: venue }, _) if *venue != entry.venue => return Err(not_found()),
            (Filer::Holder, Some(holder)) if holder.hash != entry.subject_hash => {
                return Err(not_found())
            }
            (Filer::Venue { .. }, Some(holder)) if holder.hash != entry.subject_hash => {
                return Err(Failure::Unprocessable(
                    "the code shown is not the code of the verified holder".into(),
                ))
            }
            _ => {}
        }
        let certificate = match &filing.certificate {
            Some(c) if entry.certificates.contains(c) => c.clone(),
            Some(c) => {
                return Err(Failure::Unprocessable(format!(
                    "verification `{id}` did not ask for `{c}` (it asked for {})",
                    entry.certificates.join(", ")
                )))
            }
            None => match entry.certificates.as_slice() {
                [only] => only.clone(),
                several => {
                    return Err(Failure::Unprocessable(format!(
                        "name the `certificate`: verification `{id}` asked for {}",
                        several.join(", ")
                    )))
                }
            },
        };
        Ok((entry.subject_hash, certificate))
    }

    /// An objection with its history.
    pub async fn detail(&self, id: &str) -> Result<(Objection, Vec<ObjectionEvent>), Failure> {
        self.store
            .objection(id)
            .await
            .map_err(Failure::from)?
            .ok_or_else(|| Failure::Missing {
                what: "objection",
                id: id.to_owned(),
            })
    }

    pub async fn list(&self, filter: &ObjectionFilter) -> Result<Vec<Objection>, Failure> {
        self.store
            .list_objections(filter)
            .await
            .map_err(Failure::from)
    }

    /// The department's next open objection, now in review for `actor`.
    pub async fn claim(&self, department: &str, actor: &str) -> Result<Option<String>, Failure> {
        if self.catalogue.department(department).is_none() {
            return Err(Failure::Missing {
                what: "department",
                id: department.to_owned(),
            });
        }
        let actor = required(actor, "actor")?;
        let claimed = self
            .store
            .claim_next(department, &actor)
            .await
            .map_err(Failure::from)?;
        Ok(claimed.map(|o| o.id))
    }

    /// Applies `actor`'s action (the signed-in operator's name: an `actor` in the action itself
    /// is ignored); the objection and its history afterwards.
    pub async fn act(
        &self,
        id: &str,
        actor: &str,
        action: &ObjectionAction,
    ) -> Result<(Objection, Vec<ObjectionEvent>), Failure> {
        use Status::*;
        let actor = required(actor, "actor")?;
        match action {
            ObjectionAction::Assign { assignee, .. } => {
                let assignee = required(assignee, "assignee")?;
                self.store
                    .transition(
                        id,
                        &[Open, InReview],
                        InReview,
                        &actor,
                        &format!("assigned to {assignee}"),
                        Some(&assignee),
                    )
                    .await
                    .map_err(transition_failure)?;
            }
            ObjectionAction::Note { note, .. } => {
                let note = required(note, "note")?;
                self.store
                    .append_note(id, &actor, &note)
                    .await
                    .map_err(Failure::from)?;
            }
            ObjectionAction::ResolveCorrected {
                note, correction, ..
            } => {
                let objection = self.resolve(id, &actor, note, ResolvedCorrected).await?;
                self.after_correction(&objection, correction.as_ref()).await;
            }
            ObjectionAction::ResolveUpheld { note, .. } => {
                self.resolve(id, &actor, note, ResolvedUpheld).await?;
            }
            ObjectionAction::Reject { reason, .. } => {
                let reason = required(reason, "reason")?;
                self.store
                    .transition(id, &[Open, InReview], Rejected, &actor, &reason, None)
                    .await
                    .map_err(transition_failure)?;
            }
        }
        self.detail(id).await
    }

    /// Resolves as `to`; an open objection is first taken into review by the resolving operator
    /// (both steps are in the history).
    async fn resolve(
        &self,
        id: &str,
        actor: &str,
        note: &str,
        to: Status,
    ) -> Result<Objection, Failure> {
        let actor = required(actor, "actor")?;
        let note = required(note, "note")?;
        let (current, _) = self.detail(id).await?;
        if current.status == Status::Open {
            self.store
                .transition(
                    id,
                    &[Status::Open],
                    Status::InReview,
                    &actor,
                    "taken into review to resolve",
                    Some(&actor),
                )
                .await
                .map_err(transition_failure)?;
        }
        self.store
            .transition(id, &[Status::InReview], to, &actor, &note, None)
            .await
            .map_err(transition_failure)
    }

    /// Drops the cached answers everywhere and tells the department; notes what happened.
    async fn after_correction(&self, objection: &Objection, correction: Option<&Correction>) {
        let mut notes = Vec::new();
        match self
            .invalidations
            .publish(objection.subject_hash, &objection.certificate)
            .await
        {
            Ok(()) => notes.push("cached answers dropped on every node".to_owned()),
            Err(e) => notes.push(format!(
                "cached answers dropped on this node only (the others could not be told: {e})"
            )),
        }
        match (correction, &objection.subject) {
            (None, _) => notes.push(
                "no corrected value given: the department corrects the record in its own system"
                    .to_owned(),
            ),
            (Some(_), None) => notes.push(
                "the department's backend was not told: the holder is known only by hash".into(),
            ),
            (Some(correction), Some(subject)) => {
                match self
                    .departments
                    .correct(
                        &objection.department,
                        subject,
                        &objection.certificate,
                        correction,
                    )
                    .await
                {
                    Ok(event) => notes.push(format!(
                        "department backend told: `{}` corrected (its change event {event})",
                        correction.field
                    )),
                    Err(e) => {
                        tracing::warn!(objection = %objection.id, error = %e, "could not tell the department");
                        notes.push(format!("the department's backend could not be told: {e}"))
                    }
                }
            }
        }
        if let Err(e) = self
            .store
            .append_note(&objection.id, GATEWAY_ACTOR, &notes.join("; "))
            .await
        {
            tracing::warn!(objection = %objection.id, error = %e, "could not note the correction's effects");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_texts_are_bounded() {
        let early = objection_id(DateTime::from_timestamp(1_700_000_000, 0).expect("time"));
        let late = objection_id(DateTime::from_timestamp(1_800_000_000, 0).expect("time"));
        assert!(early < late);
        assert!(early.starts_with("obj-"));
        assert_eq!(required("  x ", "note").ok().as_deref(), Some("x"));
        assert!(required("   ", "note").is_err());
        assert!(required(&"字".repeat(MAX_DESCRIPTION_CHARS + 1), "note").is_err());
        assert!(required(&"字".repeat(MAX_DESCRIPTION_CHARS), "note").is_ok());
    }
}
