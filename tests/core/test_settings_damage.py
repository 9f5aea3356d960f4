"""A damaged settings.json: each bad value from issue 9 in a real file. The app must start with the
good settings kept, say in one line which ones were reset, and keep the user's bytes in a copy that
the next save does not touch."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from studio.core.settings import (AppSettings, EngineSettings, load_settings, load_settings_checked,
                                  save_settings)

# Good values in every file, so each test can check they survive the bad one next to them.
GOOD_TOP = {"last_model": "/models/qwen2.5-7b.Q4_K_M.gguf", "language": "zh_CN", "last_conversation_id": 7,
            "window_state": "AAAA/w==", "version": 1}
GOOD_ENGINE = {"n_batch": 256, "n_threads": 4}


def write(path: Path, data) -> bytes:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode("utf-8")
    path.write_bytes(raw)
    return raw


def backups(folder: Path) -> list[Path]:
    return sorted(folder.glob("settings.json.bad-*"))


def assert_good_top_kept(settings: AppSettings) -> None:
    assert settings.last_model == GOOD_TOP["last_model"]
    assert settings.language == "zh_CN"
    assert settings.last_conversation_id == 7
    assert settings.window_state == "AAAA/w=="


def assert_kept_through_save(path: Path, original: bytes, settings: AppSettings, report) -> None:
    """The copy holds the original bytes, still after the app writes its settings on exit, and the
    rewritten file loads without complaint."""
    assert report.backup is not None and report.backup.parent == path.parent
    assert report.backup.name.startswith("settings.json.bad-")
    assert str(report.backup) in report.notice
    assert report.backup.read_bytes() == original
    assert path.read_bytes() == original  # loading never changes the user's file
    save_settings(settings, path)
    assert report.backup.read_bytes() == original
    again, clean = load_settings_checked(path)
    assert again == settings and clean.notice == "" and clean.dropped == []
    assert backups(path.parent) == [report.backup]  # a clean load makes no further copy


# -- one bad field: the rest is kept ------------------------------------------------------------
def test_window_geometry_as_a_number(tmp_path):
    path = tmp_path / "settings.json"
    original = write(path, {**GOOD_TOP, "window_geometry": 12, "engine": GOOD_ENGINE})
    settings, report = load_settings_checked(path)
    assert settings.window_geometry == ""
    assert_good_top_kept(settings)
    assert settings.engine == EngineSettings(n_batch=256, n_threads=4)
    assert report.dropped == ["window_geometry"]
    assert report.notice.startswith("Some settings were unreadable and are back to their defaults: window_geometry.")
    assert "\n" not in report.notice
    assert_kept_through_save(path, original, settings, report)


def test_engine_as_a_string(tmp_path):
    path = tmp_path / "settings.json"
    original = write(path, {**GOOD_TOP, "engine": "fast"})
    settings, report = load_settings_checked(path)
    assert settings.engine == EngineSettings()
    assert_good_top_kept(settings)
    assert report.dropped == ["engine"]
    assert "defaults: engine." in report.notice
    assert_kept_through_save(path, original, settings, report)


def test_gpu_layers_as_words(tmp_path):
    path = tmp_path / "settings.json"
    original = write(path, {**GOOD_TOP, "engine": {**GOOD_ENGINE, "n_gpu_layers": "lots"}})
    settings, report = load_settings_checked(path)
    assert settings.engine == EngineSettings(n_gpu_layers=0, n_batch=256, n_threads=4)
    assert_good_top_kept(settings)
    assert report.dropped == ["engine.n_gpu_layers"]
    assert "engine.n_gpu_layers" in report.notice
    assert_kept_through_save(path, original, settings, report)


def test_flash_attn_no_is_not_true(tmp_path):
    path = tmp_path / "settings.json"
    original = write(path, {"engine": {**GOOD_ENGINE, "flash_attn": "no"}})
    settings, report = load_settings_checked(path)
    assert settings.engine.flash_attn is False
    assert settings.engine.n_batch == 256 and settings.engine.n_threads == 4
    assert report.dropped == ["engine.flash_attn"]
    assert "engine.flash_attn" in report.notice
    assert_kept_through_save(path, original, settings, report)


def test_several_bad_fields_are_named_in_one_line(tmp_path):
    path = tmp_path / "settings.json"
    original = write(path, {**GOOD_TOP, "language": "klingon", "splitter_state": "not base64!",
                            "engine": {"n_gpu_layers": 5000, "n_threads": -2, "n_batch": True, "flash_attn": True}})
    settings, report = load_settings_checked(path)
    assert settings.language == "" and settings.splitter_state == ""
    assert settings.engine == EngineSettings(flash_attn=True)
    assert sorted(report.dropped) == ["engine.n_batch", "engine.n_gpu_layers", "engine.n_threads",
                                      "language", "splitter_state"]
    assert len(report.notice.splitlines()) == 1
    for name in report.dropped:
        assert name in report.notice
    assert_kept_through_save(path, original, settings, report)


@pytest.mark.parametrize("value", [True, -1, 1.5, "7"])
def test_conversation_id_must_be_a_whole_number(tmp_path, value):
    path = tmp_path / "settings.json"
    write(path, {"last_conversation_id": value, "last_model": "m"})
    settings, report = load_settings_checked(path)
    assert settings.last_conversation_id == 0 and settings.last_model == "m"
    assert report.dropped == ["last_conversation_id"]


# -- a file that is not settings at all: defaults, and the file kept ---------------------------
@pytest.mark.parametrize("raw, reason", [
    (b"\x00\xff\xfe garbage \x81\x82{{{", "not UTF-8"),
    (b'{"last_model": "m", "engine": {', "not valid JSON"),
    (b'["last_model", "m"]', "JSON list"),
    (b'"just a string"', "JSON string"),
])
def test_unreadable_file_gives_defaults_and_a_copy(tmp_path, raw, reason):
    path = tmp_path / "settings.json"
    original = write(path, raw)
    settings, report = load_settings_checked(path)
    assert settings == AppSettings()
    assert "engine" in report.dropped and "window_geometry" in report.dropped
    assert report.notice.startswith("The settings file could not be read (")
    assert reason in report.notice
    assert_kept_through_save(path, original, settings, report)


def test_a_50_mb_file_is_not_read_into_memory(tmp_path):
    path = tmp_path / "settings.json"
    with open(path, "wb") as handle:  # valid JSON, only far too large to be settings
        handle.write(b'{"last_model": "')
        chunk = b"x" * (1024 * 1024)
        for _ in range(50):
            handle.write(chunk)
        handle.write(b'"}')
    size = path.stat().st_size
    tracemalloc.start()
    try:
        settings, report = load_settings_checked(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
    assert settings == AppSettings()
    assert "larger than 1 MiB" in report.notice
    assert report.backup.stat().st_size == size
    with open(path, "rb") as a, open(report.backup, "rb") as b:
        while True:
            left, right = a.read(1 << 20), b.read(1 << 20)
            assert left == right
            if not left:
                break
    save_settings(settings, path)
    assert report.backup.stat().st_size == size


# -- nothing to report ----------------------------------------------------------------------
def test_missing_file_is_quietly_defaults(tmp_path):
    settings, report = load_settings_checked(tmp_path / "settings.json")
    assert settings == AppSettings()
    assert report.notice == "" and report.dropped == [] and report.backup is None


def test_good_file_with_unknown_keys_makes_no_notice_and_no_copy(tmp_path):
    path = tmp_path / "settings.json"
    write(path, {**GOOD_TOP, "theme": "dark", "engine": {**GOOD_ENGINE, "n_gpu_layers": -1, "rope": 2,
                                                        "flash_attn": True}})
    settings, report = load_settings_checked(path)
    assert_good_top_kept(settings)
    assert settings.engine == EngineSettings(n_gpu_layers=-1, n_batch=256, n_threads=4, flash_attn=True)
    assert report.notice == "" and report.backup is None
    assert backups(tmp_path) == []
    assert load_settings(path) == settings


def test_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    wanted = AppSettings(last_model="a.gguf", engine=EngineSettings(n_gpu_layers=20, n_threads=None, n_batch=1024,
                                                                    flash_attn=True),
                         window_geometry="AdnQywADAAA=", language="en", last_conversation_id=3)
    save_settings(wanted, path)
    assert load_settings_checked(path) == (wanted, load_settings_checked(path)[1])
    assert load_settings_checked(path)[1].notice == ""


# -- copies never overwrite each other; saving where it cannot -------------------------------
def test_two_damaged_loads_in_the_same_second_keep_both_copies(tmp_path):
    path = tmp_path / "settings.json"
    first = write(path, {"engine": "fast"})
    _, one = load_settings_checked(path)
    second = write(path, {"window_geometry": 12})
    _, two = load_settings_checked(path)
    assert one.backup != two.backup
    assert one.backup.read_bytes() == first and two.backup.read_bytes() == second


def test_save_where_the_folder_cannot_exist_raises_a_clear_oserror(tmp_path):
    blocker = tmp_path / "config"
    blocker.write_bytes(b"a file where the config folder should be")
    path = blocker / "settings.json"
    with pytest.raises(OSError) as caught:
        save_settings(AppSettings(last_model="m"), path)
    assert str(path) in str(caught.value) and "could not be written" in str(caught.value)
    assert blocker.read_bytes() == b"a file where the config folder should be"


def test_failed_save_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "settings.json"
    original = write(path, {"last_model": "kept"})

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        save_settings(AppSettings(last_model="new"), path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_the_same_damage_twice_is_copied_once(tmp_path):
    # The app crashed before it could save: the next start finds the same file and needs no new copy.
    path = tmp_path / "settings.json"
    original = write(path, {"engine": "fast"})
    _, one = load_settings_checked(path)
    _, two = load_settings_checked(path)
    assert one.backup == two.backup and backups(tmp_path) == [one.backup]
    assert one.backup.read_bytes() == original


def test_a_config_folder_that_cannot_be_created_gives_defaults_and_says_so(tmp_path, monkeypatch):
    from studio.core import paths
    from studio.core.settings import AppSettings, load_settings_checked

    blocker = tmp_path / "home"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setenv("STUDIO_HOME", str(blocker))
    with pytest.raises(OSError):
        paths.settings_path()
    settings, report = load_settings_checked()
    assert settings == AppSettings()
    assert "settings folder cannot be created" in report.notice and report.backup is None


def test_knowledge_retrieval_settings_field_by_field(tmp_path):
    from studio.core.settings import KnowledgeSettings

    path = tmp_path / "settings.json"
    original = write(path, {**GOOD_TOP, "knowledge": {"mode": "vector", "top_k": 0, "min_similarity": 0}})
    settings, report = load_settings_checked(path)
    assert settings.knowledge == KnowledgeSettings(mode="vector", top_k=5, min_similarity=0.0)
    assert isinstance(settings.knowledge.min_similarity, float)
    assert_good_top_kept(settings)
    assert report.dropped == ["knowledge.top_k"]
    assert_kept_through_save(path, original, settings, report)
    for bad in ({"mode": "fuzzy"}, {"top_k": True}, {"min_similarity": 1.5}, "hybrid"):
        write(path, {"knowledge": bad})
        assert load_settings_checked(path)[0].knowledge == KnowledgeSettings()
    settings.knowledge = KnowledgeSettings(mode="keyword", top_k=12, min_similarity=0.25)
    save_settings(settings, path)
    assert load_settings_checked(path)[0].knowledge == settings.knowledge
