-- Issue 8: the SQLite knowledge store searches text with an in-memory BM25 index built
-- from kb_chunks (keel.knowledge.bm25); the FTS5 table is no longer written or read.
-- Removed by its schema row and shadow tables rather than `DROP TABLE kb_fts`: dropping
-- an FTS5 table first opens it, which fails when its index is damaged (the case the old
-- `keel kb rebuild` was for), and a failed migration would leave the database unusable.
PRAGMA writable_schema = ON;
DELETE FROM sqlite_master WHERE type = 'table' AND name = 'kb_fts';
PRAGMA writable_schema = OFF;
DROP TABLE IF EXISTS kb_fts_data;
DROP TABLE IF EXISTS kb_fts_idx;
DROP TABLE IF EXISTS kb_fts_content;
DROP TABLE IF EXISTS kb_fts_docsize;
DROP TABLE IF EXISTS kb_fts_config;
