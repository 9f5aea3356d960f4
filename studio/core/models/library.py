"""The model library: GGUF files in the models folder plus files registered where they lie.

Adding a model never copies it: external paths go into a small JSON registry (written atomically).
Listing never raises: an unusable file shows up with `error` set, so the UI can say why.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from studio.core import paths
from studio.core.models.gguf_info import ModelFileError, read_gguf_info
from studio.core.models.starter import STARTER_FILENAME

_LOG = logging.getLogger(__name__)
REGISTRY_VERSION = 1
# Later shards of a split model ("-00002-of-00003.gguf") load through the first one.
_LATER_SHARD = re.compile(r"-(\d{5})-of-\d{5}\.gguf$", re.IGNORECASE)


@dataclass
class ModelEntry:
    name: str
    path: Path
    size: int
    architecture: str
    quantization: str
    parameter_count: int
    is_starter: bool
    error: str | None
    error_kind: str | None = None
    external: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


# Shared by every ModelLibrary: (path) -> ((size, mtime_ns), entry without per-library fields).
_cache: dict[Path, tuple[tuple[int, int], ModelEntry]] = {}
_cache_lock = threading.Lock()


def _entry_for(path: Path) -> ModelEntry:
    stat = path.stat()
    key = (stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        hit = _cache.get(path)
    if hit and hit[0] == key:
        return hit[1]
    try:
        info = read_gguf_info(path)
        entry = ModelEntry(path.stem, path, stat.st_size, info.architecture, info.quantization,
                           info.parameter_count, False, None)
    except ModelFileError as exc:
        entry = ModelEntry(path.stem, path, stat.st_size, "", "", 0, False, exc.message, exc.kind)
    except Exception as exc:  # noqa: BLE001 - listing must survive any file, even a reader bug
        _LOG.exception("reading %s failed", path)
        entry = ModelEntry(path.stem, path, stat.st_size, "", "", 0, False,
                           f"could not read this file: {exc}", "corrupt")
    with _cache_lock:
        _cache[path] = (key, entry)
    return entry


def _is_gguf(path: Path) -> bool:
    return (path.suffix.lower() == ".gguf" and not path.name.startswith(".")
            and not _later_shard(path) and path.is_file())


def _later_shard(path: Path) -> bool:
    found = _LATER_SHARD.search(path.name)
    return found is not None and int(found.group(1)) > 1


class ModelLibrary:
    def __init__(self, models_dir: Path | None = None, registry_path: Path | None = None):
        self.models_dir = Path(models_dir) if models_dir is not None else paths.models_dir()
        self.registry_path = (Path(registry_path) if registry_path is not None
                              else paths.data_dir() / "models.json")
        self._lock = threading.Lock()

    # -- registry ----------------------------------------------------------------------------
    def _registered(self) -> list[Path]:
        try:
            data = json.loads(self.registry_path.read_text(encoding="utf-8"))
            return [Path(p) for p in data.get("external", []) if isinstance(p, str)]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, AttributeError) as exc:  # a damaged registry lists nothing
            _LOG.warning("ignoring unreadable model registry %s: %s", self.registry_path, exc)
            return []

    def _save(self, registered: list[Path]) -> None:
        self.registry_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": REGISTRY_VERSION, "external": [str(p) for p in registered]}
        fd, tmp = tempfile.mkstemp(prefix=".models-", suffix=".json",
                                   dir=self.registry_path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.registry_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _inside(self, path: Path) -> bool:
        return path.is_relative_to(self.models_dir.resolve())

    # -- queries -----------------------------------------------------------------------------
    def _scan_paths(self) -> list[Path]:
        found: list[Path] = []
        try:
            top = sorted(self.models_dir.iterdir())
        except OSError:
            top = []
        for item in top:  # the folder itself and one level of subfolders
            if item.is_dir() and not item.name.startswith("."):
                try:
                    found += [p for p in sorted(item.iterdir()) if _is_gguf(p)]
                except OSError:
                    continue
            elif _is_gguf(item):
                found.append(item)
        return found

    def _entry(self, path: Path, external: bool) -> ModelEntry:
        base = _entry_for(path)
        is_starter = (path.name == STARTER_FILENAME
                      and path.parent.resolve() == self.models_dir.resolve())
        return ModelEntry(base.name, base.path, base.size, base.architecture, base.quantization,
                          base.parameter_count, is_starter, base.error, base.error_kind, external)

    def list(self) -> list[ModelEntry]:
        entries: dict[Path, ModelEntry] = {}
        candidates = [(p, False) for p in self._scan_paths()]
        candidates += [(p, True) for p in self._registered()]
        for path, external in candidates:
            try:
                resolved = path.resolve()  # dedupe symlinks and re-registered folder files
                if resolved in entries or not resolved.is_file():
                    continue
                entries[resolved] = self._entry(path.absolute(),
                                                external and not self._inside(resolved))
            except OSError as exc:  # vanished or unreadable between listing and stat
                _LOG.debug("skipping %s: %s", path, exc)
        return sorted(entries.values(), key=lambda e: (not e.is_starter, e.name.casefold(),
                                                       str(e.path)))

    def add(self, path: str | Path) -> ModelEntry:
        """Validate a GGUF file and make it part of the library (registered in place, not copied).

        A symlink is registered as the link (its folder resolved), not its target: in the Hugging Face
        cache the target is a blob named by its hash, and llama.cpp finds a split model's other shards
        by name beside the first."""
        given = Path(path).expanduser()
        resolved = given.resolve()
        kept = given.parent.resolve() / given.name if given.is_symlink() else resolved
        read_gguf_info(resolved)  # raises ModelFileError with the reason
        inside = self._inside(resolved)
        if not inside:
            with self._lock:
                registered = self._registered()
                if resolved not in [p.resolve() for p in registered]:
                    self._save(registered + [kept])
        return self._entry(kept, not inside)

    def remove(self, path: str | Path, *, delete_file: bool = False) -> None:
        """Forget a registered model. Only files inside the models folder can be deleted."""
        resolved = Path(path).expanduser().resolve()
        with self._lock:
            registered = self._registered()
            kept = [p for p in registered if p.resolve() != resolved]
            if len(kept) != len(registered):
                self._save(kept)
        if delete_file and self._inside(resolved) and resolved.is_file():
            resolved.unlink()
        with _cache_lock:
            _cache.pop(resolved, None)

    def default_model(self) -> ModelEntry | None:
        entries = self.list()
        starter = next((e for e in entries if e.is_starter and e.ok), None)
        return starter or next((e for e in entries if e.ok), None)

    def resolve(self, name_or_path: str | Path) -> Path:
        """A path for a file path, "starter"/"default", or a model name (unique prefix is enough)."""
        text = str(name_or_path).strip()
        candidate = Path(text).expanduser()
        if text and candidate.is_file():
            return candidate.resolve()
        entries = self.list()
        if text.casefold() in ("starter", "default", ""):
            entry = self.default_model()
            if entry is None:
                raise ModelFileError("not_found", "no usable model yet: run `python -m "
                                     "studio.core.models.starter` to get the starter model, or "
                                     "add a .gguf file")
            return entry.path
        wanted = text.casefold()
        exact = [e for e in entries if wanted in (e.name.casefold(), e.path.name.casefold())]
        matches = exact or [e for e in entries if e.name.casefold().startswith(wanted)]
        if len(matches) == 1:
            return matches[0].path
        names = ", ".join(e.name for e in entries) or "none (the library is empty)"
        if len(matches) > 1:
            raise ModelFileError("not_found", f"'{text}' matches several models: "
                                 f"{', '.join(e.name for e in matches)}; be more specific")
        if os.sep in text or text.lower().endswith(".gguf"):
            raise ModelFileError("not_found", f"no such file: {candidate} (available models: "
                                 f"{names})")
        raise ModelFileError("not_found", f"no model called '{text}'; available: {names}")
