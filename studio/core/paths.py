"""Where the studio keeps its files.

`STUDIO_HOME` relocates everything (tests, portable installs); otherwise the platform's user
data/config dirs are used. `STUDIO_MODELS_DIR` moves only the model folder, so tests can share one
copy of the starter model.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from studio import APP_ID


def _home() -> Path | None:
    home = os.environ.get("STUDIO_HOME")
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    home = _home()
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP_ID, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    home = _home()
    path = home / "config" if home else Path(platformdirs.user_config_dir(APP_ID, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    override = os.environ.get("STUDIO_MODELS_DIR")
    path = Path(override).expanduser() if override else data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def chat_db_path() -> Path:
    return data_dir() / "chats.sqlite3"


def knowledge_db_path() -> Path:
    return data_dir() / "knowledge.sqlite3"


def settings_path() -> Path:
    return config_dir() / "settings.json"
