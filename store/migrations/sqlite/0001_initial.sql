-- Mianzheng store, SQLite. Keep in step with ../postgres/0001_initial.sql: same tables, columns
-- and indexes; only the types differ (timestamps are RFC 3339 UTC text, which sorts by time).
-- STRICT tables make SQLite refuse a value of the wrong type instead of storing it.

-- Venues ("用证单位"). A key is kept only as its SHA-256 hash.
CREATE TABLE venues (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    city         INTEGER NOT NULL,
    scenarios    TEXT    NOT NULL,                 -- JSON array of scenario ids
    rate_per_sec INTEGER NOT NULL CHECK (rate_per_sec >= 0),
    key_hash     BLOB    NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    disabled     INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    updated_at   TEXT    NOT NULL
) STRICT;

-- The audit log: one row per verification, hash-chained by the gateway. Append-only; `seq` is
-- the chain position, so a second writer cannot add a second entry at the same place.
CREATE TABLE audit_entries (
    seq                  INTEGER NOT NULL PRIMARY KEY,
    at                   TEXT    NOT NULL,
    node                 TEXT    NOT NULL,
    venue                TEXT    NOT NULL,
    scenario             TEXT    NOT NULL,
    certificates         TEXT    NOT NULL,         -- JSON array of certificate type ids
    verdict              TEXT    NOT NULL,
    requirement_verdicts TEXT    NOT NULL,         -- JSON array of [requirement, verdict]
    latency_us           INTEGER NOT NULL,
    subject_hash         BLOB    NOT NULL CHECK (length(subject_hash) = 32),
    verification_id      TEXT    NOT NULL,
    prev_hash            BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash                 BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;
-- "Who checked me": a holder's entries, newest first.
CREATE INDEX audit_entries_by_subject ON audit_entries (subject_hash, at, seq);
-- An objection names the verification it is about.
CREATE INDEX audit_entries_by_verification ON audit_entries (verification_id);

-- Signed checkpoints of the chain head, in the order they were written.
CREATE TABLE audit_checkpoints (
    id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    seq       INTEGER NOT NULL,
    head_hash BLOB    NOT NULL CHECK (length(head_hash) = 32),
    count     INTEGER NOT NULL,
    at        TEXT    NOT NULL,
    node      TEXT    NOT NULL,
    kid       TEXT    NOT NULL,
    signature BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_checkpoints_by_seq ON audit_checkpoints (seq, id);

-- Objections against a verification or a record, routed to the issuing department.
CREATE TABLE objections (
    id              TEXT NOT NULL PRIMARY KEY,
    created_at      TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('app', 'hall', 'hotline')),
    filed_by        TEXT NOT NULL CHECK (filed_by IN ('venue', 'holder')),
    filer           TEXT NOT NULL,
    verification_id TEXT,
    certificate     TEXT NOT NULL,
    department      TEXT NOT NULL,
    subject_hash    BLOB NOT NULL CHECK (length(subject_hash) = 32),
    description     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN
                        ('open', 'in_review', 'resolved_corrected', 'resolved_upheld', 'rejected')),
    assignee        TEXT,
    deadline        TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
-- A department's queue, oldest deadline first.
CREATE INDEX objections_queue ON objections (department, status, deadline, id);
-- Overdue ones across departments.
CREATE INDEX objections_by_deadline ON objections (status, deadline);

-- Every change of an objection: who, when, from what to what, and why.
CREATE TABLE objection_events (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    objection_id TEXT    NOT NULL REFERENCES objections (id),
    at           TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    from_status  TEXT,                             -- NULL for the filing itself
    to_status    TEXT    NOT NULL,
    note         TEXT    NOT NULL
) STRICT;
CREATE INDEX objection_events_by_objection ON objection_events (objection_id, id);
