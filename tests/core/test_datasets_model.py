"""Datasets as the base model sees them: its chat template, the trained spans, its tokenizer, and
scan_dataset's token statistics checked against llama.cpp's own tokenization of the starter model."""

from __future__ import annotations

import json

import pytest

from studio.core.datasets import (
    ChatRenderer, DatasetError, Example, VocabTokenizer, scan_dataset, token_label_mask,
)

CHAT = Example(messages=(
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of 日本?"},
    {"role": "assistant", "content": "Tokyo — 東京.\nAnything else?"},
), text=None, path="mem", line=1)
PROMPT_PARTS = ("<|im_start|>system\nYou answer briefly.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n"
                "<|im_start|>assistant\n\n<|im_start|>user\nAnd of 日本?<|im_end|>\n<|im_start|>assistant\n\n")


@pytest.fixture(scope="module")
def renderer(starter_model):
    return ChatRenderer.from_model(starter_model)


@pytest.fixture(scope="module")
def vocab(starter_model):
    tok = VocabTokenizer(starter_model)
    yield tok
    tok.close()


@pytest.mark.slow
def test_train_spans_are_exactly_the_replies_and_their_end_marker(renderer):
    assert renderer.source == "gguf" and renderer.eos_token == "<|im_end|>"
    rendered = renderer.render(CHAT)
    assert [rendered.text[a:b] for a, b in rendered.train_spans] == [
        "Paris.<|im_end|>", "Tokyo — 東京.\nAnything else?<|im_end|>"]
    # Everything outside the spans is prompt: the system turn, user turns and role headers.
    outside = rendered.text
    for a, b in reversed(rendered.train_spans):
        outside = outside[:a] + outside[b:]
    assert outside == PROMPT_PARTS
    # Without a system turn the starter's template adds its own default, which is never trained.
    short = renderer.render(Example(CHAT.messages[1:3], None, "mem", 1))
    assert "You are a helpful AI assistant named SmolLM" in short.text
    assert short.trained_text() == "Paris.<|im_end|>"


@pytest.mark.slow
def test_response_only_mask_covers_exactly_the_reply_tokens(renderer, vocab):
    rendered = renderer.render(CHAT)
    ids, offsets = vocab.offsets(rendered.text)
    assert ids == vocab.tokenize(rendered.text)
    mask = token_label_mask(offsets, rendered.train_spans)
    trained = b"".join(vocab.piece(t) for t, m in zip(ids, mask) if m).decode("utf-8")
    prompt = b"".join(vocab.piece(t) for t, m in zip(ids, mask) if not m).decode("utf-8")
    assert trained == "Paris.<|im_end|>Tokyo — 東京.\nAnything else?<|im_end|>"
    assert prompt == PROMPT_PARTS
    assert mask.count(True) == sum(vocab.count(["Paris.<|im_end|>", "Tokyo — 東京.\nAnything else?<|im_end|>"]))


def test_token_label_mask_rules():
    spans = [(10, 20), (30, 40)]
    offsets = [(0, 0), (0, 10), (10, 15), (15, 20), (20, 30), (28, 32), (39, 41), (40, 45), (5, 5)]
    assert token_label_mask(offsets, spans) == [False, False, True, True, False, True, True, False, False]
    assert token_label_mask([(0, 3), (3, 6)], [(0, 6), (2, 4)]) == [True, True]  # overlapping spans merge
    assert token_label_mask([(0, 3)], []) == [False]


def test_chatml_fallback_and_hf_folder_templates(tmp_path):
    fallback = ChatRenderer.from_model(None)
    assert fallback.source == "fallback" and "ChatML" in fallback.note
    assert fallback.render(CHAT).trained_text() == "Paris.<|im_end|>Tokyo — 東京.\nAnything else?<|im_end|>"

    # A Gemma-style template refuses a system turn: it is folded into the first user message.
    folder = tmp_path / "hf"
    folder.mkdir()
    template = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
                "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' "
                "else m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
                "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": template, "bos_token": {"content": "<bos>"}, "eos_token": "<eos>"}))
    gemma = ChatRenderer.from_model(folder)
    assert (gemma.source, gemma.bos_token, gemma.eos_token) == ("hf", "<bos>", "<eos>")
    rendered = gemma.render(CHAT)
    assert rendered.text.startswith("<bos><start_of_turn>user\nYou answer briefly.\n\nCapital of France?<end_of_turn>")
    assert [rendered.text[a:b] for a, b in rendered.train_spans] == [
        "Paris.<end_of_turn>", "Tokyo — 東京.\nAnything else?<end_of_turn>"]

    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}))
    with pytest.raises(DatasetError, match="unsafe"):
        ChatRenderer.from_model(folder)

    text = Example(None, "plain words", "mem", 1)
    assert fallback.render(text).train_spans == ((0, 11),)


@pytest.mark.slow
def test_scan_counts_tokens_like_llama_cpp(tmp_path, starter_model, renderer):
    import llama_cpp

    records = [{"instruction": f"Question {i}: " + "why? " * (i * 7), "output": "Because. " * (i * 5 + 1)}
               for i in range(40)]
    records.insert(3, {"instruction": "broken"})
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    progress: list[tuple[float, str]] = []
    previews: list[list[dict]] = []
    report = scan_dataset([path], model=starter_model, max_seq_len=200, preview=5,
                          progress=lambda f, s: progress.append((f, s)), on_preview=previews.append)

    llm = llama_cpp.Llama(model_path=str(starter_model), vocab_only=True, verbose=False)
    good = [r for r in records if "output" in r]
    expected = [len(llm.tokenize(renderer.render_text(Example(
        ({"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]}), None, "", 0)
    ).encode("utf-8"), add_bos=False, special=True)) for r in good]
    llm.close()

    assert report.token_lengths == expected
    assert report.n_truncated == sum(n > 200 for n in expected) > 0
    assert sum(c for _, _, c in report.histogram) == len(expected)
    assert sum(c for lo, _, c in report.histogram if lo > 200) == report.n_truncated
    assert report.token_stats["max"] == max(expected)
    assert [(p.line, p.n_tokens, p.truncated) for p in report.preview] == [
        (n, expected[i], expected[i] > 200) for i, n in enumerate([1, 2, 3, 5, 6])]
    assert report.preview[0].rendered_text.startswith("<|im_start|>system\nYou are a helpful AI assistant")
    assert [str(p) for p in report.problems] == ["data.jsonl:4: missing field 'output'"]
    assert report.usable and f"{report.n_truncated} examples" in report.verdict and "200 tokens" in report.verdict
    assert report.template_note == "chat template from the model file"
    assert len(previews) == 1 and len(previews[0]) == 5
    assert progress[-1] == (1.0, "done") and all(0 <= f <= 1 for f, _ in progress)


@pytest.mark.slow
def test_hf_folder_renders_and_counts_like_its_gguf(tmp_path, starter_model, dequantized_starter):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"prompt": f"Count to {i}, 你好.", "completion": " ".join(map(str, range(i)))})
                              for i in range(1, 30)) + "\n", encoding="utf-8")
    from_gguf = scan_dataset([path], model=starter_model, preview=3)
    from_hf = scan_dataset([path], model=dequantized_starter, preview=3)
    assert from_hf.token_lengths == from_gguf.token_lengths
    assert [r.rendered_text for r in from_hf.preview] == [r.rendered_text for r in from_gguf.preview]
    assert from_hf.template_note.startswith("chat template from the model's")
