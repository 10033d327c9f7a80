-- Spent codes: a code's nonce is accepted once across every node and restart, for as long as
-- the code is valid. Keyed by the code's expiry bucket first (its signed `exp` divided by the
-- bucket width): a replay carries the same `exp`, so it lands on the same key, and expired codes
-- are pruned a whole bucket at a time with one range delete on the key's prefix.
CREATE TABLE spent_codes (
    bucket  BIGINT      NOT NULL,
    nonce   BYTEA       NOT NULL CHECK (octet_length(nonce) = 16),
    node    TEXT        NOT NULL,              -- the node that accepted the code
    used_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (bucket, nonce)
);

-- The gateway nodes sharing this store: a node holds its name as a lease it renews; a second
-- live node with the same name is refused. `instance` is the id of the node's checkpoint key,
-- so a node restarted from its own data folder takes its name back.
CREATE TABLE nodes (
    name       TEXT        NOT NULL PRIMARY KEY,
    instance   TEXT        NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Settings every node sharing this store must agree on (the subject-hash key's fingerprint).
CREATE TABLE deployment (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
