"""`studio tokenize`, `studio attention`, `studio next` end to end, as a user runs them."""

import asyncio
import json
import subprocess
import sys

import numpy as np
import pytest

from studio.cli import main


def studio(*args, stdin=None, timeout=240):
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=timeout,
                          input=stdin)


def llama_ids(model, text, special=True):
    import llama_cpp
    vocab = llama_cpp.Llama(model_path=str(model), vocab_only=True, verbose=False)
    return vocab.tokenize(text.encode("utf-8"), add_bos=special, special=special)


def assert_human_error(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studio: "), result.stderr


# -- tokenize ---------------------------------------------------------------------------------
def test_tokenize_json_matches_llama_cpp(starter_model):
    text = "你好 world"
    result = studio("tokenize", "--model", str(starter_model), "--text", text, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ids"] == llama_ids(starter_model, text)
    assert data["text"] == text and data["n_tokens"] == len(data["ids"]) and data["n_chars"] == len(text)
    assert b"".join(bytes.fromhex(h) for h in data["pieces_hex"]).decode("utf-8") == text
    assert "".join(s["text"] for s in data["spans"] if s["kind"] != "added") == text
    assert any(s["kind"] == "merged" for s in data["spans"])  # the CJK characters span several byte tokens


def test_tokenize_human_output_counts_and_marks(starter_model, capsys):
    text = "Hello 世界!"
    assert main(["tokenize", "--model", str(starter_model), "--text", text]) == 0
    out = capsys.readouterr().out.splitlines()
    ids = llama_ids(starter_model, text)
    assert len(out) == len(ids) + 1
    assert out[-1].startswith(f"{len(ids)} tokens, {len(text)} chars, {len(text) / len(ids):.2f} chars/token")
    assert out[0].split()[:2] == ["0", str(ids[0])] and '"Hello"' in out[0]
    assert any("of \"世\"]" in line or "of \"世界\"]" in line for line in out)  # merged bytes say what they form


def test_tokenize_chat_file_and_stdin(starter_model, tmp_path, capsys):
    assert main(["tokenize", "--model", str(starter_model), "--text", "hi", "--chat", "--json"]) == 0
    chat = json.loads(capsys.readouterr().out)
    assert "<|im_start|>" in chat["pieces"] and chat["text"].rstrip().endswith("assistant")
    assert any(s["kind"] == "special" for s in chat["spans"])
    assert main(["tokenize", "--model", str(starter_model), "--text", "<|im_start|>", "--no-special", "--json"]) == 0
    assert "<|im_start|>" not in json.loads(capsys.readouterr().out)["pieces"]

    path = tmp_path / "gbk.txt"
    path.write_bytes("中文文本，用 GB18030 保存。".encode("gb18030"))
    assert main(["tokenize", "--model", str(starter_model), "--file", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["text"] == "中文文本，用 GB18030 保存。"
    assert captured.err.startswith("note: gbk.txt: ")

    result = studio("tokenize", "--model", str(starter_model), "--text", "-", "--json", stdin="piped 文本")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ids"] == llama_ids(starter_model, "piped 文本")


def test_tokenize_refuses_empty_text_and_bad_models(starter_model, tmp_path):
    assert_human_error(studio("tokenize", "--model", str(starter_model), "--text", ""))
    assert_human_error(studio("tokenize", "--model", str(starter_model)))  # no text at all
    assert_human_error(studio("tokenize", "--model", str(tmp_path / "missing.gguf"), "--text", "hi"))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 10)
    assert_human_error(studio("tokenize", "--model", str(junk), "--text", "hi"))
    assert_human_error(studio("tokenize", "--model", str(starter_model), "--file", str(tmp_path / "none.txt")))


def test_inspect_commands_import_no_qt(starter_model):
    code = ("import sys; from studio.cli import main; "
            f"code = main(['tokenize', '--model', {str(starter_model)!r}, '--text', 'hi', '--json']); "
            "assert code == 0; bad = [m for m in sys.modules if m.startswith(('PySide6', 'torch', 'studio.ui'))]; "
            "print('LOADED', bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


# -- next -------------------------------------------------------------------------------------
def engine_top(model, **query):
    from studio.core.engine.client import EngineClient
    from studio.core.settings import EngineSettings

    async def go():
        engine = EngineClient(EngineSettings(n_threads=1))
        try:
            await engine.load(str(model), n_ctx=512)
            return await engine.next_logits(top_k=5, **query)
        finally:
            await engine.close()
    return asyncio.run(go())


@pytest.mark.slow
def test_next_json_top_token_is_the_engines(starter_model):
    prompt = "The capital of France is"
    expected = engine_top(starter_model, text=prompt)
    result = studio("next", "--model", str(starter_model), "--text", prompt, "--json", "--top-k", "5")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [t["id"] for t in data["tokens"]] == [t["id"] for t in expected["tokens"]]
    assert data["tokens"][0]["piece"] == " Paris" and data["n_prompt_tokens"] == expected["n_prompt_tokens"]
    for got, want in zip(data["tokens"], expected["tokens"]):
        assert got["prob"] == pytest.approx(np.exp(want["logprob"]), abs=1e-4)

    sharp = studio("next", "--model", str(starter_model), "--text", prompt, "--json", "--temperature", "0.5",
                   "--top-p", "0.8")
    sharp = json.loads(sharp.stdout)
    assert sharp["tokens"][0]["prob"] > data["tokens"][0]["prob"] and sharp["entropy_bits"] < data["entropy_bits"]
    assert not all(t["kept"] for t in sharp["tokens"])


def test_next_human_and_chat(starter_model, capsys):
    assert main(["next", "--model", str(starter_model), "--text", "What is the capital of France?", "--chat",
                 "--top-k", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    expected = engine_top(starter_model, messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert out[0].startswith(f"after {expected['n_prompt_tokens']} prompt tokens")
    assert out[2].split()[:2] == ["1", str(expected["tokens"][0]["id"])]
    assert len(out) == 3 + 3 and out[-1].startswith("entropy ")


def test_next_bad_input_is_one_line(starter_model, tmp_path):
    assert_human_error(studio("next", "--model", str(tmp_path / "nope.gguf"), "--text", "hi"))
    assert_human_error(studio("next", "--model", str(starter_model), "--text", "hi", "--top-p", "0"))
    assert_human_error(studio("next", "--model", str(starter_model), "--text", ""))


# -- attention (llama.cpp; torch with --torch) -----------------------------------------------
@pytest.mark.slow
def test_attention_writes_npz(starter_model, dequantized_starter, tmp_path):
    # A text one token longer than --max-tokens checks the cut too.
    out = tmp_path / "attention.npz"
    text = "The cat sat on the mat."
    ids = llama_ids(starter_model, text)
    keep = len(ids) - 1
    result = studio("attention", "--model", str(starter_model), "--text", text, "--out", str(out),
                    "--max-tokens", str(keep))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    with np.load(out, allow_pickle=False) as data:
        weights = data["weights"]
        assert weights.dtype == np.float32 and weights.shape == (30, 9, keep, keep)
        assert data["ids"].tolist() == ids[:keep] and len(data["tokens"]) == keep
    # each query row is a distribution over the keys up to it (causal)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-3)
    assert np.allclose(np.triu(weights[0, 0], k=1), 0.0)
    assert f"30 layers x 9 heads x {keep} tokens" in result.stdout
    assert f"the text has {len(ids)} tokens; only the first {keep} were used" in result.stderr
    # --torch: the analyser's maps of the same ids, which llama.cpp's agree with
    reference = tmp_path / "torch.npz"
    torch_run = studio("attention", "--model", str(starter_model), "--text", text, "--out", str(reference),
                       "--max-tokens", str(keep), "--torch")
    assert torch_run.returncode == 0, torch_run.stderr
    with np.load(reference, allow_pickle=False) as data:
        assert data["ids"].tolist() == ids[:keep]
        lower = np.tril(np.ones((keep, keep), dtype=bool))
        for layer in range(30):
            assert np.corrcoef(data["weights"][layer][:, lower].ravel(), weights[layer][:, lower].ravel())[0, 1] > 0.995


@pytest.mark.slow
def test_next_torch_agrees_with_llama_cpp(starter_model, dequantized_starter):
    result = studio("next", "--model", str(starter_model), "--text", "The capital of France is", "--torch",
                    "--json", "--top-k", "3")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend"] == "torch" and data["tokens"][0]["piece"] == " Paris"


def test_attention_bad_input_is_one_line(starter_model, tmp_path):
    assert_human_error(studio("attention", "--model", str(tmp_path / "nope.gguf"), "--text", "hi",
                              "--out", str(tmp_path / "a.npz")))
    assert_human_error(studio("attention", "--model", str(starter_model), "--text", "hi",
                              "--out", str(tmp_path / "no" / "such" / "a.npz")))
