-- The checkpoint keys of the gateway nodes sharing this store, so that `gateway audit verify`
-- finds every node's key from one node's configuration. A node registers its key at start and
-- refuses to start with another key for the same name; `gateway audit rotate-node-key` retires
-- the old key (kept for the checkpoints it signed before `retired_at`) and registers the new one.
-- The table only says which keys exist: whoever can write to this database can write here too,
-- so `audit verify` trusts a key only when it is also in the append-only anchor or given to it.
CREATE TABLE node_keys (
    node          TEXT NOT NULL,
    kid           TEXT NOT NULL,
    public_key    TEXT NOT NULL,               -- a trust-list TOML holding the one public key
    registered_at TEXT NOT NULL,
    retired_at    TEXT,
    PRIMARY KEY (node, kid)
) STRICT;
