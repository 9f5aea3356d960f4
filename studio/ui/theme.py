"""Look and feel: Fusion (which follows the system light/dark scheme in Qt 6) plus a small
stylesheet that only uses palette roles, so both schemes work without hard-coded colours.

The sheet (resources/styles/studio.qss) names widgets by object name (`QLabel#Hint`), and each
rule reaches its widgets through `styled(widget, "Hint")`, not as an application style sheet: an
application sheet routes every widget of the window through Qt's style-sheet style, which made the
main window ~25 ms slower to build (of a ~600 ms cold start) for a dozen rules.

Qt does not re-resolve a sheet's palette() colours when the palette changes, so on a change (the
system switched between light and dark) each styled widget gets its sheet again, and
`theme_watcher().changed` tells widgets that draw their own colours (code blocks, banners) to redo them.
"""

from __future__ import annotations

import re
import weakref

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
_sheets: dict[str, str] | None = None  # object name → the style sheet's rules that name it
_styled: weakref.WeakSet[QWidget] = weakref.WeakSet()  # the widgets that got one, for palette changes


def theme_watcher() -> ThemeWatcher:
    global _watcher
    if _watcher is None:
        _watcher = ThemeWatcher()
    return _watcher


def apply_theme(app: QApplication, *, style_set: bool = False) -> None:
    """Fusion, the studio style sheet and (when none is set yet) the app's icon. A missing or
    unreadable file is reported (logged, then a warning once the window is up), never skipped.
    style_set: the app was created with `-style Fusion` already."""
    global _sheets
    if not style_set:
        app.setStyle("Fusion")
    _sheets = {}
    try:
        qss = require_resource("styles", "studio.qss", what="the app's style sheet")
        _sheets = split_style_sheet(qss.read_text(encoding="utf-8"))
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


def split_style_sheet(qss: str) -> dict[str, str]:
    """{object name: the rules whose selectors name it}, comments dropped; a rule naming two
    objects (`QLabel#Hint, QLabel#PerfLabel`) goes to both."""
    rules: dict[str, list[str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", re.sub(r"/\*.*?\*/", "", qss, flags=re.S)):
        rule = f"{selectors.strip()} {{{body}}}"
        for name in dict.fromkeys(re.findall(r"#([A-Za-z_][\w-]*)", selectors)):
            rules.setdefault(name, []).append(rule)
    return {name: "\n".join(parts) for name, parts in rules.items()}


def style_sheets() -> dict[str, str]:
    """The studio sheet's rules by object name ({} when the file is missing: that is reported)."""
    if _sheets is None:  # a widget built before apply_theme (tests, tools): load it quietly
        try:
            return split_style_sheet(require_resource("styles", "studio.qss", what="the app's style sheet")
                                     .read_text(encoding="utf-8"))
        except (MissingResource, OSError, UnicodeDecodeError):
            return {}
    return _sheets


def styled(widget: QWidget, name: str) -> None:
    """Give `widget` the object name `name` and the studio sheet's rules for it (its children
    follow them too, as with any widget's sheet)."""
    widget.setObjectName(name)
    sheet = style_sheets().get(name)
    if sheet:
        widget.setStyleSheet(sheet)
        _styled.add(widget)


def _on_palette_changed(*_args) -> None:
    global _reapplying
    if _reapplying:
        return
    _reapplying = True
    try:
        for widget in list(_styled):  # re-polish with the new palette's colours
            try:
                sheet = widget.styleSheet()
            except RuntimeError:  # Qt deleted it; its Python wrapper is not collected yet
                _styled.discard(widget)
                continue
            widget.setStyleSheet("")
            widget.setStyleSheet(sheet)
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
