"""Will a model fit? Memory needed at a context length, from a GGUF header, against free RAM/VRAM.

need = weights (the file's size: llama.cpp maps the tensors as they are stored)
     + KV cache (K and V, f16: n_layer × n_ctx × n_head_kv × (key_length + value_length) × 2 bytes)
     + a compute margin (attention scores of one batch against the whole context, twice for the
       softmax copy; one batch of activations; output rows; a fixed part for the runtime).
The header may come from a local file or from a Range request on the hub (studio.core.models.search).

Measured here (llama-cpp-python, CPU, the context filled, process RSS): SmolLM2-135M Q4_1 at 2,048
tokens 264 MB (estimate 301), at 8,192 tokens 583 MB (669); Gemma 3 270M Q4_K_M at 4,096 tokens
503 MB (532; its sliding-window layers keep a smaller cache than counted here). The estimate errs
on the safe side by 5-15%.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.core import hardware
from studio.core.models.gguf_info import format_size

KV_BYTES = 2          # llama.cpp's default cache type is f16
UBATCH = 512          # llama.cpp's default physical batch: scores are computed one batch at a time
FIXED_MARGIN = 48_000_000  # the runtime library, graph and allocator slack (measured ~30-50 MB)
FITS_SHARE = 0.8      # above this share of what is free the system starts to page: "tight"


@dataclass(frozen=True)
class ModelShape:
    architecture: str
    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    key_length: int
    value_length: int
    context_length: int | None
    n_vocab: int

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> "ModelShape":
        """The shape from GGUF metadata; ValueError naming what is missing."""
        arch = meta.get("general.architecture")
        if not isinstance(arch, str) or not arch:
            raise ValueError("the header does not name its architecture")

        def num(key: str) -> int | None:
            value = meta.get(f"{arch}.{key}")
            if isinstance(value, list):  # per-layer values (some architectures): the largest counts
                value = max((v for v in value if isinstance(v, int)), default=None)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        layers, embd, heads = num("block_count"), num("embedding_length"), num("attention.head_count")
        if not layers or not embd or not heads:
            raise ValueError(f"the header lacks {arch}.block_count, embedding_length or "
                             "attention.head_count")
        head_kv = num("attention.head_count_kv") or heads
        key = num("attention.key_length") or embd // heads
        value = num("attention.value_length") or key
        vocab = num("vocab_size") or _array_count(meta.get("tokenizer.ggml.tokens")) or 32000
        return cls(arch, layers, embd, heads, head_kv, key, value, num("context_length"), vocab)


def _array_count(value: Any) -> int | None:
    # gguf_info summarises arrays as "[array of N kind]" instead of decoding them.
    if isinstance(value, str) and value.startswith("[array of "):
        head = value.removeprefix("[array of ").split(" ", 1)[0]
        return int(head) if head.isdigit() else None
    return None


@dataclass(frozen=True)
class Estimate:
    n_ctx: int
    weights: int
    kv_cache: int
    compute: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute


def kv_cache_bytes(shape: ModelShape, n_ctx: int, bytes_per_value: int = KV_BYTES) -> int:
    return shape.n_layers * n_ctx * shape.n_head_kv * (shape.key_length + shape.value_length) \
        * bytes_per_value


def estimate(shape: ModelShape, file_size: int, n_ctx: int) -> Estimate:
    batch = min(UBATCH, n_ctx)
    scores = 2 * shape.n_head * n_ctx * batch * 4  # one layer's f32 scores and their softmax
    activations = shape.n_embd * batch * 4 * 16
    outputs = shape.n_vocab * 256  # logits are kept for the last token only, plus output scratch
    return Estimate(n_ctx, file_size, kv_cache_bytes(shape, n_ctx),
                    scores + activations + outputs + FIXED_MARGIN)


@dataclass(frozen=True)
class Budget:
    """What this machine has free now."""
    ram: int
    vram: int | None = None
    gpu: str = ""

    @classmethod
    def now(cls) -> "Budget":
        gpu = hardware.free_vram()
        return cls(hardware.free_ram(), gpu[0] if gpu else None, gpu[1] if gpu else "")


@dataclass(frozen=True)
class Verdict:
    kind: str          # "fits" | "tight" | "will_not_fit"
    ram_need: int
    vram_need: int
    sentence: str


def _kind(need: int, free: int) -> str:
    if need <= free * FITS_SHARE:
        return "fits"
    return "tight" if need <= free else "will_not_fit"


_ORDER = ("fits", "tight", "will_not_fit")
_WORDS = {"fits": "fits", "tight": "tight", "will_not_fit": "will not fit"}


def judge(est: Estimate, budget: Budget, n_layers: int, n_gpu_layers: int = 0) -> Verdict:
    """Split the need between GPU and RAM by offloaded layers and compare each with what is free."""
    if budget.vram is None or n_gpu_layers == 0 or n_layers <= 0:
        share = 0.0
    else:
        share = 1.0 if n_gpu_layers < 0 else min(1.0, n_gpu_layers / n_layers)
    vram_need = int((est.weights + est.kv_cache) * share)
    ram_need = est.total - vram_need
    kind = _kind(ram_need, budget.ram)
    if vram_need and budget.vram is not None:
        kind = max(kind, _kind(vram_need, budget.vram), key=_ORDER.index)
    parts = (f"needs about {format_size(est.total)} at {est.n_ctx:,} tokens (model "
             f"{format_size(est.weights)}, context {format_size(est.kv_cache)}, working memory "
             f"{format_size(est.compute)})")
    if vram_need and budget.vram is not None:
        where = (f"{format_size(vram_need)} on the GPU ({format_size(budget.vram)} free) and "
                 f"{format_size(ram_need)} in RAM ({format_size(budget.ram)} free)")
    else:
        where = f"{format_size(budget.ram)} of RAM is free"
    return Verdict(kind, ram_need, vram_need, f"{parts}; {where}: {_WORDS[kind]}")


__all__ = ["Budget", "Estimate", "ModelShape", "Verdict", "estimate", "judge", "kv_cache_bytes"]
