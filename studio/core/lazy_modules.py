"""Standard modules that are imported on first use, to keep them off the desktop app's start-up path.

`from studio.core.lazy_modules import asyncio` binds a stand-in whose first attribute access imports
the real module. The modules the window is built from use it, so asyncio's import (with ssl, socket,
subprocess, concurrent.futures and logging: about 40 ms, plus OpenSSL's 5 MB read from disk on a cold
start) happens after the window shows, where studio.ui.app creates the asyncio loop, and not before.
Those modules keep `import asyncio` under `TYPE_CHECKING`, so mypy sees the real module.
`html` is the same: its import builds the HTML5 entity tables (html.entities, ~100 kB of bytecode),
while the window only escapes text once there are messages to show.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class OnFirstUse:
    """A module that is imported the first time one of its attributes is read."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    @property
    def loaded(self) -> bool:
        return self._module is not None

    def __repr__(self) -> str:
        return f"<module {self._name!r}, {'imported' if self._module is not None else 'imported on first use'}>"


asyncio = OnFirstUse("asyncio")
html = OnFirstUse("html")
