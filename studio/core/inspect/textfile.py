"""Reading a text file for the token view and `studio inspect tokens --file`: `read_text_file()`
detects the encoding (UTF-8, UTF-16/32 with or without BOM, GB18030), decodes with every bad
byte counted and replaced by U+FFFD, cuts an oversized file at a character edge, and returns the
text with a short note saying what happened. No Qt here.
"""

from __future__ import annotations

import codecs
import os
import re
import threading
from pathlib import Path

from studio.core.inspect.errors import TokenizerError

# --- text files -----------------------------------------------------------------------------------

_ESCAPED = re.compile("[\udc80-\udcff]+")


def read_text_file(path: str | os.PathLike[str], *, max_bytes: int = 8 << 20) -> tuple[str, str]:
    """A text file for tokenizing: (text, note). The encoding is detected (UTF-8, UTF-16/32 with or
    without BOM, GB18030); bytes that do not decode become U+FFFD and the note says how many. Only
    a missing or unreadable file raises (TokenizerError kind "file")."""
    from studio.core.datasets.records import DatasetError
    from studio.core.datasets.textio import ENCODING_TITLES, detect_encoding

    path = Path(path).expanduser()
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise TokenizerError("file", f"The file {path.name} does not exist.") from None
    except IsADirectoryError:
        raise TokenizerError("file", f"{path.name} is a folder; choose a text file.") from None
    except PermissionError:
        raise TokenizerError("file", f"The file {path.name} cannot be read: permission denied.") from None
    except OSError as exc:
        raise TokenizerError("file", f"The file {path.name} cannot be read: {exc.strerror or exc}.") from None
    notes: list[str] = []
    cut = len(data) > max_bytes
    data = data[:max_bytes]
    try:
        encoding = detect_encoding(path)
    except DatasetError as exc:  # empty, binary or no clear encoding: read it as UTF-8 anyway
        encoding = "utf-8"
        if "binary" in exc.message or exc.message.startswith("this is"):
            notes.append(exc.message.split(";")[0])  # "this is a PNG image, not text"
    if cut:
        data = _whole_units(data, encoding)
    text, bad = _decode(data, encoding)
    title = ENCODING_TITLES.get(encoding, encoding)
    if encoding not in ("utf-8", "utf-8-sig"):
        notes.append(f"read as {title}")
    if bad:
        notes.append(f"not valid {title}: {bad:,} byte{'s' if bad != 1 else ''} replaced")
    if cut:
        size = _size(max_bytes)
        notes.append(f"only the first {size} {'were' if size.endswith('bytes') else 'was'} read")
    return text, "; ".join(notes)


def _whole_units(data: bytes, encoding: str) -> bytes:
    """Cut a truncated read back to a character edge, so the cut is not counted as bad bytes."""
    if encoding.startswith(("utf-16", "utf-32")):
        unit = 4 if encoding.startswith("utf-32") else 2
        return data[:len(data) // unit * unit]
    if encoding.startswith("utf-8"):
        k = len(data)
        while k > 0 and len(data) - k < 3 and (data[k - 1] & 0xC0) == 0x80:
            k -= 1
        if k > 0 and data[k - 1] >= 0xC0:  # a lead byte whose continuation was cut off
            return data[:k - 1]
        return data
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    decoder.decode(data, final=False)
    pending = len(decoder.getstate()[0])
    return data[:len(data) - pending] if pending else data


def _decode(data: bytes, encoding: str) -> tuple[str, int]:
    """(text, bad bytes): undecodable bytes become U+FFFD, one per byte."""
    if encoding.startswith("utf-8"):  # surrogateescape keeps this in C even for a binary file
        text = data.decode(encoding, "surrogateescape")
        bad = 0
        if _ESCAPED.search(text):
            bad = sum(m.end() - m.start() for m in _ESCAPED.finditer(text))
            text = _ESCAPED.sub(lambda m: "\ufffd" * (m.end() - m.start()), text)
        return text, bad
    _BAD.count = 0
    text = data.decode(encoding, _COUNTING)
    return text, _BAD.count


_BAD = threading.local()
_COUNTING = "studio-inspect-count"


def _count_and_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    n = exc.end - exc.start
    _BAD.count = getattr(_BAD, "count", 0) + n
    return "\ufffd" * n, exc.end


codecs.register_error(_COUNTING, _count_and_replace)


def _size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KB"
    return f"{n:,} bytes"
