-- Identity and durable runs. Sessions become tenant-scoped (a session id is unique per
-- tenant) and record their user; each stored message records the run that wrote it, so a
-- run's turn is appended at most once. Runs keep their whole state as JSON.
CREATE TABLE sessions_v2 (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    user_id     TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

INSERT INTO sessions_v2 (tenant_id, id, user_id, created_at, updated_at)
    SELECT 'default', id, NULL, created_at, updated_at FROM sessions;

CREATE TABLE session_messages_v2 (
    tenant_id   TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    message     TEXT    NOT NULL,
    run_id      TEXT,
    created_at  REAL    NOT NULL,
    PRIMARY KEY (tenant_id, session_id, seq),
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions_v2(tenant_id, id) ON DELETE CASCADE
) WITHOUT ROWID;

INSERT INTO session_messages_v2 (tenant_id, session_id, seq, message, run_id, created_at)
    SELECT 'default', session_id, seq, message, NULL, created_at FROM session_messages;

DROP TABLE session_messages;
DROP TABLE sessions;
ALTER TABLE sessions_v2 RENAME TO sessions;
ALTER TABLE session_messages_v2 RENAME TO session_messages;
CREATE INDEX sessions_by_update ON sessions(tenant_id, updated_at DESC);
CREATE INDEX session_messages_by_run ON session_messages(run_id);

CREATE TABLE runs (
    tenant_id      TEXT NOT NULL,
    id             TEXT NOT NULL,
    user_id        TEXT,
    session_id     TEXT,
    agent_name     TEXT NOT NULL,
    parent_run_id  TEXT,
    status         TEXT NOT NULL,
    owner          TEXT,
    lease_until    REAL,
    state          TEXT NOT NULL,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Indexes name only columns a checkpoint rarely changes (status changes a few times per
-- run; updated_at changes at every checkpoint and would cost a page write each time).
CREATE INDEX runs_by_created ON runs(tenant_id, created_at DESC);
CREATE INDEX runs_by_status ON runs(tenant_id, status, created_at DESC);
CREATE INDEX runs_by_session ON runs(tenant_id, session_id, status);
