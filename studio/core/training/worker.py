"""Trainer worker: `python -m studio.core.training.worker`, one op, "train".

params {config: RunConfig dict, resume: bool}; events "status", "step", "eval", "checkpoint", "log",
"checkpoint_skipped" {checkpoint, problem, kept_as, resumed_from, message};
result {state, step, total_steps, run_dir, adapter_dir, gguf_adapter, train_loss, val_loss}.
A cancel request stops between micro-batches and saves a usable adapter at the last step.
"""

from __future__ import annotations

import os
import time
from typing import Any

from studio.core.training.base_model import INSTALL_TRAIN_EXTRA, missing_packages
from studio.core.training.config import ConfigError, RunConfig
from studio.core.workers.protocol import Request, WorkerError, serve

STEP_EVENT_INTERVAL = 0.1  # at most ~10 step events a second, so a fast run never floods the UI


class _Throttle:
    """Passes events through, but "step" events no more often than every STEP_EVENT_INTERVAL;
    the last step of a run always goes out. Every step is in metrics.jsonl regardless."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.last_step_at = 0.0

    def __call__(self, event: str, **data: Any) -> None:
        if event == "step":
            now = time.monotonic()
            final = data.get("step") == data.get("total_steps")
            if not final and now - self.last_step_at < STEP_EVENT_INTERVAL:
                return
            self.last_step_at = now
        self.request.emit(event, **data)


TRAINING_PACKAGES = ("torch", "transformers", "peft", "safetensors")


def missing_training_packages() -> list[str]:
    return missing_packages(TRAINING_PACKAGES)


def handle_train(request: Request) -> dict[str, Any]:
    missing = missing_training_packages()
    if missing:  # e.g. the app bundle, which leaves the [train] extra out to stay small
        raise WorkerError("missing_packages",
                          f"fine-tuning needs {', '.join(missing)}, which this installation lacks. "
                          + INSTALL_TRAIN_EXTRA)
    from studio.core.training.runner import TrainingError, train

    try:
        config = RunConfig.from_dict(request.params.get("config") or {})
    except ConfigError as exc:
        raise WorkerError("config", str(exc)) from None
    problems = config.validate()
    if problems:
        raise WorkerError("config", " ".join(problems))
    if not config.output_dir:
        config = config.resolved()
    try:
        return train(config, config.output_dir, resume=bool(request.params.get("resume")),
                     emit=_Throttle(request), cancelled=lambda: request.cancelled)
    except TrainingError as exc:
        message = exc.message + (f" — {exc.suggestion}" if exc.suggestion else "")
        raise WorkerError(exc.kind, message) from None


def main() -> None:
    # Training saturates every core for minutes; a lower priority lets the window (and a chat)
    # take the CPU the moment they need it, at little cost to the run when they are idle.
    try:
        os.nice(int(os.environ.get("STUDIO_TRAINER_NICE", "10")))
    except (AttributeError, OSError, ValueError):
        pass  # Windows, or not permitted: run at normal priority
    serve({"train": handle_train}, name="trainer")


if __name__ == "__main__":
    main()
