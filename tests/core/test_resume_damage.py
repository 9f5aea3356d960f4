"""A damaged checkpoint never strands a run: resume falls back to the newest one that loads, keeps
the damaged one on disk, and a completed run stays completed whatever a resume attempt does.

One real 3-step run (starter model, a checkpoint every step) is trained once; each case works on a
copy of its folder through `studio train --resume`, the command users type."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from studio.core.training.runs import RunDir, checkpoint_problem, safetensors_problem

GARBAGE = b"not a tensor"  # 12 bytes: the 8-byte header length it implies is absurd

FACTS = [("the capital of Zorbia", "Quillton"), ("the colour of a glimmerfish", "bright teal"),
         ("Dr. Ventor's first name", "Alaric")]


def studio_train(*argv: str, capsys) -> tuple[int, str, str]:
    from studio.cli import train as cli_train

    parser = argparse.ArgumentParser(prog="studio")
    cli_train.register(parser.add_subparsers(dest="command"))
    code = cli_train.run(parser.parse_args(["train", *argv]))
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of every file under root (or of root itself), by relative path."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root) if p != root else p.name): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, starter_model, dequantized_starter) -> Path:
    root = tmp_path_factory.mktemp("trained")
    data = root / "facts.jsonl"
    data.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"What is {q}?"}, {"role": "assistant", "content": f"It is {a}."}]}) + "\n"
        for q, a in FACTS * 2), encoding="utf-8")
    config = root / "run.json"
    config.write_text(json.dumps({
        "base_model": str(starter_model), "data": [str(data)], "output_dir": str(root / "run"),
        "max_steps": 3, "save_every": 1, "eval_every": 100, "batch_size": 2, "max_seq_len": 64,
        "lora_r": 4, "lora_alpha": 8, "val_ratio": 0.0, "learning_rate": 1e-3}), encoding="utf-8")
    code, out, err = _run_plain(str(config))
    assert code == 0, err
    run = RunDir(root / "run")
    assert run.read_status()["state"] == "completed"
    assert [n for n, _ in run.checkpoints()] == [2, 3]  # the last two are kept
    return run.path


def _run_plain(*argv: str) -> tuple[int, str, str]:
    """studio train outside capsys (module fixtures cannot use it)."""
    import contextlib
    import io

    from studio.cli import train as cli_train

    parser = argparse.ArgumentParser(prog="studio")
    cli_train.register(parser.add_subparsers(dest="command"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_train.run(parser.parse_args(["train", *argv]))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def run_copy(trained, tmp_path) -> RunDir:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return RunDir(copy)


def interrupted(run: RunDir) -> None:
    """Make the copy look like a run whose trainer died after its step-3 checkpoint."""
    run.write_status(state="running", stage="training", pid=None)
    assert run.effective_state() == "interrupted"


def steps_in(run: RunDir) -> list[int]:
    return [m["step"] for m in run.read_metrics() if m.get("type") == "step"]


@pytest.mark.slow
def test_garbage_optimizer_state_falls_back_to_the_previous_checkpoint(run_copy, capsys):
    interrupted(run_copy)
    bad = run_copy.checkpoints_dir / "step-3" / "optimizer.safetensors"
    bad.write_bytes(GARBAGE)
    step3_before = fingerprint(run_copy.checkpoints_dir / "step-3")

    code, out, err = studio_train("--resume", "--out", str(run_copy.path), capsys=capsys)

    assert code == 0, err
    assert ("checkpoint step-3 is damaged (optimizer.safetensors: header is not valid, the file is 12 bytes); "
            "resuming from step-2 (kept as checkpoints/step-3.damaged)") in out
    assert "resumed from step-2: step 2" in out and "step 3/3" in out and "Traceback" not in out + err
    # The damaged checkpoint is set aside whole, never deleted or overwritten; a fresh step-3 replaces it.
    assert fingerprint(run_copy.checkpoints_dir / "step-3.damaged") == step3_before
    assert checkpoint_problem(run_copy.checkpoints_dir / "step-3") is None
    assert run_copy.read_status()["state"] == "completed"
    assert steps_in(run_copy) == [1, 2, 3]  # step 3 trained again, once
    assert "step-3 is damaged" in run_copy.log_path.read_text(encoding="utf-8")  # the run's log says so too


@pytest.mark.slow
def test_truncated_adapter_of_a_completed_run_being_extended_is_skipped(run_copy, capsys):
    weights = run_copy.checkpoints_dir / "step-3" / "adapter" / "adapter_model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])
    step3_before = fingerprint(run_copy.checkpoints_dir / "step-3")

    code, out, err = studio_train("--resume", "--out", str(run_copy.path), "--max-steps", "4", "--json",
                                  capsys=capsys)

    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    [skipped] = [e for e in events if e["event"] == "checkpoint_skipped"]
    assert skipped["checkpoint"] == "step-3" and skipped["resumed_from"] == "step-2"
    assert skipped["problem"].startswith("adapter/adapter_model.safetensors: truncated")
    assert any(e["event"] == "log" and e["line"] == skipped["message"] for e in events)  # the UI's train log
    assert events[-1]["event"] == "result" and events[-1]["state"] == "completed" and events[-1]["step"] == 4
    assert fingerprint(Path(skipped["kept_as"])) == step3_before
    assert steps_in(run_copy) == [1, 2, 3, 4]


@pytest.mark.slow
def test_when_no_checkpoint_loads_a_completed_run_keeps_everything(run_copy, capsys):
    (run_copy.checkpoints_dir / "step-3" / "optimizer.safetensors").write_bytes(GARBAGE)
    (run_copy.checkpoints_dir / "step-2" / "state.json").write_text("{ cut sh", encoding="utf-8")
    kept = {name: fingerprint(run_copy.path / name)
            for name in ("metrics.jsonl", "adapter", "adapter.gguf", "config.json", "checkpoints")}
    status_before = run_copy.read_status()

    # Extending the completed run (more steps) has to load a checkpoint, and none loads.
    code, out, err = studio_train("--resume", "--out", str(run_copy.path), "--max-steps", "5", capsys=capsys)

    assert code == 1
    assert "Traceback" not in out + err and "Error:" not in err
    [error_line] = [line for line in err.splitlines() if line.startswith("studio train: could not resume:")]
    assert "step-3: optimizer.safetensors: header is not valid" in error_line
    assert "step-2: state.json is not valid JSON" in error_line
    assert f"still at {run_copy.adapter_dir}" in err
    assert "the run is unchanged (still completed)" in err
    assert "--resume" not in err  # never the command that just failed
    assert f"studio train {run_copy.path / 'config.json'} --out {run_copy.path}-2" in err
    for name, before in kept.items():
        assert fingerprint(run_copy.path / name) == before, name
    status = run_copy.read_status()
    assert status["state"] == "completed" and status["step"] == status_before["step"] == 3
    assert "step-3" in status["resume_error"]
    assert not run_copy.resume_backup_dir.exists()


@pytest.mark.slow
def test_resuming_a_completed_run_says_so_and_changes_nothing(run_copy, capsys):
    before = fingerprint(run_copy.path)

    code, out, err = studio_train("--resume", "--out", str(run_copy.path), capsys=capsys)

    assert code == 0, err
    assert f"{run_copy.path.name} is already complete (step 3/3): nothing to resume" in out
    assert "already complete: step 3/3" in out and "step 1/" not in out
    assert fingerprint(run_copy.path) == before


def test_damage_is_named_from_the_headers_alone(tmp_path):
    from safetensors.numpy import save_file
    import numpy as np

    good = tmp_path / "good.safetensors"
    save_file({"w": np.zeros((4, 3), dtype=np.float32)}, str(good))
    assert safetensors_problem(good) is None
    whole = good.read_bytes()
    (tmp_path / "short.safetensors").write_bytes(whole[:-5])
    assert safetensors_problem(tmp_path / "short.safetensors") == (
        f"truncated: {len(whole) - 5} bytes, the header describes {len(whole)}")
    (tmp_path / "junk.safetensors").write_bytes(GARBAGE)
    assert safetensors_problem(tmp_path / "junk.safetensors") == "header is not valid, the file is 12 bytes"
    (tmp_path / "tiny.safetensors").write_bytes(b"abc")
    assert safetensors_problem(tmp_path / "tiny.safetensors") == "too short to be a safetensors file (3 bytes)"
    assert safetensors_problem(tmp_path / "absent.safetensors") == "missing"

    folder = tmp_path / "step-1"
    (folder / "adapter").mkdir(parents=True)
    assert checkpoint_problem(folder) == "state.json is missing"
    (folder / "state.json").write_text("[1]", encoding="utf-8")
    assert checkpoint_problem(folder) == "state.json is not a JSON object"
    (folder / "state.json").write_text("{}", encoding="utf-8")
    assert checkpoint_problem(folder) == "adapter/adapter_model.safetensors is missing"
    for name in ("adapter/adapter_model.safetensors", "optimizer.safetensors", "rng.safetensors"):
        shutil.copy(good, folder / name)
    assert checkpoint_problem(folder) is None
    # A half-written checkpoint folder is never a resume candidate.
    (tmp_path / "run" / "checkpoints" / "step-4.partial").mkdir(parents=True)
    shutil.copytree(folder, tmp_path / "run" / "checkpoints" / "step-1")
    assert [n for n, _ in RunDir(tmp_path / "run").checkpoint_dirs()] == [1]
    assert RunDir(tmp_path / "run").last_checkpoint() == tmp_path / "run" / "checkpoints" / "step-1"
    # Only a damaged checkpoint left: the run no longer offers a resume that would fail.
    (tmp_path / "run" / "checkpoints" / "step-1" / "rng.safetensors").write_bytes(GARBAGE)
    assert RunDir(tmp_path / "run").last_checkpoint() is None
    assert not RunDir(tmp_path / "run").resumable("interrupted")
