"""`python -m studio.core.server --model PATH [...]`: the API server without the `studio` CLI."""

from __future__ import annotations

import argparse
import asyncio
import sys

from studio.core.server.run import ServeRefused, add_arguments, config_from_args, serve
from studio.core.workers.protocol import WorkerError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.core.server",
                                     description="OpenAI-compatible API over a local GGUF model")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(config_from_args(args, args.model)))
    except (ServeRefused, WorkerError) as exc:
        print(f"studio serve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
