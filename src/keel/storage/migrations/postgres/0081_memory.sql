-- Memory (issue 8) on PostgreSQL, the shape of the SQLite tables in 0008: running
-- summaries of sessions keyed by the leading messages they cover, and user memory facts
-- (embeddings as float32 bytes: a user's facts are compared in the process, so the
-- database needs no pgvector).
CREATE TABLE memory_summaries (
    tenant_id   TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    agent_name  TEXT    NOT NULL,
    folded      INTEGER NOT NULL,
    last_hash   TEXT    NOT NULL,
    user_id     TEXT,
    summary     TEXT    NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, session_id, agent_name, folded)
);

CREATE INDEX memory_summaries_by_user ON memory_summaries (tenant_id, user_id);

CREATE TABLE memory_facts (
    id             TEXT    PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    fact_key       TEXT,
    text           TEXT    NOT NULL,
    embedding      BYTEA   NOT NULL,
    session_id     TEXT,
    run_id         TEXT,
    message        INTEGER,
    created_at     DOUBLE PRECISION NOT NULL,
    expires_at     DOUBLE PRECISION,
    superseded_by  TEXT,
    superseded_at  DOUBLE PRECISION
);

CREATE INDEX memory_facts_by_user ON memory_facts (tenant_id, user_id, superseded_by);

CREATE INDEX memory_facts_by_expiry ON memory_facts (expires_at) WHERE expires_at IS NOT NULL;
