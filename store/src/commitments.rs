//! Commitments ("告知承诺"): at a service window an applicant signs that a material the gateway
//! could not pull is true; the department answering for that material checks it afterwards, by
//! a deadline. Operators claim them from their department's queue and move them through
//! pending → in check → confirmed or false. Every change is kept as an event: who, when, from
//! what, to what, and why. One commitment per (materials answer, material).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use crate::backend::{micros, now, with_pool, Columns, Store};
use crate::error::{classify, classify_conflict, StoreError};
use crate::objections::text_enum;

/// Where a commitment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitmentStatus {
    /// Filed, waiting in the department's queue.
    Pending,
    /// Claimed: an operator of the department is checking it.
    InCheck,
    /// The check found the commitment true.
    Confirmed,
    /// The check found it false (不实承诺), with the reason in the event's note.
    False,
}

text_enum!(CommitmentStatus, "commitment status", {
    Pending => "pending",
    InCheck => "in_check",
    Confirmed => "confirmed",
    False => "false",
});

impl CommitmentStatus {
    /// Every status, in workflow order.
    pub const ALL: [CommitmentStatus; 4] = [
        CommitmentStatus::Pending,
        CommitmentStatus::InCheck,
        CommitmentStatus::Confirmed,
        CommitmentStatus::False,
    ];

    /// Whether the check is over (nothing more happens to it).
    pub fn is_final(self) -> bool {
        matches!(self, CommitmentStatus::Confirmed | CommitmentStatus::False)
    }

    /// The workflow: pending → in check → confirmed or false. A status may "move" to itself
    /// while the check is not over (a new assignee). Nothing leaves a final status, and nothing
    /// is resolved without being in check first.
    pub fn can_move_to(self, to: CommitmentStatus) -> bool {
        use CommitmentStatus::*;
        match (self, to) {
            (from, _) if from.is_final() => false,
            (from, to) if from == to => true,
            (Pending, InCheck) => true,
            (InCheck, Confirmed | False) => true,
            _ => false,
        }
    }
}

/// A commitment, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    /// Chosen by the caller, e.g. `cm-…`; lists are ordered by it.
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The materials answer it answers (the audit entry's verification id, `m-…`).
    pub materials_request_id: String,
    /// The service window that filed it.
    pub venue: String,
    /// Keyed hash of the applicant.
    pub subject_hash: [u8; 32],
    /// The service item's number.
    pub item: u32,
    /// The material's id in the item (a certificate type, or a paper material's id).
    pub material: String,
    /// The department that checks it.
    pub department: String,
    /// The version of the commitment text the applicant signed.
    pub text_version: String,
    pub status: CommitmentStatus,
    /// Operator checking it.
    pub assignee: Option<String>,
    /// When the post-check must be done by.
    pub deadline: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One change of a commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentEvent {
    pub commitment_id: String,
    pub at: DateTime<Utc>,
    /// Who made the change (an operator, or the service window for the filing).
    pub actor: String,
    /// `None` for the filing.
    pub from_status: Option<CommitmentStatus>,
    pub to_status: CommitmentStatus,
    pub note: String,
}

/// One department's row of [`Store::commitment_counts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitmentCount {
    pub department: String,
    pub pending: u64,
    pub in_check: u64,
    pub confirmed: u64,
    /// Found false.
    pub found_false: u64,
    /// Pending or in check past the deadline (also counted in `pending`/`in_check`).
    pub overdue: u64,
}

/// Which commitments [`Store::list_commitments`] returns. Conditions combine with AND.
#[derive(Debug, Clone, Default)]
pub struct CommitmentFilter {
    pub department: Option<String>,
    pub status: Option<CommitmentStatus>,
    /// Only those pending or in check (the queue).
    pub open_only: bool,
    /// Only those pending or in check whose deadline is before this time.
    pub overdue_at: Option<DateTime<Utc>>,
    /// At most this many (0 means the default, 100; at most 1000).
    pub limit: u32,
    /// For paging: only ids after this one.
    pub after_id: Option<String>,
}

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// Why [`Store::transition_commitment`] did not move a commitment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitmentTransitionError {
    #[error("commitment `{0}` not found")]
    NotFound(String),
    /// Someone else moved it first; the caller's view is stale.
    #[error("commitment `{id}` is {current}, not {}", list(expected))]
    Stale {
        id: String,
        current: CommitmentStatus,
        expected: Vec<CommitmentStatus>,
    },
    /// The workflow does not allow this move ([`CommitmentStatus::can_move_to`]).
    #[error("commitment `{id}` cannot go from {from} to {to}")]
    Illegal {
        id: String,
        from: CommitmentStatus,
        to: CommitmentStatus,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list(statuses: &[CommitmentStatus]) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    names.join(" or ")
}

const COLUMNS: &str = "id, created_at, materials_request_id, venue, subject_hash, item, \
                       material, department, text_version, status, assignee, deadline, \
                       updated_at";

fn commitment_from(row: &impl Columns) -> Result<Commitment, StoreError> {
    let item = row.int("item")?;
    Ok(Commitment {
        id: row.text("id")?,
        created_at: row.time("created_at")?,
        materials_request_id: row.text("materials_request_id")?,
        venue: row.text("venue")?,
        subject_hash: row.hash("subject_hash")?,
        item: u32::try_from(item)
            .map_err(|_| StoreError::Corrupt(format!("`item` out of range: {item}")))?,
        material: row.text("material")?,
        department: row.text("department")?,
        text_version: row.text("text_version")?,
        status: row.parsed("status")?,
        assignee: row.opt_text("assignee")?,
        deadline: row.time("deadline")?,
        updated_at: row.time("updated_at")?,
    })
}

fn event_from(row: &impl Columns) -> Result<CommitmentEvent, StoreError> {
    let from_status = match row.opt_text("from_status")? {
        Some(text) => Some(text.parse().map_err(StoreError::Corrupt)?),
        None => None,
    };
    Ok(CommitmentEvent {
        commitment_id: row.text("commitment_id")?,
        at: row.time("at")?,
        actor: row.text("actor")?,
        from_status,
        to_status: row.parsed("to_status")?,
        note: row.text("note")?,
    })
}

const INSERT_EVENT: &str = "INSERT INTO commitment_events \
                            (commitment_id, at, actor, from_status, to_status, note) \
                            VALUES ($1, $2, $3, $4, $5, $6)";

/// Appends one event to a commitment's history inside the open transaction `$tx` (a macro:
/// inside `with_pool!` the transaction's type differs by engine).
macro_rules! record_event {
    ($tx:expr, $id:expr, $at:expr, $actor:expr, $from:expr, $to:expr, $note:expr) => {
        sqlx::query(INSERT_EVENT)
            .bind($id)
            .bind($at)
            .bind($actor)
            .bind($from.map(CommitmentStatus::as_str))
            .bind($to.as_str())
            .bind($note)
            .execute(&mut *$tx)
            .await
            .map_err(classify)
    };
}

/// The current status of one commitment, locked for the rest of the transaction (SQLite's
/// `BEGIN IMMEDIATE` already holds the write lock).
const LOCK_ONE: (&str, &str) = (
    "SELECT status FROM commitments WHERE id = $1",
    "SELECT status FROM commitments WHERE id = $1 FOR UPDATE",
);

/// The department's pending commitment with the oldest deadline, locked; on PostgreSQL rows
/// another claimer holds are skipped, so concurrent claimers each get a different one.
const CLAIM_NEXT: (&str, &str) = (
    "SELECT id FROM commitments WHERE department = $1 AND status = 'pending' \
     ORDER BY deadline, id LIMIT 1",
    "SELECT id FROM commitments WHERE department = $1 AND status = 'pending' \
     ORDER BY deadline, id LIMIT 1 FOR UPDATE SKIP LOCKED",
);

impl Store {
    /// Records a commitment (its status must be `pending`) and its filing as the first event,
    /// the service window (`venue`) as the actor. Durable when this returns: answer 201 only
    /// after it. A second commitment for the same (materials answer, material), or a duplicate
    /// id, is a [`StoreError::Conflict`].
    pub async fn create_commitment(&self, commitment: &Commitment) -> Result<(), StoreError> {
        let c = commitment;
        if c.status != CommitmentStatus::Pending {
            return Err(StoreError::Invalid(format!(
                "a new commitment must be pending, not {}",
                c.status
            )));
        }
        let insert = format!(
            "INSERT INTO commitments ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            sqlx::query(&insert)
                .bind(&c.id)
                .bind(micros(c.created_at))
                .bind(&c.materials_request_id)
                .bind(&c.venue)
                .bind(&c.subject_hash[..])
                .bind(i64::from(c.item))
                .bind(&c.material)
                .bind(&c.department)
                .bind(&c.text_version)
                .bind(c.status.as_str())
                .bind(&c.assignee)
                .bind(micros(c.deadline))
                .bind(micros(c.updated_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    classify_conflict(e, || {
                        format!(
                            "a commitment for material `{}` of materials request `{}` is \
                             recorded already",
                            c.material, c.materials_request_id
                        )
                    })
                })?;
            record_event!(
                tx,
                &c.id,
                micros(c.created_at),
                &c.venue,
                None::<CommitmentStatus>,
                CommitmentStatus::Pending,
                format!("filed (text version {})", c.text_version)
            )?;
            tx.commit().await.map_err(classify)
        })
    }

    /// A commitment and its history, oldest event first.
    pub async fn commitment(
        &self,
        id: &str,
    ) -> Result<Option<(Commitment, Vec<CommitmentEvent>)>, StoreError> {
        let select = format!("SELECT {COLUMNS} FROM commitments WHERE id = $1");
        let events = "SELECT commitment_id, at, actor, from_status, to_status, note \
                      FROM commitment_events WHERE commitment_id = $1 ORDER BY id";
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
            let commitment = commitment_from(&row)?;
            let rows = sqlx::query(events)
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
            let history = rows.iter().map(event_from).collect::<Result<_, _>>()?;
            tx.commit().await.map_err(classify)?;
            Ok(Some((commitment, history)))
        })
    }

    /// Commitments matching `filter`, by id.
    pub async fn list_commitments(
        &self,
        filter: &CommitmentFilter,
    ) -> Result<Vec<Commitment>, StoreError> {
        let limit = match filter.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        with_pool!(self, |pool| {
            let mut query =
                QueryBuilder::new(format!("SELECT {COLUMNS} FROM commitments WHERE 1 = 1"));
            if let Some(department) = &filter.department {
                query.push(" AND department = ").push_bind(department);
            }
            if let Some(status) = filter.status {
                query.push(" AND status = ").push_bind(status.as_str());
            }
            if filter.open_only {
                query.push(" AND status IN ('pending', 'in_check')");
            }
            if let Some(at) = filter.overdue_at {
                query
                    .push(" AND status IN ('pending', 'in_check') AND deadline < ")
                    .push_bind(micros(at));
            }
            if let Some(after) = &filter.after_id {
                query.push(" AND id > ").push_bind(after);
            }
            query
                .push(" ORDER BY id LIMIT ")
                .push_bind(i64::from(limit));
            let rows = query.build().fetch_all(pool).await.map_err(classify)?;
            rows.iter().map(commitment_from).collect()
        })
    }

    /// Moves a commitment to `to` if it is now in one of `expected_from` and the workflow
    /// allows it ([`CommitmentStatus::can_move_to`]), records the event with `note` (for
    /// `false`, the reason), and returns the commitment afterwards. `assignee`, when given,
    /// replaces the assignee. Check and change are one transaction: of two operators acting on
    /// the same view, the second gets [`CommitmentTransitionError::Stale`].
    pub async fn transition_commitment(
        &self,
        id: &str,
        expected_from: &[CommitmentStatus],
        to: CommitmentStatus,
        actor: &str,
        note: &str,
        assignee: Option<&str>,
    ) -> Result<Commitment, CommitmentTransitionError> {
        let update = format!(
            "UPDATE commitments SET status = $1, assignee = COALESCE($2, assignee), \
             updated_at = $3 WHERE id = $4 RETURNING {COLUMNS}"
        );
        let at = now();
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            let current = sqlx::query(dialect.pick(LOCK_ONE))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            let Some(current) = current else {
                return Err(CommitmentTransitionError::NotFound(id.to_owned()));
            };
            let current: CommitmentStatus = current.parsed("status")?;
            if !expected_from.contains(&current) {
                return Err(CommitmentTransitionError::Stale {
                    id: id.to_owned(),
                    current,
                    expected: expected_from.to_vec(),
                });
            }
            if !current.can_move_to(to) {
                return Err(CommitmentTransitionError::Illegal {
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
            let commitment = commitment_from(&row)?;
            record_event!(tx, id, at, actor, Some(current), to, note)?;
            tx.commit().await.map_err(classify)?;
            Ok(commitment)
        })
    }

    /// Takes the department's pending commitment with the oldest deadline, moves it to
    /// `in_check` assigned to `operator`, and returns it; `None` when the queue is empty. Two
    /// operators claiming at once never get the same one.
    pub async fn claim_next_commitment(
        &self,
        department: &str,
        operator: &str,
    ) -> Result<Option<Commitment>, StoreError> {
        let update = format!(
            "UPDATE commitments SET status = 'in_check', assignee = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'pending' RETURNING {COLUMNS}"
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
            let commitment = commitment_from(&row)?;
            record_event!(
                tx,
                &id,
                at,
                operator,
                Some(CommitmentStatus::Pending),
                CommitmentStatus::InCheck,
                "claimed"
            )?;
            tx.commit().await.map_err(classify)?;
            Ok(Some(commitment))
        })
    }

    /// Commitment counts per department, by id: pending, in check, confirmed, found false, and
    /// of those pending or in check how many are past their deadline at `at`.
    pub async fn commitment_counts(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<CommitmentCount>, StoreError> {
        let sql = "SELECT department, \
                   SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending, \
                   SUM(CASE WHEN status = 'in_check' THEN 1 ELSE 0 END) AS in_check, \
                   SUM(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END) AS confirmed, \
                   SUM(CASE WHEN status = 'false' THEN 1 ELSE 0 END) AS found_false, \
                   SUM(CASE WHEN status IN ('pending', 'in_check') AND deadline < $1 \
                       THEN 1 ELSE 0 END) AS overdue \
                   FROM commitments GROUP BY department ORDER BY department";
        with_pool!(self, |pool| {
            let rows = sqlx::query(sql)
                .bind(micros(at))
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    Ok(CommitmentCount {
                        department: row.text("department")?,
                        pending: row.count("pending")?,
                        in_check: row.count("in_check")?,
                        confirmed: row.count("confirmed")?,
                        found_false: row.count("found_false")?,
                        overdue: row.count("overdue")?,
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_as_text() {
        for status in CommitmentStatus::ALL {
            assert_eq!(status.as_str().parse::<CommitmentStatus>(), Ok(status));
        }
        assert!("open".parse::<CommitmentStatus>().is_err());
    }

    #[test]
    fn the_workflow() {
        use CommitmentStatus::*;
        assert!(Pending.can_move_to(InCheck));
        assert!(Pending.can_move_to(Pending));
        assert!(!Pending.can_move_to(Confirmed), "checked before resolved");
        assert!(!Pending.can_move_to(False));
        assert!(InCheck.can_move_to(Confirmed));
        assert!(InCheck.can_move_to(False));
        assert!(InCheck.can_move_to(InCheck));
        assert!(!InCheck.can_move_to(Pending));
        for done in [Confirmed, False] {
            for to in CommitmentStatus::ALL {
                assert!(!done.can_move_to(to), "{done} -> {to}");
            }
        }
    }
}
