//! The override store: changes an operator (or a test) makes to generated records — revoke,
//! suspend, reinstate, correct a field — held in memory for the life of the process and shared
//! by every backend it serves. The next query reflects a change; each change also becomes an
//! [`IssuerEvent`](wire::issuer_api::IssuerEvent) for the gateway (see [`crate::notify`]).
//!
//! A change to a certificate the holder does not hold is kept but has no effect: a register
//! cannot revoke what it never issued, and `not_found` stays `not_found`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use wire::issuer_api::{Change, FieldValue, Record, RecordStatus};

/// What an operator asks for, in `POST /admin/overrides`:
///
/// ```json
/// {"subject": "p-17", "certificate": "senior-citizen-card", "action": "revoke"}
/// {"subject": "p-17", "certificate": "driving-licence", "action": "correct",
///  "field": "penalty_points", "value": {"integer": 3}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideRequest {
    pub subject: String,
    pub certificate: String,
    #[serde(flatten)]
    pub action: Action,
}

/// One change to a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Revoke,
    Suspend,
    /// Lifts a revocation or suspension (generated or overridden); an expired record stays
    /// expired.
    Reinstate,
    Correct {
        field: String,
        value: FieldValue,
    },
}

impl Action {
    /// The change as the gateway is told about it.
    pub fn change(&self) -> Change {
        match self {
            Action::Revoke => Change::Revoked,
            Action::Suspend => Change::Suspended,
            Action::Reinstate => Change::Reinstated,
            Action::Correct { field, .. } => Change::Corrected {
                field: field.clone(),
            },
        }
    }
}

/// The status an override imposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusOverride {
    Revoked,
    Suspended,
    Reinstated,
}

/// Everything changed about one (subject, certificate), as `GET /admin/overrides` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub subject: String,
    pub certificate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusOverride>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub corrections: BTreeMap<String, FieldValue>,
    /// How many changes were made to this record.
    pub changes: u32,
    pub changed_at: DateTime<Utc>,
}

impl Override {
    /// Applies this override to a generated record of `today`.
    pub fn apply_to(&self, record: &mut Record, today: NaiveDate) {
        if record.status == RecordStatus::NotFound {
            return;
        }
        match self.status {
            Some(StatusOverride::Revoked) => record.status = RecordStatus::Revoked,
            Some(StatusOverride::Suspended) => record.status = RecordStatus::Suspended,
            Some(StatusOverride::Reinstated) => {
                if matches!(
                    record.status,
                    RecordStatus::Revoked | RecordStatus::Suspended
                ) {
                    let ended = record.valid_until.is_some_and(|u| u < today);
                    record.status = if ended {
                        RecordStatus::Expired
                    } else {
                        RecordStatus::Valid
                    };
                }
            }
            None => {}
        }
        for (field, value) in &self.corrections {
            record.fields.insert(field.clone(), value.clone());
        }
    }
}

/// The store: subject → certificate → override. Nested so a query looks up with borrowed
/// keys, without allocating.
#[derive(Debug, Default)]
pub struct OverrideStore {
    by_subject: RwLock<HashMap<String, HashMap<String, Override>>>,
    count: AtomicUsize,
}

impl OverrideStore {
    pub fn new() -> OverrideStore {
        OverrideStore::default()
    }

    /// Records a change and returns the override as it now stands.
    pub fn apply(&self, req: &OverrideRequest, at: DateTime<Utc>) -> Override {
        let mut map = self.by_subject.write().unwrap_or_else(|e| e.into_inner());
        let entry = map
            .entry(req.subject.clone())
            .or_default()
            .entry(req.certificate.clone())
            .or_insert_with(|| {
                self.count.fetch_add(1, Ordering::Relaxed);
                Override {
                    subject: req.subject.clone(),
                    certificate: req.certificate.clone(),
                    status: None,
                    corrections: BTreeMap::new(),
                    changes: 0,
                    changed_at: at,
                }
            });
        match &req.action {
            Action::Revoke => entry.status = Some(StatusOverride::Revoked),
            Action::Suspend => entry.status = Some(StatusOverride::Suspended),
            Action::Reinstate => entry.status = Some(StatusOverride::Reinstated),
            Action::Correct { field, value } => {
                entry.corrections.insert(field.clone(), value.clone());
            }
        }
        entry.changes += 1;
        entry.changed_at = at;
        entry.clone()
    }

    /// Applies any override of `record`'s (subject, certificate).
    pub fn overlay(&self, record: &mut Record, today: NaiveDate) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let map = self.by_subject.read().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = map
            .get(&record.subject)
            .and_then(|by_cert| by_cert.get(&record.certificate))
        {
            o.apply_to(record, today);
        }
    }

    /// Every override, by subject then certificate.
    pub fn list(&self) -> Vec<Override> {
        let map = self.by_subject.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<Override> = map.values().flat_map(|m| m.values().cloned()).collect();
        all.sort_by(|a, b| (&a.subject, &a.certificate).cmp(&(&b.subject, &b.certificate)));
        all
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, d).expect("date")
    }

    fn record(status: RecordStatus) -> Record {
        let mut r = Record::not_found("senior-citizen-card", "health", "p-1", Utc::now());
        r.status = status;
        r.valid_from = Some(day(1));
        r.valid_until = Some(day(20));
        r
    }

    fn req(action: Action) -> OverrideRequest {
        OverrideRequest {
            subject: "p-1".into(),
            certificate: "senior-citizen-card".into(),
            action,
        }
    }

    #[test]
    fn revoke_then_reinstate() {
        let store = OverrideStore::new();
        let mut r = record(RecordStatus::Valid);
        store.overlay(&mut r, day(10));
        assert_eq!(r.status, RecordStatus::Valid);

        store.apply(&req(Action::Revoke), Utc::now());
        let mut r = record(RecordStatus::Valid);
        store.overlay(&mut r, day(10));
        assert_eq!(r.status, RecordStatus::Revoked);

        let o = store.apply(&req(Action::Reinstate), Utc::now());
        assert_eq!(o.changes, 2);
        let mut r = record(RecordStatus::Valid);
        store.overlay(&mut r, day(10));
        assert_eq!(r.status, RecordStatus::Valid);
        // A generated revocation is lifted too, but an ended term stays expired.
        let mut r = record(RecordStatus::Revoked);
        store.overlay(&mut r, day(25));
        assert_eq!(r.status, RecordStatus::Expired);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn corrections_replace_fields_and_not_found_stays() {
        let store = OverrideStore::new();
        store.apply(
            &req(Action::Correct {
                field: "card_number".into(),
                value: FieldValue::Text("42".into()),
            }),
            Utc::now(),
        );
        store.apply(&req(Action::Suspend), Utc::now());
        let mut r = record(RecordStatus::Valid);
        store.overlay(&mut r, day(10));
        assert_eq!(r.status, RecordStatus::Suspended);
        assert_eq!(r.fields["card_number"], FieldValue::Text("42".into()));

        let mut nf = Record::not_found("senior-citizen-card", "health", "p-1", Utc::now());
        store.overlay(&mut nf, day(10));
        assert_eq!(nf.status, RecordStatus::NotFound);
        assert!(nf.fields.is_empty());

        let mut other = record(RecordStatus::Valid);
        other.subject = "p-2".into();
        store.overlay(&mut other, day(10));
        assert_eq!(other.status, RecordStatus::Valid);
        assert_eq!(store.list().len(), 1);
    }

    #[test]
    fn requests_parse_from_json() {
        let r: OverrideRequest = serde_json::from_str(
            r#"{"subject":"p","certificate":"c","action":"correct","field":"f","value":{"integer":3}}"#,
        )
        .expect("json");
        assert_eq!(
            r.action,
            Action::Correct {
                field: "f".into(),
                value: FieldValue::Integer(3)
            }
        );
        assert!(serde_json::from_str::<OverrideRequest>(
            r#"{"subject":"p","certificate":"c","action":"burn"}"#
        )
        .is_err());
    }
}
