"""Tokens/s and time-to-first-token: the studio's engine path vs raw llama-cpp-python.

Both answer the same chat prompt with the same model, sampling settings and seed; runs alternate
so drift on a noisy machine hits both sides. Both are timed from the caller's side (for the studio,
that includes the worker process hop and JSON lines). Prints the ratios; goal: tokens/s ratio
≥ 1.00 and TTFT overhead ≤ 15 ms.

    python benchmarks/chat_throughput.py [--rounds 5] [--max-tokens 160]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import median, starter_model

MESSAGES = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def timed_raw(llm, sampling: dict) -> tuple[float, float, int]:
    start = time.perf_counter()
    stamps = []
    for chunk in llm.create_chat_completion(messages=MESSAGES, stream=True, **sampling):
        if chunk["choices"][0]["delta"].get("content"):
            stamps.append(time.perf_counter())
    return _rates(start, stamps)


async def timed_studio(engine, sampling_params) -> tuple[float, float, int]:
    start = time.perf_counter()
    stamps = []
    generation = await engine.generate(MESSAGES, sampling_params)
    async for kind, _ in generation:
        if kind == "token":
            stamps.append(time.perf_counter())
    return _rates(start, stamps)


def _rates(start: float, stamps: list[float]) -> tuple[float, float, int]:
    ttft_ms = (stamps[0] - start) * 1000
    tps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return tps, ttft_ms, len(stamps)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--ctx", type=int, default=2048)
    args = parser.parse_args()

    import llama_cpp

    from studio.core.chat.sampling import SamplingParams
    from studio.core.engine.client import EngineClient
    from studio.core.settings import EngineSettings

    model = str(starter_model())
    sampling = dict(temperature=0.7, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.1,
                    max_tokens=args.max_tokens, seed=1234)
    params = SamplingParams(**sampling, n_ctx=args.ctx)

    raw = llama_cpp.Llama(model, n_ctx=args.ctx, verbose=False)  # the library's own defaults
    studio = EngineClient()                                       # the studio's defaults
    info = await studio.load(model, n_ctx=args.ctx)
    same_threads = EngineClient(EngineSettings(n_threads=raw.n_threads))  # isolates the worker hop
    await same_threads.load(model, n_ctx=args.ctx)

    # Warm-up each path once.
    timed_raw(raw, sampling)
    await timed_studio(studio, params)
    await timed_studio(same_threads, params)

    results: dict[str, list[tuple[float, float, int]]] = {"raw": [], "studio": [], "studio_same_threads": []}
    for _ in range(args.rounds):
        results["raw"].append(timed_raw(raw, sampling))
        results["studio"].append(await timed_studio(studio, params))
        results["studio_same_threads"].append(await timed_studio(same_threads, params))
    await studio.close()
    await same_threads.close()

    def summary(name: str) -> tuple[float, float]:
        tps = median([r[0] for r in results[name]])
        ttft = median([r[1] for r in results[name]])
        return tps, ttft

    raw_tps, raw_ttft = summary("raw")
    st_tps, st_ttft = summary("studio")
    same_tps, same_ttft = summary("studio_same_threads")
    print(f"model: {model}")
    print(f"threads: raw llama-cpp-python default {raw.n_threads}, studio default {info.n_threads}")
    print(f"raw llama-cpp-python         : {raw_tps:7.1f} tok/s  TTFT {raw_ttft:6.1f} ms")
    print(f"studio engine (defaults)     : {st_tps:7.1f} tok/s  TTFT {st_ttft:6.1f} ms")
    print(f"studio engine (same threads) : {same_tps:7.1f} tok/s  TTFT {same_ttft:6.1f} ms")
    print(f"RATIO tokens/s studio/raw               = {st_tps / raw_tps:.3f}  (goal >= 1.00)")
    print(f"RATIO tokens/s studio(same threads)/raw = {same_tps / raw_tps:.3f}  (worker hop alone)")
    print(f"TTFT overhead studio(same threads) - raw = {same_ttft - raw_ttft:+.1f} ms  (goal <= 15 ms)")
    print(f"TTFT overhead studio(defaults) - raw     = {st_ttft - raw_ttft:+.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
