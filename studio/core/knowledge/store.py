"""Knowledge collections in one SQLite file (WAL): documents, chunks, an FTS5 keyword index and
float16 vectors.

Tables: collections (name, chunk settings, a `generation` bumped on every change), documents
(path, content hash, mtime, size, status indexed/skipped, reason), chunks (text, heading,
start/end page or line), chunk_fts (the segmented text, rowid = chunk id; see segment.py) and
vectors (chunk id, the embedding model's name, float16 blob). A document's chunks, keyword rows
and vectors are written in one transaction with its status, so a crash leaves a file either fully
indexed or not at all: an interrupted job resumes by skipping what is already there (same hash).

Vector search is exact: the collection's matrix is read once into memory (float32) and kept until
the collection's generation changes, which other processes' writes bump too.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from studio.core import paths
from studio.core.errors import StudioError
from studio.core.knowledge.chunking import Chunk
from studio.core.knowledge.segment import segment

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    chunk_tokens INTEGER NOT NULL, overlap_tokens INTEGER NOT NULL, generation INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY, collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    path TEXT NOT NULL, content_hash TEXT NOT NULL, mtime REAL NOT NULL, size INTEGER NOT NULL,
    status TEXT NOT NULL, reason_kind TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
    format TEXT NOT NULL DEFAULT '', unit TEXT NOT NULL DEFAULT 'line', encoding TEXT NOT NULL DEFAULT '',
    n_chunks INTEGER NOT NULL DEFAULT 0, indexed_at REAL NOT NULL,
    UNIQUE (collection_id, path));
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, heading TEXT NOT NULL, start INTEGER NOT NULL,
    end INTEGER NOT NULL, n_tokens INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE TABLE IF NOT EXISTS vectors (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    model TEXT NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE, path TEXT NOT NULL,
    queued REAL NOT NULL, PRIMARY KEY (collection_id, path));
CREATE TABLE IF NOT EXISTS sources (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE, path TEXT NOT NULL,
    PRIMARY KEY (collection_id, path));
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5(body, collection_id UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_vocab USING fts5vocab(chunk_fts, row);
"""


class KnowledgeError(StudioError):
    pass


@dataclass
class Collection:
    id: int
    name: str
    chunk_tokens: int
    overlap_tokens: int
    generation: int
    n_documents: int = 0
    n_skipped: int = 0
    n_chunks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "chunk_tokens": self.chunk_tokens, "overlap_tokens": self.overlap_tokens,
                "documents": self.n_documents, "skipped": self.n_skipped, "chunks": self.n_chunks}


@dataclass
class DocumentRow:
    id: int
    path: str
    content_hash: str
    mtime: float
    size: int
    status: str  # "indexed" | "skipped"
    reason_kind: str
    reason: str
    format: str
    unit: str
    n_chunks: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "reason_kind": self.reason_kind, "reason": self.reason,
                "format": self.format, "chunks": self.n_chunks}


@dataclass
class ChunkRow:
    id: int
    document_id: int
    path: str
    unit: str
    ordinal: int
    text: str
    heading: str
    start: int
    end: int
    n_tokens: int

    def location(self) -> str:
        """"page 3", "lines 10–24", "paragraph 5": where in the source file it is."""
        word = {"page": "page", "paragraph": "paragraph", "line": "line"}.get(self.unit, self.unit)
        if self.start == self.end:
            return f"{word} {self.start}"
        return f"{word}s {self.start}–{self.end}"


def default_path() -> Path:
    return paths.knowledge_db_path()


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise KnowledgeError("bad_request", "a collection needs a name")
    if len(name) > 200 or any(c < " " for c in name):
        raise KnowledgeError("bad_request", "a collection name is at most 200 characters, without control characters")
    return name


class KnowledgeStore:
    """One connection per instance; use it from one thread (the worker's, or the caller's)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise KnowledgeError("store", f"{self.path} was written by a newer version of the studio "
                                              f"(format {version}); update the studio to open it")
            self.db.executescript(_SCHEMA)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise KnowledgeError("store", f"the knowledge database {self.path} cannot be opened ({exc}); "
                                          "move it away to start a new one") from exc
        self._lock = threading.RLock()
        self._matrices: dict[tuple[int, str], tuple[int, np.ndarray, np.ndarray]] = {}

    def close(self) -> None:
        self.db.close()

    # --- collections ---------------------------------------------------------------------------

    def collection(self, name: str, *, create: bool = False, chunk_tokens: int = 160,
                   overlap_tokens: int = 32) -> Collection:
        name = _check_name(name)
        row = self.db.execute("SELECT id, name, chunk_tokens, overlap_tokens, generation FROM collections "
                              "WHERE name = ?", (name,)).fetchone()
        if row is None:
            if not create:
                known = [c.name for c in self.collections()]
                hint = f"; collections: {', '.join(known)}" if known else "; add documents to create it"
                raise KnowledgeError("not_found", f"no knowledge collection named {name!r}{hint}")
            cur = self.db.execute("INSERT INTO collections (name, created, chunk_tokens, overlap_tokens) "
                                  "VALUES (?, ?, ?, ?)", (name, time.time(), chunk_tokens, overlap_tokens))
            return Collection(int(cur.lastrowid or 0), name, chunk_tokens, overlap_tokens, 0)
        return Collection(*row)

    def collections(self) -> list[Collection]:
        rows = self.db.execute("""
            SELECT c.id, c.name, c.chunk_tokens, c.overlap_tokens, c.generation,
                   (SELECT COUNT(*) FROM documents d WHERE d.collection_id = c.id AND d.status = 'indexed'),
                   (SELECT COUNT(*) FROM documents d WHERE d.collection_id = c.id AND d.status = 'skipped'),
                   (SELECT COALESCE(SUM(n_chunks), 0) FROM documents d WHERE d.collection_id = c.id)
            FROM collections c ORDER BY c.name""").fetchall()
        return [Collection(*r) for r in rows]

    def delete_collection(self, name: str) -> None:
        coll = self.collection(name)
        with self.transaction():
            self.db.execute("DELETE FROM chunk_fts WHERE collection_id = ?", (coll.id,))
            self.db.execute("DELETE FROM collections WHERE id = ?", (coll.id,))

    def rename_collection(self, old: str, new: str) -> Collection:
        coll = self.collection(old)
        name = _check_name(new)
        if name == coll.name:
            return coll
        if self.db.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
            raise KnowledgeError("exists", f"a knowledge collection named {name!r} already exists")
        with self.transaction():
            self.db.execute("UPDATE collections SET name = ? WHERE id = ?", (name, coll.id))
            self._bump(coll.id)
        return self.collection(name)

    def models(self, collection: Collection) -> list[str]:
        """The embedding models the collection's vectors were made with (one, unless it was swapped)."""
        rows = self.db.execute("SELECT DISTINCT v.model FROM documents d JOIN chunks ch ON ch.document_id = d.id "
                               "JOIN vectors v ON v.chunk_id = ch.id WHERE d.collection_id = ?",
                               (collection.id,)).fetchall()
        return sorted(r[0] for r in rows)

    # What the user added (files and folders), so "re-index" can look at them again for changed,
    # new and deleted files.
    def add_sources(self, collection: Collection, paths: Sequence[str]) -> None:
        with self.transaction():
            self.db.executemany("INSERT OR IGNORE INTO sources (collection_id, path) VALUES (?, ?)",
                                [(collection.id, p) for p in paths])

    def sources(self, collection: Collection) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM sources WHERE collection_id = ? ORDER BY path",
                                              (collection.id,))]

    def remove_source(self, collection: Collection, path: str) -> None:
        self.db.execute("DELETE FROM sources WHERE collection_id = ? AND path = ?", (collection.id, path))

    def _bump(self, collection_id: int) -> None:
        self.db.execute("UPDATE collections SET generation = generation + 1 WHERE id = ?", (collection_id,))

    # --- documents -----------------------------------------------------------------------------

    def transaction(self) -> "_Transaction":
        return _Transaction(self.db, self._lock)

    def documents(self, collection: Collection) -> list[DocumentRow]:
        rows = self.db.execute("SELECT id, path, content_hash, mtime, size, status, reason_kind, reason, format, "
                               "unit, n_chunks FROM documents WHERE collection_id = ? ORDER BY path",
                               (collection.id,)).fetchall()
        return [DocumentRow(*r) for r in rows]

    def extents(self, collection: Collection) -> dict[str, int]:
        """{path: the last page or line its chunks reach}: how long each indexed document is."""
        rows = self.db.execute("SELECT d.path, MAX(ch.end) FROM documents d JOIN chunks ch ON ch.document_id = d.id "
                               "WHERE d.collection_id = ? GROUP BY d.id", (collection.id,)).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def document_chunks(self, collection: Collection, path: str) -> list[ChunkRow]:
        """A document's chunks in reading order."""
        rows = self.db.execute(
            "SELECT ch.id, ch.document_id, d.path, d.unit, ch.ordinal, ch.text, ch.heading, ch.start, ch.end, "
            "ch.n_tokens FROM chunks ch JOIN documents d ON ch.document_id = d.id "
            "WHERE d.collection_id = ? AND d.path = ? ORDER BY ch.ordinal", (collection.id, path)).fetchall()
        return [ChunkRow(*r) for r in rows]

    def document(self, collection: Collection, path: str) -> DocumentRow | None:
        row = self.db.execute("SELECT id, path, content_hash, mtime, size, status, reason_kind, reason, format, "
                              "unit, n_chunks FROM documents WHERE collection_id = ? AND path = ?",
                              (collection.id, path)).fetchone()
        return DocumentRow(*row) if row else None

    def _remove_document(self, document_id: int) -> None:
        self.db.execute("DELETE FROM chunk_fts WHERE rowid IN (SELECT id FROM chunks WHERE document_id = ?)",
                        (document_id,))
        self.db.execute("DELETE FROM documents WHERE id = ?", (document_id,))

    def remove_document(self, collection: Collection, path: str) -> bool:
        row = self.document(collection, path)
        if row is None:
            return False
        with self.transaction():
            self._remove_document(row.id)
            self.db.execute("DELETE FROM pending WHERE collection_id = ? AND path = ?", (collection.id, path))
            self._bump(collection.id)
        return True

    def put_document(self, collection: Collection, *, path: str, content_hash: str, mtime: float, size: int,
                     status: str, reason_kind: str = "", reason: str = "", format: str = "", unit: str = "line",
                     encoding: str = "", chunks: Sequence[Chunk] = (), vectors: np.ndarray | None = None,
                     model: str = "") -> None:
        """Replace what is stored for `path` with this outcome, atomically."""
        if vectors is not None and len(vectors) != len(chunks):
            raise ValueError("one vector per chunk")
        with self.transaction():
            old = self.db.execute("SELECT id FROM documents WHERE collection_id = ? AND path = ?",
                                  (collection.id, path)).fetchone()
            if old is not None:
                self._remove_document(old[0])
            cur = self.db.execute(
                "INSERT INTO documents (collection_id, path, content_hash, mtime, size, status, reason_kind, reason, "
                "format, unit, encoding, n_chunks, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (collection.id, path, content_hash, mtime, size, status, reason_kind, reason, format, unit,
                 encoding, len(chunks), time.time()))
            doc_id = cur.lastrowid
            for i, chunk in enumerate(chunks):
                cur = self.db.execute("INSERT INTO chunks (document_id, ordinal, text, heading, start, end, n_tokens) "
                                      "VALUES (?,?,?,?,?,?,?)", (doc_id, i, chunk.text, chunk.heading, chunk.start,
                                                                 chunk.end, chunk.n_tokens))
                chunk_id = cur.lastrowid
                self.db.execute("INSERT INTO chunk_fts (rowid, body, collection_id) VALUES (?, ?, ?)",
                                (chunk_id, segment(chunk.embed_text()), collection.id))
                if vectors is not None:
                    self.db.execute("INSERT INTO vectors (chunk_id, model, dim, vec) VALUES (?,?,?,?)",
                                    (chunk_id, model, vectors.shape[1],
                                     np.asarray(vectors[i], dtype=np.float16).tobytes()))
            self.db.execute("DELETE FROM pending WHERE collection_id = ? AND path = ?", (collection.id, path))
            self._bump(collection.id)

    # --- the queue an indexing job works through (what makes it resumable) ----------------------

    def queue(self, collection: Collection, files: Sequence[str]) -> None:
        with self.transaction():
            self.db.executemany("INSERT OR IGNORE INTO pending (collection_id, path, queued) VALUES (?, ?, ?)",
                                [(collection.id, f, time.time()) for f in files])

    def pending(self, collection: Collection) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM pending WHERE collection_id = ? "
                                              "ORDER BY queued, rowid", (collection.id,))]

    def done(self, collection: Collection, path: str) -> None:
        self.db.execute("DELETE FROM pending WHERE collection_id = ? AND path = ?", (collection.id, path))

    # --- chunks and search ---------------------------------------------------------------------

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRow]:
        wanted = list(dict.fromkeys(int(i) for i in ids))
        found: dict[int, ChunkRow] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start: start + 500]
            rows = self.db.execute(
                f"SELECT ch.id, ch.document_id, d.path, d.unit, ch.ordinal, ch.text, ch.heading, ch.start, ch.end, "
                f"ch.n_tokens FROM chunks ch JOIN documents d ON ch.document_id = d.id "
                f"WHERE ch.id IN ({','.join('?' * len(part))})", part).fetchall()
            found.update({r[0]: ChunkRow(*r) for r in rows})
        return found

    def chunk_count(self, collection: Collection) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks ch JOIN documents d ON ch.document_id = d.id "
                                   "WHERE d.collection_id = ?", (collection.id,)).fetchone()[0])

    def keyword_search(self, collections: Sequence[Collection], match: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score — higher is better) for an FTS5 MATCH expression, best first."""
        if not match or not collections:
            return []
        ids = [c.id for c in collections]
        try:
            # The collection id lives in the FTS row itself, so filtering needs no join per match.
            rows = self.db.execute(
                f"SELECT rowid, -bm25(chunk_fts) FROM chunk_fts WHERE chunk_fts MATCH ? "
                f"AND collection_id IN ({','.join('?' * len(ids))}) ORDER BY bm25(chunk_fts) LIMIT ?",
                (match, *ids, limit)).fetchall()
        except sqlite3.OperationalError as exc:
            raise KnowledgeError("bad_request", f"the keyword search could not run ({exc})") from exc
        return [(int(r[0]), float(r[1])) for r in rows]

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """({term: chunks containing it}, chunks in all) from the keyword index's vocabulary. Words
        are stemmed in the index, so a word is looked up by its first five letters (the largest
        count among the index terms that start so)."""
        total = int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
        counts: dict[str, int] = {}
        for term in terms:
            if term.isascii():
                stem = term[:5]
                row = self.db.execute("SELECT MAX(doc) FROM chunk_vocab WHERE term >= ? AND term < ?",
                                      (stem, stem + "\uffff")).fetchone()
            else:
                row = self.db.execute("SELECT doc FROM chunk_vocab WHERE term = ?", (term,)).fetchone()
            counts[term] = int(row[0] or 0) if row else 0
        return counts, total

    def matrix(self, collection: Collection, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, float32 unit vectors) of a collection for one model, cached until it changes."""
        generation = int(self.db.execute("SELECT generation FROM collections WHERE id = ?",
                                         (collection.id,)).fetchone()[0])
        key = (collection.id, model)
        cached = self._matrices.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        rows = self.db.execute("SELECT v.chunk_id, v.vec FROM vectors v JOIN chunks ch ON ch.id = v.chunk_id "
                               "JOIN documents d ON d.id = ch.document_id WHERE d.collection_id = ? AND v.model = ? "
                               "ORDER BY v.chunk_id", (collection.id, model)).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if rows:
            blob = b"".join(r[1] for r in rows)
            mat = np.frombuffer(blob, dtype=np.float16).reshape(len(rows), -1).astype(np.float32)
        else:
            mat = np.zeros((0, 0), dtype=np.float32)
        self._matrices[key] = (generation, ids, mat)
        return ids, mat


class _Transaction:
    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db = db
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self.lock.release()
