-- Memory and knowledge (issue 8). Running summaries of sessions, keyed by the number of
-- leading messages they cover (`folded`) and a hash of the last of them.
CREATE TABLE memory_summaries (
    tenant_id   TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    agent_name  TEXT    NOT NULL,
    folded      INTEGER NOT NULL,
    last_hash   TEXT    NOT NULL,
    user_id     TEXT,
    summary     TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    PRIMARY KEY (tenant_id, session_id, agent_name, folded)
) WITHOUT ROWID;

CREATE INDEX memory_summaries_by_user ON memory_summaries(tenant_id, user_id);

-- The knowledge base: documents (by tenant and name), their chunks with embeddings, a
-- full-text index over chunks, and a per-tenant generation bumped by every write (so a
-- process knows when its in-memory vector matrix is stale).
CREATE TABLE kb_documents (
    tenant_id     TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    content_hash  TEXT    NOT NULL,
    chunks        INTEGER NOT NULL,
    updated_at    REAL    NOT NULL,
    PRIMARY KEY (tenant_id, path)
);

CREATE INDEX kb_documents_by_hash ON kb_documents(tenant_id, content_hash);

CREATE TABLE kb_chunks (
    id         INTEGER PRIMARY KEY,
    tenant_id  TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    ordinal    INTEGER NOT NULL,
    heading    TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    embedding  BLOB    NOT NULL
);

CREATE INDEX kb_chunks_by_document ON kb_chunks(tenant_id, path);

CREATE VIRTUAL TABLE kb_fts USING fts5(heading, text, tenant_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');

CREATE TABLE kb_state (
    tenant_id   TEXT    PRIMARY KEY,
    generation  INTEGER NOT NULL
);

-- User memory: facts and preferences about a user, with provenance, optional expiry,
-- and supersession (a newer fact with the same key replaces an older one, which stays as
-- history with `superseded_by` set).
CREATE TABLE memory_facts (
    id             TEXT    PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    fact_key       TEXT,
    text           TEXT    NOT NULL,
    embedding      BLOB    NOT NULL,
    session_id     TEXT,
    run_id         TEXT,
    message        INTEGER,
    created_at     REAL    NOT NULL,
    expires_at     REAL,
    superseded_by  TEXT,
    superseded_at  REAL
);

CREATE INDEX memory_facts_by_user ON memory_facts(tenant_id, user_id, superseded_by);
