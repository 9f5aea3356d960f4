"""Attention read from llama.cpp itself, through its eval callback.

llama.cpp's context parameters take `cb_eval` (a `ggml_backend_sched_eval_callback`) that is asked
about every tensor of the compute graph ("ask" phase: do you want to see it?) and then called with
the computed tensor for those it said yes to. The softmaxed attention of layer N is the tensor named
`kq_soft_max-N`: float32, ne = [n_kv, n_q, n_head, 1] (heads already expanded from the KV heads),
n_kv padded to a multiple of 256 with exact zeros, one call per ubatch.

Requirements: flash attention off (with it the tensor never exists), a copy made inside the
callback (the scheduler reuses the memory), the ctypes callback kept alive while the context
lives, `swa_full` so columns are positions for sliding-window models, and a `ggml_tensor` mirror
matching the build: checked at start, refused with a sentence when it does not match.

    with AttentionCapture(llm._model.model, n_tokens=len(ids), n_layers=30, n_heads=9,
                          cancelled=lambda: req.cancelled) as capture:
        weights = capture.run(ids)   # float16 [layers, heads, T, T]

A library module for the engine worker: it runs llama.cpp in-process and has no worker entry.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from llama_cpp import llama_cpp as llama_c
from llama_cpp._ggml import libggml

from studio.core.errors import StudioError

GGML_MAX_DIMS = 4
GGML_MAX_SRC = 10
GGML_MAX_OP_PARAMS = 64
GGML_MAX_NAME = 64
GGML_TYPE_F32 = 0
_GGML_OBJECT_SIZE = 32  # struct ggml_object: offs, size, next, type + padding[4]
ATTENTION_NAME = re.compile(rb"kq_soft_max-(\d+)\Z")


class GgmlTensor(ctypes.Structure):
    """`struct ggml_tensor` as ggml.h (bundled with llama-cpp-python) declares it."""
    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * GGML_MAX_DIMS),
        ("nb", ctypes.c_size_t * GGML_MAX_DIMS),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * (GGML_MAX_OP_PARAMS // 4)),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * GGML_MAX_SRC),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * GGML_MAX_NAME),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


_TensorP = ctypes.POINTER(GgmlTensor)

libggml.ggml_tensor_overhead.argtypes = []
libggml.ggml_tensor_overhead.restype = ctypes.c_size_t
libggml.ggml_nbytes.argtypes = [ctypes.c_void_p]
libggml.ggml_nbytes.restype = ctypes.c_size_t
libggml.ggml_get_name.argtypes = [ctypes.c_void_p]
libggml.ggml_get_name.restype = ctypes.c_char_p
libggml.ggml_backend_buffer_is_host.argtypes = [ctypes.c_void_p]
libggml.ggml_backend_buffer_is_host.restype = ctypes.c_bool
libggml.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
libggml.ggml_backend_tensor_get.restype = None


class CaptureError(StudioError):
    pass


def check_build() -> None:
    """Refuse, with a sentence, a llama.cpp whose ggml_tensor differs from our mirror."""
    expected = int(libggml.ggml_tensor_overhead()) - _GGML_OBJECT_SIZE
    if ctypes.sizeof(GgmlTensor) != expected:
        raise CaptureError("capture_unsupported", (
            f"this llama.cpp build lays out its tensors differently ({expected} bytes, this app expects "
            f"{ctypes.sizeof(GgmlTensor)}), so attention cannot be read from it; install the llama-cpp-python "
            "version this app was made for, or use the torch analyser"))


class EvalCallback:
    """An eval callback: says yes to the tensors `key()` names, hands each computed one to `take()` as a
    float32 strided view [ne2, ne1, ne0] over a copy; a False answer to llama.cpp aborts the decode."""

    def __init__(self, cancelled: Callable[[], bool] = lambda: False,
                 progress: Callable[[float], None] | None = None, total_calls: int = 0) -> None:
        self.cancelled = cancelled
        self.progress = progress
        self.total_calls = total_calls   # tensors expected over the whole decode, for progress
        self.error: BaseException | None = None
        self.was_cancelled = False
        self.calls = 0
        self._checked = False
        self._scratch = np.empty(0, dtype=np.float32)
        # Kept on the instance: llama.cpp holds the pointer as long as the context lives.
        self.c_callback = llama_c.ggml_backend_sched_eval_callback(self._on_tensor)

    def key(self, name: bytes) -> Any:
        """What this callback files the tensor called `name` under; None: not wanted."""
        raise NotImplementedError

    def take(self, key: Any, view: np.ndarray) -> None:
        raise NotImplementedError

    def _on_tensor(self, pointer: int, ask: bool, _user: Any) -> bool:
        try:
            tensor = ctypes.cast(pointer, _TensorP).contents
            if ask:
                return self.key(tensor.name) is not None
            if self.cancelled():
                self.was_cancelled = True
                return False
            key = self.key(tensor.name)
            if key is not None:
                self.take(key, self._read(pointer, tensor))
                self.calls += 1
                if self.progress is not None and self.total_calls:
                    self.progress(min(1.0, self.calls / self.total_calls))
            return True
        except BaseException as exc:  # an exception cannot cross into C: keep it, abort the decode
            self.error = exc
            return False

    def _read(self, pointer: int, tensor: GgmlTensor) -> np.ndarray:
        if not self._checked:  # once: the mirror reads the same tensor ggml does
            if libggml.ggml_get_name(pointer) != tensor.name or tensor.type != GGML_TYPE_F32:
                raise CaptureError("capture_unsupported", "this llama.cpp build's tensors do not match what "
                                                          "this app reads; use the torch analyser")
            self._checked = True
        if tensor.type != GGML_TYPE_F32:
            raise CaptureError("capture_unsupported", f"llama.cpp computed {tensor.name.decode(errors='replace')} "
                                                      "in a type this app does not read")
        nbytes = int(libggml.ggml_nbytes(pointer))
        if self._scratch.nbytes < nbytes:
            self._scratch = np.empty((nbytes + 3) // 4, dtype=np.float32)
        scratch = self._scratch
        if tensor.buffer and not libggml.ggml_backend_buffer_is_host(tensor.buffer):
            libggml.ggml_backend_tensor_get(pointer, scratch.ctypes.data, 0, nbytes)
        else:
            ctypes.memmove(scratch.ctypes.data, tensor.data, nbytes)
        # Strided view over the copied bytes, as ggml's ne and nb say.
        shape = tuple(int(tensor.ne[i]) for i in (2, 1, 0))
        strides = tuple(int(tensor.nb[i]) for i in (2, 1, 0))
        return np.lib.stride_tricks.as_strided(scratch, shape=shape, strides=strides, writeable=False)


class AttentionCallback(EvalCallback):
    """Copies `kq_soft_max-<layer>` of the wanted layers, ubatch by ubatch, into a
    [layers, heads, n_tokens, n_tokens] array."""

    def __init__(self, n_tokens: int, layers: Sequence[int], n_heads: int,
                 cancelled: Callable[[], bool] = lambda: False,
                 progress: Callable[[float], None] | None = None, total_calls: int = 0) -> None:
        super().__init__(cancelled, progress, total_calls)
        self.n_tokens = n_tokens
        self.layers = list(layers)
        self.slot = {layer: index for index, layer in enumerate(self.layers)}
        # Kept as float16 from the start, ubatch by ubatch: a float32 copy of every map would double
        # the peak memory (70 MB more for 256 tokens on the starter).
        self.weights = np.zeros((len(self.layers), n_heads, n_tokens, n_tokens), dtype=np.float16)
        self.rows_done = [0] * len(self.layers)   # per wanted layer: query rows copied so far

    def key(self, name: bytes) -> int | None:
        match = ATTENTION_NAME.match(name)
        if match is None:
            return None
        layer = int(match.group(1))
        return self.slot.get(layer)

    def take(self, slot: int, view: np.ndarray) -> None:
        n_head, n_q, n_kv = view.shape
        start = self.rows_done[slot]
        rows = min(n_q, self.n_tokens - start)
        cols = min(n_kv, self.n_tokens)
        if rows <= 0 or n_head != self.weights.shape[1]:
            raise CaptureError("capture_mismatch", f"llama.cpp reported attention of shape {n_kv}×{n_q}×{n_head}, "
                                                   "which does not fit this prompt")
        self.weights[slot, :, start:start + rows, :cols] = to_float16(view[:, :rows, :cols])
        self.rows_done[slot] = start + n_q


_Context = TypeVar("_Context", bound="CaptureContext")


class CaptureContext:
    """A separate llama.cpp context on an already-loaded model (weights shared, adapters as given) that
    evaluates one prompt with an eval callback installed. Free it with close() (or use `with`)."""

    def __init__(self, model: Any, callback: EvalCallback, *, n_tokens: int, n_threads: int = 4,
                 n_ubatch: int = 512, adapters: Sequence[tuple[Any, float]] = ()) -> None:
        check_build()
        self.callback = callback
        self.n_tokens = n_tokens
        params = llama_c.llama_context_default_params()
        params.n_ctx = n_tokens
        params.n_batch = max(n_tokens, 1)
        params.n_ubatch = max(1, min(n_ubatch, n_tokens))
        params.n_seq_max = 1
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.flash_attn_type = llama_c.LLAMA_FLASH_ATTN_TYPE_DISABLED  # "auto" fuses attention away on CPU
        params.swa_full = True
        params.no_perf = True
        params.cb_eval = callback.c_callback
        params.cb_eval_user_data = None
        self._params = params  # keeps the callback reachable from the struct too
        self.ctx = llama_c.llama_init_from_model(model, params)
        if not self.ctx:
            raise CaptureError("capture_failed", "llama.cpp could not make a context to inspect "
                                                 f"{n_tokens} tokens (out of memory?)")
        if adapters:
            count = len(adapters)
            array = (llama_c.llama_adapter_lora_p_ctypes * count)(*[a for a, _ in adapters])
            scales = (ctypes.c_float * count)(*[s for _, s in adapters])
            if llama_c.llama_set_adapters_lora(self.ctx, array, count, scales) != 0:
                self.close()
                raise CaptureError("lora_failed", "llama.cpp refused to set the adapters on the inspect context")

    def decode(self, ids: Sequence[int], outputs_from: int | None = None) -> None:
        """Evaluate `ids` (exactly n_tokens of them). With `outputs_from`, llama.cpp computes logits
        for the positions from there on (otherwise for the last one only). Raises CaptureCancelled
        when `cancelled()` turned true, CaptureError when llama.cpp failed."""
        assert self.ctx, "closed"
        if len(ids) != self.n_tokens:
            raise CaptureError("bad_request", f"expected {self.n_tokens} tokens, got {len(ids)}")
        if outputs_from is None:
            array = (llama_c.llama_token * len(ids))(*[int(i) for i in ids])
            code = llama_c.llama_decode(self.ctx, llama_c.llama_batch_get_one(array, len(ids)))
        else:
            batch = llama_c.llama_batch_init(len(ids), 0, 1)
            try:
                for index, token in enumerate(ids):
                    batch.token[index] = int(token)
                    batch.pos[index] = index
                    batch.n_seq_id[index] = 1
                    batch.seq_id[index][0] = 0
                    batch.logits[index] = index >= outputs_from
                batch.n_tokens = len(ids)
                code = llama_c.llama_decode(self.ctx, batch)
            finally:
                llama_c.llama_batch_free(batch)
        callback = self.callback
        if callback.error is not None:
            raise callback.error
        if callback.was_cancelled:
            raise CaptureCancelled()
        if code != 0:
            raise CaptureError("decode_failed", f"llama.cpp could not evaluate the text (code {code})")

    def logits(self, position: int, n_vocab: int) -> np.ndarray:
        """A copy of llama.cpp's logits at `position` (one that decode() asked outputs for)."""
        pointer = llama_c.llama_get_logits_ith(self.ctx, position)
        if not pointer:
            raise CaptureError("no_logits", f"llama.cpp has no logits for position {position}")
        return np.ctypeslib.as_array(pointer, shape=(n_vocab,)).copy()

    def close(self) -> None:
        if self.ctx:
            llama_c.llama_free(self.ctx)
            self.ctx = None

    def __enter__(self: _Context) -> _Context:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AttentionCapture(CaptureContext):
    """A capture context with the attention callback: run(ids) → float16 [layers, heads, T, T]."""

    def __init__(self, model: Any, *, n_tokens: int, n_layers: int, n_heads: int, layers: Sequence[int] | None = None,
                 n_threads: int = 4, n_ubatch: int = 512, cancelled: Callable[[], bool] = lambda: False,
                 progress: Callable[[float], None] | None = None, adapters: Sequence[tuple[Any, float]] = ()) -> None:
        check_build()
        wanted = sorted(set(range(n_layers) if layers is None else (int(x) for x in layers)))
        bad = [x for x in wanted if not 0 <= x < n_layers]
        if bad or not wanted:
            raise CaptureError("bad_request", f"layer {bad[0] if bad else '(none)'} is not one of this model's "
                                              f"layers (0..{n_layers - 1})")
        self.layers = wanted
        ubatch = max(1, min(n_ubatch, n_tokens))
        callback = AttentionCallback(n_tokens, wanted, n_heads, cancelled, progress,
                                     total_calls=len(wanted) * -(-n_tokens // ubatch))
        super().__init__(model, callback, n_tokens=n_tokens, n_threads=n_threads, n_ubatch=ubatch,
                         adapters=adapters)
        self.attention = callback

    def run(self, ids: Sequence[int]) -> np.ndarray:
        """Evaluate `ids` and return float16 [layers, heads, T, T]."""
        self.decode(ids)
        callback = self.attention
        missing = [layer for layer, done in zip(self.layers, callback.rows_done) if done < self.n_tokens]
        if missing:
            raise CaptureError("no_attention", "llama.cpp did not report attention for layer "
                                               f"{missing[0]} (is flash attention forced on in this build?)")
        weights = callback.weights
        callback.weights = np.zeros((0, 0, 0, 0), dtype=np.float16)
        return weights


def to_float16(values: np.ndarray) -> np.ndarray:
    """float32 → float16, bit for bit what `astype(np.float16)` gives (round to nearest even), ~5× faster
    on attention maps: numpy converts values that become float16 subnormals (softmax tails, plenty of
    them) on a slow path. Integer arithmetic on the bits (F. Giesen's float_to_half_fast3_rtne), in
    cache-sized chunks; a chunk holding values beyond float16's range (inf, nan, overflow) goes to numpy."""
    source = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    out = np.empty(values.shape, dtype=np.float16)
    target = out.reshape(-1).view(np.uint16)
    step = 1 << 18
    for start in range(0, source.size, step):
        chunk = source[start:start + step]
        bits = chunk.view(np.uint32)
        magnitude = bits & np.uint32(0x7FFFFFFF)
        if (magnitude >= np.uint32(143 << 23)).any():  # ≥ 65536: inf, nan or overflow
            with np.errstate(over="ignore"):  # overflow becomes inf, as astype makes it
                target[start:start + step] = chunk.astype(np.float16).view(np.uint16)
            continue
        # normal float16: rebias the exponent, round the 13 dropped bits to nearest even
        normal = (magnitude + np.uint32((((15 - 127) << 23) + 0xFFF) & 0xFFFFFFFF)
                  + ((magnitude >> 13) & np.uint32(1))) >> 13
        # below 2^-14 (float16 subnormal or zero): adding 0.5 lets the FPU round at 2^-24
        tiny = (magnitude.view(np.float32) + np.float32(0.5)).view(np.uint32) - np.uint32(126 << 23)
        half = np.where(magnitude < np.uint32(113 << 23), tiny, normal) | ((bits >> 16) & np.uint32(0x8000))
        target[start:start + step] = half
    return out


class CaptureCancelled(Exception):
    """The callback saw cancelled() and aborted llama.cpp's computation."""
