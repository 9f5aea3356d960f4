"""Datasets for fine-tuning: detection, streaming parsing, validation with file:line problems,
rendering with the base model's chat template, and token statistics. Qt-free and torch-free."""

from studio.core.datasets.parse import (
    CONTAINERS, ExampleReader, FormatGuess, detect_format, iter_examples, load_examples, split_examples,
    val_count,
)
from studio.core.datasets.records import (
    FORMAT_TITLES, FORMATS, ColumnMapping, DatasetError, Example, Problem, guess_mapping,
)
from studio.core.datasets.render import (
    ChatRenderer, HFTokenizer, Rendered, RenderError, VocabTokenizer, load_tokenizer, token_label_mask,
)
from studio.core.datasets.report import (
    DatasetReport, FileReport, PreviewRow, ScanCancelled, histogram, scan_dataset,
)
from studio.core.datasets.textio import MAX_LINE_BYTES, detect_encoding

__all__ = [
    "CONTAINERS", "FORMATS", "FORMAT_TITLES", "MAX_LINE_BYTES",
    "ChatRenderer", "ColumnMapping", "DatasetError", "DatasetReport", "Example", "ExampleReader", "FileReport",
    "FormatGuess", "HFTokenizer", "PreviewRow", "Problem", "RenderError", "Rendered", "ScanCancelled",
    "VocabTokenizer", "detect_encoding", "detect_format", "guess_mapping", "histogram", "iter_examples",
    "load_examples", "load_tokenizer", "scan_dataset", "split_examples", "token_label_mask", "val_count",
]
