"""`studio train`: fine-tune a LoRA adapter headless, through the same trainer worker the app uses.

    studio train CONFIG.json
    studio train --model starter --data chat.jsonl --out runs/first [--max-steps 50] [--config base.json]

Options given on the command line override the config file. Progress goes to stdout, one line per
step (or one JSON object per event with --json); Ctrl+C cancels and still saves the adapter.
`--resume` continues from the newest checkpoint that loads: a damaged newer one is set aside as
checkpoints/step-N.damaged and named in a log line (and a "checkpoint_skipped" event with --json).
Resuming a completed run without asking for more steps trains nothing and exits 0.
Exit codes (studio.cli.exits): OK completed (or already complete), FAILED failed or cancelled,
USAGE bad input, INTERRUPTED Ctrl+C before the trainer took over.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from studio.cli import exits
from studio.cli.exits import CliError
from studio.cli.resolve import resolve_model

COMMANDS = ("train",)


def register(subparsers: Any) -> None:
    train = subparsers.add_parser("train", help="fine-tune a LoRA adapter on a dataset (no GUI)",
                                  description="Fine-tune a LoRA adapter; writes a PEFT adapter and a GGUF adapter.")
    train.add_argument("config_file", nargs="?", metavar="CONFIG", help="a run config JSON file")
    train.add_argument("--config", dest="config_option", metavar="CONFIG", help="a run config JSON file to start from")
    train.add_argument("--model", help="base model: a .gguf file, a library name (e.g. starter) or a HF folder")
    train.add_argument("--data", nargs="+", action="extend", metavar="FILE", help="training data file(s)")
    train.add_argument("--val-data", nargs="+", action="extend", metavar="FILE", help="validation data file(s)")
    train.add_argument("--out", metavar="DIR", help="the run folder (default: a new folder in the run history)")
    train.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    train.add_argument("--epochs", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--max-seq-len", type=int)
    train.add_argument("--learning-rate", "--lr", type=float, dest="learning_rate")
    train.add_argument("--preset", help="a preset: " + ", ".join(repr(p) for p in _preset_names()))
    train.add_argument("--resume", action="store_true", help="continue the run folder from its last checkpoint")
    train.add_argument("--save-config", metavar="FILE", help="write the final config to FILE and exit")
    train.add_argument("--json", action="store_true", help="print one JSON object per event")


def _preset_names() -> list[str]:
    from studio.core.training.config import PRESETS
    return list(PRESETS)


def build_config(args: argparse.Namespace) -> Any:
    """The RunConfig the arguments describe; raises ConfigError (or CliError for --model) with a
    sentence on bad input."""
    from studio.core.training.config import PRESETS, ConfigError, RunConfig

    config_file = args.config_file or args.config_option
    if args.config_file and args.config_option:
        raise ConfigError("give the config file once (either CONFIG or --config)")
    if not config_file and args.resume and args.out and (Path(args.out) / "config.json").is_file():
        config_file = str(Path(args.out) / "config.json")  # resuming a run folder: its own config
    config = RunConfig.load(config_file) if config_file else RunConfig()
    if args.preset:
        if args.preset not in PRESETS:
            raise ConfigError(f"unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
        for key, value in PRESETS[args.preset].items():
            setattr(config, key, value)
    if args.model:
        # a missing path is left for config.check() to report with any other problem
        config.base_model = resolve_model(args.model, folders=True, as_given=True, unchecked=True)
    if args.data:
        config.data = [str(Path(p)) for p in args.data]
    if args.val_data:
        config.val_data = [str(Path(p)) for p in args.val_data]
    if args.out:
        config.output_dir = args.out
    for name in ("max_steps", "epochs", "batch_size", "max_seq_len", "learning_rate"):
        value = getattr(args, name)
        if value is not None:
            setattr(config, name, value)
    if args.resume and not config.output_dir:
        raise ConfigError("--resume needs the run folder: pass --out DIR (or a config with output_dir)")
    config.check()
    return config.resolved()


def run(args: argparse.Namespace) -> int:
    from studio.core.training.config import ConfigError

    try:
        config = build_config(args)
    except (ConfigError, CliError) as exc:
        print(f"studio train: {exc}", file=sys.stderr)
        return exits.USAGE
    if args.save_config:
        config.save(args.save_config)
        print(f"config written to {args.save_config}")
        return exits.OK
    try:
        return asyncio.run(_train(config, resume=args.resume, as_json=args.json))
    except KeyboardInterrupt:
        return exits.INTERRUPTED


async def _train(config: Any, *, resume: bool, as_json: bool) -> int:
    from studio.core.training.client import TrainerClient
    from studio.core.workers.protocol import WorkerError

    client = TrainerClient()

    def show(event: str):
        def handler(**data: Any) -> None:
            if as_json:
                print(json.dumps({"event": event, **data}, ensure_ascii=False), flush=True)
            elif event == "step":
                print(f"step {data['step']}/{data['total_steps']}  epoch {data['epoch']:.2f}  loss {data['loss']:.4f}  "
                      f"lr {data['lr']:.2e}  {data['tokens_per_s']:.0f} tok/s  eta {_duration(data['eta_s'])}  "
                      f"{data['rss_mb']:.0f} MB", flush=True)
            elif event == "eval":
                print(f"step {data['step']}  validation loss {data['val_loss']:.4f}", flush=True)
            elif event == "status":
                print(f"[{data['stage']}] {data['fraction'] * 100:.0f}%", flush=True)
            elif event == "log":
                print(data["line"], flush=True)
        return handler

    for name in ("status", "step", "eval", "log", "checkpoint_skipped"):
        # status lines are noisy in plain text, and a skipped checkpoint has its own log line
        if as_json or name not in ("status", "checkpoint_skipped"):
            client.subscribe(name, show(name))
    print(f"run folder: {config.output_dir}", file=sys.stderr if as_json else sys.stdout, flush=True)
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(client.start(config, resume=resume))
    try:
        import signal
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(client.cancel()))
    except (NotImplementedError, RuntimeError, ValueError):  # Windows / not the main thread
        pass
    try:
        result = await task
    except WorkerError as exc:
        print(f"studio train: {exc}", file=sys.stderr)
        # Only the trainer's config check (kind "config") is about the input: once it passed, any
        # error is a failed run, whatever its kind.
        return exits.USAGE if exc.kind == "config" else exits.FAILED
    finally:
        await client.close()
    if as_json:
        print(json.dumps({"event": "result", **result}, ensure_ascii=False), flush=True)
    state = result.get("state")
    if state == "failed" and result.get("resume_failed"):
        # Nothing was trained: say so, and never suggest the command that just failed.
        print(f"studio train: could not resume: {result.get('error')}", file=sys.stderr)
        if result.get("suggestion"):
            print(result["suggestion"], file=sys.stderr)
        print(f"the run is unchanged (still {result.get('run_state')}).", file=sys.stderr)
        if result.get("kind") == "checkpoint":
            print(f"start a new run with: studio train {Path(str(result.get('run_dir'))) / 'config.json'} "
                  f"--out {_fresh_folder(Path(str(result.get('run_dir'))))}", file=sys.stderr)
        return exits.FAILED
    if state == "failed":
        print(f"studio train: the run failed: {result.get('error')}", file=sys.stderr)
        if result.get("suggestion"):
            print(result["suggestion"], file=sys.stderr)
        if result.get("resumable"):
            print(f"resume with: studio train --resume --out {result.get('run_dir')}", file=sys.stderr)
        return exits.FAILED
    if not as_json:
        if result.get("already_complete"):
            state = "already complete"  # its log line said why; the adapter paths follow
        print(f"{state}: step {result.get('step')}/{result.get('total_steps')}"
              + (f", train loss {result['train_loss']:.4f}" if result.get("train_loss") is not None else "")
              + (f", validation loss {result['val_loss']:.4f}" if result.get("val_loss") is not None else ""))
        print(f"PEFT adapter: {result.get('adapter_dir')}")
        print(f"GGUF adapter: {result.get('gguf_adapter') or 'not written (' + result.get('gguf_error', 'see the log') + ')'}")
    return exits.OK if result.get("state") == "completed" else exits.FAILED


def _fresh_folder(run_dir: Path) -> Path:
    """A sibling folder name that is not taken, for starting the same run over."""
    n = 2
    while run_dir.with_name(f"{run_dir.name}-{n}").exists():
        n += 1
    return run_dir.with_name(f"{run_dir.name}-{n}")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
