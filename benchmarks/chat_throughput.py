"""Tokens/s and time-to-first-token: the studio's engine path vs raw llama-cpp-python.

Both answer the same chat prompt with the same model, sampling settings and seed; runs alternate
so drift on a noisy machine hits both sides. Both are timed from the caller's side (for the studio,
that includes the worker process hop and JSON lines). The raw side gets the thread counts the studio
picks, so the ratio measures the worker hop alone (1.00: it costs nothing); goal: TTFT overhead
≤ 15 ms. A second raw side with the library's default threads shows, separately, what the studio's
thread choice is worth.

    python benchmarks/chat_throughput.py [--rounds 5] [--max-tokens 160]
    python benchmarks/chat_throughput.py --grounded [--model X.gguf] [--quantize Q4_0]

--grounded runs the prompt-grounded tasks instead (edit a 60-line code file; summarise a page with
quotes): tokens/s with prompt-lookup drafting ÷ raw llama-cpp-python without it, temperature 0, identical
text required; goal ≥ 1.3× (see grounded_tasks.py).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from pathlib import Path

from _common import median, requantized, starter_model

SUBJECTS = ["a lighthouse keeper and a storm", "a clockmaker in Prague", "a fox who learns to sail",
            "two astronomers on a mountain", "a baker's first winter", "a robot tending a garden"]


def messages(round_no: int) -> list[dict[str, str]]:
    """A different prompt each round (the same for both sides), so no side reuses a cached prompt."""
    subject = SUBJECTS[round_no % len(SUBJECTS)]
    return [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"Write a long story about {subject}."}]


def timed_raw(llm, sampling: dict, round_no: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    stamps = []
    for chunk in llm.create_chat_completion(messages=messages(round_no), stream=True, **sampling):
        if chunk["choices"][0]["delta"].get("content"):
            stamps.append(time.perf_counter())
    return _rates(start, stamps)


async def timed_studio(engine, sampling_params, round_no: int) -> tuple[float, float, float]:
    """(tok/s, TTFT as the caller sees it, TTFT the worker measured itself): the difference of the
    two TTFTs is what the process hop and JSON lines cost."""
    start = time.perf_counter()
    stamps = []
    generation = await engine.generate(messages(round_no), sampling_params)
    async for kind, _ in generation:
        if kind == "token":
            stamps.append(time.perf_counter())
    tps, ttft, _ = _rates(start, stamps)
    return tps, ttft, generation.stats.ttft_ms


def _rates(start: float, stamps: list[float]) -> tuple[float, float, int]:
    ttft_ms = (stamps[0] - start) * 1000
    tps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return tps, ttft_ms, len(stamps)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--grounded", action="store_true", help="prompt-lookup on prompt-grounded tasks")
    parser.add_argument("--model", default="", help="a GGUF other than the starter")
    parser.add_argument("--quantize", default="", metavar="TYPE",
                        help="the model requantized to TYPE (Q4_0, Q8_0, ...), built once under the user cache")
    args = parser.parse_args()
    if args.grounded:
        import grounded_tasks
        model = Path(args.model) if args.model else starter_model()
        if args.quantize:
            model = requantized(model, args.quantize)
        await grounded_tasks.run(args.rounds, max(args.max_tokens, 400), args.ctx, str(model))
        return

    import llama_cpp

    from studio.core.engine.sampling import SamplingParams
    from studio.core.engine.client import EngineClient
    from studio.core.hardware import physical_cores

    model = str(starter_model())
    sampling = dict(temperature=0.7, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.1,
                    max_tokens=args.max_tokens, seed=1234)
    params = SamplingParams(**sampling, n_ctx=args.ctx)

    studio = EngineClient()                                       # the studio's defaults
    info = await studio.load(model, n_ctx=args.ctx)
    # The same threads as the studio's worker (generate: info.n_threads, prompt: every physical core).
    raw = llama_cpp.Llama(model, n_ctx=args.ctx, n_threads=info.n_threads, n_threads_batch=physical_cores(),
                          n_batch=studio.settings.n_batch, verbose=False)
    default = llama_cpp.Llama(model, n_ctx=args.ctx, verbose=False)  # the library's own thread defaults

    timed_raw(raw, sampling, -1)  # warm-up each side once
    timed_raw(default, sampling, -1)
    await timed_studio(studio, params, -1)
    raw_runs, default_runs, studio_runs = [], [], []
    for round_no in range(args.rounds):  # alternate, so drift on a noisy machine hits every side
        raw_runs.append(timed_raw(raw, sampling, round_no))
        studio_runs.append(await timed_studio(studio, params, round_no))
        default_runs.append(timed_raw(default, sampling, round_no))
    await studio.close()

    raw_tps, raw_ttft = median([r[0] for r in raw_runs]), median([r[1] for r in raw_runs])
    def_tps, def_ttft = median([r[0] for r in default_runs]), median([r[1] for r in default_runs])
    st_tps, st_ttft = median([r[0] for r in studio_runs]), median([r[1] for r in studio_runs])
    hop = median([r[1] - r[2] for r in studio_runs])
    print(f"model: {model}, median of {args.rounds} rounds")
    print(f"threads (generate/prompt): studio and raw {raw.n_threads}/{raw.n_threads_batch}, "
          f"raw defaults {default.n_threads}/{default.n_threads_batch}")
    print(f"raw llama-cpp-python : {raw_tps:7.1f} tok/s  TTFT {raw_ttft:6.1f} ms  (the studio's threads)")
    print(f"studio engine        : {st_tps:7.1f} tok/s  TTFT {st_ttft:6.1f} ms  (worker hop {hop:.2f} ms)")
    print(f"RATIO tokens/s studio/raw = {st_tps / raw_tps:.3f}  (same threads: 1.00 = the worker hop is free)")
    print(f"TTFT overhead studio - raw = {st_ttft - raw_ttft:+.1f} ms  (goal <= 15 ms)")
    print(f"raw, default threads : {def_tps:7.1f} tok/s  TTFT {def_ttft:6.1f} ms")
    print(f"RATIO tokens/s studio/raw-default-threads = {st_tps / def_tps:.3f}  (what the thread choice is worth)")

if __name__ == "__main__":
    asyncio.run(main())
