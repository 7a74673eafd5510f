-- The tool ledger keyed by its primary key alone (WITHOUT ROWID): a claim — the one
-- synchronous write before a side effect — then changes one b-tree, not a table and its
-- key index (~5 µs less a claim, one WAL page less a commit).
CREATE TABLE tool_ledger_by_key (
    key          TEXT PRIMARY KEY,
    tool         TEXT NOT NULL,
    status       TEXT NOT NULL,
    owner        TEXT NOT NULL,
    content      TEXT,
    is_error     INTEGER NOT NULL DEFAULT 0,
    started_at   REAL NOT NULL,
    finished_at  REAL
) WITHOUT ROWID;

INSERT INTO tool_ledger_by_key SELECT key, tool, status, owner, content, is_error, started_at, finished_at FROM tool_ledger;

DROP TABLE tool_ledger;

ALTER TABLE tool_ledger_by_key RENAME TO tool_ledger;
