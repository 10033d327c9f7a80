-- The audit chain's hash is a deployment setting (`audit.hash`, "sha256" or "sm3") that every
-- node must agree on. A log written before the setting existed was hashed with SHA-256.
INSERT INTO deployment (name, value)
SELECT 'audit_hash', 'sha256' WHERE EXISTS (SELECT 1 FROM audit_entries);
