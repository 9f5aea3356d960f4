"""Real LoRA runs on the starter model through the real trainer worker (short: a few steps, seq <= 128)."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from studio.core.training.config import RunConfig
from studio.core.training.runs import RunDir, list_runs

pytestmark = pytest.mark.slow

FACTS = [("the capital of Zorbia", "Quillton"), ("the colour of a glimmerfish", "bright teal"),
         ("Dr. Ventor's first name", "Alaric"), ("the code of vault nine", "4417"),
         ("the name of the blue moon", "Perisse"), ("the fastest grobble", "Tinka")]


def write_memorable(path, repeat=4):
    """Short Q/A pairs the model can memorise in a few steps."""
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(repeat):
            for question, answer in FACTS:
                handle.write(json.dumps({"messages": [
                    {"role": "user", "content": f"What is {question}?"},
                    {"role": "assistant", "content": f"It is {answer}."}]}) + "\n")
    return path


def make_config(starter_model, tmp_path, name, **overrides):
    values = dict(base_model=str(starter_model), data=[str(write_memorable(tmp_path / "facts.jsonl"))],
                  output_dir=str(tmp_path / name), max_steps=6, batch_size=4, max_seq_len=96,
                  learning_rate=2e-3, lr_scheduler="constant", warmup_ratio=0.0, save_every=100,
                  lora_r=8, lora_alpha=16, val_ratio=0.2, eval_every=3)
    values.update(overrides)
    return RunConfig(**values)


def run_async(coro):
    return asyncio.run(asyncio.wait_for(coro, 280))


def test_response_only_masking_labels_exactly_the_replies(starter_model, dequantized_starter):
    from transformers import AutoTokenizer

    from studio.core.datasets import ChatRenderer, Example
    from studio.core.training.runner import IGNORE, tokenize_examples

    tokenizer = AutoTokenizer.from_pretrained(str(dequantized_starter))
    renderer = ChatRenderer.from_model(str(starter_model))
    messages = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a fruit."},
                {"role": "assistant", "content": "A pear."}, {"role": "user", "content": "Another?"},
                {"role": "assistant", "content": "A plum, 李子."})
    example = Example(messages=messages, text=None, path="x.jsonl", line=1)
    [sample], _, _ = tokenize_examples([example], renderer, tokenizer, max_seq_len=128,
                                                     response_only=True)
    # Contiguous runs of labelled tokens, decoded: each is one assistant reply plus its end marker.
    runs, current = [], []
    for token, label in zip(sample.ids, sample.labels):
        if label != IGNORE:
            assert label == token
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    assert [tokenizer.decode(r) for r in runs] == ["A pear.<|im_end|>", "A plum, 李子.<|im_end|>"]
    assert "Name a fruit." in tokenizer.decode(sample.ids)  # the prompt is there, just not labelled

    [whole], _, _ = tokenize_examples([example], renderer, tokenizer, max_seq_len=128, response_only=False)
    assert all(label != IGNORE for label in whole.labels)


def test_a_short_lora_run_through_the_worker_learns_and_writes_everything(starter_model, dequantized_starter, tmp_path):
    from studio.core.training.client import TrainerClient

    config = make_config(starter_model, tmp_path, "run", max_steps=10, save_every=5)
    events: dict[str, list] = {"status": [], "step": [], "eval": [], "checkpoint": [], "log": [], "finished": []}
    client = TrainerClient()
    for name, bucket in events.items():
        client.subscribe(name, lambda bucket=bucket, **e: bucket.append(e))

    async def go():
        try:
            return await client.start(config)
        finally:
            await client.close()
    result = run_async(go())

    assert result["state"] == "completed", result
    assert result["step"] == result["total_steps"] == 10
    run = RunDir(config.output_dir)
    steps = [m for m in run.read_metrics() if m["type"] == "step"]
    assert [m["step"] for m in steps] == list(range(1, 11))
    first, last = [m["loss"] for m in steps[:3]], [m["loss"] for m in steps[-3:]]
    assert sum(last) < 0.5 * sum(first)  # it memorises the facts
    evals = [m for m in run.read_metrics() if m["type"] == "eval"]
    assert evals and evals[-1]["val_loss"] < evals[0]["val_loss"]
    assert (run.adapter_dir / "adapter_model.safetensors").is_file()
    assert json.loads((run.adapter_dir / "adapter_config.json").read_text())["r"] == 8
    # the GGUF adapter llama.cpp loads: the run must write it (its exporter ships with the app)
    assert result["gguf_adapter"] and run.gguf_adapter.stat().st_size > 0, result.get("gguf_error")
    stages = [e["stage"] for e in events["status"]]
    assert "tokenizing" in stages and "training" in stages and "exporting" in stages
    step_event = events["step"][-1]
    for key in ("step", "total_steps", "epoch", "loss", "lr", "tokens_per_s", "eta_s", "rss_mb", "grad_norm"):
        assert key in step_event
    assert events["eval"] and events["log"] and events["finished"][0]["state"] == "completed"
    assert "model SmolLM2" in run.log_path.read_text()
    [summary] = [r for r in list_runs(tmp_path) if r.path == config.output_dir]
    assert summary.state == "completed" and summary.train_loss is not None and summary.adapter_dir


def test_cancel_then_resume_continues_the_same_run(starter_model, dequantized_starter, tmp_path):
    """A cancelled-then-resumed run follows the uninterrupted run's loss step for step: same step
    count, learning rate, data order and optimizer state (Adam's moments), not a restart."""
    from studio.core.training.client import TrainerClient

    total = 5
    reference = make_config(starter_model, tmp_path, "reference", max_steps=total, eval_every=100, lora_dropout=0.0)
    interrupted = make_config(starter_model, tmp_path, "interrupted", max_steps=total, eval_every=100,
                              lora_dropout=0.0)
    client = TrainerClient()
    steps_seen: list[dict] = []
    client.subscribe("step", lambda **e: steps_seen.append(e))

    async def go():
        try:
            ref = await client.start(reference)
            steps_seen.clear()
            task = asyncio.ensure_future(client.start(interrupted))
            while not steps_seen or steps_seen[-1]["step"] < 2:
                await asyncio.sleep(0.05)
            await client.cancel()
            cancelled = await task
            steps_seen.clear()
            resumed = await client.start(interrupted, resume=True)
            return ref, cancelled, resumed, list(steps_seen)
        finally:
            await client.close()
    ref, cancelled, resumed, resumed_steps = run_async(go())

    assert ref["state"] == "completed"
    assert cancelled["state"] == "cancelled" and 2 <= cancelled["step"] < total
    run = RunDir(interrupted.output_dir)
    assert (run.checkpoints_dir / f"step-{cancelled['step']}" / "optimizer.safetensors").is_file()
    assert (run.adapter_dir / "adapter_model.safetensors").is_file()  # a usable adapter at cancel time
    assert resumed["state"] == "completed" and resumed["step"] == total
    assert resumed_steps[0]["step"] == cancelled["step"] + 1  # continues the count, no restart at step 0

    ref_loss = {m["step"]: m["loss"] for m in RunDir(reference.output_dir).read_metrics() if m["type"] == "step"}
    ref_lr = {m["step"]: m["lr"] for m in RunDir(reference.output_dir).read_metrics() if m["type"] == "step"}
    metrics = [m for m in run.read_metrics() if m["type"] == "step"]
    assert [m["step"] for m in metrics] == list(range(1, total + 1))  # one trajectory, no duplicates
    for m in metrics:
        assert m["loss"] == pytest.approx(ref_loss[m["step"]], rel=2e-3, abs=2e-3), m["step"]
        assert m["lr"] == pytest.approx(ref_lr[m["step"]])


def test_a_killed_worker_marks_the_run_failed_and_resumable(starter_model, dequantized_starter, tmp_path):
    from studio.core.training.client import TrainerClient

    config = make_config(starter_model, tmp_path, "killed", max_steps=40, save_every=1, eval_every=100)
    client = TrainerClient()
    checkpoints: list[dict] = []
    client.subscribe("checkpoint", lambda **e: checkpoints.append(e))

    async def go():
        try:
            task = asyncio.ensure_future(client.start(config))
            while not checkpoints:
                await asyncio.sleep(0.05)
            client.kill()
            return await task
        finally:
            await client.close()
    result = run_async(go())

    assert result["state"] == "failed"
    assert "killed by SIGKILL" in result["error"]
    assert "smaller batch size" in result["suggestion"]
    assert "checkpoint at step" in result["log_tail"] and "killed by SIGKILL" in result["log_tail"]
    assert result["resumable"]
    [summary] = [r for r in list_runs(tmp_path) if r.path == config.output_dir]
    assert summary.state == "failed" and summary.resumable and "SIGKILL" in summary.error
    status = RunDir(config.output_dir).read_status()
    assert status["state"] == "failed" and status["log_tail"]


def test_cli_train_writes_both_adapter_formats(starter_model, dequantized_starter, tmp_path, capsys):
    from studio.cli import train as cli_train

    parser = argparse.ArgumentParser(prog="studio")
    cli_train.register(parser.add_subparsers(dest="command"))
    data = write_memorable(tmp_path / "facts.jsonl", repeat=1)
    out = tmp_path / "cli-run"
    args = parser.parse_args(["train", "--model", str(starter_model), "--data", str(data), "--out", str(out),
                              "--max-steps", "2", "--batch-size", "2", "--max-seq-len", "64"])
    code = cli_train.run(args)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "step 2/2" in printed.out and "PEFT adapter:" in printed.out
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "adapter.gguf").stat().st_size > 0 and "GGUF adapter: not written" not in printed.out, printed.out



def test_packed_rows_train_exactly_like_separate_examples(dequantized_starter):
    """Packing must not let one example attend to another: the summed loss of a packed row equals
    the sum over its pieces run one by one."""
    import torch

    from studio.core.training.base_model import load_base_model
    from studio.core.training.runner import IGNORE, Sample, build_lora_model, collate, make_loss_module, pack_samples

    model, _ = load_base_model(dequantized_starter, attn_implementation="sdpa")
    loss_model = make_loss_module(build_lora_model(model, RunConfig(lora_r=4, lora_alpha=8)))
    pieces = [Sample([1, 504, 2021, 318, 257, 1332, 2], [IGNORE, IGNORE, IGNORE, 318, 257, 1332, 2]),
              Sample([1, 3666, 12, 88, 2], [IGNORE, IGNORE, 12, 88, 2]),
              Sample([1, 40, 41, 42, 43, 44, 2], [IGNORE, 40, 41, 42, 43, 44, 2])]
    [row] = pack_samples(pieces, max_seq_len=64, seed=0)
    with torch.no_grad():
        packed = collate([row], pad_id=2, packed=True)
        together = float(loss_model(packed["input_ids"], packed["targets"], packed["position_ids"]))
        apart = 0.0
        for piece in pieces:
            single = collate([piece], pad_id=2, packed=False)
            apart += float(loss_model(single["input_ids"], single["targets"]))
    assert together == pytest.approx(apart, rel=1e-4)
