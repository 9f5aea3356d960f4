"""Where the UI finds icons, styles and translations, and how a missing one is reported.

The lookup itself is Qt-free and lives in `studio.core.resources` (wheel, editable install, source
checkout, PyInstaller bundle, `STUDIO_RESOURCES`); this module re-exports it and adds the UI side:
`report_missing()` logs the problem, remembers it (`missing_resources()`) and, once the event loop
runs, shows one non-modal warning listing everything that is missing. The app keeps starting: a
missing style sheet or translation leaves it plain or in English, never crashed or silently so.
"""

from __future__ import annotations

import logging

from studio.core.resources import (
    MissingResource,
    require_resource,
    resource,
    resources_dir,
)

__all__ = [
    "MissingResource", "missing_resources", "report_missing", "require_resource", "resource",
    "resources_dir", "window_icon",
]

log = logging.getLogger(__name__)

_missing: list[MissingResource] = []
_notice_pending = False
_notice_box = None  # the warning shown, kept alive while it is open


def missing_resources() -> list[MissingResource]:
    """The missing resources reported so far in this process (oldest first)."""
    return list(_missing)


def report_missing(error: MissingResource) -> None:
    """Log a missing resource and show it to the user (once per file, after start-up)."""
    global _notice_pending
    if any(seen.path == error.path for seen in _missing):
        return
    _missing.append(error)
    log.warning("%s", error)
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    if isinstance(QCoreApplication.instance(), QApplication) and not _notice_pending:
        _notice_pending = True
        QTimer.singleShot(0, _show_notice)  # after start-up, on top of the main window


def _show_notice() -> None:
    global _notice_pending, _notice_box
    _notice_pending = False
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    if _notice_box is not None:
        _notice_box.close()
    # English, like the messages below (they come from the Qt-free core): the translation may be
    # among the missing files.
    text = "Some of the app's files are missing, so it may look plain or stay in English:"
    box = QMessageBox(QMessageBox.Icon.Warning, "Local LLM Studio", text)
    box.setInformativeText("\n\n".join(str(error) for error in _missing))
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.destroyed.connect(_forget_notice)
    _notice_box = box
    box.show()


def _forget_notice(*_args) -> None:
    global _notice_box
    _notice_box = None


def close_notice() -> None:
    """Close the missing-files warning if it is showing (tests)."""
    if _notice_box is not None:
        _notice_box.close()


def window_icon():
    """The app's icon as a QIcon; a missing icon file is reported and an empty icon returned."""
    from PySide6.QtGui import QIcon

    try:
        path = require_resource("icons", "local-llm-studio.svg", what="the app's icon")
    except MissingResource as error:
        report_missing(error)
        return QIcon()
    icon = QIcon(str(path))
    if icon.isNull():
        report_missing(MissingResource(path, "the app's icon", "Qt cannot read it"))
    return icon
