"""Run configs, the run history and the runner's pure pieces (no model, no worker: fast)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from studio.core.training.config import PRESETS, ConfigError, RunConfig, defaults_for, target_modules_for
from studio.core.training.runs import RunDir, list_runs, mark_failed


def test_config_round_trips_through_its_json_file(tmp_path):
    data = tmp_path / "chat.jsonl"
    data.write_text("{}\n")
    config = RunConfig(base_model=str(tmp_path / "m.gguf"), data=[str(data)], lora_r=8, packing=True,
                       target_modules=["q_proj", "v_proj"], mapping={"instruction": "question"})
    path = config.save(tmp_path / "run.json")
    assert RunConfig.load(path) == config
    assert json.loads(path.read_text())["lora_r"] == 8


def test_relative_paths_in_a_config_file_mean_next_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "run.json").write_text(json.dumps({"base_model": "model.gguf", "data": "data/a.jsonl"}))
    config = RunConfig.load(tmp_path / "sub" / "run.json")
    assert config.base_model == str(tmp_path / "sub" / "model.gguf")
    assert config.data == [str(tmp_path / "sub" / "data" / "a.jsonl")]  # a single string becomes a list


@pytest.mark.parametrize("content, expected", [
    ('{"lora_rank": 8}', "unknown setting 'lora_rank' (did you mean 'lora_r'?)"),
    ('{"batch_size": "four"}', "'batch_size' must be a whole number"),
    ('{"packing": "yes"}', "'packing' must be true or false"),
    ('{"learning_rate": [1]}', "'learning_rate' must be a number"),
    ('{"version": 9}', "config version 9 is not supported"),
    ('{\n "lora_r": 8,\n}', "run.json:3: not valid JSON"),
    ('[1, 2]', "a run config is a JSON object"),
])
def test_bad_config_files_say_which_setting_is_wrong(tmp_path, content, expected):
    path = tmp_path / "run.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        RunConfig.load(path)
    assert expected in str(info.value)


def test_validation_messages_are_sentences_a_user_can_act_on(tmp_path):
    assert RunConfig().validate() == ["Choose a base model (a .gguf file or a Hugging Face folder).",
                                      "Add at least one training data file."]
    bad = RunConfig(base_model=str(tmp_path / "nope.gguf"), data=[str(tmp_path / "missing.jsonl")], lora_r=0,
                    learning_rate=5.0, lr_scheduler="step", batch_size=0, max_seq_len=4, max_steps=0)
    problems = "\n".join(bad.validate())
    for fragment in ("nope.gguf does not exist", "missing.jsonl does not exist", "LoRA rank must be between",
                     "learning rate 5.0 is out of range", "Unknown learning-rate schedule 'step'",
                     "Batch size must be at least 1", "too short", "Maximum steps is 0"):
        assert fragment in problems
    with pytest.raises(ConfigError, match="Batch size"):
        bad.check()
    # The ones the Fine-tune screen can cause carry a code and their values, so it can say them in Chinese.
    assert [p.code for p in RunConfig().validate()] == ["no_model", "no_data"]
    coded = {p.code: p.values for p in bad.validate() if getattr(p, "code", "")}
    assert coded["model_missing"] == {"path": str(tmp_path / "nope.gguf")}
    assert coded["training_file_missing"] == {"path": str(tmp_path / "missing.jsonl")}


def test_target_modules_follow_the_architecture():
    assert target_modules_for("llama") == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert target_modules_for("qwen2") == target_modules_for("mistral") == target_modules_for("gemma2")
    assert target_modules_for("phi3") == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert "fc1" in target_modules_for("phi2")
    assert target_modules_for("something-new") == target_modules_for("llama")  # a sane guess, not a crash


def test_defaults_scale_with_model_size_and_presets_are_valid(tmp_path):
    small, big = defaults_for(135_000_000, "llama"), defaults_for(7_000_000_000, "qwen2")
    assert small["batch_size"] > big["batch_size"] and big["grad_accum"] > small["grad_accum"]
    assert small["learning_rate"] >= big["learning_rate"]
    assert big["target_modules"] == target_modules_for("qwen2")
    for name, preset in PRESETS.items():
        config = RunConfig(base_model="m.gguf", data=["d.jsonl"], **preset)
        assert config.validate(check_files=False) == [], name


def test_a_run_folder_is_picked_in_the_run_history(tmp_path):
    config = RunConfig(base_model="/models/My Model.Q4.gguf", data=["/data/chat set.jsonl"]).resolved(tmp_path)
    assert config.output_dir.startswith(str(tmp_path))
    assert config.output_dir.endswith("-My-Model.Q4-chat-set")


def _fake_run(root, name, status, *, checkpoint=False, started=0.0):
    run = RunDir(root / name).create()
    RunConfig(base_model="m.gguf", data=["d.jsonl"]).save(run.config_path)
    run.write_status(started=started, **status)
    if checkpoint:  # a whole (if empty) checkpoint: resumable() checks its files' headers
        (run.checkpoints_dir / "step-3" / "adapter").mkdir(parents=True)
        (run.checkpoints_dir / "step-3" / "state.json").write_text("{}")
        empty_safetensors = (2).to_bytes(8, "little") + b"{}"
        for name in ("adapter/adapter_model.safetensors", "optimizer.safetensors", "rng.safetensors"):
            (run.checkpoints_dir / "step-3" / name).write_bytes(empty_safetensors)
    return run


def test_list_runs_reports_dead_runs_as_interrupted_and_resumable(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _fake_run(tmp_path, "a-done", {"state": "completed", "step": 10, "total_steps": 10, "train_loss": 0.5,
                                   "val_loss": 0.7}, started=1.0)
    _fake_run(tmp_path, "b-crashed", {"state": "running", "pid": int(dead.stdout), "step": 4, "total_steps": 10},
              checkpoint=True, started=3.0)
    _fake_run(tmp_path, "c-live", {"state": "running", "pid": os.getpid(), "step": 1}, started=2.0)
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["b-crashed", "c-live", "a-done"]  # newest first
    crashed, live, done = runs
    assert crashed.state == "interrupted" and crashed.resumable and "stopped" in crashed.error
    assert live.state == "running" and not live.resumable
    assert done.state == "completed" and done.train_loss == 0.5 and done.val_loss == 0.7 and not done.resumable


def test_a_run_killed_for_memory_gets_a_suggestion(tmp_path):
    run = _fake_run(tmp_path, "r", {"state": "running", "pid": os.getpid()}, checkpoint=True)
    status = mark_failed(run.path, "the trainer worker was killed by SIGKILL (often: out of memory)",
                         log_tail="step 3/10 loss 2.1")
    assert status["state"] == "failed" and status["resumable"]
    assert "smaller batch size" in status["suggestion"]
    assert "step 3/10" in run.log_tail()
    assert list_runs(tmp_path)[0].state == "failed"


def test_learning_rate_schedule_warms_up_then_decays():
    from studio.core.training.runner import lr_at

    config = RunConfig(learning_rate=1e-3, warmup_ratio=0.1)
    lrs = [lr_at(s, 100, config) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] < 1e-5
    config.lr_scheduler = "linear"
    assert lr_at(55, 100, config) == pytest.approx(5e-4)
    config.lr_scheduler = "constant"
    assert lr_at(99, 100, config) == 1e-3


def test_data_order_is_deterministic_covers_everything_and_groups_lengths():
    from studio.core.training.runner import epoch_plan

    lengths = [(i * 37) % 200 + 1 for i in range(500)]
    plan = epoch_plan(lengths, 8, seed=1, epoch=0)
    assert plan == epoch_plan(lengths, 8, seed=1, epoch=0)
    assert plan != epoch_plan(lengths, 8, seed=1, epoch=1)
    assert sorted(i for batch in plan for i in batch) == list(range(500))
    padding = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in plan)
    assert padding < 0.1 * sum(lengths)  # similar lengths share a batch


def test_cli_train_rejects_bad_input_with_a_sentence(tmp_path, capsys):
    from studio.cli import train as cli_train

    parser = argparse.ArgumentParser(prog="studio")
    cli_train.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--model", str(tmp_path / "none.gguf"), "--data", str(tmp_path / "x.jsonl"),
                              "--max-steps", "2"])
    assert cli_train.run(args) == 2
    err = capsys.readouterr().err
    assert "none.gguf" in err and "x.jsonl does not exist" in err and "Traceback" not in err


def test_evaluation_scores_the_same_validation_examples_the_run_held_out(tmp_path, starter_model):
    """The Evaluate screen's perplexity must use the run's own held-out split, mapping included."""
    import json

    from studio.core.datasets import ColumnMapping, load_examples, split_examples
    from studio.core.training.config import RunConfig
    from studio.core.training.data import split_run_data, validation_texts

    data = tmp_path / "qa.csv"
    rows = ["frage,antwort"] + [f"question {i}?,answer {i}." for i in range(20)]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = RunConfig(base_model=str(starter_model), data=[str(data)], val_ratio=0.2, seed=7,
                       mapping={"instruction": "frage", "output": "antwort"})
    train, val = split_run_data(config)
    expected_train, expected_val = split_examples(
        load_examples([str(data)], mapping=ColumnMapping(instruction="frage", output="antwort")), val_ratio=0.2, seed=7)
    assert [e.key() for e in val] == [e.key() for e in expected_val] and len(val) == 4
    assert len(train) == 16
    texts, prompts = validation_texts(config, limit=10)
    assert len(texts) == 4 and all("<|im_start|>assistant" in t for t in texts)
    assert prompts == [next(m["content"] for m in e.messages if m["role"] == "user") for e in expected_val]
    json.dumps(texts)  # plain strings, ready for the engine


def test_trainer_without_torch_says_which_packages_to_install(tmp_path, starter_model):
    """An installation without the [train] extra (the app bundle) gets a sentence, not a traceback."""
    import asyncio

    import pytest

    from studio.core.training.client import TrainerClient
    from studio.core.training.config import RunConfig
    from studio.core.workers.protocol import WorkerError

    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'peft'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Block())\n", encoding="utf-8")
    data = tmp_path / "d.jsonl"
    data.write_text('{"instruction": "Hi", "output": "Hello."}\n', encoding="utf-8")
    config = RunConfig(base_model=str(starter_model), data=[str(data)], output_dir=str(tmp_path / "run"), max_steps=1)

    async def attempt():
        client = TrainerClient(env={"PYTHONPATH": f"{blocker}"})
        try:
            with pytest.raises(WorkerError) as info:
                await client.start(config)
            return info.value
        finally:
            await client.close()

    error = asyncio.run(attempt())
    assert error.kind == "missing_packages"
    assert "torch" in error.message and "peft" in error.message and "[train]" in error.message


def test_delete_run_refuses_a_live_trainer_and_an_attached_adapter(tmp_path):
    import os

    import pytest

    from studio.core.training.runs import RunDir, RunInUse, delete_run

    live = RunDir(tmp_path / "live").create()
    live.write_status(state="running", pid=os.getpid())
    with pytest.raises(RunInUse, match="still training"):
        delete_run(live.path)
    assert live.path.is_dir()

    done = RunDir(tmp_path / "done").create()
    done.write_status(state="completed")
    (done.path / "adapter.gguf").write_bytes(b"GGUF")
    with pytest.raises(RunInUse, match="attached in Chat"):
        delete_run(done.path, attached_adapters=[str(done.path / "adapter.gguf")])
    delete_run(done.path, attached_adapters=[])
    assert not done.path.exists()

    stranger = tmp_path / "photos"
    stranger.mkdir()
    with pytest.raises(RunInUse, match="does not look like a run"):
        delete_run(stranger)
    assert stranger.is_dir()


def test_describe_source_sizes_gguf_and_hf_folder_bases_alike(starter_model, dequantized_starter, tmp_path):
    """Run defaults are sized from the base's parameter count, whichever form the base takes."""
    import pytest

    from studio.core.training.base_model import BaseModelError, describe_source
    from studio.core.training.config import defaults_for

    gguf = describe_source(starter_model)
    hf = describe_source(dequantized_starter)
    assert gguf.architecture == "llama" and hf.architecture == "llama"
    assert 130e6 < gguf.n_params < 140e6
    # The HF folder stores the tied embedding once, like the GGUF: the counts agree closely.
    assert abs(hf.n_params - gguf.n_params) / gguf.n_params < 0.01
    assert defaults_for(hf.n_params, hf.architecture) == defaults_for(gguf.n_params, gguf.architecture)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}", encoding="utf-8")
    (broken / "model.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(BaseModelError, match="not a safetensors file"):
        describe_source(broken)
