-- The tool gateway (keel.tools.gateway): the idempotency ledger and the audit chain.
-- Numbered after the issue that added it (7), so parallel branches do not collide.

-- One row per tool call with side effects, keyed by run/step/call: started before the
-- tool runs, finished with its result, so no retry, resume or duplicate runs it twice.
CREATE TABLE tool_ledger (
    key          TEXT PRIMARY KEY,
    tool         TEXT NOT NULL,
    status       TEXT NOT NULL,
    owner        TEXT NOT NULL,
    content      TEXT,
    is_error     INTEGER NOT NULL DEFAULT 0,
    started_at   REAL NOT NULL,
    finished_at  REAL
);

-- Append-only and hash-chained: each row's hash covers its fields and the previous hash.
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           REAL NOT NULL,
    tenant_id    TEXT NOT NULL,
    user_id      TEXT,
    roles        TEXT NOT NULL,
    agent        TEXT,
    run_id       TEXT,
    call_id      TEXT,
    tool         TEXT NOT NULL,
    arguments    TEXT NOT NULL,
    result       TEXT NOT NULL,
    is_error     INTEGER NOT NULL,
    latency_ms   REAL NOT NULL,
    decision     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    approver     TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);

-- No index on tenant: one costs ~25 µs a call on the write path; listing by tenant scans.

-- The newest entry, written with it: deleting the last rows breaks this anchor.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
