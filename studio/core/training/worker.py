"""Trainer worker: `python -m studio.core.training.worker`, one op, "train".

params TrainParams {config: RunConfig dict, resume}; events "status", "step", "eval", "checkpoint",
"log", "checkpoint_skipped" {checkpoint, problem, kept_as, resumed_from, message}; result TrainResult
{state, step, total_steps, run_dir, adapter_dir, gguf_adapter, train_loss, val_loss}.
A cancel request stops between micro-batches and saves a usable adapter at the last step.
"""

from __future__ import annotations

import os
from typing import Any, cast

from studio.core.training.base_model import INSTALL_TRAIN_EXTRA, missing_packages
from studio.core.training.client import TrainParams, TrainResult
from studio.core.training.config import ConfigError, RunConfig
from studio.core.workers.protocol import Request, Worker, WorkerError, operation

STEP_EVENT_INTERVAL = 0.1  # at most ~10 step events a second, so a fast run never floods the UI
TRAINING_PACKAGES = ("torch", "transformers", "peft", "safetensors")


def missing_training_packages() -> list[str]:
    return missing_packages(TRAINING_PACKAGES)


class TrainerWorker(Worker):
    name = "trainer"

    @operation(TrainParams)
    def train(self, request: Request[TrainParams]) -> TrainResult:
        missing = missing_training_packages()
        if missing:  # e.g. the app bundle, which leaves the [train] extra out to stay small
            raise WorkerError("missing_packages",
                              f"fine-tuning needs {', '.join(missing)}, which this installation lacks. "
                              + INSTALL_TRAIN_EXTRA)
        from studio.core.training.runner import TrainingError, train

        try:
            config = RunConfig.from_dict(request.params.config or {})
        except ConfigError as exc:
            raise WorkerError("config", str(exc)) from None
        problems = config.validate()
        if problems:
            raise WorkerError("config", " ".join(problems))
        if not config.output_dir:
            config = config.resolved()

        def emit(event: str, **data: Any) -> None:
            # Every step is in metrics.jsonl; the UI gets a few a second, and always the last one.
            final = event != "step" or data.get("step") == data.get("total_steps")
            request.emit_throttled(event, final=final, interval=STEP_EVENT_INTERVAL, **data)
        try:
            result = cast(TrainResult, train(config, config.output_dir, resume=bool(request.params.resume),
                                             emit=emit, cancelled=lambda: request.cancelled))
        except TrainingError as exc:
            message = exc.message + (f" — {exc.suggestion}" if exc.suggestion else "")
            raise WorkerError(exc.kind, message) from None
        if result.get("state") == "cancelled":  # the protocol's rule: the partial result, flagged
            result["cancelled"] = True
        return result


def main() -> None:
    # Training saturates every core for minutes; a lower priority lets the window (and a chat)
    # take the CPU the moment they need it, at little cost to the run when they are idle.
    try:
        os.nice(int(os.environ.get("STUDIO_TRAINER_NICE", "10")))
    except (AttributeError, OSError, ValueError):
        pass  # Windows, or not permitted: run at normal priority
    TrainerWorker().main()


if __name__ == "__main__":
    main()
