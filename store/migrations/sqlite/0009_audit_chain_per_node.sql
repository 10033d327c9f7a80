-- Each node appends to an audit chain of its own (`chain`, the node's name), so that nodes on one
-- store never wait for each other's commits. A chain's `seq` counts from 1 within the chain. The
-- entries written before are the chain '' (the shared chain of before), complete as it is; its
-- checkpoints keep verifying as they were signed. SQLite cannot change a primary key in place:
-- the log is copied into a table keyed by (chain, seq).
CREATE TABLE audit_entries_by_chain (
    chain                TEXT    NOT NULL,
    seq                  INTEGER NOT NULL,
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
    hash                 BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (chain, seq)
) STRICT;
INSERT INTO audit_entries_by_chain
    SELECT '', seq, at, node, venue, scenario, certificates, verdict, requirement_verdicts,
           latency_us, subject_hash, verification_id, prev_hash, hash
    FROM audit_entries ORDER BY seq;
DROP TABLE audit_entries;
ALTER TABLE audit_entries_by_chain RENAME TO audit_entries;
-- An objection names the verification it is about.
CREATE INDEX audit_entries_by_verification ON audit_entries (verification_id);

-- A checkpoint signs one chain's head, and names the heads of the other chains it saw at the
-- time (`witnessed`, a JSON array of [chain, seq, hex hash]).
ALTER TABLE audit_checkpoints ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_checkpoints ADD COLUMN witnessed TEXT NOT NULL DEFAULT '[]';
DROP INDEX audit_checkpoints_by_seq;
CREATE INDEX audit_checkpoints_by_chain ON audit_checkpoints (chain, seq, id);

-- "Who checked me" names entries by chain and seq; the side table's progress is kept per chain.
CREATE TABLE audit_subjects_by_chain (
    subject_hash BLOB    NOT NULL CHECK (length(subject_hash) = 32),
    at           TEXT    NOT NULL,
    chain        TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (subject_hash, at, chain, seq)
) STRICT, WITHOUT ROWID;
INSERT INTO audit_subjects_by_chain SELECT subject_hash, at, '', seq FROM audit_subjects;
DROP TABLE audit_subjects;
ALTER TABLE audit_subjects_by_chain RENAME TO audit_subjects;

CREATE TABLE audit_subjects_progress (
    chain TEXT    NOT NULL PRIMARY KEY,
    seq   INTEGER NOT NULL
) STRICT;
INSERT INTO audit_subjects_progress (chain, seq) SELECT '', seq FROM audit_subjects_upto;
DROP TABLE audit_subjects_upto;
