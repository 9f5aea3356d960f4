"""Shared helpers for the benchmark scripts (not a test: timings here are noisy)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import platformdirs

STARTER = "SmolLM2-135M-Instruct.Q4_1.gguf"


def starter_model() -> Path:
    explicit = os.environ.get("STUDIO_STARTER_MODEL")
    if explicit:
        return Path(explicit)
    path = Path(platformdirs.user_data_dir("local-llm-studio", appauthor=False)) / "models" / STARTER
    if not path.exists():
        from studio.core.models.starter import provision_starter
        return provision_starter(path.parent)
    return path


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def requantized(source: Path, kind: str) -> Path:
    """`source` requantized to `kind` (Q4_0, Q8_0, ...: a llama_cpp LLAMA_FTYPE_MOSTLY_* name), built once
    into the user cache. From an already quantized file it adds the rounding of both types; fine for
    measuring speed and exactness, not for judging quality."""
    import ctypes

    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}", None)
    if ftype is None:
        raise SystemExit(f"unknown quantization type {kind!r} (try Q4_0, Q8_0, Q5_1, Q4_K_M, F16)")
    cache = Path(platformdirs.user_cache_dir("local-llm-studio", appauthor=False)) / "bench-models"
    out = cache / f"{source.stem}.{kind.upper()}.gguf"
    if not out.exists():
        cache.mkdir(parents=True, exist_ok=True)
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype
        params.allow_requantize = True
        partial = out.with_name(out.name + ".partial")
        if llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params)) != 0:
            raise SystemExit(f"llama.cpp could not requantize {source.name} to {kind}")
        partial.replace(out)
    return out
