"""User settings, one JSON file in the user config dir, written atomically (temp file + rename)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from studio.core import paths

SETTINGS_VERSION = 1


@dataclass
class EngineSettings:
    n_gpu_layers: int = 0      # 0 = CPU only, -1 = offload every layer
    n_threads: int | None = None  # None = the engine picks (physical cores minus one)
    n_batch: int = 512
    flash_attn: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "EngineSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})


@dataclass
class AppSettings:
    last_model: str = ""
    engine: EngineSettings = field(default_factory=EngineSettings)
    window_geometry: str = ""  # base64 of QWidget.saveGeometry()
    window_state: str = ""     # base64 of QMainWindow.saveState()
    splitter_state: str = ""
    language: str = ""         # "" = follow the system, "en", "zh_CN"
    last_conversation_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = SETTINGS_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AppSettings":
        names = {f.name for f in fields(cls)}
        clean = {k: v for k, v in data.items() if k in names and k != "engine"}
        return cls(engine=EngineSettings.from_dict(data.get("engine")), **clean)


def load_settings(path: Path | None = None) -> AppSettings:
    """A missing or unreadable file gives defaults: a broken settings file must not stop the app."""
    path = path or paths.settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return AppSettings.from_dict(data if isinstance(data, dict) else {})
    except (OSError, ValueError, TypeError):
        return AppSettings()


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    path = path or paths.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(settings.to_dict(), handle, indent=2, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
