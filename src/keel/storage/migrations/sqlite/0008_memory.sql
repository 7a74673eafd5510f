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
