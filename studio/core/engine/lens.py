"""The logit lens read from llama.cpp itself: every layer's residual output, decoded with the model's
own final norm and output projection.

The eval callback (studio.core.engine.capture) copies the input embeddings (`inp_embd`, or
`inp_scaled` where the model scales them, as Gemma does; `embd` in recent builds) and each layer's output `l_out-N` for the
last positions only. llama.cpp computes the last layer for the positions that ask for logits, so
those positions ask. The final norm and the output matrix are read from the GGUF with the gguf
package and the matrix is streamed in blocks of rows, so no vocabulary-sized float32 copy is held.

    with HiddenCapture(model, n_tokens=T, n_layers=L, n_embd=D, first=T - 16) as capture:
        hidden, logits = capture.run(ids, n_vocab)     # [L + 1, 16, D], llama.cpp's logits [16, vocab]
    head = OutputHead(gguf_path)
    top = head.decode(hidden, top_k=5)                 # per entry and position: best id and log-prob

A library module for the engine worker: it runs llama.cpp in-process and has no worker entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.core.engine.capture import CaptureCancelled, CaptureContext, CaptureError, EvalCallback
from studio.core.models.gguf_tensors import GgufTensors, TensorReadError

LAYER_OUTPUT = re.compile(rb"l_out-(\d+)\Z")
EMBEDDING_NAMES = (b"embd", b"inp_embd", b"inp_scaled")  # the later one wins: the scaled input where there is one
_BLOCK_ROWS = 8192


class HiddenCallback(EvalCallback):
    """Keeps the rows at positions ≥ first of the input embeddings and of every layer's output:
    hidden[0] = embeddings, hidden[n + 1] = layer n's output, each [n_keep, n_embd]."""

    def __init__(self, n_tokens: int, n_layers: int, n_embd: int, first: int,
                 cancelled: Callable[[], bool] = lambda: False,
                 progress: Callable[[float], None] | None = None, total_calls: int = 0) -> None:
        super().__init__(cancelled, progress, total_calls)
        self.n_tokens = n_tokens
        self.n_layers = n_layers
        self.first = first
        self.hidden = np.zeros((n_layers + 1, n_tokens - first, n_embd), dtype=np.float32)
        self.embeddings: dict[bytes, np.ndarray] = {}
        self.rows_seen: dict[Any, int] = {}   # per tensor: rows (positions, or outputs) copied so far

    def key(self, name: bytes) -> Any:
        if name in EMBEDDING_NAMES:
            return name
        match = LAYER_OUTPUT.match(name)
        if match is not None and int(match.group(1)) < self.n_layers:
            return int(match.group(1))
        return None

    def take(self, key: Any, view: np.ndarray) -> None:
        rows = view.reshape(-1, view.shape[-1]) if view.shape[0] == 1 else None
        if rows is None or rows.shape[1] != self.hidden.shape[2]:
            raise CaptureError("capture_mismatch", f"llama.cpp reported hidden states of shape {view.shape}, "
                                                   "which does not fit this model")
        seen = self.rows_seen.get(key, 0)
        self.rows_seen[key] = seen + len(rows)
        if key == self.n_layers - 1:
            # The last layer is computed for the output positions only (all ≥ first), in order.
            self.hidden[key + 1, seen:seen + len(rows)] = rows
            return
        if isinstance(key, bytes):
            target = self.embeddings.setdefault(key, np.zeros(self.hidden.shape[1:], dtype=np.float32))
        else:
            target = self.hidden[key + 1]
        # Rows are positions seen .. seen + n - 1; keep those ≥ first.
        skip = max(0, self.first - seen)
        if skip < len(rows):
            start = seen + skip - self.first
            target[start:start + len(rows) - skip] = rows[skip:]


class HiddenCapture(CaptureContext):
    def __init__(self, model: Any, *, n_tokens: int, n_layers: int, n_embd: int, first: int,
                 n_threads: int = 4, n_ubatch: int = 512, cancelled: Callable[[], bool] = lambda: False,
                 progress: Callable[[float], None] | None = None, adapters: Sequence[tuple[Any, float]] = ()) -> None:
        ubatch = max(1, min(n_ubatch, n_tokens))
        callback = HiddenCallback(n_tokens, n_layers, n_embd, first, cancelled, progress,
                                  total_calls=(n_layers + 1) * -(-n_tokens // ubatch))
        super().__init__(model, callback, n_tokens=n_tokens, n_threads=n_threads, n_ubatch=ubatch,
                         adapters=adapters)
        self.hidden_callback = callback
        self.first = first

    def run(self, ids: Sequence[int], n_vocab: int) -> tuple[np.ndarray, np.ndarray]:
        """(hidden [layers + 1, T - first, n_embd], llama.cpp's logits [T - first, n_vocab])."""
        self.decode(ids, outputs_from=self.first)
        callback = self.hidden_callback
        kept = self.n_tokens - self.first
        missing = [n for n in range(callback.n_layers) if callback.rows_seen.get(n, 0) < (
            kept if n == callback.n_layers - 1 else self.n_tokens)]
        if missing:
            raise CaptureError("no_hidden", f"llama.cpp did not report layer {missing[0]}'s output under the name "
                                            "this app reads (l_out); this architecture has no logit lens here")
        found = [name for name in EMBEDDING_NAMES if name in callback.embeddings]
        if not found:
            raise CaptureError("no_hidden", "llama.cpp did not report the input embeddings (inp_embd) for this "
                                            "architecture; it has no logit lens here")
        callback.hidden[0] = callback.embeddings[found[-1]]
        return callback.hidden, np.stack([self.logits(p, n_vocab) for p in range(self.first, self.n_tokens)])


@dataclass
class LensTop:
    """Per entry and position: the best id and its log-probability; at the last position the top_k."""
    best_ids: np.ndarray        # int64 [entries, positions]
    best_logprobs: np.ndarray   # float64 [entries, positions]
    last_ids: np.ndarray        # int64 [entries, k], best first
    last_logprobs: np.ndarray   # float64 [entries, k]


class OutputHead:
    """The model's final norm and output projection, read from its GGUF as llama.cpp applies them."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            tensors = GgufTensors(path)
            arch = str(tensors.meta.get("general.architecture", ""))
            self.weight_name = "output.weight" if tensors.has("output.weight") else "token_embd.weight"
            tensors.check_readable(self.weight_name)
            self.norm_weight = tensors.read("output_norm.weight").reshape(-1)
            self.norm_bias = tensors.read("output_norm.bias").reshape(-1) if tensors.has("output_norm.bias") else None
            self.output_bias = tensors.read("output.bias").reshape(-1) if tensors.has("output.bias") else None
        except TensorReadError as exc:
            raise CaptureError("no_lens", f"the logit lens needs the model's final norm and output matrix: "
                                          f"{exc.message}") from None
        self.tensors = tensors
        meta = tensors.meta
        # A norm with a bias is a LayerNorm (GPT-2, Phi-2); without one, an RMSNorm (Llama, Gemma, Qwen).
        self.layer_norm = self.norm_bias is not None
        eps_key = f"{arch}.attention.layer_norm_epsilon" if self.layer_norm else f"{arch}.attention.layer_norm_rms_epsilon"
        self.eps = float(meta.get(eps_key) or 1e-5)
        softcap = meta.get(f"{arch}.final_logit_softcapping")
        self.softcap = float(softcap) if isinstance(softcap, (int, float)) and softcap > 0 else None
        self.n_vocab, self.n_embd = tensors.shape(self.weight_name)

    def normed(self, hidden: np.ndarray) -> np.ndarray:
        x = hidden.astype(np.float32, copy=False)
        if self.layer_norm:
            x = x - x.mean(axis=-1, keepdims=True)
            x = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps)
            return x * self.norm_weight + (self.norm_bias if self.norm_bias is not None else 0)
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps) * self.norm_weight

    def decode(self, hidden: np.ndarray, top_k: int, cancelled: Callable[[], bool] = lambda: False,
               progress: Callable[[float], None] | None = None) -> LensTop:
        """hidden [entries, positions, n_embd] → LensTop, streaming the output matrix once."""
        entries, positions, _dim = hidden.shape
        x = self.normed(hidden).reshape(entries * positions, -1)
        last_rows = np.arange(entries) * positions + positions - 1
        k = max(1, min(int(top_k), self.n_vocab))
        run_max = np.full(len(x), -np.inf)
        run_sum = np.zeros(len(x))
        best = np.zeros(len(x), dtype=np.int64)
        best_logit = np.full(len(x), -np.inf)
        cand_ids = np.zeros((entries, 0), dtype=np.int64)
        cand_logits = np.zeros((entries, 0))
        for start, block in self.tensors.blocks(self.weight_name, rows=_BLOCK_ROWS):
            if cancelled():
                raise CaptureCancelled()
            logits = x @ block.T   # float32: a vocabulary-sized float64 copy would cost more than the matmul
            if self.output_bias is not None:
                logits += self.output_bias[start:start + len(block)]
            if self.softcap is not None:
                np.tanh(logits / self.softcap, out=logits)
                logits *= self.softcap
            arg = logits.argmax(axis=1)
            block_max = logits[np.arange(len(x)), arg].astype(np.float64)
            new_max = np.maximum(run_max, block_max)
            logits -= new_max[:, None].astype(np.float32)
            np.exp(logits, out=logits)
            run_sum = run_sum * np.exp(run_max - new_max) + logits.sum(axis=1, dtype=np.float64)
            run_max = new_max
            better = block_max > best_logit   # ties keep the lower id, as argmax over the whole row does
            best = np.where(better, arg + start, best)
            best_logit = np.where(better, block_max, best_logit)
            # top_k at the last position: merge this block's best k into the candidates (recomputed
            # exactly from the few rows, since `logits` now holds exponentials)
            last = (x[last_rows] @ block.T).astype(np.float64)
            if self.output_bias is not None:
                last += self.output_bias[start:start + len(block)]
            if self.softcap is not None:
                last = np.tanh(last / self.softcap) * self.softcap
            take = min(k, last.shape[1])
            part = np.argpartition(-last, take - 1, axis=1)[:, :take]
            cand_ids = np.concatenate([cand_ids, part + start], axis=1)
            cand_logits = np.concatenate([cand_logits, np.take_along_axis(last, part, axis=1)], axis=1)
            order = np.lexsort((cand_ids, -cand_logits), axis=1)[:, :k]
            cand_ids = np.take_along_axis(cand_ids, order, axis=1)
            cand_logits = np.take_along_axis(cand_logits, order, axis=1)
            if progress is not None:
                progress(min(1.0, (start + len(block)) / self.n_vocab))
        log_z = run_max + np.log(run_sum)
        return LensTop(best_ids=best.reshape(entries, positions),
                       best_logprobs=(best_logit - log_z).reshape(entries, positions),
                       last_ids=cand_ids, last_logprobs=cand_logits - log_z[last_rows][:, None])


def top_of(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids best first, log-probabilities) of one logits row, in float64."""
    values = logits.astype(np.float64)
    peak = values.max()
    logprobs = values - (peak + np.log(np.exp(values - peak).sum()))
    k = max(1, min(int(k), len(values)))
    top = np.argpartition(-logprobs, k - 1)[:k]
    top = top[np.lexsort((top, -logprobs[top]))]
    return top, logprobs[top]


__all__ = ["HiddenCapture", "HiddenCallback", "LensTop", "OutputHead", "top_of"]
