"""GGUF models already on this computer: LM Studio's models folders and the Hugging Face cache.

Found files are offered for the library, which registers them where they lie (no copy). In the HF
cache a snapshot file is a symlink to a blob named by its hash, so the snapshot path is what gets
registered: it keeps the real file name, and llama.cpp finds a split model's other shards beside it.
Ollama's store is left out: its blobs are GGUF files without names or quantization in them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from studio.core.models.errors import ModelFileError
from studio.core.models.gguf_info import read_gguf_info
from studio.core.models.library import ModelEntry, ModelLibrary
from studio.core.models.search import parse_quant

LM_STUDIO = "LM Studio"
HF_CACHE = "Hugging Face cache"
_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_MAX_DEPTH = 4  # LM Studio: models/<publisher>/<repo>/<file>; the HF cache: snapshots/<rev>/<dir>/<file>


@dataclass(frozen=True)
class FoundModel:
    path: Path         # where it was found (a snapshot symlink in the HF cache), absolute
    source: str        # LM_STUDIO or HF_CACHE
    repo: str          # "owner/name" when the folder says so, else ""
    size: int          # all shards together
    quant: str
    in_library: bool
    error: str | None = None

    @property
    def name(self) -> str:
        return self.path.stem


def hf_cache_dir() -> Path:
    """HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub (XDG_CACHE_HOME respected)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "huggingface" / "hub"


def lm_studio_dirs() -> list[Path]:
    """LM Studio's models folders: today's ~/.lmstudio/models and the older ~/.cache/lm-studio/models."""
    home = Path.home()
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def default_roots() -> list[tuple[str, Path]]:
    return [(LM_STUDIO, p) for p in lm_studio_dirs()] + [(HF_CACHE, hf_cache_dir())]


def _walk(root: Path, depth: int = 0):
    try:
        items = sorted(root.iterdir())
    except OSError:
        return
    for item in items:
        if item.name.startswith("."):
            continue
        try:
            if item.is_dir():
                if depth < _MAX_DEPTH:
                    yield from _walk(item, depth + 1)
            elif item.name.lower().endswith(".gguf") and item.is_file():
                yield item
        except OSError:
            continue


def _repo_for(path: Path, source: str, root: Path) -> str:
    parts = path.relative_to(root).parts
    if source == HF_CACHE:
        # models--owner--name/snapshots/<revision>/...
        return parts[0].removeprefix("models--").replace("--", "/", 1) if parts else ""
    return "/".join(parts[:2]) if len(parts) >= 3 else ""


def discover(library: ModelLibrary | None = None,
             roots: list[tuple[str, Path]] | None = None) -> list[FoundModel]:
    """Every usable-looking GGUF model under the roots, one entry per model (a split model's first
    shard stands for all), with whether the library already has it. Adapters and vision projectors
    are left out: they cannot be chosen as a chat model."""
    known: set[Path] = set()
    if library is not None:
        for entry in library.list():
            try:
                known.add(entry.path.resolve())
            except OSError:
                continue
    found: list[FoundModel] = []
    seen: set[Path] = set()
    for source, root in roots if roots is not None else default_roots():
        base = root
        if source == HF_CACHE:
            paths = [p for repo in sorted(root.glob("models--*"))
                     for p in _walk(repo / "snapshots")]
        else:
            paths = list(_walk(root))
        for path in paths:
            shard = _SHARD.search(path.name)
            if shard and int(shard.group(1)) > 1:
                continue
            try:
                resolved = path.resolve()
                if resolved in seen:
                    continue  # the same blob in two snapshots
                seen.add(resolved)
                size = _shards_size(path, shard)
            except OSError:
                continue
            error = None
            quant = parse_quant(path.name)
            try:
                info = read_gguf_info(path)
                quant = info.quantization or quant
            except ModelFileError as exc:
                if exc.kind == "not_a_model":
                    continue
                error = exc.message
            found.append(FoundModel(path.absolute(), source, _repo_for(path, source, base), size,
                                    quant, resolved in known, error))
    return found


def _shards_size(path: Path, shard: re.Match[str] | None) -> int:
    if shard is None:
        return path.stat().st_size
    count = int(shard.group(2))
    stem = path.name[:shard.start()]
    total = 0
    for n in range(1, count + 1):
        sibling = path.with_name(f"{stem}-{n:05d}-of-{count:05d}.gguf")
        if sibling.exists():
            total += sibling.stat().st_size
    return total


def add_found(library: ModelLibrary, found: FoundModel) -> ModelEntry:
    """Register a found model in the library where it lies; raises ModelFileError if unusable."""
    return library.add(found.path)


__all__ = ["FoundModel", "HF_CACHE", "LM_STUDIO", "add_found", "default_roots", "discover",
           "hf_cache_dir", "lm_studio_dirs"]
