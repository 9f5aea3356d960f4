"""Secrets (API keys of remote engines, the server's own key): the system keyring where one works,
otherwise a file only this user can read. Never the plain settings file.

`SecretStore.where()` says in words where a secret goes, so a dialog can tell the user. A keyring that
exists but refuses (locked, no D-Bus session) falls back to the file for that secret, and says so.
`STUDIO_SECRETS=file` forces the file (portable installs, tests).
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

from studio import APP_ID
from studio.core import paths

SERVICE = APP_ID
FILE_NAME = "secrets.json"


def _system_keyring() -> Any | None:
    """The keyring backend to use, or None when only a stand-in (fail/null/plaintext) is there."""
    if os.environ.get("STUDIO_SECRETS", "").lower() == "file":
        return None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring):
        return None
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if "null" in name.lower() or "plaintext" in name.lower():
        return None
    try:
        if float(getattr(backend, "priority", 1)) <= 0:
            return None
    except Exception:
        return None
    return backend


def _backend_words(backend: Any) -> str:
    name = getattr(backend, "name", "") or type(backend).__name__
    return f"the system keyring ({name})"


class SecretStore:
    def __init__(self, file: Path | None = None) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._fell_back: str | None = None   # why the keyring was skipped for the last write

    @property
    def file(self) -> Path:
        return self._file or paths.config_dir() / FILE_NAME

    def where(self) -> str:
        backend = _system_keyring()
        if backend is not None and self._fell_back is None:
            return _backend_words(backend)
        reason = f" ({self._fell_back})" if self._fell_back else ""
        return f"a file only you can read: {self.file}{reason}"

    def uses_keyring(self) -> bool:
        return _system_keyring() is not None and self._fell_back is None

    # -- reading and writing ---------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        backend = _system_keyring()
        if backend is not None:
            try:
                value = backend.get_password(SERVICE, name)
                if value is not None:
                    return str(value)
            except Exception:
                pass
        return self._read_file().get(name)

    def set(self, name: str, value: str) -> str:
        """Store `value` under `name`; returns where it went, in words."""
        backend = _system_keyring()
        if backend is not None:
            try:
                backend.set_password(SERVICE, name, value)
                self._fell_back = None
                self._drop_from_file(name)
                return _backend_words(backend)
            except Exception as exc:
                self._fell_back = f"the system keyring refused: {type(exc).__name__}"
        data = self._read_file()
        data[name] = value
        self._write_file(data)
        return self.where()

    def delete(self, name: str) -> None:
        backend = _system_keyring()
        if backend is not None:
            try:
                backend.delete_password(SERVICE, name)
            except Exception:
                pass
        self._drop_from_file(name)

    # -- the file ---------------------------------------------------------------------------------
    def _read_file(self) -> dict[str, str]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _drop_from_file(self, name: str) -> None:
        data = self._read_file()
        if name in data:
            del data[name]
            self._write_file(data)

    def _write_file(self, data: dict[str, str]) -> None:
        """Write through a 0600 temporary file and rename, so the secret is never readable by others,
        not even for a moment, and a crash leaves the old file whole."""
        with self._lock:
            target = self.file
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + ".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, indent=1)
                os.chmod(temporary, stat.S_IRUSR | stat.S_IWUSR)
                os.replace(temporary, target)
            except BaseException:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
                raise


def file_is_private(path: Path) -> bool:
    """True when no one but the owner may read `path` (always true on Windows, where mode bits lie)."""
    if os.name == "nt":
        return True
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
