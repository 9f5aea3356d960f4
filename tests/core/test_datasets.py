"""Dataset formats, encodings and malformed files: what the Fine-tune screen and `studio dataset
check` read from a file, and the file:line problems they show. No model needed here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from studio.core.datasets import (
    ColumnMapping, DatasetError, Example, detect_encoding, detect_format, iter_examples, load_examples,
    scan_dataset, split_examples,
)
from studio.core.datasets import textio

# Three conversations with the awkward bits real data has: quotes, commas, tabs-free newlines, CJK.
CONVERSATIONS = [
    ("What is 2 + 2?", "4"),
    ('Say "hi", then add a second line,\nplease.', "Hi!\nThis is the second line."),
    ("把“你好”翻译成英文", "Hello — 你好 means hello."),
]
EXPECTED = [("messages", (("user", q), ("assistant", a))) for q, a in CONVERSATIONS]


def _jsonl(path: Path, records: list, encoding: str = "utf-8") -> Path:
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode(encoding))
    return path


def _table(path: Path, header: list[str], rows: list, delimiter: str, encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _writers(tmp: Path) -> dict[str, Path]:
    alpaca = [{"instruction": q, "input": "", "output": a} for q, a in CONVERSATIONS]
    return {
        "alpaca jsonl": _jsonl(tmp / "alpaca.jsonl", alpaca),
        "alpaca json array": tmp.joinpath("alpaca.json").write_text(json.dumps(alpaca, indent=2, ensure_ascii=False),
                                                                    encoding="utf-8") and tmp / "alpaca.json",
        "sharegpt json array": tmp.joinpath("sharegpt.json").write_text(json.dumps(
            [{"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]} for q, a in CONVERSATIONS],
            indent=1, ensure_ascii=False), encoding="utf-8") and tmp / "sharegpt.json",
        "sharegpt jsonl": _jsonl(tmp / "sharegpt.jsonl", [
            {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]} for q, a in CONVERSATIONS]),
        "openai jsonl": _jsonl(tmp / "openai.jsonl", [
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in CONVERSATIONS]),
        "openai wrapped json": tmp.joinpath("wrapped.json").write_text(json.dumps({"version": 2, "data": [
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in CONVERSATIONS]},
            ensure_ascii=False), encoding="utf-8") and tmp / "wrapped.json",
        "prompt/completion jsonl": _jsonl(tmp / "pc.jsonl", [{"prompt": q, "completion": a} for q, a in CONVERSATIONS]),
        "csv": _table(tmp / "qa.csv", ["question", "answer"], CONVERSATIONS, ","),
        "tsv": _table(tmp / "qa.tsv", ["prompt", "response"], CONVERSATIONS, "\t"),
        "csv semicolons": _table(tmp / "semi.csv", ["instruction", "output"], CONVERSATIONS, ";"),
    }


def test_every_format_parses_to_the_same_canonical_examples(tmp_path):
    for name, path in _writers(tmp_path).items():
        problems: list = []
        examples = load_examples(path, problems=problems)
        assert [e.key() for e in examples] == EXPECTED, name
        assert problems == [], name
        assert all(e.path == str(path) and e.line >= 1 for e in examples), name


def test_detection_names_container_format_and_mapping(tmp_path):
    files = _writers(tmp_path)
    seen = {name: detect_format(path) for name, path in files.items()}
    assert (seen["alpaca jsonl"].container, seen["alpaca jsonl"].format) == ("jsonl", "alpaca")
    assert (seen["alpaca json array"].container, seen["alpaca json array"].format) == ("json", "alpaca")
    assert (seen["sharegpt json array"].container, seen["sharegpt json array"].format) == ("json", "sharegpt")
    assert seen["openai jsonl"].format == "openai"
    assert (seen["openai wrapped json"].container, seen["openai wrapped json"].format) == ("json", "openai")
    assert seen["prompt/completion jsonl"].format == "prompt_completion"
    csv_guess = seen["csv"]
    assert (csv_guess.container, csv_guess.columns) == ("csv", ["question", "answer"])
    assert csv_guess.mapping == ColumnMapping(instruction="question", output="answer")
    assert "question" in csv_guess.note and "answer" in csv_guess.note
    assert seen["tsv"].container == "tsv" and seen["tsv"].mapping.output == "response"


def test_line_numbers_point_at_where_each_example_starts(tmp_path):
    files = _writers(tmp_path)
    assert [e.line for e in load_examples(files["alpaca jsonl"])] == [1, 2, 3]
    # CSV: the header is line 1, and both quoted fields of the second row hold a newline.
    assert [e.line for e in load_examples(files["csv"])] == [2, 3, 6]
    array_lines = [e.line for e in load_examples(files["alpaca json array"])]
    text = files["alpaca json array"].read_text(encoding="utf-8").split("\n")
    assert [text[n - 1].strip() for n in array_lines] == ["{"] * 3


def test_json_array_streams_across_chunk_edges_with_the_right_lines(tmp_path, monkeypatch):
    records = [{"instruction": f"q{i} " + "é" * (i % 5), "output": f"answer {i}", "n": 1.5 + i} for i in range(40)]
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps(records, indent=2, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(textio, "CHUNK_BYTES", 7)  # every value straddles a chunk edge
    examples = load_examples(path)
    assert [e.key() for e in examples] == [
        ("messages", (("user", r["instruction"]), ("assistant", r["output"]))) for r in records]
    lines = path.read_text(encoding="utf-8").split("\n")
    assert all(lines[e.line - 1].strip() == "{" for e in examples)


def test_column_mapping_can_be_overridden(tmp_path):
    path = _table(tmp_path / "notes.csv", ["q", "a", "notes"],
                  [("hello", "hi there", "greeting"), ("bye", "see you", "farewell")], ",")
    assert [e.key()[1][-1][1] for e in load_examples(path)] == ["hi there", "see you"]
    overridden = load_examples(path, mapping={"instruction": "q", "output": "notes"})
    assert [e.key()[1][-1][1] for e in overridden] == ["greeting", "farewell"]
    as_text = load_examples(path, mapping=ColumnMapping(text="a"))
    assert [e.text for e in as_text] == ["hi there", "see you"]


def test_unrecognised_columns_say_what_to_choose(tmp_path):
    path = _table(tmp_path / "odd.csv", ["alpha", "beta", "gamma"], [("1", "2", "3")], ",")
    guess = detect_format(path)
    assert guess.format == "" and guess.columns == ["alpha", "beta", "gamma"]
    with pytest.raises(DatasetError, match="choose a column mapping"):
        list(iter_examples(path))
    assert len(load_examples(path, mapping={"instruction": "alpha", "output": "gamma"})) == 1


@pytest.mark.parametrize("encoding, detected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"),
    ("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be"), ("gb18030", "gb18030"), ("gbk", "gb18030"),
])
def test_encodings_round_trip(tmp_path, encoding, detected):
    records = [{"instruction": q, "output": a} for q, a in CONVERSATIONS]
    if encoding == "gbk":  # GBK has no em dash in every codec version; keep to what GBK surely holds
        records[2]["output"] = "你好的意思是 hello。"
    path = _jsonl(tmp_path / f"data-{encoding}.jsonl", records, encoding)
    assert detect_encoding(path) == detected
    examples = load_examples(path)
    assert [e.key()[1][1][1] for e in examples] == [r["output"] for r in records]
    table = _table(tmp_path / f"data-{encoding}.csv", ["instruction", "output"],
                   [(r["instruction"], r["output"]) for r in records], ",", encoding)
    assert [e.key() for e in load_examples(table)] == [e.key() for e in examples]
    array = tmp_path / f"data-{encoding}.json"
    array.write_bytes(json.dumps(records, indent=2, ensure_ascii=False).encode(encoding))
    assert [e.key() for e in load_examples(array)] == [e.key() for e in examples]
    assert [e.line for e in load_examples(array)] == [2, 6, 10]


def test_chinese_csv_headers_are_understood(tmp_path):
    path = _table(tmp_path / "问答.csv", ["问题", "回答"], [("你好吗？", "我很好。")], ",", "gb18030")
    guess = detect_format(path)
    assert guess.encoding == "gb18030" and guess.mapping == ColumnMapping(instruction="问题", output="回答")
    assert load_examples(path)[0].key() == ("messages", (("user", "你好吗？"), ("assistant", "我很好。")))


def test_malformed_records_give_line_numbered_problems(tmp_path):
    good = json.dumps({"instruction": "q", "input": "", "output": "a"})
    lines = [
        good,
        good,
        '{"instruction": "q", "output": "a" "input": ""}',                        # 3 bad JSON
        good,
        json.dumps({"instruction": "q", "input": ""}),                               # 5 missing field
        json.dumps({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}),  # 6 mixed
        json.dumps({"instruction": "   ", "output": ""}),                            # 7 empty
        "[1, 2]",                                                                    # 8 not an object
        "",                                                                          # 9 blank: fine
        good,                                                                        # 10
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems: list = []
    examples = load_examples(path, problems=problems)
    assert [e.line for e in examples] == [1, 2, 4, 10]
    assert [str(p) for p in problems] == [
        "data.jsonl:3: not valid JSON (Expecting ',' delimiter at column 36)",
        "data.jsonl:5: missing field 'output'",
        "data.jsonl:6: mixed formats: this record is ShareGPT (conversations with from/value) but the file is "
        "Alpaca (instruction/input/output); skipped",
        "data.jsonl:7: empty example: field 'instruction' is empty",
        "data.jsonl:8: expected a JSON object {...}, found a list",
    ]
    assert all(p.severity == "error" and p.path == str(path) for p in problems)


def test_chat_records_with_bad_roles_or_no_reply(tmp_path):
    path = _jsonl(tmp_path / "chat.jsonl", [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "{}"}]},
        {"messages": []},
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]},
        {"messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"},
                      {"role": "assistant", "content": [{"type": "text", "text": "he"}, {"type": "text", "text": "llo"}]}]},
    ])
    problems: list = []
    examples = load_examples(path, problems=problems)
    assert [(p.line, p.message) for p in problems] == [
        (2, "unknown role 'tool' in message 2 (expected system, user or assistant; ShareGPT's human and gpt work too)"),
        (3, "empty example: no messages"),
        (4, "no assistant reply to learn from"),
        (5, "empty example: message 2 (assistant) has no text"),
    ]
    assert [e.line for e in examples] == [1, 6]
    assert examples[1].key() == ("messages", (("system", "be brief"), ("user", "hi"), ("assistant", "hello")))


def test_broken_json_array_reports_its_line_and_keeps_what_came_before(tmp_path):
    path = tmp_path / "array.json"
    path.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c", "output": "d"},\n'
                    '  {"instruction": "e" "output": "f"},\n  {"instruction": "g", "output": "h"}\n]\n')
    problems: list = []
    assert [e.line for e in load_examples(path, problems=problems)] == [2, 3]
    assert [str(p) for p in problems] == [
        "array.json:4: not valid JSON (Expecting ',' delimiter at column 23); the rest of the file was not read"]


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\n  \n\t\n", "the file holds only blank space, no examples"),
    (bytes(range(256)) * 8, "this is a binary file (it contains NUL bytes), not text"),
    (b"PAR1\x15\x04\x15", "this is a Parquet file, not text"),
    (b"PK\x03\x04\x14\x00", "this is a ZIP archive"),
    (b"[]", "the file holds an empty JSON list, no examples"),
])
def test_whole_file_failures_are_one_clear_sentence(tmp_path, content, message):
    path = tmp_path / "data.json"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        list(iter_examples(path))
    assert message in str(caught.value)
    assert str(caught.value).startswith("data.json:")


def test_a_huge_line_is_skipped_without_reading_it_whole(tmp_path):
    path = tmp_path / "huge.jsonl"
    good = json.dumps({"prompt": "p", "completion": "c"})
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(good + "\n")
        fh.write('{"prompt": "' + "x" * (11 * 1024 * 1024) + '", "completion": "c"}\n')
        fh.write(good + "\n")
    problems: list = []
    assert [e.line for e in load_examples(path, problems=problems)] == [1, 3]
    assert [str(p) for p in problems] == [
        "huge.jsonl:2: line is 11.5 MB long, over the 10 MB limit for one example; skipped"]


def test_a_stray_bad_byte_costs_one_line(tmp_path):
    path = tmp_path / "mostly.jsonl"
    good = json.dumps({"prompt": "p", "completion": "c"}).encode()
    path.write_bytes(good + b"\n" + b'{"prompt": "caf\xe9", "completion": "c"}\n' + good + b"\n" + good + b"\n")
    problems: list = []
    assert [e.line for e in load_examples(path, problems=problems)] == [1, 3, 4]
    assert [str(p) for p in problems] == ["mostly.jsonl:2: not valid UTF-8 text (byte 0xe9 at column 16); line skipped"]


def test_csv_rows_with_too_many_fields_are_reported(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("instruction,output\nhello,hi\nhow are you, today?,fine\nbye,see you\n", encoding="utf-8")
    problems: list = []
    assert [e.line for e in load_examples(path, problems=problems)] == [2, 4]
    assert [str(p) for p in problems] == [
        "rows.csv:3: row has 3 fields but the header has 2 (a field containing ',' must be quoted)"]


def test_plain_text_becomes_paragraph_examples(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("First paragraph,\nstill first.\n\n\nSecond paragraph.\n\n" + "word " * 900 + "\n",
                    encoding="utf-8")
    guess = detect_format(path)
    assert (guess.container, guess.format) == ("txt", "text")
    examples = load_examples(path)
    assert examples[0].text == "First paragraph,\nstill first." and examples[0].line == 1
    assert (examples[1].text, examples[1].line) == ("Second paragraph.", 5)
    long_pieces = [e.text for e in examples[2:]]
    assert len(long_pieces) == 3 and all(len(p) <= 2000 for p in long_pieces)
    assert " ".join(long_pieces).split() == ["word"] * 900
    assert all(e.messages is None and e.key() == ("text", e.text) for e in examples)


def test_split_is_deterministic_and_keeps_file_order():
    examples = [Example(None, f"t{i}", "x", i + 1) for i in range(50)]
    train, val = split_examples(examples, val_ratio=0.2, seed=7)
    assert (len(train), len(val)) == (40, 10)
    assert split_examples(examples, val_ratio=0.2, seed=7) == (train, val)
    assert split_examples(examples, val_ratio=0.2, seed=8)[1] != val
    assert sorted(train + val, key=lambda e: e.line) == examples
    assert [e.line for e in val] == sorted(e.line for e in val)
    assert split_examples(examples[:1], val_ratio=0.5) == (examples[:1], [])
    assert len(split_examples(examples[:3], val_ratio=0.01)[1]) == 1


def test_scan_without_a_model_counts_splits_and_judges(tmp_path):
    files = _writers(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "q"}\n' + json.dumps({"instruction": "q", "output": "a"}) + "\n")
    report = scan_dataset([files["alpaca jsonl"], files["csv"], bad], preview=4)
    assert (report.n_examples, report.n_train, report.n_val) == (7, 6, 1)
    assert [f.n_examples for f in report.files] == [3, 3, 1]
    assert report.usable and report.n_problems == 1 and str(report.problems[0]) == "bad.jsonl:1: missing field 'output'"
    assert "1 record with problems will be skipped" in report.verdict
    assert len(report.preview) == 4 and report.preview[0].rendered_text.startswith("<|im_start|>user\n")
    assert report.token_lengths == [] and report.histogram == []
    data = report.to_dict()
    json.dumps(data)  # JSON-safe, as the worker sends it
    assert data["problems"][0]["text"] == "bad.jsonl:1: missing field 'output'"

    val = _jsonl(tmp_path / "val.jsonl", [{"prompt": "p", "completion": "c"}] * 2)
    with_val = scan_dataset([files["alpaca jsonl"]], val_paths=[val])
    assert (with_val.n_train, with_val.n_val) == (3, 2)


def test_scan_marks_a_dataset_with_an_unreadable_file_unusable(tmp_path):
    files = _writers(tmp_path)
    binary = tmp_path / "weights.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    report = scan_dataset([files["csv"], binary])
    assert not report.usable
    assert report.verdict.startswith("Not usable: weights.bin: this is a binary file")
    assert report.files[1].error.startswith("this is a binary file")
