"""Knowledge: documents → chunks → embeddings → hybrid index → retrieval → a prompt with citations.

extract (files → blocks with pages/lines) → chunking (by structure, in embedding-model tokens) →
embedder (multilingual USE, from a PyPI wheel) → store (SQLite WAL: FTS5 + float16 vectors) →
indexer (resumable job) → retrieval (vector + BM25, reciprocal-rank fusion) → prompt (numbered
sources, what did not fit, citations back to chunks). The worker runs the heavy parts; the client
is what the app and the CLI call. Light modules only here: importing this package loads no model.
"""

from __future__ import annotations

from studio.core.knowledge.client import IndexParams, KnowledgeClient, MapParams, QueryParams
from studio.core.knowledge.prompt import BuiltPrompt, Citations, build_prompt, build_prompt_async, parse_citations
from studio.core.knowledge.retrieval import MODES, Candidate, Retrieval, Settings
from studio.core.knowledge.store import KnowledgeError, KnowledgeStore

__all__ = [
    "MODES", "BuiltPrompt", "Candidate", "Citations", "IndexParams", "KnowledgeClient", "KnowledgeError",
    "KnowledgeStore", "MapParams", "QueryParams", "Retrieval", "Settings", "build_prompt", "build_prompt_async",
    "parse_citations",
]
