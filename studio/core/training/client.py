"""Asyncio client of the trainer worker. Torch-free: the GUI imports it.

    client = TrainerClient()
    client.subscribe("step", lambda **e: ...)      # also "status", "eval", "checkpoint", "log", "finished",
                                                    # "checkpoint_skipped" (a damaged checkpoint a resume set aside)
    result = await client.start(config)             # {state: completed|cancelled|failed, ...}
    await client.cancel()                           # from elsewhere: saves the adapter at the last step

A worker that dies (killed, out of memory) marks the run failed with its log tail and a suggestion;
the run stays resumable from its last checkpoint: `await client.start(config, resume=True)`.
A resume that fails before training changes the run (no checkpoint loads, or a completed run being
extended) leaves the run's state as it was: the result then has `resume_failed: True` and
`run_state` (e.g. "completed"). Resuming a completed run that asks for no more steps returns
{state: "completed", already_complete: True, message} without training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from studio.core.training.config import RunConfig
from studio.core.training.runs import RunDir, mark_failed, suggestion_for
from studio.core.workers.client import ServiceClient
from studio.core.workers.protocol import WorkerCancelled, WorkerError

TRAINER_MODULE = "studio.core.training.worker"
EVENTS = ("status", "step", "eval", "checkpoint", "checkpoint_skipped", "log")


@dataclass
class TrainParams:
    config: dict[str, Any]   # RunConfig.to_dict()
    resume: bool = False


class TrainResult(TypedDict, total=False):
    state: str               # completed, cancelled or failed
    step: int
    total_steps: int
    run_dir: str
    adapter_dir: str | None
    gguf_adapter: str | None
    train_loss: float | None
    val_loss: float | None
    cancelled: bool          # only on the wire (the protocol's cancellation rule)


class TrainerClient(ServiceClient):
    def __init__(self, *, env: dict[str, str] | None = None) -> None:
        super().__init__(TRAINER_MODULE, name="trainer", env=env)
        self.run_dir: Path | None = None

    @property
    def running(self) -> bool:
        """A run is in progress (the UI's name for `busy`)."""
        return self.busy

    async def start(self, config: RunConfig, *, resume: bool = False) -> dict[str, Any]:
        """Run (or resume) training to the end; returns the result dict. Problems with the config
        raise WorkerError(kind="config") before anything starts; failures during the run come back
        as {state: "failed", error, suggestion, log_tail, resumable}."""
        if self.running:
            raise WorkerError("busy", "a training run is already in progress")
        problems = config.validate()
        if problems:
            raise WorkerError("config", " ".join(problems))
        config = config.resolved()
        self.run_dir = Path(config.output_dir)
        try:
            result = await self._run("train", TrainParams(config.to_dict(), resume), on_event=self._forward)
        except WorkerCancelled as cancelled:  # the runner's own result, or none if it had not started
            result = cancelled.partial or {"state": "cancelled", "run_dir": str(self.run_dir)}
        except WorkerError as exc:
            if exc.kind in ("config", "missing_packages"):  # nothing started: no run to mark failed
                raise
            result = self._failed(exc, resume=resume)
        self.emit("finished", **result)
        return result

    def _forward(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name in EVENTS:
            self.emit(name, **{k: v for k, v in event.items() if k not in ("id", "event")})

    def _failed(self, exc: WorkerError, *, resume: bool = False) -> dict[str, Any]:
        assert self.run_dir is not None
        run = RunDir(self.run_dir)
        if exc.kind == "worker_crashed":
            if not resume or run.read_status().get("state") == "running" or run.resume_backup_dir.is_dir():
                # The worker could not write its own obituary: record it, with its last words from stderr.
                # (A resume it had not yet changed anything for is put back as it was instead.)
                mark_failed(self.run_dir, exc.message, log_tail=_last_lines(exc.log_tail, 15))
            else:  # it died before the runner started: the run was never touched
                run.write_status(resume_error=exc.message, resume_suggestion=suggestion_for(exc.message))
        status = run.read_status()
        tail = run.log_tail() or exc.log_tail
        undone = bool(status.get("resume_error")) and status.get("state") != "running"
        if undone:
            error, suggestion = status["resume_error"], status.get("resume_suggestion") or ""
        else:
            error = status.get("error") or exc.message
            suggestion = status.get("suggestion") or suggestion_for(exc.message + "\n" + tail)
        state = run.effective_state(status)
        resumable = run.last_checkpoint() is not None and exc.kind != "checkpoint" and state != "completed"
        result = {"state": "failed", "error": error, "kind": exc.kind,
                  "suggestion": suggestion, "log_tail": tail, "run_dir": str(self.run_dir),
                  "resumable": resumable, "step": int(status.get("step") or 0),
                  "total_steps": int(status.get("total_steps") or 0), "adapter_dir": None, "gguf_adapter": None,
                  "train_loss": status.get("train_loss"), "val_loss": status.get("val_loss")}
        if undone:
            result.update(resume_failed=True, run_state=state)
        return result

    async def close(self, timeout: float = 10.0) -> None:
        await super().close(timeout)


def _last_lines(text: str, n: int) -> str:
    # Progress bars redraw with carriage returns; keep only what each line ended as.
    lines = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join([line for line in lines if line.strip()][-n:])
