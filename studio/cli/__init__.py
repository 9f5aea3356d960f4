"""`studio` command line: the GUI by default, plus Qt-free companions (chat, models, dataset, train,
tokenize, attention, next), one module per command group.

Each command module has COMMANDS (the names it registers), register(subparsers) and run(args) -> int,
and imports its core modules (and torch, through the workers) inside run(), so every command starts
fast. Nothing here imports Qt unless the GUI is asked for. Bad input prints one human line on stderr
and exits with the code from studio.cli.exits; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
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
    sub.add_parser("gui", help="open the app (the default)")
    for module in _MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--run-worker"] and len(argv) >= 2:  # frozen bundles start workers this way
        import runpy
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__")
        return exits.OK
    if argv and argv[0].lower().endswith(".gguf"):  # `studio model.gguf` opens it in the app
        return gui_main()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (or --help)
        return int(exc.code or 0)
    if args.command in (None, "gui"):
        return gui_main()
    try:
        return int(_BY_COMMAND[args.command].run(args))
    except CliError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return exits.INTERRUPTED


def gui_main() -> int:
    from studio.ui.app import run_app
    return run_app([sys.argv[0], *[a for a in sys.argv[1:] if a != "gui"]])
