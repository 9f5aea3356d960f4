"""Asyncio client of the llama.cpp engine worker (studio.core.engine.worker), and the typed
requests and results the two share.

The client remembers what was loaded, so after a worker crash the next request starts a fresh
worker and loads the same model again before it runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, TypedDict, cast

from studio.core.engine.sampling import SamplingParams
from studio.core.engine.render import RenderParams, RenderResult, render_result
from studio.core.settings import EngineSettings
from studio.core.workers.client import Call, OnProgress, ServiceClient, WorkerClient, outcome
from studio.core.workers.protocol import WorkerCancelled, WorkerError, to_params

if TYPE_CHECKING:
    import asyncio

    # at run time, __getattr__ below (the worker imports them from here)
    from studio.core.engine.requests import (AttentionParams, EmbedParams, GenerateParams, LensParams,  # noqa: F401
                                             LoadParams, NextLogitsParams, PerplexityParams, SetLoraParams,
                                             TokenizeParams)
else:  # asyncio is imported when first used, after the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import asyncio

ENGINE_MODULE = "studio.core.engine.worker"
# How long Stop (or Cancel during a load) waits for the worker to end the request before it ends the
# worker itself: tokens stop within ~100 ms, so 3 s of silence means frozen or stuck in llama.cpp (or
# in a long prompt evaluation, which cannot be interrupted; the price is a model reload). Read at
# each cancel, so tests may lower it.
CANCEL_TIMEOUT_S = 3.0


def unresponsive_note() -> str:
    return (f"The engine did not answer within {CANCEL_TIMEOUT_S:g} s, so it was restarted; "
            "the model loads again with the next request.")


# -- the operations' requests (studio.core.engine.requests) and results -------------------------
_REQUESTS = frozenset(("LoadParams", "GenerateParams", "TokenizeParams", "SetLoraParams", "PerplexityParams",
                       "NextLogitsParams", "AttentionParams", "LensParams", "EmbedParams"))


def __getattr__(name: str) -> Any:
    """The request types, from their module on first use (see studio.core.engine.requests)."""
    if name in _REQUESTS:
        from studio.core.engine import requests

        return getattr(requests, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class AttentionFile(TypedDict, total=False):
    """What `attention` returns: the analyser's shape. The .npz holds weights (float16
    [layers, heads, tokens, tokens]), ids (int64) and tokens (labels), like the torch analyser's."""
    path: str
    n_tokens: int
    n_layers: int
    n_heads: int
    layers: list[int]
    ids: list[int]
    labels: list[str]
    truncated_from: int | None
    seconds: float
    lora: list[dict[str, Any]]


class LensResult(TypedDict, total=False):
    """What `logit_lens` returns: the torch analyser's shape. Token dicts are {id, piece, prob};
    entries = embeddings + one per layer (the last is the model's output)."""
    ids: list[int]
    labels: list[str]
    layer_names: list[str]
    top1: list[list[dict[str, Any]]]   # [entry][position - first_position]
    last: list[list[dict[str, Any]]]   # [entry][k] at the last position
    final: list[dict[str, Any]]        # llama.cpp's own top k at the last position (= last[-1])
    first_position: int
    truncated_from: int | None
    max_prob_error: float              # |the decoded last layer − llama.cpp's distribution| over its top k
    seconds: float
    lora: list[dict[str, Any]]
    base: bool


class GenerateResult(TypedDict, total=False):
    text: str
    tokens: int
    prompt_tokens: int
    ttft_ms: float
    tokens_per_s: float
    n_ctx: int
    finish_reason: str
    stopped: bool
    cancelled: bool
    drafted: int
    accepted: int
    lookup_gave_up: bool
    thinking_open: bool
    thinking_tokens: int
    thinking_ms: float


class TokenizeResult(TypedDict):
    ids: list[int]
    pieces_hex: list[str]


class PerplexityResult(TypedDict):
    ppl: float
    nll: float
    tokens: int
    per_text: list[dict[str, Any]]
    lora: list[dict[str, Any]]


class NextLogitsResult(TypedDict, total=False):
    tokens: list[dict[str, Any]]
    n_vocab: int
    n_prompt_tokens: int
    prompt_ids: list[int]
    lora: list[dict[str, Any]]
    requested: list[dict[str, Any]]
    logits_b64: str


class EmbedResult(TypedDict):
    """What `embed` returns: one L2-normalized vector per text, each as base64 of its float32
    little-endian bytes (OpenAI's "base64" encoding; embedding_vectors() turns them into floats)."""
    vectors_b64: list[str]
    n_embd: int
    tokens: list[int]             # tokens per text
    prompt_tokens: int            # their sum
    pooling: str                  # "mean", "cls" or "last"
    seconds: float
    lora: list[dict[str, Any]]


def embedding_vectors(result: EmbedResult) -> list[list[float]]:
    """The vectors of an EmbedResult as lists of floats."""
    import base64
    import sys
    from array import array

    vectors = []
    for encoded in result["vectors_b64"]:
        values = array("f", base64.b64decode(encoded))
        if sys.byteorder != "little":
            values.byteswap()
        vectors.append(values.tolist())
    return vectors


class EngineState(str, Enum):
    NO_MODEL = "no_model"
    LOADING = "loading"
    READY = "ready"
    ERROR = "error"


@dataclass
class ModelInfo:
    path: str
    name: str
    architecture: str
    n_ctx: int
    n_ctx_train: int
    n_layers: int
    n_gpu_layers: int
    n_threads: int
    template_source: str          # "gguf" or "fallback"
    template_note: str            # what the user is told about the template
    backend: str                  # "CPU", "CUDA", "Metal", "Vulkan", ...
    gpu_offload_supported: bool
    load_ms: float
    lora: list[dict[str, Any]] = field(default_factory=list)
    general_name: str = ""        # general.name from the GGUF (often a training tag)
    available_backend: str = ""   # what llama.cpp could offload to, even when nothing is offloaded
    n_embd: int = 0               # the size of the model's embeddings (0: not reported)
    thinking_switch: bool = False  # the template has its own thinking switch (enable_thinking)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelInfo":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class GenerationStats:
    tokens: int = 0
    prompt_tokens: int = 0
    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0
    n_ctx: int = 0
    finish_reason: str = ""
    stopped: bool = False
    dropped: int = 0
    drafted: int = 0           # prompt-lookup tokens proposed; accepted ones cost no decode step of their own
    accepted: int = 0
    lookup_gave_up: bool = False  # drafting held back at most matches in this reply: too few drafts were kept
    thinking_open: bool = False   # the prompt pre-opened a think block: the reply starts inside thinking
    thinking_tokens: int = 0      # the reply's tokens inside its <think> block (tags included)
    thinking_ms: float = 0.0      # from the first token to the end of the thinking

    @property
    def context_used(self) -> int:
        return self.prompt_tokens + self.tokens

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["context_used"] = self.context_used
        if not (self.thinking_open or self.thinking_tokens):  # replies that did not think keep their stats as before
            for key in ("thinking_open", "thinking_tokens", "thinking_ms"):
                data.pop(key)
        return data


class Generation:
    """One streaming reply. Iterate for ("token", text) and ("trimmed", [indices]) pairs;
    `stats` is filled when the iteration ends. `cancel()` stops it between tokens."""

    def __init__(self, call: Call, on_error: "Callable[[WorkerError], None] | None" = None,
                 on_unresponsive: "Callable[[], None] | None" = None) -> None:
        self._call = call
        self._on_error = on_error
        self._on_unresponsive = on_unresponsive
        self.stats = GenerationStats()
        self.text = ""
        self._cancel_requested = False

    async def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        try:
            async for item in self._events():
                yield item
        except WorkerError as exc:
            if self._on_error is not None:
                self._on_error(exc)
            raise

    async def _events(self) -> AsyncIterator[tuple[str, Any]]:
        async for event in self._call:
            kind = event.get("event")
            if kind == "token":
                self.text += event["text"]
                yield "token", event["text"]
            elif kind == "trimmed":
                self.stats.dropped = len(event["dropped"])
                yield "trimmed", event["dropped"]
            elif kind == "prompt":
                self.stats.prompt_tokens = event["prompt_tokens"]
                self.stats.thinking_open = bool(event.get("thinking_open"))
                yield "prompt", event["prompt_tokens"]
        unresponsive = False
        try:
            result: dict[str, Any] = outcome(self._call)
        except WorkerCancelled as cancelled:  # stopped: what the reply got to is the reply
            result, unresponsive = {**cancelled.partial, "stopped": True}, cancelled.unresponsive
        known = GenerationStats.__dataclass_fields__
        for key, value in result.items():
            if key in known and key != "dropped":
                setattr(self.stats, key, value)
        self.stats.stopped = bool(result.get("stopped") or self._cancel_requested)
        if unresponsive:  # the worker was ended: the text streamed so far is the reply
            self.stats.finish_reason = "cancelled"
            if self._on_unresponsive is not None:
                self._on_unresponsive()

    @property
    def backlog(self) -> int:
        """Events that have arrived but are not read yet: a reader that fell behind (a slow client) can
        take them together instead of paying per token."""
        return self._call._events.qsize()

    async def cancel(self) -> None:
        """Stop between tokens; a worker that has not ended the reply within CANCEL_TIMEOUT_S is
        ended and the reply finishes as stopped (the next request starts a fresh worker)."""
        self._cancel_requested = True
        await self._call.cancel(timeout=CANCEL_TIMEOUT_S)

    async def stop(self) -> None:
        """Cancel, then wait until the worker has really ended the reply (or the cancel watchdog has
        ended the worker): only then may the engine go to its next user, whose request would
        otherwise meet a worker still busy with this one."""
        if self._call.finished:
            return
        await self.cancel()
        await self._call.ended(CANCEL_TIMEOUT_S + 2.0)


class EngineClient(ServiceClient):
    """Events: state(state), load_progress(fraction, stage), loaded(info), crashed(message, log_tail),
    lora(adapters) after the attached LoRA adapters changed, unresponsive(message) after a Stop or a
    Cancel that the worker did not answer in time ended it (the next request restarts it)."""

    def __init__(self, settings: EngineSettings | None = None, worker: WorkerClient | None = None) -> None:
        super().__init__(ENGINE_MODULE, name="engine", worker=worker)
        self.settings = settings or EngineSettings()
        self.state = EngineState.NO_MODEL
        self.model_info: ModelInfo | None = None
        self._wanted: LoadParams | None = None       # last successful load request
        self._loaded_generation = -1                 # worker generation the model lives in
        self._load_call: Call | None = None
        self._cancel_before_call = False  # Cancel pressed while the worker was still starting
        self._analysis_call: Call | None = None      # perplexity in flight, for cancel_perplexity()
        self._attention_dir: Path | None = None       # attention files when the caller names no folder

    def _set_state(self, state: EngineState) -> None:
        if state != self.state:
            self.state = state
            self.emit("state", state=state)

    @property
    def ready(self) -> bool:
        return (self.model_info is not None and self.worker.running
                and self._loaded_generation == self.worker.generation)

    async def load(self, path: str, *, n_ctx: int | None = None, settings: EngineSettings | None = None,
                   lora: list[dict[str, Any]] | None = None) -> ModelInfo:
        """Load a model (replacing the current one). Raises WorkerError with a human message; the
        previous model stays loaded when validation fails before llama.cpp is touched.
        `lora` = [{"path", "scale"}] adapters to attach; None keeps the attached ones when the same
        model is reloaded (new settings) and attaches none to another model; [] attaches none."""
        settings = settings or self.settings
        if lora is None:
            same_model = self._wanted is not None and self._wanted.path == str(path)
            lora = list(self._wanted.lora) if self._wanted is not None and same_model else []
        from studio.core.engine.requests import LoadParams  # imported on use: see requests.py

        params = LoadParams(path=str(path), n_ctx=int(n_ctx or (self._wanted.n_ctx if self._wanted else 4096)),
                            n_gpu_layers=settings.n_gpu_layers, n_threads=settings.n_threads,
                            n_batch=settings.n_batch,
                            # lookup drafts only where its batched verify is exact: with flash attention on
                            # (a setting; turning it on by itself changed every reply and the inspect views)
                            flash_attn=settings.flash_attn,
                            lora=_adapter_list(lora))
        previous_state = self.state
        self._set_state(EngineState.LOADING)
        self.emit("load_progress", fraction=0.0, stage="starting")
        started = time.perf_counter()
        self._cancel_before_call = False
        try:
            self._load_call = await self._send("load", params)
            if self._cancel_before_call:  # starting the worker (importing llama.cpp) takes a while
                await self._load_call.cancel(timeout=CANCEL_TIMEOUT_S)
            result = await self._finish(self._load_call, what="loading", on_progress=self._on_load_progress)
        except WorkerCancelled as exc:
            # The worker may have dropped the old model before the cancel landed: the next request
            # reloads it (self._wanted is unchanged).
            self._loaded_generation = -1
            self._set_state(previous_state if self._wanted else EngineState.NO_MODEL)
            if exc.unresponsive:
                self._note_unresponsive()
            raise
        except WorkerError as exc:
            if exc.kind == "lora_mismatch":  # the worker had dropped the old model by then
                self._loaded_generation = -1
            self._after_failure(exc, previous_state)
            raise
        finally:
            self._load_call = None
        result.setdefault("load_ms", (time.perf_counter() - started) * 1000)
        self.model_info = ModelInfo.from_dict(result)
        self._wanted = params
        self.settings = settings
        self._loaded_generation = self.worker.generation
        self._set_state(EngineState.READY)
        self.emit("load_progress", fraction=1.0, stage="ready")
        self.emit("loaded", info=self.model_info)
        return self.model_info

    async def cancel_load(self) -> None:
        """Cancel the load in flight; a worker silent for CANCEL_TIMEOUT_S is ended (see Generation.cancel)."""
        if self._load_call is not None:
            await self._load_call.cancel(timeout=CANCEL_TIMEOUT_S)
        elif self.state == EngineState.LOADING:
            self._cancel_before_call = True

    def _note_unresponsive(self) -> None:
        self.emit("unresponsive", message=unresponsive_note())

    def _on_load_progress(self, fraction: float, stage: str) -> None:
        self.emit("load_progress", fraction=fraction, stage=stage)

    def _after_failure(self, exc: WorkerError, previous_state: EngineState) -> None:
        if exc.kind == "worker_crashed":
            self._set_state(EngineState.ERROR)
            self.emit("crashed", message=exc.message, log_tail=exc.log_tail)
        else:
            if exc.kind == "llama_load_failed":
                # The worker dropped the old model before llama.cpp refused the new one; the next
                # request reloads the old one (self._wanted is unchanged), so it stays usable.
                self._loaded_generation = -1
            self._set_state(previous_state if self._wanted else EngineState.NO_MODEL)

    async def _request(self, op: str, params: Any = None, **kw: Any) -> dict[str, Any]:
        """Run one op on the loaded model; a crash updates the engine state."""
        try:
            return await self._run(op, params, **kw)
        except WorkerCancelled:
            raise
        except WorkerError as exc:
            self._after_failure(exc, self.state)
            raise

    def needs_load(self, n_ctx: int | None = None) -> bool:
        """Whether the next request must (re)load: no live model, or another context size asked.
        Compares with the size asked for, since llama.cpp rounds n_ctx up (3000 becomes 3072)."""
        return not self.ready or bool(n_ctx and self._wanted and self._wanted.n_ctx != n_ctx)

    async def ensure_loaded(self, n_ctx: int | None = None) -> ModelInfo:
        """Make sure the wanted model is live in a running worker with the wanted context size."""
        if self._wanted is None:
            raise WorkerError("no_model", "no model is loaded: pick one in the model picker or drop a .gguf file")
        if self.needs_load(n_ctx):
            return await self.load(self._wanted.path, n_ctx=n_ctx or self._wanted.n_ctx, lora=self._wanted.lora)
        assert self.model_info is not None
        return self.model_info

    async def generate(self, messages: list[dict[str, str]], sampling: SamplingParams | None = None, *,
                       grammar: str | None = None, stop: list[str] | None = None,
                       prompt: str | None = None, thinking: bool | None = None) -> Generation:
        """Stream a reply to `messages` (or, with `prompt`, a continuation of that raw text). `grammar`
        is GBNF text the reply must follow; `stop` adds stop strings to the model's own; `thinking` False
        turns a reasoning model's thinking off (the template's switch, else an empty think block); under
        a grammar the engine turns it off itself (thinking.under_grammar)."""
        sampling = sampling or SamplingParams()
        await self.ensure_loaded(sampling.n_ctx)
        params = sampling.to_dict()
        params.pop("n_ctx", None)
        from studio.core.engine.requests import GenerateParams

        request = GenerateParams(messages, params, grammar=grammar, stop=list(stop) if stop else None, prompt=prompt,
                                 lookup=self.settings.prompt_lookup, thinking=thinking)
        try:  # the reply streams through Generation, which reads it straight off the call
            call = await self.worker.request("generate", **to_params(request))
        except WorkerError as exc:
            self._after_failure(exc, self.state)
            raise
        return Generation(call, on_error=self.note_crash, on_unresponsive=self._note_unresponsive)

    async def complete(self, messages: list[dict[str, str]], sampling: SamplingParams | None = None) -> tuple[str, GenerationStats]:
        """Convenience for the CLI and tests: run a whole reply."""
        generation = await self.generate(messages, sampling)
        async for _ in generation:
            pass
        return generation.text, generation.stats

    async def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> dict[str, Any]:
        await self.ensure_loaded()
        from studio.core.engine.requests import TokenizeParams

        return await self._run("tokenize", TokenizeParams(text, add_special, parse_special))

    async def render_prompt(self, messages: list[dict[str, str]], thinking: bool | None = None) -> RenderResult:
        """The prompt text `messages` become with the model's chat template, its token count as
        `generate` would feed it, and the context size."""
        await self.ensure_loaded()
        return render_result(await self._run("render_prompt", RenderParams(list(messages), thinking)))

    # -- LoRA adapters and logits ------------------------------------------------------------
    @property
    def lora(self) -> list[dict[str, Any]]:
        """The adapters attached (or to be re-attached after a crash): [{"path", "scale"}]."""
        return [dict(a) for a in (self._wanted.lora if self._wanted else [])]

    async def set_lora(self, adapters: list[dict[str, Any]]) -> ModelInfo:
        """Attach exactly these adapters ([{"path", "scale"}]; [] detaches all) to the loaded model.
        Raises WorkerError (e.g. kind "lora_mismatch" with a sentence) and keeps the previous set."""
        wanted = _adapter_list(adapters)
        if self._wanted is None:
            raise WorkerError("no_model", "load a model before attaching a LoRA adapter")
        if not self.ready:  # crashed or cancelled: the reload attaches them in one go
            info = await self.load(self._wanted.path, n_ctx=self._wanted.n_ctx, lora=wanted)
            self.emit("lora", adapters=info.lora)
            return info
        from studio.core.engine.requests import SetLoraParams

        result = await self._request("set_lora", SetLoraParams(adapters=wanted))
        self._wanted = replace(self._wanted, lora=wanted)
        self.model_info = ModelInfo.from_dict(result)
        self.emit("lora", adapters=self.model_info.lora)
        return self.model_info

    async def perplexity(self, texts: list[str], on_progress: Callable[[float, str], Any] | None = None, *,
                         max_tokens_per_text: int | None = None) -> dict[str, Any]:
        """Perplexity of the model with its current adapters over texts (each scored on its own,
        cut at max_tokens_per_text or the context). Returns {ppl, nll, tokens, per_text, lora};
        {"cancelled": True} after cancel_perplexity()."""
        await self.ensure_loaded()

        def on_event(event: dict[str, Any]) -> None:
            if on_progress is not None and event.get("event") == "progress":
                on_progress(float(event.get("fraction", 0.0)),
                            f"scoring {event.get('tokens', 0):,} of {event.get('total_tokens', 0):,} tokens")
        try:
            from studio.core.engine.requests import PerplexityParams

            self._analysis_call = await self._send("perplexity", PerplexityParams(list(texts), max_tokens_per_text))
            return await self._finish(self._analysis_call, on_event=on_event)
        except WorkerCancelled:
            return {"cancelled": True}
        except WorkerError as exc:
            self._after_failure(exc, self.state)
            raise
        finally:
            self._analysis_call = None

    async def cancel_perplexity(self) -> None:
        if self._analysis_call is not None:
            await self._analysis_call.cancel()

    async def next_logits(self, text: str | None = None, *, messages: list[dict[str, str]] | None = None,
                          tokens: list[int] | None = None, top_k: int = 10,
                          ids: list[int] | None = None, full: bool = False, base: bool = False) -> dict[str, Any]:
        """The model's next-token distribution after a text, a conversation (rendered with the
        chat template, ready for the reply) or token ids. Returns {"tokens": [{id, piece, piece_hex,
        logprob, logit}] (top_k, best first), "n_vocab", "n_prompt_tokens", "prompt_ids" (the ids
        evaluated), "requested": [...] for ids}; with full=True also "logits_b64" (the whole
        vocabulary's logits, base64 float32 little-endian: studio.core.inspect.next_token reads it).
        base=True: the model without its adapters (the engine keeps them attached)."""
        await self.ensure_loaded()
        from studio.core.engine.requests import NextLogitsParams

        params = NextLogitsParams(top_k=int(top_k), full=bool(full), ids=[int(i) for i in ids] if ids else None,
                                  base=bool(base))
        if tokens is not None:
            params.tokens = [int(t) for t in tokens]
        elif messages is not None:
            params.messages = messages
        else:
            params.text = text or ""
        return await self._request("next_logits", params)

    async def attention(self, text: str | None = None, *, tokens: list[int] | None = None, chat: bool = False,
                        max_tokens: int = 512, layers: list[int] | None = None,
                        out_dir: str | os.PathLike[str] | None = None, n_ubatch: int | None = None,
                        base: bool = False, on_progress: OnProgress | None = None) -> dict[str, Any]:
        """Attention of the loaded model (with its adapters) over a text, a user turn (chat=True) or
        token ids, read from llama.cpp itself. Writes an .npz like the torch analyser's (weights
        float16 [layers, heads, T, T], ids, tokens) into out_dir (default: a folder of this client's,
        removed at close) and returns AttentionFile {path, n_tokens, n_layers, n_heads, layers, ids,
        labels, truncated_from, seconds, lora}; studio.core.inspect's AttentionResult.load reads the file.
        base=True: without the attached adapters. Progress stage "attention"; cancel() raises
        WorkerCancelled here."""
        await self.ensure_loaded()
        if out_dir is None:
            if self._attention_dir is None:
                self._attention_dir = Path(tempfile.mkdtemp(prefix="studio-engine-attention-"))
            out_dir = self._attention_dir
        from studio.core.engine.requests import AttentionParams

        params = AttentionParams(text=None if tokens is not None else (text or ""),
                                 tokens=[int(t) for t in tokens] if tokens is not None else None, chat=bool(chat),
                                 max_tokens=int(max_tokens), layers=[int(x) for x in layers] if layers else None,
                                 out_dir=str(out_dir), n_ubatch=int(n_ubatch) if n_ubatch else None,
                                 base=bool(base))
        return await self._request("attention", params, on_progress=on_progress)

    async def logit_lens(self, text: str | None = None, *, tokens: list[int] | None = None, chat: bool = False,
                         top_k: int = 5, max_tokens: int = 2048, positions: int | None = 16,
                         n_ubatch: int | None = None, base: bool = False,
                         on_progress: OnProgress | None = None) -> dict[str, Any]:
        """The logit lens of the loaded model (with its adapters, or base=True without) from llama.cpp:
        each layer's output decoded with the model's final norm and output matrix. Returns LensResult,
        the torch analyser's shape; `positions` keeps the top-1 rows of the last N positions (the
        vocabulary-sized projection is most of the cost). Progress stages "forward", "lens"."""
        await self.ensure_loaded()
        from studio.core.engine.requests import LensParams

        params = LensParams(text=None if tokens is not None else (text or ""),
                            tokens=[int(t) for t in tokens] if tokens is not None else None, chat=bool(chat),
                            top_k=int(top_k), max_tokens=int(max_tokens),
                            positions=int(positions) if positions else None,
                            n_ubatch=int(n_ubatch) if n_ubatch else None, base=bool(base))
        return await self._request("logit_lens", params, on_progress=on_progress)

    async def embed(self, texts: list[str] | None = None, *, tokens: list[list[int]] | None = None,
                    on_progress: OnProgress | None = None) -> EmbedResult:
        """Embed texts (or token-id lists) with the loaded model and its adapters: one L2-normalized
        vector each (see EmbedResult), pooled over the tokens, from a second llama.cpp context that
        shares the weights. Raises WorkerError "context_overflow" for a text longer than the context,
        "bad_request" for an empty one; a cancel (or cancelling the awaiting task) raises
        WorkerCancelled / CancelledError and stops the worker between (and inside) decodes."""
        await self.ensure_loaded()
        from studio.core.engine.requests import EmbedParams

        params = EmbedParams(texts=None if tokens is not None else [str(t) for t in texts or []],
                             tokens=[[int(t) for t in ids] for ids in tokens] if tokens is not None else None)
        call = await self._send("embed", params)
        try:
            result = await self._finish(call, on_progress=on_progress)
        except asyncio.CancelledError:
            await asyncio.shield(call.cancel(timeout=CANCEL_TIMEOUT_S))
            raise
        except WorkerCancelled:
            raise
        except WorkerError as exc:
            self._after_failure(exc, self.state)
            raise
        return cast(EmbedResult, result)

    async def system_info(self) -> dict[str, Any]:
        return await self.worker.call("system_info")

    def note_crash(self, exc: WorkerError) -> None:
        """A stream died: if the worker crashed, the engine state and listeners learn of it."""
        if exc.kind == "worker_crashed":
            self._after_failure(exc, self.state)

    async def close(self, timeout: float = 3.0) -> None:
        await self.worker.close(timeout)
        if self._attention_dir is not None:
            shutil.rmtree(self._attention_dir, ignore_errors=True)
            self._attention_dir = None
        self.model_info = None
        self._set_state(EngineState.NO_MODEL)


def _adapter_list(adapters: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Plain JSON-safe [{"path": str, "scale": float}], refusing malformed entries early."""
    from studio.core.engine.lora import LoraError, normalize_adapters
    try:
        return normalize_adapters(adapters)
    except LoraError as exc:
        raise WorkerError(exc.kind, exc.message) from exc
