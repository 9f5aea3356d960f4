"""An inline, non-modal message bar: a human sentence, optional buttons, optional details."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QApplication, QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSizePolicy,
                               QToolButton, QVBoxLayout, QWidget)

from studio.ui.lazy_qt import Qt
from studio.ui.theme import mix_colours, theme_watcher

_TINTS = {"error": QColor(220, 50, 47), "warning": QColor(230, 160, 0), "info": QColor(38, 139, 210)}



class Banner(QFrame):
    """`show_message(text, level, details=..., actions=[(label, callback)])`; hidden until used."""

    closed = Signal()

    def __init__(self, parent: QWidget | None = None, *, closable: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("Banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.level = "info"
        self._closable = closable
        self._action_buttons: list[QPushButton] = []
        theme_watcher().changed.connect(self._on_theme_changed)
        self.hide()

    # A window holds several banners that most sessions never show: their labels, buttons and
    # details box are made on first use (show_message, or reading one of these parts).
    _PARTS = frozenset(("icon", "label", "details", "details_button", "close_button", "_actions_box"))

    def __getattr__(self, name: str):
        if name in Banner._PARTS and "_built" not in self.__dict__:
            self._build()
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _build(self) -> None:
        self._built = True
        closable = self._closable
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 6, 6, 6)
        outer.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.icon = QLabel(self)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.label, 1)
        self._actions_box = QHBoxLayout()
        self._actions_box.setSpacing(4)
        row.addLayout(self._actions_box)
        self.details_button = QToolButton(self)
        self.details_button.setText(self.tr("Show details"))
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._toggle_details)
        row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setToolTip(self.tr("Dismiss"))
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.dismiss)
        self.close_button.setVisible(closable)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        outer.addLayout(row)
        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(160)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.hide()
        outer.addWidget(self.details)

    # -- API --------------------------------------------------------------------------------
    def show_message(self, text: str, level: str = "info", *, details: str = "",
                     actions: list[tuple[str, Callable[[], object]]] | None = None) -> None:
        self.level = level
        self.label.setText(text)
        from PySide6.QtWidgets import QStyle  # its 11 enums cost ~8 ms when imported; most starts show no banner

        icon = {"error": QStyle.StandardPixmap.SP_MessageBoxCritical,
                "warning": QStyle.StandardPixmap.SP_MessageBoxWarning}.get(level, QStyle.StandardPixmap.SP_MessageBoxInformation)
        size = self.fontMetrics().height()
        self.icon.setPixmap(self.style().standardIcon(icon).pixmap(size, size))
        self.details.setPlainText(details)
        self.details_button.setChecked(False)
        self.details_button.setVisible(bool(details.strip()))
        self.details.hide()
        for button in self._action_buttons:
            self._actions_box.removeWidget(button)
            button.hide()  # deleteLater waits for the event loop: an old action must not stay clickable
            button.deleteLater()
        self._action_buttons = []
        for label, callback in actions or []:
            button = QPushButton(label, self)
            button.clicked.connect(lambda _=False, cb=callback: cb())
            self._actions_box.addWidget(button)
            button.show()  # a child added to an already visible banner stays hidden otherwise
            self._action_buttons.append(button)
        self._restyle()
        self.show()

    def action_buttons(self) -> list[QPushButton]:
        return list(self._action_buttons)

    def text(self) -> str:
        return self.label.text() if "_built" in self.__dict__ else ""

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()

    # -- internals --------------------------------------------------------------------------
    def _toggle_details(self, on: bool) -> None:
        self.details.setVisible(on)
        self.details_button.setText(self.tr("Hide details") if on else self.tr("Show details"))

    def _restyle(self) -> None:
        # The application palette, not ours: our own palette is changed by the style sheet below.
        base = QApplication.palette().color(QPalette.ColorRole.Base)
        tint = _TINTS.get(self.level, _TINTS["info"])
        background = mix_colours(base, tint, 0.16)
        border = mix_colours(base, tint, 0.6)
        sheet = (f"QFrame#Banner {{ background-color: {background.name()}; "
                 f"border: 1px solid {border.name()}; border-radius: 4px; }}")
        if sheet != self.styleSheet():
            self.setStyleSheet(sheet)

    def _on_theme_changed(self) -> None:  # follow the system light/dark switch live
        if self.isVisible():
            self._restyle()
