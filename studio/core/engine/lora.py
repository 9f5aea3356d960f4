"""LoRA adapter files for the engine: check one before llama.cpp sees it, and turn llama.cpp's
adapter log into one sentence. Pure Python (no llama_cpp), so the CLI and UI can use it too."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError


class LoraError(StudioError):
    """An adapter file the engine cannot attach; `message` says why."""


@dataclass(frozen=True)
class AdapterFile:
    path: str
    name: str
    architecture: str
    alpha: float
    n_tensors: int


def normalize_adapters(adapters: Any) -> list[dict[str, Any]]:
    """[{"path", "scale"}] with absolute paths and finite float scales, or LoraError."""
    if adapters is None:
        return []
    if not isinstance(adapters, (list, tuple)):
        raise LoraError("bad_request", "adapters must be a list of {path, scale}")
    result = []
    for entry in adapters:
        if isinstance(entry, (str, Path)):
            entry = {"path": str(entry)}
        if not isinstance(entry, dict) or not entry.get("path"):
            raise LoraError("bad_request", f"an adapter needs a path, got {entry!r}")
        try:
            scale = float(entry.get("scale", 1.0))
        except (TypeError, ValueError):
            raise LoraError("bad_request", f"the scale of {entry['path']} is not a number: {entry.get('scale')!r}") from None
        if not math.isfinite(scale):
            raise LoraError("bad_request", f"the scale of {entry['path']} must be a finite number")
        result.append({"path": str(Path(str(entry["path"])).expanduser().resolve()), "scale": scale})
    return result


def parse_lora_arg(text: str) -> dict[str, Any]:
    """`PATH[:SCALE]` from the command line. A trailing ':x' that is not a number stays part of the
    path (Windows drive letters, odd file names)."""
    path, sep, tail = text.rpartition(":")
    if sep and path:
        try:
            return {"path": path, "scale": float(tail)}
        except ValueError:
            pass
    return {"path": text, "scale": 1.0}


def check_adapter_file(path: str | Path, model_architecture: str | None = None) -> AdapterFile:
    """Refuse, with a sentence, anything llama.cpp would reject or crash on: a folder, a model,
    a PEFT export that was never converted, an adapter for another architecture."""
    path = Path(path).expanduser()
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            raise LoraError("not_gguf", f"{path.name} is a PEFT adapter folder; llama.cpp needs the GGUF adapter "
                                        "(adapter.gguf next to it in a run folder, or export it with the studio)")
        raise LoraError("not_a_file", f"{path} is a folder, not a GGUF LoRA adapter")
    if not path.is_file():
        raise LoraError("not_found", f"no such adapter file: {path}")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        hint = " (a safetensors/PEFT adapter must be exported to GGUF first)" if path.suffix == ".safetensors" else ""
        raise LoraError("not_gguf", f"{path.name} is not a GGUF file{hint}")
    import gguf
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:  # damaged or truncated headers raise assorted errors in the reader
        raise LoraError("corrupt", f"{path.name}: the GGUF header is damaged ({exc}); export the adapter again") from exc

    def text(key: str) -> str | None:
        found = reader.fields.get(key)
        try:
            return str(found.contents()) if found is not None else None
        except Exception:
            return None

    general_type = text("general.type")
    if general_type != "adapter" or text("adapter.type") != "lora":
        what = "a model, not an adapter" if general_type in (None, "model") else f"of type '{general_type}'"
        raise LoraError("not_lora", f"{path.name} is {what}; pick a GGUF LoRA adapter (general.type = adapter)")
    arch = text("general.architecture") or ""
    if model_architecture and arch and arch != model_architecture:
        raise LoraError("lora_mismatch", f"{path.name} was made for '{arch}' models, but this model is "
                                         f"'{model_architecture}'; attach it to the model it was trained on")
    alpha_field = reader.fields.get("adapter.lora.alpha")
    alpha = float(alpha_field.contents()) if alpha_field is not None else 0.0
    return AdapterFile(str(path), path.stem, arch, alpha, len(reader.tensors))


_RULES: list[tuple[str, str]] = [
    (r"tensor '([^']*)' has incorrect shape", "its weight '{0}' does not match this model's shape, so it was "
     "trained on a different model (size or variant); attach it to the model it was trained on"),
    (r"LoRA tensor '?([^' ]*)'? does not exist in base model", "it changes a weight '{0}' this model does not "
     "have, so it belongs to another model"),
    (r"model arch and LoRA arch mismatch", "it was made for another model architecture"),
    (r"lora_a tensor is not transposed", "its tensors use an old layout (from llama.cpp's retired finetune tool); "
     "export the adapter again"),
    (r"failed to allocate|out of memory", "there is not enough memory left for the adapter"),
    (r"expect general.type to be 'adapter'", "the file is not a LoRA adapter"),
]


def translate_lora_error(log_text: str, path: str | Path) -> str:
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    name = Path(path).name
    for pattern, sentence in _RULES:
        for line in lines:
            found = re.search(pattern, line, re.IGNORECASE)
            if found:
                return f"{name} does not fit this model: {sentence.format(*found.groups())} (llama.cpp said: \"{line}\")"
    errors = [ln for ln in lines if re.search(r"error|fail|invalid|mismatch", ln, re.IGNORECASE)]
    last = (errors or lines or ["no log output"])[-1]
    return f"llama.cpp could not attach the adapter {name}: {last}"
