"""Knowledge at scale: indexing throughput and retrieval latency at 100k chunks.

  1. Indexing throughput, real pipeline (extract → chunk in model tokens → embed with the real
     model → SQLite + FTS5 + float16 vectors), on copies of the retrieval benchmark's corpus
     (benchmarks/data/knowledge, English and Chinese) with each copy's sentences shuffled so no two
     files are alike. Reported: chunks/s overall and the share spent embedding.
  2. Retrieval latency at --chunks (default 100,000) chunks. SYNTHETIC chunks: half English-like
     (90 words), half Chinese-like (120 characters), each word or character drawn with Zipf
     frequencies from the corpus's own vocabulary plus made-up words (so query terms match as many
     chunks as they would in real text), with random unit vectors, written straight into the store
     (embedding 100k chunks would take over half an hour here and measures nothing new). Queries are
     real questions embedded with the real model. Reported: the first query (reads the vector
     matrix from SQLite), then warm medians for keyword, vector and hybrid; query embedding apart.
     Goal (issue 15): ≤ 100 ms retrieval, not counting generation.

  python benchmarks/knowledge_scale.py [--chunks 100000] [--copies 6]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.core.knowledge.chunking import Chunk  # noqa: E402
from studio.core.knowledge.embedder import Embedder, provision  # noqa: E402
from studio.core.knowledge.indexer import index  # noqa: E402
from studio.core.knowledge.retrieval import Settings, retrieve  # noqa: E402
from studio.core.knowledge.store import KnowledgeStore  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "knowledge"


def throughput(embedder: Embedder, tmp: Path, copies: int) -> None:
    rng = random.Random(1)
    folder = tmp / "docs"
    folder.mkdir()
    sources = sorted(p for p in DATA.iterdir() if p.suffix in (".md", ".txt", ".html") and p.name != "README.md")
    for n in range(copies):
        for src in sources:
            lines = src.read_text(encoding="utf-8").splitlines()
            body = [ln for ln in lines if ln and not ln.startswith(("#", "<"))]
            rng.shuffle(body)
            heads = [ln for ln in lines if ln.startswith("#")]
            text = "\n\n".join(heads[:1] + body * 3)  # longer files: three passes over the paragraphs
            if src.suffix == ".html":  # its paragraphs are tags: copied as it is
                text = src.read_text(encoding="utf-8").replace("<h1>", f"<h1>Copy {n}: ")
            (folder / f"{src.stem}-{n}{src.suffix}").write_text(text, encoding="utf-8")
    store = KnowledgeStore(tmp / "throughput.sqlite3")
    began = time.perf_counter()
    report = index(store, embedder, "throughput", [folder])
    seconds = time.perf_counter() - began
    chunks = report.embedded_chunks
    tokens = store.db.execute("SELECT SUM(n_tokens) FROM chunks").fetchone()[0]
    print(f"1. indexing: {report.count('indexed')} files, {chunks} chunks ({tokens / chunks:.0f} tokens each) in "
          f"{seconds:.1f} s → {chunks / seconds:.1f} chunks/s; embedding {report.embed_seconds / seconds:.0%} of the "
          f"time ({chunks / report.embed_seconds:.1f} chunks/s, {tokens / report.embed_seconds:.0f} tokens/s)")
    store.close()


class _Zipf:
    """Text with natural-language statistics: words (or characters) drawn with Zipf frequencies
    (the r-th most common has weight 1/r) from a vocabulary that mixes the corpus's own words with
    made-up ones, so common words match many chunks and rare ones few, as in real collections."""

    def __init__(self, rng: random.Random, vocabulary: list[str]) -> None:
        rng.shuffle(vocabulary)
        weights = np.array([1.0 / (r + 1) for r in range(len(vocabulary))])
        self.vocabulary = vocabulary
        self.cumulative = np.cumsum(weights / weights.sum())
        self.np_rng = np.random.default_rng(rng.randrange(1 << 30))

    def draw(self, n: int) -> list[str]:
        return [self.vocabulary[i] for i in np.searchsorted(self.cumulative, self.np_rng.random(n))]


def _vocabularies(rng: random.Random) -> tuple[_Zipf, _Zipf]:
    corpus = " ".join(p.read_text(encoding="utf-8") for p in DATA.iterdir() if p.suffix in (".md", ".txt", ".html") and p.name != "README.md")
    english = sorted({w.lower() for w in re.findall(r"[A-Za-z]{2,}", corpus)})
    syllables = ["ka", "lo", "mi", "ter", "son", "vel", "dra", "pen", "ux", "ri", "gan", "tho", "bel", "zu", "fra"]
    made_up = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(30000)})
    hanzi = sorted({c for c in corpus if "\u4e00" <= c <= "\u9fff"} | {chr(0x4E00 + rng.randrange(6000))
                                                                       for _ in range(3000)})
    return _Zipf(rng, english + made_up), _Zipf(rng, hanzi)


def _synthetic_text(rng: random.Random, words: _Zipf, chars: _Zipf) -> str:
    if rng.random() < 0.5:
        return " ".join(words.draw(90)) + "."
    return "".join(c + ("。" if rng.random() < 0.05 else "") for c in chars.draw(120))


def latency(embedder: Embedder, tmp: Path, total: int) -> None:
    rng = random.Random(2)
    words, chars = _vocabularies(rng)
    store = KnowledgeStore(tmp / "scale.sqlite3")
    coll = store.collection("scale", create=True)
    per_doc = 100
    began = time.perf_counter()
    for d in range(total // per_doc):
        chunks = [Chunk(_synthetic_text(rng, words, chars), f"Section {i}", i, i, 120) for i in range(per_doc)]
        vectors = np.random.default_rng(d).standard_normal((per_doc, embedder.dimensions)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.put_document(coll, path=f"/synthetic/doc{d:05d}.txt", content_hash=str(d), mtime=0, size=0,
                           status="indexed", chunks=chunks, vectors=vectors, model=embedder.name)
    print(f"2. retrieval at {store.chunk_count(coll):,} synthetic chunks (written in "
          f"{time.perf_counter() - began:.0f} s; database {store.path.stat().st_size / 1e6:.0f} MB)")
    questions = [json.loads(line)["q"] for line in (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    questions = questions[::3]
    embed_times, vectors = [], []
    for q in questions:
        t = time.perf_counter()
        vectors.append(embedder.encode([q])[0])
        embed_times.append(time.perf_counter() - t)
    fresh = KnowledgeStore(store.path)  # a new connection: the first query reads the matrix
    t = time.perf_counter()
    retrieve(fresh, [coll], questions[0], vectors[0], embedder.name, Settings(mode="hybrid"))
    print(f"   first query (loads {store.chunk_count(coll):,} float16 vectors from SQLite): "
          f"{1000 * (time.perf_counter() - t):.0f} ms")
    for mode in ("keyword", "vector", "hybrid"):
        times = []
        for q, v in zip(questions, vectors):
            t = time.perf_counter()
            retrieve(fresh, [coll], q, v, embedder.name, Settings(mode=mode, top_k=5))
            times.append(time.perf_counter() - t)
        ordered = sorted(times)
        print(f"   {mode:<8} median {1000 * statistics.median(times):6.1f} ms   p90 "
              f"{1000 * ordered[int(0.9 * (len(ordered) - 1))]:6.1f} ms   max {1000 * ordered[-1]:6.1f} ms"
              f"{'   goal ≤ 100 ms: ' + ('met' if statistics.median(times) <= 0.1 else 'MISSED') if mode == 'hybrid' else ''}")
    print(f"   embedding the question (not part of retrieval above): median {1000 * statistics.median(embed_times):.1f} ms")
    fresh.close()
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--copies", type=int, default=6, help="copies of the corpus for the throughput run")
    args = parser.parse_args()
    embedder = Embedder(provision())
    embedder.encode(["warm up"])
    print(f"embedding model: {embedder.name}")
    with tempfile.TemporaryDirectory(prefix="studio-kscale-") as tmp:
        throughput(embedder, Path(tmp), args.copies)
        latency(embedder, Path(tmp), args.chunks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
