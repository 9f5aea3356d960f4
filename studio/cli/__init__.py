"""`studio` command line: the GUI by default, plus Qt-free companions (chat, models, dataset, train,
tokenize, attention, next), one module per command group.

Each command module has COMMANDS (the names it registers), register(subparsers) and run(args) -> int,
and imports its core modules (and torch, through the workers) inside run(), so every command starts
fast. The command modules themselves are imported only when a command line is parsed
(COMMAND_MODULES: command name → module), never for the plain GUI start (`studio`, `studio gui FILE…`,
`studio FILE…`). Nothing here imports Qt unless the GUI is asked for. Bad input prints one human line on stderr
and exits with the code from studio.cli.exits; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from studio.cli import exits
from studio.cli.exits import CliError

# Command name → the module that registers and runs it, in the order `studio --help` lists them.
# Modules are imported only when the command line is parsed (never for the plain GUI start, which
# must stay fast), so a new command is one entry here plus its module (COMMANDS, register, run).
# A module may register several commands: list each of them, all with that module.
COMMAND_MODULES: dict[str, str] = {
    "chat": "studio.cli.chat",
    "models": "studio.cli.models",
    "dataset": "studio.cli.dataset",
    "train": "studio.cli.train",
    "tokenize": "studio.cli.inspect",
    "attention": "studio.cli.inspect",
    "next": "studio.cli.inspect",
    "serve": "studio.cli.serve",
    "docs": "studio.cli.docs",
}

__all__ = ["CliError", "gui_main", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Local LLM Studio: chat with GGUF models offline.")
    sub = parser.add_subparsers(dest="command")
    gui = sub.add_parser("gui", help="open the app (the default); files given open in it (a running app gets them)")
    gui.add_argument("files", nargs="*", metavar="FILE", help="a .gguf model to load, or dataset files for Fine-tune")
    for module in _command_modules():
        module.register(sub)
    return parser


def _command_modules() -> list:
    """The command modules, imported now, each once, in COMMAND_MODULES order."""
    modules = []
    for path in dict.fromkeys(COMMAND_MODULES.values()):
        module = importlib.import_module(path)
        missing = [c for c in module.COMMANDS if COMMAND_MODULES.get(c) != path]
        if missing:  # a command its module registers but the table does not route to it
            raise RuntimeError(f"studio.cli.COMMAND_MODULES lacks {missing} (registered by {path})")
        modules.append(module)
    return modules


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
    if opens_app_directly(argv):
        return gui_main(argv[1:])  # the app: no parser, no command modules (start-up stays short)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (or --help)
        return int(exc.code or 0)
    if args.command in (None, "gui"):
        return gui_main(getattr(args, "files", None) or [])
    try:
        return int(importlib.import_module(COMMAND_MODULES[args.command]).run(args))
    except CliError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return exits.INTERRUPTED


def opens_app_directly(argv: Sequence[str]) -> bool:
    """`studio`, `studio gui FILE…` or `studio FILE…`: the app, without parsing a command line."""
    argv = list(argv)
    if argv and _is_file_argument(argv[0]):
        return True
    return not argv or (argv[0] == "gui" and not any(a.startswith("-") for a in argv[1:]))


_FILE_SUFFIXES = (".gguf", ".jsonl", ".json", ".csv", ".tsv", ".txt")  # models, and datasets for Fine-tune


def _is_file_argument(arg: str) -> bool:
    """`studio FILE`: a model or dataset name, or any existing path that is not a command's name."""
    if arg in COMMAND_MODULES or arg == "gui" or arg.startswith("-"):
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
