-- Sessions, their messages, and durable runs: the same shape as the SQLite schema (after
-- its 0002), with PostgreSQL types. A message records the run that wrote it, so a run's
-- turn is appended at most once; a session's row lock orders appends across processes.
CREATE TABLE sessions (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    user_id     TEXT,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX sessions_by_update ON sessions (tenant_id, updated_at DESC);

CREATE TABLE session_messages (
    tenant_id   TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    message     TEXT    NOT NULL,
    run_id      TEXT,
    created_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, session_id, seq),
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX session_messages_by_run ON session_messages (tenant_id, run_id);

CREATE TABLE runs (
    tenant_id      TEXT NOT NULL,
    id             TEXT NOT NULL,
    user_id        TEXT,
    session_id     TEXT,
    agent_name     TEXT NOT NULL,
    parent_run_id  TEXT,
    status         TEXT NOT NULL,
    owner          TEXT,
    lease_until    DOUBLE PRECISION,
    state          TEXT NOT NULL,
    created_at     DOUBLE PRECISION NOT NULL,
    updated_at     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX runs_by_created ON runs (tenant_id, created_at DESC);
CREATE INDEX runs_by_status ON runs (tenant_id, status, created_at DESC);
CREATE INDEX runs_by_session ON runs (tenant_id, session_id, status);
