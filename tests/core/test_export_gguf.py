"""PEFT adapter -> GGUF LoRA adapter, and merging an adapter into a GGUF (no torch needed)."""

import asyncio
import json

import gguf
import numpy as np
import pytest
from safetensors.numpy import save_file

from studio.core.training.export_gguf import (ExportError, export_lora_gguf, peft_to_lora_weights, permute_rows,
                                              read_lora_gguf)

N_HEAD, N_HEAD_KV, HEAD_DIM, N_EMBD, N_FF = 4, 2, 8, 32, 48


def hf_base(tmp_path, model_type="llama", layers=2):
    folder = tmp_path / "base"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": model_type, "num_attention_heads": N_HEAD, "num_key_value_heads": N_HEAD_KV,
        "num_hidden_layers": layers, "hidden_size": N_EMBD}))
    return folder


def peft_folder(tmp_path, modules, *, r=4, alpha=8, extra_config=None, dtype=np.float32, seed=0, base=None):
    """A PEFT adapter folder as peft.save_pretrained writes it: module -> (out, in)."""
    rng = np.random.default_rng(seed)
    folder = tmp_path / "adapter"
    folder.mkdir(exist_ok=True)
    tensors = {}
    for module, (out, inp) in modules.items():
        tensors[f"base_model.model.{module}.lora_A.weight"] = rng.standard_normal((r, inp)).astype(dtype)
        tensors[f"base_model.model.{module}.lora_B.weight"] = rng.standard_normal((out, r)).astype(dtype)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": ["q_proj"],
              "base_model_name_or_path": str(base) if base else None, **(extra_config or {})}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder, tensors


ATTN_MLP = {
    "model.layers.0.self_attn.q_proj": (N_HEAD * HEAD_DIM, N_EMBD),
    "model.layers.0.self_attn.k_proj": (N_HEAD_KV * HEAD_DIM, N_EMBD),
    "model.layers.1.self_attn.v_proj": (N_HEAD_KV * HEAD_DIM, N_EMBD),
    "model.layers.1.self_attn.o_proj": (N_EMBD, N_HEAD * HEAD_DIM),
    "model.layers.1.mlp.gate_proj": (N_FF, N_EMBD),
    "model.layers.1.mlp.up_proj": (N_FF, N_EMBD),
    "model.layers.1.mlp.down_proj": (N_EMBD, N_FF),
}


def test_export_writes_llama_cpp_adapter_layout(tmp_path):
    base = hf_base(tmp_path)
    folder, tensors = peft_folder(tmp_path, ATTN_MLP, base=base)
    out = export_lora_gguf(folder, tmp_path / "adapter.gguf")  # base found through base_model_name_or_path

    reader = gguf.GGUFReader(str(out))
    fields = {name: f.contents() for name, f in reader.fields.items() if not name.startswith("GGUF.")}
    assert fields["general.type"] == "adapter" and fields["adapter.type"] == "lora"
    assert fields["general.architecture"] == "llama" and fields["adapter.lora.alpha"] == 8.0
    names = sorted(t.name for t in reader.tensors)
    assert names == sorted(f"{n}.weight.lora_{ab}" for n in (
        "blk.0.attn_q", "blk.0.attn_k", "blk.1.attn_v", "blk.1.attn_output",
        "blk.1.ffn_gate", "blk.1.ffn_up", "blk.1.ffn_down") for ab in "ab")
    by_name = {t.name: t for t in reader.tensors}
    # ggml shapes: lora_a [in, rank], lora_b [rank, out], as llama.cpp checks them against [in, out]
    assert by_name["blk.1.ffn_down.weight.lora_a"].shape.tolist() == [N_FF, 4]
    assert by_name["blk.1.ffn_down.weight.lora_b"].shape.tolist() == [4, N_EMBD]

    back = read_lora_gguf(out)
    a, b = back.pairs["blk.1.ffn_up.weight"]
    assert np.array_equal(a, tensors["base_model.model.model.layers.1.mlp.up_proj.lora_A.weight"])
    assert np.array_equal(b, tensors["base_model.model.model.layers.1.mlp.up_proj.lora_B.weight"])


def test_q_and_k_rows_follow_llama_cpp_rotary_order(tmp_path):
    """llama.cpp stores q/k rows of each head as interleaved pairs (0, half, 1, half+1, ...);
    B's rows must follow, with k using the key/value head count."""
    folder, tensors = peft_folder(tmp_path, ATTN_MLP)
    weights = peft_to_lora_weights(folder, hf_base(tmp_path))
    half = HEAD_DIM // 2
    order = [h * HEAD_DIM + j + side * half for h in range(N_HEAD) for j in range(half) for side in (0, 1)]
    q_b = tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    assert np.array_equal(weights.pairs["blk.0.attn_q.weight"][1], q_b[order])
    order_kv = [i for i in order if i < N_HEAD_KV * HEAD_DIM]
    k_b = tensors["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"]
    assert np.array_equal(weights.pairs["blk.0.attn_k.weight"][1], k_b[order_kv])
    v_b = tensors["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"]
    assert np.array_equal(weights.pairs["blk.1.attn_v.weight"][1], v_b)  # v is never reordered
    # A is untouched: the update B @ A just gains the same row order as the base weight
    q_a = tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
    assert np.array_equal(weights.pairs["blk.0.attn_q.weight"][0], q_a)


def test_architectures_without_reordering_keep_rows(tmp_path):
    folder, tensors = peft_folder(tmp_path, {"model.layers.0.self_attn.q_proj": (N_HEAD * HEAD_DIM, N_EMBD)})
    weights = peft_to_lora_weights(folder, hf_base(tmp_path, "qwen2"))
    assert weights.architecture == "qwen2"
    assert np.array_equal(weights.pairs["blk.0.attn_q.weight"][1],
                          tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"])


def test_rslora_and_alpha_pattern_fold_into_b(tmp_path):
    """llama.cpp scales every tensor by alpha/rank with one alpha; other PEFT scalings are folded into B."""
    modules = {"model.layers.0.mlp.up_proj": (N_FF, N_EMBD), "model.layers.0.mlp.down_proj": (N_EMBD, N_FF)}
    folder, tensors = peft_folder(tmp_path, modules, r=4, alpha=8,
                                  extra_config={"use_rslora": True, "alpha_pattern": {"down_proj": 2}})
    weights = peft_to_lora_weights(folder, hf_base(tmp_path))
    up = tensors["base_model.model.model.layers.0.mlp.up_proj.lora_B.weight"] @ \
        tensors["base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"]
    down = tensors["base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"] @ \
        tensors["base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"]
    np.testing.assert_allclose(weights.delta("blk.0.ffn_up.weight"), up * 8 / np.sqrt(4), rtol=1e-5)
    np.testing.assert_allclose(weights.delta("blk.0.ffn_down.weight"), down * 2 / np.sqrt(4), rtol=1e-5)


def test_bf16_adapters_are_read_without_torch(tmp_path):
    folder, tensors = peft_folder(tmp_path, {"model.layers.0.mlp.up_proj": (N_FF, N_EMBD)})
    # bf16 is the top half of a float32; write the file by its documented layout (header + data).
    header, blobs, offset = {}, [], 0
    for key, value in tensors.items():
        blob = (value.view(np.uint32) >> 16).astype("<u2").tobytes()
        header[key] = {"dtype": "BF16", "shape": list(value.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    (folder / "adapter_model.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))
    weights = peft_to_lora_weights(folder, hf_base(tmp_path))
    a = weights.pairs["blk.0.ffn_up.weight"][0]
    truncated = (tensors["base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"].view(np.uint32)
                 & 0xFFFF0000).view(np.float32)
    assert np.array_equal(a, truncated)


def test_pickle_adapters_are_refused(tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8}))
    (folder / "adapter_model.bin").write_bytes(b"\x80\x04 not really a pickle")
    with pytest.raises(ExportError) as info:
        export_lora_gguf(folder, tmp_path / "a.gguf", base_model=hf_base(tmp_path))
    assert info.value.kind == "pickle" and "safetensors" in info.value.message
    assert not (tmp_path / "a.gguf").exists()


@pytest.mark.parametrize("modules, config, kind, words", [
    ({"model.embed_tokens": (8, N_EMBD)}, {}, "unsupported_module", "token embedding"),
    ({"model.layers.0.self_attn.rotary_thing": (8, N_EMBD)}, {}, "unsupported_module", "no counterpart"),
    ({"model.layers.7.mlp.up_proj": (N_FF, N_EMBD)}, {}, "shape", "only 2 layers"),
    ({"model.layers.0.mlp.up_proj": (N_FF, N_EMBD)}, {"use_dora": True}, "unsupported", "DoRA"),
])
def test_unusable_adapters_say_why(tmp_path, modules, config, kind, words):
    folder, _ = peft_folder(tmp_path, modules, extra_config=config)
    with pytest.raises(ExportError) as info:
        export_lora_gguf(folder, tmp_path / "a.gguf", base_model=hf_base(tmp_path))
    assert info.value.kind == kind and words in info.value.message


def test_unknown_base_is_reported(tmp_path):
    folder, _ = peft_folder(tmp_path, {"model.layers.0.mlp.up_proj": (N_FF, N_EMBD)})
    with pytest.raises(ExportError) as info:
        export_lora_gguf(folder, tmp_path / "a.gguf")
    assert info.value.kind == "base_unknown" and "pass the base model" in info.value.message
    with pytest.raises(ExportError) as info:
        export_lora_gguf(folder, tmp_path / "a.gguf", base_model=hf_base(tmp_path, "no-such-arch"))
    assert info.value.kind == "unsupported_arch" and "no-such-arch" in info.value.message


# --- against the real starter model ---------------------------------------------------------------

@pytest.mark.slow
def test_permutation_matches_how_the_gguf_stores_q_and_k(starter_model, dequantized_starter):
    """The dequantized starter is in Hugging Face layout; its GGUF holds the same numbers in
    llama.cpp's layout. permute_rows must map one onto the other exactly."""
    from safetensors import safe_open

    from studio.core.models.gguf_info import read_gguf_info

    info = read_gguf_info(starter_model)
    reader = gguf.GGUFReader(str(starter_model))
    stored = {t.name: t for t in reader.tensors}
    weights_file = next(dequantized_starter.glob("*.safetensors"))
    with safe_open(str(weights_file), framework="numpy") as hf:
        for layer in (0, 17):
            for proj, gguf_name, heads in (("q_proj", "attn_q", info.head_count), ("k_proj", "attn_k", info.head_count_kv)):
                tensor = stored[f"blk.{layer}.{gguf_name}.weight"]
                in_gguf = gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type)
                in_hf = hf.get_tensor(f"model.layers.{layer}.self_attn.{proj}.weight").astype(np.float32)
                np.testing.assert_allclose(permute_rows(in_hf, heads), in_gguf.reshape(in_hf.shape), atol=1e-3)
                assert not np.allclose(in_hf, in_gguf.reshape(in_hf.shape), atol=1e-3)  # the order does differ


def starter_adapter(tmp_path, starter_model, modules, scale):
    """A random (untrained) adapter for the starter, exported to GGUF."""
    from studio.core.models.gguf_info import read_gguf_info
    info = read_gguf_info(starter_model)
    dims = {"q_proj": 576, "k_proj": 192, "v_proj": 192, "o_proj": 576, "gate_proj": 1536, "up_proj": 1536,
            "down_proj": 576}
    inputs = {"o_proj": 576, "down_proj": 1536}
    rng = np.random.default_rng(1)
    folder = tmp_path / "peft"
    folder.mkdir()
    tensors = {}
    for layer in range(0, info.block_count, 3):  # every third layer keeps the merge quick
        for proj in modules:
            kind = "mlp" if proj in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            key = f"base_model.model.model.layers.{layer}.{kind}.{proj}"
            tensors[key + ".lora_A.weight"] = (rng.standard_normal((8, inputs.get(proj, 576))) / 24).astype(np.float32)
            tensors[key + ".lora_B.weight"] = (rng.standard_normal((dims[proj], 8)) * scale).astype(np.float32)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16}))
    return folder, export_lora_gguf(folder, tmp_path / "random.gguf", base_model=starter_model)


def logprobs(engine, prompts, ids):
    async def go():
        out = []
        for prompt in prompts:
            result = await engine.next_logits(prompt, top_k=1, ids=ids)
            out.append([t["logprob"] for t in result["requested"]])
        return np.array(out)
    return go()


@pytest.mark.slow
def test_merged_gguf_behaves_like_base_plus_adapter(starter_model, tmp_path):
    from studio.core.engine.client import EngineClient
    from studio.core.settings import EngineSettings
    from studio.core.training.merge import merge_lora_into_gguf

    peft, adapter = starter_adapter(tmp_path, starter_model, ["v_proj", "o_proj", "up_proj", "q_proj"], 0.05)
    stages = []
    f16 = merge_lora_into_gguf(starter_model, adapter, tmp_path / "merged-f16.gguf", weight_type="f16")
    auto = merge_lora_into_gguf(starter_model, peft, tmp_path / "merged-q8.gguf",
                                progress=lambda f, s: stages.append(f))
    assert stages[0] == 0.0 and stages[-1] == 1.0
    prompts = ["The capital of France is", "Once upon a time, a small robot", "def fibonacci(n):"]

    async def body():
        engine = EngineClient(EngineSettings(n_threads=1))
        try:
            await engine.load(str(starter_model), n_ctx=512)
            top = await engine.next_logits(prompts[0], top_k=40)
            ids = [t["id"] for t in top["tokens"]]
            base = await logprobs(engine, prompts, ids)
            await engine.set_lora([{"path": str(adapter), "scale": 1.0}])
            tuned = await logprobs(engine, prompts, ids)
            results = {}
            for path in (f16, auto):
                await engine.load(str(path), n_ctx=512, lora=[])
                results[path.name] = await logprobs(engine, prompts, ids)
            return base, tuned, results
        finally:
            await engine.close()

    base, tuned, merged = asyncio.run(body())
    shift = (tuned - base).ravel()
    assert np.abs(shift).max() > 1.0  # the adapter does change the model
    for name, floor in (("merged-f16.gguf", 0.95), ("merged-q8.gguf", 0.9)):
        got = (merged[name] - base).ravel()
        cosine = float(got @ shift / np.linalg.norm(got) / np.linalg.norm(shift))
        print(f"{name}: cosine of the logprob shift vs base+adapter = {cosine:.3f}")
        assert cosine > floor, name

    from studio.core.models.gguf_info import read_gguf_info
    assert read_gguf_info(auto).metadata == read_gguf_info(starter_model).metadata  # every key copied
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(str(auto)).tensors}
    assert types["blk.3.attn_v.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.4.attn_v.weight"] == gguf.GGMLQuantizationType.Q4_1  # untouched, copied as is
