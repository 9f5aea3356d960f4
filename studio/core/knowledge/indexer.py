"""The indexing job: files and folders → a collection, resumable, cancellable, with progress.

`index(store, embedder, name, paths)` expands folders (hidden entries skipped), queues every file
in the store's `pending` table, then works through the collection's queue — including what an
earlier, cancelled or crashed job left there. Each file ends in one transaction (see store.py):
indexed with its chunks and vectors, or skipped with its reason. A file whose size and mtime are
unchanged is not read again; one whose content hash is unchanged is not re-embedded; a file that
no longer exists (named again, or under a folder added again) is removed from the collection.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from studio.core.knowledge.chunking import DEFAULT_OVERLAP, DEFAULT_SIZE, chunk_blocks
from studio.core.knowledge.extract import MAX_FILE_BYTES, Unusable, extract
from studio.core.knowledge.store import KnowledgeError, KnowledgeStore

EMBED_BATCH = 32  # chunks per embedding call: cancel and progress are checked between batches


class Encoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class IndexCancelled(Exception):
    pass


@dataclass
class FileOutcome:
    path: str
    status: str  # indexed | unchanged | skipped | removed
    chunks: int = 0
    reason_kind: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "chunks": self.chunks, "reason_kind": self.reason_kind,
                "reason": self.reason}


@dataclass
class IndexReport:
    collection: str
    files: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0
    embedded_chunks: int = 0
    embed_seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "files": [f.to_dict() for f in self.files],
                "indexed": self.count("indexed"), "unchanged": self.count("unchanged"),
                "skipped": self.count("skipped"), "removed": self.count("removed"),
                "embedded_chunks": self.embedded_chunks, "seconds": round(self.seconds, 3),
                "embed_seconds": round(self.embed_seconds, 3)}


def expand(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[str], list[str]]:
    """(files, folders): the files named and those under the folders (hidden ones left out), as
    absolute paths, in a stable order. A path that does not exist raises KnowledgeError."""
    files: list[str] = []
    folders: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        if path.is_dir():
            folders.append(str(path))
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("__pycache__", "node_modules"))
                files.extend(str(Path(root) / n) for n in sorted(names) if not n.startswith("."))
        elif path.exists():
            files.append(str(path))
        else:
            raise KnowledgeError("not_found", f"no such file or folder: {raw}")
    return list(dict.fromkeys(files)), folders


def _hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def index(store: KnowledgeStore, encoder: Encoder, name: str, paths: Sequence[str | os.PathLike[str]] = (), *,
          chunk_tokens: int = DEFAULT_SIZE, overlap_tokens: int = DEFAULT_OVERLAP, max_bytes: int = MAX_FILE_BYTES,
          progress: Callable[[float, str], Any] | None = None, cancelled: Callable[[], bool] | None = None,
          on_file: Callable[[FileOutcome], Any] | None = None, refresh: bool = False,
          on_embedded: Callable[[int], Any] | None = None) -> IndexReport:
    """Add `paths` to collection `name` (created on first use) and finish its queue. `refresh`
    looks again at everything added before: changed and new files are indexed, deleted ones removed.
    `on_embedded(n)` hears of each batch of n chunks embedded (a rate while a long file indexes).
    Raises IndexCancelled when `cancelled()` turns true (what is done stays done)."""
    started = time.monotonic()
    report_progress = progress or (lambda _f, _s: None)
    embedded = on_embedded or (lambda _n: None)
    is_cancelled = cancelled or (lambda: False)
    collection = store.collection(name, create=True, chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens)
    report = IndexReport(collection.name)

    def finish(outcome: FileOutcome) -> None:
        report.files.append(outcome)
        if on_file is not None:
            on_file(outcome)

    if refresh:
        paths = [*paths, *_refresh_roots(store, collection, finish)]
    files, folders = expand(paths)
    store.add_sources(collection, [*folders, *(f for f in files if not _under(f, folders))])

    # Files that were under a folder added again (or named again) and are gone now.
    for doc in store.documents(collection):
        inside = doc.path in files or any(doc.path.startswith(f + os.sep) for f in folders)
        if inside and not os.path.exists(doc.path):
            store.remove_document(collection, doc.path)
            finish(FileOutcome(doc.path, "removed"))
    store.queue(collection, files)
    queue = store.pending(collection)
    for n, path in enumerate(queue):
        if is_cancelled():
            raise IndexCancelled()
        base = n / max(1, len(queue))
        report_progress(base, Path(path).name)
        def within(fraction: float, batch: int, name: str = Path(path).name, base: float = base) -> None:
            embedded(batch)
            report_progress(base + fraction / max(1, len(queue)), name)
        outcome = _index_file(store, encoder, collection, path, max_bytes, report, within, is_cancelled)
        finish(outcome)
    report_progress(1.0, "done")
    report.seconds = time.monotonic() - started
    return report


def _under(path: str, folders: Sequence[str]) -> bool:
    return any(path == f or path.startswith(f + os.sep) for f in folders)


def _refresh_roots(store: KnowledgeStore, collection: Any, finish: Callable[[FileOutcome], Any]) -> list[str]:
    """The files and folders added before that still exist; the documents of those that are gone
    are removed. Documents indexed before sources were recorded count as sources themselves."""
    roots = store.sources(collection)
    roots += [d.path for d in store.documents(collection) if not _under(d.path, roots)]
    gone = [r for r in roots if not os.path.exists(r)]
    for doc in store.documents(collection):
        if _under(doc.path, gone) and store.remove_document(collection, doc.path):
            finish(FileOutcome(doc.path, "removed"))
    for root in gone:
        store.remove_source(collection, root)
    return [r for r in roots if r not in gone]


def _index_file(store: KnowledgeStore, encoder: Encoder, collection: Any, path: str, max_bytes: int,
                report: IndexReport, within: Callable[[float, int], Any], cancelled: Callable[[], bool]) -> FileOutcome:
    try:
        stat = os.stat(path)
    except OSError:
        if store.remove_document(collection, path):
            return FileOutcome(path, "removed")
        store.done(collection, path)
        return FileOutcome(path, "skipped", reason_kind="unreadable", reason=f"{Path(path).name}: the file no longer exists")
    old = store.document(collection, path)
    if old is not None and old.size == stat.st_size and old.mtime == stat.st_mtime:
        store.done(collection, path)
        return _unchanged(old)
    try:
        digest = _hash(path)
    except OSError as exc:
        digest = f"unreadable:{exc.errno}"
    if old is not None and old.content_hash == digest:
        store.db.execute("UPDATE documents SET mtime = ? WHERE id = ?", (stat.st_mtime, old.id))
        store.done(collection, path)
        return _unchanged(old)
    result = extract(path, max_bytes=max_bytes)
    common: dict[str, Any] = dict(path=path, content_hash=digest, mtime=stat.st_mtime, size=stat.st_size)
    if isinstance(result, Unusable):
        store.put_document(collection, status="skipped", reason_kind=result.kind, reason=result.message, **common)
        return FileOutcome(path, "skipped", reason_kind=result.kind, reason=result.message)
    chunks = chunk_blocks(result.blocks, count=encoder.count_tokens, size=collection.chunk_tokens,
                          overlap=collection.overlap_tokens)
    if not chunks:
        message = f"{Path(path).name}: no text was found in it"
        store.put_document(collection, status="skipped", reason_kind="empty", reason=message, **common)
        return FileOutcome(path, "skipped", reason_kind="empty", reason=message)
    texts = [c.embed_text() for c in chunks]
    parts: list[np.ndarray] = []
    began = time.monotonic()
    for start in range(0, len(texts), EMBED_BATCH):
        if cancelled():
            raise IndexCancelled()
        parts.append(encoder.encode(texts[start: start + EMBED_BATCH]))
        within(min(1.0, (start + EMBED_BATCH) / len(texts)) * 0.99, len(parts[-1]))
    report.embed_seconds += time.monotonic() - began
    report.embedded_chunks += len(chunks)
    store.put_document(collection, status="indexed", format=result.format, unit=result.unit,
                       encoding=result.encoding, chunks=chunks, vectors=np.concatenate(parts), model=encoder.name,
                       **common)
    return FileOutcome(path, "indexed", chunks=len(chunks))


def _unchanged(old: Any) -> FileOutcome:
    return FileOutcome(old.path, "unchanged", chunks=old.n_chunks, reason_kind=old.reason_kind, reason=old.reason)
