"""Hybrid retrieval: exact vector search + FTS5 BM25, fused by reciprocal rank.

`retrieve()` returns a `Retrieval` that keeps every candidate either side found, each with its
keyword score (BM25, higher is better; None when the keyword side did not match it), its vector
similarity (cosine, always computed), both ranks, the fused score and rank, and whether it made
the top k. A Retrieval panel shows exactly this; the prompt builder then marks which went in.

Fusion (RRF): score = Σ w / (K + rank) over the sides that ranked the chunk, K = 60 — rank-based,
so BM25's unbounded scores and cosine similarities need no common scale. The vector side's weight
is 1; the keyword side's is the share of the query's terms that its best match contains. A
question asked in another language than the documents' matches only stray words (时间, "days"),
and at full weight those matches pushed the right chunks out of the top 5; a question whose words
are in the text keeps the keyword side at (nearly) full weight. No constant to tune: on
benchmarks/retrieval_quality.py this took hybrid recall@5 from 0.986 to 1.000 and MRR from 0.875
to 0.899 (vector alone: 1.000, 0.927). `min_similarity` drops vector-side candidates below it
(keyword matches stay: a rare exact term is worth keeping).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import re

import numpy as np

from studio.core.knowledge.segment import fts_query, query_terms
from studio.core.knowledge.store import Collection, KnowledgeError, KnowledgeStore

MODES = ("hybrid", "vector", "keyword")
RRF_K = 60
DEFAULT_TOP_K = 5


@dataclass
class Settings:
    mode: str = "hybrid"
    top_k: int = DEFAULT_TOP_K
    min_similarity: float = 0.0  # vector side: candidates below this cosine are not counted
    candidates: int = 50  # how deep each side looks before fusing

    def check(self) -> "Settings":
        if self.mode not in MODES:
            raise KnowledgeError("bad_request", f"retrieval mode {self.mode!r} is not one of {', '.join(MODES)}")
        if not 1 <= self.top_k <= 100:
            raise KnowledgeError("bad_request", "top-k must be between 1 and 100")
        if not -1.0 <= self.min_similarity <= 1.0:
            raise KnowledgeError("bad_request", "the similarity threshold must be between -1 and 1")
        self.candidates = max(self.candidates, self.top_k)
        return self


@dataclass
class Candidate:
    chunk_id: int
    collection: str
    path: str
    location: str  # "page 3", "lines 10–24"
    unit: str
    start: int
    end: int
    heading: str
    text: str
    n_tokens: int
    keyword_score: float | None
    keyword_rank: int | None  # 1-based
    vector_similarity: float | None  # None when no query vector was computed
    vector_rank: int | None
    fused_score: float
    fused_rank: int  # 1-based, in the mode's own ordering
    selected: bool = False  # among the top k
    in_prompt: bool | None = None  # set by the prompt builder: went into the prompt / left out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Retrieval:
    query: str
    settings: Settings
    model: str
    candidates: list[Candidate] = field(default_factory=list)  # every candidate, by fused rank
    seconds: float = 0.0
    keyword_weight: float = 1.0  # the keyword side's weight in the fusion (see the module's docstring)

    @property
    def hits(self) -> list[Candidate]:
        return [c for c in self.candidates if c.selected]

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "mode": self.settings.mode, "top_k": self.settings.top_k,
                "min_similarity": self.settings.min_similarity, "model": self.model,
                "keyword_weight": round(self.keyword_weight, 4),
                "seconds": round(self.seconds, 4), "hits": [c.chunk_id for c in self.hits],
                "candidates": [c.to_dict() for c in self.candidates]}


def retrieve(store: KnowledgeStore, collections: Sequence[Collection], query: str, query_vector: np.ndarray | None,
             model: str, settings: Settings | None = None) -> Retrieval:
    """Search `collections` for `query` (its embedding `query_vector`, None for keyword mode)."""
    import time

    began = time.perf_counter()
    settings = (settings or Settings()).check()
    result = Retrieval(query, settings, model)
    if not query.strip():
        raise KnowledgeError("bad_request", "the question is empty")
    depth = settings.candidates

    keyword: list[tuple[int, float]] = []
    if settings.mode in ("hybrid", "keyword"):
        keyword = store.keyword_search(collections, fts_query(query), depth)

    similarity: dict[int, float] = {}
    vector_ranked: list[int] = []
    names: dict[int, str] = {}
    if query_vector is not None:
        q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        scored_ids: list[np.ndarray] = []
        scored: list[np.ndarray] = []
        for coll in collections:
            ids, matrix = store.matrix(coll, model)
            if len(ids) == 0:
                continue
            sims = matrix @ q
            scored_ids.append(ids)
            scored.append(sims)
        if scored:
            all_ids = np.concatenate(scored_ids)
            all_sims = np.concatenate(scored)
            take = min(depth, len(all_ids))
            top = np.argpartition(-all_sims, take - 1)[:take]
            top = top[np.argsort(-all_sims[top], kind="stable")]
            if settings.mode in ("hybrid", "vector"):
                vector_ranked = [int(all_ids[i]) for i in top if all_sims[i] >= settings.min_similarity]
            # Similarities of the candidates only: a dict over every chunk would cost more than the search.
            similarity = {int(all_ids[i]): float(all_sims[i]) for i in top}
            missing = [cid for cid, _ in keyword if cid not in similarity]
            if missing:
                where = np.flatnonzero(np.isin(all_ids, missing))
                similarity.update({int(all_ids[i]): float(all_sims[i]) for i in where})

    keyword_rank = {cid: i + 1 for i, (cid, _) in enumerate(keyword)}
    keyword_score = dict(keyword)
    vector_rank = {cid: i + 1 for i, cid in enumerate(vector_ranked)}
    if settings.mode == "hybrid" and keyword:
        best = store.chunks([keyword[0][0]]).get(keyword[0][0])
        result.keyword_weight = term_coverage(query, best.text + "\n" + best.heading) if best else 1.0
    sides = {"hybrid": ((keyword_rank, result.keyword_weight), (vector_rank, 1.0)),
             "keyword": ((keyword_rank, 1.0),), "vector": ((vector_rank, 1.0),)}[settings.mode]
    fused: dict[int, float] = {}
    for ranks, weight in sides:
        for cid, rank in ranks.items():
            fused[cid] = fused.get(cid, 0.0) + weight / (RRF_K + rank)
    # Ties (same fused score) go to the better vector rank, then the better keyword rank.
    order = sorted(fused, key=lambda c: (-fused[c], vector_rank.get(c, 10 ** 9), keyword_rank.get(c, 10 ** 9)))
    rows = store.chunks(order)
    for coll in collections:
        names[coll.id] = coll.name
    collection_of = _collection_names(store, [rows[c].document_id for c in order if c in rows], names)
    for rank, cid in enumerate(order, start=1):
        row = rows.get(cid)
        if row is None:  # removed between the two queries
            continue
        result.candidates.append(Candidate(
            chunk_id=cid, collection=collection_of.get(row.document_id, ""), path=row.path,
            location=row.location(), unit=row.unit, start=row.start, end=row.end, heading=row.heading,
            text=row.text, n_tokens=row.n_tokens, keyword_score=keyword_score.get(cid),
            keyword_rank=keyword_rank.get(cid), vector_similarity=round(similarity[cid], 6) if cid in similarity else None,
            vector_rank=vector_rank.get(cid), fused_score=fused[cid], fused_rank=rank,
            selected=rank <= settings.top_k))
    result.seconds = time.perf_counter() - began
    return result


def term_coverage(query: str, text: str) -> float:
    """The share of the query's search terms found in `text`: CJK terms as substrings, words by
    their first five letters at a word start (a stand-in for the index's porter stemming)."""
    terms = query_terms(query)
    if not terms:
        return 0.0
    lower = text.lower()
    found = sum(1 for t in terms if (re.search(r"\b" + re.escape(t[:5]), lower) if t.isascii() else t in lower))
    return found / len(terms)


def _collection_names(store: KnowledgeStore, document_ids: list[int], names: dict[int, str]) -> dict[int, str]:
    if not document_ids:
        return {}
    ids = list(dict.fromkeys(document_ids))
    rows = store.db.execute(f"SELECT id, collection_id FROM documents WHERE id IN ({','.join('?' * len(ids))})",
                            ids).fetchall()
    return {r[0]: names.get(r[1], "") for r in rows}
