"""Prompt-lookup speculative decoding: draft the next tokens by finding the latest n-gram in the
context (prompt + reply so far) and copying what followed it, then verify the draft in one batch.

Verification samples every position with the request's own sampler, in order, and keeps a drafted
token only when it equals the token sampled there. Each sampled token is conditioned on exactly the
tokens before it, so the output is what plain decoding gives: the same text at temperature 0 and the
same distribution above it (the RNG and the grammar see one sample per emitted token, as without a
draft). A batch of k+1 tokens costs more than one step (~0.3-0.7 step per token where the model is
compute-bound, as the starter on the CPU; near nothing where it is memory-bound), so each step drafts
only as many tokens as pay on average: the reply learns how often drafts after each n-gram length are
kept (a plain step still shows whether a draft's first token would have been) and what its batches cost
in steps, and verifies the length that yields the most tokens per step, or none. Open-ended chat then
drafts little; copied code and quotes draft long runs. It costs nothing when no n-gram repeats.
"""

from __future__ import annotations

import statistics
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import llama_cpp
import llama_cpp.llama_cpp as llama_c
import numpy as np

NGRAM_MAX = 4       # longest suffix matched: longer matches predict better
NGRAM_MIN = 2       # a single repeated token is too weak a cue (frequent in any reply)
MAX_DRAFT = 16      # the longest draft one verify batch checks
CALIBRATION_STEPS = 2  # plain steps that time a step before any draft
PRIOR_KEPT = 0.6    # chance a drafted token is kept, before a reply has shown its own
KEPT_WEIGHT = 0.1   # how much one drafted token's fate moves that chance
# A batch of m tokens costs about 1 + EXTRA * (m - 1) one-token steps (a one-token batch is a step). EXTRA is
# the median of the reply's last RECENT_BATCHES batches, so one batch that a busy moment slowed changes
# nothing, while two slow ones in three do; before three batches, PRIOR_EXTRA fills in: the starter's on
# 2 idle CPU cores (0.33-0.52 measured in the benchmark, 0.55-0.95 in tests beside other engines). A GPU
# or a big model is near 0.05, busy cores above 1.
PRIOR_EXTRA = 0.45
RECENT_BATCHES = 7
STALL_COST = 1.2    # an extra batch token costing more than this: the batch threads stall (busy cores); on
                    # the generation threads alone it costs about 1 (measured: 0.9-1.0)


@dataclass
class LookupStats:
    """A reply's drafting: what it drafted and kept, and what it has learned so far of what a draft is
    worth here (how often each n-gram length's drafts are kept; what a batch costs in steps)."""
    drafted: int = 0
    accepted: int = 0
    inexact: bool = False  # a greedy reply drew no drafts: this model's batches round unlike its steps
    batches: int = 0       # verify batches run
    held: int = 0          # steps with a draft at hand that would not have paid (plain steps instead)
    stalled: bool = False  # batches cost more than STALL_COST steps a token
    plain_s: float = 0.0
    plain_n: int = 0
    kept_chance: dict[int, float] = field(default_factory=dict)  # per matched n-gram length
    extra_costs: list[float] = field(default_factory=list)  # recent batches: steps per extra token

    @property
    def gave_up(self) -> bool:
        """Drafting held back at most of the reply's matches: too few drafts would have been kept."""
        return self.inexact or self.held > self.batches

    def drafting(self) -> bool:
        return not self.inexact and self.plain_n >= CALIBRATION_STEPS

    def extra_cost(self) -> float:
        """What one more token in a verify batch costs, in one-token steps."""
        recent = self.extra_costs[-RECENT_BATCHES:]
        return statistics.median_low(recent + [PRIOR_EXTRA] * max(0, 3 - len(recent)))

    def plan(self, ngram: int, available: int) -> int:
        """How many of the `available` drafted tokens to verify after a match of `ngram` tokens: the
        length that yields the most tokens per step (kept tokens follow a geometric law), 0 where
        none beats a plain step."""
        kept = self.kept_chance.get(ngram, PRIOR_KEPT)
        best, length = 1.0, 0
        expected, extra = 1.0, self.extra_cost()
        for k in range(1, available + 1):
            expected += kept ** k  # tokens out of a (k+1)-token batch, on average
            rate = expected / (1 + extra * k)
            if rate > best:
                best, length = rate, k
        return length

    def note(self, ngram: int, candidate: list[int], draft: list[int], out: list[int], seconds: float) -> None:
        """A step done: `candidate` was at hand after an `ngram`-token match, `draft` of it was verified,
        `out` came out, in `seconds`."""
        if candidate and ngram:
            chance = self.kept_chance.get(ngram, PRIOR_KEPT)
            # A plain step still shows whether the first drafted token would have been kept.
            fates = [a == b for a, b in zip(draft or candidate[:1], out)]
            for matched in fates:
                chance = chance + KEPT_WEIGHT * (1 - chance) if matched else chance * (1 - KEPT_WEIGHT)
            self.kept_chance[ngram] = min(chance, 0.98)
        if not draft:
            self.plain_s += seconds
            self.plain_n += 1
            self.held += int(bool(candidate) and self.drafting())
            return
        kept = len(out) - 1
        self.drafted += len(draft)
        self.accepted += kept
        self.batches += 1
        cost = seconds / (self.plain_s / self.plain_n)  # in steps
        self.extra_costs = [*self.extra_costs[-RECENT_BATCHES + 1:], (cost - 1) / len(draft)]
        self.stalled = self.extra_cost() > STALL_COST

    def resume(self) -> None:
        """Learn batch costs afresh: the verify batches now run on other threads."""
        self.stalled = False
        self.extra_costs = []


class NgramIndex:
    """The latest position following each n-gram (NGRAM_MIN..NGRAM_MAX) of a growing token list."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens: list[int] = []
        self._after: dict[tuple[int, ...], int] = {}
        for token in tokens:
            self.append(token)

    def append(self, token: int) -> None:
        self.tokens.append(token)
        end = len(self.tokens)
        # Index n-grams ending one token back: the one ending at `end` has no follower yet, and
        # must not be found as its own match.
        for n in range(NGRAM_MIN, NGRAM_MAX + 1):
            if end - 1 >= n:
                self._after[tuple(self.tokens[end - 1 - n:end - 1])] = end - 1

    def draft(self, limit: int) -> list[int]:
        return self.match(limit)[1]

    def match(self, limit: int) -> tuple[int, list[int]]:
        """(n, up to `limit` tokens that followed the latest earlier occurrence of the last n tokens),
        for the longest n that has one; (0, []) when none does."""
        for n in range(min(NGRAM_MAX, len(self.tokens)), NGRAM_MIN - 1, -1):
            at = self._after.get(tuple(self.tokens[-n:]))
            if at is not None:
                return n, self.tokens[at:at + limit]
        return 0, []


def usable(llm: llama_cpp.Llama, temperature: float) -> bool:
    """Whether drafted replies come out exactly as plain ones. Batched verification matches
    one-token decoding bit for bit only with flash attention (without it logits differed by ~0.5
    here) and one generation thread (with more, llama.cpp's one-token attention splits the cache
    across threads and rounds differently). Greedy replies could flip at near ties otherwise;
    sampled ones keep the model's distribution either way."""
    flash = llm.context_params.flash_attn_type == llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
    # A recurrent state cannot drop rejected drafts (no partial cache removal); with a sliding-window
    # cache (Gemma 3) drafted replies differed from plain ones in the benchmark, so none there either.
    rollback = not (getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False)
                    or llama_c.llama_model_n_swa(llm._model.model) > 0)
    return bool(flash and rollback and (temperature > 0 or llm.context_params.n_threads == 1))


# Per model (and LoRA set): whether a verify batch computes a token's logits bit for bit as a one-token
# step does. On this CPU it does for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 weights and not for K-quants, IQ4_NL,
# F16 or BF16 (a batch's later rows come out 0.2-1.7 apart in the logits; greedy picks flipped on Gemma 3
# Q4_K_M), and other CPUs and builds may differ, so it is measured on the model itself, not listed by type.
_exact: weakref.WeakKeyDictionary[llama_cpp.Llama, bool] = weakref.WeakKeyDictionary()


def forget(llm: llama_cpp.Llama) -> None:
    """The model's weights changed (LoRA adapters): measure batch exactness again."""
    _exact.pop(llm, None)


def _batch_is_exact(llm: llama_cpp.Llama, batch: Any, tokens: list[int], n_past: int) -> bool:
    """Decode `tokens` (a full verify batch's worth) one at a time after n_past, then as one batch,
    and compare every row's logits; the cache is left as it was (n_past cells). Costs about
    MAX_DRAFT + 6 steps, once per model and LoRA set."""
    if llm not in _exact:
        ctx, n_vocab = llm._ctx.ctx, llm.n_vocab()
        tokens = tokens[:max(0, llm.n_ctx() - n_past)]
        alone = []
        for i, token in enumerate(tokens):
            _decode(llm, batch, [token], n_past + i)
            alone.append(np.ctypeslib.as_array(llama_c.llama_get_logits_ith(ctx, 0), shape=(n_vocab,)).copy())
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        _decode(llm, batch, tokens, n_past)
        batched = np.ctypeslib.as_array(llama_c.llama_get_logits(ctx), shape=(len(tokens), n_vocab))
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        # Row 0 often matches where later rows do not (K-quants: 0.0, then 0.56-1.1 apart), so all rows.
        _exact[llm] = bool(np.array_equal(np.stack(alone), batched)) if tokens else False
    return _exact[llm]


def stream(llm: llama_cpp.Llama, tokens: list[int], enabled: bool, stats: LookupStats,
           **sampling: Any) -> Iterator[int]:
    """The engine's token stream: drafted when enabled and exact here, the library's otherwise."""
    if not (enabled and usable(llm, float(sampling.get("temp", 0.0)))):
        return llm.generate(tokens, **sampling)
    if not _shares_prefix(llm, tokens):
        # Start the cache at cell 0: cells freed by rejected drafts are then refilled in position
        # order, as one-token decoding fills them (attention sums cells in cell order).
        llama_c.llama_memory_clear(llama_c.llama_get_memory(llm._ctx.ctx), True)
        llm.reset()
    return generate(llm, tokens, stats, **sampling)


def _shares_prefix(llm: llama_cpp.Llama, tokens: list[int]) -> bool:
    return llm.n_tokens > 0 and len(tokens) > 0 and int(llm.input_ids[0]) == tokens[0] and (
        llm.n_tokens < 2 or len(tokens) < 2 or int(llm.input_ids[1]) == tokens[1])


def generate(llm: llama_cpp.Llama, tokens: list[int], stats: LookupStats, **sampling: Any) -> Iterator[int]:
    """Tokens for `tokens` as `llm.generate(tokens, **sampling)` yields them, drafted and verified.
    The library's generate evaluates the prompt (with its prefix cache) and samples the first token;
    after that this loop decodes [last, *draft] with logits at every position."""
    library = llm.generate(tokens, **sampling)
    first = next(library)
    library.close()  # its sampler (llm._sampler, grammar state included) carries on here
    sampler = llm._sampler
    assert sampler is not None  # generate() made it
    vocab = llm._model.vocab
    index = NgramIndex(list(tokens))
    last = first
    greedy = float(sampling.get("temp", 0.0)) <= 0
    yield first
    batch = llama_cpp.llama_batch_init(MAX_DRAFT + 1, 0, 1)
    # llama.cpp runs a one-token step on the generation threads and a verify batch on the batch
    # (prompt) threads: a batch's rows split over the threads with the same sums (bit for bit, measured),
    # and on idle cores the extra one halves a batch's cost (k=8: 5.5 -> 3.1 steps, starter, 2 cores).
    # On busy cores it stalls every op at llama.cpp's barrier (k=8 measured at 3.6-6 steps, k=2 at 8):
    # batches whose extra tokens cost over STALL_COST steps then move to the generation threads, where
    # drafting goes on only if it still pays.
    threads = llm.context_params.n_threads, llm.context_params.n_threads_batch
    try:
        while True:
            index.append(last)
            room = llm.n_ctx() - llm.n_tokens - 1
            if room < 0:
                return
            # The first steps stay plain: they time a step without a draft.
            ngram, candidate = index.match(min(MAX_DRAFT, room))
            draft = candidate[:stats.plan(ngram, len(candidate))] if candidate and stats.drafting() else []
            n_past = llm.n_tokens
            if draft and greedy and not _batch_is_exact(llm, batch, index.tokens[-MAX_DRAFT - 1:], n_past):
                stats.inexact = True  # drafts could change a greedy reply here
                draft = []
            started = time.perf_counter()
            run = [last, *draft]
            llm._ctx.kv_cache_seq_rm(-1, n_past, -1)  # nothing stale past the run
            _decode(llm, batch, run, n_past)
            llm.input_ids[n_past:n_past + len(run)] = run
            llm.n_tokens = n_past + len(run)
            out: list[int] = []
            for i in range(len(run)):
                token = sampler.sample(llm._ctx, i - len(run))
                out.append(token)
                if i == len(draft) or token != draft[i] or llama_c.llama_vocab_is_eog(vocab, token):
                    break
            kept = len(out) - 1  # drafted tokens confirmed: every sample but the last matched
            if kept < len(draft):  # drop the rejected tail from the cache
                llm.n_tokens = n_past + 1 + kept
                llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
            stats.note(ngram, candidate, draft, out, time.perf_counter() - started)
            if stats.stalled and threads[1] > threads[0]:
                llama_c.llama_set_n_threads(llm._ctx.ctx, threads[0], threads[0])
                threads = threads[0], threads[0]
                stats.resume()
            for token in out[:-1]:
                index.append(token)
            for token in out:
                yield token
            last = out[-1]
    finally:
        llama_c.llama_set_n_threads(llm._ctx.ctx, llm.context_params.n_threads, llm.context_params.n_threads_batch)
        llama_cpp.llama_batch_free(batch)


def _decode(llm: llama_cpp.Llama, batch: Any, run: list[int], n_past: int) -> None:
    batch.n_tokens = len(run)
    for i, token in enumerate(run):
        batch.token[i] = token
        batch.pos[i] = n_past + i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = True
    code = llama_cpp.llama_decode(llm._ctx.ctx, batch)
    if code != 0:
        raise RuntimeError(f"llama_decode returned {code}")
