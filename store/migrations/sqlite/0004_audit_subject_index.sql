-- "Who checked me" moves from an index on the audit log to a side table filled in bulk behind the
-- appenders. An index on a random 32-byte hash made every appended entry dirty a page of its
-- own (about half of an append's cost); a side table filled thousands of entries at a time,
-- sorted by subject, touches each of its pages once per fill. The entries the side table has not
-- reached yet (`audit_subjects_upto`) are found by a scan of the log's short tail.
DROP INDEX audit_entries_by_subject;

CREATE TABLE audit_subjects (
    subject_hash BLOB    NOT NULL CHECK (length(subject_hash) = 32),
    at           TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (subject_hash, at, seq)
) STRICT, WITHOUT ROWID;

-- The last chain position copied into `audit_subjects`: one row.
CREATE TABLE audit_subjects_upto (
    one INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL
) STRICT;

INSERT INTO audit_subjects (subject_hash, at, seq)
    SELECT subject_hash, at, seq FROM audit_entries;
INSERT INTO audit_subjects_upto (one, seq)
    VALUES (1, COALESCE((SELECT max(seq) FROM audit_entries), 0));
