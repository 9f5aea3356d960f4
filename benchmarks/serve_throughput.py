"""The API server's cost: one streamed chat completion through the official `openai` client against
`python -m studio.core.server` (a subprocess, as another program would use it) vs the same request
in-process through EngineClient, with the same model, sampling settings and seed.

Rounds alternate the two sides, each round with a prompt of its own (no side reuses a cached prompt),
so drift on a noisy machine hits both. Both are timed from the caller's side. Prints
- the ratio of decode tokens/s, HTTP ÷ in-process (goal >= 0.95), median of per-round ratios;
- the extra time to first token over HTTP (goal <= 20 ms), median of per-round differences;
- 8 concurrent streamed clients: all complete, and their total tokens/s (all tokens ÷ the wall time
  from the first request to the last answer) ÷ single-stream tokens/s measured the same way, the same
  8 requests sent one after another (goal >= 0.9: queueing costs little beyond running them in turn);
  batches alternate, median of per-pair ratios.

    python benchmarks/serve_throughput.py [--rounds 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from _common import median, starter_model

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = ["a lighthouse keeper and a storm", "a clockmaker in Prague", "a fox who learns to sail",
            "two astronomers on a mountain", "a baker's first winter", "a robot tending a garden",
            "a river that changed course", "a cartographer's lost map", "an orchestra without a conductor"]


def messages(round_no: int) -> list[dict[str, str]]:
    subject = SUBJECTS[round_no % len(SUBJECTS)]
    return [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"Write a long story about {subject}."}]


def _rates(start: float, stamps: list[float], tokens: int) -> tuple[float, float, float]:
    """(decode tok/s from the first text to the last, TTFT ms, tokens ÷ the whole wall time). Tokens are
    counted by the engine (stats, usage): a server that fell behind sends several in one chunk."""
    end = stamps[-1]
    tps = (tokens - 1) / (end - stamps[0]) if tokens > 1 and end > stamps[0] else 0.0
    return tps, (stamps[0] - start) * 1000, tokens / (end - start)


async def in_process(engine, params, round_no: int) -> tuple[float, float, float]:
    start = time.perf_counter()
    stamps = []
    generation = await engine.generate(messages(round_no), params)
    async for kind, text in generation:
        if kind == "token" and text:
            stamps.append(time.perf_counter())
    return _rates(start, stamps, generation.stats.tokens)


async def over_http(client, model: str, sampling: dict, round_no: int) -> tuple[float, float, float]:
    start = time.perf_counter()
    stamps = []
    stream = await client.chat.completions.create(model=model, messages=messages(round_no), stream=True,
                                                  stream_options={"include_usage": True}, **sampling)
    tokens = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return _rates(start, stamps, tokens)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_until_up(client, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit("the server exited before answering")
        try:
            return (await client.models.list()).data[0].id
        except Exception:
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer within 120 s") from None
            await asyncio.sleep(0.2)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batches", type=int, default=2, help="pairs of one-by-one and concurrent batches")
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp threads on both sides (default: the studio's choice); 1 keeps a busy "
                             "machine's noise down (threads that wait for a descheduled one spin)")
    args = parser.parse_args()

    import openai

    from studio.core.engine.client import EngineClient
    from studio.core.engine.sampling import SamplingParams
    from studio.core.settings import EngineSettings

    model = str(starter_model())
    sampling = dict(temperature=0.7, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.1,
                    max_tokens=args.max_tokens, seed=1234)
    params = SamplingParams(**sampling, n_ctx=args.ctx)
    http_sampling = {k: v for k, v in sampling.items() if k not in ("top_k", "min_p", "repeat_penalty")}
    http_sampling["extra_body"] = {k: sampling[k] for k in ("top_k", "min_p", "repeat_penalty")}

    load_before = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?"
    port = _free_port()
    threads = ["--threads", str(args.threads)] if args.threads else []
    proc = subprocess.Popen([sys.executable, "-m", "studio.core.server", "--model", model, "--port", str(port),
                             "--ctx", str(args.ctx), *threads], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    engine = EngineClient(EngineSettings(n_threads=args.threads))
    try:
        await engine.load(model, n_ctx=args.ctx)
        async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0,
                                      timeout=600) as client:
            served = await _wait_until_up(client, proc)
            await in_process(engine, params, -1)               # warm-up each side once
            await over_http(client, served, http_sampling, -1)
            local, remote = [], []
            for round_no in range(args.rounds):
                first_http = round_no % 2 == 1                   # alternate which side goes first
                if first_http:
                    remote.append(await over_http(client, served, http_sampling, round_no))
                local.append(await in_process(engine, params, round_no))
                if not first_http:
                    remote.append(await over_http(client, served, http_sampling, round_no))

            # the same requests one after another, then all at once, alternating; timed the same way
            async def one(i: int, spans: list[tuple[float, float, int]]) -> int:
                stream = await client.chat.completions.create(model=served, messages=messages(200 + i), stream=True,
                                                              stream_options={"include_usage": True}, **http_sampling)
                stamps, tokens = [], 0
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        stamps.append(time.perf_counter())
                    if chunk.usage is not None:
                        tokens = chunk.usage.completion_tokens
                spans.append((stamps[0], stamps[-1], tokens))
                return tokens

            batches: list[tuple[float, float, int, int]] = []   # (one-by-one tok/s, concurrent tok/s, done, failed)
            spans: list[tuple[float, float, int]] = []
            errors: list[BaseException] = []
            for _ in range(args.batches):
                started = time.perf_counter()
                alone = [await one(i, []) for i in range(args.clients)]
                sequential = sum(alone) / (time.perf_counter() - started)
                spans = []
                started = time.perf_counter()
                counts = await asyncio.gather(*(one(i, spans) for i in range(args.clients)), return_exceptions=True)
                wall = time.perf_counter() - started
                failed = [c for c in counts if isinstance(c, BaseException)]
                errors.extend(failed)
                tokens = sum(c for c in counts if isinstance(c, int))
                batches.append((sequential, tokens / wall, len(counts) - len(failed), len(failed)))
    finally:
        await engine.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()

    ratios = [r[0] / lo[0] for r, lo in zip(remote, local)]
    extra = [r[1] - lo[1] for r, lo in zip(remote, local)]
    print(f"model: {model}, {args.rounds} rounds of {args.max_tokens} tokens, medians; threads: "
          f"{args.threads or 'the studio default'}; load average before: {load_before}")
    print(f"in-process EngineClient : {median([r[0] for r in local]):7.1f} tok/s  TTFT "
          f"{median([r[1] for r in local]):6.1f} ms")
    print(f"openai client over HTTP : {median([r[0] for r in remote]):7.1f} tok/s  TTFT "
          f"{median([r[1] for r in remote]):6.1f} ms")
    print(f"RATIO tokens/s HTTP/in-process = {median(ratios):.3f}  (goal >= 0.95; rounds: "
          f"{', '.join(f'{r:.3f}' for r in ratios)})")
    print(f"EXTRA TTFT HTTP - in-process = {median(extra):+.1f} ms  (goal <= 20 ms; rounds: "
          f"{', '.join(f'{e:+.1f}' for e in extra)})")
    done = sum(b[2] for b in batches)
    print(f"{args.clients} concurrent clients, {args.batches} batches: {done}/{done + len(errors)} completed; "
          f"one by one {median([b[0] for b in batches]):.1f} tok/s, all at once {median([b[1] for b in batches]):.1f} "
          "tok/s (tokens ÷ wall time, prompts included)")
    print(f"RATIO concurrent total/single stream = {median([b[1] / b[0] for b in batches]):.3f}  (goal >= 0.9; "
          f"batches: {', '.join(f'{b[1] / b[0]:.3f}' for b in batches)})")
    spans.sort()
    gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    if gaps:
        print(f"  last batch: from one client's last token to the next one's first, median {median(gaps) * 1000:.0f} ms")
    for error in errors:
        print(f"  failed: {type(error).__name__}: {error}")


if __name__ == "__main__":
    asyncio.run(main())
