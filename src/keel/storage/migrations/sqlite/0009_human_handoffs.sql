-- The human handoff queue (issue 9): one item per escalation, with its transcript, a
-- written summary, the reason and the trace id. At most one active (open or claimed)
-- item per session: a session with one is "handed off", and what its customer writes
-- goes to the item's messages until a person hands it back.
CREATE TABLE human_handoffs (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    session_id  TEXT,
    user_id     TEXT,
    run_id      TEXT,
    trace_id    TEXT,
    agent_name  TEXT,
    trigger     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    transcript  TEXT NOT NULL,
    status      TEXT NOT NULL,
    claimed_by  TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX human_handoffs_by_status ON human_handoffs(tenant_id, status, created_at);
CREATE UNIQUE INDEX human_handoffs_one_active ON human_handoffs(tenant_id, session_id)
    WHERE status IN ('open', 'claimed') AND session_id IS NOT NULL;

CREATE TABLE human_handoff_messages (
    tenant_id   TEXT    NOT NULL,
    handoff_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    author      TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    PRIMARY KEY (tenant_id, handoff_id, seq)
);
