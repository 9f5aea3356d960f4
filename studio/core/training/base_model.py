"""The base model for training and analysis, as torch weights: a GGUF file or a Hugging Face folder.

A GGUF file is dequantized by transformers' `gguf_file=` loader (about 18 s for the 135M starter)
and the result is cached as safetensors, so the next run loads in a second or two. Only GGUF and
safetensors are ever loaded: a folder holding only pickle checkpoints (.bin/.pt) is refused.
Imports torch lazily; call these only in worker processes or the CLI.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from studio.core import paths
from studio.core.errors import StudioError

Progress = Callable[[float, str], None]

CACHE_FORMAT = 1


class BaseModelError(StudioError):
    """A base model that cannot be used, with a sentence saying why."""


@dataclass(frozen=True)
class BaseModelSource:
    kind: str  # "gguf" or "hf"
    path: Path
    name: str


def resolve_source(source: str | os.PathLike[str]) -> BaseModelSource:
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise BaseModelError("format", f"{path.name}: a base model is a .gguf file or a Hugging Face folder "
                                           "with safetensors weights")
        return BaseModelSource("gguf", path.resolve(), path.stem)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BaseModelError("format", f"{path}: not a Hugging Face model folder (no config.json)")
        if not any(path.glob("*.safetensors")):
            pickles = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
            if pickles:
                raise BaseModelError("pickle", f"{path}: only pickle checkpoints ({', '.join(pickles[:3])}); "
                                               "they can run code when loaded, so the studio loads safetensors only. "
                                               "Convert the weights to safetensors first.")
            raise BaseModelError("format", f"{path}: no .safetensors weights in the folder")
        return BaseModelSource("hf", path.resolve(), path.name)
    raise BaseModelError("missing", f"{path}: no such file or folder")


def _fingerprint(path: Path) -> str:
    """Content identity that survives moving the file: size plus hashes of its head and tail."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(4 << 20))
        handle.seek(max(0, size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("STUDIO_CACHE_DIR") or paths.data_dir() / "cache") / "dequantized"


def cached_dir(gguf_path: Path) -> Path:
    return cache_root() / f"{gguf_path.stem}-{_fingerprint(gguf_path)}"


def is_cached(source: str | os.PathLike[str]) -> bool:
    src = resolve_source(source)
    return src.kind == "hf" or (cached_dir(src.path) / "studio-cache.json").is_file()


class _ProgressTqdm:
    """Stands in for transformers' tqdm while it dequantizes, turning its ticks into our progress."""

    def __init__(self, report: Progress, start: float, span: float) -> None:
        self.report, self.start, self.span = report, start, span

    def __call__(self, iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
        items = list(iterable) if iterable is not None else []
        total = max(1, len(items))
        last = [0.0]

        def walk():
            for index, item in enumerate(items):
                now = time.monotonic()
                if now - last[0] > 0.1:
                    last[0] = now
                    self.report(self.start + self.span * index / total, "dequantizing GGUF tensors")
                yield item
        return walk()


# How to get torch & co. where they are missing (e.g. the app bundle, which leaves them out to stay small).
INSTALL_TRAIN_EXTRA = ("Install the training extra: `pip install torch==2.13.0` then `pip install -e \".[train]\"` "
                       "(or run `bash packaging/bootstrap.sh setup`).")


def missing_packages(names: tuple[str, ...]) -> list[str]:
    """Which of these importable names this installation lacks, without importing them."""
    import importlib.util

    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def _while_reporting(work: Callable[[], Any], report: Progress, start: float, end: float, stage: str) -> Any:
    """Run `work` in a thread and keep reporting: converting a GGUF tokenizer takes most of the
    dequantize time (~17 s for the starter) with no progress of its own. The bar creeps towards `end`,
    and a progress callback that raises (a cancel) ends the wait; the thread's result is then dropped."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="dequantize-tokenizer", daemon=True).start()
    began = time.monotonic()
    while not done.wait(0.25):
        report(start + (end - start) * (1 - math.exp(-(time.monotonic() - began) / 8)), stage)
    if "error" in box:
        raise box["error"]
    return box["value"]


def ensure_dequantized(gguf_path: str | os.PathLike[str], progress: Progress | None = None) -> Path:
    """The cached safetensors folder for a GGUF file, made on first use."""
    report = progress or (lambda _f, _s: None)
    gguf = Path(gguf_path).resolve()
    target = cached_dir(gguf)
    if (target / "studio-cache.json").is_file():
        report(1.0, "using the cached dequantized model")
        return target
    import torch
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report(0.0, "reading the GGUF file")
    original_tqdm = gguf_utils.tqdm
    gguf_utils.tqdm = _ProgressTqdm(report, 0.05, 0.6)
    started = time.perf_counter()
    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = _while_reporting(
            lambda: AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name),
            report, 0.6, 0.8, "converting the tokenizer")
    except Exception as exc:  # transformers raises ValueError/KeyError/RuntimeError for unsupported GGUFs
        raise BaseModelError("unsupported", f"{gguf.name}: transformers cannot load this GGUF for training "
                                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})") from exc
    finally:
        gguf_utils.tqdm = original_tqdm
    report(0.85, "saving the dequantized model to the cache")
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # The weights are plain float32 tensors now; drop the GGUF "quantizer" so transformers will save them.
    model.hf_quantizer = None  # type: ignore[assignment]  # transformers types it as set
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(partial), safe_serialization=True)
    tokenizer.save_pretrained(str(partial))
    (partial / "studio-cache.json").write_text(json.dumps({
        "format": CACHE_FORMAT, "source": str(gguf), "size": gguf.stat().st_size,
        "dequantize_s": round(time.perf_counter() - started, 2)}), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    report(1.0, "dequantized")
    return target


def weights_dir(source: str | os.PathLike[str], progress: Progress | None = None) -> Path:
    """A safetensors folder transformers can load for `source` (dequantizing a GGUF if needed)."""
    src = resolve_source(source)
    return ensure_dequantized(src.path, progress) if src.kind == "gguf" else src.path


def load_base_model(source: str | os.PathLike[str], progress: Progress | None = None, *,
                    dtype: Any = None, attn_implementation: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) in torch, from safetensors only."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = weights_dir(source, progress)
    kwargs: dict[str, Any] = {"dtype": dtype or torch.float32, "use_safetensors": True}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    return model, tokenizer


@dataclass(frozen=True)
class ModelFacts:
    architecture: str   # llama.cpp's name for GGUF files, config.json's model_type for HF folders
    n_params: int


def describe_source(source: str | os.PathLike[str]) -> ModelFacts:
    """Architecture and parameter count without loading weights (GGUF header or safetensors
    headers), so run defaults can be sized for any base the user picks."""
    src = resolve_source(source)
    if src.kind == "gguf":
        from studio.core.models.gguf_info import ModelFileError, read_gguf_info

        try:
            info = read_gguf_info(src.path)
        except ModelFileError as exc:
            raise BaseModelError(exc.kind, exc.message) from exc
        return ModelFacts(info.architecture, info.parameter_count)
    try:
        config = json.loads((src.path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BaseModelError("format", f"{src.path / 'config.json'}: not readable JSON ({exc})") from exc
    n_params = 0
    for weights in sorted(src.path.glob("*.safetensors")):
        n_params += _safetensors_elements(weights)
    return ModelFacts(str(config.get("model_type") or "llama"), n_params)


def _safetensors_elements(path: Path) -> int:
    """Sum of tensor sizes from a safetensors header (8-byte length, then JSON)."""
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        if not 0 < length <= 100 << 20:
            raise BaseModelError("format", f"{path.name}: not a safetensors file (header length {length})")
        try:
            header = json.loads(handle.read(length))
        except ValueError as exc:
            raise BaseModelError("format", f"{path.name}: damaged safetensors header ({exc})") from exc
    total = 0
    for name, entry in header.items():
        if name != "__metadata__" and isinstance(entry, dict):
            count = 1
            for dim in entry.get("shape", []):
                count *= int(dim)
            total += count
    return total
