"""Prompt-grounded tasks for `chat_throughput.py --grounded`: replies that reuse the prompt's text, where
prompt-lookup drafting (studio.core.engine.lookup) can help. The studio engine (lookup on, its default)
against raw llama-cpp-python's Llama.generate on the same prompt tokens, same model, same flash
attention and threads, temperature 0; the texts must be identical. A third side, the lookup loop in
process drafting 4 tokens at every n-gram match, shows what the studio's choice of when and how much to
draft is worth; the ceiling line, what a drafter that knew which drafts will be kept would get from the
same replies at the batch costs measured in the run, shows how much any drafting policy could still win.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

PAGE = """The lighthouse at Cape Wrath was built in 1828 by Robert Stevenson, the grandfather of the novelist.
It stands on a cliff more than one hundred metres above the sea, at the north-western corner of the
Scottish mainland. For more than a century its keepers lived in cottages beside the tower, rowing out
for supplies when the weather allowed and waiting weeks when it did not. The light was automated in
1998, and since then no keeper has lived at the cape. The nearest road is a narrow track that crosses a
military firing range, and visitors reach it by a small ferry and a minibus that run only in summer.
The cliffs around the lighthouse are home to puffins, guillemots and fulmars, and in spring the air is
loud with their calls. Walkers on the Cape Wrath Trail end their journey here after two hundred miles
of rough country. The name of the cape comes from an Old Norse word meaning turning point, because
Viking sailors turned their ships here on their way south along the coast."""

CODE_LINES = [
    "\"\"\"A small inventory of items with prices and quantities.\"\"\"",
    "",
    "from dataclasses import dataclass, field",
    "",
    "",
    "@dataclass",
    "class Item:",
    "    name: str",
    "    price: float",
    "    quantity: int = 0",
    "",
    "",
    "@dataclass",
    "class Inventory:",
    "    items: list[Item] = field(default_factory=list)",
    "",
    "    def add(self, name: str, price: float, quantity: int = 1) -> Item:",
    "        for item in self.items:",
    "            if item.name == name:",
    "                item.quantity += quantity",
    "                return item",
    "        item = Item(name, price, quantity)",
    "        self.items.append(item)",
    "        return item",
    "",
    "    def remove(self, name: str, quantity: int = 1) -> None:",
    "        for item in self.items:",
    "            if item.name == name:",
    "                item.quantity -= quantity",
    "                if item.quantity <= 0:",
    "                    self.items.remove(item)",
    "                return",
    "        raise KeyError(name)",
    "",
    "    def total_value(self) -> float:",
    "        total = 0.0",
    "        for item in self.items:",
    "            total += item.price * item.quantity",
    "        return total",
    "",
    "    def cheapest(self) -> Item | None:",
    "        if not self.items:",
    "            return None",
    "        return min(self.items, key=lambda item: item.price)",
    "",
    "    def most_stocked(self) -> Item | None:",
    "        if not self.items:",
    "            return None",
    "        return max(self.items, key=lambda item: item.quantity)",
    "",
    "",
    "def main() -> None:",
    "    inventory = Inventory()",
    "    inventory.add(\"apple\", 0.5, 10)",
    "    inventory.add(\"pear\", 0.75, 4)",
    "    inventory.remove(\"apple\", 3)",
    "    print(inventory.total_value())",
    "",
    "",
    "main()",
]
assert len(CODE_LINES) == 60
CODE = "\n".join(CODE_LINES) + "\n"

TASKS = {
    "edit a 60-line code file": (
        f"Here is a Python file:\n```python\n{CODE}```\nRename the method `total_value` to `value` everywhere "
        "and return the complete file."),
    "summarise a page (quotes)": (
        f"Here is a page:\n\n{PAGE}\n\nSummarise this page in a few sentences, quoting its key sentences "
        "word for word."),
}


def _raw_ids(llm: Any, text: str) -> list[int]:
    ids: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=bool(llm._model.add_bos_token()), special=True)
    bos = llm.token_bos()
    if len(ids) > 1 and ids[0] == bos and ids[1] == bos:  # the template wrote one already
        ids = ids[1:]
    return ids


def _run_tokens(llm: Any, tokens: Any, max_tokens: int, stops: list[str]) -> tuple[str, float, list[int]]:
    """(text, tok/s from first to last token, the token ids) for a token iterator, ending where the
    studio's reply ends: an end-of-generation token, or one of its stop strings in the text (cut there)."""
    import llama_cpp.llama_cpp as llama_c
    vocab = llm._model.vocab
    out: list[int] = []
    text = b""
    first = last = 0.0
    for token in tokens:
        now = time.perf_counter()
        if not out and not first:
            first = now
        if llama_c.llama_vocab_is_eog(vocab, token):
            break
        out.append(token)
        last = now
        text += llm.detokenize([token])
        cut = min((text.find(s.encode()) for s in stops if s.encode() in text), default=-1)
        if cut >= 0:
            text = text[:cut]
            break
        if len(out) >= max_tokens:
            break
    rate = (len(out) - 1) / (last - first) if len(out) > 1 and last > first else 0.0
    return text.decode("utf-8", errors="replace"), rate, out


def batch_cost(llm: Any, prompt: list[int], sizes: tuple[int, ...] = (2, 4, 8, 16)) -> dict[int, float]:
    """What a k-token verify batch costs in one-token steps, after `prompt`: {k: batch time / step time}.
    Steps run on the generation threads, batches on the batch threads, as in the lookup loop."""
    import llama_cpp

    from studio.core.engine import lookup
    batch = llama_cpp.llama_batch_init(max(sizes), 0, 1)
    llm.reset()
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)
    llm.eval(prompt)
    n_past = llm.n_tokens
    best: dict[int, float] = {}
    try:
        for _ in range(3):  # the fastest of three: the cost itself, less the machine's other work
            for k in (1, *sizes):
                started = time.perf_counter()
                lookup._decode(llm, batch, prompt[:k], n_past)
                best[k] = min(best.get(k, float("inf")), time.perf_counter() - started)
                llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
    finally:
        llama_cpp.llama_batch_free(batch)
        llm.reset()
    return {k: best[k] / best[1] for k in sizes}


def batch_steps(costs: dict[int, float], size: int) -> float:
    """What a verify batch of `size` tokens costs in one-token steps, interpolated (and past the
    largest, extrapolated) from batch_cost's measured sizes; one token is one step."""
    if size <= 1:
        return 1.0
    points = [(1, 1.0), *sorted(costs.items())]
    for (k0, c0), (k1, c1) in zip(points, points[1:]):
        if size <= k1:
            return c0 + (c1 - c0) * (size - k0) / (k1 - k0)
    (k0, c0), (k1, c1) = points[-2:]
    return c1 + (c1 - c0) * (size - k1) / (k1 - k0)


def ceiling(prompt: list[int], reply: list[int], costs: dict[int, float]) -> float:
    """Tokens per step of a drafter that knows in advance how much of each draft will be kept: it
    verifies exactly the kept run of the studio's candidate (the latest earlier match, up to
    lookup.MAX_DRAFT tokens) where that batch costs fewer steps than the tokens it yields, and takes a
    plain step otherwise. Python's own overhead aside, no drafting policy can beat it here."""
    from studio.core.engine import lookup
    if len(reply) < 2:
        return 1.0
    index = lookup.NgramIndex(prompt)
    index.append(reply[0])  # the first token comes with the prompt's evaluation, as in the timed rate
    at, steps = 1, 0.0
    while at < len(reply):
        _, candidate = index.match(lookup.MAX_DRAFT)
        kept = 0
        for drafted, actual in zip(candidate, reply[at:]):
            if drafted != actual:
                break
            kept += 1
        cost = batch_steps(costs, kept + 1)
        if not kept or cost >= kept + 1:
            kept, cost = 0, 1.0
        steps += cost
        for token in reply[at:at + kept + 1]:
            index.append(token)
        at += kept + 1
    return (len(reply) - 1) / steps


def _every_match_stats() -> Any:
    from studio.core.engine import lookup

    class EveryMatch(lookup.LookupStats):
        """Drafts 4 tokens at every match: what the studio's choice of when and how much is worth."""
        def plan(self, ngram: int, available: int) -> int:
            return min(4, available)
    return EveryMatch


async def run(rounds: int, max_tokens: int, ctx: int, model: str) -> None:
    import llama_cpp

    from studio.core.engine import lookup
    from studio.core.engine.client import EngineClient
    from studio.core.engine.sampling import SamplingParams
    from studio.core.hardware import prompt_threads
    from studio.core.settings import EngineSettings

    params = SamplingParams(temperature=0.0, top_p=1.0, top_k=1, min_p=0.0, repeat_penalty=1.0,
                            max_tokens=max_tokens, seed=0, n_ctx=ctx)
    greedy: dict[str, Any] = dict(top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)
    EveryMatch = _every_match_stats()
    studio = EngineClient(EngineSettings(flash_attn=True))  # lookup drafts only with flash attention
    info = await studio.load(model, n_ctx=ctx)
    # Raw: the studio's attention and threads, so only the drafting differs (plain decoding runs one
    # token at a time on the generation threads; batches, the prompt's and lookup's, on the batch threads).
    raw = llama_cpp.Llama(model, n_ctx=ctx, n_threads=info.n_threads, n_threads_batch=prompt_threads(),
                          n_batch=studio.settings.n_batch, flash_attn=True, verbose=False)
    print(f"model: {model}, median of {rounds} rounds, {max_tokens} tokens max, {info.n_threads} generation / "
          f"{prompt_threads()} batch thread(s), flash attention on both sides")
    # The studio's text stop strings: its template's end-of-turn text (ChatML's, for a file without a
    # template, which models like Gemma 3 270M then write out as plain text) and the end-of-text piece.
    eos = raw.detokenize([raw.token_eos()], special=True).decode("utf-8", "replace") if raw.token_eos() >= 0 else ""
    stops = [s for s in {eos, "<|im_end|>" if info.template_source == "fallback" else ""} if s]
    costs = batch_cost(raw, _raw_ids(raw, TASKS["edit a 60-line code file"]))
    print("verify batch cost, in one-token steps (k-batch / k steps): " + ", ".join(
        f"k={k}: {c:.2f} ({c / k:.2f})" for k, c in costs.items()))
    for name, request in TASKS.items():
        raw_rates, studio_rates, forced_rates, ceilings = [], [], [], []
        drafted = accepted = forced_drafted = forced_accepted = 0
        texts: dict[str, str] = {}
        gave_up = inexact = 0
        for round_no in range(rounds):  # alternate sides, so drift on a noisy machine hits each
            # A new prompt each round: a repeated one would be served from the prompt cache, whose
            # one-token re-read of the last prompt token rounds differently than a full read.
            messages = [{"role": "user", "content": f"Task {round_no + 1}. {request}"}]
            rendered = await studio.render_prompt(messages)
            ids = _raw_ids(raw, rendered["prompt"])
            assert len(ids) == rendered["tokens"], "the raw side must read the studio's prompt tokens"
            raw.reset()
            text, rate, reply = _run_tokens(raw, raw.generate(ids, **greedy), max_tokens, stops)
            n = len(reply)
            ceilings.append(ceiling(ids, reply, costs))
            raw_rates.append(rate)
            texts[f"raw {len(raw_rates)}"] = text
            generation = await studio.generate(messages, params)
            stamps = []
            async for kind, _ in generation:
                if kind == "token":
                    stamps.append(time.perf_counter())
            stats = generation.stats
            studio_rates.append((stats.tokens - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0)
            texts[f"studio {len(studio_rates)}"] = generation.text
            drafted, accepted, gave_up = drafted + stats.drafted, accepted + stats.accepted, gave_up + stats.lookup_gave_up
            raw.reset()
            forced = EveryMatch()
            text, rate, _ = _run_tokens(raw, lookup.stream(raw, ids, True, forced, **greedy), max_tokens, stops)
            forced_rates.append(rate)
            texts[f"every-match {len(forced_rates)}"] = text
            forced_drafted, forced_accepted = forced_drafted + forced.drafted, forced_accepted + forced.accepted
            inexact += forced.inexact
        raw_tps, st_tps, fo_tps = (statistics.median(r) for r in (raw_rates, studio_rates, forced_rates))
        same = all(len({texts[f"{side} {r}"] for side in ("raw", "studio", "every-match")}) == 1
                   for r in range(1, rounds + 1))
        print(f"\n[{name}] prompt {len(ids)} tokens, reply {n} tokens; identical text on all sides: {same}")
        print(f"  raw llama-cpp-python (no lookup): {raw_tps:7.1f} tok/s")
        print(f"  studio engine (lookup, default) : {st_tps:7.1f} tok/s  drafted {drafted}, accepted {accepted} "
              f"({accepted / max(drafted, 1):.0%}), drafting held back at most matches in {gave_up}/{rounds} replies")
        print(f"  lookup loop, 4 at every match   : {fo_tps:7.1f} tok/s  drafted {forced_drafted}, accepted "
              f"{forced_accepted} ({forced_accepted / max(forced_drafted, 1):.0%})"
              + (" - no drafts: this model's batches round unlike its one-token steps" if inexact else ""))
        print(f"  RATIO tokens/s studio/raw = {st_tps / raw_tps:.3f}   every-match/raw = {fo_tps / raw_tps:.3f}"
              f"   (goal >= 1.3)")
        print(f"  ceiling: a drafter that knew which drafts are kept, at this run's batch costs: "
              f"{statistics.median(ceilings):.3f} (replies: {', '.join(f'{c:.2f}' for c in ceilings)})")
        if not same:
            reference = texts["raw 1"]
            for side, text in texts.items():
                at = next((i for i, (a, b) in enumerate(zip(reference, text)) if a != b), min(len(reference), len(text)))
                print(f"  {side}: {len(text)} chars, from char {at}: {text[max(0, at - 40):at + 60]!r}")
            raise SystemExit(f"the sides' replies differ on '{name}'")
    await studio.close()
