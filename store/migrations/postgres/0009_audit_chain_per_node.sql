-- Each node appends to an audit chain of its own (`chain`, the node's name), so that nodes on one
-- PostgreSQL never wait for each other's commits: before, every node chained onto the one head
-- under a table lock, one commit at a time across the province. A chain's `seq` counts from 1
-- within the chain. The entries written before are the chain '' (the shared chain of before),
-- complete as it is; its checkpoints keep verifying as they were signed.
ALTER TABLE audit_entries ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_entries ALTER COLUMN chain DROP DEFAULT;
ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_pkey;
ALTER TABLE audit_entries ADD PRIMARY KEY (chain, seq);

-- A checkpoint signs one chain's head, and names the heads of the other chains it saw at the
-- time (`witnessed`, a JSON array of [chain, seq, hex hash]): cutting another chain's tail below
-- a head a checkpoint witnessed is found by `gateway audit verify` like cutting its own.
ALTER TABLE audit_checkpoints ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_checkpoints ADD COLUMN witnessed TEXT NOT NULL DEFAULT '[]';
DROP INDEX audit_checkpoints_by_seq;
CREATE INDEX audit_checkpoints_by_chain ON audit_checkpoints (chain, seq, id);

-- "Who checked me" names entries by chain and seq; the side table's progress is kept per chain.
ALTER TABLE audit_subjects ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_subjects DROP CONSTRAINT audit_subjects_pkey;
ALTER TABLE audit_subjects ADD PRIMARY KEY (subject_hash, at, chain, seq);

CREATE TABLE audit_subjects_progress (
    chain TEXT   NOT NULL PRIMARY KEY,
    seq   BIGINT NOT NULL
);
INSERT INTO audit_subjects_progress (chain, seq) SELECT '', seq FROM audit_subjects_upto;
DROP TABLE audit_subjects_upto;
