-- Commitments (告知承诺): at a service window, an applicant signs that a material the gateway
-- could not pull is true, and the department answering for it checks afterwards, by a
-- deadline. One per (materials answer, material). Keep in step with
-- ../postgres/0012_commitments.sql.
CREATE TABLE commitments (
    id                   TEXT    NOT NULL PRIMARY KEY,
    created_at           TEXT    NOT NULL,
    -- The materials answer (its audit entry's verification_id, `m-…`) the commitment answers.
    materials_request_id TEXT    NOT NULL,
    -- The service window that filed it (the venue of that answer).
    venue                TEXT    NOT NULL,
    subject_hash         BLOB    NOT NULL CHECK (length(subject_hash) = 32),
    item                 INTEGER NOT NULL CHECK (item >= 0),
    material             TEXT    NOT NULL,
    department           TEXT    NOT NULL,
    text_version         TEXT    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN
                             ('pending', 'in_check', 'confirmed', 'false')),
    assignee             TEXT,
    deadline             TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    UNIQUE (materials_request_id, material)
) STRICT;
-- A department's queue, oldest deadline first.
CREATE INDEX commitments_queue ON commitments (department, status, deadline, id);
-- Overdue ones across departments.
CREATE INDEX commitments_by_deadline ON commitments (status, deadline);

-- Every change of a commitment: who, when, from what to what, and why.
CREATE TABLE commitment_events (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    commitment_id TEXT    NOT NULL REFERENCES commitments (id),
    at            TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    from_status   TEXT,                            -- NULL for the filing itself
    to_status     TEXT    NOT NULL,
    note          TEXT    NOT NULL
) STRICT;
CREATE INDEX commitment_events_by_commitment ON commitment_events (commitment_id, id);
