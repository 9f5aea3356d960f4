"""`scan_dataset`: everything the Fine-tune screen and `studio dataset check` show about a dataset
before training — formats, counts, problems with file and line, a rendered preview, token lengths
with the base model's tokenizer and how many examples the max sequence length would cut.

It streams: examples are rendered and counted in batches and only their lengths are kept
(4 bytes each), so a file of hundreds of MB never sits in memory whole.
"""

from __future__ import annotations

import math
import os
import time
from array import array
from bisect import bisect_right, insort
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from studio.core.datasets.parse import CONTAINER_TITLES, ExampleReader, detect_format, val_count
from studio.core.datasets.records import FORMAT_TITLES, ColumnMapping, DatasetError, Example, Problem
from studio.core.datasets.render import ChatRenderer, Rendered, RenderError, load_tokenizer
from studio.core.datasets.textio import ENCODING_TITLES

MAX_PROBLEMS = 500
MAX_LENGTHS = 200_000          # token_lengths beyond this are a uniform sample
PREVIEW_CHARS = 8000           # a preview row shows at most this much of an example
_BATCH = 256
_BATCH_BYTES = 16 * 1024 * 1024  # examples can be 10 MB each: 256 of them would not fit in memory

Progress = Callable[[float, str], None]


class ScanCancelled(Exception):
    """`cancelled()` said stop; no report is produced."""


@dataclass
class FileReport:
    path: str
    encoding: str
    container: str
    format: str
    n_examples: int
    n_problems: int
    size_bytes: int
    split: str = "train"                 # "train" or "val" (a file given as validation data)
    columns: list[str] = field(default_factory=list)
    mapping: dict[str, str] | None = None
    note: str = ""
    error: str = ""                      # why the whole file is unusable, "" when it was read

    def describe(self) -> str:
        if self.error:
            return self.error
        parts = [CONTAINER_TITLES.get(self.container, self.container),
                 FORMAT_TITLES.get(self.format, self.format or "unrecognised format"),
                 ENCODING_TITLES.get(self.encoding, self.encoding)]
        return ", ".join(parts)


@dataclass
class PreviewRow:
    path: str
    line: int
    rendered_text: str
    n_tokens: int                        # 0 when no model was given
    truncated: bool
    roles: str                           # "system, user, assistant" or "text"
    train_spans: list[list[int]] = field(default_factory=list)  # trained character ranges of rendered_text


@dataclass
class DatasetReport:
    files: list[FileReport]
    n_examples: int
    n_train: int
    n_val: int
    problems: list[Problem]
    n_problems: int
    preview: list[PreviewRow]
    token_lengths: list[int]
    histogram: list[tuple[int, int, int]]
    max_seq_len: int
    n_truncated: int
    usable: bool
    verdict: str
    n_errors: int = 0                    # problems that skipped a record or a file
    model: str = ""                      # the model whose template/tokenizer were used ("" for none)
    template_note: str = ""
    token_stats: dict[str, float] = field(default_factory=dict)   # min, mean, median, p95, max, total
    # The verdict as a code and its numbers, for a screen that says it in its own language: usable,
    # broken_file (name, why), no_training, empty_validation, too_many_problems; values are ints or text.
    verdict_code: str = ""
    verdict_values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [p.to_dict() for p in self.problems]
        data["histogram"] = [list(b) for b in self.histogram]
        return data


class _ProblemLog:
    """Keeps the first MAX_PROBLEMS problems and counts all of them (per file, too)."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.total = 0
        self.errors = 0
        self.per_file: dict[str, int] = {}

    def append(self, problem: Problem) -> None:
        self.total += 1
        self.errors += problem.severity == "error"
        self.per_file[problem.path] = self.per_file.get(problem.path, 0) + 1
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(problem)


def _nice(width: float) -> int:
    if width <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(width))
    for step in (1, 2, 5, 10):
        if step * magnitude >= width:
            return int(step * magnitude)
    return int(10 * magnitude)


def histogram(lengths: Iterable[int], max_seq_len: int, bins: int = 20) -> list[tuple[int, int, int]]:
    """(lo, hi, count) bins, hi exclusive, with round widths. One edge sits at max_seq_len + 1, so
    the bars from there on hold exactly the examples that would be cut."""
    values = list(lengths)
    if not values:
        return []
    low, high = min(values), max(values)
    width = _nice((high - low + 1) / bins)
    first = low // width * width  # start near the shortest example, not at zero
    edges = list(range(first, (high // width + 2) * width, width))
    cut = max_seq_len + 1
    if edges[0] < cut < edges[-1] and cut not in edges:
        insort(edges, cut)
    counts = [0] * (len(edges) - 1)
    for v in values:
        counts[bisect_right(edges, v) - 1] += 1
    return [(edges[i], edges[i + 1], c) for i, c in enumerate(counts)]


def _stats(lengths: array) -> dict[str, float]:
    if not lengths:
        return {}
    ordered = sorted(lengths)
    n = len(ordered)
    return {"min": ordered[0], "max": ordered[-1], "mean": round(sum(ordered) / n, 1),
            "median": ordered[n // 2], "p95": ordered[min(n - 1, int(n * 0.95))], "total": sum(ordered)}


def _roles(example: Example) -> str:
    return "text" if example.messages is None else ", ".join(example.roles)


def _clip(text: str, spans: Iterable[tuple[int, int]]) -> tuple[str, list[list[int]]]:
    kept = [[a, min(b, PREVIEW_CHARS)] for a, b in spans if a < PREVIEW_CHARS]
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + f"\n… ({len(text) - PREVIEW_CHARS:,} more characters)"
    return text, kept


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


class _Scan:
    """The state of one scan_dataset call: what has been counted so far and when it last reported."""

    def __init__(self, renderer: ChatRenderer, tokenizer: Any, *, max_seq_len: int, preview: int,
                 total_bytes: int, progress: Progress | None, cancelled: Callable[[], bool] | None,
                 on_preview: Callable[[list[dict[str, Any]]], None] | None) -> None:
        self.renderer, self.tokenizer = renderer, tokenizer
        self.max_seq_len, self.preview = max_seq_len, preview
        self.progress, self.cancelled, self.on_preview = progress, cancelled, on_preview
        self.log = _ProblemLog()
        self.lengths = array("I")
        self.files: list[FileReport] = []
        self.rows: list[PreviewRow] = []
        self.counts = {"train": 0, "val": 0}
        self.n_truncated = 0
        self.total_bytes, self.done_bytes = max(1, total_bytes), 0
        self.last_report = 0.0
        self.preview_sent = on_preview is None

    def report(self, fraction: float, stage: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress is not None and (force or now - self.last_report >= 0.1):
            self.last_report = now
            self.progress(min(1.0, fraction), stage)

    def send_preview(self) -> None:
        if not self.preview_sent and self.on_preview is not None:
            self.preview_sent = True
            self.on_preview([asdict(r) for r in self.rows])

    def check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise ScanCancelled()

    def read_file(self, path: Path, split: str, size: int, format: str | None,
                  mapping: ColumnMapping | None) -> None:
        verb = "counting tokens in" if self.tokenizer is not None else "reading"
        self.report(self.done_bytes / self.total_bytes, f"{verb} {path.name}", force=True)
        try:
            reader = ExampleReader(path, format=format, mapping=mapping, problems=self.log, guess=detect_format(path))
        except DatasetError as exc:
            self.log.append(Problem(str(path), exc.line, exc.message))
            self.files.append(FileReport(str(path), "", "", "", 0, self.log.per_file.get(str(path), 0), size,
                                         split, error=exc.message))
            self.done_bytes += size
            return
        n_file = 0
        batch: list[Example] = []
        batch_from = 0
        for example in reader:
            batch.append(example)
            n_file += 1
            if len(batch) >= _BATCH or reader.bytes_read - batch_from > _BATCH_BYTES:
                self.check()
                self.consume(batch)
                batch = []
                batch_from = reader.bytes_read
                self.report((self.done_bytes + reader.bytes_read) / self.total_bytes, f"{verb} {path.name}")
        self.consume(batch)
        self.counts[split] += n_file
        self.done_bytes += size
        self.files.append(FileReport(str(path), reader.encoding, reader.container, reader.format, n_file,
                                     self.log.per_file.get(str(path), 0), size, split,
                                     columns=list(reader.guess.columns),
                                     mapping=reader.mapping.to_dict() if reader.mapping else None,
                                     note=reader.guess.note))

    def consume(self, batch: list[Example]) -> None:
        """Render and count one batch; the first `preview` examples also become preview rows."""
        if self.tokenizer is None and len(self.rows) >= self.preview:
            return  # nothing to count: rendering every example would only cost time
        texts: list[str] = []
        kept: list[Example] = []
        shown_now: dict[int, Rendered] = {}
        for example in batch:
            try:
                if len(self.rows) + len(shown_now) < self.preview:  # the preview needs the trained spans too
                    rendered = self.renderer.render(example)
                    shown_now[len(kept)] = rendered
                    texts.append(rendered.text)
                else:
                    texts.append(self.renderer.render_text(example))
                kept.append(example)
            except RenderError as exc:
                self.log.append(Problem(example.path, example.line, str(exc)))
        counted = self.tokenizer is not None
        n_tokens = self.tokenizer.count(texts) if counted else [0] * len(texts)
        for i, (example, n) in enumerate(zip(kept, n_tokens)):
            if counted:
                self.lengths.append(n)
                self.n_truncated += n > self.max_seq_len
            if i in shown_now:
                shown, spans = _clip(shown_now[i].text, shown_now[i].train_spans)
                self.rows.append(PreviewRow(example.path, example.line, shown, n, counted and n > self.max_seq_len,
                                            _roles(example), spans))
        if len(self.rows) >= self.preview:
            self.send_preview()


def scan_dataset(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, format: str | None = None,
                 mapping: ColumnMapping | Mapping[str, Any] | None = None, model: str | os.PathLike[str] | None = None,
                 max_seq_len: int = 512, val_paths: Iterable[str | os.PathLike[str]] | None = None,
                 val_ratio: float = 0.1, preview: int = 100, progress: Progress | None = None,
                 cancelled: Callable[[], bool] | None = None,
                 on_preview: Callable[[list[dict[str, Any]]], None] | None = None) -> DatasetReport:
    """Read every file once, streaming. `progress(fraction, stage)` is called a few times a second;
    `cancelled()` is polled between batches (raises ScanCancelled); `on_preview(rows)` fires once,
    as soon as the preview rows are ready, long before a big file is counted."""
    train_files = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    val_files = [Path(p) for p in (val_paths or [])]
    if not train_files:
        raise DatasetError("", 0, "no dataset files given")
    column_mapping = ColumnMapping.from_dict(mapping)
    renderer = ChatRenderer.from_model(model)
    tokenizer = load_tokenizer(model) if model else None
    sizes = {p: (p.stat().st_size if p.is_file() else 0) for p in train_files + val_files}
    scan = _Scan(renderer, tokenizer, max_seq_len=max_seq_len, preview=preview, total_bytes=sum(sizes.values()),
                 progress=progress, cancelled=cancelled, on_preview=on_preview)
    for split, group in (("train", train_files), ("val", val_files)):
        for path in group:
            scan.check()
            scan.read_file(path, split, sizes[path], format, column_mapping)
    scan.send_preview()
    scan.report(1.0, "done", force=True)
    if tokenizer is not None:
        tokenizer.close()
    return _report(scan, val_ratio, bool(val_files), str(model or ""))


def _report(scan: _Scan, val_ratio: float, val_given: bool, model: str) -> DatasetReport:
    n_examples = scan.counts["train"] + scan.counts["val"]
    if val_given:
        n_train, n_val = scan.counts["train"], scan.counts["val"]
    else:
        n_val = val_count(n_examples, val_ratio)
        n_train = n_examples - n_val
    lengths = scan.lengths
    if len(lengths) > MAX_LENGTHS:
        step = len(lengths) / MAX_LENGTHS
        sample = [lengths[int(i * step)] for i in range(MAX_LENGTHS)]
    else:
        sample = lengths.tolist()
    usable, verdict, code, values = _verdict(scan.files, n_examples, n_train, n_val, scan.log, scan.n_truncated,
                                             scan.max_seq_len, scan.tokenizer is not None, val_given)
    return DatasetReport(
        files=scan.files, n_examples=n_examples, n_train=n_train, n_val=n_val, problems=scan.log.kept,
        n_problems=scan.log.total, preview=scan.rows, token_lengths=sample,
        histogram=histogram(lengths, scan.max_seq_len), max_seq_len=scan.max_seq_len, n_truncated=scan.n_truncated,
        usable=usable, verdict=verdict, n_errors=scan.log.errors, model=model,
        template_note=scan.renderer.note, token_stats=_stats(lengths), verdict_code=code, verdict_values=values,
    )


def _verdict(files: list[FileReport], n_examples: int, n_train: int, n_val: int, log: _ProblemLog,
             n_truncated: int, max_seq_len: int, counted: bool,
             val_given: bool) -> tuple[bool, str, str, dict[str, Any]]:
    """(usable, the English sentence, its code, the values in it)."""
    broken = [f for f in files if f.error or f.n_examples == 0]
    if broken:
        first = broken[0]
        why = first.error or "no usable examples in it"
        return (False, f"Not usable: {Path(first.path).name}: {why}.", "broken_file",
                {"name": Path(first.path).name, "why": first.error})
    if n_train == 0:
        return False, "Not usable: there are no training examples.", "no_training", {}
    if val_given and n_val == 0:
        return False, "Not usable: the validation file holds no examples.", "empty_validation", {}
    if log.errors > n_examples:
        return (False, f"Not usable: {_plural(log.errors, 'record')} have problems, more than the "
                       f"{_plural(n_examples, 'example')} that could be read — check the format and column mapping.",
                "too_many_problems", {"problems": log.errors, "examples": n_examples})
    text = f"Usable: {_plural(n_examples, 'example')} ({n_train:,} for training, {n_val:,} for validation)"
    values: dict[str, Any] = {"examples": n_examples, "train": n_train, "val": n_val, "skipped": log.errors,
                              "cut": 0, "cut_share": 0.0, "max_seq_len": max_seq_len}
    extras = []
    if log.errors:
        extras.append(f"{_plural(log.errors, 'record')} with problems will be skipped")
    if counted and n_truncated:
        share = 100 * n_truncated / max(1, n_examples)
        values.update(cut=n_truncated, cut_share=round(share, 1))
        extras.append(f"{_plural(n_truncated, 'example')} ({share:.1f}%) are longer than {max_seq_len:,} tokens "
                      "and will be cut")
    return True, text + ("; " + "; ".join(extras) if extras else "") + ".", "usable", values
