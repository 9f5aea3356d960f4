"""How fast the Inspect screen answers, each number next to a baseline measured in the same run:

  1. Tokens: a ~100k-token document (English + Chinese + code) tokenized with spans
     (studio.core.inspect.tokens) and fully rendered in the Tokens view's display widget (measure,
     wrap, first paint), vs llama.cpp's bare tokenize of the same text.       goal: ≤ 1 s in all
     The headline is cold: each run is a fresh process with a fresh tokenizer (empty piece cache),
     bare and spans timed in the same process in alternating order. The warm figure (a tokenizer
     that has seen part of the text, as the app keeps one per model) is shown beside it.
  2. Attention: a 256-token prompt on the starter model through the analyser worker with the model
     warm (forward with every layer's weights, write and read back the .npz), vs the same worker's
     forward pass on the same ids without attentions (the torch next-token op). Alternating order,
     one untimed call of each first.                                                   goal: ≤ 3 s
  3. Loading for torch: the cached reload of the dequantized model vs the first load, which
     dequantizes the GGUF into an empty cache. Through a fresh worker (so including starting the
     process and importing torch), and through a prewarmed one, as the Inspect screen has when a user
     opens Attention or Next token (it starts the worker then).                     goal: ≤ 3 s
     No run inherits another's page cache: the GGUF and the dequantized files are evicted before
     each (fsync + POSIX_FADV_DONTNEED), and an untimed worker start first warms torch's own files
     for all three alike.

    .venv/bin/python benchmarks/inspect_speed.py [--tokens 100000] [--repeat 3] [--skip-first-load]

Qt runs offscreen. Timings on a shared machine are noisy: medians of --repeat runs are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import median, starter_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CHUNK = (
    "Attention lets every token look back at the tokens before it. 注意力机制让每个词元回看它之前的词元，"
    "并按权重汇总它们的信息。\n"
    "def softmax(x):\n    e = np.exp(x - x.max())\n    return e / e.sum()\n"
    "The capital of France is Paris; 法国的首都是巴黎。Numbers like 3.14159 and 2026-11-23 split oddly.\n\n"
)


def document(model: Path, n_tokens: int) -> str:
    from studio.core.inspect.tokens import Tokenizer

    per_chunk = Tokenizer(model).tokenize(CHUNK, add_special=False).n_tokens
    return CHUNK * max(1, round(n_tokens / per_chunk))


def evict(*paths: Path) -> None:
    """Drop files from the page cache so the next run reads them from disk, as the first one did.
    No root needed; pages another process has mapped (a running engine) stay."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages cannot be dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cold_tokenize(model: str, text_file: str, spans_first: bool) -> dict[str, float]:
    """One cold run, in a fresh process: open both vocabularies, then time a bare llama.cpp tokenize
    and a tokenize with spans (fresh piece cache) of the same text."""
    import llama_cpp

    from studio.core.inspect.tokens import Tokenizer

    text = Path(text_file).read_text(encoding="utf-8")
    started = time.perf_counter()
    tokenizer = Tokenizer(model)
    out = {"load": time.perf_counter() - started}
    bare = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
    for which in (("spans", "bare") if spans_first else ("bare", "spans")):
        started = time.perf_counter()
        n = tokenizer.tokenize(text).n_tokens if which == "spans" else len(
            bare.tokenize(text.encode("utf-8"), add_bos=False, special=True))
        out[which] = time.perf_counter() - started
        out[which + "_n"] = n
    return out


def bench_tokens(model: Path, n_tokens: int, repeat: int) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from studio.core.inspect.tokens import Tokenizer
    from studio.ui.inspect.token_text import TokenText, measure_render

    app = QApplication.instance() or QApplication([])
    text = document(model, n_tokens)
    folder = Path(tempfile.mkdtemp(prefix="inspect-bench-text-"))
    text_file = folder / "document.txt"
    text_file.write_text(text, encoding="utf-8")
    cold: list[dict[str, float]] = []
    warm_s, render_s = [], []
    try:
        for run in range(repeat):
            evict(model)
            child = subprocess.run([sys.executable, __file__, "--cold-tokenize", str(model), str(text_file),
                                    "spans" if run % 2 else "bare"], capture_output=True, text=True, check=True)
            cold.append(json.loads(child.stdout.strip().splitlines()[-1]))

            tokenizer = Tokenizer(model)
            tokenizer.tokenize(text[:20_000])  # the app keeps one per model: the common pieces are cached
            started = time.perf_counter()
            tokenized = tokenizer.tokenize(text)
            warm_s.append(time.perf_counter() - started)

            widget = TokenText()
            widget.resize(1100, 700)
            render_s.append(measure_render(widget, tokenized)["total"])
            widget.deleteLater()
            app.processEvents()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    n = cold[0]["bare_n"]
    assert all(c["bare_n"] == c["spans_n"] == n for c in cold) and tokenized.n_tokens == n, (cold, tokenized.n_tokens)
    return {"tokens": n, "chars": len(text), "bare": median([c["bare"] for c in cold]),
            "tokenize_cold": median([c["spans"] for c in cold]), "load": median([c["load"] for c in cold]),
            "tokenize_warm": median(warm_s), "render": median(render_s)}


async def bench_attention(model: Path, repeat: int) -> dict[str, float]:
    from studio.core.inspect.client import AnalyserClient

    text = (REPO / "README.md").read_text(encoding="utf-8")
    client = AnalyserClient()
    try:
        await client.load(model)
        ids = (await client.attention(model, text=text, max_tokens=256)).ids  # also the untimed first call
        await client.next_token(model, tokens=ids, top_k=1)

        shapes = []

        async def attention() -> None:
            shapes.append((await client.attention(model, tokens=ids)).weights.shape)

        async def forward() -> None:  # the same model and ids, no attention weights asked for
            await client.next_token(model, tokens=ids, top_k=1)

        times: dict[str, list[float]] = {"attention": [], "forward": []}
        for run in range(repeat):
            for name, call in ((("attention", attention), ("forward", forward)) if run % 2 == 0
                               else (("forward", forward), ("attention", attention))):
                started = time.perf_counter()
                await call()
                times[name].append(time.perf_counter() - started)
        return {"attention": median(times["attention"]), "best": min(times["attention"]),
                "forward": median(times["forward"]), "shape": shapes[-1]}
    finally:
        await client.close()


async def bench_loads(model: Path, skip_first: bool) -> dict[str, float]:
    from studio.core.inspect.client import AnalyserClient
    from studio.core.training.base_model import cache_root, cached_dir

    cache = Path(tempfile.mkdtemp(prefix="inspect-bench-cache-"))
    env = {**os.environ, "STUDIO_CACHE_DIR": str(cache)}
    if skip_first:  # reuse the app's cache; "first" is then not measured
        env.pop("STUDIO_CACHE_DIR")
    # The folder the worker will read (and, for "first", write): evicted before each load.
    dequantized = (cache_root() if skip_first else cache / "dequantized") / cached_dir(model).name
    out: dict[str, float] = {}
    warmup = AnalyserClient(env=env)  # torch's own files into the page cache, for all three alike
    try:
        await warmup.warm()
    finally:
        await warmup.close()
    try:
        for label in (("cached", "prewarmed") if skip_first else ("first", "cached", "prewarmed")):
            client = AnalyserClient(env=env)
            try:
                if label == "prewarmed":  # what the Inspect screen does when Attention/Next token opens
                    await client.warm()
                evict(model, *(p for p in dequantized.glob("*") if p.is_file()))
                started = time.perf_counter()
                facts = await client.load(model)
                out[label] = time.perf_counter() - started
                out[label + "_in_worker"] = float(facts.get("load_seconds") or 0.0)
            finally:
                await client.close()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--cold-tokenize":  # one cold run, in its own process
        print(json.dumps(cold_tokenize(sys.argv[2], sys.argv[3], sys.argv[4] == "spans")))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-first-load", action="store_true", help="do not dequantize into an empty cache")
    args = parser.parse_args()
    model = starter_model()

    t = bench_tokens(model, args.tokens, args.repeat)
    shown = t["tokenize_cold"] + t["render"]
    print(f"Tokens: {t['tokens']:,} tokens ({t['chars']:,} characters); cold = a fresh process per run")
    print(f"  bare llama.cpp tokenize, cold  {t['bare'] * 1000:7.0f} ms   (baseline)")
    print(f"  tokenize with spans, cold      {t['tokenize_cold'] * 1000:7.0f} ms   = "
          f"{t['tokenize_cold'] / t['bare']:.1f}x bare   (warm piece cache: {t['tokenize_warm'] * 1000:.0f} ms; "
          f"opening the vocabulary, once per model: {t['load'] * 1000:.0f} ms)")
    print(f"  render (measure, wrap, paint)  {t['render'] * 1000:7.0f} ms")
    print(f"  shown in the Tokens view, cold {shown * 1000:7.0f} ms   = {shown / t['bare']:.1f}x bare tokenize   "
          f"goal <= 1000 ms: {'met' if shown <= 1.0 else 'MISSED'}")

    a = asyncio.run(bench_attention(model, args.repeat))
    print(f"Attention, 256-token prompt, model warm: {a['attention']:.2f} s median (best {a['best']:.2f} s), "
          f"weights {a['shape']}   goal <= 3 s: {'met' if a['attention'] <= 3.0 else 'MISSED'}")
    print(f"  forward pass without attentions, same worker and ids: {a['forward']:.2f} s (baseline)   "
          f"attention = {a['attention'] / a['forward']:.1f}x the forward pass")

    loads = asyncio.run(bench_loads(model, args.skip_first_load))
    if "first" in loads:
        print(f"First load for torch (dequantize GGUF, empty cache): {loads['first']:.1f} s "
              f"(in the worker {loads['first_in_worker']:.1f} s)")
    print(f"Cached reload, fresh worker: {loads['cached']:.1f} s (in the worker {loads['cached_in_worker']:.1f} s; "
          f"the rest is starting the process and importing torch)")
    print(f"Cached reload, worker prewarmed (as the screen does): {loads['prewarmed']:.1f} s   "
          f"goal <= 3 s: {'met' if loads['prewarmed'] <= 3.0 else 'MISSED'}")
    if "first" in loads:
        print(f"  cached reload / first load = {loads['cached'] / loads['first']:.2f} (fresh worker), "
              f"{loads['prewarmed'] / loads['first']:.2f} (prewarmed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
