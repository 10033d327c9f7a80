-- A venue bound to a client certificate (mTLS) is refused on any connection that does not
-- present a certificate from the venues' CA naming it, whatever bearer key it sends.
ALTER TABLE venues ADD COLUMN client_certificate BOOLEAN NOT NULL DEFAULT FALSE;
