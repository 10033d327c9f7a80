-- A service window (a service hall's counter) may call POST /v1/materials and
-- POST /v1/commitments: it pulls an applicant's materials for a service item (免证办).
ALTER TABLE venues ADD COLUMN service_window BOOLEAN NOT NULL DEFAULT FALSE;
