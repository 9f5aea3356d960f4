"""GGUF reading and validation: every failure kind names the specifics, templates cannot escape."""

from __future__ import annotations

import shutil
import struct
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFWriter

from studio.core.models import templates
from studio.core.models.gguf_info import (
    ModelFileError,
    read_gguf_info,
)
from studio.core.models.llama_errors import translate_llama_error
from studio.core.models.templates import check_chat_template

CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
          "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def write_gguf(path: Path, arch: str = "llama", *, template: str | None = CHATML,
               general_type: str | None = None, rows: int = 16, cols: int = 8,
               tensors: bool = True, extra: dict[str, str] | None = None) -> Path:
    """A tiny GGUF: a few llama-style keys, a 16-token vocabulary and one F32 tensor."""
    writer = GGUFWriter(path, arch)
    writer.add_name("Tiny Test Model")
    if general_type:
        writer.add_type(general_type)
    writer.add_context_length(128)
    writer.add_block_count(1)
    writer.add_embedding_length(cols)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_token_list([f"tok{i}" for i in range(16)])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    if template is not None:
        writer.add_chat_template(template)
    for key, value in (extra or {}).items():
        writer.add_string(key, value)
    if tensors:
        writer.add_tensor("token_embd.weight", np.arange(rows * cols, dtype=np.float32)
                          .reshape(rows, cols))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def raw_gguf(path: Path, kv: bytes, n_kv: int, n_tensors: int = 0, version: int = 3) -> Path:
    """A hand-built header, for damage GGUFWriter would never produce."""
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + kv)
    return path


def gguf_str(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def kind_of(path: Path) -> ModelFileError:
    with pytest.raises(ModelFileError) as caught:
        read_gguf_info(path)
    assert str(caught.value) == caught.value.message
    return caught.value


# --- good files ---------------------------------------------------------------------------------

def test_reads_a_tiny_llama_file(tmp_path):
    info = read_gguf_info(write_gguf(tmp_path / "tiny.gguf"))
    assert info.architecture == "llama" and info.version == 3
    assert info.name == "Tiny Test Model"
    assert info.parameter_count == 16 * 8 and info.tensor_count == 1
    assert info.quantization == "F32"  # no general.file_type: named after the tensor type
    assert (info.context_length, info.block_count, info.head_count, info.head_count_kv) == (128, 1, 2, 1)
    assert info.embedding_length == 8 and info.vocab_size == 16
    assert (info.bos_token_id, info.eos_token_id) == (1, 2)
    assert info.chat_template == CHATML
    assert info.file_size == (tmp_path / "tiny.gguf").stat().st_size
    assert info.metadata["tokenizer.ggml.tokens"] == "[array of 16 str]"
    assert info.metadata["general.architecture"] == "llama"
    rows = dict(info.summary())
    assert rows["Architecture"] == "llama" and rows["Attention heads"] == "2 (1 key/value)"
    assert rows["Chat template"] == "built in" and rows["Parameters"] == "128"


def test_file_type_names_the_quantization(tmp_path):
    path = tmp_path / "q.gguf"
    writer = GGUFWriter(path, "llama")
    writer.add_file_type(3)
    writer.add_tensor("w", np.zeros((4, 32), dtype=np.float32))
    writer.write_header_to_file(), writer.write_kv_data_to_file(), writer.write_tensors_to_file()
    writer.close()
    assert read_gguf_info(path).quantization == "Q4_1"


# --- what the file is not ----------------------------------------------------------------------

def test_missing_folder_and_empty(tmp_path):
    assert kind_of(tmp_path / "nope.gguf").kind == "not_found"
    assert kind_of(tmp_path).kind == "not_a_file"
    (tmp_path / "empty.gguf").write_bytes(b"")
    err = kind_of(tmp_path / "empty.gguf")
    assert err.kind == "empty" and "0 bytes" in err.message


@pytest.mark.parametrize("content, looks_like", [
    (b"hello world, this is not a model\n", "text file"),
    (b"<!DOCTYPE html><html><body>Sign in</body></html>", "HTML page"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 98362432\n", "Git LFS"),
    (b"\x80\x02ctorch._utils\n", "pickle"),
    (struct.pack("<Q", 20) + b'{"w":{"dtype":"F16"}}' + b"\0" * 32, "safetensors"),
])
def test_not_gguf_says_what_it_looks_like(tmp_path, content, looks_like):
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    err = kind_of(path)
    assert err.kind == "not_gguf"
    assert looks_like in err.message and repr(content[:4]) in err.message and "'GGUF'" in err.message


def test_zip_renamed_to_gguf(tmp_path):
    path = tmp_path / "archive.gguf"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.bin", b"\0" * 100)
    err = kind_of(path)
    assert err.kind == "not_gguf"
    assert err.message.startswith("not a GGUF file: it starts with b'PK\\x03\\x04' (looks like a ZIP")


@pytest.mark.parametrize("version, hint", [(99, "newer llama.cpp"), (1, "convert the model again")])
def test_unsupported_version(tmp_path, version, hint):
    path = write_gguf(tmp_path / "v.gguf")
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", version)
    path.write_bytes(bytes(data))
    err = kind_of(path)
    assert err.kind == "unsupported_version"
    assert f"unsupported GGUF version {version} (this app reads versions 2 and 3)" in err.message
    assert hint in err.message


def test_truncated_tensor_data_gives_both_sizes(tmp_path):
    full = write_gguf(tmp_path / "full.gguf", rows=1000, cols=256)  # ~1 MB of F32 data
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(full.read_bytes()[:300_000])
    err = kind_of(cut)
    assert err.kind == "truncated"
    assert "expected 1.0 MB, file has 300.0 kB" in err.message
    assert "download it again" in err.message


def test_truncated_inside_the_header(tmp_path):
    full = write_gguf(tmp_path / "full.gguf")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(full.read_bytes()[:100])
    err = kind_of(cut)
    assert err.kind == "truncated" and "ends inside its header" in err.message


@pytest.mark.parametrize("kv, n_kv, reason", [
    (gguf_str("general.name") + struct.pack("<IQ", 8, 1 << 40), 1, "more than the whole file"),
    (gguf_str("general.name") + struct.pack("<I", 77), 1, "unknown value type 77"),
    ((gguf_str("a") + struct.pack("<II", 4, 1)) * 2, 2, "'a' appears twice"),
    (gguf_str("general.alignment") + struct.pack("<II", 4, 24), 1, "not a power of two"),
])
def test_corrupt_header_says_what_is_wrong(tmp_path, kv, n_kv, reason):
    err = kind_of(raw_gguf(tmp_path / "bad.gguf", kv, n_kv))
    assert err.kind == "corrupt" and reason in err.message


def test_hostile_headers_fail_fast(tmp_path):
    # 5000 "strings" promised in 10 kB: refused without walking them
    bomb = gguf_str("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 5000) + b"\0" * 10_000
    started = time.perf_counter()
    assert kind_of(raw_gguf(tmp_path / "bomb.gguf", bomb, 1)).kind == "truncated"
    # arrays nested thousands deep
    nested = gguf_str("x") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 5000
    err = kind_of(raw_gguf(tmp_path / "nested.gguf", nested + struct.pack("<IQ", 4, 0), 1))
    assert err.kind == "corrupt" and "nested" in err.message
    assert time.perf_counter() - started < 2


def test_corrupt_tensor_type(tmp_path):
    tensor = gguf_str("w") + struct.pack("<IQIQ", 1, 32, 999, 0)
    err = kind_of(raw_gguf(tmp_path / "bad.gguf", tensor + b"\0" * 64, 0, n_tensors=1))
    assert err.kind == "corrupt" and "tensor 'w' has unknown data type 999" in err.message


def test_unknown_architecture(tmp_path):
    err = kind_of(write_gguf(tmp_path / "foo.gguf", arch="foo"))
    assert err.kind == "unknown_architecture"
    assert "unknown architecture 'foo' — llama.cpp cannot run it" in err.message


def test_adapter_projector_and_vocab_only_are_not_models(tmp_path):
    err = kind_of(write_gguf(tmp_path / "lora.gguf", general_type="adapter"))
    assert err.kind == "not_a_model" and "LoRA adapter" in err.message
    assert "chat settings" in err.message
    err = kind_of(write_gguf(tmp_path / "mmproj.gguf", arch="clip"))
    assert err.kind == "not_a_model" and "mmproj" in err.message
    err = kind_of(write_gguf(tmp_path / "vocab.gguf", tensors=False))
    assert err.kind == "not_a_model" and "no weights" in err.message


# --- chat templates ----------------------------------------------------------------------------

ESCAPES = [
    ("{{ self.__init__.__globals__ }}", "__init__"),
    ("{{ cycler.__init__.__globals__.os.popen('touch MARKER') }}", "cycler"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
    ("{{ (''|attr('__class__')).__mro__ }}", "__class__"),
    ("{{ joiner.__init__.__globals__['os'].system('touch MARKER') }}", "joiner"),
    ("{% set x = lipsum.__globals__ %}{{ x.os.popen('touch MARKER').read() }}", "lipsum"),
    ("{{ ''['__cla' ~ 'ss__'] }}", "__class__"),  # folded from constants
    # built at run time, so only the sandbox sees it
    ("{% set n = '__cla' %}{{ ''[n ~ 'ss__'] }}", "__class__"),
]


_SPAWN_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "subprocess.Popen")
_spawns: list[str] | None = None


def _audit(event: str, args) -> None:
    if _spawns is not None and event.startswith(_SPAWN_EVENTS):
        _spawns.append(f"{event} {args!r:.120}")


sys.addaudithook(_audit)  # audit events fire before the process starts, so nothing needs waiting for


@pytest.fixture()
def spawns():
    """The processes started while the test runs (os.popen/os.system and friends), as audit events."""
    global _spawns
    _spawns = []
    try:
        yield _spawns
    finally:
        _spawns = None


def test_spawn_audit_sees_an_escape_that_runs(tmp_path, spawns):
    """The check below is only worth something if an escape that does run is seen: plain Jinja runs them."""
    import jinja2

    marker = tmp_path / "pwned"
    for template, _ in ESCAPES:
        if "MARKER" in template:
            jinja2.Template(template.replace("MARKER", str(marker))).render()
    assert [event.split()[0] for event in spawns] == ["subprocess.Popen", "os.system", "subprocess.Popen"]
    assert marker.exists()


@pytest.fixture(params=["llama_cpp", "plain_jinja"])
def render_path(request, monkeypatch):
    """Run each template test through llama-cpp-python's formatter and through the fallback."""
    if request.param == "plain_jinja":
        monkeypatch.setitem(sys.modules, "llama_cpp.llama_chat_format", None)
    return request.param


@pytest.mark.parametrize("template, reaches_for", ESCAPES)
def test_escaping_templates_are_refused_and_never_run(tmp_path, render_path, spawns, template, reaches_for):
    marker = tmp_path / "pwned"
    template = template.replace("MARKER", str(marker))
    with pytest.raises(ModelFileError) as caught:
        check_chat_template(template)
    assert caught.value.kind == "template_unsafe"
    assert caught.value.message.startswith("chat template refused as unsafe")
    assert f"'{reaches_for}'" in caught.value.message
    assert spawns == [] and not marker.exists()


@pytest.mark.parametrize("template, _", ESCAPES)
def test_the_sandbox_alone_still_refuses(tmp_path, monkeypatch, render_path, spawns, template, _):
    """Defence in depth: with the static check switched off, rendering must still refuse."""
    monkeypatch.setattr(templates, "_static_refusals", lambda ast, env: [])
    marker = tmp_path / "pwned"
    with pytest.raises(ModelFileError) as caught:
        check_chat_template(template.replace("MARKER", str(marker)))
    assert caught.value.kind == "template_unsafe"
    assert spawns == [] and not marker.exists()


def test_a_model_with_an_escaping_template_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    template = "{{ cycler.__init__.__globals__.os.popen('touch %s') }}" % marker
    err = kind_of(write_gguf(tmp_path / "evil.gguf", template=template))
    assert err.kind == "template_unsafe" and "'cycler'" in err.message
    assert not marker.exists()


def test_loop_bombs_are_refused(render_path):
    with pytest.raises(ModelFileError) as caught:
        check_chat_template("{% for i in range(100000) %}{% for j in range(100000) %}x"
                            "{% endfor %}{% endfor %}")
    assert caught.value.kind == "template_unsafe" and "loops more than" in caught.value.message


@pytest.mark.parametrize("template", [
    CHATML,
    # namespace() and loop controls are used by real templates and must keep working
    "{% set ns = namespace(n=0) %}{% for m in messages %}{% if m.role == 'system' %}{% continue %}"
    "{% endif %}{% set ns.n = ns.n + 1 %}{{ m.content }}{% endfor %}{{ ns.n }}",
    # Gemma-style: refuses a system turn, fine with user/assistant
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}",
    "{% generation %}{{ messages[-1].content }}{% endgeneration %}",
    # Llama 3.1-style helpers that llama-cpp-python provides
    "{{ strftime_now('%d %b %Y') }}{{ {'a': [1, 2]} | tojson(indent=2) }}{{ messages[0].content }}",
])
def test_real_world_templates_pass(render_path, template):
    check_chat_template(template)


def test_templates_that_do_not_render_are_corrupt(render_path):
    with pytest.raises(ModelFileError) as caught:
        check_chat_template("{% for m in messages %}{{ m.content }")
    assert caught.value.kind == "corrupt" and "syntax error on line 1" in caught.value.message
    with pytest.raises(ModelFileError) as caught:
        check_chat_template("{{ raise_exception('roles must alternate') }}")
    assert caught.value.kind == "corrupt"
    assert caught.value.message == "chat template does not render: roles must alternate"


# --- llama.cpp's own words ----------------------------------------------------------------------

# Lines as this llama.cpp build prints them (captured from failed loads).
@pytest.mark.parametrize("log, expected", [
    ("llama_model_load: error loading model: unknown model architecture: 'foo'",
     "unknown architecture 'foo'"),
    ("llama_model_load: error loading model: tensor 'token_embd.weight' data is not within the "
     "file bounds, model is corrupted or incomplete", "truncated or corrupt"),
    ("gguf_init_from_reader: invalid magic characters: 'hell', expected 'GGUF'", "not a GGUF file"),
    ("gguf_init_from_reader: this GGUF file is version 99 but this software only supports up to "
     "version 3\ngguf_init_from_reader: failed to read header", "unsupported GGUF version 99"),
    ("llama_model_load: error loading model: missing tensor 'blk.0.attn_q.weight'",
     "'blk.0.attn_q.weight' is missing"),
    ("llama_model_load: error loading model: done_getting_tensors: wrong number of tensors; "
     "expected 292, got 291", "has 291 weights where this architecture needs 292"),
    ("ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 9999999999\n"
     "llama_model_load: error loading model: unable to allocate CPU buffer",
     "not enough memory: try fewer GPU layers or a smaller context"),
    ("llama_model_load: error loading model: error loading model hyperparameters: key not found "
     "in model: llama.attention.layer_norm_rms_epsilon", "'llama.attention.layer_norm_rms_epsilon'"),
    ("gguf_init_from_reader: failed to read key-value pairs\nllama_model_load: error loading "
     "model: llama_model_loader: failed to load model from x.gguf", "truncated or corrupt"),
])
def test_llama_errors_become_sentences(log, expected):
    err = translate_llama_error("llama_model_loader: loaded meta data\n" + log, "/m/x.gguf")
    assert err.kind == "llama_load_failed"
    assert expected in err.message and err.message.startswith("x.gguf: ")
    assert 'llama.cpp said: "' in err.message


def test_unknown_llama_error_quotes_the_last_error_line():
    err = translate_llama_error("loading\nllama_model_load: error loading model: the moon is "
                                "in the wrong phase\nllama_model_load_from_file_impl: failed to "
                                "load model\n", None)
    assert err.message == ("llama.cpp could not load this model: llama_model_load_from_file_impl: "
                           "failed to load model")


# --- the real starter model ---------------------------------------------------------------------

@pytest.mark.slow
def test_starter_model_reads_fast_and_its_template_passes(starter_model):
    started = time.perf_counter()
    info = read_gguf_info(starter_model)
    assert time.perf_counter() - started < 1.5  # header walk only, never the 98 MB of weights
    assert info.architecture == "llama" and info.quantization == "Q4_1"
    assert info.file_size == 98_362_432 and info.tensor_count == 272
    assert info.vocab_size == 49152 and info.context_length == 8192 and info.block_count == 30
    assert info.parameter_count == 134_515_008
    assert info.chat_template and "<|im_start|>" in info.chat_template
    check_chat_template(info.chat_template)


@pytest.mark.slow
def test_truncated_copies_of_the_starter_model(starter_model, tmp_path):
    with open(starter_model, "rb") as src:
        head = src.read(4_000_000)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(head)
    err = kind_of(cut)
    assert err.kind == "truncated"
    assert err.message.startswith("truncated: expected 98.4 MB, file has 4.0 MB — the download "
                                  "or copy was cut short")
    # The first MB ends inside the 1.8 MB header (the vocabulary), before the tensor table.
    cut.write_bytes(head[:1_000_000])
    err = kind_of(cut)
    assert err.kind == "truncated" and "only 1.0 MB" in err.message
    assert "tokenizer.ggml.merges" in err.message


@pytest.mark.slow
def test_starter_copy_with_a_patched_template_is_refused(starter_model, tmp_path):
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(starter_model, copy)
    data = bytearray(copy.read_bytes()[:2_000_000])
    key = data.find(b"tokenizer.chat_template") + len(b"tokenizer.chat_template") + 4
    (length,) = struct.unpack_from("<Q", data, key)
    evil = b"{{ self.__init__.__globals__ }}".ljust(length)  # same length keeps the file valid
    data[key + 8:key + 8 + length] = evil
    with open(copy, "r+b") as fh:
        fh.write(data)
    err = kind_of(copy)
    assert err.kind == "template_unsafe" and "'__init__'" in err.message
