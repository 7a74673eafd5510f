-- Issue 8: the SQLite knowledge store searches text with an in-memory BM25 index built
-- from kb_chunks (keel.knowledge.bm25); the FTS5 table is no longer written or read.
DROP TABLE IF EXISTS kb_fts;
