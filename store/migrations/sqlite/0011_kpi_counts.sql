-- The plan's targets measured from traffic (证明材料共享率, 表单字段共享率, 数据共享有效需求满足率,
-- certificates in use, seal checks): counters by day (China time), city, department,
-- certificate type ('' for a counter over a whole service item) and the service item's
-- materials source ('' on the verify path, else 'plan' or 'assumed'). Every node adds its
-- increments to the row (`count = count + excluded.count`); a figure is a sum over rows.
-- Keep in step with ../postgres/0011_kpi_counts.sql.
CREATE TABLE kpi_counts (
    day                 TEXT    NOT NULL,          -- YYYY-MM-DD, the day in China
    city                INTEGER NOT NULL,          -- GB/T 2260 code; 0: a province-level backend
    department          TEXT    NOT NULL,
    certificate         TEXT    NOT NULL,
    source              TEXT    NOT NULL CHECK (source IN ('', 'plan', 'assumed')),
    asked               INTEGER NOT NULL DEFAULT 0 CHECK (asked >= 0),
    answered            INTEGER NOT NULL DEFAULT 0 CHECK (answered >= 0),
    not_found           INTEGER NOT NULL DEFAULT 0 CHECK (not_found >= 0),
    unavailable         INTEGER NOT NULL DEFAULT 0 CHECK (unavailable >= 0),
    not_offered         INTEGER NOT NULL DEFAULT 0 CHECK (not_offered >= 0),
    records_received    INTEGER NOT NULL DEFAULT 0 CHECK (records_received >= 0),
    seal_verified       INTEGER NOT NULL DEFAULT 0 CHECK (seal_verified >= 0),
    materials_requests  INTEGER NOT NULL DEFAULT 0 CHECK (materials_requests >= 0),
    materials_required  INTEGER NOT NULL DEFAULT 0 CHECK (materials_required >= 0),
    materials_provided  INTEGER NOT NULL DEFAULT 0 CHECK (materials_provided >= 0),
    materials_committed INTEGER NOT NULL DEFAULT 0 CHECK (materials_committed >= 0),
    form_fields         INTEGER NOT NULL DEFAULT 0 CHECK (form_fields >= 0),
    form_fields_filled  INTEGER NOT NULL DEFAULT 0 CHECK (form_fields_filled >= 0),
    PRIMARY KEY (day, city, department, certificate, source)
) STRICT;

-- The batches of increments committed, one row each (`node/boot/sequence`): a batch sent again
-- after a commit whose answer was lost finds its row and adds nothing. Pruned after days.
CREATE TABLE kpi_flushes (
    batch TEXT NOT NULL PRIMARY KEY,
    at    TEXT NOT NULL
) STRICT;
CREATE INDEX kpi_flushes_by_time ON kpi_flushes (at);
