-- A service window (a service hall's counter) may call POST /v1/materials and
-- POST /v1/commitments: it pulls an applicant's materials for a service item (免证办).
ALTER TABLE venues ADD COLUMN service_window INTEGER NOT NULL DEFAULT 0
    CHECK (service_window IN (0, 1));
