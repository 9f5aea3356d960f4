"""Sentence embeddings from the loaded model, through a second llama.cpp context.

Like the capture contexts (capture.py) it is made on the already-loaded model, so the weights are
shared and nothing loads twice; it is made with embeddings on and a pooling layer: the model's own
(an embedding model's GGUF says mean, CLS or last token) or else mean pooling over the tokens, as
llama.cpp's server does for a chat model. Vectors come back L2-normalized, like that server's.

Several texts go through one decode (one sequence id each). The batch and micro-batch are the same
size and at least the longest text: llama.cpp pools per micro-batch, so a text split across two
would get a wrong vector (and for non-causal models it aborts the process). A cancel aborts a
decode in flight through llama.cpp's abort callback.

A library module for the engine worker: it runs llama.cpp in-process and has no worker entry.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from llama_cpp import llama_cpp as llama_c

from studio.core.errors import StudioError

MIN_CONTEXT = 512       # the smallest context made: short texts share it, several per decode
MAX_SEQUENCES = 64      # texts per decode
POOLING_NAMES = {llama_c.LLAMA_POOLING_TYPE_MEAN: "mean", llama_c.LLAMA_POOLING_TYPE_CLS: "cls",
                 llama_c.LLAMA_POOLING_TYPE_LAST: "last"}


class EmbedError(StudioError):
    pass


class EmbedCancelled(Exception):
    """cancelled() turned true: the decode in flight was aborted."""


def context_size(longest: int, n_ctx: int) -> int:
    """The embedding context for texts up to `longest` tokens: a power of two from MIN_CONTEXT, at most
    the engine's context (which the caller has checked every text against)."""
    return min(n_ctx, max(MIN_CONTEXT, 1 << max(0, longest - 1).bit_length()))


class Embedder:
    """An embeddings context of `n_ctx` tokens on a loaded model. Free it with close() before the model."""

    def __init__(self, model: Any, *, n_ctx: int, n_threads: int = 4, n_seq_max: int = MAX_SEQUENCES) -> None:
        self.model = model
        self.n_ctx = int(n_ctx)
        self.n_seq_max = int(n_seq_max)
        self.n_embd = int(llama_c.llama_model_n_embd(model))
        self._cancelled: Callable[[], bool] = lambda: False
        # Kept on the instance: llama.cpp holds the pointer as long as the context lives.
        self._abort = llama_c.ggml_abort_callback(lambda _data: bool(self._cancelled()))
        self.ctx: Any = None
        # The model's own pooling when its GGUF names one that gives a vector, else mean.
        self.ctx = self._make(n_threads, llama_c.LLAMA_POOLING_TYPE_UNSPECIFIED)
        if int(llama_c.llama_pooling_type(self.ctx)) not in POOLING_NAMES:
            llama_c.llama_free(self.ctx)
            self.ctx = None
            self.ctx = self._make(n_threads, llama_c.LLAMA_POOLING_TYPE_MEAN)
        self.pooling = POOLING_NAMES.get(int(llama_c.llama_pooling_type(self.ctx)), "mean")
        llama_c.llama_set_abort_callback(self.ctx, self._abort, None)
        self._adapters: list[tuple[Any, float]] = []

    def _make(self, n_threads: int, pooling: int) -> Any:
        params = llama_c.llama_context_default_params()
        params.n_ctx = self.n_ctx
        params.n_batch = self.n_ctx
        params.n_ubatch = self.n_ctx   # a text never spans two micro-batches (see the module doc)
        params.n_seq_max = self.n_seq_max
        params.kv_unified = True       # every sequence may use the whole context
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.embeddings = True
        params.pooling_type = pooling
        params.no_perf = True
        ctx = llama_c.llama_init_from_model(self.model, params)
        if not ctx:
            raise EmbedError("embed_failed", f"llama.cpp could not make a context to embed {self.n_ctx:,}-token "
                                             "texts (out of memory?)")
        return ctx

    def set_adapters(self, adapters: Sequence[tuple[Any, float]]) -> None:
        """Use exactly these LoRA adapters ([(llama.cpp adapter, scale)]), as the chat context does."""
        wanted = list(adapters)
        if wanted == self._adapters:
            return
        count = len(wanted)
        array = (llama_c.llama_adapter_lora_p_ctypes * count)(*[a for a, _ in wanted]) if count else None
        scales = (ctypes.c_float * count)(*[s for _, s in wanted]) if count else None
        if llama_c.llama_set_adapters_lora(self.ctx, array, count, scales) != 0:
            raise EmbedError("lora_failed", "llama.cpp refused to set the adapters on the embeddings context")
        self._adapters = wanted

    def embed(self, sequences: Sequence[Sequence[int]], *, cancelled: Callable[[], bool] = lambda: False,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
        """L2-normalized float32 [len(sequences), n_embd]; every sequence non-empty and at most n_ctx
        tokens. `progress(done)` after each decode; EmbedCancelled when cancelled() turns true."""
        out = np.zeros((len(sequences), self.n_embd), dtype=np.float32)
        self._cancelled = cancelled
        try:
            for group in self._groups(sequences):
                if cancelled():
                    raise EmbedCancelled()
                self._decode(group, sequences, out)
                if progress is not None:
                    progress(group[-1] + 1)
        finally:
            self._cancelled = lambda: False
        return out

    def _groups(self, sequences: Sequence[Sequence[int]]) -> list[list[int]]:
        """Indices of the sequences decoded together: in order, up to n_ctx tokens and n_seq_max texts."""
        groups: list[list[int]] = []
        current: list[int] = []
        used = 0
        for index, ids in enumerate(sequences):
            if current and (used + len(ids) > self.n_ctx or len(current) >= self.n_seq_max):
                groups.append(current)
                current, used = [], 0
            current.append(index)
            used += len(ids)
        if current:
            groups.append(current)
        return groups

    def _decode(self, group: list[int], sequences: Sequence[Sequence[int]], out: np.ndarray) -> None:
        total = sum(len(sequences[i]) for i in group)
        batch = llama_c.llama_batch_init(total, 0, 1)
        try:
            at = 0
            for seq, index in enumerate(group):
                for position, token in enumerate(sequences[index]):
                    batch.token[at] = int(token)
                    batch.pos[at] = position
                    batch.n_seq_id[at] = 1
                    batch.seq_id[at][0] = seq
                    batch.logits[at] = True
                    at += 1
            batch.n_tokens = total
            llama_c.llama_memory_clear(llama_c.llama_get_memory(self.ctx), True)
            code = llama_c.llama_decode(self.ctx, batch)
        finally:
            llama_c.llama_batch_free(batch)
        if self._cancelled():
            raise EmbedCancelled()
        if code != 0:
            raise EmbedError("decode_failed", f"llama.cpp could not embed the text (code {code})")
        for seq, index in enumerate(group):
            pointer = llama_c.llama_get_embeddings_seq(self.ctx, seq)
            if not pointer:
                raise EmbedError("no_embeddings", "llama.cpp returned no embedding for a text")
            vector = np.ctypeslib.as_array(pointer, shape=(self.n_embd,)).astype(np.float64)
            norm = float(np.linalg.norm(vector))
            out[index] = vector / norm if norm > 0 else vector

    def close(self) -> None:
        if self.ctx:
            llama_c.llama_free(self.ctx)
            self.ctx = None
