"""Where Attention and the logit lens come from for the model a user picked, and what they cost.

A GGUF file is inspected by llama.cpp itself: the app's engine, held through the workspace lease
("inspect"), with the adapters attached in Chat and the chat's GPU offload; no torch, no dequantize
step, the quantized model the user actually runs. A Hugging Face folder goes to the torch analyser.
With adapters attached, `base=True` asks for the model without them (the engine keeps them
attached), so a view can show a fine-tune's effect: compare_attention and compare_lens run both.

    inspector = Inspector(workspace, analyser)
    inspector.estimate_attention(model, n_tokens=300).sentence()   # before the job runs
    result = await inspector.attention(model, text="…", on_progress=cb)     # AttentionResult
    both = await inspector.compare_lens(model, text="…")                    # LensComparison
    await inspector.cancel()   # the call in flight raises WorkerCancelled
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

import numpy as np

from studio.core.errors import StudioError
from studio.core.inspect.client import AnalyserClient, AttentionResult, prune_attention_files
from studio.core.workers.client import OnProgress
from studio.core.workspace import Workspace

ENGINE = "llama.cpp"
TORCH = "torch"
COMPARE_MAX_TOKENS = 256  # two full attention sets and their difference stay under ~250 MB on the starter


class InspectError(StudioError):
    """kind: "load_failed" (the engine could not load the model), "too_big" (not enough memory)."""


@dataclass(frozen=True)
class JobEstimate:
    """What one Inspect job will hold in memory, known before it runs."""
    job: str             # "attention" or "lens"
    backend: str         # ENGINE or TORCH
    n_tokens: int
    bytes: int           # memory the job adds while it runs
    detail: str          # what the number is made of

    def size(self) -> str:
        return _size(self.bytes)

    def sentence(self) -> str:
        what = "Attention" if self.job == "attention" else "The logit lens"
        return (f"{what} for {self.n_tokens:,} tokens on {self.backend}: about {_size(self.bytes)} of memory "
                f"({self.detail}).")


@dataclass(frozen=True)
class AdapterChoice:
    path: str
    name: str


@dataclass
class LensParting:
    """Where the adapted model's lens parts from the base model's, at the last position."""
    parts_at: int | None          # the entry from which the top-1 differs all the way up to the output
    differs: list[bool]           # per entry: the top-1 at the last position differs
    changed: list[int]            # per entry: positions whose top-1 differs
    shift: list[float]            # per entry: |Δ probability| of the base model's top-1 at the last position


@dataclass
class LensComparison:
    base: dict[str, Any]
    tuned: dict[str, Any]
    parting: LensParting


@dataclass
class AttentionComparison:
    base: AttentionResult
    tuned: AttentionResult

    def difference(self) -> np.ndarray:
        """float32 [layers, heads, T, T]: adapted − base (positive: the adapter made it attend more)."""
        return np.subtract(self.tuned.weights, self.base.weights, dtype=np.float32)


def lens_parting(base: dict[str, Any], tuned: dict[str, Any]) -> LensParting:
    """Compare two lenses of one prompt, entry by entry. Early layers' lens tokens are noise that
    any change reshuffles, so the lenses "part" where a difference begins that lasts to the output."""
    changed = [sum(a["id"] != b["id"] for a, b in zip(row_b, row_t))
               for row_b, row_t in zip(base.get("top1") or [], tuned.get("top1") or [])]
    shift, differs = [], []
    for row_b, row_t in zip(base.get("last") or [], tuned.get("last") or []):
        if not row_b or not row_t:
            shift.append(0.0)
            differs.append(False)
            continue
        tuned_probs = {t["id"]: t["prob"] for t in row_t}
        shift.append(abs(tuned_probs.get(row_b[0]["id"], 0.0) - row_b[0]["prob"]))
        differs.append(row_b[0]["id"] != row_t[0]["id"])
    parts_at = None
    for index in reversed(range(len(differs))):
        if not differs[index]:
            break
        parts_at = index
    return LensParting(parts_at, differs, changed, shift)


class Inspector:
    def __init__(self, workspace: Workspace, analyser: AnalyserClient | None = None, *,
                 results_dir: Path | None = None) -> None:
        self.workspace = workspace
        self.analyser = analyser if analyser is not None else AnalyserClient()
        self._owns_results = results_dir is None
        self.results_dir = Path(results_dir) if results_dir is not None else Path(
            tempfile.mkdtemp(prefix="studio-inspect-"))
        self._running: str | None = None   # the backend of the call in flight

    # -- where a model is inspected ----------------------------------------------------------
    @staticmethod
    def backend(model: str | os.PathLike[str]) -> str:
        return TORCH if Path(model).is_dir() else ENGINE

    def adapters(self, model: str | os.PathLike[str]) -> list[dict[str, Any]]:
        """The adapters a comparison would measure: those attached to `model` in the engine."""
        if self.backend(model) != ENGINE or not self.workspace.same_model(model):
            return []
        return list(self.workspace.adapters)

    def trained_adapters(self, model: str | os.PathLike[str]) -> list[AdapterChoice]:
        """Adapters that fit `model`: GGUF adapters of training runs on it (newest first), then any
        attached in the engine that no run made (blocking: reads the runs folder)."""
        if self.backend(model) != ENGINE:
            return []
        from studio.core.training.runs import list_runs
        from studio.core.workspace import normalized_path

        wanted = normalized_path(model)
        choices = [AdapterChoice(run.gguf_adapter, run.name) for run in list_runs()
                   if run.gguf_adapter and normalized_path(run.base_model) == wanted]
        known = {normalized_path(c.path) for c in choices}
        for adapter in self.adapters(model):
            path = str(adapter.get("path", ""))
            if normalized_path(path) not in known:
                choices.append(AdapterChoice(path, str(adapter.get("name") or Path(path).stem)))
        return choices

    async def use_adapter(self, model: str | os.PathLike[str], path: str | None, scale: float = 1.0) -> None:
        """Attach exactly this adapter (None: none) to `model` in the engine, loading the model when the
        engine holds another; the chat sees the same adapters. Raises EngineBusy, InspectError,
        WorkerError (e.g. an adapter made for another model) with a sentence."""
        async def attach() -> None:
            await self.workspace.engine.set_lora([{"path": path, "scale": float(scale)}] if path else [])
        await self._on_engine(model, attach)

    # -- estimates -----------------------------------------------------------------------------
    def estimate_attention(self, model: str | os.PathLike[str], n_tokens: int, *, compare: bool = False) -> JobEstimate:
        layers, heads, _embd, _vocab = _shape(model)
        maps = layers * heads * n_tokens * n_tokens
        backend = self.backend(model)
        # llama.cpp: float16 in the engine and float16 in the view; torch: its float32 attentions,
        # the file, and the view's float32 copy.
        per_map = 4 if backend == ENGINE else 12
        sides = 2 if compare else 1
        total = maps * per_map * sides + (maps * 4 if compare else 0)
        detail = f"{layers} layers × {heads} heads × {n_tokens:,}² weights"
        if compare:
            detail += ", with and without the adapter, and their difference"
        if backend == TORCH:
            detail += ", plus the model in float32"
        return JobEstimate("attention", backend, n_tokens, total, detail)

    def estimate_lens(self, model: str | os.PathLike[str], n_tokens: int, positions: int | None) -> JobEstimate:
        layers, _heads, embd, vocab = _shape(model)
        kept = min(n_tokens, positions) if positions else n_tokens
        hidden = (layers + 1) * kept * embd * 4
        block = 8192 * embd * 4 + (layers + 1) * kept * 8192 * 4
        total = hidden + block + kept * vocab * 4
        detail = (f"{layers + 1} × {kept:,} hidden states of {embd:,}, the {vocab:,}-token output matrix "
                  f"streamed 8,192 rows at a time")
        return JobEstimate("lens", self.backend(model), n_tokens, total, detail)

    def count_tokens(self, model: str | os.PathLike[str], text: str) -> int:
        """About how many tokens `text` is for `model` (blocking; exact for a GGUF file)."""
        if self.backend(model) == TORCH:
            return max(1, len(text) // 3)
        from studio.core.inspect.tokens import open_tokenizer

        return open_tokenizer(model).tokenize(text).n_tokens

    def plan_attention(self, model: str | os.PathLike[str], text: str, *, max_tokens: int = 512,
                       compare: bool = False) -> JobEstimate:
        """The estimate for the text as it will be cut (blocking: tokenizes; call it from a thread)."""
        n = min(self.count_tokens(model, text), COMPARE_MAX_TOKENS if compare else max_tokens)
        return self.estimate_attention(model, n, compare=compare)

    def plan_lens(self, model: str | os.PathLike[str], text: str, *, max_tokens: int = 2048,
                  positions: int | None = None) -> JobEstimate:
        n = min(self.count_tokens(model, text), max_tokens)
        return self.estimate_lens(model, n, positions)

    @staticmethod
    def refusal(estimate: JobEstimate, available_bytes: int | None = None) -> str | None:
        """A sentence when the job would not fit in the memory that is free; else None."""
        if available_bytes is None:
            import psutil

            available_bytes = int(psutil.virtual_memory().available)
        if estimate.bytes <= available_bytes * 0.8:
            return None
        return (f"{estimate.sentence()} Only {_size(available_bytes)} is free: use a shorter prompt"
                f"{' or turn off the comparison' if 'adapter' in estimate.detail else ''}.")

    # -- jobs ---------------------------------------------------------------------------------
    async def attention(self, model: str | os.PathLike[str], *, text: str | None = None,
                        tokens: list[int] | None = None, chat: bool = False, max_tokens: int = 512,
                        base: bool = False, on_progress: OnProgress | None = None) -> AttentionResult:
        if self.backend(model) == TORCH:
            return await self._torch(self.analyser.attention(model, text=text, tokens=tokens, chat=chat,
                                                             max_tokens=max_tokens, on_progress=on_progress))

        async def run() -> AttentionResult:
            self.results_dir.mkdir(parents=True, exist_ok=True)
            done = await self.workspace.engine.attention(text, tokens=tokens, chat=chat, max_tokens=max_tokens,
                                                         out_dir=self.results_dir, base=base,
                                                         on_progress=on_progress)
            # Hundreds of MB at 512 tokens: read it off the event loop so the window keeps painting.
            result = await asyncio.to_thread(AttentionResult.load, done["path"], done.get("truncated_from"))
            prune_attention_files(self.results_dir, Path(done["path"]))
            if tokens is None and text:
                result.labels = await asyncio.to_thread(_span_labels, model, text, chat, result.ids, result.labels)
            return result
        return await self._on_engine(model, run)

    async def logit_lens(self, model: str | os.PathLike[str], *, text: str | None = None,
                         tokens: list[int] | None = None, chat: bool = False, top_k: int = 5,
                         max_tokens: int = 2048, positions: int | None = None, base: bool = False,
                         on_progress: OnProgress | None = None) -> dict[str, Any]:
        """The analyser's lens shape: {ids, labels, layer_names, top1, last, final, first_position,
        truncated_from}, plus "backend"."""
        if self.backend(model) == TORCH:
            result = await self._torch(self.analyser.logit_lens(model, text=text, tokens=tokens, chat=chat, top_k=top_k,
                                                                max_tokens=max_tokens, positions=positions,
                                                                on_progress=on_progress))
            return {**result, "backend": TORCH}

        async def run() -> dict[str, Any]:
            result = await self.workspace.engine.logit_lens(text, tokens=tokens, chat=chat, top_k=top_k,
                                                            max_tokens=max_tokens, positions=positions, base=base,
                                                            on_progress=on_progress)
            return {**result, "backend": ENGINE}
        return await self._on_engine(model, run)

    async def compare_attention(self, model: str | os.PathLike[str], *, text: str | None = None,
                                tokens: list[int] | None = None, chat: bool = False,
                                max_tokens: int = COMPARE_MAX_TOKENS,
                                on_progress: OnProgress | None = None) -> AttentionComparison:
        """Attention with the attached adapters and without them, on the same token ids."""
        tuned = await self.attention(model, text=text, tokens=tokens, chat=chat, max_tokens=max_tokens,
                                     on_progress=_half(on_progress, 0))
        base = await self.attention(model, tokens=tuned.ids, max_tokens=max_tokens, base=True,
                                    on_progress=_half(on_progress, 1))
        base.truncated_from = tuned.truncated_from
        return AttentionComparison(base, tuned)

    async def compare_lens(self, model: str | os.PathLike[str], *, text: str | None = None,
                           tokens: list[int] | None = None, chat: bool = False, top_k: int = 5,
                           max_tokens: int = 2048, positions: int | None = None,
                           on_progress: OnProgress | None = None) -> LensComparison:
        tuned = await self.logit_lens(model, text=text, tokens=tokens, chat=chat, top_k=top_k,
                                      max_tokens=max_tokens, positions=positions, on_progress=_half(on_progress, 0))
        base = await self.logit_lens(model, tokens=tuned["ids"], top_k=top_k, max_tokens=max_tokens,
                                     positions=positions, base=True, on_progress=_half(on_progress, 1))
        return LensComparison(base, tuned, lens_parting(base, tuned))

    async def cancel(self) -> None:
        if self._running == ENGINE:
            await self.workspace.engine.cancel()
        elif self._running == TORCH:
            await self.analyser.cancel()

    async def close(self) -> None:
        await self.cancel()
        if self._owns_results:
            shutil.rmtree(self.results_dir, ignore_errors=True)

    # -- plumbing -------------------------------------------------------------------------------
    async def _torch(self, call: Awaitable[Any]) -> Any:
        self._running = TORCH
        try:
            return await call
        finally:
            self._running = None

    async def _on_engine(self, model: str | os.PathLike[str], action: Callable[[], Awaitable[Any]]) -> Any:
        """Run `action` holding the engine with `model` loaded; EngineBusy when someone else holds it."""
        async with self.workspace.lease("inspect") as lease:
            if await self.workspace.use_model(str(model), lease=lease) is None:
                raise InspectError("load_failed", f"{Path(model).name} could not be loaded in the engine; the "
                                                  "message at the top of the window says why.")
            self._running = ENGINE
            try:
                return await action()
            finally:
                self._running = None


def _span_labels(model: str | os.PathLike[str], text: str, chat: bool, ids: list[int], labels: list[str]) -> list[str]:
    """The Tokens view's labels (a character split over several tokens labels the first with the
    character, the rest "…2", "…3"), as the torch analyser gives them; the engine's own labels
    when the vocabulary tokenizer reads the text differently."""
    from studio.core.inspect.tokens import open_tokenizer

    try:
        tokenizer = open_tokenizer(model)
        tokenized = tokenizer.tokenize(tokenizer.chat_text(text) if chat else text)
    except (StudioError, OSError, ValueError):
        return labels
    if list(tokenized.ids[:len(ids)]) != list(ids):
        return labels
    return list(tokenized.labels())[:len(ids)]


def _half(on_progress: OnProgress | None, which: int) -> OnProgress | None:
    """Progress of one of two runs as a share of the whole."""
    if on_progress is None:
        return None
    callback = on_progress

    def report(fraction: float, stage: str = "") -> None:
        callback((which + max(0.0, min(1.0, float(fraction)))) / 2, stage)
    return report


def _shape(model: str | os.PathLike[str]) -> tuple[int, int, int, int]:
    """(layers, heads, embedding size, vocabulary) from a GGUF header or an HF config.json."""
    path = Path(model)
    if path.is_dir():
        import json

        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        config = config.get("text_config", config)
        return (int(config.get("num_hidden_layers") or 0), int(config.get("num_attention_heads") or 0),
                int(config.get("hidden_size") or 0), int(config.get("vocab_size") or 0))
    from studio.core.models.gguf_info import read_gguf_info

    info = read_gguf_info(path)
    return (int(info.block_count or 0), int(info.head_count or 0), int(info.embedding_length or 0),
            int(info.vocab_size or 0))


def _size(n_bytes: int) -> str:
    if n_bytes >= 1 << 30:
        return f"{n_bytes / (1 << 30):.1f} GB"
    return f"{max(1, round(n_bytes / (1 << 20))):,} MB"


__all__ = ["AdapterChoice", "AttentionComparison", "ENGINE", "InspectError", "Inspector", "JobEstimate", "LensComparison",
           "LensParting", "TORCH", "lens_parting"]
