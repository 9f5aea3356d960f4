"""The knowledge collections as an evented model: what the Knowledge screen works with.

Reads (collections with their counts, a collection's documents, a document's chunks) go straight
to the SQLite file on one helper thread — WAL lets them in while a worker writes. Indexing runs in
one knowledge worker and questions and maps in a second, so a question can be asked while a
collection indexes. Events (on the asyncio loop's thread):

- changed(): collections were created, renamed, deleted or indexed into
- job(job): an IndexJob's progress changed (fraction, current file, chunks/s, provisioning)
- file(collection, info): one file's outcome (indexed, unchanged, skipped with its reason, removed)
- finished(job): the job ended; job.outcome is "done", "cancelled" or "failed" (job.error says why)
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from studio.core.events import Emitter
from studio.core.knowledge.client import PROVISION_STAGE, KnowledgeClient
from studio.core.knowledge.embedder import MODEL_NAME
from studio.core.knowledge.store import ChunkRow, Collection, DocumentRow, KnowledgeError, KnowledgeStore
from studio.core.workers.protocol import WorkerCancelled, WorkerError

T = TypeVar("T")


@dataclass
class CollectionInfo:
    name: str
    documents: int  # indexed
    skipped: int  # yielded nothing (each with its reason)
    chunks: int
    pending: int  # files an interrupted job left in the queue: Resume finishes them
    models: list[str]  # the embedding models of its vectors (normally just one)


@dataclass
class DocumentInfo:
    path: str
    status: str  # indexed | skipped
    chunks: int
    unit: str  # page | line | paragraph
    extent: int  # the last page or line its chunks reach (0 when it has none)
    reason_kind: str
    reason: str

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass
class IndexJob:
    collection: str
    fraction: float = 0.0
    stage: str = ""  # the file being indexed, PROVISION_STAGE, or "done"
    provisioning: bool = False  # the embedding model is being fetched (first use)
    files: list[dict[str, Any]] = field(default_factory=list)
    chunks: int = 0  # embedded so far (a cancelled file's too: it is the work the rate measures)
    embed_started: float = 0.0
    outcome: str = ""  # done | cancelled | failed, once finished
    error: str = ""  # a sentence, when failed
    error_kind: str = ""
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Chunks embedded per second since the first file began."""
        if not self.chunks or not self.embed_started:
            return 0.0
        return self.chunks / max(1e-3, time.monotonic() - self.embed_started)

    @property
    def skipped(self) -> list[dict[str, Any]]:
        return [f for f in self.files if f.get("status") == "skipped"]


class KnowledgeLibrary(Emitter):
    model_name = MODEL_NAME

    def __init__(self, db: str | os.PathLike[str] | None = None, *, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.db = str(db) if db is not None else None
        self.indexer = KnowledgeClient(env=env)
        self.searcher = KnowledgeClient(env=env)  # a second worker: questions while a collection indexes
        self.job: IndexJob | None = None
        self._store: KnowledgeStore | None = None
        self._models: dict[int, tuple[int, list[str]]] = {}  # collection id → (generation, models)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knowledge-reads")

    # --- reads and edits (one thread, one connection) ----------------------------------------
    def _open(self) -> KnowledgeStore:
        if self._store is None:
            self._store = KnowledgeStore(self.db)
        return self._store

    async def _on_store(self, fn: Callable[[KnowledgeStore], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(self._open()))

    async def collections(self) -> list[CollectionInfo]:
        def models(store: KnowledgeStore, c: Collection) -> list[str]:
            # A join over every vector: read again only when the collection changed.
            cached = self._models.get(c.id)
            if cached is None or cached[0] != c.generation:
                cached = self._models[c.id] = (c.generation, store.models(c))
            return cached[1]

        def read(store: KnowledgeStore) -> list[CollectionInfo]:
            return [CollectionInfo(c.name, c.n_documents, c.n_skipped, c.n_chunks, len(store.pending(c)),
                                   models(store, c)) for c in store.collections()]
        return await self._on_store(read)

    async def documents(self, collection: str) -> list[DocumentInfo]:
        def read(store: KnowledgeStore) -> list[DocumentInfo]:
            coll = store.collection(collection)
            extents = store.extents(coll)
            return [_document(d, extents.get(d.path, 0)) for d in store.documents(coll)]
        return await self._on_store(read)

    async def chunks(self, collection: str, path: str) -> list[ChunkRow]:
        return await self._on_store(lambda s: s.document_chunks(s.collection(collection), path))

    async def chunk(self, chunk_id: int) -> ChunkRow | None:
        return await self._on_store(lambda s: s.chunks([chunk_id]).get(chunk_id))

    async def create(self, name: str) -> str:
        def make(store: KnowledgeStore) -> str:
            wanted = name.strip()
            if wanted and any(c.name == wanted for c in store.collections()):
                raise KnowledgeError("exists", f"a knowledge collection named {wanted!r} already exists")
            return store.collection(name, create=True).name
        created = await self._on_store(make)
        self.emit("changed")
        return created

    async def rename(self, old: str, new: str) -> str:
        self._refuse_while_indexing(old, "renamed")
        renamed = await self._on_store(lambda s: s.rename_collection(old, new).name)
        self.emit("changed")
        return renamed

    async def delete(self, name: str) -> None:
        self._refuse_while_indexing(name, "deleted")
        await self._on_store(lambda s: s.delete_collection(name))
        self.emit("changed")

    def _refuse_while_indexing(self, name: str, what: str) -> None:
        if self.job is not None and self.job.collection == name:
            raise KnowledgeError("busy", f"{name!r} is being indexed; cancel that first, then it can be {what}")

    # --- indexing ------------------------------------------------------------------------------
    @property
    def indexing(self) -> bool:
        return self.job is not None

    async def index(self, collection: str, paths: Sequence[str | os.PathLike[str]] = (), *,
                    refresh: bool = False) -> IndexJob:
        """Add files and folders (none: resume the queue; refresh: look again at all added before).
        Never raises for the job's own failures: the returned (and `finished`) job says what happened."""
        if self.job is not None:
            raise KnowledgeError("busy", f"{self.job.collection!r} is still being indexed; wait for it or cancel it")
        job = self.job = IndexJob(collection)
        self.emit("job", job=job)

        def progress(fraction: float, stage: str) -> None:
            job.fraction, job.stage = fraction, stage
            job.provisioning = stage == PROVISION_STAGE
            if not job.provisioning and not job.embed_started:
                job.embed_started = time.monotonic()
            self.emit("job", job=job)

        def on_file(info: dict[str, Any]) -> None:
            job.files.append(info)
            self.emit("file", collection=collection, info=info)
            self.emit("job", job=job)

        def on_embedded(n: int) -> None:
            job.chunks += n
            self.emit("job", job=job)

        try:
            job.report = await self.indexer.index(collection, [str(p) for p in paths], db=self.db, refresh=refresh,
                                                  on_progress=progress, on_file=on_file,
                                                  on_embedded=on_embedded)
            job.outcome = "done"
        except WorkerCancelled:
            job.outcome = "cancelled"
        except WorkerError as exc:
            job.outcome, job.error, job.error_kind = "failed", exc.message, exc.kind
        finally:
            self.job = None
            self.emit("changed")
            self.emit("finished", job=job)
        return job

    async def cancel(self) -> None:
        """Stop the indexing job; what is done stays done and Resume finishes the rest."""
        await self.indexer.cancel(timeout=10.0)

    # --- questions -----------------------------------------------------------------------------
    async def query(self, collections: Sequence[str], text: str, *, mode: str = "hybrid", top_k: int = 5,
                    min_similarity: float = 0.0) -> dict[str, Any]:
        """Retrieval.to_dict(): every candidate with both scores and ranks. Raises WorkerError."""
        return await self.searcher.query(list(collections), text, mode=mode, top_k=top_k,
                                         min_similarity=min_similarity, db=self.db)

    async def map(self, collection: str, text: str = "", *, nearest: int = 5) -> dict[str, Any]:
        """The collection's chunks in 2-D (PCA), with the question and its nearest chunks."""
        return await self.searcher.map(collection, text, nearest=nearest, db=self.db)

    async def close(self) -> None:
        await asyncio.gather(self.indexer.close(), self.searcher.close(), return_exceptions=True)
        store, self._store = self._store, None
        if store is not None:
            self._pool.submit(store.close).result()
        self._pool.shutdown(wait=False)


def _document(row: DocumentRow, extent: int) -> DocumentInfo:
    return DocumentInfo(row.path, row.status, row.n_chunks, row.unit, extent, row.reason_kind, row.reason)
