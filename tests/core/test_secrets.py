"""API keys go to the system keyring when one works, else to a file only the user can read; never to
the settings file."""

from __future__ import annotations

import json
import os
import stat

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from studio.core import paths
from studio.core.secrets import SecretStore, file_is_private


class MemoryKeyring(KeyringBackend):
    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        self.items.pop((service, username), None)


class LockedKeyring(MemoryKeyring):
    def set_password(self, service, username, password):
        raise keyring.errors.KeyringLocked("locked")


@pytest.fixture
def keyring_backend(monkeypatch):
    previous = keyring.get_keyring()
    monkeypatch.delenv("STUDIO_SECRETS", raising=False)

    def use(backend):
        keyring.set_keyring(backend)
        return backend

    yield use
    keyring.set_keyring(previous)


def test_a_working_keyring_holds_the_key_and_no_file_has_it(studio_home, keyring_backend):
    backend = keyring_backend(MemoryKeyring())
    store = SecretStore()
    where = store.set("remote:http://gpu-box:8000/v1", "sk-secret-1")
    assert "system keyring" in where and store.uses_keyring()
    assert store.get("remote:http://gpu-box:8000/v1") == "sk-secret-1"
    assert "sk-secret-1" in backend.items.values()
    assert not store.file.exists()
    for path in paths.config_dir().rglob("*"):
        if path.is_file():
            assert "sk-secret-1" not in path.read_text(errors="replace")
    store.delete("remote:http://gpu-box:8000/v1")
    assert store.get("remote:http://gpu-box:8000/v1") is None


def test_without_a_keyring_the_key_goes_to_a_private_file(studio_home, keyring_backend):
    keyring_backend(fail.Keyring())
    store = SecretStore()
    where = store.set("server", "k-123")
    assert "file only you can read" in where and str(store.file) in where
    assert json.loads(store.file.read_text())["server"] == "k-123"
    assert stat.S_IMODE(store.file.stat().st_mode) == 0o600 and file_is_private(store.file)
    assert SecretStore().get("server") == "k-123"  # a new process reads it back
    store.delete("server")
    assert SecretStore().get("server") is None


def test_a_locked_keyring_falls_back_to_the_file_and_says_why(studio_home, keyring_backend):
    keyring_backend(LockedKeyring())
    store = SecretStore()
    where = store.set("server", "k-9")
    assert "refused" in where and "KeyringLocked" in where
    assert store.get("server") == "k-9"
    assert file_is_private(store.file)


def test_forced_file_mode(studio_home, keyring_backend, monkeypatch):
    keyring_backend(MemoryKeyring())
    monkeypatch.setenv("STUDIO_SECRETS", "file")
    store = SecretStore()
    assert "file" in store.set("a", "b") and not store.uses_keyring()
