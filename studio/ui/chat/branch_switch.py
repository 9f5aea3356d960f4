"""The ‹ 2/3 › control in a message's action row: which alternative (an edit, a regenerated reply) is
shown, and a step to the one before or after. Hidden while a message has no alternatives."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from studio.ui.lazy_qt import QEvent, Qt


class BranchSwitch(QWidget):
    stepped = Signal(int)  # -1: the alternative before, +1: the one after

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("BranchSwitch")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.previous = self._arrow("‹", -1, self.tr("Previous alternative (Left arrow)"))
        self.label = QLabel(self)
        self.label.setObjectName("BranchPosition")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.next = self._arrow("›", 1, self.tr("Next alternative (Right arrow)"))
        row.addWidget(self.previous)
        row.addWidget(self.label)
        row.addWidget(self.next)
        self.index, self.count = 1, 1
        self._idle = True
        self.hide()

    def _arrow(self, text: str, step: int, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setAutoRaise(True)
        button.setToolTip(tip)
        button.setAccessibleName(tip)
        button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reachable with Tab, pressed with Space
        button.clicked.connect(lambda: self.stepped.emit(step))
        button.installEventFilter(self)  # a button moves focus on arrow keys; here they switch
        return button

    def set_position(self, index: int, count: int) -> None:
        self.index, self.count = index, count
        self.label.setText(f"{index}/{count}")
        self.label.setAccessibleName(self.tr("Alternative {index} of {count}").format(index=index, count=count))
        self.setVisible(count > 1)
        self._update()

    def set_idle(self, idle: bool) -> None:
        """Switching waits while a reply is written: the branch below it is still growing."""
        self._idle = idle
        self._update()

    def _update(self) -> None:
        self.previous.setEnabled(self._idle and self.index > 1)
        self.next.setEnabled(self._idle and self.index < self.count)

    def focus_arrow(self, step: int) -> None:
        """Keep the keyboard on the control after a switch rebuilt the message (the other arrow at an end)."""
        wanted, other = (self.previous, self.next) if step < 0 else (self.next, self.previous)
        (wanted if wanted.isEnabled() else other).setFocus(Qt.FocusReason.OtherFocusReason)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress:  # PySide hands it over as a QKeyEvent
            step = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}.get(Qt.Key(event.key()), 0)
            if step:
                if (self.previous if step < 0 else self.next).isEnabled():
                    self.stepped.emit(step)
                return True
        return super().eventFilter(watched, event)
