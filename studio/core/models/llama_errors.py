"""Translate llama.cpp's load log into one human sentence."""

from __future__ import annotations

import re
from pathlib import Path

from studio.core.models.gguf_info import ModelFileError

# --- llama.cpp load errors ---------------------------------------------------------------------

_LLAMA_RULES: list[tuple[str, str]] = [
    (r"unknown model architecture: '([^']*)'", "unknown architecture '{0}' — this llama.cpp "
     "cannot run it; it may need a newer version of the app"),
    (r"missing tensor '([^']*)'", "the weight '{0}' is missing, so the file is incomplete or was "
     "converted wrongly; download or convert it again"),
    (r"wrong number of tensors; expected (\d+), got (\d+)", "the file has {1} weights where this "
     "architecture needs {0}; it was converted wrongly or for another llama.cpp version"),
    (r"tensor '([^']*)' has wrong shape", "the weight '{0}' has the wrong shape; the file was "
     "converted wrongly or for another llama.cpp version"),
    (r"tensor '([^']*)' data is not within the file bounds", "the file is truncated or corrupt "
     "(weight '{0}' lies past its end); download it again"),
    (r"failed to allocate|out of memory|unable to allocate|cudaMalloc failed|OutOfDeviceMemory",
     "not enough memory: try fewer GPU layers or a smaller context"),
    (r"invalid magic", "not a GGUF file (its first bytes are wrong); pick a .gguf model file"),
    (r"version (\d+) but this software only supports", "unsupported GGUF version {0}; this "
     "llama.cpp reads versions 2 and 3"),
    (r"key not found in model: (\S+)", "the model lacks the setting '{0}'; it was converted "
     "wrongly or needs a newer llama.cpp"),
    (r"unknown pre-tokenizer type: '([^']*)'", "the tokenizer type '{0}' is unknown to this "
     "llama.cpp; it may need a newer version of the app"),
    (r"cannot find tokenizer|error loading model vocabulary", "the model's vocabulary is missing "
     "or damaged; download or convert it again"),
    (r"failed to read (?:key-value pairs|tensor info|tensor data)|failed to read header",
     "the file is truncated or corrupt; download it again"),
    (r"failed to open|No such file", "the file could not be opened; check that it still exists"),
]


def translate_llama_error(log_text: str, path: str | Path | None = None) -> ModelFileError:
    """Turn llama.cpp's load log into one human sentence, quoting the line it came from."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    where = f"{Path(path).name}: " if path else ""
    for pattern, text in _LLAMA_RULES:
        for line in lines:
            found = re.search(pattern, line, re.IGNORECASE)
            if found:
                return ModelFileError("llama_load_failed", f"{where}{text.format(*found.groups())}"
                                      f' (llama.cpp said: "{line}")')
    errors = [ln for ln in lines if re.search(r"error|fail|invalid|unable", ln, re.IGNORECASE)]
    last = (errors or lines or ["no log output"])[-1]
    return ModelFileError("llama_load_failed", f"{where}llama.cpp could not load this model: {last}")
