"""Headless training: `python -m studio.core.training.run CONFIG.json [--resume]`.

The same file runs unchanged on several processes (one per GPU, or several on CPU):
    torchrun --standalone --nproc_per_node N -m studio.core.training.run CONFIG.json
    accelerate launch --config_file packaging/accelerate.yaml -m studio.core.training.run CONFIG.json
The runner's Accelerator shares the batches out, and only rank 0 writes or prints.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any, Sequence


def _printer(main_process: bool) -> Any:
    def emit(event: str, **data: Any) -> None:
        if not main_process:
            return
        if event == "step":
            print(f"step {data['step']}/{data['total_steps']}  loss {data['loss']:.4f}  lr {data['lr']:.2e}  "
                  f"{data['tokens_per_s']:.0f} tok/s  eta {data['eta_s']:.0f}s", flush=True)
        elif event == "eval":
            print(f"step {data['step']}  val_loss {data['val_loss']:.4f}", flush=True)
        elif event == "log":
            print(data["line"], flush=True)
    return emit


def _single_process_launch() -> bool:
    """`accelerate launch --cpu --num_processes N` sets up N processes' rendezvous but starts one."""
    return (os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") and "MASTER_ADDR" in os.environ
            and "WORLD_SIZE" not in os.environ)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.core.training.run", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a run config JSON file")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    args = parser.parse_args(argv)

    from studio.core.training.config import ConfigError, RunConfig
    from studio.core.training.runner import TrainingError, train

    main_process = os.environ.get("RANK", "0") == "0"
    if main_process and _single_process_launch():
        print("note: `accelerate launch --cpu` starts ONE process whatever --num_processes says; for several, "
              "use `accelerate launch --config_file packaging/accelerate.yaml` or torchrun (see the README)",
              file=sys.stderr, flush=True)
    try:
        config = RunConfig.load(args.config)
        config.check()
        config = config.resolved()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    interrupted: list[bool] = []

    def on_sigint(_signum: int, _frame: Any) -> None:
        if interrupted:  # a second Ctrl+C: stop now
            raise KeyboardInterrupt
        interrupted.append(True)
        print("stopping after this step and saving the adapter (Ctrl+C again to abort)", file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        result = train(config, config.output_dir, resume=args.resume, emit=_printer(main_process),
                       cancelled=lambda: bool(interrupted))
    except TrainingError as exc:
        print(f"error: {exc.message}" + (f"\n{exc.suggestion}" if exc.suggestion else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if main_process:
        print(f"{result['state']}: step {result['step']}/{result['total_steps']}, adapter {result['adapter_dir']}"
              + (f", GGUF {result['gguf_adapter']}" if result.get("gguf_adapter") else ""), flush=True)
    return 0 if result["state"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
