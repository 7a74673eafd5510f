-- Support tickets (keel.tickets): opened when every model tier failed, or by any layer
-- that needs a person to follow up. Numbered after the issue that added it (6), so that
-- parallel branches adding migrations do not collide on a version number.
CREATE TABLE tickets (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL,
    user_id     TEXT,
    run_id      TEXT,
    session_id  TEXT,
    detail      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX tickets_by_created ON tickets(tenant_id, created_at DESC);
CREATE INDEX tickets_by_status ON tickets(tenant_id, status, created_at DESC);
