-- The holder platform (居民码/企业码). Keep in step with ../sqlite/0013_holder_platform.sql.

-- What a holder presented, beside each audit entry: NULL for a code on a phone (nearly every
-- entry), 'paper' for a printed code, 'card_reader' for the ID card in a venue's reader; and the
-- delegation a presenter showed the code under, when it was not the holder.
ALTER TABLE audit_entries ADD COLUMN means TEXT CHECK (means IN ('paper', 'card_reader'));
ALTER TABLE audit_entries ADD COLUMN presented_by TEXT;

-- Delegations: a company's authorization of an agent (经办人) for some certificate types, or a
-- holder's standing grant to a family member to show codes for some scenarios (代亮码). Subjects
-- are the identity provider's pseudonymous handles, never ID numbers.
CREATE TABLE delegations (
    id            TEXT        NOT NULL PRIMARY KEY,
    relation      TEXT        NOT NULL CHECK (relation IN ('agent', 'family')),
    -- The holder the codes name: the company (agent) or the person (family).
    principal     TEXT        NOT NULL,
    -- The principal's home city (GB/T 2260), which codes naming the principal carry.
    principal_city BIGINT,
    -- Who shows them, and the name venues see (masked).
    delegate      TEXT        NOT NULL,
    delegate_name TEXT        NOT NULL,
    -- JSON array: certificate types (agent) or scenarios (family).
    scope         TEXT        NOT NULL,
    valid_from    TIMESTAMPTZ NOT NULL,
    valid_until   TIMESTAMPTZ NOT NULL CHECK (valid_until > valid_from),
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT        NOT NULL,
    revoked_at    TIMESTAMPTZ,
    revoked_by    TEXT
);
CREATE INDEX delegations_by_principal ON delegations (principal, created_at);
CREATE INDEX delegations_by_delegate ON delegations (delegate, created_at);

-- What every node refuses at once: revoked delegations and printed codes reported lost, each
-- kept until the codes it covers expire anyway (`until`).
CREATE TABLE revocations (
    kind       TEXT        NOT NULL CHECK (kind IN ('delegation', 'paper_code')),
    id         TEXT        NOT NULL,
    until      TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Every code the platform issued: the holder's own history, the per-holder rate limit, the
-- counts the province sees. `code_id` is the code's nonce in hex (a printed code is revoked by
-- it).
CREATE TABLE code_issuances (
    code_id    TEXT        NOT NULL PRIMARY KEY,
    subject    TEXT        NOT NULL,
    -- Who asked for it when not the holder, and under which delegation.
    presenter  TEXT,
    delegation TEXT,
    purpose    TEXT        NOT NULL,
    medium     TEXT        NOT NULL CHECK (medium IN ('phone', 'paper')),
    -- JSON array of the consent scope, or NULL for none.
    scope      TEXT,
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX code_issuances_by_subject ON code_issuances (subject, issued_at);
CREATE INDEX code_issuances_by_presenter ON code_issuances (presenter, issued_at)
    WHERE presenter IS NOT NULL;
CREATE INDEX code_issuances_by_time ON code_issuances (issued_at);
