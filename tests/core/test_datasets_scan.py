"""Scanning at scale and out of process: bounded memory on a big file, the dataset worker's
progress/preview/cancel, and `studio dataset check`'s output and exit codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio import cli as cli_dataset  # `studio dataset check` runs through the one main()
from studio.core.datasets import scan_dataset
from studio.core.datasets.client import DatasetClient


def _write_jsonl(path: Path, n: int, *, words: int = 12) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"instruction": f"Explain item {i}, please.", "input": "",
                                 "output": f"Item {i}: " + "lorem ipsum dolor sit amet " * words}) + "\n")
    return path


def test_a_50_mb_file_scans_in_bounded_memory(tmp_path):
    big = tmp_path / "big.jsonl"
    line = json.dumps({"instruction": "Explain item {n} in detail.", "input": "",
                       "output": "Item details: " + "lorem ipsum dolor sit amet " * 14})
    with open(big, "w", encoding="utf-8") as fh:
        n = 0
        while fh.tell() < 50_000_000:
            fh.write(line.replace("{n}", str(n)) + "\n")
            n += 1
    small = _write_jsonl(tmp_path / "small.jsonl", 300)
    # A fresh process, so the peak RSS it reports belongs to this scan alone.
    code = (
        "import json, resource, sys\n"
        "from studio.core.datasets import scan_dataset\n"
        "scan_dataset([sys.argv[1]])  # imports and caches first\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "report = scan_dataset([sys.argv[2]])\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'n': report.n_examples, 'grew_kb': peak - base, 'usable': report.usable}))\n"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(small), str(big)], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n"] == n and result["usable"]
    assert result["grew_kb"] * 1024 < 10_000_000, f"peak RSS grew by {result['grew_kb']} kB for a 50 MB file"
    assert time.perf_counter() - started < 30


@pytest.mark.slow
def test_worker_scans_with_progress_preview_and_cancel(tmp_path, starter_model):
    data = _write_jsonl(tmp_path / "data.jsonl", 1500)
    big = _write_jsonl(tmp_path / "big.jsonl", 40_000, words=20)

    async def scenario() -> tuple[dict, dict, list, list, float, dict]:
        client = DatasetClient()
        try:
            progress: list[tuple[float, str]] = []
            previews: list[list[dict]] = []
            result = await client.scan([data], model=str(starter_model), max_seq_len=128, preview=10,
                                       on_progress=lambda f, s: progress.append((f, s)), on_preview=previews.append)

            seen_progress = asyncio.Event()

            def on_big_progress(fraction: float, stage: str) -> None:
                if 0 < fraction < 1:
                    seen_progress.set()

            task = asyncio.ensure_future(client.scan([big], model=str(starter_model), on_progress=on_big_progress))
            await asyncio.wait_for(seen_progress.wait(), 60)
            asked = time.perf_counter()
            await client.cancel()
            cancelled = await asyncio.wait_for(task, 30)
            waited = time.perf_counter() - asked
            again = await client.scan([data], preview=2)  # the worker still serves after a cancel
            return result, cancelled, progress, previews, waited, again
        finally:
            await client.close()

    result, cancelled, progress, previews, waited, again = asyncio.run(scenario())
    local = scan_dataset([data], model=starter_model, max_seq_len=128, preview=10)
    assert result == json.loads(json.dumps(local.to_dict()))
    assert result["n_examples"] == 1500 and len(result["token_lengths"]) == 1500
    assert progress and progress[-1] == (1.0, "done")
    assert previews and [r["line"] for r in previews[0]] == list(range(1, 11))
    assert cancelled == {"cancelled": True} and waited < 5
    assert again["n_examples"] == 1500 and again["token_lengths"] == []


def _run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_dataset.main(["dataset", "check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_check_usable_and_unusable(tmp_path, capsys):
    good = _write_jsonl(tmp_path / "good.jsonl", 20)
    code, out, _ = _run_cli(capsys, str(good))
    assert code == 0
    assert out.splitlines()[0] == "good.jsonl: JSONL, Alpaca (instruction/input/output), UTF-8; 20 examples, 0 problems"
    assert "examples: 20 (18 train, 2 validation)" in out
    assert out.rstrip().endswith("Usable: 20 examples (18 for training, 2 for validation).")

    flawed = tmp_path / "flawed.jsonl"
    flawed.write_text(good.read_text() + '{"instruction": "x"\n{"instruction": "y"}\n', encoding="utf-8")
    code, out, _ = _run_cli(capsys, str(flawed))
    assert code == 0 and "  flawed.jsonl:21: not valid JSON (Expecting ',' delimiter at column 20)" in out
    assert "  flawed.jsonl:22: missing field 'output'" in out
    code, out, _ = _run_cli(capsys, str(flawed), "--strict")
    assert code == 1 and "Not usable with --strict: 2 records have problems." in out

    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\x01" * 64)
    code, out, _ = _run_cli(capsys, str(good), str(binary))
    assert code == 1
    assert "  model.bin: this is a binary file (it contains NUL bytes), not text; datasets are JSONL, JSON, CSV, " \
           "TSV or plain text" in out
    assert "Not usable: model.bin: this is a binary file" in out

    odd = tmp_path / "odd.csv"
    odd.write_text("alpha,beta,gamma\n1,2,3\n", encoding="utf-8")
    code, out, _ = _run_cli(capsys, str(odd))
    assert code == 1 and "choose a column mapping" in out
    code, out, _ = _run_cli(capsys, str(odd), "--map", "instruction=alpha", "--map", "output=gamma")
    assert code == 0 and "columns: instruction=alpha, output=gamma" in out


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    good = _write_jsonl(tmp_path / "good.jsonl", 3)
    code, _, err = _run_cli(capsys, str(tmp_path / "missing.jsonl"))
    assert code == 2 and err.strip() == f"studio: no such file: {tmp_path / 'missing.jsonl'}"
    code, _, err = _run_cli(capsys, str(good), "--format", "parquet")
    assert code == 2 and "invalid choice" in err
    code, _, err = _run_cli(capsys, str(good), "--map", "answer")
    assert code == 2 and "expected FIELD=COLUMN" in err
    code, _, err = _run_cli(capsys, str(good), "--max-seq-len", "0")
    assert code == 2
    code, _, err = _run_cli(capsys, str(good), "--model", str(tmp_path / "nope.gguf"))
    assert code == 2 and err.startswith("studio: ")


@pytest.mark.slow
def test_cli_json_with_the_starter_model(tmp_path, capsys, starter_model):
    data = _write_jsonl(tmp_path / "data.jsonl", 30, words=30)
    code, out, _ = _run_cli(capsys, str(data), "--model", str(starter_model), "--max-seq-len", "64", "--json")
    report = json.loads(out)
    assert code == 1 or report["usable"]
    assert report["exit_code"] == code == 0 and report["n_examples"] == 30
    assert report["n_truncated"] == 30 and report["max_seq_len"] == 64
    assert report["files"][0]["format"] == "alpaca" and len(report["token_lengths"]) == 30
    code, out, _ = _run_cli(capsys, str(data), "--model", str(starter_model), "--max-seq-len", "64")
    assert f"tokens ({starter_model.name}): min " in out and "30 longer than 64 (would be cut)" in out
