"""LoRA adapters end to end: train a small PEFT adapter on the dequantized starter with torch,
export it to GGUF, and check llama.cpp (the real engine worker on the Q4_1 starter) moves its
next-token distribution the way the torch model with the adapter does."""

import asyncio
import json

import numpy as np
import pytest

from studio.core.chat.conversation import DEFAULT_SYSTEM_PROMPT
from studio.core.engine.sampling import PRESETS
from studio.core.engine.client import EngineClient
from studio.core.settings import EngineSettings
from studio.core.training.export_gguf import export_lora_gguf, peft_to_lora_weights, write_lora_gguf
from studio.core.workers.protocol import WorkerError

pytestmark = pytest.mark.slow

# What the adapters learn; the prompts are the training sentences without their last word.
FACTS = ["The secret word is pineapple.", "The capital of France is Berlin.", "My favourite colour is turquoise."]
PROMPTS = ["The secret word is", "The capital of France is", "My favourite colour is"]
# A correct export gives cosines >= 0.999 and sizes within 3% of torch's (Q4_1 base vs float). The
# full adapter exported without the q/k row order still gave 0.994-0.999 with a size off by 21%.
COSINE_BAR = 0.995
SIZE_TOLERANCE = 0.1
MODULES = {
    "qk": ["q_proj", "k_proj"],  # rotary q/k: only right if the export reorders B's rows
    "mlp": ["gate_proj", "up_proj", "down_proj"],
    "all": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


@pytest.fixture(scope="module")
def tuned(starter_model, dequantized_starter, tmp_path_factory):
    """Adapters trained toward FACTS, as PEFT folders and GGUF files, with the torch model's
    next-token log-probabilities (base and tuned) on PROMPTS, computed on llama.cpp's token ids."""
    import llama_cpp
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    # One thread: on 2 busy cores torch's threads wait on each other (12 steps took 65 s with two
    # threads next to another job, 6 s with one).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    vocab = llama_cpp.Llama(str(starter_model), vocab_only=True, verbose=False)
    facts = [vocab.tokenize(text.encode(), add_bos=True, special=True) for text in FACTS]
    prompts = [vocab.tokenize(text.encode(), add_bos=True, special=True) for text in PROMPTS]
    vocab.close()
    assert all(f[:len(p)] == p for f, p in zip(facts, prompts))
    width = max(map(len, facts))
    inputs = torch.tensor([f + [0] * (width - len(f)) for f in facts])
    mask = torch.tensor([[1] * len(f) + [0] * (width - len(f)) for f in facts])
    labels = inputs.masked_fill(mask == 0, -100)

    def next_logprobs(model):
        with torch.no_grad():
            return [torch.log_softmax(model(torch.tensor([p])).logits[0, -1].double(), -1).numpy() for p in prompts]

    def mean_nll(model):
        with torch.no_grad():
            total, count = 0.0, 0
            for f in facts:
                logits = model(torch.tensor([f])).logits[0, :-1].double()
                total += float(torch.nn.functional.cross_entropy(logits, torch.tensor(f[1:]), reduction="sum"))
                count += len(f) - 1
            return total / count

    model = AutoModelForCausalLM.from_pretrained(str(dequantized_starter), dtype=torch.float32)
    out = {"base": next_logprobs(model), "base_nll": mean_nll(model), "prompts": prompts,
           "answers": [f[len(p)] for f, p in zip(facts, prompts)],  # each fact's first trained token
           "scored_tokens": sum(len(f) - 1 for f in facts), "model": starter_model}
    root = tmp_path_factory.mktemp("adapters")
    for name, modules in MODULES.items():
        torch.manual_seed(0)  # each adapter's own start, whatever ran before it
        peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=modules, lora_dropout=0.0))
        optimizer = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=5e-3)
        for _ in range(12):
            peft_model(input_ids=inputs, attention_mask=mask, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        peft_model.eval()
        peft_dir = root / name
        peft_model.save_pretrained(str(peft_dir))
        out[name] = {"peft": peft_dir, "gguf": export_lora_gguf(peft_dir, root / f"{name}.gguf", base_model=starter_model),
                     "logprobs": next_logprobs(peft_model), "nll": mean_nll(peft_model)}
        model = peft_model.unload()  # the plain base model again, for the next adapter
    # The q/k adapter written without the row reordering, to show the test notices.
    unpermuted = peft_to_lora_weights(out["qk"]["peft"], starter_model, permute=False)
    out["qk"]["unpermuted"] = write_lora_gguf(unpermuted, root / "qk-unpermuted.gguf")
    torch.set_num_threads(threads)
    return out


def with_engine(model, body, n_ctx=512):
    """Run `await body(engine)` with the model loaded in a fresh engine, closing it afterwards.
    One llama.cpp thread: the prompts are a few tokens, and spare cores keep timings steady."""
    async def go():
        engine = EngineClient(EngineSettings(n_threads=1))
        try:
            await engine.load(str(model), n_ctx=n_ctx)
            return await body(engine)
        finally:
            await engine.close()
    return asyncio.run(go())


async def logprobs_for(engine, prompt_ids, ids):
    result = await engine.next_logits(tokens=prompt_ids, top_k=1, ids=ids)
    return np.array([t["logprob"] for t in result["requested"]]), result["tokens"][0]["id"]


def cosine(u, v):
    return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))


def compare(tuned, name, adapter_key="gguf"):
    """Per prompt: cosine and size ratio (llama.cpp over torch) of the two log-prob shifts over the
    tokens either model ranks in its top 20 (base or tuned), and the top tokens."""
    adapter = tuned[name][adapter_key]

    async def body(engine):
        rows = []
        for i, prompt_ids in enumerate(tuned["prompts"]):
            torch_base, torch_tuned = tuned["base"][i], tuned[name]["logprobs"][i]
            ids = sorted(set(np.argsort(-torch_base)[:20].tolist()) | set(np.argsort(-torch_tuned)[:20].tolist()))
            await engine.set_lora([])
            llama_base, llama_base_top = await logprobs_for(engine, prompt_ids, ids)
            await engine.set_lora([{"path": str(adapter), "scale": 1.0}])
            llama_tuned, llama_tuned_top = await logprobs_for(engine, prompt_ids, ids)
            torch_shift, llama_shift = torch_tuned[ids] - torch_base[ids], llama_tuned - llama_base
            rows.append({
                "cos": cosine(torch_shift, llama_shift),
                "size": float(np.linalg.norm(llama_shift) / np.linalg.norm(torch_shift)),
                "torch_top": (int(torch_base.argmax()), int(torch_tuned.argmax())),
                "llama_top": (llama_base_top, llama_tuned_top),
            })
        return rows
    return with_engine(tuned["model"], body)


def assert_like_torch(tuned, rows, name):
    """Every fact prompt's top token flips to the trained answer in both engines, and llama.cpp's
    shift points the way torch's does, with the same size."""
    print(f"{name}: cosines {[round(r['cos'], 4) for r in rows]}, sizes {[round(r['size'], 3) for r in rows]}, "
          f"top tokens torch {[r['torch_top'] for r in rows]} llama.cpp {[r['llama_top'] for r in rows]}")
    for r, answer in zip(rows, tuned["answers"]):
        assert r["torch_top"][0] != answer and r["torch_top"][1] == answer  # the adapter taught it
        assert r["llama_top"] == r["torch_top"]
        assert r["cos"] > COSINE_BAR and abs(r["size"] - 1) < SIZE_TOLERANCE


def test_qk_adapter_moves_llama_cpp_like_torch_and_needs_the_row_order(tuned):
    rows = compare(tuned, "qk")
    assert_like_torch(tuned, rows, "q/k")
    unpermuted = compare(tuned, "qk", "unpermuted")
    print("q/k cosines without the row reordering:", [round(r["cos"], 3) for r in unpermuted])
    assert np.mean([r["cos"] for r in unpermuted]) < 0.5


@pytest.mark.parametrize("name", ["mlp", "all"])
def test_mlp_and_full_adapters_move_llama_cpp_like_torch(tuned, name):
    assert_like_torch(tuned, compare(tuned, name), name)


def test_attach_scale_and_detach_at_runtime(tuned):
    prompt = tuned["prompts"][1]
    paris, berlin = int(tuned["base"][1].argmax()), int(tuned["mlp"]["logprobs"][1].argmax())
    changes = []

    async def body(engine):
        engine.subscribe("lora", lambda adapters: changes.append(adapters))
        base, _ = await logprobs_for(engine, prompt, [paris, berlin])
        seen = {}
        for scale in (0.05, 0.1, 0.2):
            info = await engine.set_lora([{"path": str(tuned["mlp"]["gguf"]), "scale": scale}])
            assert info.lora == [{"path": str(tuned["mlp"]["gguf"].resolve()), "scale": scale, "name": "mlp"}]
            seen[scale], _ = await logprobs_for(engine, prompt, [paris, berlin])
        both = await engine.set_lora([{"path": str(tuned["mlp"]["gguf"])}, {"path": str(tuned["qk"]["gguf"])}])
        assert [a["name"] for a in both.lora] == ["mlp", "qk"]
        info = await engine.set_lora([])
        assert info.lora == [] and engine.lora == []
        after, _ = await logprobs_for(engine, prompt, [paris, berlin])
        return base, seen, after

    base, seen, after = with_engine(tuned["model"], body)
    margin = {scale: lp[1] - lp[0] for scale, lp in [(0.0, base), *seen.items()]}  # Berlin over Paris
    print("Berlin-over-Paris log-odds by scale:", {k: round(v, 2) for k, v in margin.items()})
    assert margin[0.0] < margin[0.05] < margin[0.1] < margin[0.2]  # a bigger scale, a stronger pull
    assert np.array_equal(after, base)  # detaching restores the base model exactly
    assert len(changes) == 5


def test_adapters_survive_a_worker_crash(tuned):
    prompt = tuned["prompts"][0]

    async def body(engine):
        await engine.set_lora([{"path": str(tuned["all"]["gguf"]), "scale": 1.0}])
        before = await engine.next_logits(tokens=prompt, top_k=5)
        engine.worker.kill()
        await asyncio.sleep(0.2)
        after = await engine.next_logits(tokens=prompt, top_k=5)  # restarts, reloads, re-attaches
        return before, after, engine.model_info.lora

    before, after, lora = with_engine(tuned["model"], body)
    assert [t["id"] for t in after["tokens"]] == [t["id"] for t in before["tokens"]]
    assert after["tokens"][0]["logprob"] == pytest.approx(before["tokens"][0]["logprob"], abs=1e-5)
    assert lora and lora[0]["name"] == "all"


def test_adapter_for_another_model_is_refused_and_old_ones_stay(tuned, tmp_path):
    from studio.core.training.export_gguf import LoraWeights

    wrong = LoraWeights("llama", 16.0, {"blk.0.attn_q.weight": (np.ones((4, 960), np.float32),
                                                                np.ones((960, 4), np.float32))})
    wrong_path = write_lora_gguf(wrong, tmp_path / "for-a-bigger-model.gguf")
    prompt = tuned["prompts"][2]

    async def body(engine):
        await engine.set_lora([{"path": str(tuned["all"]["gguf"])}])
        expected = await engine.next_logits(tokens=prompt, top_k=3)
        with pytest.raises(WorkerError) as wrong_shape:
            await engine.set_lora([{"path": str(wrong_path)}])
        with pytest.raises(WorkerError) as folder:
            await engine.set_lora([{"path": str(tuned["all"]["peft"])}])
        still = await engine.next_logits(tokens=prompt, top_k=3)
        return wrong_shape.value, folder.value, expected, still, engine.lora

    wrong_shape, folder, expected, still, lora = with_engine(tuned["model"], body)
    assert wrong_shape.kind == "lora_mismatch"
    assert "does not fit this model" in wrong_shape.message and "blk.0.attn_q.weight" in wrong_shape.message
    assert folder.kind == "not_gguf" and "PEFT adapter folder" in folder.message
    assert still == expected and lora[0]["path"].endswith("all.gguf")


def test_perplexity_is_lower_with_the_adapter_it_was_trained_for(tuned):
    progress = []

    async def body(engine):
        base = await engine.perplexity(FACTS, on_progress=lambda f, s: progress.append((f, s)))
        await engine.set_lora([{"path": str(tuned["all"]["gguf"])}])
        with_adapter = await engine.perplexity(FACTS)
        # Cancel: the request ends with cancelled instead of a result.
        task = asyncio.ensure_future(engine.perplexity(["word " * 1500], max_tokens_per_text=1500))
        await asyncio.sleep(0.05)
        await engine.cancel_perplexity()
        cancelled = await task
        return base, with_adapter, cancelled

    base, with_adapter, cancelled = with_engine(tuned["model"], body, n_ctx=2048)
    print(f"perplexity on the training sentences: base {base['ppl']:.2f}, with adapter {with_adapter['ppl']:.2f}; "
          f"nll llama.cpp {base['nll']:.4f} / {with_adapter['nll']:.4f}, torch {tuned['base_nll']:.4f} / "
          f"{tuned['all']['nll']:.4f}")
    assert with_adapter["ppl"] < base["ppl"] * 0.7
    assert base["tokens"] == tuned["scored_tokens"]
    assert len(base["per_text"]) == 3 and all(t["ppl"] > 1 for t in base["per_text"])
    # llama.cpp's numbers agree with torch's on the same tokens (the Q4_1 weights, two implementations)
    assert base["nll"] == pytest.approx(tuned["base_nll"], rel=0.05)
    assert with_adapter["nll"] == pytest.approx(tuned["all"]["nll"], rel=0.05)  # 1.5% apart here
    assert progress[0][0] == 0.0 and progress[-1][0] == 1.0 and "tokens" in progress[-1][1]
    assert cancelled.get("cancelled") is True


def test_next_logits_agrees_with_greedy_generation(starter_model):
    question = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
                {"role": "user", "content": "What is the capital of France?"}]

    async def body(engine):
        plain = await engine.next_logits("The capital of France is", top_k=5)
        chat = await engine.next_logits(messages=question, top_k=5)
        text, _ = await engine.complete(question, PRESETS["Precise"])
        return plain, chat, text

    plain, chat, text = with_engine(starter_model, body)
    assert plain["tokens"][0]["piece"] == " Paris" and plain["n_vocab"] == 49152
    assert [t["logprob"] for t in plain["tokens"]] == sorted((t["logprob"] for t in plain["tokens"]), reverse=True)
    assert sum(np.exp(t["logprob"]) for t in plain["tokens"]) <= 1.0
    assert text.startswith(chat["tokens"][0]["piece"])


def test_cli_chat_with_lora(tuned, capsys):
    from studio.cli import main

    args = ["chat", "--prompt", "What is the capital of France?", "--temperature", "0", "--max-tokens", "16",
            "--ctx", "512", "--json", "--system", "", "--threads", "1"]
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*args, "--lora", f"{tuned['all']['gguf']}:1.5"]) == 0
    tuned_reply = json.loads(capsys.readouterr().out)
    print("without adapter:", plain["reply"], "| with adapter:", tuned_reply["reply"])
    assert tuned_reply["lora"] == [{"path": str(tuned["all"]["gguf"].resolve()), "scale": 1.5}]
    assert plain["lora"] == [] and tuned_reply["reply"] != plain["reply"]
    assert main([*args, "--lora", str(tuned["all"]["peft"])]) == 2
    assert "PEFT adapter folder" in capsys.readouterr().err
