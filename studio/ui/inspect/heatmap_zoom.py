"""The zoomed attention matrix: `HeatmapView` (one [T, T] matrix with token labels on both axes)
and `ZoomArea` (the scroll area that holds it at a zoom factor; Ctrl+wheel zooms, double-click fits).

Split out of studio.ui.inspect.heatmap, whose colour helpers and shared theme colours it uses;
the images are built the same way (numpy colour indices → one lookup → an RGB32 QImage).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QFrame, QScrollArea, QToolTip, QWidget

from studio.ui.inspect.heatmap import (LOG_FLOOR, HeatmapPalette, colours_of, full_label, is_continuation, rgb_image,
                                       scaled, to_indices)
from studio.ui.theme import theme_watcher


# -- the zoomed matrix --------------------------------------------------------------------------

@dataclass
class _Layout:
    left: int          # x of the matrix
    top: int           # y of the matrix
    cell: float
    label_w: int       # room for row labels (and, rotated, column labels)
    stride: int        # label every stride-th token
    bar: QRect         # the colour bar
    top_h: int = 0     # room for the column labels
    upright: list[bool] | None = None   # per shown column label: fits without rotating
    ticks: list[int] | None = None      # the labelled tokens, one per run of `stride`


class HeatmapView(QWidget):
    """One [T, T] matrix with token labels on both axes (queries down, keys across).

    Hover a cell: tooltip "query 'X' → key 'Y': 0.123" and `query_hovered(row)`; `mark_row(q)`
    outlines a row from outside (the token strip). `render_image()` draws the same picture, with
    a title, into a QImage for export.
    """

    query_hovered = Signal(int)      # -1 when the pointer leaves the matrix
    zoom_requested = Signal(float, QPoint)   # Ctrl+wheel: factor change around a point; 0 = fit

    LABEL_MAX = 110                  # px: longer labels are elided
    BAR_W = 10

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AttentionZoom")
        self.setMouseTracking(True)
        self.setMinimumSize(240, 240)
        self.matrix: np.ndarray | None = None
        self.labels: list[str] = []
        self.title = ""
        self.scale = "linear"
        self.span: float | None = None     # set: a signed difference, on the diverging ramp over ±span
        self.hovered: tuple[int, int] | None = None
        self.marked_row = -1
        self._hint = ""
        self._image: QImage | None = None
        self._built_for: tuple | None = None
        self._elided: dict[tuple[str, int], str] = {}
        self._layout_cache: tuple | None = None
        self._colours = HeatmapPalette()
        theme_watcher().changed.connect(self._on_theme)

    def set_matrix(self, matrix: np.ndarray | None, labels: list[str] | None = None, title: str = "") -> None:
        self.matrix = None if matrix is None else np.asarray(matrix, dtype=np.float32)
        if labels is not None:
            self.labels = list(labels)
        self.title = title
        self._built_for = None
        if self.matrix is None or self.hovered is not None and self.hovered[0] >= self.matrix.shape[0]:
            self.hovered = None
        self.update()

    def set_hint(self, text: str) -> None:
        self._hint = text
        self.update()

    def set_scale(self, scale: str) -> None:
        self.scale = scale
        self._built_for = None
        self.update()

    def set_span(self, span: float | None) -> None:
        self.span = span
        self._built_for = None
        self.update()

    def mark_row(self, row: int) -> None:
        if row != self.marked_row:
            self.marked_row = row
            self.update()

    def _on_theme(self) -> None:
        self._colours.refresh()
        self._built_for = None
        self.update()

    def _matrix_image(self) -> QImage | None:
        if self.matrix is None:
            return None
        key = (id(self.matrix), self.scale, self.span, self._colours.dark, self._colours.base.rgb())
        if self._built_for != key:
            self._image = rgb_image(colours_of(self._colours, self.matrix, self.scale, self.span))
            self._built_for = key
        return self._image

    # -- layout -----------------------------------------------------------------------------
    def _elide(self, metrics: QFontMetrics, text: str, width: int) -> str:
        key = (text, width)
        out = self._elided.get(key)
        if out is None:
            if len(self._elided) > 20000:
                self._elided.clear()
            out = self._elided[key] = metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)
        return out

    def _layout(self, rect: QRect, metrics: QFontMetrics) -> _Layout:
        # Hover asks for the layout on every mouse move: measure labels once per size and data.
        key = (rect.x(), rect.y(), rect.width(), rect.height(), id(self.labels), id(self.matrix),
               metrics.height(), metrics.averageCharWidth())
        if self._layout_cache is not None and self._layout_cache[0] == key:
            return self._layout_cache[1]
        lay = self._compute_layout(rect, metrics)
        self._layout_cache = (key, lay)
        return lay

    def _compute_layout(self, rect: QRect, metrics: QFontMetrics) -> _Layout:
        n = self.matrix.shape[0] if self.matrix is not None else 1
        widest = max((metrics.horizontalAdvance(t) for t in self.labels[:2048]), default=20)
        corner = max(metrics.horizontalAdvance(self.tr("query ↓")), metrics.horizontalAdvance(self.tr("key →")))
        label_w = max(min(self.LABEL_MAX, widest) + 12, corner + 10)   # slack: elidedText rounds up
        bar_room = self.BAR_W + metrics.horizontalAdvance("0.00") + 14
        room_w = rect.width() - label_w - bar_room - 4
        line = metrics.height()

        def fit(top_h: int) -> tuple[float, int]:
            cell = max(0.5, min(room_w, rect.height() - top_h - 4) / n)
            if cell >= 3:
                cell = float(int(cell))      # whole pixels: crisp cell edges
            return cell, (max(1, math.ceil(line / cell)) if cell < line else 1)

        # Short labels (single CJK characters) stand upright when they all fit; otherwise rotate.
        top_h = 2 * line + 8         # two lines: the corner holds both axis titles
        cell, stride = fit(top_h)
        upright = self._upright(metrics, cell, stride)
        if not all(upright):
            top_h = label_w
            cell, stride = fit(top_h)
            upright = self._upright(metrics, cell, stride)
        left = rect.left() + label_w
        top = rect.top() + top_h
        size = round(cell * n)
        bar = QRect(left + size + 10, top, self.BAR_W, max(40, min(size, 240)))
        return _Layout(left, top, cell, label_w, stride, bar, top_h, upright, self._ticks(stride))

    def _ticks(self, stride: int) -> list[int]:
        """The token labelled in each run of `stride` tokens: the first whole character in it
        (a column of "…2" labels says nothing), else the run's first token."""
        n = self.matrix.shape[0] if self.matrix is not None else len(self.labels)
        if stride == 1:
            return list(range(n))
        ticks = []
        start = 0
        while start < n:   # greedy, so labels stay at least `stride` apart
            tick = next((i for i in range(start, min(n, start + stride)) if not is_continuation(self.label(i))),
                        start)
            ticks.append(tick)
            start = tick + stride
        return ticks

    def _upright(self, metrics: QFontMetrics, cell: float, stride: int) -> list[bool]:
        room = cell * stride - 2
        return [is_continuation(self.label(i)) or metrics.horizontalAdvance(self.label(i)) <= room
                for i in self._ticks(stride)]

    def cell_at(self, pos: QPointF | QPoint) -> tuple[int, int] | None:
        if self.matrix is None:
            return None
        lay = self._layout(self.rect(), QFontMetrics(self.font()))
        n = self.matrix.shape[0]
        col = math.floor((pos.x() - lay.left) / lay.cell)
        row = math.floor((pos.y() - lay.top) / lay.cell)
        if 0 <= row < n and 0 <= col < n:
            return int(row), int(col)
        return None

    def cell_center(self, row: int, col: int) -> QPoint:
        lay = self._layout(self.rect(), QFontMetrics(self.font()))
        return QPoint(int(lay.left + (col + 0.5) * lay.cell), int(lay.top + (row + 0.5) * lay.cell))

    def label(self, index: int) -> str:
        return self.labels[index] if 0 <= index < len(self.labels) else str(index)

    def tooltip_text(self, row: int, col: int) -> str:
        weight = float(self.matrix[row, col]) if self.matrix is not None else 0.0
        if self.span:
            return self.tr("query '{query}' → key '{key}': {change} with the adapter").format(
                query=full_label(self.labels, row), key=full_label(self.labels, col), change=f"{weight:+.3f}")
        return self.tr("query '{query}' → key '{key}': {weight}").format(
            query=full_label(self.labels, row), key=full_label(self.labels, col), weight=f"{weight:.3f}")

    # -- painting ---------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._colours.base)
        if self.matrix is None:
            if self._hint:
                painter.setPen(self._colours.dim)
                painter.drawText(self.rect().adjusted(16, 16, -16, -16),
                                 Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._hint)
        else:
            self._paint(painter, self.rect(), interactive=True)
        painter.end()

    def _paint(self, painter: QPainter, rect: QRect, *, interactive: bool) -> None:
        colours = self._colours
        metrics = QFontMetrics(painter.font())
        lay = self._layout(rect, metrics)
        n = self.matrix.shape[0]
        size = lay.cell * n
        target = QRectF(lay.left, lay.top, size, size)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(target, self._matrix_image())
        painter.setPen(QPen(colours.mid, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
        self._paint_bar(painter, lay, metrics)
        if interactive:
            self._paint_marks(painter, lay, n)

        # Labels stay at the visible edges when a ZoomArea has scrolled the matrix.
        vis = self.visibleRegion().boundingRect() if interactive else rect
        x0 = max(rect.left(), vis.left())
        y0 = max(rect.top(), vis.top())
        shift_x, shift_y = x0 - rect.left(), y0 - rect.top()
        if shift_y:
            painter.fillRect(QRect(vis.left(), y0, vis.width(), lay.top_h), colours.base)
        if shift_x:
            painter.fillRect(QRect(x0, vis.top(), lay.label_w, vis.height()), colours.base)
        ticks = lay.ticks or []
        first = bisect_left(ticks, int((vis.top() - lay.top) / lay.cell) - 1)
        last = bisect_right(ticks, int((vis.bottom() - lay.top) / lay.cell) + 1)
        first_col = bisect_left(ticks, int((vis.left() - lay.left) / lay.cell) - 1)
        last_col = bisect_right(ticks, int((vis.right() - lay.left) / lay.cell) + 1)
        line = metrics.height()
        text_w = lay.label_w - 8
        painter.setPen(colours.text)
        # Row labels (queries) on the left.
        painter.save()
        clip_top = y0 + lay.top_h - (0 if shift_y else line // 2)   # the first label may reach up a little
        painter.setClipRect(QRect(x0, clip_top, lay.label_w, max(0, vis.bottom() - clip_top + 1)))
        for i in ticks[first:last]:
            y = lay.top + (i + 0.5) * lay.cell
            label = self.label(i)
            painter.setPen(colours.dim if is_continuation(label) else colours.text)
            painter.drawText(QRectF(rect.left() + shift_x, y - line / 2, text_w + 2, line),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             self._elide(metrics, label, text_w))
        painter.restore()
        # Column labels (keys) above: upright when short, else rotated to read bottom → top.
        painter.save()
        clip_left = x0 + lay.label_w - (0 if shift_x else line // 2)
        painter.setClipRect(QRect(clip_left, y0, max(0, vis.right() - clip_left + 1), lay.top_h))
        upright = lay.upright or []
        base_y = lay.top + shift_y
        for k in range(first_col, last_col):
            i = ticks[k]
            x = lay.left + (i + 0.5) * lay.cell
            label = self.label(i)
            painter.setPen(colours.dim if is_continuation(label) else colours.text)
            if k < len(upright) and upright[k]:
                room = lay.cell * lay.stride
                painter.drawText(QRectF(x - room / 2, base_y - line - 4, room, line), Qt.AlignmentFlag.AlignCenter,
                                 self._elide(metrics, label, max(1, int(room))))
                continue
            painter.save()
            painter.translate(x, base_y - 4)
            painter.rotate(-90)
            painter.drawText(QRectF(0, -line / 2, text_w, line),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             self._elide(metrics, label, min(text_w, lay.top_h - 8)))
            painter.restore()
        painter.restore()
        corner = QRect(x0, y0, lay.label_w, lay.top_h)
        if shift_x or shift_y:       # scrolled: labels slid under the corner
            painter.fillRect(corner, colours.base)
        painter.setPen(colours.dim)
        inner = QRectF(corner.adjusted(2, 2, -4, -4))
        painter.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, self.tr("query ↓"))
        if lay.top_h > 2 * line:
            painter.drawText(inner, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, self.tr("key →"))

    def _paint_marks(self, painter: QPainter, lay: _Layout, n: int) -> None:
        colours = self._colours
        size = lay.cell * n
        marks = []
        if 0 <= self.marked_row < n:
            marks.append((self.marked_row, None, QPen(colours.highlight, 1, Qt.PenStyle.DashLine)))
        if self.hovered is not None:
            marks.append((self.hovered[0], self.hovered[1], QPen(colours.highlight, 1)))
        for row, col, pen in marks:
            painter.setPen(pen)
            painter.drawRect(QRectF(lay.left, lay.top + row * lay.cell, size, lay.cell))
            if col is not None:
                painter.drawRect(QRectF(lay.left + col * lay.cell, lay.top, lay.cell, size))
                painter.setPen(QPen(colours.text, 2))
                painter.drawRect(QRectF(lay.left + col * lay.cell, lay.top + row * lay.cell, lay.cell, lay.cell))

    def _paint_bar(self, painter: QPainter, lay: _Layout, metrics: QFontMetrics) -> None:
        """A vertical colour bar (1 at the top) with its scale's ends and middle marked."""
        bar = lay.bar
        if self.span:
            self._paint_signed_bar(painter, bar, metrics)
            return
        steps = np.linspace(1.0, 0.0, max(2, bar.height()), dtype=np.float32)
        column = self._colours.table[to_indices(np.maximum(steps, 1e-9)[:, None], "linear")]
        painter.drawImage(bar, rgb_image(np.repeat(column, 2, axis=1)))
        painter.setPen(QPen(self._colours.mid, 1))
        painter.drawRect(bar.adjusted(0, 0, -1, -1))
        painter.setPen(self._colours.dim)
        marks = {"linear": (1.0, 0.5, 0.0), "sqrt": (1.0, 0.25, 0.0), "log": (1.0, 0.03, LOG_FLOOR)}[self.scale]
        for value in marks:
            pos = float(scaled(np.array([value]), self.scale)[0])
            y = bar.top() + (1.0 - pos) * bar.height()
            text = "0" if value == 0 else (f"{value:g}")
            painter.drawText(QRectF(bar.right() + 4, y - metrics.height() / 2, 60, metrics.height()),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_signed_bar(self, painter: QPainter, bar: QRect, metrics: QFontMetrics) -> None:
        """+span at the top, 0 in the middle, −span at the bottom."""
        span = float(self.span or 1.0)
        steps = np.linspace(span, -span, max(2, bar.height()), dtype=np.float32)
        steps[steps == 0] = 1e-9  # keep the middle on the ramp, not the background
        column = colours_of(self._colours, steps[:, None], self.scale, span)
        painter.drawImage(bar, rgb_image(np.repeat(column, 2, axis=1)))
        painter.setPen(QPen(self._colours.mid, 1))
        painter.drawRect(bar.adjusted(0, 0, -1, -1))
        painter.setPen(self._colours.dim)
        for value, pos in ((span, 0.0), (0.0, 0.5), (-span, 1.0)):
            y = bar.top() + pos * bar.height()
            painter.drawText(QRectF(bar.right() + 4, y - metrics.height() / 2, 60, metrics.height()),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             "0" if value == 0 else f"{value:+.2g}")

    def render_image(self, *, cell: int | None = None, title: str | None = None) -> QImage:
        """The current heatmap with labels, title and colour bar, sized for reading (not the screen)."""
        if self.matrix is None:
            return QImage()
        title = self.title if title is None else title
        n = self.matrix.shape[0]
        cell = cell or int(max(3, min(28, 1100 // max(n, 1))))
        font = QFont(self.font())
        metrics = QFontMetrics(font)
        widest = max((metrics.horizontalAdvance(t) for t in self.labels[:2048]), default=20)
        corner = max(metrics.horizontalAdvance(self.tr("query ↓")), metrics.horizontalAdvance(self.tr("key →")))
        label_w = max(min(self.LABEL_MAX, widest) + 12, corner + 10)
        title_h = metrics.height() + 12 if title else 0
        bar_room = self.BAR_W + metrics.horizontalAdvance("0.00") + 18
        width = label_w + n * cell + bar_room + 8
        upright = self._upright(metrics, float(cell), 1)
        top_h = 2 * metrics.height() + 8 if all(upright) else label_w
        height = title_h + top_h + n * cell + 8
        image = QImage(width, height, QImage.Format.Format_RGB32)
        image.fill(self._colours.base)
        painter = QPainter(image)
        painter.setFont(font)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        if title:
            painter.setPen(self._colours.text)
            painter.drawText(QRect(8, 4, width - 16, title_h - 4),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        self._paint(painter, QRect(0, title_h, width, height - title_h), interactive=False)
        painter.end()
        return image

    # -- mouse ------------------------------------------------------------------------------
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position())
        if cell != self.hovered:
            self.hovered = cell
            self.update()
            self.query_hovered.emit(cell[0] if cell is not None else -1)
        if cell is None:
            QToolTip.hideText()
        else:
            QToolTip.showText(event.globalPosition().toPoint(), self.tooltip_text(*cell), self)

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and event.angleDelta().y():
            self.zoom_requested.emit(1.25 ** (event.angleDelta().y() / 120), event.position().toPoint())
            event.accept()
        else:
            event.ignore()           # plain wheel scrolls the surrounding ZoomArea

    def mouseDoubleClickEvent(self, event) -> None:
        self.zoom_requested.emit(0.0, event.position().toPoint())

    def leaveEvent(self, event) -> None:
        if self.hovered is not None:
            self.hovered = None
            self.update()
            self.query_hovered.emit(-1)
        super().leaveEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(520, 520)


class ZoomArea(QScrollArea):
    """Holds a HeatmapView at `factor` × its own size: 1 fits the matrix in view; Ctrl+wheel
    zooms around the pointer (long prompts have cells of a pixel or two), double-click fits."""

    MAX_CELL = 48

    def __init__(self, view: HeatmapView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AttentionZoomArea")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(False)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.view = view
        self.factor = 1.0
        self.setWidget(view)
        view.zoom_requested.connect(self.zoom_by)
        # Scrolling blits the old pixels; the view's sticky labels must be painted afresh.
        self.horizontalScrollBar().valueChanged.connect(lambda _v: view.update())
        self.verticalScrollBar().valueChanged.connect(lambda _v: view.update())

    def max_factor(self) -> float:
        n = self.view.matrix.shape[0] if self.view.matrix is not None else 1
        side = max(1, min(self.viewport().width(), self.viewport().height()))
        return max(1.0, self.MAX_CELL * n / side)

    def set_factor(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom to `factor`, keeping the matrix point under `anchor` (view coordinates) in place."""
        factor = max(1.0, min(float(factor), self.max_factor()))
        old = self.view.size()
        if anchor is None:
            anchor = QPoint(old.width() // 2, old.height() // 2)
        in_viewport = self.view.mapTo(self.viewport(), anchor)
        self.factor = factor
        self._fit()
        new = self.view.size()
        x = anchor.x() * new.width() / max(1, old.width())
        y = anchor.y() * new.height() / max(1, old.height())
        self.horizontalScrollBar().setValue(int(x - in_viewport.x()))
        self.verticalScrollBar().setValue(int(y - in_viewport.y()))

    def zoom_by(self, change: float, anchor: QPoint) -> None:
        self.set_factor(1.0 if change == 0 else self.factor * change, anchor)

    def _fit(self) -> None:
        size = self.viewport().size()
        self.view.resize(max(self.view.minimumWidth(), int(size.width() * self.factor)),
                         max(self.view.minimumHeight(), int(size.height() * self.factor)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()
