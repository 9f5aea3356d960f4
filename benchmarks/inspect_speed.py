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
  4. llama.cpp attention (the engine worker, n_ctx 1024) vs the torch analyser, on the same 256
     token ids, each ratio against the torch figure of the same run:
     a) warm: llama.cpp attention + reading the .npz back ÷ torch's (which reads it back too).
        Alternating order, one untimed call of each first, median of --repeat.      goal: ≤ 0.5
     b) first use, GGUF evicted: a fresh engine worker loading the model + its first attention
        (median of --repeat) ÷ a fresh analyser worker's first attention with an empty dequantize
        cache (STUDIO_CACHE_DIR set to a fresh folder), so dequantize + load + attention (one run,
        ~30 s). An untimed start of both workers first puts their libraries in the page cache.
                                                                                  goal: ≤ 0.1
     c) peak RSS (VmHWM in /proc/<pid>/status) of the worker ÷ the GGUF's size: the engine after (b)
        (load + one attention); torch after its first attention in a fresh worker with a cached
        load (~11x measured; its peak while dequantizing is shown beside it). goal: ≤ 2.5 (engine)
     The load average at the start is printed: llama.cpp's threads wait on each other, so another
     busy process on a small machine slows (a) far more than it slows torch.

    .venv/bin/python benchmarks/inspect_speed.py [--tokens 100000] [--repeat 3] [--skip-first-load]
        [--only tokens attention loading engine]     (e.g. --only engine: section 4 alone, ~2 min)

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


def peak_rss(pid: int | None) -> int:
    """VmHWM of a live process, in bytes: its resident high-water mark, mapped model pages included."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


async def bench_engine(model: Path, repeat: int) -> dict[str, float]:
    """llama.cpp's attention (engine worker) next to the torch analyser's, on the same ids: first
    use, warm, and the workers' peak memory."""
    from studio.core.engine.client import EngineClient
    from studio.core.inspect.client import AnalyserClient, AttentionResult

    text = (REPO / "README.md").read_text(encoding="utf-8")
    cache = Path(tempfile.mkdtemp(prefix="inspect-bench-cache-"))
    env = {**os.environ, "STUDIO_CACHE_DIR": str(cache)}  # base_model.cache_root(): an empty dequantize cache
    out: dict[str, float] = {"gguf": model.stat().st_size, "load_average": os.getloadavg()[0]}

    async def engine_attention(engine: EngineClient, text: str | None = None,
                               tokens: list[int] | None = None) -> AttentionResult:
        facts = await engine.attention(text, tokens=tokens, max_tokens=256)
        return await asyncio.to_thread(AttentionResult.load, facts["path"])  # read back, as torch's client does

    # Untimed: both workers' own files (llama.cpp, torch, transformers) into the page cache, so first
    # use differs only by what each does with the model.
    for warmup in (EngineClient(), AnalyserClient(env=env)):
        try:
            await (warmup.system_info() if isinstance(warmup, EngineClient) else warmup.warm())
        finally:
            await warmup.close()
    try:
        # First use, engine: a fresh worker loads the model and answers once; cheap, so the median of
        # --repeat (reading the evicted GGUF is the noisy part). Its peak memory is (c).
        first = []
        for _ in range(repeat):
            engine = EngineClient()
            try:
                evict(model)
                started = time.perf_counter()
                await engine.load(str(model), n_ctx=1024)
                ids = (await engine_attention(engine, text=text)).ids
                first.append(time.perf_counter() - started)
                out["engine_rss"] = peak_rss(engine.pid)
            finally:
                await engine.close()  # before the next eviction: pages it maps would stay cached
        out["engine_first"] = median(first)

        # First use, torch: a fresh worker dequantizes into the empty cache, loads, answers once (~30 s).
        client = AnalyserClient(env=env)
        try:
            evict(model)
            started = time.perf_counter()
            await client.attention(model, tokens=ids)
            out["torch_first"] = time.perf_counter() - started
            out["torch_first_rss"] = peak_rss(client.pid)  # dequantizing included
        finally:
            await client.close()

        # Warm: both models loaded (torch's from the now filled cache), same ids, alternating order.
        engine, client = EngineClient(), AnalyserClient(env=env)
        try:
            await engine.load(str(model), n_ctx=1024)
            shapes = {"engine": (await engine_attention(engine, tokens=ids)).weights.shape,  # the untimed calls
                      "torch": (await client.attention(model, tokens=ids)).weights.shape}
            assert shapes["engine"] == shapes["torch"], shapes
            out["torch_rss"] = peak_rss(client.pid)  # a cached load, as every use after the first
            calls = {"engine": lambda: engine_attention(engine, tokens=ids),
                     "torch": lambda: client.attention(model, tokens=ids)}
            times: dict[str, list[float]] = {"engine": [], "torch": []}
            for run in range(repeat):
                for name in (("engine", "torch") if run % 2 == 0 else ("torch", "engine")):
                    started = time.perf_counter()
                    await calls[name]()
                    times[name].append(time.perf_counter() - started)
            out.update(engine_warm=median(times["engine"]), torch_warm=median(times["torch"]), n_tokens=len(ids))
        finally:
            await engine.close()
            await client.close()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


SECTIONS = ["tokens", "attention", "loading", "engine"]


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--cold-tokenize":  # one cold run, in its own process
        print(json.dumps(cold_tokenize(sys.argv[2], sys.argv[3], sys.argv[4] == "spans")))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-first-load", action="store_true", help="do not dequantize into an empty cache")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, help="run these sections only")
    args = parser.parse_args()
    model = starter_model()

    if "tokens" in args.only:
        report_tokens(bench_tokens(model, args.tokens, args.repeat))
    if "attention" in args.only:
        report_attention(asyncio.run(bench_attention(model, args.repeat)))
    if "loading" in args.only:
        report_loads(asyncio.run(bench_loads(model, args.skip_first_load)))
    if "engine" in args.only:
        report_engine(asyncio.run(bench_engine(model, args.repeat)))
    return 0


def report_engine(e: dict[str, float]) -> None:
    def verdict(ratio: float, goal: float) -> str:
        return f"ratio {ratio:.2f} (goal <= {goal:g}: {'met' if ratio <= goal else 'MISSED'})"

    gib = 1 << 30
    print(f"llama.cpp attention (engine worker, n_ctx 1024) vs torch (analyser worker), same {e['n_tokens']:.0f} ids "
          f"(load average at the start {e['load_average']:.1f}):")
    print(f"  attention {e['n_tokens']:.0f} tok: llama.cpp {e['engine_warm']:.2f} s vs torch warm "
          f"{e['torch_warm']:.2f} s -> {verdict(e['engine_warm'] / e['torch_warm'], 0.5)}")
    print(f"  first use (fresh worker, GGUF evicted): llama.cpp load + attention {e['engine_first']:.1f} s (median) vs "
          f"torch dequantize + load + attention {e['torch_first']:.1f} s -> {verdict(e['engine_first'] / e['torch_first'], 0.1)}")
    print(f"  peak RSS / GGUF size ({e['gguf'] / gib:.3f} GiB): llama.cpp {e['engine_rss'] / gib:.3f} GiB -> "
          f"{verdict(e['engine_rss'] / e['gguf'], 2.5)}; torch {e['torch_rss'] / gib:.3f} GiB = "
          f"{e['torch_rss'] / e['gguf']:.1f}x (first use, dequantizing: {e['torch_first_rss'] / e['gguf']:.1f}x)")


def report_tokens(t: dict[str, float]) -> None:
    shown = t["tokenize_cold"] + t["render"]
    print(f"Tokens: {t['tokens']:,} tokens ({t['chars']:,} characters); cold = a fresh process per run")
    print(f"  bare llama.cpp tokenize, cold  {t['bare'] * 1000:7.0f} ms   (baseline)")
    print(f"  tokenize with spans, cold      {t['tokenize_cold'] * 1000:7.0f} ms   = "
          f"{t['tokenize_cold'] / t['bare']:.1f}x bare   (warm piece cache: {t['tokenize_warm'] * 1000:.0f} ms; "
          f"opening the vocabulary, once per model: {t['load'] * 1000:.0f} ms)")
    print(f"  render (measure, wrap, paint)  {t['render'] * 1000:7.0f} ms")
    print(f"  shown in the Tokens view, cold {shown * 1000:7.0f} ms   = {shown / t['bare']:.1f}x bare tokenize   "
          f"goal <= 1000 ms: {'met' if shown <= 1.0 else 'MISSED'}")


def report_attention(a: dict[str, float]) -> None:
    print(f"Attention, 256-token prompt, model warm: {a['attention']:.2f} s median (best {a['best']:.2f} s), "
          f"weights {a['shape']}   goal <= 3 s: {'met' if a['attention'] <= 3.0 else 'MISSED'}")
    print(f"  forward pass without attentions, same worker and ids: {a['forward']:.2f} s (baseline)   "
          f"attention = {a['attention'] / a['forward']:.1f}x the forward pass")


def report_loads(loads: dict[str, float]) -> None:
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


if __name__ == "__main__":
    raise SystemExit(main())
