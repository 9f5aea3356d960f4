"""The inspector's decisions that need no model run: which backend serves a model, what a job will
cost (said before it runs, refused when it cannot fit), and where two lenses part."""

from __future__ import annotations

import pytest

from studio.core.inspect.inspector import ENGINE, TORCH, Inspector, JobEstimate, lens_parting


class _NoEngine:
    model_info = None
    lora: list = []


class _Workspace:
    engine = _NoEngine()
    adapters: list = []

    def same_model(self, _path):
        return False


def inspector(tmp_path):
    return Inspector(_Workspace(), analyser=object(), results_dir=tmp_path)


def test_gguf_files_go_to_llamacpp_and_folders_to_torch(tmp_path, starter_model):
    folder = tmp_path / "hf"
    folder.mkdir()
    assert Inspector.backend(starter_model) == ENGINE
    assert Inspector.backend(folder) == TORCH
    assert inspector(tmp_path).adapters(starter_model) == []  # nothing attached to it in the engine


def test_estimates_are_said_in_numbers_before_a_job(tmp_path, starter_model):
    ins = inspector(tmp_path)
    plain = ins.estimate_attention(starter_model, 256)
    # 30 layers × 9 heads × 256² weights, float16 in the engine and float16 in the view
    assert plain.bytes == 30 * 9 * 256 * 256 * 4
    assert plain.sentence() == ("Attention for 256 tokens on llama.cpp: about 68 MB of memory "
                                "(30 layers × 9 heads × 256² weights).")
    both = ins.estimate_attention(starter_model, 256, compare=True)
    assert both.bytes > 2 * plain.bytes and "with and without the adapter" in both.sentence()
    lens = ins.estimate_lens(starter_model, 300, positions=16)
    assert "49,152-token output matrix streamed" in lens.sentence() and lens.bytes < 100 << 20
    planned = ins.plan_attention(starter_model, "The capital of France is", max_tokens=512)
    assert planned.n_tokens == 5   # tokenized by the model's own vocabulary (SmolLM2 adds no BOS)


def test_a_job_that_cannot_fit_is_refused_with_a_sentence():
    job = JobEstimate("attention", ENGINE, 4096, 40 << 30, "30 layers × 9 heads × 4,096² weights")
    assert Inspector.refusal(job, available_bytes=64 << 30) is None
    sentence = Inspector.refusal(job, available_bytes=8 << 30)
    assert sentence.startswith("Attention for 4,096 tokens on llama.cpp: about 40.0 GB") and "8.0 GB is free" in sentence
    assert "shorter prompt" in sentence


def _lens(last_ids, top1_ids=None):
    last = [[{"id": i, "prob": 0.6}, {"id": 99, "prob": 0.1}] for i in last_ids]
    top1 = [[{"id": i, "prob": 0.5} for i in row] for row in (top1_ids or [[i] for i in last_ids])]
    return {"last": last, "top1": top1}


@pytest.mark.parametrize("base, tuned, parts_at", [
    ([1, 2, 3, 4], [1, 2, 3, 4], None),       # the same all the way: no parting
    ([1, 2, 3, 4], [5, 2, 3, 4], None),       # early noise that does not last is not a parting
    ([1, 2, 3, 4], [5, 2, 7, 8], 2),          # apart from entry 2 up to the output
    ([1, 2, 3, 4], [5, 6, 7, 8], 0),
])
def test_where_two_lenses_part(base, tuned, parts_at):
    parting = lens_parting(_lens(base), _lens(tuned))
    assert parting.parts_at == parts_at
    assert parting.differs == [a != b for a, b in zip(base, tuned)]
    assert parting.changed == [int(a != b) for a, b in zip(base, tuned)]
    assert parting.shift == [0.0 if a == b else 0.6 for a, b in zip(base, tuned)]
