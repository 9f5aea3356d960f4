"""`studio dataset check FILE...`: what the Fine-tune screen would say about a dataset, in a terminal.

Exit status (studio.cli.exits): OK usable, FAILED unusable (each problem printed as
`file:line: message`), USAGE bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from studio.cli import exits
from studio.cli.exits import CliError
from studio.cli.resolve import resolve_model
from studio.core.datasets import FORMATS, DatasetError, scan_dataset

COMMANDS = ("dataset",)
_MAPPING_FIELDS = ("instruction", "input", "output", "system", "prompt", "completion", "text")
_SHOWN_PROBLEMS = 50


def register(subparsers: Any) -> None:
    dataset = subparsers.add_parser("dataset", help="check a fine-tuning dataset before training")
    dataset_sub = dataset.add_subparsers(dest="dataset_command")
    check = dataset_sub.add_parser("check", help="detect the format, count examples and tokens, list problems")
    check.add_argument("files", nargs="+", metavar="FILE", help="JSONL, JSON, CSV, TSV or .txt files")
    check.add_argument("--format", choices=FORMATS, default=None, help="record format (default: detected)")
    check.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                       help=f"column mapping, repeatable; FIELD is one of {', '.join(_MAPPING_FIELDS)}")
    check.add_argument("--model", default=None,
                       help="base model (.gguf, library name or HF folder) for its chat template and token counts")
    check.add_argument("--max-seq-len", type=int, default=512, help="max sequence length in tokens (default 512)")
    check.add_argument("--val", action="append", default=[], metavar="FILE", help="a validation file (repeatable)")
    check.add_argument("--val-ratio", type=float, default=0.1, help="share held out for validation (default 0.1)")
    check.add_argument("--strict", action="store_true", help="also exit 1 when any record has a problem")
    check.add_argument("--json", action="store_true", help="print the whole report as one JSON object")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "dataset_command", "check") != "check":
        raise CliError("usage", "usage: studio dataset check FILE... [--format F] [--model M] [--max-seq-len N] [--json]")
    if args.max_seq_len <= 0:
        raise CliError("usage", "--max-seq-len must be a positive number of tokens")
    if not 0 <= args.val_ratio < 1:
        raise CliError("usage", "--val-ratio must be at least 0 and below 1")
    mapping: dict[str, str] = {}
    for item in args.map:
        field, sep, column = item.partition("=")
        if not sep or field.strip() not in _MAPPING_FIELDS or not column:
            raise CliError("usage", f"--map {item!r}: expected FIELD=COLUMN with FIELD one of {', '.join(_MAPPING_FIELDS)}")
        mapping[field.strip()] = column
    missing = [f for f in [*args.files, *args.val] if not Path(f).exists()]
    if missing:
        raise CliError("usage", f"no such file: {missing[0]}")
    model = resolve_model(args.model, folders=True, as_given=True) if args.model else None
    try:
        report = scan_dataset(args.files, format=args.format, mapping=mapping or None, model=model,
                              max_seq_len=args.max_seq_len, val_paths=args.val or None, val_ratio=args.val_ratio,
                              preview=3)
    except DatasetError as exc:  # files become problems in the report; this is about --model
        raise CliError("usage", str(exc)) from None
    usable = report.usable and not (args.strict and report.n_errors)
    if args.json:
        data = report.to_dict()
        data["exit_code"] = exits.OK if usable else exits.FAILED
        print(json.dumps(data, ensure_ascii=False))
    else:
        _print(report, usable)
    return exits.OK if usable else exits.FAILED


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _print(report: Any, usable: bool) -> None:
    out = sys.stdout
    for f in report.files:
        name = Path(f.path).name
        role = " (validation)" if f.split == "val" else ""
        if f.error:
            print(f"{name}{role}: unusable — {f.error}", file=out)
            continue
        print(f"{name}{role}: {f.describe()}; {_count(f.n_examples, 'example')}, {_count(f.n_problems, 'problem')}",
              file=out)
        if f.mapping:
            cols = ", ".join(f"{k}={v}" for k, v in f.mapping.items())
            print(f"  columns: {cols}", file=out)
    print(f"examples: {report.n_examples:,} ({report.n_train:,} train, {report.n_val:,} validation)", file=out)
    if report.model:
        s = report.token_stats
        if s:
            print(f"tokens ({Path(report.model).name}): min {s['min']:,}, median {s['median']:,}, "
                  f"95% {s['p95']:,}, max {s['max']:,}; {report.n_truncated:,} longer than "
                  f"{report.max_seq_len:,} (would be cut)", file=out)
    if report.template_note:
        print(f"template: {report.template_note}", file=out)
    if report.problems:
        print("problems:", file=out)
        for p in report.problems[:_SHOWN_PROBLEMS]:
            print(f"  {p}", file=out)
        more = report.n_problems - min(len(report.problems), _SHOWN_PROBLEMS)
        if more > 0:
            print(f"  … and {more:,} more (use --json for the first 500)", file=out)
    verdict = report.verdict
    if usable != report.usable:  # --strict turned problems into failure
        verdict = f"Not usable with --strict: {report.n_errors:,} records have problems."
    print(verdict, file=out)

