-- Keel's own trace store (keel.observability.store): one row per run segment (a resumed
-- run adds one per resume) with its spans as one JSON array, and the feedback people gave.
CREATE TABLE trace_runs (
    id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT,
    agent_name TEXT NOT NULL,
    parent_run_id TEXT,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    error_type TEXT,
    error TEXT,
    started_at REAL NOT NULL,
    latency_ms REAL NOT NULL,
    steps INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    tools TEXT NOT NULL,
    tool_errors TEXT NOT NULL,
    guardrail_trips TEXT NOT NULL,
    resumed INTEGER NOT NULL,
    spans TEXT NOT NULL
);
CREATE INDEX trace_runs_started ON trace_runs (started_at);
CREATE INDEX trace_runs_tenant ON trace_runs (tenant_id, started_at);
CREATE INDEX trace_runs_agent ON trace_runs (agent_name, started_at);
CREATE INDEX trace_runs_user ON trace_runs (user_id, started_at);
CREATE INDEX trace_runs_session ON trace_runs (session_id, started_at);
CREATE INDEX trace_runs_status ON trace_runs (status, started_at);
CREATE INDEX trace_runs_run ON trace_runs (run_id);
CREATE INDEX trace_runs_trace ON trace_runs (trace_id);
CREATE INDEX trace_runs_error ON trace_runs (error_type, started_at);
CREATE INDEX trace_runs_latency ON trace_runs (latency_ms, started_at);
CREATE INDEX trace_runs_cost ON trace_runs (cost_usd, started_at);
-- One row per (run, tool it called): a search by tool reads only that tool's runs.
CREATE TABLE trace_run_tools (
    run_row INTEGER NOT NULL REFERENCES trace_runs (id) ON DELETE CASCADE,
    tool TEXT NOT NULL,
    started_at REAL NOT NULL,
    PRIMARY KEY (tool, started_at, run_row)
) WITHOUT ROWID;
CREATE INDEX trace_run_tools_run ON trace_run_tools (run_row);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    agent_name TEXT,
    trace_id TEXT,
    thumbs INTEGER,
    csat INTEGER,
    text TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX feedback_run ON feedback (run_id);
CREATE INDEX feedback_created ON feedback (created_at);
