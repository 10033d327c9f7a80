//! Objections ("异议"): a holder or a venue says a verification or a record is wrong. Each is
//! routed to the department that issues the certificate, with a deadline; operators claim them
//! from their department's queue and move them through
//! open → in review → resolved (corrected / upheld) or rejected. Every change is kept as an
//! event: who, when, from what, to what, and why.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use crate::backend::{exact_micros, micros, now, with_pool, Columns, Store};
use crate::error::{classify, classify_conflict, StoreError};
use crate::spent::{SpendBy, SpentBy, SPEND_ONE};

/// Where an objection was filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The holder's app.
    App,
    /// A service hall counter.
    Hall,
    /// The 12345 hotline.
    Hotline,
}

/// Who filed an objection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FiledBy {
    Venue,
    Holder,
}

/// Where an objection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Filed, waiting in the department's queue.
    Open,
    /// Claimed or assigned; an operator is checking the record.
    InReview,
    /// The record was wrong and has been corrected (cached answers must go).
    ResolvedCorrected,
    /// The record was right.
    ResolvedUpheld,
    /// Not a valid objection (with the reason in the event's note).
    Rejected,
}

macro_rules! text_enum {
    ($type:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $type {
            /// The form stored in the database and used in the admin API.
            pub fn as_str(self) -> &'static str {
                match self { $($type::$variant => $text),+ }
            }
        }
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $type {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($type::$variant),)+
                    other => Err(format!(concat!("unknown ", $what, " `{}`"), other)),
                }
            }
        }
    };
}
/// Also the commitments' statuses (`commitments.rs`).
pub(crate) use text_enum;

text_enum!(Channel, "channel", { App => "app", Hall => "hall", Hotline => "hotline" });
text_enum!(FiledBy, "filer kind", { Venue => "venue", Holder => "holder" });
text_enum!(Status, "objection status", {
    Open => "open",
    InReview => "in_review",
    ResolvedCorrected => "resolved_corrected",
    ResolvedUpheld => "resolved_upheld",
    Rejected => "rejected",
});

impl Status {
    /// Every status, in workflow order.
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::InReview,
        Status::ResolvedCorrected,
        Status::ResolvedUpheld,
        Status::Rejected,
    ];

    /// Whether the objection is closed (nothing more happens to it).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::ResolvedCorrected | Status::ResolvedUpheld | Status::Rejected
        )
    }

    /// The workflow: open → in review → resolved (corrected or upheld) or rejected; an open one
    /// may also be rejected outright. A status may "move" to itself while the objection is not
    /// closed: a note, or a new assignee. Nothing leaves a closed status.
    pub fn can_move_to(self, to: Status) -> bool {
        use Status::*;
        match (self, to) {
            (from, _) if from.is_final() => false,
            (from, to) if from == to => true,
            (Open, InReview | Rejected) => true,
            (InReview, ResolvedCorrected | ResolvedUpheld | Rejected) => true,
            _ => false,
        }
    }
}

/// An objection, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objection {
    /// Chosen by the caller, e.g. `obj-…`; lists are ordered by it.
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub channel: Channel,
    pub filed_by: FiledBy,
    /// The venue id, or the holder's subject hash in hex.
    pub filer: String,
    /// The verification objected to, when there is one.
    pub verification_id: Option<String>,
    /// Certificate type concerned.
    pub certificate: String,
    /// Department that issues the certificate and must answer.
    pub department: String,
    /// Keyed hash of the holder whose record is concerned.
    pub subject_hash: [u8; 32],
    /// The holder's handle, when the filer showed the holder's code (the department needs it
    /// to find the record); `None` when known only by hash.
    pub subject: Option<String>,
    pub description: String,
    pub status: Status,
    /// Operator working on it.
    pub assignee: Option<String>,
    /// When the department's service level runs out.
    pub deadline: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One change of an objection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionEvent {
    pub objection_id: String,
    pub at: DateTime<Utc>,
    /// Who made the change (operator, or the filer for the filing itself).
    pub actor: String,
    /// `None` for the filing.
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub note: String,
}

/// One row of [`Store::objection_counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionCount {
    pub department: String,
    pub status: Status,
    pub count: u64,
    /// Open or in review past the deadline (0 for closed statuses).
    pub overdue: u64,
}

/// Which objections [`Store::list_objections`] returns. Conditions combine with AND.
#[derive(Debug, Clone, Default)]
pub struct ObjectionFilter {
    pub department: Option<String>,
    pub status: Option<Status>,
    /// Only those still open or in review (the queue).
    pub open_only: bool,
    /// Only those still open or in review whose deadline is before this time.
    pub overdue_at: Option<DateTime<Utc>>,
    /// At most this many (0 means the default, 100; at most 1000).
    pub limit: u32,
    /// For paging: only ids after this one.
    pub after_id: Option<String>,
}

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// Why [`Store::transition`] did not move an objection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    #[error("objection `{0}` not found")]
    NotFound(String),
    /// Someone else moved it first; the caller's view is stale.
    #[error("objection `{id}` is {current}, not {}", list(expected))]
    Stale {
        id: String,
        current: Status,
        expected: Vec<Status>,
    },
    /// The workflow does not allow this move ([`Status::can_move_to`]).
    #[error("objection `{id}` cannot go from {from} to {to}")]
    Illegal {
        id: String,
        from: Status,
        to: Status,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list(statuses: &[Status]) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    names.join(" or ")
}

const COLUMNS: &str = "id, created_at, channel, filed_by, filer, verification_id, certificate, \
                       department, subject_hash, description, status, assignee, deadline, \
                       updated_at, subject";

fn objection_from(row: &impl Columns) -> Result<Objection, StoreError> {
    Ok(Objection {
        id: row.text("id")?,
        created_at: row.time("created_at")?,
        channel: row.parsed("channel")?,
        filed_by: row.parsed("filed_by")?,
        filer: row.text("filer")?,
        verification_id: row.opt_text("verification_id")?,
        certificate: row.text("certificate")?,
        department: row.text("department")?,
        subject_hash: row.hash("subject_hash")?,
        description: row.text("description")?,
        status: row.parsed("status")?,
        assignee: row.opt_text("assignee")?,
        deadline: row.time("deadline")?,
        updated_at: row.time("updated_at")?,
        subject: row.opt_text("subject")?,
    })
}

fn event_from(row: &impl Columns) -> Result<ObjectionEvent, StoreError> {
    let from_status = match row.opt_text("from_status")? {
        Some(text) => Some(text.parse().map_err(StoreError::Corrupt)?),
        None => None,
    };
    Ok(ObjectionEvent {
        objection_id: row.text("objection_id")?,
        at: row.time("at")?,
        actor: row.text("actor")?,
        from_status,
        to_status: row.parsed("to_status")?,
        note: row.text("note")?,
    })
}

const INSERT_EVENT: &str = "INSERT INTO objection_events \
                            (objection_id, at, actor, from_status, to_status, note) \
                            VALUES ($1, $2, $3, $4, $5, $6)";

/// Appends one event to an objection's history inside the open transaction `$tx`. A macro, not
/// a function: inside `with_pool!` the transaction's type differs by engine.
macro_rules! record_event {
    ($tx:expr, $id:expr, $at:expr, $actor:expr, $from:expr, $to:expr, $note:expr) => {
        sqlx::query(INSERT_EVENT)
            .bind($id)
            .bind($at)
            .bind($actor)
            .bind($from.map(Status::as_str))
            .bind($to.as_str())
            .bind($note)
            .execute(&mut *$tx)
            .await
            .map_err(classify)
    };
}

/// Begins a write transaction and reads the current status of objection `$id`, its row locked
/// for the rest of it ([`LOCK_ONE`]): `(tx, None)` when there is no such objection. A macro for
/// the same reason as [`record_event!`].
macro_rules! begin_locked {
    ($pool:expr, $dialect:expr, $id:expr) => {{
        let mut tx = $pool
            .begin_with($dialect.begin_write())
            .await
            .map_err(classify)?;
        let status = match sqlx::query($dialect.pick(LOCK_ONE))
            .bind($id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?
        {
            Some(row) => Some(row.parsed::<Status>("status")?),
            None => None,
        };
        (tx, status)
    }};
}

/// The current status of one objection, locked for the rest of the transaction. SQLite needs no
/// row lock: the transaction already holds the database's write lock (`BEGIN IMMEDIATE`).
const LOCK_ONE: (&str, &str) = (
    "SELECT status FROM objections WHERE id = $1",
    "SELECT status FROM objections WHERE id = $1 FOR UPDATE",
);

/// The department's open objection with the oldest deadline, locked. On PostgreSQL, rows another
/// operator's transaction holds are skipped rather than waited for, so concurrent claimers each
/// get a different one. On SQLite `BEGIN IMMEDIATE` lets one claimer in at a time.
const CLAIM_NEXT: (&str, &str) = (
    "SELECT id FROM objections WHERE department = $1 AND status = 'open' \
     ORDER BY deadline, id LIMIT 1",
    "SELECT id FROM objections WHERE department = $1 AND status = 'open' \
     ORDER BY deadline, id LIMIT 1 FOR UPDATE SKIP LOCKED",
);

impl Store {
    /// Files an objection (its status must be `open`) and records the filing as its first
    /// event. Durable when this returns: answer 201 only after it. A duplicate id is a
    /// [`StoreError::Conflict`].
    pub async fn create_objection(&self, objection: &Objection) -> Result<(), StoreError> {
        match self.create_objection_spending(objection, None).await? {
            None => Ok(()),
            Some(_) => unreachable!("nothing to spend, so nothing spent already"),
        }
    }

    /// [`Store::create_objection`], spending the code the holder filed it with in the same
    /// transaction: both are committed, or neither. `Ok(Some(first use))` when the code was
    /// spent already (on any node): then nothing is filed.
    pub async fn create_objection_spending(
        &self,
        objection: &Objection,
        code: Option<SpendBy<'_>>,
    ) -> Result<Option<SpentBy>, StoreError> {
        if let Some(code) = &code {
            exact_micros(code.at, "spent code")?;
        }
        if objection.status != Status::Open {
            return Err(StoreError::Invalid(format!(
                "a new objection must be open, not {}",
                objection.status
            )));
        }
        let insert = format!(
            "INSERT INTO objections ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        let o = objection;
        let filed = with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            sqlx::query(&insert)
                .bind(&o.id)
                .bind(micros(o.created_at))
                .bind(o.channel.as_str())
                .bind(o.filed_by.as_str())
                .bind(&o.filer)
                .bind(&o.verification_id)
                .bind(&o.certificate)
                .bind(&o.department)
                .bind(&o.subject_hash[..])
                .bind(&o.description)
                .bind(o.status.as_str())
                .bind(&o.assignee)
                .bind(micros(o.deadline))
                .bind(micros(o.updated_at))
                .bind(&o.subject)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify_conflict(e, || format!("objection `{}` exists", o.id)))?;
            record_event!(
                tx,
                &o.id,
                micros(o.created_at),
                &o.filer,
                None::<Status>,
                Status::Open,
                "filed"
            )?;
            let filed = match &code {
                None => true,
                Some(code) => {
                    sqlx::query(SPEND_ONE)
                        .bind(code.spend.bucket)
                        .bind(&code.spend.nonce[..])
                        .bind(code.node)
                        .bind(code.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?
                        .rows_affected()
                        == 1
                }
            };
            if filed {
                tx.commit().await.map_err(classify)?;
            } else {
                tx.rollback().await.map_err(classify)?;
            }
            Ok::<bool, StoreError>(filed)
        })?;
        match code {
            Some(code) if !filed => self
                .first_use(code.spend, code.node, code.at)
                .await
                .map(Some),
            _ => Ok(None),
        }
    }

    /// An objection and its history, oldest event first.
    pub async fn objection(
        &self,
        id: &str,
    ) -> Result<Option<(Objection, Vec<ObjectionEvent>)>, StoreError> {
        let select = format!("SELECT {COLUMNS} FROM objections WHERE id = $1");
        let events = "SELECT objection_id, at, actor, from_status, to_status, note \
                      FROM objection_events WHERE objection_id = $1 ORDER BY id";
        with_pool!(self, |pool| {
            // One read transaction, so the history matches the row.
            let mut tx = pool.begin().await.map_err(classify)?;
            let Some(row) = sqlx::query(&select)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?
            else {
                return Ok(None);
            };
            let objection = objection_from(&row)?;
            let rows = sqlx::query(events)
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
            let history = rows.iter().map(event_from).collect::<Result<_, _>>()?;
            tx.commit().await.map_err(classify)?;
            Ok(Some((objection, history)))
        })
    }

    /// Objections matching `filter`, by id.
    pub async fn list_objections(
        &self,
        filter: &ObjectionFilter,
    ) -> Result<Vec<Objection>, StoreError> {
        let limit = match filter.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        with_pool!(self, |pool| {
            let mut query =
                QueryBuilder::new(format!("SELECT {COLUMNS} FROM objections WHERE 1 = 1"));
            if let Some(department) = &filter.department {
                query.push(" AND department = ").push_bind(department);
            }
            if let Some(status) = filter.status {
                query.push(" AND status = ").push_bind(status.as_str());
            }
            if filter.open_only {
                query.push(" AND status IN ('open', 'in_review')");
            }
            if let Some(at) = filter.overdue_at {
                query
                    .push(" AND status IN ('open', 'in_review') AND deadline < ")
                    .push_bind(micros(at));
            }
            if let Some(after) = &filter.after_id {
                query.push(" AND id > ").push_bind(after);
            }
            query
                .push(" ORDER BY id LIMIT ")
                .push_bind(i64::from(limit));
            let rows = query.build().fetch_all(pool).await.map_err(classify)?;
            rows.iter().map(objection_from).collect()
        })
    }

    /// Moves an objection to `to` if it is now in one of `expected_from` and the workflow allows
    /// the move ([`Status::can_move_to`]), records the event, and returns the objection as it is
    /// afterwards. `assignee`, when given, replaces the assignee. The check and the change are
    /// one transaction: of two operators acting on the same view, the second gets
    /// [`TransitionError::Stale`].
    pub async fn transition(
        &self,
        id: &str,
        expected_from: &[Status],
        to: Status,
        actor: &str,
        note: &str,
        assignee: Option<&str>,
    ) -> Result<Objection, TransitionError> {
        let update = format!(
            "UPDATE objections SET status = $1, assignee = COALESCE($2, assignee), \
             updated_at = $3 WHERE id = $4 RETURNING {COLUMNS}"
        );
        let at = now();
        with_pool!(self, |pool, dialect| {
            let (mut tx, current) = begin_locked!(pool, dialect, id);
            let Some(current) = current else {
                return Err(TransitionError::NotFound(id.to_owned()));
            };
            if !expected_from.contains(&current) {
                return Err(TransitionError::Stale {
                    id: id.to_owned(),
                    current,
                    expected: expected_from.to_vec(),
                });
            }
            if !current.can_move_to(to) {
                return Err(TransitionError::Illegal {
                    id: id.to_owned(),
                    from: current,
                    to,
                });
            }
            let row = sqlx::query(&update)
                .bind(to.as_str())
                .bind(assignee)
                .bind(at)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?;
            let objection = objection_from(&row)?;
            record_event!(tx, id, at, actor, Some(current), to, note)?;
            tx.commit().await.map_err(classify)?;
            Ok(objection)
        })
    }

    /// Adds a note to an objection's history without changing it — also on a closed one (what
    /// happened after the resolution, e.g. whether the department's backend was told).
    pub async fn append_note(&self, id: &str, actor: &str, note: &str) -> Result<(), StoreError> {
        let at = now();
        with_pool!(self, |pool, dialect| {
            let (mut tx, current) = begin_locked!(pool, dialect, id);
            let Some(current) = current else {
                return Err(StoreError::NotFound {
                    what: "objection",
                    id: id.to_owned(),
                });
            };
            record_event!(tx, id, at, actor, Some(current), current, note)?;
            tx.commit().await.map_err(classify)
        })
    }

    /// Objection counts by (department, status), and of those still open or in review, how
    /// many are past their deadline at `at`. Sorted by department, then status.
    pub async fn objection_counts(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<ObjectionCount>, StoreError> {
        let sql = "SELECT department, status, COUNT(*) AS n,                    SUM(CASE WHEN status IN ('open', 'in_review') AND deadline < $1                        THEN 1 ELSE 0 END) AS overdue                    FROM objections GROUP BY department, status ORDER BY department, status";
        with_pool!(self, |pool| {
            let rows = sqlx::query(sql)
                .bind(micros(at))
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    Ok(ObjectionCount {
                        department: row.text("department")?,
                        status: row.parsed("status")?,
                        count: row.count("n")?,
                        overdue: row.count("overdue")?,
                    })
                })
                .collect()
        })
    }

    /// Takes the department's open objection with the oldest deadline, moves it to `in_review`
    /// assigned to `operator`, and returns it; `None` when the queue is empty. Two operators
    /// claiming at once never get the same objection.
    pub async fn claim_next(
        &self,
        department: &str,
        operator: &str,
    ) -> Result<Option<Objection>, StoreError> {
        let update = format!(
            "UPDATE objections SET status = 'in_review', assignee = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'open' RETURNING {COLUMNS}"
        );
        let at = now();
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            let next = sqlx::query(dialect.pick(CLAIM_NEXT))
                .bind(department)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            let Some(next) = next else {
                return Ok(None);
            };
            let id = next.text("id")?;
            let row = sqlx::query(&update)
                .bind(operator)
                .bind(at)
                .bind(&id)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?;
            let objection = objection_from(&row)?;
            record_event!(
                tx,
                &id,
                at,
                operator,
                Some(Status::Open),
                Status::InReview,
                "claimed"
            )?;
            tx.commit().await.map_err(classify)?;
            Ok(Some(objection))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_as_text() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        assert!("closed".parse::<Status>().is_err());
        assert_eq!("hotline".parse::<Channel>(), Ok(Channel::Hotline));
        assert_eq!("holder".parse::<FiledBy>(), Ok(FiledBy::Holder));
    }

    #[test]
    fn the_workflow() {
        use Status::*;
        assert!(Open.can_move_to(InReview));
        assert!(Open.can_move_to(Rejected));
        assert!(Open.can_move_to(Open));
        assert!(!Open.can_move_to(ResolvedCorrected));
        assert!(!Open.can_move_to(ResolvedUpheld));
        assert!(InReview.can_move_to(ResolvedCorrected));
        assert!(InReview.can_move_to(ResolvedUpheld));
        assert!(InReview.can_move_to(Rejected));
        assert!(InReview.can_move_to(InReview));
        assert!(!InReview.can_move_to(Open));
        for closed in [ResolvedCorrected, ResolvedUpheld, Rejected] {
            for to in Status::ALL {
                assert!(!closed.can_move_to(to), "{closed} -> {to}");
            }
        }
    }
}
