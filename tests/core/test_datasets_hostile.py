"""Hostile and odd dataset files: each case here once crashed, hung, misread or misreported.
Nothing may escape iter_examples/scan_dataset except DatasetError, and every sentence names a line."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest

from studio.cli import main as cli_main
from studio.core.datasets import (
    ChatRenderer,
    DatasetError,
    detect_encoding,
    detect_format,
    iter_examples,
    load_examples,
    parse,
    report,
    scan_dataset,
    textio,
)


def _write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _read(path, **kw):
    problems: list = []
    examples = list(iter_examples(path, problems=problems, **kw))
    return examples, [str(p) for p in problems]


def _alpaca(q="q", a="a") -> str:
    return json.dumps({"instruction": q, "output": a}, ensure_ascii=False)


def test_deeply_nested_json_is_a_line_numbered_problem(tmp_path):
    jsonl = _write(tmp_path / "deep.jsonl", _alpaca() + "\n" + '{"instruction": ' + "[" * 50_000
                   + "]" * 50_000 + ', "output": "x"}\n' + _alpaca("q2") + "\n")
    examples, problems = _read(jsonl)
    assert [e.line for e in examples] == [1, 3]
    assert problems == ["deep.jsonl:2: not valid JSON here (nested too deeply)"]
    array = _write(tmp_path / "deep.json", "[\n" + _alpaca() + ",\n" + "[" * 50_000 + "]" * 50_000 + "]")
    examples, problems = _read(array)
    assert [e.line for e in examples] == [2]
    assert problems[0].startswith("deep.json:3: not valid JSON (nested too deeply")


def test_a_number_with_thousands_of_digits_is_a_problem(tmp_path):
    path = _write(tmp_path / "big.jsonl", '{"instruction": 1' + "0" * 5000 + ', "output": "x"}\n' + _alpaca() + "\n")
    examples, problems = _read(path, format="alpaca")
    assert [e.line for e in examples] == [2]
    assert problems == ["big.jsonl:1: not valid JSON here (a number with thousands of digits)"]


def test_lone_surrogates_and_nan_are_refused_before_they_reach_a_tokenizer(tmp_path):
    path = _write(tmp_path / "odd.jsonl", '{"instruction": "a\\ud800b", "output": "x"}\n'
                  '{"instruction": NaN, "output": "x"}\n' + _alpaca() + "\n")
    examples, problems = _read(path)
    assert [e.line for e in examples] == [3]
    assert problems == [
        "odd.jsonl:1: field 'instruction' holds an invalid character (a lone UTF-16 surrogate \\ud800 at character 2)",
        "odd.jsonl:2: field 'instruction' is nan (not a number), expected text"]


def test_a_stray_nul_byte_costs_its_line_not_the_file(tmp_path):
    path = _write(tmp_path / "nul.jsonl", (_alpaca("a") + "\x00\n" + _alpaca("b") + "\n").encode())
    examples, problems = _read(path)
    assert [e.messages[0]["content"] for e in examples] == ["b"]
    assert problems == ["nul.jsonl:1: line holds a NUL byte (binary data, at column 36); line skipped"]


def test_short_text_with_a_nul_is_not_taken_for_utf16(tmp_path):
    path = _write(tmp_path / "notes.txt", b"hello world\x00 more text\n\nsecond para\n")
    assert detect_encoding(path) == "utf-8"
    examples, problems = _read(path)
    assert [e.text for e in examples] == ["second para"]
    assert problems == ["notes.txt:1: line holds a NUL byte (binary data, at column 12); line skipped"]


def test_many_repeated_header_names_stay_fast(tmp_path):
    start = time.monotonic()
    names = parse._clean_header(["x"] * 900)
    assert time.monotonic() - start < 0.5
    assert names[:3] == ["x", "x (2)", "x (3)"] and len(set(names)) == 900
    wide = _write(tmp_path / "wide.csv", ",".join(["0"] * 20_000) + "\n" + ",".join(["1"] * 20_000) + "\n")
    with pytest.raises(DatasetError, match=r"wide.csv:1: the first row has 20,000 columns"):
        detect_format(wide)


def test_csv_rows_missing_columns_or_a_closing_quote_say_so(tmp_path):
    short = _write(tmp_path / "short.csv", "instruction,output\nonly one\nq,a\n")
    examples, problems = _read(short)
    assert [e.line for e in examples] == [3]
    assert problems == ["short.csv:2: missing field 'output' (this row has 1 of the header's 2 columns)"]
    unclosed = _write(tmp_path / "quote.csv", 'instruction,output\nq,a\n"never closed,x\ny,z\nw,v\n')
    examples, problems = _read(unclosed)
    assert [e.line for e in examples] == [2]
    assert problems == [('quote.csv:3: a quote (") opened on this line is never closed, so lines 3–5 were read '
                         "as one field; skipped")]


def test_csv_with_classic_mac_line_endings(tmp_path):
    path = _write(tmp_path / "mac.csv", "instruction,output\r\"two\rlines\",b\rc,d\r")
    examples, problems = _read(path)
    assert problems == []
    assert [(e.line, e.messages[0]["content"]) for e in examples] == [(2, "two\nlines"), (4, "c")]


def test_plain_text_with_one_enormous_line_is_cut_not_dropped(tmp_path, monkeypatch):
    monkeypatch.setattr(textio, "MAX_LINE_BYTES", 20_000)
    sentence = "这是一个很长的中文句子，没有任何空行。"
    body = sentence * 1500   # 28,500 characters, 85 KB, no newline: over the (patched) line limit
    path = _write(tmp_path / "novel.txt", "标题\n\n" + body + "\n\n后记\n")
    examples, problems = _read(path)
    assert problems == []
    texts = [e.text for e in examples]
    assert texts[0] == "标题" and texts[-1] == "后记"
    assert "".join(texts[1:-1]) == body
    assert {e.line for e in examples[1:-1]} == {3}
    assert max(len(t) for t in texts) <= parse.TEXT_CHUNK_CHARS
    assert all(t.endswith(("。", "，")) for t in texts[1:-2])  # cut at punctuation, not mid-word


def test_an_oversized_json_array_element_is_skipped_and_reading_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(textio, "MAX_LINE_BYTES", 2000)
    monkeypatch.setattr(textio, "CHUNK_BYTES", 64)   # the big element spans many chunks
    tricky = 'x"\\]},[{' * 400                       # brackets and escapes inside the string
    records = [{"instruction": "a", "output": "b"}, {"instruction": "big", "output": tricky},
               {"instruction": "c", "output": "d"}]
    path = _write(tmp_path / "arr.json", "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    examples, problems = _read(path)
    assert [(e.line, e.messages[0]["content"]) for e in examples] == [(2, "a"), (4, "c")]
    assert problems == ["arr.json:3: this JSON value is over the 10 MB limit for one example; skipped"]


def test_big_records_do_not_pile_up_in_detection_or_scan_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_BATCH_BYTES", 2 * 1024 * 1024, raising=False)
    scan_dataset(_write(tmp_path / "warm.jsonl", _alpaca() + "\n"))  # imports count as memory too
    record = _alpaca("q", "y" * 1_000_000)
    path = _write(tmp_path / "big.jsonl", "".join(record + "\n" for _ in range(30)))   # 30 MB
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        detect_format(path)
        detect_peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = scan_dataset(path, preview=1)
        scan_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert result.n_examples == 30
    assert detect_peak < 12e6, detect_peak
    assert scan_peak < 12e6, scan_peak


@pytest.mark.parametrize("record, expected", [
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}, {"role": "assistant", "content": "x"}]},
     "message 1 (user): text part 1 has no 'text' string"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
                   {"role": "assistant", "content": "x"}]},
     "message 1 (user) holds image_url parts; only text can be trained"),
    ({"messages": [{"role": "user", "content": []}, {"role": "assistant", "content": "x"}]},
     "message 1 (user) is an empty list, expected text"),
    ({"prompt": [{"role": "user"}, "stray"], "completion": "x"}, "message 1 (user) has no 'content' field"),
])
def test_odd_message_content_is_named(tmp_path, record, expected):
    path = _write(tmp_path / "odd.jsonl", json.dumps(record) + "\n")
    fmt = "openai" if "messages" in record else "prompt_completion"
    examples, problems = _read(path, format=fmt)
    assert examples == [] and problems == [f"odd.jsonl:1: {expected}"]


def test_content_given_as_a_list_of_strings_is_joined(tmp_path):
    record = {"messages": [{"role": "user", "content": ["Hel", "lo"]}, {"role": "assistant", "content": "hi"}]}
    examples, problems = _read(_write(tmp_path / "c.jsonl", json.dumps(record) + "\n"))
    assert problems == [] and examples[0].messages[0]["content"] == "Hello"


@pytest.mark.parametrize("name, content, message", [
    ("empty_obj.json", "{}", "empty_obj.json:1: the records are empty JSON objects {}, with no fields"),
    ("wrapped.json", '{"data": [1, 2]}', "wrapped.json:1: records should be JSON objects, found a number"),
    ("zeros.jsonl", b"\x00" * 100, "zeros.jsonl: the file holds only zero bytes"),
])
def test_whole_file_sentences_for_odd_json(tmp_path, name, content, message):
    with pytest.raises(DatasetError) as caught:
        detect_format(_write(tmp_path / name, content))
    assert str(caught.value).startswith(message)


def test_a_single_object_json_file_is_called_json(tmp_path):
    assert detect_format(_write(tmp_path / "one.json", _alpaca())).container == "json"


def test_a_template_that_fails_on_the_trained_span_is_a_problem_in_the_scan(tmp_path, monkeypatch):
    # Renders whole conversations, but refuses the empty prefix used to find a leading reply's span.
    template = ("{% if not messages %}{{ raise_exception('no messages') }}{% endif %}"
                "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}")
    monkeypatch.setattr(ChatRenderer, "from_model", classmethod(lambda cls, source: cls(template)))
    path = _write(tmp_path / "d.jsonl", json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}) + "\n"
                  + json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
                  + "\n")
    result = scan_dataset(path)
    assert [row.line for row in result.preview] == [2]
    assert [str(p) for p in result.problems] == [
        "d.jsonl:1: the chat template cannot render this example: no messages"]


HOSTILE = {
    "png.jsonl": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    "model.jsonl": b"GGUF\x03\x00\x00\x00" + bytes(200),
    "deep.jsonl": "[" * 100_000 + "]" * 100_000 + "\n",
    "bigint.json": "[" + "9" * 5000 + "]",
    "surrogate.jsonl": '{"instruction": "\\udc00", "output": "x"}\n',
    "mixed.jsonl": _alpaca() + "\n" + json.dumps({"conversations": [{"from": "human", "value": "x"},
                                                                    {"from": "bot", "value": "y"}]}) + "\n",
    "gbk.csv": "问题,回答\n你好吗,我很好\n".encode("gbk"),
    "utf16.jsonl": (_alpaca("你好") + "\n").encode("utf-16-le"),
}


# Each file's exit code and the sentence its last line must give (0: usable, 1: not usable).
VERDICTS = {
    "png.jsonl": (1, "Not usable: png.jsonl: this is a PNG image, not text."),
    "model.jsonl": (1, "Not usable: model.jsonl: this is a GGUF model file, not a dataset."),
    "deep.jsonl": (1, "Not usable: deep.jsonl: not valid JSON (nested too deeply at column 2)"),
    "bigint.json": (1, "Not usable: bigint.json: not valid JSON (a number with thousands of digits at column 2)"),
    "surrogate.jsonl": (1, "Not usable: surrogate.jsonl: no usable examples in it."),
    "mixed.jsonl": (0, "Usable: 1 example (1 for training, 0 for validation); 1 record with problems will be skipped."),
    "gbk.csv": (0, "Usable: 1 example (1 for training, 0 for validation)."),
    "utf16.jsonl": (0, "Usable: 1 example (1 for training, 0 for validation)."),
}
# Where the file's own problem is named, and how: the sentence a user reads.
DETAILS = {
    "surrogate.jsonl": "surrogate.jsonl:1: field 'instruction' holds an invalid character (a lone UTF-16 surrogate",
    "mixed.jsonl": "mixed.jsonl:2: mixed formats: this record is ShareGPT",
    "gbk.csv": "GB18030/GBK; 1 example, 0 problems",
    "utf16.jsonl": "UTF-16 LE; 1 example, 0 problems",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_cli_check_answers_hostile_files_with_sentences(tmp_path, capsys, name):
    assert sorted(VERDICTS) == sorted(HOSTILE)
    path = _write(tmp_path / name, HOSTILE[name])
    code = cli_main(["dataset", "check", str(path)])
    out, err = capsys.readouterr()
    expected_code, verdict = VERDICTS[name]
    assert "Traceback" not in out + err
    assert (code, out.strip().splitlines()[-1][:len(verdict)]) == (expected_code, verdict), out
    assert DETAILS.get(name, "") in out


def test_many_files_at_once_keep_their_own_line_numbers(tmp_path):
    a = _write(tmp_path / "a.jsonl", _alpaca() + "\n{bad\n")
    b = _write(tmp_path / "b.csv", "instruction,output\r\n\"x\r\ny\",z\r\n,\r\n")
    problems: list = []
    examples = load_examples([a, b], problems=problems)
    assert [(e.path.rsplit("/", 1)[-1], e.line) for e in examples] == [("a.jsonl", 1), ("b.csv", 2)]
    assert [str(p).split(":")[:2] for p in problems] == [["a.jsonl", "2"]]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_chinese_utf16_without_a_bom_is_not_called_binary(tmp_path, encoding):
    # 一 (U+4E00) and 。(U+3002) hold zero bytes, but there is no ASCII for the zero-byte rule to see.
    body = "这是一个很长的中文句子，没有任何空行。" * 30
    path = _write(tmp_path / "zh.txt", body.encode(encoding))
    assert detect_encoding(path) == encoding
    examples, problems = _read(path)
    assert problems == [] and "".join(e.text for e in examples) == body
