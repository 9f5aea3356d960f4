"""llama.cpp helpers shared by the engine worker and anyone else that drives llama.cpp in-process.
Importing this module loads llama.cpp but changes nothing process-wide: a worker that wants
llama.cpp's log in its own log tail calls `capture_log()` once."""

from __future__ import annotations

import codecs
import ctypes
import sys
from collections import deque
from typing import Any

from llama_cpp import llama_cpp as llama_c

_LOG: deque[str] = deque(maxlen=400)


@llama_c.llama_log_callback
def _log_callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    line = text.decode("utf-8", "replace")
    _LOG.append(line.rstrip("\n"))
    if level in (3, 4):  # ggml's WARN and ERROR reach the client's log tail
        sys.stderr.write(line)


def capture_log() -> None:
    """Route llama.cpp's log (process-wide) through recent_log(); warnings and errors to stderr."""
    llama_c.llama_log_set(_log_callback, ctypes.c_void_p(0))


def clear_log() -> None:
    _LOG.clear()


def recent_log() -> str:
    """llama.cpp's log since clear_log(): what the error translators read."""
    return "\n".join(_LOG)


def detect_backend() -> tuple[str, bool, str]:
    """The backend llama.cpp reports (CPU, CUDA, Metal, Vulkan, ...), GPU offload support, raw report."""
    report = llama_c.llama_print_system_info().decode("utf-8", "replace")
    names = []
    for part in report.split("|"):
        if " : " in part:
            name = part.split(" : ")[0].strip()
            if name and name not in names:
                names.append(name)
    gpu = [n for n in names if n.upper() != "CPU"]
    offload = bool(llama_c.llama_supports_gpu_offload())
    pretty = {"CUDA": "CUDA", "METAL": "Metal", "VULKAN": "Vulkan", "HIP": "ROCm", "SYCL": "SYCL"}
    backend = pretty.get(gpu[0].upper(), gpu[0]) if gpu else "CPU"
    return backend, offload, report.strip()


_PIECE_BUFFER = ctypes.create_string_buffer(64)


def token_piece(vocab: Any, token: int, special: bool) -> bytes:
    """The exact bytes of one token. llama-cpp-python's own helpers use a 32-byte buffer and
    return nothing for longer pieces (runs of '-' or indentation), which would drop text."""
    global _PIECE_BUFFER
    n = llama_c.llama_token_to_piece(vocab, token, _PIECE_BUFFER, len(_PIECE_BUFFER), 0, special)
    if n < 0:
        _PIECE_BUFFER = ctypes.create_string_buffer(-n)
        n = llama_c.llama_token_to_piece(vocab, token, _PIECE_BUFFER, len(_PIECE_BUFFER), 0, special)
    return _PIECE_BUFFER.raw[:max(n, 0)]


def flush_decoder(decoder: codecs.IncrementalDecoder) -> str:
    """What is left in the UTF-8 decoder at the end of a reply. A reply cut by max tokens can end
    inside a character (one of the three bytes of a CJK glyph); those bytes are dropped rather
    than shown as U+FFFD."""
    buffered, _flags = decoder.getstate()
    if buffered:
        decoder.reset()
        return ""
    return decoder.decode(b"", final=True)
