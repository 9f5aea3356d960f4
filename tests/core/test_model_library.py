"""The model library: folder scan, registry of external files, caching, name resolution."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from studio.core.models import library as library_module
from studio.core.models.gguf_info import ModelFileError
from studio.core.models.library import ModelLibrary
from studio.core.models.starter import STARTER_FILENAME
from tests.core.test_gguf_info import write_gguf


@pytest.fixture()
def lib(tmp_path) -> ModelLibrary:
    models = tmp_path / "models"
    models.mkdir()
    return ModelLibrary(models, tmp_path / "data" / "models.json")


def names(entries) -> list[str]:
    return [e.name for e in entries]


def test_empty_library(lib):
    assert lib.list() == [] and lib.default_model() is None


def test_scans_the_folder_and_one_level_of_subfolders(lib):
    write_gguf(lib.models_dir / "beta.gguf")
    (lib.models_dir / "org").mkdir()
    write_gguf(lib.models_dir / "org" / "Alpha.GGUF")
    (lib.models_dir / "org" / "deep").mkdir()
    write_gguf(lib.models_dir / "org" / "deep" / "too-deep.gguf")
    write_gguf(lib.models_dir / ".hidden.gguf")
    (lib.models_dir / "partial.gguf.part").write_bytes(b"GGUF")
    write_gguf(lib.models_dir / "big-00001-of-00002.gguf")
    write_gguf(lib.models_dir / "big-00002-of-00002.gguf")  # loads through the first shard
    (lib.models_dir / "notes.txt").write_text("hi")
    entries = lib.list()
    assert names(entries) == ["Alpha", "beta", "big-00001-of-00002"]
    alpha = entries[0]
    assert alpha.ok and alpha.architecture == "llama" and alpha.quantization == "F32"
    assert alpha.parameter_count == 128 and alpha.size == alpha.path.stat().st_size
    assert not alpha.is_starter and not alpha.external


def test_invalid_files_are_listed_with_their_reason(lib):
    (lib.models_dir / "broken.gguf").write_text("not a model")
    write_gguf(lib.models_dir / "adapter.gguf", general_type="adapter")
    entries = {e.name: e for e in lib.list()}
    assert entries["broken"].error.startswith("not a GGUF file")
    assert entries["broken"].error_kind == "not_gguf" and not entries["broken"].ok
    assert "LoRA adapter" in entries["adapter"].error
    assert lib.default_model() is None


def test_starter_comes_first_and_is_the_default(lib):
    write_gguf(lib.models_dir / "aaa.gguf")
    write_gguf(lib.models_dir / STARTER_FILENAME)
    entries = lib.list()
    assert entries[0].path.name == STARTER_FILENAME and entries[0].is_starter
    assert not entries[1].is_starter
    assert lib.default_model().is_starter


def test_a_symlinked_starter_still_counts(lib, tmp_path):
    real = write_gguf(tmp_path / "elsewhere.gguf")
    (lib.models_dir / STARTER_FILENAME).symlink_to(real)
    (entry,) = lib.list()
    assert entry.is_starter and entry.path == lib.models_dir / STARTER_FILENAME


def test_default_falls_back_to_the_first_valid_model(lib):
    (lib.models_dir / "a-broken.gguf").write_text("nope")
    write_gguf(lib.models_dir / "b-good.gguf")
    assert lib.default_model().name == "b-good"


def test_repeated_listing_reuses_parsed_headers(lib, monkeypatch):
    path = write_gguf(lib.models_dir / "cached.gguf")
    calls = []
    real = library_module.read_gguf_info
    monkeypatch.setattr(library_module, "read_gguf_info", lambda p: calls.append(p) or real(p))
    lib.list()
    lib.list()
    ModelLibrary(lib.models_dir, lib.registry_path).list()  # the cache is shared
    assert len(calls) == 1
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    lib.list()
    assert len(calls) == 2  # a changed file is read again


def test_add_registers_an_external_file_without_copying(lib, tmp_path):
    (tmp_path / "downloads").mkdir()
    outside = write_gguf(tmp_path / "downloads" / "mine.gguf")
    entry = lib.add(outside)
    assert entry.ok and entry.external and entry.name == "mine"
    assert list(lib.models_dir.iterdir()) == []  # nothing copied
    registry = json.loads(lib.registry_path.read_text())
    assert registry == {"version": 1, "external": [str(outside.resolve())]}
    lib.add(outside)  # twice is fine
    assert len(json.loads(lib.registry_path.read_text())["external"]) == 1
    assert [e.path for e in lib.list()] == [outside.resolve()]
    assert [p.name for p in lib.registry_path.parent.iterdir()] == ["models.json"]  # no temp left
    outside.unlink()
    assert lib.list() == []  # a vanished file simply drops out


def test_add_refuses_invalid_files_and_registers_nothing(lib, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04zip")
    with pytest.raises(ModelFileError) as caught:
        lib.add(bad)
    assert caught.value.kind == "not_gguf"
    assert not lib.registry_path.exists()


def test_add_inside_the_models_folder_needs_no_registry(lib):
    path = write_gguf(lib.models_dir / "local.gguf")
    entry = lib.add(path)
    assert not entry.external and not lib.registry_path.exists()


def test_remove_unregisters_but_never_deletes_outside_files(lib, tmp_path):
    outside = write_gguf(tmp_path / "keep.gguf")
    lib.add(outside)
    lib.remove(outside, delete_file=True)
    assert outside.exists() and lib.list() == []
    assert json.loads(lib.registry_path.read_text())["external"] == []
    inside = write_gguf(lib.models_dir / "gone.gguf")
    lib.remove(inside)
    assert inside.exists()
    lib.remove(inside, delete_file=True)
    assert not inside.exists()


def test_a_damaged_registry_does_not_break_listing(lib):
    write_gguf(lib.models_dir / "ok.gguf")
    lib.registry_path.parent.mkdir(parents=True)
    lib.registry_path.write_text("{not json")
    assert names(lib.list()) == ["ok"]


def test_resolve(lib, tmp_path):
    starter = write_gguf(lib.models_dir / STARTER_FILENAME)
    qwen = write_gguf(lib.models_dir / "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")
    write_gguf(lib.models_dir / "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf")
    other = write_gguf(tmp_path / "loose.gguf")
    assert lib.resolve(str(other)) == other.resolve()  # any existing path
    assert lib.resolve("starter") == starter and lib.resolve("DEFAULT") == starter
    assert lib.resolve("qwen2.5-0.5b-instruct-q4_k_m") == qwen  # case-insensitive stem
    assert lib.resolve("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf") == qwen  # file name
    assert lib.resolve("qwen2.5-0") == qwen  # unique prefix
    assert lib.resolve("smollm2") == starter
    with pytest.raises(ModelFileError) as caught:
        lib.resolve("qwen")
    assert caught.value.kind == "not_found" and "matches several models" in caught.value.message
    with pytest.raises(ModelFileError) as caught:
        lib.resolve("llama-3")
    message = caught.value.message
    assert caught.value.kind == "not_found" and "no model called 'llama-3'" in message
    assert "Qwen2.5-1.5B-Instruct-Q4_K_M" in message and "SmolLM2-135M-Instruct.Q4_1" in message
    with pytest.raises(ModelFileError) as caught:
        lib.resolve(str(tmp_path / "missing.gguf"))
    assert caught.value.message.startswith("no such file:")


def test_resolve_starter_in_an_empty_library(lib):
    with pytest.raises(ModelFileError) as caught:
        lib.resolve("starter")
    assert caught.value.kind == "not_found" and "starter" in caught.value.message


def test_defaults_come_from_studio_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(tmp_path / "m"))
    lib = ModelLibrary()
    assert lib.models_dir == tmp_path / "m"
    assert lib.registry_path == tmp_path / "home" / "data" / "models.json"
    assert isinstance(lib.registry_path, Path)
