-- Plans (issue 9): an explicit plan's whole execution state as JSON, checkpointed after
-- every step, owned by one process while it runs (as runs are).
CREATE TABLE plans (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    status       TEXT NOT NULL,
    owner        TEXT,
    lease_until  REAL,
    state        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
