"""Asyncio client of the analyser worker (attention, logit lens, torch next token). Torch-free:
the GUI imports it; numpy only reads the attention file.

    analyser = AnalyserClient()
    analyser.subscribe("progress", lambda fraction, stage: ...)   # also "loaded" (**facts), "busy" (busy)
    result = await analyser.attention(model_path, text="Hello world", on_progress=cb)
    result.weights            # float32 [layers, heads, tokens, tokens]
    lens = await analyser.logit_lens(model_path, text="The capital of France is")
    await analyser.cancel()   # the call in flight raises WorkerCancelled, a WorkerError(kind="cancelled")

Progress stages: "dequantize" (first use of a GGUF: made into torch weights, cached), "load",
"forward" (per decoder layer), "lens" (per layer entry), "write" (the attention file).
A worker that dies raises WorkerError(kind="worker_crashed"); the next call starts a fresh one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from studio.core.workers.client import OnProgress, ServiceClient
from studio.core.workers.protocol import WorkerError

ANALYSER_MODULE = "studio.core.inspect.worker"
KEEP_RESULTS = 3  # attention files kept in results_dir; the newest few are enough for the UI


# -- the operations' requests and results ------------------------------------------------------
@dataclass
class SourceParams:
    source: str                    # a GGUF file or a Hugging Face model folder


@dataclass
class PromptParams(SourceParams):
    text: str | None = None        # the text, or token ids
    tokens: list[int] | None = None
    chat: bool = False             # wrap the text as a user turn with the chat template


@dataclass
class AttentionParams(PromptParams):
    max_tokens: int = 512
    out_dir: str = ""              # where the worker writes the attention .npz


@dataclass
class LensParams(PromptParams):
    top_k: int = 5
    max_tokens: int = 512
    positions: int | None = None   # top-1 rows of the last N positions only


@dataclass
class NextParams(PromptParams):
    top_k: int = 10


class ModelFacts(TypedDict, total=False):
    source: str
    architecture: str
    n_layers: int
    n_heads: int
    n_vocab: int
    load_seconds: float
    cached: bool


class AttentionFile(TypedDict, total=False):
    path: str
    n_tokens: int
    n_layers: int
    n_heads: int
    truncated_from: int | None


@dataclass
class AttentionResult:
    weights: np.ndarray  # float32 or float16 [layers, heads, tokens, tokens]; each row sums to 1, causal
    ids: list[int]
    labels: list[str]
    truncated_from: int | None
    path: Path

    @property
    def n_layers(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_tokens(self) -> int:
        return int(self.weights.shape[2])

    def layer_mean(self, layer: int) -> np.ndarray:
        """[T, T]: one layer's attention averaged over its heads."""
        return self.weights[layer].mean(axis=0, dtype=np.float32)

    def mean(self) -> np.ndarray:
        """[T, T]: attention averaged over every layer and head."""
        return self.weights.mean(axis=(0, 1), dtype=np.float32)

    def save_npz(self, path: str | os.PathLike[str]) -> Path:
        """Write weights + ids + tokens (labels) to `path` exactly (no ".npz" appended)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:  # exports are float32, whatever precision is held
            np.savez(handle, weights=self.weights.astype(np.float32, copy=False), ids=np.asarray(self.ids, dtype=np.int64),
                     tokens=np.asarray(self.labels, dtype=np.str_))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], truncated_from: int | None = None) -> AttentionResult:
        """Read an attention .npz (ours or exported); never unpickles."""
        with np.load(path, allow_pickle=False) as data:
            weights = data["weights"]
            ids = [int(i) for i in data["ids"]]
            labels = [str(t) for t in data["tokens"]]
        if weights.dtype not in (np.float32, np.float16):  # float16 (llama.cpp's maps) stays: half the memory
            weights = weights.astype(np.float32)
        return cls(weights, ids, labels, truncated_from, Path(path))


class AnalyserClient(ServiceClient):
    def __init__(self, *, env: dict[str, str] | None = None, results_dir: Path | None = None) -> None:
        super().__init__(ANALYSER_MODULE, name="analyser", env=env)
        self._owns_results = results_dir is None
        self.results_dir = Path(results_dir) if results_dir is not None else Path(
            tempfile.mkdtemp(prefix="studio-attention-"))
        self.loaded: dict[str, Any] | None = None  # facts of the model warm in the worker

    # -- operations ------------------------------------------------------------------------------
    async def warm(self) -> dict[str, Any]:
        """Start the worker and import torch and transformers there, ahead of the first analysis."""
        return await self._call("warm", None, None)

    async def load(self, source: str | os.PathLike[str], on_progress: OnProgress | None = None) -> dict[str, Any]:
        """Make `source` the warm model: {source, architecture, n_layers, n_heads, n_vocab,
        load_seconds, cached}."""
        return await self._call("load", SourceParams(str(source)), on_progress)

    async def attention(self, source: str | os.PathLike[str], *, text: str | None = None,
                        tokens: list[int] | None = None, chat: bool = False, max_tokens: int = 512,
                        on_progress: OnProgress | None = None) -> AttentionResult:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        result = await self._call("attention", AttentionParams(
            str(source), *_prompt(text, tokens), chat=bool(chat), max_tokens=int(max_tokens),
            out_dir=str(self.results_dir)), on_progress)
        # Hundreds of MB at 512 tokens: read it off the event loop so the window keeps painting.
        attention = await asyncio.to_thread(AttentionResult.load, result["path"], result.get("truncated_from"))
        self._prune(Path(result["path"]))
        return attention

    async def logit_lens(self, source: str | os.PathLike[str], *, text: str | None = None,
                         tokens: list[int] | None = None, chat: bool = False, top_k: int = 5,
                         max_tokens: int = 512, positions: int | None = None,
                         on_progress: OnProgress | None = None) -> dict[str, Any]:
        """{ids, labels, layer_names, top1 [entry][position - first_position], last [entry][k], final [k],
        first_position, truncated_from}; token dicts are {id, piece, prob}; entries = embeddings + one
        per layer. `positions` keeps the top-1 rows of the last N positions only (much cheaper)."""
        return await self._call("logit_lens", LensParams(
            str(source), *_prompt(text, tokens), chat=bool(chat), top_k=int(top_k), max_tokens=int(max_tokens),
            positions=int(positions) if positions else None), on_progress)

    async def next_token(self, source: str | os.PathLike[str], *, text: str | None = None,
                         tokens: list[int] | None = None, chat: bool = False, top_k: int = 10) -> dict[str, Any]:
        """{tokens: [{id, piece, logprob}] best first, n_prompt_tokens}, computed in torch."""
        return await self._call("next", NextParams(str(source), *_prompt(text, tokens), chat=bool(chat),
                                                   top_k=int(top_k)), None)

    async def close(self, timeout: float = 3.0) -> None:
        await super().close(timeout)
        self.loaded = None
        if self._owns_results:
            shutil.rmtree(self.results_dir, ignore_errors=True)

    # -- plumbing --------------------------------------------------------------------------------
    async def _call(self, op: str, params: SourceParams | None, on_progress: OnProgress | None) -> dict[str, Any]:
        def progress(fraction: float, stage: str) -> None:
            if on_progress is not None:
                on_progress(fraction, stage)
            self.emit("progress", fraction=fraction, stage=stage)

        def on_event(event: dict[str, Any]) -> None:
            if event.get("event") == "loaded":
                self.loaded = dict(event.get("facts") or {})
                self.emit("loaded", **self.loaded)
        try:
            result = await self._run(op, params, on_progress=progress, on_event=on_event)
        except WorkerError as exc:
            if exc.kind == "worker_crashed":
                self.loaded = None
            raise
        if op == "load":
            self.loaded = dict(result)
        return result

    def _prune(self, newest: Path) -> None:
        prune_attention_files(self.results_dir, newest)


def prune_attention_files(folder: Path, newest: Path, keep: int = KEEP_RESULTS) -> None:
    """Keep the newest `keep` attention files in `folder`; older ones are only disk space."""
    try:
        files = sorted(folder.glob("attention-*.npz"), key=lambda p: p.stat().st_mtime_ns)
    except OSError:
        return
    stale = files[:-keep] + list(folder.glob("attention-*.npz.partial"))  # a killed write
    for old in stale:
        if old != newest:
            old.unlink(missing_ok=True)


def _prompt(text: str | None, tokens: list[int] | None) -> tuple[str | None, list[int] | None]:
    """(text, tokens) for a PromptParams: token ids when given, else the text."""
    if tokens is not None:
        return None, [int(t) for t in tokens]
    return text or "", None
