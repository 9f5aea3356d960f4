"""A translucent hint drawn over a window while files are dragged onto it."""

from __future__ import annotations

from PySide6.QtCore import QObject, QRectF
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

from studio.ui.lazy_qt import QEvent, Qt


class DropOverlay(QWidget):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("DropOverlay")
        self.text = ""
        self.accepting = True
        self._following = False  # the parent's resizes, from the first drag on
        self.hide()

    def show_hint(self, text: str, accepting: bool = True) -> None:
        self.text = text
        self.accepting = accepting
        # At the first drag, not when built: Qt and QEvent are not read before the window shows
        # (studio.ui.lazy_qt).
        if not self._following:
            self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            self.parentWidget().installEventFilter(self)
            self._following = True
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        self.show()
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect())
        return False

    def paintEvent(self, event) -> None:  # noqa: N802
        # Imported at the first drag: PySide builds QPainter's enums (~2 ms) when the type is first used.
        from PySide6.QtGui import QPainter, QPen

        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        accent = palette.color(QPalette.ColorRole.Highlight) if self.accepting else QColor(220, 50, 47)
        veil = QColor(palette.color(QPalette.ColorRole.Window))
        veil.setAlpha(215)
        painter.fillRect(self.rect(), veil)
        pen = QPen(accent, 3, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(16, 16, -16, -16), 12, 12)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        painter.drawText(self.rect().adjusted(40, 40, -40, -40),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.text)
