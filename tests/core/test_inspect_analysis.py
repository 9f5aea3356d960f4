"""The torch analyser end to end: the real worker process on the real starter model (attention maps,
logit lens, torch next token), its errors (unsupported architectures, empty text), cancel and kill."""

import asyncio
import json
import os
import struct

import numpy as np
import pytest

from studio.core.inspect.client import KEEP_RESULTS, AnalyserClient, AttentionResult
from studio.core.workers.protocol import WorkerError

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is Paris. The capital of Italy is"
LONG = " ".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(80))  # ~1000 tokens


@pytest.fixture(scope="module")
def analyser(loop, starter_model, dequantized_starter, tmp_path_factory):
    client = AnalyserClient(results_dir=tmp_path_factory.mktemp("attention"))
    facts = loop.run_until_complete(client.load(starter_model))
    assert facts["cached"] is True and facts["architecture"] == "llama"
    assert (facts["n_layers"], facts["n_heads"], facts["n_vocab"]) == (30, 9, 49152)
    yield client
    loop.run_until_complete(client.close())


def llama_ids(model, text):
    import llama_cpp

    vocab = llama_cpp.Llama(str(model), vocab_only=True, verbose=False)
    try:
        return vocab.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    finally:
        vocab.close()


def test_attention_maps_are_causal_distributions_over_llama_cpp_tokens(loop, analyser, starter_model, tmp_path):
    seen = []
    result = loop.run_until_complete(analyser.attention(starter_model, text=PROMPT,
                                                        on_progress=lambda f, s: seen.append((f, s))))
    ids = llama_ids(starter_model, PROMPT)
    n = len(ids)
    assert result.weights.shape == (30, 9, n, n) and result.weights.dtype == np.float32
    assert (result.n_layers, result.n_heads, result.n_tokens) == (30, 9, n)
    assert result.ids == ids
    assert len(result.labels) == n and result.labels[1] == "␣capital"
    assert result.truncated_from is None
    np.testing.assert_allclose(result.weights.sum(axis=-1), 1.0, atol=1e-4)
    assert not np.triu(result.weights, k=1).any()  # causal: nothing attends to a later token
    assert result.layer_mean(3).shape == (n, n) and result.mean().shape == (n, n)
    np.testing.assert_allclose(result.mean().sum(axis=-1), 1.0, atol=1e-4)
    # Progress: per layer while running, and done at the end.
    stages = [s for _, s in seen]
    assert "forward" in stages and seen[-1] == (1.0, "write")
    forward = [f for f, s in seen if s == "forward"]
    assert forward == sorted(forward)

    with np.load(result.path, allow_pickle=False) as data:
        assert set(data.files) == {"weights", "ids", "tokens"}
        np.testing.assert_array_equal(data["weights"], result.weights)
        assert data["ids"].dtype == np.int64 and data["ids"].tolist() == ids
        assert data["tokens"].tolist() == result.labels
    exported = result.save_npz(tmp_path / "export.attn")  # the exact name, no ".npz" added
    again = AttentionResult.load(exported)
    assert exported.name == "export.attn" and again.ids == ids and again.labels == result.labels
    np.testing.assert_array_equal(again.weights, result.weights)


def reference_forward(folder, ids, lens_positions=2):
    """transformers' own answer for `ids`, in this process and without the analyser: eager attention
    [layers, heads, T, T] and the logit lens at the last `lens_positions` positions as probabilities
    [entries, positions, vocab] (entry 0 = embeddings, the last = the model's output). It loads the
    dequantized folder the analyser loads (transformers' own GGUF loader made it; loading the GGUF
    again would cost ~20 s), so analysis.py, the worker and the .npz are what is checked."""
    import torch
    from transformers import AutoModelForCausalLM

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on 2 busy cores one thread ran this 13-token forward ~6x faster
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32,
                                                     attn_implementation="eager").eval()
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([list(ids)]), output_attentions=True, output_hidden_states=True,
                        use_cache=False)
            attentions = np.stack([a[0].numpy() for a in out.attentions])
            tail = slice(len(ids) - lens_positions, None)
            logits = [model.lm_head(model.model.norm(h[0, tail])) for h in out.hidden_states[:-1]]
            lens = torch.stack(logits + [out.logits[0, tail]]).softmax(-1).numpy()
    finally:
        torch.set_num_threads(threads)
    return attentions, lens


def test_attention_and_lens_match_a_plain_transformers_forward(loop, analyser, starter_model,
                                                               dequantized_starter):
    """Values, not just shapes: each layer and head against transformers' output_attentions on the
    same token ids, in layer order (a map filed under the wrong layer must fail here)."""
    result = loop.run_until_complete(analyser.attention(starter_model, text=PROMPT))
    lens = loop.run_until_complete(analyser.logit_lens(starter_model, tokens=result.ids, top_k=3, positions=2))
    attentions, probs = reference_forward(dequantized_starter, result.ids, lens_positions=2)
    assert result.weights.shape == attentions.shape
    for layer in range(result.n_layers):
        diff = float(np.abs(result.weights[layer] - attentions[layer]).max())
        assert diff < 1e-4, f"layer {layer}: attention differs from transformers by {diff:.3g}"
    # Layers really differ from each other, so the check above pins their order.
    assert np.abs(attentions[0] - attentions[-1]).max() > 0.1
    # The lens, per layer: the top-1 token at each position is transformers' most likely one, at its
    # probability (compared by probability: float noise may swap two near-equal tokens) ...
    assert len(lens["top1"]) == probs.shape[0] == result.n_layers + 1
    for entry, row in enumerate(lens["top1"]):
        for position, token in enumerate(row):
            mine, best = probs[entry, position, token["id"]], probs[entry, position].max()
            assert abs(token["prob"] - mine) < 1e-4 and best - mine < 1e-4, (entry, position, token)
    # ... and the top 3 at the last position are transformers' top 3.
    for entry, row in enumerate(lens["last"]):
        shown = [t["prob"] for t in row]
        np.testing.assert_allclose(shown, np.sort(probs[entry, -1])[::-1][:3], atol=1e-4)
        np.testing.assert_allclose(shown, probs[entry, -1, [t["id"] for t in row]], atol=1e-4)


def test_long_prompts_are_cut_to_max_tokens(loop, analyser, starter_model):
    full = llama_ids(starter_model, LONG)
    assert len(full) > 64
    result = loop.run_until_complete(analyser.attention(starter_model, text=LONG, max_tokens=64))
    assert result.truncated_from == len(full)
    assert result.ids == full[:64] and len(result.labels) == 64
    assert result.weights.shape == (30, 9, 64, 64)
    # Token ids work as well as text, and only the newest few result files stay.
    for _ in range(KEEP_RESULTS + 1):
        by_ids = loop.run_until_complete(analyser.attention(starter_model, tokens=full[:8]))
    assert by_ids.ids == full[:8] and by_ids.truncated_from is None
    np.testing.assert_allclose(by_ids.weights, result.weights[:, :, :8, :8], atol=1e-5)  # causal: a prefix is a prefix
    assert len(list(analyser.results_dir.glob("attention-*.npz"))) == KEEP_RESULTS


def test_logit_lens_ends_at_the_models_own_prediction(loop, analyser, starter_model):
    text = "The capital of France is"
    lens = loop.run_until_complete(analyser.logit_lens(starter_model, text=text, top_k=5))
    nxt = loop.run_until_complete(analyser.next_token(starter_model, text=text, top_k=5))
    n = len(lens["ids"])
    assert lens["ids"] == llama_ids(starter_model, text) and nxt["n_prompt_tokens"] == n
    assert len(lens["layer_names"]) == 31 and lens["layer_names"][0] == "embeddings"
    assert lens["layer_names"][-1] == "layer 30"
    assert len(lens["top1"]) == len(lens["last"]) == 31
    assert all(len(row) == n for row in lens["top1"]) and all(len(row) == 5 for row in lens["last"])
    assert lens["last"][-1] == lens["final"]
    assert [t["id"] for t in lens["final"]] == [t["id"] for t in nxt["tokens"]]
    for mine, own in zip(lens["final"], nxt["tokens"]):
        assert mine["prob"] == pytest.approx(np.exp(own["logprob"]), abs=1e-4)
    assert lens["final"][0]["piece"] == " Paris"
    assert lens["top1"][-1][-1] == lens["final"][0]  # the last position's top-1 is the top of `final`
    # Earlier layers are not yet the model's answer: the lens must actually differ along the way.
    assert lens["last"][1][0]["id"] != lens["final"][0]["id"]
    for row in lens["last"]:
        probs = [t["prob"] for t in row]
        assert probs == sorted(probs, reverse=True) and 0 < probs[0] <= 1
    # A view that shows the last few columns asks for those only and gets the same cells.
    tail = loop.run_until_complete(analyser.logit_lens(starter_model, text=text, top_k=5, positions=3))
    assert tail["first_position"] == n - 3 and all(len(row) == 3 for row in tail["top1"])
    for full_row, tail_row in zip(lens["top1"], tail["top1"]):
        assert [t["id"] for t in full_row[-3:]] == [t["id"] for t in tail_row]
    assert tail["last"] == lens["last"] or all(
        [t["id"] for t in a] == [t["id"] for t in b] for a, b in zip(tail["last"], lens["last"]))


def test_torch_next_token_agrees_with_llama_cpp(loop, analyser, starter_model):
    from studio.core.engine.client import EngineClient
    from studio.core.settings import EngineSettings

    prompts = ["The capital of France is", "One, two, three, four,", "def add(a, b):\n    return"]

    async def body():
        engine = EngineClient(EngineSettings(n_threads=1))
        try:
            await engine.load(str(starter_model), n_ctx=256)
            rows = []
            for prompt in prompts:
                llama = await engine.next_logits(prompt, top_k=3)
                torch = await analyser.next_token(starter_model, text=prompt, top_k=3)
                rows.append((llama, torch))
            # "As the model sees it": the chat template around one user message, as the engine renders it.
            question = "What is 2+2?"
            llama = await engine.next_logits(messages=[{"role": "user", "content": question}], top_k=3)
            chat = await analyser.attention(starter_model, text=question, chat=True)
            assert chat.ids == llama["prompt_ids"] and chat.labels[0] == "<|im_start|>"
            rows.append((llama, await analyser.next_token(starter_model, text=question, chat=True, top_k=3)))
            return rows
        finally:
            await engine.close()

    for llama, torch in loop.run_until_complete(body()):
        assert torch["n_prompt_tokens"] == llama["n_prompt_tokens"]
        assert torch["tokens"][0]["id"] == llama["tokens"][0]["id"]
        assert torch["tokens"][0]["piece"] == llama["tokens"][0]["piece"]
        # Q4_1 in llama.cpp vs its float32 dequantization in torch: close, not identical.
        assert torch["tokens"][0]["logprob"] == pytest.approx(llama["tokens"][0]["logprob"], abs=0.3)


def write_tiny_gguf(path, architecture):
    import gguf

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name("tiny")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_hf_folder(folder, model_type):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}), encoding="utf-8")
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    return folder


def test_unsupported_architectures_are_named_and_the_warm_model_stays(loop, analyser, starter_model, tmp_path):
    bert = write_tiny_gguf(tmp_path / "tiny-bert.gguf", "bert")
    mystery = write_hf_folder(tmp_path / "mystery", "studio_mystery_lm")
    for source, name in ((bert, "bert"), (mystery, "studio_mystery_lm")):
        with pytest.raises(WorkerError) as info:
            loop.run_until_complete(analyser.attention(source, text="hello"))
        assert info.value.kind == "unsupported_architecture"
        assert info.value.message.startswith("Attention and the logit lens need a model transformers can load; "
                                             f"{name} is not supported (supported: llama, mistral, qwen2")
        assert info.value.message.endswith("Tokens and Next token still work with llama.cpp.")
    assert analyser.loaded["source"] == str(starter_model.resolve())  # refused before unloading anything
    missing = tmp_path / "nope.gguf"
    with pytest.raises(WorkerError) as info:
        loop.run_until_complete(analyser.logit_lens(missing, text="hello"))
    assert info.value.kind == "missing" and "no such file" in info.value.message


def test_empty_text_is_a_sentence_not_a_crash(loop, analyser, starter_model):
    pid = analyser.pid
    for call in (analyser.attention(starter_model, text=""), analyser.logit_lens(starter_model, text=None),
                 analyser.next_token(starter_model, tokens=[])):
        with pytest.raises(WorkerError) as info:
            loop.run_until_complete(call)
        assert info.value.kind == "empty" and info.value.message == "nothing to analyse: the text is empty"
    with pytest.raises(WorkerError) as info:
        loop.run_until_complete(analyser.next_token(starter_model, tokens=[1, 10**6]))
    assert info.value.kind == "bad_request" and "1000000" in info.value.message
    assert analyser.pid == pid and not analyser.busy


def test_cancel_between_layers_keeps_the_worker_warm(loop, analyser, starter_model):
    pid = analyser.pid

    async def body():
        async def cancel_on_first_layer(fraction, stage):
            await analyser.cancel()
        tasks = []
        call = analyser.attention(starter_model, text=LONG, max_tokens=512,
                                  on_progress=lambda f, s: s == "forward" and not tasks and tasks.append(
                                      asyncio.ensure_future(cancel_on_first_layer(f, s))))
        with pytest.raises(WorkerError) as info:
            await call
        assert tasks
        return info.value

    error = loop.run_until_complete(body())
    assert error.kind == "cancelled"
    assert analyser.pid == pid and not analyser.busy
    after = loop.run_until_complete(analyser.next_token(starter_model, text="Hello", top_k=1))
    assert after["tokens"] and analyser.pid == pid  # same process, model still warm


def test_killed_worker_surfaces_and_the_next_call_starts_fresh(loop, analyser, starter_model):
    old_pid = analyser.pid

    async def body():
        killed = []
        call = analyser.attention(starter_model, text=LONG, max_tokens=512,
                                  on_progress=lambda f, s: s == "forward" and not killed and (
                                      killed.append(1) or analyser.kill()))
        with pytest.raises(WorkerError) as info:
            await call
        return info.value

    error = loop.run_until_complete(body())
    assert error.kind == "worker_crashed" and "killed" in error.message
    assert analyser.loaded is None and not analyser.busy
    loaded = []
    analyser.subscribe("loaded", lambda **facts: loaded.append(facts))
    result = loop.run_until_complete(analyser.next_token(starter_model, text="Hello", top_k=1))
    assert result["tokens"] and analyser.pid != old_pid
    assert loaded and analyser.loaded["n_layers"] == 30  # the fresh worker reloaded (from the cache)


def test_a_prewarmed_worker_has_torch_ready_and_loads_nothing_until_asked(loop, starter_model, dequantized_starter,
                                                                          tmp_path):
    client = AnalyserClient(results_dir=tmp_path / "results")
    try:
        warm = loop.run_until_complete(client.warm())
        assert warm["seconds"] >= 0 and client.pid is not None and client.loaded is None
        pid = client.pid
        facts = loop.run_until_complete(client.load(starter_model))
        assert facts["cached"] and facts["n_layers"] == 30 and client.pid == pid  # the same, warmed process
    finally:
        loop.run_until_complete(client.close())


def test_cancel_while_loading_and_an_hf_folder_source(loop, starter_model, dequantized_starter, tmp_path):
    """A fresh client on an empty cache: cancel the first dequantize (where a user waits longest),
    then cancel a quick load of an HF folder (the dequantized starter, nothing to dequantize)."""
    cache = tmp_path / "cache"
    client = AnalyserClient(env={**os.environ, "STUDIO_CACHE_DIR": str(cache)}, results_dir=tmp_path / "out")

    def cancel_on(wanted):
        fired = []

        def on_progress(fraction, stage):
            if wanted(fraction, stage) and not fired:
                fired.append(asyncio.ensure_future(client.cancel()))
        return on_progress, fired

    async def body():
        # Usually lands before transformers starts; at the latest between GGUF tensors.
        on_progress, fired = cancel_on(lambda fraction, stage: stage == "dequantize")
        with pytest.raises(WorkerError) as info:
            await client.load(starter_model, on_progress=on_progress)
        assert info.value.kind == "cancelled" and fired
        assert client.loaded is None and not client.busy
        assert not list(cache.glob("dequantized/*/studio-cache.json"))  # nothing half-made counts as cached
        pid = client.pid
        on_progress, fired = cancel_on(lambda fraction, stage: stage == "load")
        with pytest.raises(WorkerError) as info:
            await client.load(dequantized_starter, on_progress=on_progress)
        assert info.value.kind == "cancelled" and fired
        facts = client.loaded  # cancelled after the weights were in: they stay warm, and the client knows
        reloaded = []
        client.subscribe("loaded", lambda **f: reloaded.append(f))
        attention = await client.attention(dequantized_starter, text="Hello world, hello")
        nxt = await client.next_token(dequantized_starter, text="The capital of France is", top_k=1)
        assert client.pid == pid and not reloaded
        return facts, attention, nxt

    try:
        facts, attention, nxt = loop.run_until_complete(body())
    finally:
        loop.run_until_complete(client.close())
    assert facts["cached"] is True and facts["n_layers"] == 30 and facts["architecture"] == "llama"
    assert attention.n_layers == 30 and attention.n_tokens == len(attention.labels) == len(attention.ids) >= 4
    np.testing.assert_allclose(attention.weights.sum(axis=-1), 1.0, atol=1e-4)
    assert nxt["tokens"][0]["piece"] == " Paris"


def test_missing_packages_is_a_sentence_with_the_fix(monkeypatch):
    import studio.core.inspect.analysis as analysis
    import studio.core.inspect.worker as worker

    monkeypatch.setattr(analysis, "missing_packages", lambda: ["torch", "transformers"])
    monkeypatch.setattr(worker, "_analyser", None)
    with pytest.raises(WorkerError) as info:
        worker._get_analyser()
    assert info.value.kind == "missing_packages"
    assert info.value.message.startswith("Attention and the logit lens need torch, transformers, which this "
                                         "installation lacks.")
    assert "pip install" in info.value.message and "Tokens and Next token still work" in info.value.message


def test_a_model_too_big_for_memory_is_refused_with_the_numbers():
    from studio.core.inspect.analysis import memory_shortfall

    assert memory_shortfall(135_000_000, 8 * 2**30) is None               # the starter: 0.6 GB
    message = memory_shortfall(7_000_000_000, 16 * 2**30)                 # a 7B model on 16 GB free
    assert message is not None and "32.6 GB" in message and "16.0 GB is free" in message
    assert "Tokens and Next token still work" in message
    # The warm model is freed before the next one loads, so its memory counts as free.
    assert memory_shortfall(1_000_000_000, 4 * 2**30, loaded_bytes=2 * 2**30) is None
