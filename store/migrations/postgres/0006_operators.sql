-- Named operator accounts of the admin API. A token is kept only as its SHA-256 hash; a
-- disabled operator keeps its row (its name stays in the histories it signed) and is refused.
CREATE TABLE operators (
    name        TEXT        NOT NULL PRIMARY KEY,
    roles       TEXT        NOT NULL,              -- JSON array of role names
    token_hash  BYTEA       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT        NOT NULL,
    disabled_at TIMESTAMPTZ
);
