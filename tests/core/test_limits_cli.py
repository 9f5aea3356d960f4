"""Issue 9: every number a user gives has a documented range (studio.core.limits), and text that is
not valid Unicode is refused in one line. CLI checks run as real subprocesses and fail before any
model is touched, so they use a model path that does not exist."""

from __future__ import annotations

import subprocess
import sys

import pytest

from studio.core import limits
from studio.core.engine.sampling import PRESETS, SamplingParams
from studio.core.errors import StudioError


def studio(*args, stdin: bytes | None = None, timeout=120):
    result = subprocess.run([sys.executable, "-m", "studio", *args], input=stdin, capture_output=True,
                            timeout=timeout)
    result.stderr_text = result.stderr.decode("utf-8", "replace")
    return result


def assert_one_line_usage_error(result, *expected: str) -> str:
    err = result.stderr_text
    assert result.returncode == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studio: "), err
    for text in expected:
        assert text in lines[0], err
    return lines[0]


# -- studio chat: each out-of-range value from the issue -------------------------------------
@pytest.mark.parametrize("option, value, message", [
    ("--temperature", "-1", "--temperature must be between 0 and 2 (got -1)"),
    ("--max-tokens", "0", "--max-tokens must be a whole number between 1 and 1048576 (got 0)"),
    ("--max-tokens", "10000000", "--max-tokens must be a whole number between 1 and 1048576 (got 10000000)"),
    ("--seed", "-5", "--seed must be a whole number between -1 and 4294967295 (got -5)"),
    ("--n-gpu-layers", "1000", "--n-gpu-layers must be a whole number between -1 and 999 (got 1000)"),
    ("--n-gpu-layers", "-2", "--n-gpu-layers must be a whole number between -1 and 999 (got -2)"),
    ("--ctx", "0", "--ctx must be a whole number between 256 and 1048576 (got 0)"),
    ("--ctx", "-5", "--ctx must be a whole number between 256 and 1048576 (got -5)"),
    ("--top-p", "5", "--top-p must be above 0 and at most 1 (got 5)"),
    ("--top-p", "nan", "--top-p must be above 0 and at most 1 (got nan)"),
    ("--top-k", "-3", "--top-k must be a whole number between 0 and 1000 (got -3)"),
    ("--threads", "-2", "--threads must be a whole number between 1 and 1024 (got -2)"),
])
def test_chat_number_out_of_range_exits_2_with_the_range(tmp_path, option, value, message):
    result = studio("chat", "--model", str(tmp_path / "nope.gguf"), "--prompt", "hi", option, value)
    line = assert_one_line_usage_error(result, message)
    assert "n_ctx_seq" not in line and "nope.gguf" not in line  # refused before the model is looked at
    assert result.stdout == b""


def test_chat_lora_scale_out_of_range(tmp_path):
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF")
    result = studio("chat", "--model", str(tmp_path / "nope.gguf"), "--prompt", "hi", "--lora", f"{adapter}:7")
    assert_one_line_usage_error(result, "must be between 0 and 2 (got 7)")


# -- studio next / attention: the same table -------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["next", "--top-k", "0"], "--top-k must be a whole number between 1 and 1000 (got 0)"),
    (["next", "--temperature", "-1"], "--temperature must be between 0 and 2 (got -1)"),
    (["next", "--top-p", "5"], "--top-p must be above 0 and at most 1 (got 5)"),
    (["next", "--ctx", "0"], "--ctx must be a whole number between 256 and 1048576 (got 0)"),
    (["attention", "--out", "x.npz", "--max-tokens", "0"],
     "--max-tokens must be a whole number between 1 and 4096 (got 0)"),
])
def test_inspect_number_out_of_range_exits_2_with_the_range(tmp_path, args, message):
    result = studio(*args, "--model", str(tmp_path / "nope.gguf"), "--text", "hi")
    assert_one_line_usage_error(result, message)


# -- text that is not Unicode ----------------------------------------------------------------
def test_invalid_utf8_on_stdin_is_one_line(tmp_path):
    result = studio("chat", "--model", str(tmp_path / "nope.gguf"), "--prompt", "-", stdin=b"hi \xff there")
    assert_one_line_usage_error(result, "the prompt is not valid UTF-8 text (byte 0xff at byte 3)")


def test_lone_surrogate_from_argv_is_one_line(tmp_path):
    # Bytes that are not UTF-8 reach Python's argv as lone surrogates (U+DCFF for 0xFF).
    result = subprocess.run([sys.executable, "-m", "studio", "chat", "--model", str(tmp_path / "nope.gguf"),
                             "--prompt", b"caf\xe9 au lait"], capture_output=True, timeout=120)
    result.stderr_text = result.stderr.decode("utf-8", "replace")
    assert_one_line_usage_error(result, "the prompt is not valid UTF-8 text (byte 0xe9 at byte 3)")


def test_bad_system_prompt_from_argv_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "studio", "chat", "--model", str(tmp_path / "nope.gguf"),
                             "--prompt", "hi", "--system", b"\x80"], capture_output=True, timeout=120)
    result.stderr_text = result.stderr.decode("utf-8", "replace")
    assert_one_line_usage_error(result, "--system", "byte 0x80 at byte 0")


def test_tokenize_invalid_utf8_on_stdin_is_one_line(starter_model):
    result = studio("tokenize", "--model", str(starter_model), "--text", "-", stdin=b"\xc3\x28 broken")
    assert_one_line_usage_error(result, "not valid UTF-8 text (byte 0xc3 at byte 0)", "--file")


def test_valid_utf8_on_stdin_passes_the_check(tmp_path):
    # Gets past the text check to the (missing) model: the error is about the model, not the text.
    result = studio("chat", "--model", str(tmp_path / "nope.gguf"), "--prompt", "-",
                    stdin="你好 👋 café".encode("utf-8"))
    line = assert_one_line_usage_error(result)
    assert "UTF-8" not in line and "nope.gguf" in line


@pytest.mark.slow
def test_gpu_layers_above_the_layer_count_is_announced(starter_model):
    result = studio("chat", "--model", str(starter_model), "--prompt", "Hi", "--max-tokens", "1",
                    "--n-gpu-layers", "999")
    assert result.returncode == 0, result.stderr_text
    assert "note: the model has 30 layers; --n-gpu-layers 999 offloads all of them" in result.stderr_text


# -- the table itself ------------------------------------------------------------------------
def test_check_returns_the_value_and_raises_a_studio_error():
    assert limits.check("temperature", 0.7) == 0.7
    with pytest.raises(StudioError) as caught:
        limits.check("temperature", -1, "--temperature")
    assert caught.value.kind == "out_of_range"
    assert str(caught.value) == "--temperature must be between 0 and 2 (got -1)"


@pytest.mark.parametrize("name, value", [("top_k", True), ("top_k", 2.5), ("seed", 2**32), ("temperature", "1"),
                                         ("temperature", float("inf")), ("top_p", 0)])
def test_not_a_number_in_range_is_refused(name, value):
    with pytest.raises(limits.OutOfRange):
        limits.check(name, value)


def test_every_entry_documents_its_meaning():
    for entry in limits.LIMITS.values():
        assert entry.minimum < entry.maximum
        assert entry.meaning.endswith(".")


def test_lone_surrogate_that_is_not_a_byte_is_named():
    with pytest.raises(limits.BadText, match="lone surrogate U\\+D800 at character 2"):
        limits.check_text("ab\ud800", "the prompt")
    assert limits.check_text("你好", "x") == "你好"
    assert limits.check_text("你好".encode(), "x") == "你好"


def test_presets_are_inside_the_table():
    for preset in PRESETS.values():
        preset.validate()


def test_stored_sampling_out_of_range_is_clamped_not_a_crash():
    stored = {"temperature": -1, "top_p": 5, "top_k": "lots", "seed": -5, "max_tokens": 10**9, "n_ctx": 0,
              "repeat_penalty": None, "min_p": [1], "unknown": 3}
    params = SamplingParams.from_dict(stored)
    assert params.temperature == 0 and params.top_p == 1 and params.seed == -1
    assert params.top_k == SamplingParams().top_k and params.min_p == SamplingParams().min_p
    assert params.max_tokens == limits.N_CTX_MAX and params.n_ctx == 256
    params.validate()
    with pytest.raises(limits.OutOfRange, match="temperature"):
        SamplingParams(temperature=9).validate()
