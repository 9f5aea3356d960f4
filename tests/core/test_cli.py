"""`studio` CLI: real subprocesses, as a user runs them."""

import json
import subprocess
import sys

import pytest


def studio(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_chat_json_reports_reply_and_stats(starter_model):
    result = studio("chat", "--model", str(starter_model), "--prompt", "What is the capital of France? Answer in English.",
                    "--temperature", "0", "--seed", "0", "--max-tokens", "48", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "Paris" in data["reply"]
    assert data["tokens"] > 0 and data["tokens_per_s"] > 0 and data["ttft_ms"] > 0


@pytest.mark.slow
def test_chat_streams_plain_text_by_library_name(starter_model):
    result = studio("chat", "--model", "starter", "--prompt", "Say hello.", "--max-tokens", "16", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_chat_with_missing_model_is_a_human_error(tmp_path):
    result = studio("chat", "--model", str(tmp_path / "nope.gguf"), "--prompt", "hi")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("studio: ")


def test_models_inspect_prints_metadata(starter_model):
    result = studio("models", "inspect", str(starter_model))
    assert result.returncode == 0, result.stderr
    assert "llama" in result.stdout


def test_models_inspect_bad_file_exits_nonzero_without_traceback(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    result = studio("models", "inspect", str(bad))
    assert result.returncode != 0
    assert "not a GGUF file" in result.stderr
    assert "Traceback" not in result.stderr


def test_models_lists_the_library(starter_model):
    result = studio("models")
    assert result.returncode == 0, result.stderr
    assert "SmolLM2-135M-Instruct" in result.stdout
