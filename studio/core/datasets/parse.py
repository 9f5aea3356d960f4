"""Format detection and streaming parsing: a file in, canonical `Example`s out, problems on the side.

Nothing here holds a whole file: JSONL and CSV go line by line, JSON arrays element by element,
plain text paragraph by paragraph. Detection reads only the first records.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Protocol

from studio.core.datasets.records import (
    FORMAT_TITLES, FORMATS, ColumnMapping, DatasetError, Example, Problem, RecordProblem, convert,
    guess_mapping, record_shape,
)
from studio.core.datasets.textio import (
    _LIST_KEYS, ENCODING_TITLES, SAMPLE_BYTES, JsonStream, TextSource, detect_encoding, json_trouble,
)

CONTAINERS = ("jsonl", "json", "csv", "tsv", "txt")
CONTAINER_TITLES = {"jsonl": "JSONL", "json": "JSON", "csv": "CSV", "tsv": "TSV", "txt": "plain text"}
TEXT_CHUNK_CHARS = 2000   # plain text without paragraph breaks is cut into pieces about this long
_DETECT_RECORDS = 50
_DETECT_BYTES = 4 * 1024 * 1024   # detection stops early on huge records: 50 of 10 MB would be 500 MB
MAX_COLUMNS = 1000                # a "header" wider than this is not a dataset table


class ProblemSink(Protocol):
    def append(self, problem: Problem) -> None: ...


@dataclass
class FormatGuess:
    container: str
    format: str              # one of FORMATS, or "" when the fields were not recognised
    encoding: str
    columns: list[str] = field(default_factory=list)
    mapping: ColumnMapping | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"container": self.container, "format": self.format, "encoding": self.encoding,
                "columns": list(self.columns), "mapping": self.mapping.to_dict() if self.mapping else None,
                "note": self.note}


# --- containers ----------------------------------------------------------------------------------

def _sample_text(path: Path, encoding: str) -> str:
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    return codecs.getincrementaldecoder(encoding)("replace").decode(head, False).lstrip("\ufeff")


def _json_object(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_wrapper(obj: dict) -> bool:
    """{"data": [records]}: an object that holds the records instead of being one."""
    return record_shape(obj) is None and any(
        isinstance(v, list) and (k.lower() in _LIST_KEYS or v and all(isinstance(x, dict) for x in v))
        for k, v in obj.items())


def _detect_container(path: Path, sample: str) -> str:
    suffix = path.suffix.lower()
    text = sample.lstrip(" \t\r\n")
    if text.startswith("["):
        return "json"
    if text.startswith("{"):
        if suffix in (".jsonl", ".ndjson"):
            return "jsonl"
        lines = [ln.strip() for ln in text.split("\n")[:-1] if ln.strip()] or [text.strip()]
        # One object per line is JSONL, even when a line is broken or the file is named .json.
        parsed = [_json_object(ln) for ln in lines[:3]]
        if parsed[0] is not None and (_is_wrapper(parsed[0]) or suffix == ".json" and len(lines) == 1):
            return "json"
        if any(obj is not None for obj in parsed):
            return "jsonl"
        return "json"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix == ".csv":
        return "csv"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    lines = [ln for ln in text.split("\n")[:20] if ln.strip()]
    if len(lines) >= 2 and lines[0].count("\t") >= 1 and \
            sum(ln.count("\t") == lines[0].count("\t") for ln in lines) >= 0.8 * len(lines):
        return "tsv"
    return "txt"


def _csv_delimiter(container: str, sample: str) -> str:
    if container == "tsv":
        return "\t"
    header = sample.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


class _Records:
    """Raw records of one file: (line, dict) pairs, with `columns` for tables."""

    def __init__(self, source: TextSource, container: str, sample: str, report: Any) -> None:
        self.source = source
        self.container = container
        self.sample = sample
        self.report = report
        self.columns: list[str] = []
        self.json_kind = ""

    def _problem(self, line: int, message: str) -> None:
        self.report(Problem(str(self.source.path), line, message))

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        if self.container == "jsonl":
            return self._jsonl()
        if self.container == "json":
            return self._json()
        if self.container in ("csv", "tsv"):
            return self._table()
        return self._text()

    def _jsonl(self) -> Iterator[tuple[int, Any]]:
        for number, line in self.source.lines():
            body = line.strip()
            if not body:
                continue
            try:
                record = json.loads(body)
            except json.JSONDecodeError as exc:
                col = exc.colno + (len(line) - len(line.lstrip()) if exc.lineno == 1 else 0)
                self._problem(number, f"not valid JSON ({exc.msg} at column {col})")
                continue
            except (RecursionError, ValueError) as exc:
                self._problem(number, f"not valid JSON here ({json_trouble(exc)})")
                continue
            yield number, record

    def _json(self) -> Iterator[tuple[int, Any]]:
        stream = JsonStream(self.source)
        for number, record in stream:
            self.json_kind = stream.kind
            if stream.kind == "object" and isinstance(record, dict) and _is_wrapper(record):
                # {"whatever": [records]}: use the one list of objects it holds
                lists = [v for v in record.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
                if len(lists) == 1:
                    for item in lists[0]:
                        yield number, item
                    continue
            yield number, record

    def _table(self) -> Iterator[tuple[int, Any]]:
        csv.field_size_limit(max(csv.field_size_limit(), 10 * 1024 * 1024))
        delimiter = _csv_delimiter(self.container, self.sample)
        name = CONTAINER_TITLES[self.container]
        state = {"start": 0, "mark": False, "last": 0, "eof": False}

        def feed() -> Iterator[str]:
            for number, line in self.source.lines(keep_ends=True):
                if state["mark"]:
                    state["start"], state["mark"] = number, False
                state["last"] = number
                yield line
            state["eof"] = True  # asked for more while inside a record: a quote was never closed

        reader = csv.reader(feed(), delimiter=delimiter)
        header: list[str] | None = None
        while True:
            state["mark"] = True
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "field limit" in str(exc):
                    self._problem(state["start"], "a field starting on this line runs past 10 MB; a quote (\") "
                                                  "is probably not closed; the lines it swallowed were skipped")
                else:
                    self._problem(state["start"], f"not valid {name} ({exc})")
                continue
            if state["eof"] and state["last"] > state["start"]:
                self._problem(state["start"], f"a quote (\") opened on this line is never closed, so lines "
                                              f"{state['start']}–{state['last']} were read as one field; skipped")
                return
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                if len(row) > MAX_COLUMNS:
                    raise DatasetError(self.source.path, state["start"], f"the first row has {len(row):,} "
                                       f"columns; a dataset table has a few (is this really {name}?)")
                header = _clean_header(row)
                self.columns = header
                continue
            if len(row) > len(header):
                if any(cell.strip() for cell in row[len(header):]):
                    self._problem(state["start"], f"row has {len(row)} fields but the header has {len(header)} "
                                                  f"(a field containing '{'TAB' if delimiter == chr(9) else delimiter}' "
                                                  "must be quoted)")
                    continue
                row = row[:len(header)]
            if len(row) < len(header):  # leave the missing cells out, so they read as missing, not empty
                yield state["start"], _ShortRow(zip(header, row), have=len(row), want=len(header))
                continue
            yield state["start"], dict(zip(header, row))

    def _text(self) -> Iterator[tuple[int, Any]]:
        lines: list[str] = []
        start = size = 0
        carry, carry_line = "", 0   # the unfinished end of an enormous line, which comes in pieces
        for number, line in self.source.lines(split_long=True):
            if carry:
                if number == carry_line:
                    line = carry + line
                elif carry.strip():
                    yield carry_line, {"text": carry.strip()}
                carry = ""
            if not line.strip():
                if lines:
                    yield start, {"text": "\n".join(lines)}
                    lines, size = [], 0
                continue
            if lines and size + len(line) > TEXT_CHUNK_CHARS:
                yield start, {"text": "\n".join(lines)}
                lines, size = [], 0
            if len(line) > TEXT_CHUNK_CHARS:  # one enormous line: cut at spaces or sentence ends
                pieces = _cut(line, TEXT_CHUNK_CHARS)
                carry, carry_line = pieces.pop(), number
                for piece in pieces:
                    if piece.strip():
                        yield number, {"text": piece.strip()}
                continue
            if not lines:
                start = number
            lines.append(line)
            size += len(line) + 1
        if carry.strip():
            yield carry_line, {"text": carry.strip()}
        if lines:
            yield start, {"text": "\n".join(lines)}


_BREAKS = (" ", "。", "！", "？", "；", "，", "、", ".", "!", "?", ";", ",")  # Chinese text has no spaces


def _cut(line: str, size: int) -> list[str]:
    """Pieces of about `size` characters, ending at a space or punctuation where one is near; the
    last piece is the (shorter) rest."""
    pieces: list[str] = []
    pos = 0
    while len(line) - pos > size:
        end = pos + size
        low = pos + size * 4 // 5
        brk = max(line.rfind(c, low, end) for c in _BREAKS)
        end = brk + 1 if brk >= low else end
        pieces.append(line[pos:end])
        pos = end
    pieces.append(line[pos:])
    return pieces


class _ShortRow(dict):
    """A table row with fewer cells than the header; says so when a missing column is needed."""

    def __init__(self, items: Iterable[tuple[str, str]], *, have: int, want: int) -> None:
        super().__init__(items)
        self.note = f" (this row has {have} of the header's {want} columns)"


def _clean_header(row: list[str]) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()   # a set: a list makes many repeated names cubic
    for i, cell in enumerate(row, 1):
        name = cell.strip().lstrip("\ufeff") or f"column {i}"
        base, n = name, 2
        while name in seen:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
        seen.add(name)
    return names


# --- detection ----------------------------------------------------------------------------------

def detect_format(path: str | os.PathLike[str], *, encoding: str | None = None) -> FormatGuess:
    """Container, record format, encoding and (for tables/odd field names) a column mapping.
    Raises DatasetError when the file is empty, binary, undecodable or holds no records."""
    path = Path(path)
    encoding = encoding or detect_encoding(path)
    sample = _sample_text(path, encoding)
    container = _detect_container(path, sample)
    first_problems: list[Problem] = []
    records = _Records(TextSource(path, encoding, first_problems.append), container, sample, first_problems.append)
    head: list[tuple[int, Any]] = []
    try:
        for item in records:
            head.append(item)
            if len(head) >= _DETECT_RECORDS or records.source.bytes_read > _DETECT_BYTES:
                break
    except DatasetError:
        if not head:
            raise
        # a later structural error: detect from what came before it; reading reports it
    title = f"{CONTAINER_TITLES[container]}, {ENCODING_TITLES.get(encoding, encoding)}"
    if not head and first_problems:  # e.g. every line so far was undecodable: say why
        p = first_problems[0]
        if container in ("txt", "jsonl", "json") or not records.columns:
            raise DatasetError(path, p.line, p.message)
    if container == "txt":
        if not head:
            raise DatasetError(path, 0, "the file holds no text")
        return FormatGuess(container, "text", encoding, [], None,
                           f"{title}: plain text for continued pre-training (paragraphs become examples)")
    if container in ("csv", "tsv"):
        if not records.columns:
            raise DatasetError(path, 0, f"the file holds no {CONTAINER_TITLES[container]} header row")
        fmt, mapping, note = guess_mapping(records.columns)
        if fmt is None:
            return FormatGuess(container, "", encoding, records.columns, ColumnMapping(), f"{title}: {note}")
        if not head:
            note += "; no data rows under the header"
        return FormatGuess(container, fmt, encoding, records.columns, mapping,
                           f"{title}, {FORMAT_TITLES[fmt]}: {note}")
    objects = [r for _, r in head if isinstance(r, dict)]
    if not objects:
        if first_problems:
            p = first_problems[0]
            raise DatasetError(path, p.line, p.message)
        if not head:
            raise DatasetError(path, 0, "the file holds an empty JSON list, no examples" if container == "json"
                               else "the file holds no records")
        raise DatasetError(path, head[0][0], f"records should be JSON objects, found {_json_kind(head[0][1])}")
    shapes = [record_shape(r) for r in objects]
    known = [s for s in shapes if s]
    columns = list(dict.fromkeys(k for r in objects[:10] for k in r))
    if not columns:
        raise DatasetError(path, head[0][0], "the records are empty JSON objects {}, with no fields")
    if known:
        fmt = max(FORMATS, key=lambda f: (known.count(f), -known.index(f) if f in known else -999))
        return FormatGuess(container, fmt, encoding, columns, None, f"{title}, {FORMAT_TITLES[fmt]}")
    fmt, mapping, note = guess_mapping(columns)
    if fmt is None:
        return FormatGuess(container, "", encoding, columns, ColumnMapping(), f"{title}: {note}")
    return FormatGuess(container, fmt, encoding, columns, mapping, f"{title}, {FORMAT_TITLES[fmt]}: {note}")


def _json_kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


# --- reading -------------------------------------------------------------------------------------

class ExampleReader:
    """Streams one file's examples; `bytes_read`/`size` give progress while iterating."""

    def __init__(self, path: str | os.PathLike[str], *, format: str | None = None, container: str | None = None,
                 mapping: ColumnMapping | Mapping[str, Any] | None = None, encoding: str | None = None,
                 problems: ProblemSink | None = None, guess: FormatGuess | None = None) -> None:
        self.path = Path(path)
        self._sink = problems
        mapping = ColumnMapping.from_dict(mapping)
        if format is not None and format not in FORMATS:
            raise DatasetError(self.path, 0, f"unknown format {format!r} (known: {', '.join(FORMATS)})")
        if container is not None and container not in CONTAINERS:
            raise DatasetError(self.path, 0, f"unknown container {container!r} (known: {', '.join(CONTAINERS)})")
        self.guess = guess or detect_format(self.path, encoding=encoding)
        self.encoding = encoding or self.guess.encoding
        self.container = container or self.guess.container
        self.format = format or (mapping.implied_format() if mapping else None) or self.guess.format
        self.mapping = mapping or self.guess.mapping
        self.explicit_mapping = mapping is not None
        if not self.format:
            raise DatasetError(self.path, 0, self.guess.note or "the record format was not recognised")
        if self.container == "txt" and self.format != "text":
            raise DatasetError(self.path, 0, f"a plain-text file can only be used as text, not as "
                                             f"{FORMAT_TITLES[self.format]}")
        self.source = TextSource(self.path, self.encoding, self._report)
        self.size = self.source.size
        self.n_records = 0

    @property
    def bytes_read(self) -> int:
        return self.source.bytes_read

    def _report(self, problem: Problem) -> None:
        if self._sink is not None:
            self._sink.append(problem)

    def __iter__(self) -> Iterator[Example]:
        path = str(self.path)
        fmt, mapping = self.format, self.mapping
        title = FORMAT_TITLES[fmt]
        sample = _sample_text(self.path, self.encoding)
        tables = self.container in ("csv", "tsv", "txt")
        records = _Records(self.source, self.container, sample, self._report)
        try:
            for line, record in records:
                self.n_records += 1
                if not isinstance(record, dict):
                    self._report(Problem(path, line, f"expected a JSON object {{...}}, found {_json_kind(record)}"))
                    continue
                if not tables and not self.explicit_mapping:
                    shape = record_shape(record)
                    if shape is not None and shape != fmt and not (mapping and _has_mapped(record, mapping, fmt)):
                        self._report(Problem(path, line, f"mixed formats: this record is {FORMAT_TITLES[shape]} "
                                                         f"but the file is {title}; skipped"))
                        continue
                try:
                    messages, text = convert(record, fmt, mapping)
                except RecordProblem as exc:
                    note = record.note if isinstance(record, _ShortRow) and "missing" in str(exc) else ""
                    self._report(Problem(path, line, str(exc) + note))
                    continue
                yield Example(messages, text, path, line)
        except DatasetError as exc:  # structural: the rest of the file cannot be read
            self._report(Problem(path, exc.line, exc.message))
        except OSError as exc:  # the file went away or the disk failed mid-read
            self._report(Problem(path, 0, f"reading stopped: {exc.strerror or exc}"))


def _has_mapped(record: Mapping[str, Any], mapping: ColumnMapping, fmt: str) -> bool:
    needed = {"alpaca": (mapping.instruction, mapping.output), "prompt_completion": (mapping.prompt, mapping.completion),
              "text": (mapping.text,)}.get(fmt, ())
    return bool(needed) and all(n and n in record for n in needed)


def iter_examples(path: str | os.PathLike[str], *, format: str | None = None, container: str | None = None,
                  mapping: ColumnMapping | Mapping[str, Any] | None = None, encoding: str | None = None,
                  problems: ProblemSink | None = None) -> Iterator[Example]:
    """Stream a file's examples in constant memory. Whole-file failures raise DatasetError at
    once; per-record problems go to `problems` and the record is skipped."""
    return iter(ExampleReader(path, format=format, container=container, mapping=mapping, encoding=encoding,
                              problems=problems))


def load_examples(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, format: str | None = None,
                  mapping: ColumnMapping | Mapping[str, Any] | None = None,
                  problems: ProblemSink | None = None) -> list[Example]:
    """All examples of one or more files, in file order (for training; the report streams instead)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Example] = []
    for path in paths:
        out.extend(iter_examples(path, format=format, mapping=mapping, problems=problems))
    return out


def val_count(n: int, val_ratio: float) -> int:
    """How many of n examples the split holds out: at least one when asked for any, never all."""
    if n < 2 or val_ratio <= 0:
        return 0
    return min(n - 1, max(1, round(n * val_ratio)))


def split_examples(examples: list[Example], *, val_ratio: float = 0.1, seed: int = 42) -> tuple[list, list]:
    """(train, validation), chosen by a seeded shuffle; both keep the file order."""
    examples = list(examples)
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held = set(order[:val_count(len(examples), val_ratio)])
    train = [e for i, e in enumerate(examples) if i not in held]
    val = [e for i, e in enumerate(examples) if i in held]
    return train, val
