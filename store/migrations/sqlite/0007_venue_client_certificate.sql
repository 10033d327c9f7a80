-- A venue bound to a client certificate (mTLS) is refused on any connection that does not
-- present a certificate from the venues' CA naming it, whatever bearer key it sends.
ALTER TABLE venues ADD COLUMN client_certificate INTEGER NOT NULL DEFAULT 0
    CHECK (client_certificate IN (0, 1));
