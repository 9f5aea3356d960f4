"""Run folders and the run history. Torch-free: the GUI lists runs without loading the trainer.

A run folder holds:
    config.json      the RunConfig it was started with
    status.json      {state, step, total_steps, train_loss, val_loss, error, suggestion, ...}
    metrics.jsonl    one JSON object per logged step ({"type": "step", ...}) or evaluation ({"type": "eval", ...})
    log.txt          what the trainer said
    checkpoints/step-N/   adapter (PEFT safetensors) + optimizer.safetensors + rng.safetensors + state.json
    checkpoints/step-N.damaged/   a checkpoint a resume found unreadable and set aside (never deleted)
    .resume-backup/  status/config/metrics as they were before a resume that has not yet changed the run
    adapter/         the final PEFT adapter (safetensors)     adapter.gguf   the same for llama.cpp
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from studio.core import paths

STATES = ("running", "completed", "cancelled", "failed", "interrupted")
_CHECKPOINT = re.compile(r"^step-(\d+)$")
CHECKPOINT_FILES = ("state.json", "adapter/adapter_model.safetensors", "optimizer.safetensors", "rng.safetensors")
_RESUME_BACKUP = ".resume-backup"
_BACKED_UP = ("status.json", "config.json", "metrics.jsonl")
# Bytes per element of each safetensors dtype: a header whose offsets disagree with its shapes is damaged.
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
                "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}
_MAX_HEADER = 100_000_000  # the safetensors library refuses larger headers too


def runs_root() -> Path:
    path = paths.data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _pid_alive(pid: int | None, started: float | None = None) -> bool:
    """Is the trainer that wrote this status still running? (A reused pid started later is not it.)"""
    if not pid:
        return False
    try:
        import psutil
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or proc.create_time() <= started + 2
    except ImportError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False
    except Exception:  # NoSuchProcess, AccessDenied (another user's pid: not ours)
        return False


class RunDir:
    """One run's folder and the files in it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    log_path = property(lambda self: self.path / "log.txt")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    adapter_dir = property(lambda self: self.path / "adapter")
    gguf_adapter = property(lambda self: self.path / "adapter.gguf")

    def create(self) -> "RunDir":
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    # --- status ---
    def read_status(self) -> dict[str, Any]:
        try:
            data = json.loads(self.status_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_status(self, **changes: Any) -> dict[str, Any]:
        status = self.read_status()
        status.update(changes)
        write_json_atomic(self.status_path, status)
        return status

    def effective_state(self, status: dict[str, Any] | None = None) -> str:
        """"running" only while the trainer process lives; otherwise the run was interrupted."""
        status = self.read_status() if status is None else status
        state = status.get("state") or ("interrupted" if self.config_path.exists() else "failed")
        if state == "running" and not _pid_alive(status.get("pid"), status.get("pid_started")):
            return "interrupted"
        return state

    # --- metrics and log ---
    def append_metric(self, record: dict[str, Any]) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        records = []
        try:
            with open(self.metrics_path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        records.append(json.loads(line))
                    except ValueError:  # a line cut short by a crash
                        continue
        except OSError:
            pass
        return records

    def truncate_metrics(self, step: int) -> None:
        """Drop records past `step`: after resuming from a checkpoint those steps are trained again."""
        kept = [r for r in self.read_metrics() if int(r.get("step", 0)) <= step]
        tmp = self.metrics_path.with_name(".metrics.jsonl.tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, self.metrics_path)

    def append_log(self, line: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:]).rstrip("\n")
        except OSError:
            return ""

    # --- checkpoints ---
    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints (state.json is written last), oldest first."""
        found = []
        if self.checkpoints_dir.is_dir():
            for child in self.checkpoints_dir.iterdir():
                match = _CHECKPOINT.match(child.name)
                if match and (child / "state.json").is_file():
                    found.append((int(match.group(1)), child))
        return sorted(found)

    def checkpoint_dirs(self) -> list[tuple[int, Path]]:
        """Every step-N folder, complete or not, oldest first (what a resume has to consider)."""
        found = []
        if self.checkpoints_dir.is_dir():
            for child in self.checkpoints_dir.iterdir():
                match = _CHECKPOINT.match(child.name)
                if match and child.is_dir():
                    found.append((int(match.group(1)), child))
        return sorted(found)

    def last_checkpoint(self) -> Path | None:
        """The newest checkpoint whose files look whole (headers only: cheap, no torch)."""
        for _step, folder in reversed(self.checkpoints()):
            if checkpoint_problem(folder) is None:
                return folder
        return None

    def set_aside(self, folder: Path) -> Path:
        """Rename a damaged checkpoint out of the resume/prune path, keeping every byte of it."""
        target = folder.with_name(folder.name + ".damaged")
        n = 2
        while target.exists():
            target = folder.with_name(f"{folder.name}.damaged-{n}")
            n += 1
        os.replace(folder, target)
        return target

    # --- a resume that fails before it changes anything leaves the run as it was ---
    @property
    def resume_backup_dir(self) -> Path:
        return self.path / _RESUME_BACKUP

    def back_up_for_resume(self) -> None:
        """Copy status/config/metrics aside. An existing backup is older, hence truer: keep it."""
        backup = self.resume_backup_dir
        if backup.is_dir():
            return
        partial = self.path / (_RESUME_BACKUP + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for name in _BACKED_UP:
            if (self.path / name).is_file():
                shutil.copy2(self.path / name, partial / name)
        os.replace(partial, backup)

    def backup_state(self) -> str | None:
        """The run's state before the pending resume, or None when no resume is pending."""
        try:
            data = json.loads((self.resume_backup_dir / "status.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "interrupted" if self.resume_backup_dir.is_dir() else None
        return self.effective_state(data) if isinstance(data, dict) else "interrupted"

    def restore_resume_backup(self, error: str | None, suggestion: str | None) -> dict[str, Any]:
        """Put status/config/metrics back as they were before the resume, noting why it failed."""
        backup = self.resume_backup_dir
        for name in _BACKED_UP:
            saved = backup / name
            if saved.is_file():
                os.replace(saved, self.path / name)
            elif name == "metrics.jsonl" and (self.path / name).exists():
                os.remove(self.path / name)  # the resume created it
        shutil.rmtree(backup, ignore_errors=True)
        if error is None:
            return self.read_status()
        return self.write_status(resume_error=error, resume_suggestion=suggestion)

    def discard_resume_backup(self) -> None:
        shutil.rmtree(self.resume_backup_dir, ignore_errors=True)

    def resumable(self, state: str | None = None) -> bool:
        state = state or self.effective_state()
        return state in ("interrupted", "failed", "cancelled") and self.last_checkpoint() is not None


@dataclass
class RunSummary:
    path: str
    name: str
    state: str                    # running | completed | cancelled | failed | interrupted
    step: int
    total_steps: int
    train_loss: float | None
    val_loss: float | None
    base_model: str
    data: list[str]
    started: float | None
    ended: float | None
    error: str
    suggestion: str
    resumable: bool
    adapter_dir: str | None
    gguf_adapter: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(run: RunDir) -> RunSummary:
    status = run.read_status()
    state = run.effective_state(status)
    try:
        config = json.loads(run.config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    adapter = run.adapter_dir if (run.adapter_dir / "adapter_config.json").is_file() else None
    gguf = run.gguf_adapter if run.gguf_adapter.is_file() else None
    return RunSummary(
        path=str(run.path), name=run.path.name, state=state,
        step=int(status.get("step") or 0), total_steps=int(status.get("total_steps") or 0),
        train_loss=status.get("train_loss"), val_loss=status.get("val_loss"),
        base_model=str(config.get("base_model", "")), data=list(config.get("data") or []),
        started=status.get("started"), ended=status.get("ended"),
        error=str(status.get("error") or ("the trainer stopped without finishing" if state == "interrupted" else "")),
        suggestion=str(status.get("suggestion") or ""),
        resumable=run.resumable(state), adapter_dir=str(adapter) if adapter else None,
        gguf_adapter=str(gguf) if gguf else None,
    )


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file, judged from its header and size alone, or None."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if size < 8 or len(head) < 8:
                return f"too short to be a safetensors file ({size} bytes)"
            (length,) = struct.unpack("<Q", head)
            if length > min(size - 8, _MAX_HEADER):
                return f"header is not valid, the file is {size} bytes"
            header = json.loads(handle.read(length).decode("utf-8"))
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except (UnicodeDecodeError, ValueError):
        return f"header is not valid, the file is {size} bytes"
    if not isinstance(header, dict):
        return f"header is not valid, the file is {size} bytes"
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            width = _DTYPE_BYTES[entry["dtype"]]
            shape = [int(d) for d in entry["shape"]]
            first, last = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            return f"header entry {name!r} is not valid"
        if min(shape, default=0) < 0 or last - first != math.prod(shape) * width or first < 0:
            return f"header entry {name!r} does not match its shape"
        end = max(end, last)
    have = size - 8 - length
    if end > have:
        return f"truncated: {size} bytes, the header describes {8 + length + end}"
    if end < have:
        return f"{have - end} unexpected bytes after the tensors"
    return None


def checkpoint_problem(folder: Path) -> str | None:
    """"file: problem" for the first damaged or missing file of a checkpoint, or None (headers only)."""
    for name in CHECKPOINT_FILES:
        path = folder / name
        if name.endswith(".json"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return f"{name} is missing"
            except (OSError, UnicodeDecodeError) as exc:
                return f"{name} cannot be read ({exc})"
            except ValueError as exc:
                return f"{name} is not valid JSON ({exc})"
            if not isinstance(data, dict):
                return f"{name} is not a JSON object"
            continue
        problem = safetensors_problem(path)
        if problem == "missing":
            return f"{name} is missing"
        if problem:
            return f"{name}: {problem}"
    return None


def iter_run_dirs(root: Path | None = None) -> Iterator[RunDir]:
    root = root or runs_root()
    if not root.is_dir():
        return
    for child in root.iterdir():
        if child.is_dir() and ((child / "status.json").is_file() or (child / "config.json").is_file()):
            yield RunDir(child)


def list_runs(root: str | os.PathLike[str] | None = None) -> list[RunSummary]:
    """Every run under `root` (default runs_root()), newest first, with its final metrics."""
    summaries = [summarize(run) for run in iter_run_dirs(Path(root) if root else None)]
    summaries.sort(key=lambda s: (s.started or _mtime(s.path)), reverse=True)
    return summaries


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def mark_failed(run_dir: str | os.PathLike[str], error: str, *, log_tail: str = "", suggestion: str = "") -> dict[str, Any]:
    """Record that a run died (called by whoever noticed: the client, or the runner itself)."""
    run = RunDir(run_dir)
    if not run.path.is_dir():
        return {}
    run.append_log(time.strftime("%H:%M:%S ") + "the trainer stopped: " + error)
    if log_tail:
        run.append_log(log_tail)
    if run.resume_backup_dir.is_dir():  # a resume died before it changed the run: leave it as it was
        return run.restore_resume_backup(error, suggestion or suggestion_for(error + "\n" + log_tail))
    return run.write_status(state="failed", resume_error=None, resume_suggestion=None,
                            error=error, suggestion=suggestion or suggestion_for(error + "\n" + log_tail),
                            log_tail=run.log_tail(), ended=time.time(), resumable=run.last_checkpoint() is not None)


def suggestion_for(text: str) -> str:
    """What to try next, read from an error message or log tail."""
    lowered = text.lower()
    if any(s in lowered for s in ("out of memory", "can't allocate memory", "cannot allocate memory", "sigkill",
                                  "outofmemory", "memoryerror", "oom")):
        return ("The trainer ran out of memory. Try a smaller batch size (gradient accumulation keeps the "
                "effective batch), a shorter maximum sequence length, or a lower LoRA rank; then resume.")
    if "nan" in lowered and "loss" in lowered:
        return "The loss became NaN. Lower the learning rate (e.g. 1e-4) and resume or start again."
    if "no space left" in lowered:
        return "The disk is full. Free some space (old runs' checkpoints are large) and resume."
    return "Look at the log tail for the cause; the run can be resumed from its last checkpoint."


class RunInUse(Exception):
    """A run that must not be deleted right now, with a sentence saying why."""


def delete_run(run_dir: str | os.PathLike[str], *, attached_adapters: Iterable[str] = ()) -> None:
    """Delete a run folder, unless its trainer is alive or its adapter is attached in a chat."""
    run = RunDir(run_dir)
    if not (run.path / "status.json").is_file() and not (run.path / "config.json").is_file():
        raise RunInUse(f"{run.path} does not look like a run folder; nothing was deleted")
    if run.effective_state() == "running":
        raise RunInUse("this run is still training: cancel it first")
    adapter = run.path / "adapter.gguf"
    attached = {os.path.realpath(str(a)) for a in attached_adapters}
    if os.path.realpath(adapter) in attached:
        raise RunInUse("this run's adapter is attached in Chat: detach it first")
    shutil.rmtree(run.path)
