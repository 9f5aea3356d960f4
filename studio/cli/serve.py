"""`studio serve`: an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models) over a
local model, on 127.0.0.1 unless --allow-remote and --api-key say otherwise."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from studio.cli import exits
from studio.cli.exits import CliError
from studio.cli.inputs import check_numbers
from studio.cli.resolve import resolve_model

COMMANDS = ("serve",)

_SERVE_NUMBERS = {"ctx": "n_ctx", "n_gpu_layers": "n_gpu_layers", "threads": "n_threads"}


def register(subparsers: Any) -> None:
    from studio.core.server.run import add_arguments
    serve = subparsers.add_parser("serve", help="an OpenAI-compatible API over a local model")
    add_arguments(serve)


def run(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.core.limits import OutOfRange, check
    from studio.core.server.run import config_from_args, serve

    check_numbers(args, _SERVE_NUMBERS)
    model = resolve_model(args.model)
    try:
        config = config_from_args(args, model)
        for adapter in config.lora:
            check("lora_scale", adapter["scale"], f"the scale of --lora {adapter['path']}")
        asyncio.run(serve(config))
    except OutOfRange as exc:
        raise CliError.from_error(exc) from None
    except StudioError as exc:  # ServeRefused (usage), WorkerError (the model did not load)
        raise CliError.from_error(exc) from None
    except KeyboardInterrupt:
        return exits.INTERRUPTED
    return exits.OK
