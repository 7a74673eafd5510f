-- Conversations: one row per session, one row per message, in order.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);

CREATE TABLE session_messages (
    session_id  TEXT    NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    message     TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

CREATE INDEX sessions_by_update ON sessions(updated_at DESC);
