"""Attention read from llama.cpp itself (the engine's eval callback) against the torch analyser's
reference on the dequantized starter, with identical token ids: per-layer correlation, rows that sum
to 1, causal zeros; a prompt longer than one ubatch; layer choice, labels, cancel and the build check."""

import asyncio
import time

import numpy as np
import pytest

from studio.core.engine.client import EngineClient
from studio.core.inspect.client import AnalyserClient, AttentionResult
from studio.core.workers.protocol import WorkerCancelled, WorkerError

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is Paris. The capital of Italy is"
LONG = " ".join(f"Item {i}: the quick brown fox jumps over the lazy dog." for i in range(7))  # ~80 tokens


@pytest.fixture(scope="module")
def engine(loop, starter_model, tmp_path_factory):
    client = EngineClient()
    loop.run_until_complete(client.load(str(starter_model), n_ctx=1024))
    yield client
    loop.run_until_complete(client.close())


@pytest.fixture(scope="module")
def analyser(loop, starter_model, dequantized_starter, tmp_path_factory):
    client = AnalyserClient(results_dir=tmp_path_factory.mktemp("torch-attention"))
    loop.run_until_complete(client.load(starter_model))
    yield client
    loop.run_until_complete(client.close())


def correlations(ours, reference):
    """Pearson correlation per layer over the causal (lower-triangle) entries."""
    n = ours.shape[-1]
    lower = np.tril(np.ones((n, n), dtype=bool))
    return [float(np.corrcoef(ours[i][:, lower].ravel(), reference[i][:, lower].ravel())[0, 1])
            for i in range(ours.shape[0])]


def check_against_torch(loop, engine, analyser, starter_model, text, **kw):
    started = time.perf_counter()
    result = loop.run_until_complete(engine.attention(text, **kw))
    engine_s = time.perf_counter() - started
    ours = AttentionResult.load(result["path"])
    started = time.perf_counter()
    reference = loop.run_until_complete(analyser.attention(starter_model, tokens=result["ids"],
                                                           max_tokens=4096))
    torch_s = time.perf_counter() - started
    n = result["n_tokens"]
    assert reference.ids == ours.ids == result["ids"] and len(ours.ids) == n
    assert ours.weights.shape == reference.weights.shape == (30, 9, n, n)
    with np.load(result["path"], allow_pickle=False) as data:
        assert data["weights"].dtype == np.float16 and set(data.files) == {"weights", "ids", "tokens"}
    np.testing.assert_allclose(ours.weights.sum(axis=-1), 1.0, atol=1e-3)
    assert not np.triu(ours.weights, k=1).any()  # exact zeros: nothing attends to a later token
    corr = correlations(ours.weights, reference.weights)
    assert min(corr) >= 0.995, corr
    assert ours.labels == reference.labels
    print(f"\n{n} tokens: min per-layer correlation {min(corr):.5f}, max abs diff "
          f"{np.abs(ours.weights - reference.weights).max():.4f}; engine {engine_s:.2f} s "
          f"(capture {result['seconds']:.2f} s), torch {torch_s:.2f} s")
    return result, corr


def test_engine_attention_matches_the_torch_reference(loop, engine, analyser, starter_model):
    seen = []
    result, _ = check_against_torch(loop, engine, analyser, starter_model, PROMPT,
                                    on_progress=lambda f, s: seen.append((f, s)))
    assert result["layers"] == list(range(30)) and result["truncated_from"] is None
    assert result["labels"][1] == "␣capital"
    assert seen and seen[-1] == (1.0, "write") and "attention" in {s for _, s in seen}


def test_a_prompt_longer_than_one_ubatch_still_matches(loop, engine, analyser, starter_model):
    result, _ = check_against_torch(loop, engine, analyser, starter_model, LONG, n_ubatch=32)
    assert result["n_tokens"] > 64  # at least three ubatches of 32


def test_chosen_layers_truncation_and_token_ids(loop, engine):
    before = loop.run_until_complete(engine.next_logits(PROMPT, top_k=3))
    full = loop.run_until_complete(engine.attention(PROMPT))
    after = loop.run_until_complete(engine.next_logits(PROMPT, top_k=3))
    assert after["tokens"] == before["tokens"]  # the capture context leaves the engine's own alone
    part = loop.run_until_complete(engine.attention(tokens=full["ids"], layers=[29, 3], max_tokens=5))
    assert part["layers"] == [3, 29] and part["n_layers"] == 2 and part["truncated_from"] == len(full["ids"])
    assert part["ids"] == full["ids"][:5]
    whole = AttentionResult.load(full["path"]).weights
    some = AttentionResult.load(part["path"]).weights
    assert some.shape == (2, 9, 5, 5)
    # causal: the first five tokens' attention does not depend on what follows them
    np.testing.assert_allclose(some, whole[[3, 29], :, :5, :5], atol=2e-3)
    chat = loop.run_until_complete(engine.attention("Hi", chat=True))
    assert chat["n_tokens"] > 5 and "<|im_start|>" in chat["labels"]


def test_bad_requests_are_sentences(loop, engine):
    with pytest.raises(WorkerError) as empty:
        loop.run_until_complete(engine.attention(""))
    assert empty.value.kind == "empty"
    with pytest.raises(WorkerError) as layer:
        loop.run_until_complete(engine.attention(PROMPT, layers=[30]))
    assert layer.value.kind == "bad_request" and "0..29" in layer.value.message
    with pytest.raises(WorkerError) as vocab:
        loop.run_until_complete(engine.attention(tokens=[1, 10 ** 7]))
    assert vocab.value.kind == "bad_request"


def test_cancel_aborts_the_capture_and_the_engine_keeps_working(loop, engine):
    long_text = " ".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(60))

    async def go():
        task = asyncio.ensure_future(engine.attention(long_text, n_ubatch=16, max_tokens=900))
        await asyncio.sleep(0.3)
        await engine.cancel()
        with pytest.raises(WorkerCancelled):
            await task
        again = await engine.attention(PROMPT, layers=[0])
        assert again["n_layers"] == 1
    loop.run_until_complete(go())


def test_a_build_whose_tensor_layout_differs_is_refused(monkeypatch):
    from studio.core.engine import capture

    capture.check_build()  # the installed build matches
    monkeypatch.setattr(capture, "_GGML_OBJECT_SIZE", 24)
    with pytest.raises(capture.CaptureError) as refused:
        capture.check_build()
    assert refused.value.kind == "capture_unsupported" and "torch analyser" in refused.value.message


def test_attention_follows_the_attached_lora_adapter(loop, engine, starter_model, dequantized_starter, tmp_path):
    """A q/k adapter (random, untrained: it only has to move attention) attached in the engine
    changes llama.cpp's maps the way the same adapter changes torch's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.core.training.export_gguf import export_lora_gguf

    base = loop.run_until_complete(engine.attention(PROMPT))
    ids = base["ids"]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(dequantized_starter), dtype=torch.float32,
                                                 attn_implementation="eager")
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj"],
                                                  lora_dropout=0.0))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.05)
    peft_model.eval()
    peft_model.save_pretrained(str(tmp_path / "qk"))
    adapter = export_lora_gguf(tmp_path / "qk", tmp_path / "qk.gguf", base_model=starter_model)
    with torch.no_grad():
        out = peft_model(input_ids=torch.tensor([ids]), output_attentions=True)
    reference = np.stack([a[0].float().numpy() for a in out.attentions])

    loop.run_until_complete(engine.set_lora([{"path": str(adapter), "scale": 1.0}]))
    try:
        tuned = loop.run_until_complete(engine.attention(tokens=ids))
    finally:
        loop.run_until_complete(engine.set_lora([]))
    assert tuned["ids"] == ids and tuned["lora"] and tuned["lora"][0]["path"] == str(adapter)
    ours = AttentionResult.load(tuned["path"]).weights
    before = AttentionResult.load(base["path"]).weights
    assert np.abs(ours - before).max() > 0.05  # the adapter moved attention ...
    corr = correlations(ours, reference)
    assert min(corr) >= 0.995, corr  # ... the way it moves torch's
    assert np.abs(ours - reference).mean() < 0.5 * np.abs(before - reference).mean()
    print(f"\nwith a q/k adapter: min per-layer correlation {min(corr):.5f}, moved by up to "
          f"{np.abs(ours - before).max():.3f}")


def test_the_float16_conversion_is_numpys_bit_for_bit():
    from studio.core.engine.capture import to_float16

    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(300_000).astype(np.float32) * scale
                             for scale in (1e-9, 3e-8, 1e-6, 6e-5, 1e-3, 1.0, 1e3, 6e4)])
    special = np.array([0.0, -0.0, 2.0 ** -25, 3 * 2.0 ** -26, 2.0 ** -14, 65504.0, 65520.0, 1e6, np.inf,
                        -np.inf, np.nan], dtype=np.float32)
    for array in (values.reshape(8, 300, 1000), special, rng.random((3, 9, 17, 17), dtype=np.float32)):
        with np.errstate(over="ignore"):
            expected = array.astype(np.float16)
        got = to_float16(array)
        assert got.shape == array.shape and got.dtype == np.float16
        np.testing.assert_array_equal(got.view(np.uint16), expected.view(np.uint16))
