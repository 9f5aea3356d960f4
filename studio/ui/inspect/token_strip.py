"""The attention view's token strip: the prompt as wrapped token chips (`TokenStrip`), tinted by
the attention weights of the query under the pointer.

Split out of studio.ui.inspect.heatmap, whose colour scale, label helpers and shared theme colours
it uses.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QFontMetrics, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QAbstractScrollArea, QToolTip, QWidget

from studio.ui.inspect.heatmap import full_label, is_continuation, scaled
from studio.ui.theme import ChartPalette, mix_colours, theme_watcher


# -- the token strip ----------------------------------------------------------------------------

class TokenStrip(QAbstractScrollArea):
    """The prompt as token chips, wrapped. `highlight(q, weights)` tints every chip by the weight
    query q gives it (intensity = weight, on the current colour scale); hovering a chip emits
    `query_hovered(q)` so the owner can supply that row."""

    query_hovered = Signal(int)     # -1 when the pointer leaves the chips
    query_clicked = Signal(int)     # pin a query (-1: clicked between chips)

    PAD = 4
    GAP = 3
    MARGIN = 6

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AttentionTokens")
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.viewport().setMouseTracking(True)
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.viewport().update())
        self.labels: list[str] = []
        self.ids: list[int] = []
        self.query = -1
        self.weights: np.ndarray | None = None      # the highlighted row, as given
        self.scale = "linear"
        self._hint = ""
        self._hovered = -1
        self._content_total = 0
        self._widths: list[int] = []
        self._rects: list[QRect] = []
        self._laid_out_for = -1
        self._colours = ChartPalette()
        theme_watcher().changed.connect(self._on_theme)

    def set_tokens(self, labels: list[str], ids: list[int] | None = None) -> None:
        self.labels = [t if t else "∅" for t in labels]
        self.ids = list(ids) if ids is not None else []
        metrics = QFontMetrics(self.font())
        cache: dict[str, int] = {}
        self._widths = [cache.setdefault(t, metrics.horizontalAdvance(t)) + 2 * self.PAD for t in self.labels]
        self.query, self.weights = -1, None
        self._laid_out_for = -1
        self._relayout()

    def set_hint(self, text: str) -> None:
        self._hint = text
        self.viewport().update()

    def set_scale(self, scale: str) -> None:
        self.scale = scale
        self.viewport().update()

    def highlight(self, query: int, weights: np.ndarray | None) -> None:
        """Tint chips by `weights` (one per token; None clears) and outline the query chip."""
        self.query = query
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)
        self.viewport().update()

    def highlighted_weights(self) -> np.ndarray | None:
        return self.weights

    def _on_theme(self) -> None:
        self._colours.refresh()
        self.viewport().update()

    def _relayout(self) -> None:
        width = self.viewport().width()
        metrics = QFontMetrics(self.font())
        h = metrics.height() + 6
        x = y = self.MARGIN
        rects = []
        for w in self._widths:
            if x + w > width - self.MARGIN and x > self.MARGIN:
                x = self.MARGIN
                y += h + self.GAP
            rects.append(QRect(x, y, w, h))
            x += w + self.GAP
        self._rects = rects
        self._laid_out_for = width
        total = (y + h + self.MARGIN) if rects else 0
        bar = self.verticalScrollBar()
        bar.setRange(0, max(0, total - self.viewport().height()))
        bar.setPageStep(self.viewport().height())
        bar.setSingleStep(h + self.GAP)
        if total != self._content_total:
            self._content_total = total
            self.updateGeometry()
        self.viewport().update()

    def content_height(self) -> int:
        return (self._rects[-1].bottom() + self.MARGIN) if self._rects else 0

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout()

    def chip_rect(self, index: int) -> QRect:
        return self._rects[index].translated(0, -self.verticalScrollBar().value())

    def chip_at(self, pos: QPoint) -> int:
        y = pos.y() + self.verticalScrollBar().value()
        for i, rect in enumerate(self._rects):   # a few hundred chips at most (prompts are capped)
            if rect.top() <= y <= rect.bottom() and rect.left() <= pos.x() <= rect.right():
                return i
        return -1

    def paintEvent(self, event) -> None:
        if self._laid_out_for != self.viewport().width():
            self._relayout()
        painter = QPainter(self.viewport())
        colours = self._colours
        painter.fillRect(event.rect(), colours.base)
        if not self.labels:
            if self._hint:
                painter.setPen(colours.dim)
                painter.drawText(self.viewport().rect().adjusted(8, 4, -8, -4),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self._hint)
            painter.end()
            return
        offset = self.verticalScrollBar().value()
        visible = event.rect().translated(0, offset)
        intensity = None
        if self.weights is not None:
            intensity = scaled(self.weights, self.scale)
        attend = colours.attend
        for i, rect in enumerate(self._rects):
            if not rect.intersects(visible):
                continue
            r = rect.translated(0, -offset)
            fill = colours.chip
            if intensity is not None and i < len(intensity) and self.weights[i] > 0:
                fill = mix_colours(colours.base, attend, float(intensity[i]))
            painter.fillRect(r, fill)
            if i == self.query:
                painter.setPen(QPen(colours.highlight, 2))
                painter.drawRect(r.adjusted(1, 1, -1, -1))
            painter.setPen(colours.dim if is_continuation(self.labels[i]) else colours.text)
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, self.labels[i])
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.chip_at(event.position().toPoint())
        if index != self._hovered:
            self._hovered = index
            self.query_hovered.emit(index)
            if index >= 0:
                QToolTip.showText(event.globalPosition().toPoint(), self.tooltip_text(index), self.viewport())
            else:
                QToolTip.hideText()

    def tooltip_text(self, index: int) -> str:
        label = full_label(self.labels, index)
        if index < len(self.ids):
            return self.tr("token {index}: '{label}' (id {id})").format(index=index + 1, label=label,
                                                                      id=self.ids[index])
        return self.tr("token {index}: '{label}'").format(index=index + 1, label=label)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.query_clicked.emit(self.chip_at(event.position().toPoint()))
        super().mousePressEvent(event)

    def leaveEvent(self, event) -> None:
        if self._hovered != -1:
            self._hovered = -1
            self.query_hovered.emit(-1)
        super().leaveEvent(event)

    def sizeHint(self) -> QSize:
        # As tall as the chips, up to about four rows; the rest scrolls.
        row = QFontMetrics(self.font()).height() + 6 + self.GAP
        wanted = max(row + 2 * self.MARGIN, min(self._content_total, 4 * row + 2 * self.MARGIN))
        return QSize(600, wanted + 2 * self.frameWidth())

    def minimumSizeHint(self) -> QSize:
        return QSize(100, QFontMetrics(self.font()).height() + 6 + 2 * self.MARGIN + 2 * self.frameWidth())
