"""The logit lens read from llama.cpp itself (layer outputs through the eval callback, decoded with the
GGUF's final norm and output matrix): its output row is llama.cpp's own next-token distribution, it
agrees with the torch lens on the dequantized starter, and "before and after an adapter" compares
the base model with the adapted one without detaching anything."""

import asyncio

import numpy as np
import pytest

from studio.core.engine.client import EngineClient
from studio.core.inspect.client import AnalyserClient
from studio.core.workers.protocol import WorkerCancelled, WorkerError

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is Paris. The capital of Italy is"


@pytest.fixture(scope="module")
def engine(loop, starter_model):
    client = EngineClient()
    loop.run_until_complete(client.load(str(starter_model), n_ctx=1024))
    yield client
    loop.run_until_complete(client.close())


def probs(row):
    return {t["id"]: t["prob"] for t in row}


def test_the_lens_output_row_is_llamacpps_next_token_distribution(loop, engine):
    seen = []
    lens = loop.run_until_complete(engine.logit_lens(PROMPT, top_k=5, on_progress=lambda f, s: seen.append(s)))
    nxt = loop.run_until_complete(engine.next_logits(PROMPT, top_k=5))
    assert lens["ids"] == nxt["prompt_ids"]
    assert len(lens["layer_names"]) == len(lens["top1"]) == len(lens["last"]) == 31  # embeddings + 30 layers
    assert lens["layer_names"][0] == "embeddings" and lens["layer_names"][-1] == "layer 30"
    n = len(lens["ids"])
    assert lens["first_position"] == max(0, n - 16) and all(len(row) == n - lens["first_position"]
                                                           for row in lens["top1"])
    expected = [(t["id"], float(np.exp(t["logprob"]))) for t in nxt["tokens"]]
    got = [(t["id"], t["prob"]) for t in lens["last"][-1]]
    assert [i for i, _ in got] == [i for i, _ in expected]  # same top-5, same order
    assert max(abs(a - b) for (_, a), (_, b) in zip(got, expected)) < 1e-3
    assert lens["final"] == lens["last"][-1] and lens["top1"][-1][-1]["id"] == expected[0][0]
    # Decoding the last layer's output with the GGUF's norm and matrix lands where llama.cpp does
    # (llama.cpp multiplies with 8-bit activations, hence a little slack).
    assert lens["max_prob_error"] < 0.02
    assert {"forward", "lens"} <= set(seen)
    assert "Rome" in "".join(t["piece"] for t in lens["last"][-1])
    print(f"\nlens: {lens['seconds']:.2f} s; decoded last layer vs llama.cpp: {lens['max_prob_error']:.4f}")


def test_the_lens_agrees_with_the_torch_lens(loop, engine, starter_model, dequantized_starter, tmp_path):
    ours = loop.run_until_complete(engine.logit_lens(PROMPT, top_k=5))
    analyser = AnalyserClient(results_dir=tmp_path)
    try:
        reference = loop.run_until_complete(analyser.logit_lens(starter_model, tokens=ours["ids"], top_k=5,
                                                                positions=16))
    finally:
        loop.run_until_complete(analyser.close())
    assert reference["first_position"] == ours["first_position"] and reference["ids"] == ours["ids"]
    pairs = [(a, b) for row_a, row_b in zip(ours["top1"], reference["top1"]) for a, b in zip(row_a, row_b)]
    agree = sum(a["id"] == b["id"] for a, b in pairs) / len(pairs)
    assert agree >= 0.9, agree
    same = [(a["prob"], b["prob"]) for a, b in pairs if a["id"] == b["id"]]
    assert max(abs(a - b) for a, b in same) < 0.1
    assert float(np.corrcoef(*zip(*same))[0, 1]) > 0.98
    assert ours["last"][-1][0]["id"] == reference["last"][-1][0]["id"]
    print(f"\ntop-1 agreement with torch {agree:.3f} over {len(pairs)} cells")


def test_short_prompts_whole_prompts_and_ubatches(loop, engine):
    whole = loop.run_until_complete(engine.logit_lens(PROMPT, positions=None, n_ubatch=4))
    n = len(whole["ids"])
    assert whole["first_position"] == 0 and len(whole["top1"][5]) == n
    tail = loop.run_until_complete(engine.logit_lens(tokens=whole["ids"], positions=3))
    assert tail["first_position"] == n - 3
    # the same cells, whether the prompt went through in one ubatch or in several
    assert [[t["id"] for t in row[-3:]] for row in whole["top1"]] == [[t["id"] for t in row] for row in tail["top1"]]
    one = loop.run_until_complete(engine.logit_lens("Hi", positions=16))
    assert one["first_position"] == 0 and len(one["top1"][0]) == len(one["ids"])
    with pytest.raises(WorkerError) as empty:
        loop.run_until_complete(engine.logit_lens(""))
    assert empty.value.kind == "empty"


def test_cancel_stops_the_lens_and_the_engine_keeps_working(loop, engine):
    long_text = " ".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(60))

    async def go():
        task = asyncio.ensure_future(engine.logit_lens(long_text, n_ubatch=16, positions=None, max_tokens=900))
        await asyncio.sleep(0.3)
        await engine.cancel()
        with pytest.raises(WorkerCancelled):
            await task
        again = await engine.logit_lens(PROMPT)
        assert again["top1"]
    loop.run_until_complete(go())


@pytest.fixture(scope="module")
def qk_adapter(starter_model, dequantized_starter, tmp_path_factory):
    """A random q/k/v/o adapter: untrained, it only has to move attention and the prediction."""
    from tests.lora_fixtures import random_lora_gguf

    return random_lora_gguf(dequantized_starter, starter_model, tmp_path_factory.mktemp("adapter"))


def test_before_and_after_an_adapter_without_detaching_it(loop, engine, qk_adapter):
    from studio.core.inspect.client import AttentionResult

    plain_next = loop.run_until_complete(engine.next_logits(PROMPT, top_k=10))
    plain_lens = loop.run_until_complete(engine.logit_lens(PROMPT))
    plain_attention = AttentionResult.load(loop.run_until_complete(engine.attention(PROMPT))["path"]).weights
    loop.run_until_complete(engine.set_lora([{"path": str(qk_adapter), "scale": 1.0}]))
    try:
        tuned_next = loop.run_until_complete(engine.next_logits(PROMPT, top_k=10))
        base_next = loop.run_until_complete(engine.next_logits(PROMPT, top_k=10, base=True))
        tuned_lens = loop.run_until_complete(engine.logit_lens(PROMPT))
        base_lens = loop.run_until_complete(engine.logit_lens(PROMPT, base=True))
        tuned_attention = loop.run_until_complete(engine.attention(PROMPT))
        base_attention = loop.run_until_complete(engine.attention(PROMPT, base=True))
        after = loop.run_until_complete(engine.next_logits(PROMPT, top_k=10))
        assert engine.lora  # still attached
    finally:
        loop.run_until_complete(engine.set_lora([]))
    # base=True is the model before the adapter, exactly
    assert [t["id"] for t in base_next["tokens"]] == [t["id"] for t in plain_next["tokens"]]
    np.testing.assert_allclose([t["logprob"] for t in base_next["tokens"]],
                               [t["logprob"] for t in plain_next["tokens"]], atol=1e-4)
    assert base_next["lora"] == [] and tuned_next["lora"]
    assert base_lens["top1"] == plain_lens["top1"] or max(
        abs(a["prob"] - b["prob"]) for ra, rb in zip(base_lens["top1"], plain_lens["top1"])
        for a, b in zip(ra, rb)) < 1e-4
    np.testing.assert_allclose(AttentionResult.load(base_attention["path"]).weights, plain_attention, atol=2e-3)
    # ... and the adapter moved all three
    plain_p = {t["id"]: np.exp(t["logprob"]) for t in plain_next["tokens"]}
    assert max(abs(np.exp(t["logprob"]) - plain_p.get(t["id"], 0.0)) for t in tuned_next["tokens"]) > 0.01
    assert tuned_lens["top1"] != base_lens["top1"]
    moved = np.abs(AttentionResult.load(tuned_attention["path"]).weights - plain_attention).max()
    assert moved > 0.05
    # asking for the base model leaves the engine's adapted answer as it was
    assert [t["id"] for t in after["tokens"]] == [t["id"] for t in tuned_next["tokens"]]
