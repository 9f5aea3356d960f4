"""Asyncio client of the knowledge worker, and the requests the two share.

The worker owns the embedding model (loaded once, ~2 s) and the in-memory vector matrices, so
queries after the first are fast. `index` streams "file" events (one per file: indexed, unchanged,
skipped with its reason, removed) and progress; cancelling keeps what is done, and the next
`index` of the collection — with or without paths — resumes the queue. A worker answers one request
at a time: to ask questions while a collection indexes, use a second client (its own worker; both
share the database, which WAL lets one write while others read).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from studio.core.workers.client import ServiceClient

KNOWLEDGE_MODULE = "studio.core.knowledge.worker"
# The progress stage while the worker fetches the embedding model on first use (the other stages
# of an index are file names, then "done").
PROVISION_STAGE = "downloading the embedding model"


@dataclass
class IndexParams:
    collection: str
    paths: list[str] = field(default_factory=list)
    chunk_tokens: int = 160
    overlap_tokens: int = 32
    max_bytes: int = 64 * 1024 * 1024
    refresh: bool = False  # look again at everything added before (changed, new, deleted files)
    db: str | None = None  # the knowledge database; None: <data>/knowledge.sqlite3


@dataclass
class QueryParams:
    collections: list[str]
    text: str
    mode: str = "hybrid"
    top_k: int = 5
    min_similarity: float = 0.0
    candidates: int = 50
    db: str | None = None


@dataclass
class MapParams:
    collection: str
    text: str = ""  # a query to place on the map with its nearest chunks (optional)
    nearest: int = 5
    limit: int = 5000  # at most this many chunks (a map of more is unreadable anyway)
    db: str | None = None


class KnowledgeClient(ServiceClient):
    def __init__(self, *, env: dict[str, str] | None = None) -> None:
        super().__init__(KNOWLEDGE_MODULE, name="knowledge", env=env)

    async def index(self, collection: str, paths: Sequence[str | os.PathLike[str]] = (), *,
                    on_progress: Callable[[float, str], Any] | None = None,
                    on_file: Callable[[dict[str, Any]], Any] | None = None,
                    on_embedded: Callable[[int], Any] | None = None, **kw: Any) -> dict[str, Any]:
        """IndexReport.to_dict(). Raises WorkerCancelled (its `partial` is the report so far) or WorkerError.
        on_embedded(n): n more chunks were embedded (batches of up to 32)."""
        params = IndexParams(collection, [str(p) for p in paths], **kw)

        def on_event(event: dict[str, Any]) -> None:
            if event.get("event") == "file" and on_file is not None:
                on_file(event.get("file") or {})
            elif event.get("event") == "embedded" and on_embedded is not None:
                on_embedded(int(event.get("chunks") or 0))
        return await self._run("index", params, on_progress=on_progress, on_event=on_event,
                               what=f"indexing {collection!r}")

    async def query(self, collections: Sequence[str], text: str, **kw: Any) -> dict[str, Any]:
        """Retrieval.to_dict(): every candidate with keyword score, vector similarity, fused rank."""
        return await self._run("query", QueryParams(list(collections), text, **kw))

    async def map(self, collection: str, text: str = "", **kw: Any) -> dict[str, Any]:
        """The collection's chunks projected to 2-D (PCA), with the query and its nearest chunks."""
        return await self._run("map", MapParams(collection, text, **kw))
