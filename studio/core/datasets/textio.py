"""Reading dataset files as text without loading them whole: encoding detection, a line reader
with a per-line size limit, and an incremental JSON-array reader.

Byte-oriented encodings (UTF-8, GB18030) are read line by line as bytes and decoded per line, so a
bad byte costs one line, not the file. UTF-16/32 go through the codec machinery instead, because
their newlines are not single bytes.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from studio.core.datasets.records import DatasetError, Problem

SAMPLE_BYTES = 64 * 1024
MAX_LINE_BYTES = 10 * 1024 * 1024  # one example beyond this is a mistake, not data
CHUNK_BYTES = 1024 * 1024

ENCODING_TITLES = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "utf-16": "UTF-16", "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE", "utf-32": "UTF-32", "gb18030": "GB18030/GBK",
}
_LINE_ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")  # where b"\n" is always a newline

_CONVERT = "export it as JSONL, JSON, CSV or plain text first"
_SIGNATURES = [
    (b"PAR1", f"a Parquet file, not text; {_CONVERT} (pandas: df.to_json('data.jsonl', orient='records', "
              "lines=True, force_ascii=False))"),
    (b"ARROW1", f"an Arrow file, not text; {_CONVERT}"),
    (b"PK\x03\x04", "a ZIP archive (Excel .xlsx files are ZIP archives too); unzip it, or save the sheet "
                    "as CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls/.doc); save it as CSV UTF-8"),
    (b"\x1f\x8b", "a gzip archive; unpack it first"),
    (b"BZh", "a bzip2 archive; unpack it first"),
    (b"\xfd7zXZ", "an xz archive; unpack it first"),
    (b"7z\xbc\xaf", "a 7-Zip archive; unpack it first"),
    (b"%PDF", "a PDF document; extract its text first"),
    (b"\x89PNG", "a PNG image, not text"),
    (b"\xff\xd8\xff", "a JPEG image, not text"),
    (b"SQLite format 3\x00", "an SQLite database, not text"),
    (b"GGUF", "a GGUF model file, not a dataset"),
]


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(SAMPLE_BYTES)
    except FileNotFoundError:
        raise DatasetError(path, 0, "no such file") from None
    except IsADirectoryError:
        raise DatasetError(path, 0, "this is a folder; choose the data files inside it") from None
    except PermissionError:
        raise DatasetError(path, 0, "the file cannot be read: permission denied") from None
    except OSError as exc:
        raise DatasetError(path, 0, f"the file cannot be read: {exc.strerror or exc}") from None


def _decodes(data: bytes, encoding: str, final: bool) -> str | None:
    try:
        return codecs.getincrementaldecoder(encoding)("strict").decode(data, final)
    except UnicodeDecodeError:
        return None


def _mostly_cjk(text: str) -> bool:
    wide = [c for c in text if ord(c) > 0x7F]
    cjk = sum(1 for c in wide if "\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef")
    return not wide or cjk >= 0.6 * len(wide)


def _looks_like_text(text: str) -> bool:
    controls = sum(1 for c in text if c < " " and c not in "\t\n\r\f\0")  # NULs are judged apart
    return controls <= 0.02 * len(text)


def _plausible_utf16(head: bytes) -> str | None:
    """The UTF-16 byte order under which `head` reads as CJK/ASCII text. Only for bytes that are not
    UTF-8: ASCII pairs read as UTF-16 look like CJK too. GBK's byte pairs land in Hangul and
    private-use code points, so they do not pass."""
    for enc in ("utf-16-le", "utf-16-be"):
        text = _decodes(head[: len(head) // 2 * 2], enc, False)
        if text is None or len(text) < 8:
            continue
        good = sum(1 for c in text if c in "\t\n\r" or " " <= c <= "~" or "\u3000" <= c <= "\u9fff"
                   or "\uff00" <= c <= "\uffef")
        if good >= 0.95 * len(text):
            return enc
    return None


def _clean_text(head: bytes, whole: bool) -> bool:
    """Decodes as UTF-8 (or Chinese GB18030) and reads as text."""
    text = _decodes(head, "utf-8", whole)
    if text is None:
        text = _decodes(head, "gb18030", whole)
        if text is not None and not _mostly_cjk(text):
            return False
    return text is not None and _looks_like_text(text)


def detect_encoding(path: str | os.PathLike[str]) -> str:
    """The text encoding of a dataset file; raises DatasetError for empty, binary or unknown text."""
    path = Path(path)
    head = _read_head(path)
    if head and not head.strip(b"\x00"):
        raise DatasetError(path, 0, "the file holds only zero bytes, no text (a download or copy that did not finish?)")
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise DatasetError(path, 0, "the file is empty" if not head else "the file holds only blank space, no examples")
    whole = len(head) < SAMPLE_BYTES
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            raise DatasetError(path, 0, f"this is {what}")
    # UTF-16 without a BOM: the ASCII in JSON/CSV punctuation leaves zero bytes on one side. A few
    # stray NULs in UTF-8 text do that too, so valid UTF-8 with rare zeros stays UTF-8.
    pairs = len(head) // 2
    zeros_all = head.count(0)
    stray_nuls = zeros_all <= max(8, 0.02 * len(head)) and _clean_text(head, whole)
    zero_even, zero_odd = head[0::2].count(0), head[1::2].count(0)
    for zeros, other, enc in ((zero_odd, zero_even, "utf-16-le"), (zero_even, zero_odd, "utf-16-be")):
        if pairs and not stray_nuls and zeros >= max(2, 0.05 * pairs) and other * 10 <= zeros:
            text = _decodes(head[: pairs * 2], enc, False)
            if text is not None and _looks_like_text(text):
                return enc
    if (zeros_all and not stray_nuls) or _decodes(head, "utf-8", whole) is None:
        # Chinese UTF-16 without a BOM has few zero bytes (no ASCII); judge what it decodes to.
        utf16 = _plausible_utf16(head)
        if utf16:
            return utf16
    if zeros_all and not stray_nuls:  # stray NULs in clean text are reported line by line instead
        raise DatasetError(path, 0, "this is a binary file (it contains NUL bytes), not text; datasets are "
                                    "JSONL, JSON, CSV, TSV or plain text")
    text = _decodes(head, "utf-8", whole)
    if text is not None:
        if not _looks_like_text(text):
            raise DatasetError(path, 0, "this is a binary file (it is full of control characters), not text; "
                                        "datasets are JSONL, JSON, CSV, TSV or plain text")
        return "utf-8"
    text = _decodes(head, "gb18030", whole)
    if text is not None and _mostly_cjk(text):
        return "gb18030"
    # Mostly UTF-8 with a few bad bytes: read it as UTF-8 and let those lines be reported one by one.
    lines = head.split(b"\n")
    bad = [i for i, ln in enumerate(lines) if _decodes(ln, "utf-8", whole or i < len(lines) - 1) is None]
    if len(bad) <= max(1, 0.1 * len(lines)):
        return "utf-8"
    first = lines[bad[0]]
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, bad[0] + 1, f"the file is not UTF-8, UTF-16 or GB18030 text (byte "
                                             f"0x{first[exc.start]:02x} at column {exc.start + 1}); save it as UTF-8") from None
    raise DatasetError(path, 0, "the file is not UTF-8, UTF-16 or GB18030 text; save it as UTF-8")


def _size_text(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n:,} bytes"


class _CRLines:
    """readline() for files whose lines end in a bare CR (classic Mac, Excel's "CSV (Macintosh)"):
    each CR comes back as LF, so the rest of the reading sees ordinary lines."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._buf = b""
        self._pos = 0

    def readline(self, limit: int) -> bytes:
        while True:
            end = self._buf.find(b"\r", self._pos, self._pos + limit)
            if end >= 0:
                line = self._buf[self._pos:end] + b"\n"
                self._pos = end + 1
                return line
            if len(self._buf) - self._pos >= limit:
                line = self._buf[self._pos:self._pos + limit]
                self._pos += limit
                return line
            data = self._fh.read(CHUNK_BYTES)
            self._buf, self._pos = self._buf[self._pos:] + data, 0
            if not data:
                line, self._buf = self._buf, b""
                return line


def _cr_only(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    return b"\r" in head and b"\n" not in head


class TextSource:
    """One file as text: `lines()` or `chunks()`, with `bytes_read` for progress."""

    def __init__(self, path: str | os.PathLike[str], encoding: str,
                 report: Callable[[Problem], None] | None = None) -> None:
        self.path = Path(path)
        self.encoding = encoding
        self.size = self.path.stat().st_size
        self.bytes_read = 0
        self._report = report or (lambda p: None)

    def _problem(self, line: int, message: str) -> None:
        self._report(Problem(str(self.path), line, message))

    def lines(self, *, keep_ends: bool = False, split_long: bool = False) -> Iterator[tuple[int, str]]:
        """(line number, text) for each line; over-long and undecodable lines become problems.
        With `split_long` (plain text, where any cut is fine) an over-long line comes in several
        pieces under the same line number instead."""
        if self.encoding in _LINE_ENCODINGS:
            yield from self._byte_lines(keep_ends, split_long)
        else:
            yield from self._codec_lines(keep_ends, split_long)

    def _long_pieces(self, reader: Any, first: bytes, enc: str, number: int) -> Iterator[tuple[int, str]]:
        decoder = codecs.getincrementaldecoder(enc)("strict")
        raw = first
        while raw:
            try:
                text = decoder.decode(raw, final=raw.endswith(b"\n"))
            except UnicodeDecodeError as exc:
                self._problem(number, f"not valid {ENCODING_TITLES.get(self.encoding, self.encoding)} text "
                                      f"(byte 0x{raw[exc.start]:02x}); the rest of this line was skipped")
                text = None
            if text:
                yield number, text.rstrip("\r\n")
            if text is None or raw.endswith(b"\n"):
                break
            raw = reader.readline(MAX_LINE_BYTES)
            self.bytes_read += len(raw)
        while raw and not raw.endswith(b"\n"):  # after a decoding error: skip to the line's end
            raw = reader.readline(MAX_LINE_BYTES)
            self.bytes_read += len(raw)

    def _byte_lines(self, keep_ends: bool, split_long: bool = False) -> Iterator[tuple[int, str]]:
        enc = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        title = ENCODING_TITLES.get(self.encoding, self.encoding)
        cr_only = _cr_only(self.path)
        with open(self.path, "rb") as fh:
            if self.encoding == "utf-8-sig":
                fh.read(3)
                self.bytes_read = 3
            reader = _CRLines(fh) if cr_only else fh
            number = 0
            while True:
                raw = reader.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                number += 1
                self.bytes_read += len(raw)
                if len(raw) > MAX_LINE_BYTES and split_long:
                    yield from self._long_pieces(reader, raw, enc, number)
                    continue
                if len(raw) > MAX_LINE_BYTES:
                    total = len(raw)
                    while not raw.endswith(b"\n"):  # skip the rest of it in bounded pieces
                        raw = reader.readline(MAX_LINE_BYTES)
                        if not raw:
                            break
                        total += len(raw)
                        self.bytes_read += len(raw)
                    self._problem(number, f"line is {_size_text(total)} long, over the 10 MB limit for one "
                                          "example; skipped")
                    continue
                if b"\x00" in raw:  # one stray NUL should cost its line, not the file
                    self._problem(number, f"line holds a NUL byte (binary data, at column {raw.index(0) + 1}); "
                                          "line skipped")
                    continue
                try:
                    text = raw.decode(enc)
                except UnicodeDecodeError as exc:
                    self._problem(number, f"not valid {title} text (byte 0x{raw[exc.start]:02x} at column "
                                          f"{exc.start + 1}); line skipped")
                    continue
                yield number, text if keep_ends else text.rstrip("\r\n")

    def _codec_lines(self, keep_ends: bool, split_long: bool = False) -> Iterator[tuple[int, str]]:
        limit = MAX_LINE_BYTES // 2
        title = ENCODING_TITLES.get(self.encoding, self.encoding)
        with open(self.path, "rb") as raw:
            stream = io.TextIOWrapper(raw, encoding=self.encoding, errors="strict", newline="")
            number = 0

            def read(size: int) -> str:
                try:
                    text = stream.readline(size)
                except UnicodeDecodeError as exc:
                    raise DatasetError(self.path, max(1, number), f"not valid {title} text ({exc.reason}); "
                                                                  "save the file as UTF-8") from None
                self.bytes_read = raw.tell()
                return text

            while True:
                number += 1
                text = read(limit + 1)
                if not text:
                    return
                if len(text) > limit and split_long:
                    while text:
                        yield number, text.rstrip("\r\n")
                        if text.endswith(("\n", "\r")):
                            break
                        text = read(limit)
                    continue
                if len(text) > limit:
                    total = len(text)
                    while text and not text.endswith(("\n", "\r")):
                        text = read(limit)
                        total += len(text)
                    self._problem(number, f"line has {total:,} characters, over the 10 MB limit for one "
                                          "example; skipped")
                    continue
                yield number, text if keep_ends else text.rstrip("\r\n")

    def chunks(self, size: int | None = None) -> Iterator[str]:
        size = size or CHUNK_BYTES
        decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        line = 1
        with open(self.path, "rb") as fh:
            while True:
                data = fh.read(size)
                self.bytes_read += len(data)
                try:
                    text = decoder.decode(data, final=not data)
                except UnicodeDecodeError as exc:
                    bad = data[exc.start:exc.start + 1]
                    line += data.count(b"\n", 0, exc.start) if self.encoding in _LINE_ENCODINGS else 0
                    raise DatasetError(self.path, line, f"not valid {ENCODING_TITLES.get(self.encoding, self.encoding)} "
                                                        f"text (byte 0x{bad.hex()}); save the file as UTF-8") from None
                if text:
                    line += text.count("\n")
                    yield text
                if not data:
                    return


# --- incremental JSON ----------------------------------------------------------------------------

def json_trouble(exc: BaseException) -> str:
    """A sentence for what json refuses beyond syntax errors."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if "digits" in str(exc):
        return "a number with thousands of digits"
    return str(exc)


_WS = " \t\r\n"
_STRUCTURE = re.compile(r'["\[\]{},]')
_STRING_END = re.compile(r'["\\]')


class _TooBig(DatasetError):
    """One JSON value over the size limit; inside an array it can be stepped over."""
_LIST_KEYS = ("data", "examples", "train", "rows", "records", "items", "instances", "samples",
              "conversations_list", "dataset")


class JsonStream:
    """Streams the elements of a top-level JSON array (or of the list under "data", "examples", ...
    in a top-level object) with the line each element starts on. A top-level object without such a
    list is one record. Memory stays bounded by the largest single element (<= 10 MB)."""

    def __init__(self, source: TextSource) -> None:
        self.source = source
        self._chunks = source.chunks()
        self._buf = ""
        self._pos = 0
        self._mark = 0          # a buffer position whose line and column are known
        self._mark_line = 1
        self._mark_col = 1
        self._eof = False
        self._decoder = json.JSONDecoder()
        self.kind = ""          # "array", "object-list", "object"

    # -- buffer ------------------------------------------------------------------------------------
    def _more(self) -> bool:
        if self._eof:
            return False
        chunk = next(self._chunks, None)
        if chunk is None:
            self._eof = True
            return False
        if self._pos > 0:  # drop what was consumed, keeping line/column bookkeeping
            self._where(self._pos)
            self._buf = self._buf[self._pos:]
            self._pos = self._mark = 0
        self._buf += chunk
        return True

    def _where(self, pos: int) -> tuple[int, int]:
        """(line, column) of a buffer position; positions only move forward, so counting is incremental."""
        if pos > self._mark:
            newlines = self._buf.count("\n", self._mark, pos)
            if newlines:
                self._mark_line += newlines
                self._mark_col = pos - self._buf.rfind("\n", self._mark, pos)
            else:
                self._mark_col += pos - self._mark
            self._mark = pos
        return self._mark_line, self._mark_col

    def _peek(self) -> str:
        """The next non-whitespace character ('' at the end of the file)."""
        while True:
            buf, pos = self._buf, self._pos
            while pos < len(buf) and buf[pos] in _WS:
                pos += 1
            self._pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self._more():
                return ""

    def _fail(self, pos: int, detail: str) -> DatasetError:
        line, col = self._where(pos)
        return DatasetError(self.source.path, line, f"not valid JSON ({detail} at column {col}); "
                                                    "the rest of the file was not read")

    def _value(self) -> tuple[int, Any]:
        """Decode the next JSON value; returns (start line, value)."""
        self._peek()
        start = self._pos
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, start)
            except json.JSONDecodeError as exc:
                # A value cut by the chunk edge fails near the buffer's end (or as an open string).
                incomplete = exc.pos >= len(self._buf) - 8 or exc.msg.startswith("Unterminated string")
                if incomplete and self._grow(start):
                    start = self._pos
                    continue
                raise self._fail(exc.pos, exc.msg) from None
            except (RecursionError, ValueError) as exc:  # nesting past Python's stack, ints over 4300 digits
                raise self._fail(start, json_trouble(exc)) from None
            if end >= len(self._buf) and self._grow(start):  # a number may go on in the next chunk
                start = self._pos
                continue
            line, _ = self._where(start)
            self._pos = end
            return line, value

    def _grow(self, start: int) -> bool:
        self._pos = start
        if len(self._buf) - start > MAX_LINE_BYTES:
            line, _ = self._where(start)
            raise _TooBig(self.source.path, line, "one JSON value here is over the 10 MB limit for one "
                                                  "example; the rest of the file was not read")
        return self._more()

    def _expect(self, chars: str, what: str) -> str:
        c = self._peek()
        if c == "" or c not in chars:
            found = f"'{c}'" if c else "the end of the file"
            raise self._fail(self._pos, f"expected {what}, found {found}")
        self._pos += 1
        return c

    # -- elements ------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[int, Any]]:
        first = self._peek()
        if first == "[":
            self.kind = "array"
            self._pos += 1
            yield from self._elements()
        elif first == "{":
            yield from self._object()
        else:
            found = f"'{first}'" if first else "nothing"
            raise self._fail(self._pos, f"expected a JSON array or object, found {found}")
        while self._peek() == "{":  # objects one after another: JSON Lines with long lines, or concatenated
            self.kind = "stream"
            yield self._value()
        if self._peek() != "":
            raise self._fail(self._pos, "extra data after the end")

    def _elements(self) -> Iterator[tuple[int, Any]]:
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            try:
                yield self._value()
            except _TooBig as exc:
                self._skip_value()
                self.source._problem(exc.line, "this JSON value is over the 10 MB limit for one example; skipped")
            if self._expect(",]", "',' or ']' between array elements") == "]":
                return

    def _skip_value(self) -> None:
        """Step over the value at the read position without decoding it, keeping only one chunk."""
        depth, in_string, pos = 0, False, self._pos
        while True:
            buf = self._buf
            while True:
                if in_string:
                    m = _STRING_END.search(buf, pos)
                    if m is None or m.end() >= len(buf):  # need more text (an escape may be cut)
                        pos = m.start() if m is not None else len(buf)
                        break
                    if m.group() == "\\":
                        pos = m.end() + 1
                        continue
                    in_string, pos = False, m.end()
                else:
                    m = _STRUCTURE.search(buf, pos)
                    if m is None:
                        pos = len(buf)
                        break
                    c, pos = m.group(), m.end()
                    if c == '"':
                        in_string = True
                    elif c in "[{":
                        depth += 1
                    elif c in "]}" and depth > 0:
                        depth -= 1
                    elif c == "," and depth > 0:
                        pass
                    else:  # ',' or the array's ']' at depth 0: the value ended before it
                        self._pos = pos - 1
                        return
                if depth == 0 and not in_string and buf[pos - 1] in "]}\"":
                    self._pos = pos
                    return
            self._pos = pos
            if not self._more():
                raise self._fail(self._pos, "the file ends inside a value")
            pos = self._pos

    def _object(self) -> Iterator[tuple[int, Any]]:
        self._pos += 1
        start_line, _ = self._where(self._pos - 1)
        fields: dict[str, Any] = {}
        streamed = False
        if self._peek() == "}":
            self._pos += 1
        else:
            while True:
                _, key = self._value()
                if not isinstance(key, str):
                    raise self._fail(self._pos, "object keys must be strings")
                self._expect(":", "':' after a key")
                if not streamed and key.lower() in _LIST_KEYS and self._peek() == "[":
                    self.kind = "object-list"
                    streamed = True
                    self._pos += 1
                    yield from self._elements()
                else:
                    fields[key] = self._value()[1]
                if self._expect(",}", "',' or '}' between fields") == "}":
                    break
        if not streamed:
            self.kind = "object"
            yield start_line, fields
