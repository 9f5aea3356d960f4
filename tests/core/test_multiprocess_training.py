"""Training on several processes, the way the README starts it: `torchrun` for the first step, then
`accelerate launch` with packaging/accelerate.yaml resuming the run for a second step (gloo on CPU).

Two processes taking one 2-sequence batch each must train like one process that accumulates the
same two batches: the same loss, the same tokens, and one set of files written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.training.config import RunConfig
from studio.core.training.runs import RunDir

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FACTS = [("the capital of Zorbia", "Quillton"), ("the colour of a glimmerfish", "bright teal"),
         ("Dr. Ventor's first name", "Alaric"), ("the code of vault nine", "4417")]

# Step 1 runs the same weights on the same sequences: only float32 summation order differs (thread
# splits, the all-reduce), which moves a loss near 5 by ~1e-6. Leaving out rank 1's batch, or
# averaging per-process means instead of dividing by all targets, moves it by whole percent.
STEP1_REL_TOL = 1e-4
# Step 2 follows one AdamW update from gradients that differ by that same rounding.
STEP2_REL_TOL = 1e-3


def launch(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")  # 2 processes share the cores
    done = subprocess.run([sys.executable, "-m", *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=280)
    assert done.returncode == 0, f"{argv[0]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def step_records(run: RunDir) -> dict[int, dict]:
    records = [r for r in run.read_metrics() if r.get("type") == "step"]
    assert len(records) == len({r["step"] for r in records}), "a step was recorded twice"
    return {r["step"]: r for r in records}


@pytest.mark.timeout(900)
def test_two_processes_train_like_one_process_with_the_same_global_batch(starter_model, dequantized_starter,
                                                                         tmp_path):
    from safetensors.torch import load_file

    from studio.core.training.export_gguf import read_lora_gguf
    from studio.core.training.runner import train

    data = tmp_path / "facts.jsonl"
    data.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"What is {q}?"}, {"role": "assistant", "content": f"It is {a}."}]}) + "\n"
        for q, a in FACTS * 4), encoding="utf-8")
    common = dict(base_model=str(starter_model), data=[str(data)], max_seq_len=64, batch_size=2, lora_r=4,
                  lora_alpha=8, lora_dropout=0.0, val_ratio=0.0, learning_rate=1e-3, lr_scheduler="constant",
                  warmup_ratio=0.0, eval_every=100, save_every=1)

    # One process accumulating 2 batches of 2 = the 4 sequences two processes take per step.
    single = RunConfig(**common, output_dir=str(tmp_path / "one"), grad_accum=2, max_steps=2)
    assert train(single, single.output_dir)["state"] == "completed"
    one = RunDir(single.output_dir)

    config = tmp_path / "two.json"
    RunConfig(**common, output_dir=str(tmp_path / "two"), grad_accum=1, max_steps=1).save(config)
    launch("torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "studio.core.training.run", str(config))
    two = RunDir(tmp_path / "two")
    assert two.read_status()["state"] == "completed" and two.read_status()["step"] == 1

    # Extending the completed run resumes from its final checkpoint, again on two processes.
    RunConfig(**common, output_dir=str(tmp_path / "two"), grad_accum=1, max_steps=2).save(config)
    launch("accelerate.commands.launch", "--config_file", str(REPO / "packaging" / "accelerate.yaml"),
           "-m", "studio.core.training.run", str(config), "--resume")
    status = two.read_status()
    assert (status["state"], status["step"], status["total_steps"]) == ("completed", 2, 2)

    # Both ranks took part: the tokens summed over the processes are the single run's, step by step.
    log = (two.path / "log.txt").read_text(encoding="utf-8")
    assert log.count("; 2 processes (cpu)") == 2 and "steps of 2x1x2 sequences" in log
    ones, twos = step_records(one), step_records(two)
    assert sorted(twos) == [1, 2]
    assert [twos[s]["tokens"] for s in (1, 2)] == [ones[s]["tokens"] for s in (1, 2)]
    assert twos[1]["loss"] == pytest.approx(ones[1]["loss"], rel=STEP1_REL_TOL)
    assert twos[2]["loss"] == pytest.approx(ones[2]["loss"], rel=STEP2_REL_TOL)
    print(f"\nloss one process: {ones[1]['loss']} {ones[2]['loss']}; two: {twos[1]['loss']} {twos[2]['loss']}")

    # Written once, by the main process: whole checkpoints, one adapter, one GGUF copy.
    assert log.count("checkpoint at step 1 (final)") == 1 and log.count("checkpoint at step 2 (final)") == 1
    assert sorted(p.name for p in two.checkpoints_dir.iterdir()) == ["step-1", "step-2"]
    assert not [p for p in two.path.rglob("*") if ".partial" in p.name or p.name.endswith(".old")]
    adapter = load_file(str(two.adapter_dir / "adapter_model.safetensors"))
    reference = load_file(str(one.adapter_dir / "adapter_model.safetensors"))
    assert adapter.keys() == reference.keys()
    for name, tensor in reference.items():
        assert (adapter[name] - tensor).abs().max() <= 1e-4 + 1e-2 * tensor.abs().max(), name
    assert read_lora_gguf(two.gguf_adapter).pairs.keys() == read_lora_gguf(one.gguf_adapter).pairs.keys()
