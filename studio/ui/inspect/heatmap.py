"""Custom-painted attention heatmaps: the colour helpers and the layer × head grid.

Everything is numpy → QImage: attention weights become uint8 colour indices, a 256-entry lookup
table turns them into RGB32 pixels, and each widget paints one or two prepared images. Index 0 is
reserved for "exactly zero" (the causal upper triangle) and draws in the background colour, so
the triangle reads as empty rather than as a faint colour.

`prepare_grid()` (the heavy part: max-pooling every head down to a thumbnail and averaging heads)
is plain numpy, so callers can run it in a worker thread.

This module holds the numpy / colour helpers, the theme colours shared by the heatmap widgets
(`HeatmapPalette`) and `HeatmapGrid`; the zoomed matrix (`HeatmapView`, `ZoomArea`) lives in
studio.ui.inspect.heatmap_zoom and the token chips (`TokenStrip`) in studio.ui.inspect.token_strip.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QAbstractScrollArea, QToolTip, QWidget

from studio.ui.theme import ChartPalette, theme_watcher

SCALES = ("linear", "sqrt", "log")
LOG_FLOOR = 1e-3          # the log scale shows three decades; anything smaller is the palest colour
THUMB_MAX = 64            # thumbnails are pooled to at most this many pixels per side

# Sequential ramps, low → high, chosen so lightness changes monotonically (readable in grey too).
# Light scheme: pale cream through amber and red to deep violet; dark scheme: the reverse lightness.
_RAMP_LIGHT = ((0.00, (252, 246, 228)), (0.20, (250, 214, 140)), (0.42, (240, 150, 70)),
               (0.65, (208, 72, 64)), (0.85, (140, 30, 88)), (1.00, (62, 14, 80)))
_RAMP_DARK = ((0.00, (44, 32, 64)), (0.20, (92, 36, 120)), (0.42, (168, 52, 110)),
              (0.65, (226, 96, 72)), (0.85, (248, 170, 80)), (1.00, (255, 240, 170)))
# Diverging ramps for a difference (adapted − base): blue = less attention, red = more, the
# middle close to the background so "no change" reads as empty.
_DIVERGING_LIGHT = ((0.0, (33, 102, 172)), (0.25, (146, 197, 222)), (0.5, (247, 247, 247)),
                    (0.75, (244, 165, 130)), (1.0, (178, 24, 43)))
_DIVERGING_DARK = ((0.0, (110, 170, 230)), (0.25, (52, 96, 140)), (0.5, (40, 40, 46)),
                   (0.75, (150, 64, 56)), (1.0, (250, 130, 110)))


def _ramp(points, n: int) -> np.ndarray:
    x = np.linspace(0.0, 1.0, n)
    stops = np.array([p for p, _ in points])
    rgb = np.array([c for _, c in points], dtype=np.float64)
    out = np.stack([np.interp(x, stops, rgb[:, i]) for i in range(3)], axis=1)
    return np.clip(np.round(out), 0, 255).astype(np.uint32)


def _argb(colour: QColor) -> int:
    return 0xFF000000 | (colour.red() << 16) | (colour.green() << 8) | colour.blue()


def _table(points, background: QColor) -> np.ndarray:
    """uint32 ARGB [256]: index 0 = background, 1..255 = the ramp through `points`."""
    rgb = _ramp(points, 255)
    table = np.empty(256, dtype=np.uint32)
    table[0] = _argb(background)
    table[1:] = 0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    return table


def colour_table(dark: bool, background: QColor) -> np.ndarray:
    """Index 0 = background (exact zeros), 1..255 = the sequential ramp."""
    return _table(_RAMP_DARK if dark else _RAMP_LIGHT, background)


def diverging_table(dark: bool, background: QColor) -> np.ndarray:
    """Index 0 = background (the masked future), 1..255 = −span … +span."""
    return _table(_DIVERGING_DARK if dark else _DIVERGING_LIGHT, background)


def signed_indices(values: np.ndarray, span: float) -> np.ndarray:
    """uint8 indices into diverging_table: −span → 1, 0 → 128, +span → 255; exact zeros → 0."""
    v = np.asarray(values, dtype=np.float32)
    idx = (128.0 + np.round(np.clip(v / max(float(span), 1e-12), -1.0, 1.0) * 127.0)).astype(np.uint8)
    idx[v == 0.0] = 0
    return idx


def colours_of(palette: "HeatmapPalette", values: np.ndarray, scale: str, span: float | None) -> np.ndarray:
    """ARGB pixels for values: the sequential ramp on `scale`, or with `span` the diverging one."""
    if span:
        return palette.diverging[signed_indices(values, span)]
    return palette.table[to_indices(values, scale)]


def scaled(values: np.ndarray, scale: str = "linear") -> np.ndarray:
    """Weights in [0, 1] → display intensity in [0, 1] (monotonic, so it commutes with max-pooling)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    if scale == "sqrt":
        return np.sqrt(v)
    if scale == "log":
        with np.errstate(divide="ignore"):
            out = (np.log10(np.maximum(v, LOG_FLOOR)) - math.log10(LOG_FLOOR)) / -math.log10(LOG_FLOOR)
        return out.astype(np.float32)
    return v


def to_indices(values: np.ndarray, scale: str = "linear") -> np.ndarray:
    """uint8 colour indices: 0 where the weight is exactly 0 (or less), else 1..255."""
    v = np.asarray(values, dtype=np.float32)
    idx = (1.0 + np.round(scaled(v, scale) * 254.0)).astype(np.uint8)
    idx[v <= 0.0] = 0
    return idx


def rgb_image(pixels: np.ndarray) -> QImage:
    """A QImage over a C-contiguous uint32 [h, w] array (copied, so the array may go)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint32)
    h, w = pixels.shape
    image = QImage(pixels.data, w, h, w * 4, QImage.Format.Format_RGB32)
    return image.copy()


def pool_signed(values: np.ndarray, size: int) -> np.ndarray:
    """Like pool_max for signed values (a difference): keeps the larger change of either sign."""
    high = pool_max(values, size)
    low = -pool_max(-values, size)
    return np.where(np.abs(low) > np.abs(high), low, high)


def pool_max(weights: np.ndarray, size: int) -> np.ndarray:
    """Max-pool the last two axes down to `size` (nothing to do when they are already smaller).
    Max rather than mean keeps one-pixel structure (a previous-token diagonal) visible."""
    t = weights.shape[-1]
    if t <= size:
        return weights
    edges = (np.arange(size) * t) // size          # strictly increasing because t > size
    out = np.maximum.reduceat(weights, edges, axis=-1)
    return np.maximum.reduceat(out, edges, axis=-2)


@dataclass
class GridThumbs:
    """What the grid paints: pooled heads [L, H, s, s], pooled layer means [L, s, s], and the
    full-resolution means the zoom needs for the aggregate views."""
    heads: np.ndarray
    layer_means_small: np.ndarray
    layer_means: np.ndarray          # [L, T, T]
    mean: np.ndarray                 # [T, T]
    seconds: float = 0.0

    @property
    def n_layers(self) -> int:
        return int(self.heads.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.heads.shape[1])

    @property
    def size(self) -> int:
        return int(self.heads.shape[-1])


def prepare_grid(weights: np.ndarray, thumb: int = THUMB_MAX, *, signed: bool = False) -> GridThumbs:
    """Qt-free and thread-safe: pool every head and compute the means (`signed` for a difference)."""
    start = time.perf_counter()
    weights = np.asarray(weights)   # float16 stays float16: no full-size float32 copy
    layer_means = weights.mean(axis=1, dtype=np.float32)
    mean = layer_means.mean(axis=0, dtype=np.float32)
    size = max(1, min(int(weights.shape[-1]), thumb))
    pool = pool_signed if signed else pool_max
    heads = np.ascontiguousarray(pool(weights, size))
    small = np.ascontiguousarray(pool(layer_means, size))
    return GridThumbs(heads, small, layer_means, mean, time.perf_counter() - start)


def is_continuation(label: str) -> bool:
    """Labels "…2", "…3" mark the later tokens of a character split over several byte tokens."""
    return len(label) > 1 and label[0] == "…" and label[1:].isdigit()


def full_label(labels: list[str], index: int) -> str:
    """A label that stands alone: "…2" becomes "猫…2" (the character it is a part of)."""
    if not 0 <= index < len(labels):
        return str(index)
    label = labels[index]
    if is_continuation(label):
        head = index
        while head > 0 and is_continuation(labels[head]):
            head -= 1
        return labels[head] + label
    return label


def _nearest(n_out: int, n_in: int) -> np.ndarray:
    return np.minimum((np.arange(n_out) * n_in) // max(n_out, 1), n_in - 1)



class HeatmapPalette(ChartPalette):
    """The chart palette plus the heatmap's colour ramp for the current scheme."""

    def refresh(self) -> None:
        super().refresh()
        self.table = colour_table(self.dark, self.base)
        self.diverging = diverging_table(self.dark, self.base)


# -- the layer × head grid ----------------------------------------------------------------------

class HeatmapGrid(QAbstractScrollArea):
    """All thumbnails of one result in one widget: rows = layers, columns = heads + "mean".

    The images are built once per result / scale / cell size (numpy gather + one lookup), so a
    paint is two drawImage calls plus the labels in view. Click a cell → `cell_clicked(layer,
    head)` with head = -1 for the layer-mean column.
    """

    cell_clicked = Signal(int, int)

    GAP = 3
    MEAN_GAP = 10        # extra room before the mean column
    MIN_CELL = 18
    MAX_CELL = 96

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AttentionGrid")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.viewport().setMouseTracking(True)
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.viewport().update())
        self.horizontalScrollBar().valueChanged.connect(lambda _v: self.viewport().update())
        self.thumbs: GridThumbs | None = None
        self.scale = "linear"
        self.span: float | None = None     # set: a signed difference, on the diverging ramp
        self.selected: tuple[int, int] = (0, 0)     # (layer, head); head -1 = the layer mean
        self.aggregate = "head"                      # "head" | "layer" | "all"
        self.hovered: tuple[int, int] | None = None
        self.cell = 40
        self.paint_ms = 0.0
        self._heads_image: QImage | None = None
        self._means_image: QImage | None = None
        self._built_for: tuple | None = None
        self._hint = ""
        self._colours = HeatmapPalette()
        theme_watcher().changed.connect(self._on_theme)

    # -- data -------------------------------------------------------------------------------
    def set_thumbs(self, thumbs: GridThumbs | None) -> None:
        self.thumbs = thumbs
        self._built_for = None
        self.hovered = None
        self._relayout()

    def set_hint(self, text: str) -> None:
        self._hint = text
        self.viewport().update()

    def set_span(self, span: float | None) -> None:
        """Colour signed values (a difference) on the diverging ramp over ±span; None: weights."""
        self.span = span
        self._built_for = None
        self.viewport().update()

    def set_scale(self, scale: str) -> None:
        self.scale = scale
        self._built_for = None
        self.viewport().update()

    def set_selection(self, layer: int, head: int, aggregate: str) -> None:
        self.selected = (layer, head)
        self.aggregate = aggregate
        self.viewport().update()
        self.ensure_visible(layer)

    def _on_theme(self) -> None:
        self._colours.refresh()
        self._built_for = None
        self.viewport().update()

    # -- geometry ---------------------------------------------------------------------------
    def _label_width(self) -> int:
        return QFontMetrics(self.font()).horizontalAdvance("L000") + 8

    def _header_height(self) -> int:
        return QFontMetrics(self.font()).height() + 6

    def _fit_cell(self) -> int:
        if self.thumbs is None:
            return self.cell
        cols = self.thumbs.n_heads + 1
        room = self.viewport().width() - self._label_width() - self.MEAN_GAP - 4
        return int(max(self.MIN_CELL, min(self.MAX_CELL, room // cols - self.GAP)))

    def content_size(self) -> QSize:
        if self.thumbs is None:
            return QSize(0, 0)
        pitch = self.cell + self.GAP
        width = self._label_width() + (self.thumbs.n_heads + 1) * pitch + self.MEAN_GAP + 4
        height = self._header_height() + self.thumbs.n_layers * pitch + 4
        return QSize(width, height)

    def _relayout(self) -> None:
        cell = self._fit_cell()
        if cell != self.cell:
            self.cell = cell
            self._built_for = None
        size = self.content_size()
        vp = self.viewport().size()
        self.horizontalScrollBar().setRange(0, max(0, size.width() - vp.width()))
        self.horizontalScrollBar().setPageStep(vp.width())
        self.verticalScrollBar().setRange(0, max(0, size.height() - self._header_height() - 0
                                                 - (vp.height() - self._header_height())))
        self.verticalScrollBar().setPageStep(max(1, vp.height() - self._header_height()))
        self.verticalScrollBar().setSingleStep(self.cell + self.GAP)
        self.viewport().update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout()

    def cell_rect(self, layer: int, head: int) -> QRect:
        """Viewport rectangle of a cell (head -1 = the mean column), scroll offsets applied."""
        assert self.thumbs is not None
        pitch = self.cell + self.GAP
        column = self.thumbs.n_heads if head < 0 else head
        x = self._label_width() + column * pitch + (self.MEAN_GAP if head < 0 else 0)
        y = self._header_height() + layer * pitch
        return QRect(x - self.horizontalScrollBar().value(), y - self.verticalScrollBar().value(),
                     self.cell, self.cell)

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        if self.thumbs is None or pos.y() < self._header_height():
            return None
        pitch = self.cell + self.GAP
        x = pos.x() + self.horizontalScrollBar().value() - self._label_width()
        y = pos.y() + self.verticalScrollBar().value() - self._header_height()
        if x < 0 or y < 0:
            return None
        layer = y // pitch
        if layer >= self.thumbs.n_layers or y % pitch >= self.cell:
            return None
        heads_width = self.thumbs.n_heads * pitch
        if x < heads_width:
            head = x // pitch
            return (int(layer), int(head)) if x % pitch < self.cell else None
        x -= heads_width + self.MEAN_GAP
        if 0 <= x < self.cell:
            return int(layer), -1
        return None

    def ensure_visible(self, layer: int) -> None:
        if self.thumbs is None:
            return
        pitch = self.cell + self.GAP
        top = layer * pitch
        bar = self.verticalScrollBar()
        view = self.viewport().height() - self._header_height()
        if top < bar.value():
            bar.setValue(top)
        elif top + pitch > bar.value() + view:
            bar.setValue(top + pitch - view)

    # -- images -----------------------------------------------------------------------------
    def _build(self) -> None:
        key = (id(self.thumbs), self.cell, self.scale, self.span, self._colours.dark, self._colours.base.rgb())
        if self._built_for == key or self.thumbs is None:
            return
        thumbs = self.thumbs
        c, gap = self.cell, self.GAP
        pick = _nearest(c, thumbs.size)
        window = _argb(self._colours.window)
        # Heads: [L, H, s, s] → nearest-resample to [L, H, c, c] → [L, c+gap, H, c+gap] with gaps.
        heads = colours_of(self._colours, thumbs.heads[:, :, pick][:, :, :, pick], self.scale, self.span)
        L, H = heads.shape[:2]
        canvas = np.full((L, c + gap, H, c + gap), window, dtype=np.uint32)
        canvas[:, :c, :, :c] = heads.transpose(0, 2, 1, 3)
        self._heads_image = rgb_image(canvas.reshape(L * (c + gap), H * (c + gap)))
        means = colours_of(self._colours, thumbs.layer_means_small[:, pick][:, :, pick], self.scale, self.span)
        column = np.full((L, c + gap, c), window, dtype=np.uint32)
        column[:, :c, :] = means
        self._means_image = rgb_image(column.reshape(L * (c + gap), c))
        self._built_for = key

    # -- painting ---------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        start = time.perf_counter()
        painter = QPainter(self.viewport())
        colours = self._colours
        painter.fillRect(event.rect(), colours.window)
        if self.thumbs is None:
            if self._hint:
                painter.setPen(colours.dim)
                painter.drawText(self.viewport().rect().adjusted(12, 12, -12, -12),
                                 Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._hint)
            painter.end()
            return
        self._build()
        thumbs = self.thumbs
        pitch = self.cell + self.GAP
        header = self._header_height()
        label_w = self._label_width()
        sx, sy = self.horizontalScrollBar().value(), self.verticalScrollBar().value()
        vp = self.viewport().rect()

        # Cells (clipped below the fixed header).
        painter.save()
        painter.setClipRect(QRect(0, header, vp.width(), vp.height() - header))
        if self._heads_image is not None:
            painter.drawImage(QPoint(label_w - sx, header - sy), self._heads_image)
        if self._means_image is not None:
            painter.drawImage(QPoint(label_w + thumbs.n_heads * pitch + self.MEAN_GAP - sx, header - sy),
                              self._means_image)
        # Row labels: only the rows in view.
        metrics = QFontMetrics(self.font())
        first = max(0, sy // pitch)
        last = min(thumbs.n_layers, (sy + vp.height()) // pitch + 1)
        painter.setPen(colours.dim)
        for layer in range(first, last):
            y = header + layer * pitch - sy
            painter.drawText(QRect(-sx, y, label_w - 6, self.cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"L{layer + 1}")
        self._paint_marks(painter)
        painter.restore()

        # Fixed header: head numbers and "mean".
        painter.fillRect(QRect(0, 0, vp.width(), header), colours.window)
        painter.setPen(colours.dim)
        for head in range(thumbs.n_heads + 1):
            rect = self.cell_rect(0, head if head < thumbs.n_heads else -1)
            text = f"H{head + 1}" if head < thumbs.n_heads else self.tr("mean")
            painter.drawText(QRect(rect.x() - 6, 0, rect.width() + 12, header - 2),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
                             metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width() + 12))
        painter.end()
        self.paint_ms = (time.perf_counter() - start) * 1000.0

    def _paint_marks(self, painter: QPainter) -> None:
        colours = self._colours
        layer, head = self.selected
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self.hovered is not None:
            painter.setPen(QPen(colours.mid, 1))
            painter.drawRect(self.cell_rect(*self.hovered).adjusted(-1, -1, 0, 0))
        pen = QPen(colours.highlight, 2)
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        painter.setPen(pen)
        if self.aggregate == "all":
            top = self.cell_rect(0, -1)
            bottom = self.cell_rect(self.thumbs.n_layers - 1, -1)
            painter.drawRect(top.united(bottom).adjusted(-2, -2, 1, 1))
        elif self.aggregate == "layer":
            painter.drawRect(self.cell_rect(layer, -1).adjusted(-2, -2, 1, 1))
            dashed = QPen(colours.highlight, 1, Qt.PenStyle.DashLine)
            painter.setPen(dashed)
            row = self.cell_rect(layer, 0).united(self.cell_rect(layer, self.thumbs.n_heads - 1))
            painter.drawRect(row.adjusted(-2, -2, 1, 1))
        else:
            painter.drawRect(self.cell_rect(layer, head).adjusted(-2, -2, 1, 1))

    # -- mouse ------------------------------------------------------------------------------
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position().toPoint())
        if cell != self.hovered:
            self.hovered = cell
            self.viewport().update()
        if cell is None:
            QToolTip.hideText()
            self.viewport().unsetCursor()
            return
        self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        layer, head = cell
        text = (self.tr("Layer {layer}, head {head}").format(layer=layer + 1, head=head + 1) if head >= 0
                else self.tr("Layer {layer}, mean over heads").format(layer=layer + 1))
        QToolTip.showText(event.globalPosition().toPoint(), text, self.viewport())

    def leaveEvent(self, event) -> None:
        self.hovered = None
        self.viewport().update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        cell = self.cell_at(event.position().toPoint())
        if cell is not None:
            self.cell_clicked.emit(*cell)

    def keyPressEvent(self, event) -> None:
        """Arrow keys walk the grid (the mean column is the last column)."""
        steps = {Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0), Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1)}
        step = steps.get(event.key())
        if self.thumbs is None or step is None:
            return super().keyPressEvent(event)
        layer, head = self.selected
        column = self.thumbs.n_heads if head < 0 or self.aggregate != "head" else head
        layer = max(0, min(self.thumbs.n_layers - 1, layer + step[0]))
        column = max(0, min(self.thumbs.n_heads, column + step[1]))
        self.cell_clicked.emit(layer, -1 if column == self.thumbs.n_heads else column)

    def sizeHint(self) -> QSize:
        return QSize(520, 420)
