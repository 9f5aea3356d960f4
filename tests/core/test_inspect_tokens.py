"""studio.core.inspect.tokens: llama.cpp's own ids, spans that spell the text exactly, special and
added tokens, labels, files, errors. Real starter model (byte-level BPE) plus a tiny SentencePiece
vocabulary written here (prefix space, <0xE4> byte tokens, BOS/EOS added)."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from pathlib import Path

import pytest

from studio.core.errors import StudioError
from studio.core.inspect import tokens as tokmod
from studio.core.inspect.tokens import (
    Span,
    TokenizedText,
    Tokenizer,
    TokenizerError,
    open_tokenizer,
    read_text_file,
)

CJK = ("人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的方式做出反应的智能机器。"
       "该领域的研究包括机器人、语言识别、图像识别、自然语言处理和专家系统等。\n"
       "日本語のテキストも混ぜます。한국어 문장도 있습니다。")
EMOJI = ("Family 👨‍👩‍👧‍👦, couple 👩‍❤️‍💋‍👨, flags 🇨🇳🇯🇵🇺🇸🏴󠁧󠁢󠁳󠁣󠁴󠁿, skin 👋🏽👍🏿, "
         "keycap 1️⃣ #️⃣, rainbow 🏳️‍🌈, 🤖🦙🚀 done.")
MIXED = ("English, Русский текст, العربية, हिन्दी, ภาษาไทย, Ελληνικά, עברית, 中文混合 text 123 "
         "x² ∑∫ ≤ ≠ — «quotes» ‘single’ “double”, ½ ℃ ™ ©.")
COMBINING = ("e\u0301 a\u0300\u0323 n\u0303o\u0308 Z\u0351\u0352\u0357\u034c\u0354a\u0300\u0301\u0302lgo "
             "\u0915\u094d\u0937")
WHITESPACE = "  leading\n\n\tindented\r\nCRLF\u00a0nbsp\u3000ideographic  \n   trailing   \n\n\n"
CODE = "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n\tif x >= 0x7f: pass\n"
SAMPLES = {"english": "The quick brown fox jumps over the lazy dog.", "cjk": CJK, "emoji": EMOJI,
           "mixed": MIXED, "combining": COMBINING, "whitespace": WHITESPACE, "code": CODE,
           "special": "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n",
           "one_char": "好", "one_space": " "}


@pytest.fixture(scope="module")
def tok(starter_model) -> Tokenizer:
    return Tokenizer(starter_model)


@pytest.fixture(scope="module")
def bare(starter_model):
    """llama.cpp's own tokenizer for the same file, to compare ids with."""
    import llama_cpp

    with contextlib.redirect_stderr(io.StringIO()):
        llm = llama_cpp.Llama(model_path=str(starter_model), vocab_only=True, verbose=False)
    yield llm
    llm.close()


def write_spm_vocab(path: Path, *, add_bos: bool = True, add_eos: bool = True, template: str | None = None) -> Path:
    """A vocab-only GGUF with a SentencePiece ("llama") tokenizer: byte fallback tokens, a prefix
    space, BOS/EOS added. llama.cpp loads it with vocab_only (no tensors needed)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_context_length(256)
    writer.add_embedding_length(64)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(4)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(16)
    writer.add_tokenizer_model("llama")
    tokens, scores, types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [2, 3, 3]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        scores.append(0.0)
        types.append(6)
    words = ["▁", "▁Hello", "▁world", "Hello", "world", "▁hi", "!", ",", "▁the", "a", "e", "h", "i", "l", "o",
             "r", "d", "w", "H", "▁H", "▁w", "ll", "▁是", "你", "<tool>"]
    for k, word in enumerate(words):
        tokens.append(word)
        scores.append(-1.0 - k * 0.01 if len(word) > 1 else -10.0)
        types.append(4 if word == "<tool>" else 1)   # 4: user-defined
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(add_bos)
    writer.add_add_eos_token(add_eos)
    writer.add_add_space_prefix(True)
    if template:
        writer.add_chat_template(template)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def spm_path(tmp_path_factory) -> Path:
    return write_spm_vocab(tmp_path_factory.mktemp("spm") / "tiny-spm.gguf")


@pytest.fixture(scope="module")
def spm(spm_path) -> Tokenizer:
    return Tokenizer(spm_path)


@pytest.fixture(scope="module")
def spm_bare(spm_path):
    import llama_cpp

    with contextlib.redirect_stderr(io.StringIO()):
        llm = llama_cpp.Llama(model_path=str(spm_path), vocab_only=True, verbose=False)
    yield llm
    llm.close()


def check_spans(tt: TokenizedText) -> None:
    """Every structural promise of TokenizedText."""
    text = tt.text
    assert "".join(s.text for s in tt.spans if s.kind != "added") == text
    assert len(tt.pieces) == len(tt.kinds) == len(tt.ids)
    tok_at = char_at = 0
    for span in tt.spans:
        assert isinstance(span, Span)
        assert span.kind in ("normal", "merged", "special", "added")
        assert span.tok_start == tok_at and span.tok_end >= span.tok_start
        tok_at = span.tok_end
        if span.kind == "added":
            assert span.text == "" and span.char_start == span.char_end == char_at
            continue
        assert span.char_start == char_at and span.char_end >= span.char_start
        assert text[span.char_start:span.char_end] == span.text
        char_at = span.char_end
        n = span.tok_end - span.tok_start
        assert (span.kind == "merged") == (n > 1), span
    assert tok_at == tt.n_tokens and char_at == len(text)


def check_merged_exact(tt: TokenizedText) -> None:
    """Where pieces spell the text: a merged span's pieces join to its text, and no shorter run of
    its tokens would end on a whole character (so the merge covers exactly the partial tokens)."""
    for span in tt.spans:
        pieces = tt.pieces[span.tok_start:span.tok_end]
        if span.kind in ("normal", "special"):
            assert pieces[0].decode("utf-8") == span.text
        if span.kind != "merged":
            continue
        joined = b"".join(pieces)
        assert joined.decode("utf-8") == span.text
        cut = 0
        for piece in pieces[:-1]:
            cut += len(piece)
            with pytest.raises(UnicodeDecodeError):
                joined[:cut].decode("utf-8")
        assert any(tt.kinds[t] == "byte" for t in range(span.tok_start, span.tok_end))


# --- ids are llama.cpp's -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("add_special,parse_special", [(True, True), (False, False), (True, False)])
def test_ids_equal_llama_cpp(tok, bare, name, add_special, parse_special):
    text = SAMPLES[name]
    tt = tok.tokenize(text, add_special=add_special, parse_special=parse_special)
    assert tt.ids == bare.tokenize(text.encode("utf-8"), add_bos=add_special, special=parse_special)
    assert tt.pieces == [tok.piece(t) for t in tt.ids]
    assert b"".join(tt.pieces) == text.encode("utf-8")  # byte-level BPE spells the text exactly
    assert tok.detokenize(tt.ids) == text.encode("utf-8")
    check_spans(tt)
    check_merged_exact(tt)


@pytest.mark.parametrize("name", ["cjk", "emoji", "mixed", "combining", "whitespace", "code", "one_char"])
def test_spans_spell_the_text(tok, name):
    tt = tok.tokenize(SAMPLES[name])
    check_spans(tt)
    check_merged_exact(tt)
    assert tt.model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert tt.n_chars == len(SAMPLES[name])


def test_cjk_and_emoji_make_merged_spans_over_exactly_their_tokens(tok):
    tt = tok.tokenize("你好")
    assert [(s.text, s.kind) for s in tt.spans] == [("你", "merged"), ("好", "merged")]
    first, second = tt.spans
    assert (first.tok_start, first.tok_end, second.tok_start, second.tok_end) == (0, 2, 2, 4)
    assert all(k == "byte" for k in tt.kinds)
    assert [tt.span_of_token(i) for i in range(4)] == [0, 0, 1, 1]
    flag = tok.tokenize("🇨🇳")
    assert [s.text for s in flag.spans] == ["🇨", "🇳"] and all(s.kind == "merged" for s in flag.spans)
    family = tok.tokenize("👨‍👩‍👧")
    check_spans(family)
    assert "".join(s.text for s in family.spans) == "👨‍👩‍👧"
    assert family.n_tokens > len(family.spans) > 1


def test_normal_tokens_are_single_spans(tok):
    tt = tok.tokenize("Hello world")
    assert [(s.text, s.kind, s.tok_start, s.tok_end) for s in tt.spans] == [
        ("Hello", "normal", 0, 1), (" world", "normal", 1, 2)]
    assert tt.kinds == ["normal", "normal"]
    assert tt.chars_per_token == pytest.approx(11 / 2)
    assert not tok.add_bos and not [s for s in tok.tokenize("Hello", add_special=True).spans if s.kind == "added"]
    assert tt.ids_text() == f"[{tt.ids[0]}, {tt.ids[1]}]"


# --- special and added tokens --------------------------------------------------------------------

def test_special_tokens_in_the_text_are_special_spans(tok):
    text = "<|im_start|>user\nhi<|im_end|>"
    tt = tok.tokenize(text)
    specials = [s for s in tt.spans if s.kind == "special"]
    assert [s.text for s in specials] == ["<|im_start|>", "<|im_end|>"]
    for span in specials:
        assert span.tok_end - span.tok_start == 1
        assert tt.kinds[span.tok_start] == "control"
        assert tt.pieces[span.tok_start] == span.text.encode()
    assert tok.kind(tt.ids[0]) == "control" and tok.piece(tt.ids[0]) == b"<|im_start|>"
    check_spans(tt)
    plain = tok.tokenize(text, parse_special=False)  # the same characters as ordinary text
    assert not [s for s in plain.spans if s.kind == "special"]
    assert plain.n_tokens > tt.n_tokens
    check_spans(plain)


def test_chat_text_shows_the_template_and_its_special_tokens(tok, bare):
    chat = tok.chat_text("你好", system="Be brief.")
    assert chat.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert "<|im_start|>user\n你好<|im_end|>" in chat
    assert chat.endswith("<|im_start|>assistant\n")
    assert tok.template_source == "gguf"
    tt = tok.tokenize(chat, add_special=False, parse_special=True)
    assert tt.ids == bare.tokenize(chat.encode(), add_bos=False, special=True)
    special = [s.text for s in tt.spans if s.kind == "special"]
    assert special.count("<|im_start|>") == 3 and special.count("<|im_end|>") == 2
    check_spans(tt)
    assert tok.chat_text("hi") != chat


def test_added_bos_and_eos_are_added_spans(spm, spm_bare):
    assert spm.add_bos and spm.add_eos
    for text in ["Hello world", "Hello, world!", "你好 world", "  Hello\n\nworld  ", "是你", " ", "好",
                 "<tool>Hello", "hi</s>world", "a<tool> <tool>b"]:
        tt = spm.tokenize(text)
        assert tt.ids == spm_bare.tokenize(text.encode(), add_bos=True, special=True), text
        check_spans(tt)
        assert tt.spans[0].kind == "added" and tt.spans[0].tok_start == 0 and tt.pieces[0] == b"<s>"
        assert tt.spans[-1].kind == "added" and tt.pieces[-1] == b"</s>"
        assert tt.spans[-1].char_start == tt.spans[-1].char_end == len(text)
        assert tt.kinds[0] == tt.kinds[-1] == "control"
        labels = tt.labels()
        assert len(labels) == tt.n_tokens and labels[0] == "<s>" and labels[-1] == "</s>"
    plain = spm.tokenize("x</s>y", parse_special=False)
    assert plain.ids == spm_bare.tokenize(b"x</s>y", add_bos=True, special=False)
    assert [s.kind for s in plain.spans].count("special") == 0
    check_spans(plain)
    none = spm.tokenize("Hello", add_special=False)
    assert none.ids == spm_bare.tokenize(b"Hello", add_bos=False, special=True)
    assert not [s for s in none.spans if s.kind == "added"]
    check_spans(none)


def test_sentencepiece_prefix_space_and_byte_fallback_still_spell_the_text(spm):
    tt = spm.tokenize("你好 world")
    assert tt.pieces[1] == b" "                      # the prefix space the text does not have
    assert "byte" in tt.kinds
    merged = [s for s in tt.spans if s.kind == "merged"]
    assert [s.text for s in merged] == ["你", "好"]
    assert merged[1].tok_end - merged[1].tok_start == 3   # <0xE5><0xA5><0xBD>
    assert "".join(s.text for s in tt.spans if s.kind != "added") == "你好 world"
    hello = spm.tokenize("Hello")
    assert hello.spans[1].text == "H" and hello.pieces[1] == b" H"
    assert hello.labels()[1] == "␣H"


def test_user_defined_tokens_are_special(spm):
    tt = spm.tokenize("hi<tool>hi")
    special = [s for s in tt.spans if s.kind == "special"]
    assert [s.text for s in special] == ["<tool>"] and tt.kinds[special[0].tok_start] == "user_defined"
    check_spans(tt)
    # SentencePiece puts a prefix space after each special token; it must not swallow the next one
    twice = spm.tokenize("a<tool> <tool>b")
    assert [s.text for s in twice.spans if s.kind == "special"] == ["<tool>", "<tool>"]
    check_spans(twice)


def test_a_text_that_starts_with_bos_gets_no_second_one(spm, spm_bare):
    tt = spm.tokenize("<s>Hello")
    assert tt.ids.count(1) == 1 and tt.ids[-1] == 2
    assert tt.spans[0].kind == "special" and tt.spans[0].text == "<s>"
    assert tt.spans[-1].kind == "added"
    check_spans(tt)


def test_chat_text_without_a_template_uses_chatml_and_adds_the_bos_text(spm):
    chat = spm.chat_text("hi")
    assert spm.template_source == "fallback"
    assert chat.startswith("<s><|im_start|>user\nhi<|im_end|>")
    tt = spm.tokenize(chat, add_special=False)
    assert tt.spans[0].kind == "special" and tt.spans[0].text == "<s>"
    check_spans(tt)


def test_a_template_that_refuses_a_system_turn_gets_it_folded(tmp_path):
    template = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system') }}"
                "{% endif %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}[assistant] {% endif %}")
    tok = Tokenizer(write_spm_vocab(tmp_path / "nosys.gguf", add_bos=False, template=template))
    assert tok.chat_text("hello", system="Be brief.") == "[user] Be brief.\n\nhello\n[assistant] "
    broken = Tokenizer(write_spm_vocab(tmp_path / "broken.gguf", add_bos=False,
                                       template="{{ raise_exception('never') }}"))
    with pytest.raises(TokenizerError) as err:
        broken.chat_text("hello")
    assert err.value.kind == "template" and "never" in err.value.message


# --- surprises fold into spans ---------------------------------------------------------------------

@pytest.mark.parametrize("data,pieces,kinds,added", [
    ("HELLO world", [b"hello", b" world"], ["normal", "normal"], set()),             # normalised text
    ("<|end|>\n\nnext", [b"<|end|>", b"next"], ["control", "normal"], set()),        # rstrip swallowed \n\n
    ("a  <|end|>b", [b"a", b"<|end|>", b"b"], ["normal", "control", "normal"], set()),  # lstrip
    ("x ? y z", [b"x", b" \xe2\x96\x85", b" y", b" z"], ["normal", "unknown", "normal", "normal"], set()),
    ("abc", [b"<s>", b"a", b"b", b"c", b"</s>"], ["control"] + ["normal"] * 3 + ["control"], {0, 4}),
    ("abc", [b"<s>", b"ABC", b"</s>"], ["control", "normal", "control"], {0, 2}),      # never lines up
    ("   ", [], [], set()),                                                              # no tokens at all
    ("   ", [b"<s>"], ["control"], {0}),
    ("abc  ", [b"a", b"bc"], ["normal", "normal"], set()),                            # trailing text unclaimed
    ("你好", [b" ", b"\xe4", b"\xbd\xa0", b"\xe5\xa5\xbd", b""], ["normal", "byte", "byte", "normal", "normal"],
     set()),
])
def test_alignment_surprises_never_break_the_invariant(data, pieces, kinds, added):
    raw = data.encode("utf-8")
    spans = tokmod._layout(raw, pieces, kinds, set(added))
    tt = TokenizedText(data, list(range(len(pieces))), pieces, kinds, spans, "synthetic")
    assert "".join(s.text for s in spans if s.kind != "added") == data
    covered = [t for s in spans for t in range(s.tok_start, s.tok_end)]
    assert covered == list(range(len(pieces)))
    for s in spans:
        assert s.kind == "added" or data[s.char_start:s.char_end] == s.text
    assert len(tt.labels()) == len(pieces)


def test_lone_surrogates_do_not_crash(tok):
    tt = tok.tokenize("bad \ud800 pair")
    assert tt.text == "bad \ufffd pair"
    check_spans(tt)


# --- edge sizes and speed ------------------------------------------------------------------------

def test_empty_text(tok):
    tt = tok.tokenize("")
    assert tt.ids == [] and tt.spans == [] and tt.pieces == [] and tt.kinds == []
    assert tt.n_tokens == 0 and tt.n_chars == 0 and tt.chars_per_token == 0.0
    assert tt.labels() == [] and tt.ids_text() == "[]"
    assert tt.span_at_char(0) is None
    with pytest.raises(IndexError):
        tt.span_of_token(0)
    assert tok.detokenize([]) == b""


def test_a_one_megabyte_paste(tok, bare):
    block = CJK + "\n" + EMOJI + "\n" + MIXED + "\n" + CODE
    text = (block * (1_000_000 // len(block.encode()) + 1))
    assert len(text.encode()) >= 1_000_000
    tt = tok.tokenize(text)
    assert tt.ids == bare.tokenize(text.encode(), add_bos=True, special=True)
    check_spans(tt)
    assert tt.span_at_char(len(text) - 1) == len(tt.spans) - 1


def test_a_hundred_thousand_tokens_in_reasonable_time(tok):
    block = "The quick brown fox jumps over the lazy dog. 人工智能正在改变我们的生活方式，语言模型可以写诗。🇨🇳👨‍👩‍👧\n"
    n = tok.tokenize(block).n_tokens
    text = block * (100_000 // n + 1)
    start = time.perf_counter()
    tt = tok.tokenize(text)
    seconds = time.perf_counter() - start
    assert tt.n_tokens >= 100_000
    assert "".join(s.text for s in tt.spans) == text
    # The goal is ~0.3 s here; the bound only catches an accidental quadratic step.
    assert seconds < 5.0, f"{tt.n_tokens} tokens took {seconds:.2f} s"


def test_tokenizing_from_several_threads(tok):
    texts = [CJK * 5, EMOJI * 5, MIXED * 5, CODE * 5]
    expected = [tok.tokenize(t).ids for t in texts]
    fresh = Tokenizer(tok.path)   # empty piece cache: threads fill it together
    results: dict[int, list[int]] = {}

    def run(i: int) -> None:
        tt = fresh.tokenize(texts[i % 4])
        check_spans(tt)
        results[i] = tt.ids

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == expected[i % 4] for i in range(8))


# --- lookups and labels -----------------------------------------------------------------------------

def test_span_lookups_agree_with_the_spans(tok):
    tt = tok.tokenize("Hi 你好 👋🏽!\n<|im_end|>")
    for i in range(tt.n_tokens):
        span = tt.spans[tt.span_of_token(i)]
        assert span.tok_start <= i < span.tok_end
    for c in range(tt.n_chars):
        span = tt.spans[tt.span_at_char(c)]
        assert span.char_start <= c < span.char_end
    assert tt.span_at_char(-1) is None and tt.span_at_char(tt.n_chars) is None
    with pytest.raises(IndexError):
        tt.span_of_token(tt.n_tokens)


def test_labels_one_per_token_with_visible_whitespace(tok):
    tt = tok.tokenize("a b\n\tc<|im_start|>你")
    labels = tt.labels()
    assert len(labels) == tt.n_tokens
    assert "<|im_start|>" in labels
    assert any("␣" in label for label in labels)
    assert any("↵" in label for label in labels) and any("⇥" in label for label in labels)
    assert not any(ch in label for label in labels for ch in " \n\t")
    merged = [s for s in tt.spans if s.kind == "merged"]
    assert merged and labels[merged[0].tok_start] == "你"
    assert labels[merged[0].tok_start + 1:merged[0].tok_end] == [
        f"…{k}" for k in range(2, merged[0].tok_end - merged[0].tok_start + 1)]


def test_piece_kind_and_detokenize(tok):
    assert tok.n_vocab == 49152 and tok.add_bos is False
    assert tok.name == "SmolLM2-135M-Instruct.Q4_1"
    ids = tok.tokenize("你").ids
    assert all(tok.kind(i) == "byte" for i in ids)
    assert b"".join(tok.piece(i) for i in ids) == "你".encode()
    assert tok.kind(tok.tokenize("Hello").ids[0]) == "normal"
    assert tok.detokenize(tok.tokenize("<|im_start|>x").ids) == b"<|im_start|>x"
    for bad in (-1, tok.n_vocab):
        with pytest.raises(TokenizerError):
            tok.piece(bad)


# --- opening models ---------------------------------------------------------------------------------

def test_a_missing_model_file(tmp_path):
    with pytest.raises(TokenizerError) as err:
        Tokenizer(tmp_path / "nope.gguf")
    assert err.value.kind == "model_file" and "nope.gguf" in err.value.message
    assert isinstance(err.value, StudioError) and err.value.message.endswith(".")
    with pytest.raises(TokenizerError):
        open_tokenizer(tmp_path / "nope.gguf")
    with pytest.raises(TokenizerError) as err:
        Tokenizer(tmp_path)
    assert "folder" in err.value.message


def test_a_file_that_is_not_gguf(tmp_path):
    fake = tmp_path / "notes.gguf"
    fake.write_text("just some text, not a model\n", encoding="utf-8")
    with pytest.raises(TokenizerError) as err:
        Tokenizer(fake)
    assert err.value.kind == "model_file" and "not a GGUF" in err.value.message
    assert "\n" not in err.value.message and "Traceback" not in err.value.message


def test_a_truncated_gguf(tmp_path, starter_model):
    cut = tmp_path / "cut.gguf"
    with open(starter_model, "rb") as fh:
        cut.write_bytes(fh.read(4096))
    with pytest.raises(TokenizerError) as err:
        Tokenizer(cut)
    assert err.value.kind in ("vocab", "model_file") and "cut.gguf" in err.value.message


def test_open_tokenizer_caches_by_path_and_mtime(tmp_path, starter_model):
    a = open_tokenizer(starter_model)
    assert open_tokenizer(str(starter_model)) is a
    copy = write_spm_vocab(tmp_path / "c.gguf")
    first = open_tokenizer(copy)
    assert open_tokenizer(copy) is first
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    assert open_tokenizer(copy) is not first
    others = [open_tokenizer(write_spm_vocab(tmp_path / f"o{i}.gguf")) for i in range(4)]
    assert open_tokenizer(tmp_path / "o3.gguf") is others[3]
    assert len(tokmod._CACHE) <= 4


# --- reading text files -----------------------------------------------------------------------------

def test_read_text_file_plain_utf8(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(CJK.encode())
    assert read_text_file(path) == (CJK, "")


def test_read_text_file_invalid_utf8_is_replaced_with_a_note(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"hello \xff\xfe world \xc3")
    text, note = read_text_file(path)
    assert text == "hello \ufffd\ufffd world \ufffd"
    assert note == "not valid UTF-8: 3 bytes replaced"


def test_read_text_file_other_encodings(tmp_path):
    gb = tmp_path / "gb.txt"
    gb.write_bytes(("中文测试，你好世界。" * 20).encode("gb18030"))
    text, note = read_text_file(gb)
    assert text == "中文测试，你好世界。" * 20 and "GB18030" in note
    u16 = tmp_path / "u16.txt"
    u16.write_bytes(("中文 test\n" * 20).encode("utf-16"))
    text, note = read_text_file(u16)
    assert text == "中文 test\n" * 20 and "UTF-16" in note
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffhello".encode("utf-8"))
    assert read_text_file(bom) == ("hello", "")


def test_read_text_file_limit_cuts_on_a_character(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(("你好" * 1000).encode())
    text, note = read_text_file(path, max_bytes=1000)
    assert text == "你好" * 166 + "你" and "\ufffd" not in text
    assert note == "only the first 1,000 bytes were read"
    text, note = read_text_file(path, max_bytes=1 << 20)
    assert note == "" and len(text) == 2000


def test_read_text_file_odd_files_never_raise(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert read_text_file(empty) == ("", "")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    text, note = read_text_file(binary)
    assert "binary" in note and "replaced" in note and len(text) == 1024
    png = tmp_path / "img.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    text, note = read_text_file(png)
    assert "PNG" in note


def test_read_text_file_missing_or_folder(tmp_path):
    with pytest.raises(TokenizerError) as err:
        read_text_file(tmp_path / "missing.txt")
    assert err.value.kind == "file" and "missing.txt" in err.value.message
    with pytest.raises(TokenizerError):
        read_text_file(tmp_path)
