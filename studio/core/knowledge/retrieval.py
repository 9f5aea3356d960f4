"""Hybrid retrieval: exact vector search + FTS5 BM25, fused by reciprocal rank.

`retrieve()` returns a `Retrieval` that keeps every candidate either side found, each with its
keyword score (BM25, higher is better; None when the keyword side did not match it), its vector
similarity (cosine, always computed), both ranks, the fused score and rank, and whether it made
the top k. A Retrieval panel shows exactly this; the prompt builder then marks which went in.

Fusion (RRF): score = Σ w / (K + rank) over the sides that ranked the chunk, K = 60 — rank-based,
so BM25's unbounded scores and cosine similarities need no common scale. The vector side's weight
is 1; the keyword side's is the share of the query's terms, weighted by IDF, that its best match
contains (0 when nothing matched). A question asked in another language than the documents'
matches only stray common words (需要, 时间, "days"), and at full weight those matches pushed the
right chunks out of the top 5; a question whose rare words are in the text keeps the keyword
side near full weight. No constant to tune. On benchmarks/retrieval_quality.py (87 questions)
hybrid recall@5 went from 0.977 (equal weights) to 0.989, equal to vector alone; MRR is 0.875
against vector's 0.895: on same-language questions hybrid ranks better than vector (0.964 vs
0.924), across languages worse (0.536 vs 0.785) — a stray keyword match still outranks the right
chunk's second place there. `min_similarity` drops vector-side candidates below it (keyword
matches stay: a rare exact term is worth keeping).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import re

import numpy as np

from studio.core.knowledge.segment import fts_query, query_terms
from studio.core.knowledge.store import Collection, KnowledgeError, KnowledgeStore

MODES = ("hybrid", "vector", "keyword")
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knowledge-vectors")
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

    similarity: dict[int, float] = {}
    vector_ranked: list[int] = []
    names: dict[int, str] = {}
    scored_ids: list[np.ndarray] = []
    scored: list[np.ndarray] = []
    pending: Future[list[np.ndarray]] | None = None
    if query_vector is not None:
        q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        matrices = [store.matrix(coll, model) for coll in collections]  # cached; reads SQLite on change only
        matrices = [(ids, m) for ids, m in matrices if len(ids)]
        scored_ids = [ids for ids, _ in matrices]
        # The product runs on another thread while SQLite answers the keyword side on this one (both
        # release the GIL), so hybrid costs about the slower of the two, not their sum.
        pending = _POOL.submit(lambda: [m @ q for _, m in matrices])

    keyword: list[tuple[int, float]] = []
    try:
        if settings.mode in ("hybrid", "keyword"):
            keyword = store.keyword_search(collections, fts_query(query), depth)
    finally:
        if pending is not None:
            scored = pending.result()

    if query_vector is not None:
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
    if settings.mode == "hybrid" and not keyword:
        result.keyword_weight = 0.0  # nothing matched: shown as such, and nothing to weigh
    elif settings.mode == "hybrid":
        best = store.chunks([keyword[0][0]]).get(keyword[0][0])
        result.keyword_weight = term_coverage(query, best.text + "\n" + best.heading, store) if best else 1.0
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


def term_coverage(query: str, text: str, store: KnowledgeStore | None = None) -> float:
    """The share of the query's search terms found in `text`, each term weighted by its BM25 IDF
    (with a store; else all alike): CJK terms as substrings, words by their first five letters at
    a word start (a stand-in for the index's porter stemming). Common words (需要, 时间, "get")
    found by chance count for little; a rare term shared with the text for much."""
    import math

    terms = query_terms(query)
    if not terms:
        return 0.0
    weight = {t: 1.0 for t in terms}
    if store is not None:
        counts, total = store.document_frequencies(terms)
        weight = {t: math.log(1 + (total - n + 0.5) / (n + 0.5)) for t, n in counts.items()}
    lower = text.lower()
    found = sum(weight[t] for t in terms if (re.search(r"\b" + re.escape(t[:5]), lower) if t.isascii() else t in lower))
    return found / max(sum(weight.values()), 1e-9)


def _collection_names(store: KnowledgeStore, document_ids: list[int], names: dict[int, str]) -> dict[int, str]:
    if not document_ids:
        return {}
    ids = list(dict.fromkeys(document_ids))
    rows = store.db.execute(f"SELECT id, collection_id FROM documents WHERE id IN ({','.join('?' * len(ids))})",
                            ids).fetchall()
    return {r[0]: names.get(r[1], "") for r in rows}
