"""Look and feel: Fusion (which follows the system light/dark scheme in Qt 6) plus a small
stylesheet that only uses palette roles, so both schemes work without hard-coded colours."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QWidget

from studio.ui.resources import resource


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    qss = resource("styles", "studio.qss")
    try:
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    except OSError:
        pass


def is_dark(widget: QWidget | None = None) -> bool:
    palette = widget.palette() if widget is not None else QApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128
