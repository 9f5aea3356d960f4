"""`studio` command line: the GUI by default, plus Qt-free companions (chat, models, dataset, train,
tokenize, attention, next), one module per command group.

Each command module has COMMANDS (the names it registers), register(subparsers) and run(args) -> int,
and imports its core modules (and torch, through the workers) inside run(), so every command starts
fast. Nothing here imports Qt unless the GUI is asked for. Bad input prints one human line on stderr
and exits with the code from studio.cli.exits; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from studio.cli import chat, dataset, exits, inspect, models, train
from studio.cli.exits import CliError

_MODULES = (chat, models, dataset, train, inspect)  # in the order `studio --help` lists them
_BY_COMMAND = {command: module for module in _MODULES for command in module.COMMANDS}

__all__ = ["CliError", "gui_main", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Local LLM Studio: chat with GGUF models offline.")
    sub = parser.add_subparsers(dest="command")
    gui = sub.add_parser("gui", help="open the app (the default); files given open in it (a running app gets them)")
    gui.add_argument("files", nargs="*", metavar="FILE", help="a .gguf model to load, or dataset files for Fine-tune")
    for module in _MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--run-worker"] and len(argv) >= 2:  # frozen bundles start workers this way
        import runpy
        if os.environ.get("STUDIO_RUNTIME_PATH"):  # the GPU runtime (studio.core.workers.runtime) goes first
            sys.path.insert(0, os.environ["STUDIO_RUNTIME_PATH"])
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__")
        return exits.OK
    if argv and _is_file_argument(argv[0]):  # `studio model.gguf data.jsonl` opens them in the app
        return gui_main(argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (or --help)
        return int(exc.code or 0)
    if args.command in (None, "gui"):
        return gui_main(getattr(args, "files", None) or [])
    try:
        return int(_BY_COMMAND[args.command].run(args))
    except CliError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return exits.INTERRUPTED


_FILE_SUFFIXES = (".gguf", ".jsonl", ".json", ".csv", ".tsv", ".txt")  # models, and datasets for Fine-tune


def _is_file_argument(arg: str) -> bool:
    """`studio FILE`: a model or dataset name, or any existing path that is not a command's name."""
    if arg in _BY_COMMAND or arg == "gui" or arg.startswith("-"):
        return False
    return arg.lower().endswith(_FILE_SUFFIXES) or os.path.exists(arg)


def gui_main(files: Sequence[str] | None = None) -> int:
    """The app, with these files opened in it (`local-llm-studio FILE…`: the command line's). With an
    app already running for the same data folder, the files go to that window instead
    (studio.ui.single_instance) and this returns at once."""
    from studio.ui.app import run_app
    if files is None:
        files = sys.argv[2:] if sys.argv[1:2] == ["gui"] else sys.argv[1:]
    return run_app([sys.argv[0], *[f if f.startswith("-") else os.path.abspath(f) for f in files]])
