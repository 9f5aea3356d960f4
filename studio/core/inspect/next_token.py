"""The next-token distribution, reshaped live, and step-by-step generation on the llama.cpp engine.

The engine sends the whole logits vector once (EngineClient.next_logits(full=True)); temperature,
top-k, top-p and min-p are then applied here with numpy, so moving a slider never re-queries.
Truncation follows the engine's own sampler chain (llama-cpp-python: top-k, top-p, min-p on the
untempered distribution, then temperature over the survivors), so what this shows is what the
chat would sample from. numpy only: no torch, no Qt.

With LoRA adapters attached, StepSession(compare=True) also fetches the distribution of the model
without them (the engine's base=True, same token ids) and `compare` pairs the two token by token.
"""

from __future__ import annotations

import base64
import codecs
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Candidate:
    id: int
    piece: str              # piece_bytes decoded for display (U+FFFD for a partial UTF-8 piece)
    piece_bytes: bytes      # b"" when the engine did not send this token's piece
    logit: float
    prob: float             # after temperature and truncation
    base_prob: float        # temperature 1, no truncation: the model's own probability
    kept: bool              # inside top-k / top-p / min-p (could be sampled)
    rank: int               # 0 = highest logit


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


class Distribution:
    """One position's next-token distribution over the whole vocabulary."""

    def __init__(self, logits: np.ndarray, pieces: dict[int, bytes] | None = None, *,
                 n_prompt_tokens: int = 0, prompt_ids: list[int] | None = None) -> None:
        self.logits = np.ascontiguousarray(logits, dtype=np.float32)
        if self.logits.ndim != 1 or not len(self.logits):
            raise ValueError("a distribution needs a non-empty 1-D logits vector")
        self.pieces: dict[int, bytes] = dict(pieces or {})
        self.n_prompt_tokens = int(n_prompt_tokens)
        self.prompt_ids: list[int] = list(prompt_ids or [])
        # float64 for the maths: a 150k-way softmax in float32 loses the tail's mass.
        self._logits64 = self.logits.astype(np.float64)
        # Best first, equal logits by id: one order for every setting, so candidates never jump.
        self._order = np.argsort(-self._logits64, kind="stable")
        self._sorted = self._logits64[self._order]
        self._base_sorted = _softmax(self._sorted)
        self._rank: np.ndarray | None = None

    @classmethod
    def from_engine(cls, result: dict[str, Any]) -> "Distribution":
        """From EngineClient.next_logits(..., full=True). Without "logits_b64" (the torch "next" op,
        or full=False) only the listed tokens are known: the rest of the vocabulary gets no mass."""
        pieces: dict[int, bytes] = {}
        for entry in [*result.get("tokens", []), *result.get("requested", [])]:
            if "piece_hex" in entry:
                pieces[int(entry["id"])] = bytes.fromhex(entry["piece_hex"])
            elif "piece" in entry:
                pieces[int(entry["id"])] = str(entry["piece"]).encode("utf-8")
        if result.get("logits_b64"):
            logits = np.frombuffer(base64.b64decode(result["logits_b64"]), dtype="<f4").astype(np.float32)
        else:
            tokens = result.get("tokens") or []
            if not tokens:
                raise ValueError("the engine's answer has neither logits nor tokens")
            size = int(result.get("n_vocab") or max(int(t["id"]) for t in tokens) + 1)
            logits = np.full(size, -np.inf, dtype=np.float32)
            for t in tokens:  # log-probabilities are logits up to a constant
                logits[int(t["id"])] = float(t.get("logprob", t.get("logit", 0.0)))
        prompt_ids = result.get("prompt_ids") or []
        return cls(logits, pieces, n_prompt_tokens=int(result.get("n_prompt_tokens") or len(prompt_ids)),
                   prompt_ids=prompt_ids)

    # -- basic facts --------------------------------------------------------------------------
    @property
    def n_vocab(self) -> int:
        return len(self.logits)

    @property
    def top_id(self) -> int:
        return int(self._order[0])

    def piece(self, token_id: int) -> bytes:
        return self.pieces.get(int(token_id), b"")

    def rank_of(self, token_id: int) -> int:
        if self._rank is None:
            self._rank = np.empty(len(self._order), dtype=np.int64)
            self._rank[self._order] = np.arange(len(self._order))
        return int(self._rank[int(token_id)])

    # -- reshaping ----------------------------------------------------------------------------
    def _kept_count(self, top_k: int, top_p: float, min_p: float) -> int:
        """How many of the best tokens survive truncation (always a prefix of the sorted order)."""
        n = len(self._sorted)
        if top_k and top_k > 0:
            n = min(n, int(top_k))
        if top_p < 1.0:
            # top-p sees the top-k survivors renormalised; keep the smallest prefix with mass >= p.
            probs = self._base_sorted[:n] / self._base_sorted[:n].sum()
            cumulative = np.cumsum(probs)
            n = min(n, int(np.searchsorted(cumulative, max(top_p, 0.0) - 1e-12, side="left")) + 1)
        if min_p > 0.0:
            # min-p compares with the best token: p >= min_p * p_max, i.e. logit >= max + log(min_p)
            threshold = self._sorted[0] + np.log(min(min_p, 1.0))
            n = min(n, max(1, int(np.count_nonzero(self._sorted[:n] >= threshold))))
        return max(1, n)

    def _sorted_probs(self, temperature: float, top_p: float, top_k: int, min_p: float) -> tuple[np.ndarray, int]:
        """Reshaped probabilities of the kept prefix (in sorted order) and its length."""
        if temperature <= 0.0:  # greedy: the argmax, whatever the truncation
            return np.ones(1), 1
        kept = self._kept_count(top_k, top_p, min_p)
        return _softmax(self._sorted[:kept] / float(temperature)), kept

    def probs(self, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0) -> np.ndarray:
        """Whole-vocabulary probabilities after truncation and temperature (sums to 1);
        temperature 0 is greedy: one-hot on the argmax."""
        sorted_probs, kept = self._sorted_probs(temperature, top_p, top_k, min_p)
        out = np.zeros(len(self._order), dtype=np.float64)
        out[self._order[:kept]] = sorted_probs
        return out

    def candidates(self, n: int = 20, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                   min_p: float = 0.0) -> list[Candidate]:
        """The n highest-logit tokens, best first; the order does not depend on the settings."""
        sorted_probs, kept = self._sorted_probs(temperature, top_p, top_k, min_p)
        out = []
        for rank in range(min(max(0, int(n)), len(self._order))):
            token = int(self._order[rank])
            raw = self.pieces.get(token, b"")
            out.append(Candidate(
                id=token, piece=raw.decode("utf-8", "replace"), piece_bytes=raw,
                logit=float(self._sorted[rank]), prob=float(sorted_probs[rank]) if rank < kept else 0.0,
                base_prob=float(self._base_sorted[rank]), kept=rank < kept, rank=rank))
        return out

    def sample(self, rng: np.random.Generator, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
               min_p: float = 0.0) -> int:
        """One token id drawn from the reshaped distribution (only kept ids can come out)."""
        sorted_probs, kept = self._sorted_probs(temperature, top_p, top_k, min_p)
        if kept == 1:
            return int(self._order[0])
        index = int(rng.choice(kept, p=sorted_probs))
        return int(self._order[index])

    def entropy_bits(self, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0) -> float:
        sorted_probs, _kept = self._sorted_probs(temperature, top_p, top_k, min_p)
        nonzero = sorted_probs[sorted_probs > 0]
        return float(-(nonzero * np.log2(nonzero)).sum()) + 0.0  # + 0.0: no "-0.0" for one-hot

    def base_prob(self, token_id: int) -> float:
        return float(self._base_sorted[self.rank_of(token_id)])


@dataclass
class Change:
    """One token with and without the attached adapters, under the same reshaping settings."""
    id: int
    piece: str
    piece_bytes: bytes
    base_prob: float        # the model without its adapters
    adapted_prob: float     # with them
    delta: float            # adapted_prob - base_prob
    rank: int               # logit rank with the adapters (0 = best)
    base_rank: int          # ... and without them
    kept: bool              # could be sampled with the adapters
    logit: float            # with the adapters


def compare(adapted: Distribution, base: Distribution, n: int = 10, temperature: float = 1.0,
            top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0) -> list[Change]:
    """The union of both sides' n highest-logit tokens, each with its probability on both sides
    (the same temperature and truncation applied to each), most likely with the adapters first.
    A token only one side ranks high still gets the other side's probability: both are whole
    vocabularies."""
    if adapted.n_vocab != base.n_vocab:
        raise ValueError(f"the two distributions have different vocabularies "
                         f"({adapted.n_vocab:,} and {base.n_vocab:,} tokens)")
    after = adapted.probs(temperature, top_p, top_k, min_p)
    before = base.probs(temperature, top_p, top_k, min_p)
    count = min(max(0, int(n)), adapted.n_vocab)
    ids = dict.fromkeys([*adapted._order[:count].tolist(), *base._order[:count].tolist()])
    out = []
    for token in ids:
        token = int(token)
        raw = adapted.pieces.get(token) or base.pieces.get(token, b"")
        rank = adapted.rank_of(token)
        out.append(Change(id=token, piece=raw.decode("utf-8", "replace"), piece_bytes=raw,
                          base_prob=float(before[token]), adapted_prob=float(after[token]),
                          delta=float(after[token] - before[token]), rank=rank, base_rank=base.rank_of(token),
                          kept=bool(after[token] > 0), logit=float(adapted.logits[token])))
    # Equal probabilities (e.g. all cut) fall back to the adapted logit order: a stable picture.
    out.sort(key=lambda c: (-c.adapted_prob, c.rank))
    return out


@dataclass
class _Step:
    token_id: int
    piece: bytes
    prob: float
    before: Distribution   # the distribution the token was chosen from, for undo
    before_base: Distribution | None = None   # ... and the base model's there, when it was fetched


class StepSession:
    """Generate one token at a time on the llama.cpp engine, the user picking each token.

    Every step re-evaluates prompt + chosen ids (the engine keeps no KV cache between requests),
    which is fine for the short continuations this view is for. With `compare` on, each step also
    fetches `base`: the same position without the engine's adapters."""

    def __init__(self, engine: Any, prompt: str, *, chat: bool = False, system: str | None = None,
                 top_n: int = 50, compare: bool = False) -> None:
        self.engine = engine
        self.prompt = prompt
        self.chat = chat
        self.system = system
        self.top_n = max(1, int(top_n))
        self.prompt_ids: list[int] = []
        self.distribution: Distribution | None = None
        self.compare = compare
        self.base: Distribution | None = None     # without the adapters, at the same step
        self._steps: list[_Step] = []

    @property
    def chosen(self) -> list[tuple[int, bytes, float]]:
        """(id, piece bytes, probability when chosen) for each chosen token, in order."""
        return [(s.token_id, s.piece, s.prob) for s in self._steps]

    @property
    def generated_text(self) -> str:
        """The chosen tokens as text; bytes of a character not yet complete are held back."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return decoder.decode(b"".join(s.piece for s in self._steps), final=False)

    @property
    def pending_bytes(self) -> bytes:
        """The held-back tail of generated_text: the start of a character the next token completes."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        decoder.decode(b"".join(s.piece for s in self._steps), final=False)
        return decoder.getstate()[0]

    async def _query(self, tokens: list[int] | None, ids: list[int] | None = None) -> Distribution:
        if tokens is not None:
            result = await self.engine.next_logits(tokens=tokens, top_k=self.top_n, ids=ids, full=True)
        elif self.chat:
            messages = ([{"role": "system", "content": self.system}] if self.system else []) + \
                [{"role": "user", "content": self.prompt}]
            result = await self.engine.next_logits(messages=messages, top_k=self.top_n, full=True)
        else:
            result = await self.engine.next_logits(self.prompt, top_k=self.top_n, full=True)
        return Distribution.from_engine(result)

    @property
    def ids(self) -> list[int]:
        """The token ids the current distribution follows: the prompt's and the chosen ones."""
        return [*self.prompt_ids, *(s.token_id for s in self._steps)]

    async def fetch_base(self) -> Distribution | None:
        """The current step's distribution without the engine's adapters (asked once per step and
        kept); None before start()."""
        if self.distribution is None:
            return None
        if self.base is None:
            self.base = await self._query_base(self.ids)
        return self.base

    async def _query_base(self, ids: list[int]) -> Distribution:
        result = await self.engine.next_logits(tokens=ids, top_k=self.top_n, full=True, base=True)
        return Distribution.from_engine(result)

    async def start(self) -> Distribution:
        """Evaluate the prompt (with the chat template when chat=True); forgets any chosen tokens."""
        distribution = await self._query(None)
        base = await self._query_base(list(distribution.prompt_ids)) if self.compare else None
        self.prompt_ids = list(distribution.prompt_ids)
        self._steps = []
        self.distribution = distribution
        self.base = base
        return distribution

    async def choose(self, token_id: int, *, prob: float | None = None) -> Distribution:
        """Append a token and return the distribution after it. `prob` is what to record as the
        probability it was chosen with (e.g. under the view's temperature); default: the model's own."""
        if self.distribution is None:
            await self.start()
        current = self.distribution
        assert current is not None
        token_id = int(token_id)
        if not 0 <= token_id < current.n_vocab:
            raise ValueError(f"token id {token_id} is not in the vocabulary (0..{current.n_vocab - 1})")
        ids = [*self.prompt_ids, *(s.token_id for s in self._steps), token_id]
        known = token_id in current.pieces
        # A token outside the top_n has no piece yet: the same request asks for it.
        following = await self._query(ids, None if known else [token_id])
        # Both answers before any state changes: a failed request leaves the session as it was.
        following_base = await self._query_base(ids) if self.compare else None
        piece = current.pieces.get(token_id, following.pieces.get(token_id, b""))
        if prob is None:
            prob = current.base_prob(token_id)
        self._steps.append(_Step(token_id, piece, float(prob), current, self.base))
        current.pieces.setdefault(token_id, piece)
        self.distribution = following
        self.base = following_base
        return following

    async def undo(self) -> Distribution | None:
        """Drop the last chosen token and return the distribution it was chosen from (the same
        object, so exactly as before); None when nothing was chosen."""
        if not self._steps:
            return None
        step = self._steps.pop()
        self.distribution = step.before
        self.base = step.before_base       # None when comparing started later: fetch_base() asks
        return step.before
