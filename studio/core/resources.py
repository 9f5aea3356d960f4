"""The files the app ships with: icons, the style sheet, translations, the sample dataset.

In the repository they sit in the top-level `resources/` folder; the wheel maps that folder into
the package as `studio.resources` (see `[tool.setuptools]` in pyproject.toml), and they are found
through importlib's view of that package:

- installed wheel (`pip install .`): `site-packages/studio/resources/`
- editable install (`pip install -e .`): setuptools' finder maps `studio.resources` onto
  `<repo>/resources/`
- source checkout without an install (or an editable install made before the mapping existed):
  `<repo>/resources/`, next to the `studio/` package
- PyInstaller bundle: `<_MEIPASS>/resources/` (or `<_MEIPASS>/studio/resources/`)
- `STUDIO_RESOURCES=<dir>` overrides all of them.

Qt wants file names, so every answer is a real filesystem path (wheels and bundles are never
zipped). A file the app needs and cannot find raises `MissingResource`, whose message says which
file is missing and what to do; callers report it, they never skip it silently.

Qt-free, with no studio imports: the CLI and the core (the sample dataset) use it as well as the UI.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

PACKAGE = "studio.resources"

# What each resource folder holds, for the messages (the first path part names it).
_WHAT = {
    "styles": "the app's style sheet",
    "translations": "a translation of the app",
    "icons": "the app's icon",
    "datasets": "the sample dataset",
}


class MissingResource(FileNotFoundError):
    """A file that belongs to the installation is not there (or cannot be read)."""

    def __init__(self, path: Path, what: str | None = None, reason: str | None = None) -> None:
        self.path = Path(path)
        self.what = what or "a file of the app"
        self.reason = reason
        detail = f": {reason}" if reason else ""
        message = (f"{self.what[:1].upper()}{self.what[1:]} is missing from the installation "
                   f"({self.path}){detail}; reinstall Local LLM Studio.")
        super().__init__(message)
        self.filename = str(self.path)

    def __str__(self) -> str:
        return self.args[0]


def _package_dirs() -> list[Path]:
    """Where importlib finds the `studio.resources` package (wheel or editable install)."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return []
    if spec is None or spec.submodule_search_locations is None:
        return []
    return [Path(location) for location in spec.submodule_search_locations]


def resources_dir() -> Path:
    """The folder holding the shipped resources (see the module docstring for each mode)."""
    override = os.environ.get("STUDIO_RESOURCES")
    if override:
        return Path(override).expanduser()
    candidates: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates += [Path(bundle) / "resources", Path(bundle) / "studio" / "resources"]
    candidates += _package_dirs()
    repo = Path(__file__).resolve().parents[2] / "resources"  # source checkout: <repo>/resources
    candidates.append(repo)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]  # nothing there: require_resource() names this path in its message


def resource(*parts: str) -> Path:
    """The path of a shipped file; it may not exist (see `require_resource`)."""
    return resources_dir().joinpath(*parts)


def require_resource(*parts: str, what: str | None = None) -> Path:
    """The path of a shipped file that must be there; raises MissingResource when it is not."""
    path = resource(*parts)
    if not path.is_file():
        raise MissingResource(path, what or (_WHAT.get(parts[0]) if parts else None))
    return path


def sample_dataset() -> Path:
    """The small chat dataset to try fine-tuning with (English and 中文)."""
    return require_resource("datasets", "owl_persona.jsonl", what="the sample dataset")
