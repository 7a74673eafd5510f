"""The knowledge base (RAG): ingest documents, retrieve cited passages, hand them to agents.

kb = KnowledgeBase(SQLiteKnowledgeStore(database))
kb.ingest("docs/")                       # Markdown, text, HTML (PDF: extra `pdf`)
kb.search("how do refunds work?")        # hybrid: full-text + vectors, fused by rank
Agent(..., tools=[knowledge_tool(kb)])   # the agent decides when to retrieve
Agent(..., middleware=[AlwaysRetrieve(kb)])  # or every turn gets the top passages
KnowledgeBase(store, reranker=HttpReranker(url, model))  # optional re-rank (/v1/rerank)
"""

from keel.knowledge.base import (
    Citation,
    Hit,
    IngestReport,
    KnowledgeBase,
    RerankStatus,
    SearchMode,
    SearchResult,
    fuse,
)
from keel.knowledge.postgres_store import PostgresKnowledgeStore
from keel.knowledge.reading import Skipped
from keel.knowledge.rerank import HttpReranker, Reranker, RerankError
from keel.knowledge.sqlite_store import SQLiteKnowledgeStore
from keel.knowledge.store import KnowledgeIndexError, KnowledgeStore
from keel.knowledge.tool import AlwaysRetrieve, format_results, knowledge_tool

__all__ = [
    "AlwaysRetrieve",
    "Citation",
    "Hit",
    "HttpReranker",
    "IngestReport",
    "KnowledgeBase",
    "KnowledgeIndexError",
    "KnowledgeStore",
    "PostgresKnowledgeStore",
    "RerankError",
    "RerankStatus",
    "Reranker",
    "SQLiteKnowledgeStore",
    "SearchMode",
    "SearchResult",
    "Skipped",
    "format_results",
    "fuse",
    "knowledge_tool",
]
