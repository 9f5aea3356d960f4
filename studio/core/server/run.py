"""Run the API server: load the model into a fresh engine, lend it through a workspace, serve HTTP.

Safe by default: it binds 127.0.0.1. Any other interface needs an explicit opt-in (allow_remote)
AND an API key, or the server refuses to start with a sentence.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from studio.core.errors import StudioError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
API_KEY_ENV = "STUDIO_API_KEY"


class ServeRefused(StudioError):
    def __init__(self, message: str) -> None:
        super().__init__("usage", message)


@dataclass
class ServeConfig:
    model: str
    lora: list[dict[str, Any]] = field(default_factory=list)   # [{"path", "scale"}]
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    allow_remote: bool = False
    n_gpu_layers: int = 0
    n_ctx: int = 4096
    n_threads: int | None = None
    queue_timeout_s: float = 120.0


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool, api_key: str | None) -> None:
    """Refuse (ServeRefused) to listen beyond this machine without an explicit opt-in and a key."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise ServeRefused(f"refusing to listen on {host}: other machines could reach the model. Pass "
                           "--allow-remote together with --api-key KEY to allow it, or keep the default 127.0.0.1")
    if not api_key:
        raise ServeRefused(f"refusing to listen on {host} without an API key: pass --api-key KEY (or set "
                           f"{API_KEY_ENV}) so only clients with the key are answered")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="starter", help="a .gguf path or a library name (default: the starter model)")
    parser.add_argument("--lora", action="append", default=[], metavar="ADAPTER[:SCALE]",
                        help="attach a GGUF LoRA adapter, optionally scaled (default 1.0); repeatable")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="interface to listen on (default 127.0.0.1; others need --allow-remote and --api-key)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--api-key", default=None,
                        help=f"clients must send 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}, if set)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host other than this machine (needs --api-key)")
    parser.add_argument("--n-gpu-layers", type=int, default=0, help="layers to offload to the GPU (-1 = all)")
    parser.add_argument("--ctx", type=int, default=4096, help="context length (tokens)")
    parser.add_argument("--threads", type=int, default=None)


def config_from_args(args: argparse.Namespace, model_path: str) -> ServeConfig:
    from studio.core.engine.lora import parse_lora_arg
    api_key = args.api_key if args.api_key is not None else (os.environ.get(API_KEY_ENV) or None)
    if not 0 <= int(args.port) <= 65535:
        raise ServeRefused(f"--port {args.port} is not a port: use a number between 1 and 65535")
    return ServeConfig(model=model_path, lora=[parse_lora_arg(a) for a in args.lora], host=args.host,
                       port=int(args.port), api_key=api_key, allow_remote=bool(args.allow_remote),
                       n_gpu_layers=int(args.n_gpu_layers), n_ctx=int(args.ctx), n_threads=args.threads)


async def serve(config: ServeConfig) -> None:
    """Load the model and answer HTTP until interrupted (SIGINT/SIGTERM). Raises ServeRefused before
    touching anything when the bind is unsafe, WorkerError when the model does not load."""
    import uvicorn

    from studio.core.engine.client import EngineClient
    from studio.core.server.app import ServerOptions, create_app
    from studio.core.settings import EngineSettings
    from studio.core.workspace import Workspace

    check_bind(config.host, config.allow_remote, config.api_key)
    engine = EngineClient(EngineSettings(n_gpu_layers=config.n_gpu_layers, n_threads=config.n_threads))
    try:
        info = await engine.load(config.model, n_ctx=config.n_ctx, lora=config.lora)
        workspace = Workspace(engine)
        workspace.context_length = lambda: config.n_ctx
        app = create_app(workspace, ServerOptions(api_key=config.api_key, n_ctx=config.n_ctx,
                                                  queue_timeout_s=config.queue_timeout_s, adapters=config.lora))
        server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                                               lifespan="off", timeout_graceful_shutdown=3))
        host = f"[{config.host}]" if ":" in config.host else config.host
        note = f"Serving {os.path.basename(info.path)} ({info.backend}, context {config.n_ctx:,}) at " \
               f"http://{host}:{config.port}/v1" + (" — API key required" if config.api_key else "")

        async def announce() -> None:  # only once it really listens
            while not server.started:
                await asyncio.sleep(0.05)
            print(note, file=sys.stderr, flush=True)

        announcer = asyncio.ensure_future(announce())
        try:
            await server.serve()
        except SystemExit:  # uvicorn's answer to a failed bind (it has logged the OS error)
            raise ServeRefused(f"could not listen on {config.host}:{config.port}: the port is in use or the "
                               "address is not one of this machine's") from None
        finally:
            announcer.cancel()
    finally:
        await engine.close()
