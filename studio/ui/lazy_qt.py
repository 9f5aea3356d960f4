"""`Qt` and `QEvent`, PySide types whose enums are built the first time they are used, not on import.

PySide creates a type, with all its enums as Python enums, the first time anything reads it:
`from PySide6.QtCore import Qt` builds the 93 enums of the Qt namespace (Qt.Key alone has ~500
members), about 25 ms of the app's cold start that a bare window never pays; QEvent's Type enum
(~170 members) is another 4 ms. The modules the first window is built from import these two from
here, and what they set before the window shows is set without them:
  * Qt properties by name: `label.setProperty("alignment", "AlignCenter")`;
  * `QSplitter()` (horizontal already; `QSplitter(parent)` makes PySide check the overload that
    takes a Qt.Orientation);
  * `action.setShortcuts([...])`, not `setShortcut(...)`, whose overloads include Qt.Key;
  * event filters are installed when they are first needed.
Key handlers, menus and the like use `Qt` as usual. tests/ui/test_models_and_window.py checks that
the window shows with neither type built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtCore import QEvent, Qt
else:

    class _OnFirstUse:
        """Stands for a PySide6.QtCore type; reading an attribute builds the type (once)."""

        __slots__ = ("_name",)

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            from PySide6 import QtCore

            return getattr(getattr(QtCore, self._name), attr)

        def __repr__(self) -> str:
            return f"<PySide6.QtCore.{self._name}, built on first use>"

    Qt = _OnFirstUse("Qt")
    QEvent = _OnFirstUse("QEvent")

__all__ = ["QEvent", "Qt"]
