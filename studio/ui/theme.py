"""Look and feel: Fusion (which follows the system light/dark scheme in Qt 6) plus a small
stylesheet that only uses palette roles, so both schemes work without hard-coded colours.

With an application style sheet in place Qt does not push a new application palette down to the
widgets, so on a palette change (the system switched between light and dark) the sheet is applied
again, and `theme_watcher().changed` tells widgets that draw their own colours (code blocks,
banners) to redo them.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from studio.ui.resources import (
    MissingResource,
    report_missing,
    require_resource,
    window_icon,
)


class ThemeWatcher(QObject):
    changed = Signal()


_watcher: ThemeWatcher | None = None
_reapplying = False


def theme_watcher() -> ThemeWatcher:
    global _watcher
    if _watcher is None:
        _watcher = ThemeWatcher()
    return _watcher


def apply_theme(app: QApplication) -> None:
    """Fusion, the studio style sheet and (when none is set yet) the app's icon. A missing or
    unreadable file is reported (logged, then a warning once the window is up), never skipped."""
    app.setStyle("Fusion")
    try:
        qss = require_resource("styles", "studio.qss", what="the app's style sheet")
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    except MissingResource as error:
        report_missing(error)
    except (OSError, UnicodeDecodeError) as error:
        report_missing(MissingResource(qss, "the app's style sheet", str(error)))
    if app.windowIcon().isNull():
        icon = window_icon()  # reports a missing icon file
        if not icon.isNull():
            app.setWindowIcon(icon)
    if not getattr(app, "_studio_theme_hooked", False):
        app.paletteChanged.connect(_on_palette_changed)
        app._studio_theme_hooked = True


def _on_palette_changed(*_args) -> None:
    global _reapplying
    if _reapplying:
        return
    app = QApplication.instance()
    _reapplying = True
    try:
        app.setStyleSheet(app.styleSheet())  # re-polish every widget with the new palette
    finally:
        _reapplying = False
    theme_watcher().changed.emit()


def is_dark(widget: QWidget | None = None) -> bool:
    """Whether the application's colour scheme is dark (the application palette decides)."""
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def mix_colours(a: QColor, b: QColor, amount: float) -> QColor:
    """`a` moved `amount` (0..1) of the way towards `b`: tints that follow the palette."""
    amount = max(0.0, min(1.0, amount))
    return QColor(round(a.red() + (b.red() - a.red()) * amount),
                  round(a.green() + (b.green() - a.green()) * amount),
                  round(a.blue() + (b.blue() - a.blue()) * amount))


class ChartPalette:
    """Theme colours for the widgets that paint their own charts (bars, heatmaps, token strips):
    palette roles plus a few accents tuned for light and dark. Call refresh() when the theme changes."""

    def __init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        palette = QApplication.palette()
        self.dark = is_dark()
        self.base = palette.color(QPalette.ColorRole.Base)
        self.window = palette.color(QPalette.ColorRole.Window)
        self.text = palette.color(QPalette.ColorRole.Text)
        self.dim = palette.color(QPalette.ColorRole.PlaceholderText)
        self.mid = palette.color(QPalette.ColorRole.Mid)
        self.highlight = palette.color(QPalette.ColorRole.Highlight)
        self.bar = QColor(66, 133, 244) if not self.dark else QColor(100, 160, 255)
        self.ghost = mix_colours(self.base, self.dim, 0.35)       # base probability of a cut token
        self.grid = mix_colours(self.base, self.text, 0.08)
        self.drawn = QColor(230, 120, 20) if not self.dark else QColor(255, 160, 60)
        self.hover = mix_colours(self.base, self.text, 0.06)
        self.prompt = mix_colours(self.text, self.base, 0.25)
        # The strip's attention highlight: a colour that stands out on Base in both schemes.
        self.attend = QColor(240, 120, 40) if not self.dark else QColor(255, 160, 60)
        self.chip = mix_colours(self.base, self.text, 0.07)
