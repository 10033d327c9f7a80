//! The plan's targets measured from traffic (证明材料共享率, 表单字段共享率,
//! 数据共享有效需求满足率, certificates in use, …): what the verify path, the materials path and
//! the commitments desk count, buffered on the node and added to the store's counters
//! (`store::kpis`) that every node shares, so every node and a restart see the same figures.
//!
//! - [`KpiRecorder`] — the cheap handle the paths count on: [`KpiRecorder::verify`],
//!   [`KpiRecorder::materials`], [`KpiRecorder::commitment`], and the fetch stage's seal
//!   checks ([`SealChecks`], which the fetch stage reports to without knowing this module).
//!   Each adds to a sharded map keyed by small indexes (no lock held across an await, no
//!   allocation but a new key's slot).
//! - The flush: every [`FLUSH_EVERY`] and once at shutdown ([`KpiRecorder::flush`]) the map's
//!   rows are taken out as one batch named `node/boot/sequence` and added to the store in one
//!   transaction. A batch that fails stays pending and is sent again, under the same name,
//!   before anything newer: the store refuses a name it committed already, so a retry after a
//!   lost commit answer adds nothing twice, and nothing is lost meanwhile.
//! - [`evaluate`] — the figures from the counters: the formulas, once.
//! - [`format`] — the evaluation table as Markdown or CSV.
//!
//! The formulas and what each counter means are in the README ("Targets measured from
//! traffic").

pub mod evaluate;
pub mod format;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use dashmap::DashMap;
use store::{KpiCounts, KpiKey, Store, StoreError};
use tokio::task::JoinHandle;
use wire::catalogue::model::{Backend, BackendScope, CityCode, MaterialsSource, ServiceItem};
use wire::catalogue::Catalogue;
use wire::issuer_api::RecordStatus;
use wire::materials_api::MaterialStatus;

use crate::admin::rollout::Rollout;
use crate::shutdown::Shutdown;
use crate::verify::fetch::{Answer, SealChecks};
use crate::verify::resolve::Planned;

/// How often a node adds what it counted to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// How long the store remembers a committed batch's name: a node retries for seconds.
const REMEMBER_BATCHES: chrono::TimeDelta = chrono::TimeDelta::days(2);

/// A buffered row's key: indexes into the recorder's tables, so counting allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Slot {
    day: NaiveDate,
    city: CityCode,
    department: u16,
    /// 0: over a whole service item; `n`: the catalogue's certificate `n - 1`.
    certificate: u16,
    source: Source,
}

/// The materials source of the row's service item, or none on the verify path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Verify,
    Plan,
    Assumed,
}

impl Source {
    fn of(source: MaterialsSource) -> Source {
        match source {
            MaterialsSource::Plan => Source::Plan,
            MaterialsSource::Assumed => Source::Assumed,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Source::Verify => "",
            Source::Plan => "plan",
            Source::Assumed => "assumed",
        }
    }
}

/// A batch taken out of the buffer and not yet committed.
#[derive(Debug)]
struct Batch {
    name: String,
    rows: Vec<(KpiKey, KpiCounts)>,
}

#[derive(Debug, Default)]
struct Flushing {
    sequence: u64,
    pending: Option<Batch>,
}

struct Inner {
    store: Store,
    catalogue: Arc<Catalogue>,
    rollout: Arc<Rollout>,
    /// `node/boot`: with a sequence number, names each batch uniquely across restarts.
    origin: String,
    /// Department ids (the catalogue's, then the service items' own), and their index.
    departments: Vec<String>,
    department_index: HashMap<String, u16>,
    certificate_index: HashMap<String, u16>,
    buffer: DashMap<Slot, KpiCounts>,
    /// Held by one flush at a time, across its store call (never on the request paths).
    flushing: tokio::sync::Mutex<Flushing>,
}

/// The node's KPI counters. Cheap to clone.
#[derive(Clone)]
pub struct KpiRecorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KpiRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KpiRecorder")
            .field("origin", &self.inner.origin)
            .field("buffered", &self.inner.buffer.len())
            .finish()
    }
}

/// One requirement's outcome on the verify path.
fn count_answer(counts: &mut KpiCounts, answer: Option<&Answer>) {
    match answer {
        None => counts.not_offered += 1,
        Some(Answer::Record { record, .. }) => {
            counts.asked += 1;
            counts.answered += 1;
            if record.status == RecordStatus::NotFound {
                counts.not_found += 1;
            }
        }
        Some(Answer::Unavailable(_)) => {
            counts.asked += 1;
            counts.unavailable += 1;
        }
    }
}

/// How many distinct strings `fields` yields, without allocating (a form has tens of fields).
fn distinct<'a, I>(fields: I) -> usize
where
    I: Iterator<Item = &'a str> + Clone,
{
    fields
        .clone()
        .enumerate()
        .filter(|&(i, field)| !fields.clone().take(i).any(|earlier| earlier == field))
        .count()
}

impl KpiRecorder {
    /// A recorder adding to `store`, for node `node`.
    pub fn new(
        store: Store,
        catalogue: Arc<Catalogue>,
        rollout: Arc<Rollout>,
        node: &str,
    ) -> KpiRecorder {
        let mut departments: Vec<String> = Vec::new();
        let own = catalogue.departments().iter().map(|d| d.id.as_str());
        let items = catalogue
            .service_items()
            .iter()
            .map(|i| i.department.as_str());
        for id in own.chain(items) {
            if !departments.iter().any(|d| d == id) {
                departments.push(id.to_owned());
            }
        }
        let department_index = departments
            .iter()
            .enumerate()
            .map(|(i, d)| (d.clone(), i as u16))
            .collect();
        let certificate_index = catalogue
            .certificates()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.code.clone(), i as u16 + 1))
            .collect();
        KpiRecorder {
            inner: Arc::new(Inner {
                store,
                catalogue,
                rollout,
                origin: format!("{node}/{:016x}", rand::random::<u64>()),
                departments,
                department_index,
                certificate_index,
                buffer: DashMap::new(),
                flushing: tokio::sync::Mutex::new(Flushing::default()),
            }),
        }
    }

    fn department(&self, id: &str) -> Option<u16> {
        self.inner.department_index.get(id).copied()
    }

    fn certificate(&self, code: &str) -> Option<u16> {
        self.inner.certificate_index.get(code).copied()
    }

    /// Adds to one row of the buffer.
    fn add(&self, slot: Slot, count: impl FnOnce(&mut KpiCounts)) {
        count(&mut self.inner.buffer.entry(slot).or_default());
    }

    /// The verify path, after the decisions: per requirement of `plan`, its answer (`None`
    /// where the rollout plan did not offer it), counted for the answering department in the
    /// holder's (or venue's) `city` on `day`.
    pub fn verify(
        &self,
        day: NaiveDate,
        city: CityCode,
        plan: &[Planned<'_>],
        answers: &[Option<&Answer>],
    ) {
        for (planned, answer) in plan.iter().zip(answers) {
            // The department that answered (a record held by a type's second department, or
            // located in another city, says so), else the one it was routed to by default.
            let answering = match answer {
                Some(Answer::Record { record, .. }) => record.department.as_str(),
                _ => planned.backend.department.as_str(),
            };
            let (Some(department), Some(certificate)) = (
                self.department(answering),
                self.certificate(&planned.certificate.code),
            ) else {
                continue;
            };
            let slot = Slot {
                day,
                city,
                department,
                certificate,
                source: Source::Verify,
            };
            self.add(slot, |counts| count_answer(counts, *answer));
        }
    }

    /// The materials path, once per answered materials request: `statuses[i]` is what became
    /// of `item.materials[i]`. Counts the item's materials and form fields, and per
    /// certificate material the data-sharing request (a material not provided whose
    /// certificate the rollout plan offers in `city` was asked and answered without a valid
    /// record; one it does not offer was not asked).
    pub fn materials(
        &self,
        day: NaiveDate,
        city: CityCode,
        item: &ServiceItem,
        statuses: &[MaterialStatus],
    ) {
        let Some(item_department) = self.department(&item.department) else {
            return;
        };
        let source = Source::of(item.source);
        let provided = |i: usize| statuses.get(i) == Some(&MaterialStatus::Provided);
        let all_fields = item
            .materials
            .iter()
            .flat_map(|m| m.fields.iter())
            .chain(item.applicant_fields.iter())
            .map(String::as_str);
        let filled_fields = item
            .materials
            .iter()
            .enumerate()
            .filter(|&(i, _)| provided(i))
            .flat_map(|(_, m)| m.fields.iter())
            .map(String::as_str);
        let (fields, filled) = (distinct(all_fields), distinct(filled_fields));
        let slot = Slot {
            day,
            city,
            department: item_department,
            certificate: 0,
            source,
        };
        self.add(slot, |counts| {
            counts.materials_requests += 1;
            counts.materials_required += item.materials.len() as u64;
            counts.materials_provided +=
                (0..item.materials.len()).filter(|&i| provided(i)).count() as u64;
            counts.form_fields += fields as u64;
            counts.form_fields_filled += filled as u64;
        });
        for (material, status) in item.materials.iter().zip(statuses) {
            let Some(code) = material.certificate() else {
                continue;
            };
            let Some(certificate) = self.certificate(code) else {
                continue;
            };
            let department = self
                .answering_department(code, city)
                .unwrap_or(item_department);
            let slot = Slot {
                day,
                city,
                department,
                certificate,
                source,
            };
            let offered = || self.inner.rollout.offered_for_items(code, city, day);
            self.add(slot, |counts| match status {
                MaterialStatus::Provided => {
                    counts.asked += 1;
                    counts.answered += 1;
                }
                MaterialStatus::Unavailable => {
                    counts.asked += 1;
                    counts.unavailable += 1;
                }
                MaterialStatus::CommitmentAllowed | MaterialStatus::MustPresent => {
                    if offered() {
                        counts.asked += 1;
                        counts.answered += 1;
                    } else {
                        counts.not_offered += 1;
                    }
                }
            });
        }
    }

    /// The department whose backend answers for `certificate` in `city`.
    fn answering_department(&self, certificate: &str, city: CityCode) -> Option<u16> {
        let catalogue = &self.inner.catalogue;
        let backend = catalogue.backend_for(certificate, Some(city)).ok();
        let id = match backend {
            Some(backend) => backend.department.as_str(),
            None => catalogue
                .certificate(certificate)?
                .departments
                .first()?
                .as_str(),
        };
        self.department(id)
    }

    /// A commitment (告知承诺) recorded in place of one of `item`'s materials, to be checked
    /// by `department`.
    pub fn commitment(&self, day: NaiveDate, city: CityCode, item: &ServiceItem, department: &str) {
        let Some(department) = self.department(department) else {
            return;
        };
        let slot = Slot {
            day,
            city,
            department,
            certificate: 0,
            source: Source::of(item.source),
        };
        self.add(slot, |counts| counts.materials_committed += 1);
    }
}

impl SealChecks for KpiRecorder {
    /// The fetch stage: a record `backend` sent for `certificate` on `day`, and whether it
    /// passed the seal check (seal, holder and type, freshness, well-formed content). Counted in
    /// the backend's city (0 for a province-level or national backend).
    fn seal_checked(&self, day: NaiveDate, backend: &Backend, certificate: &str, passed: bool) {
        let (Some(department), Some(certificate)) = (
            self.department(&backend.department),
            self.certificate(certificate),
        ) else {
            return;
        };
        let city = match backend.scope {
            BackendScope::City(city) => city,
            BackendScope::Province | BackendScope::National => 0,
        };
        let slot = Slot {
            day,
            city,
            department,
            certificate,
            source: Source::Verify,
        };
        self.add(slot, |counts| {
            counts.records_received += 1;
            if passed {
                counts.seal_verified += 1;
            }
        });
    }
}

impl KpiRecorder {
    /// Takes every buffered row out. An increment racing with this lands in the shard's next
    /// row, for the next flush: nothing is lost and nothing counted twice.
    fn take(&self) -> Vec<(KpiKey, KpiCounts)> {
        let inner = &self.inner;
        let mut rows = Vec::new();
        inner.buffer.retain(|slot, counts| {
            if !counts.is_zero() {
                rows.push((self.key(slot), *counts));
            }
            false
        });
        rows
    }

    fn key(&self, slot: &Slot) -> KpiKey {
        let inner = &self.inner;
        let certificate = match slot.certificate {
            0 => String::new(),
            n => inner.catalogue.certificates()[usize::from(n) - 1]
                .code
                .clone(),
        };
        KpiKey {
            day: slot.day,
            city: slot.city,
            department: inner.departments[usize::from(slot.department)].clone(),
            certificate,
            source: slot.source.as_str().to_owned(),
        }
    }

    /// Adds what was counted to the store: first a batch still pending from a failed flush
    /// (under its own name), then everything counted since. Returns the rows committed; on an
    /// error what was not committed stays for the next flush.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let mut flushing = inner.flushing.lock().await;
        let mut committed = 0;
        // The pending batch (if any), then one batch of what was counted since: bounded, so
        // steady traffic cannot keep a flush going.
        for _ in 0..2 {
            if flushing.pending.is_none() {
                let rows = self.take();
                if rows.is_empty() {
                    break;
                }
                flushing.sequence += 1;
                let name = format!("{}/{}", inner.origin, flushing.sequence);
                flushing.pending = Some(Batch { name, rows });
            }
            let Some(batch) = &flushing.pending else {
                break;
            };
            // `Ok(false)`: committed by an earlier attempt whose answer was lost.
            inner
                .store
                .add_kpi_counts(&batch.name, store::now(), &batch.rows)
                .await?;
            committed += batch.rows.len();
            flushing.pending = None;
        }
        Ok(committed)
    }

    /// Spawns the task that flushes every `every` until the shutdown starts (the last flush is
    /// [`crate::app::Gateway::run`]'s, after the listeners drained), and forgets old batch
    /// names once an hour.
    pub fn spawn_flusher(&self, every: Duration, shutdown: Shutdown) -> JoinHandle<()> {
        let recorder = self.clone();
        tokio::spawn(async move {
            let mut tick = shutdown.every(every);
            let mut last_prune: Option<tokio::time::Instant> = None;
            while tick.tick().await {
                if let Err(e) = recorder.flush().await {
                    tracing::warn!(error = %e, "cannot add the KPI counters to the store; kept for the next flush");
                    continue;
                }
                if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                    last_prune = Some(tokio::time::Instant::now());
                    let before = Utc::now() - REMEMBER_BATCHES;
                    if let Err(e) = recorder.inner.store.prune_kpi_flushes(before).await {
                        tracing::warn!(error = %e, "cannot prune the KPI batch names");
                    }
                }
            }
        })
    }

    /// The store the counters go to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_counts_each_field_once() {
        let fields = [
            "holder_name",
            "id_number",
            "holder_name",
            "address",
            "id_number",
        ];
        assert_eq!(distinct(fields.iter().copied()), 3);
        assert_eq!(distinct(std::iter::empty::<&str>()), 0);
    }
}
