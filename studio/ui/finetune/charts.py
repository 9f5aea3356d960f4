"""The Fine-tune screen's plots (pyqtgraph): the token-length histogram and the live loss curve.

This module is the only one that imports pyqtgraph, and it is imported when the screen is first
built. Colours come from the application palette, so light and dark schemes both read well.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from studio.ui.theme import theme_watcher

TRAIN_COLOUR = QColor(38, 139, 210)
VAL_COLOUR = QColor(203, 75, 22)
MARKER_COLOUR = QColor(220, 50, 47)

pg.setConfigOptions(antialias=True)


class _Plot(pg.PlotWidget):
    """A PlotWidget that follows the application palette."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.getPlotItem().hideButtons()
        # Room above the plot: the top tick's label (often "1.0") is centred on the edge, half cut off.
        self.getPlotItem().layout.setContentsMargins(2, 9, 6, 2)
        # No grid: pyqtgraph repaints grid lines across the whole plot on every update, which was
        # 15 of the 22 ms a loss-curve redraw cost (measured), over the 16 ms frame budget.
        self._recolour()
        theme_watcher().changed.connect(self._recolour)

    def _recolour(self) -> None:
        palette = QApplication.palette()
        self.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        for name in ("left", "bottom"):
            axis = self.getAxis(name)
            axis.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Mid)))
            axis.setTextPen(pg.mkPen(text))
        self.recoloured()

    def recoloured(self) -> None:  # for subclasses whose items use the text colour
        pass


class HistogramChart(_Plot):
    """Bars of (lo, hi, count) with a vertical marker at the maximum sequence length."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("TokenHistogram")
        self.setMouseEnabled(x=False, y=False)
        self.setLabel("bottom", self.tr("tokens per example"))
        self.setLabel("left", self.tr("examples"))
        self.bars: pg.BarGraphItem | None = None
        self.marker = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen(MARKER_COLOUR, width=2, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.marker.label = pg.InfLineLabel(self.marker, text="", position=0.92, anchors=[(1, 0), (1, 0)],
                                            color=MARKER_COLOUR)
        self.addItem(self.marker)
        self.marker.hide()
        self.n_bins = 0

    def set_histogram(self, bins: list, max_seq_len: int) -> None:
        if self.bars is not None:
            self.removeItem(self.bars)
            self.bars = None
        bins = [(float(lo), float(hi), int(count)) for lo, hi, count in bins or []]
        self.n_bins = len(bins)
        if bins:
            self.bars = pg.BarGraphItem(x0=[b[0] for b in bins], x1=[b[1] for b in bins],
                                        height=[b[2] for b in bins], brush=pg.mkBrush(TRAIN_COLOUR.lighter(120)),
                                        pen=pg.mkPen(TRAIN_COLOUR.darker(120)))
            self.addItem(self.bars)
        self.set_marker(max_seq_len, bins)

    def set_marker(self, max_seq_len: int, bins: list | None = None) -> None:
        if max_seq_len <= 0:
            self.marker.hide()
            return
        self.marker.setValue(max_seq_len)
        self.marker.label.setFormat(self.tr("max length {n}").format(n=max_seq_len))
        self.marker.show()
        hi = max([b[1] for b in bins] if bins else [0])
        self.setXRange(0, max(hi, max_seq_len * 1.08), padding=0.02)
        self.enableAutoRange(axis="y")


class LossChart(_Plot):
    """Train loss (a line) and validation loss (dots on a line) against the optimizer step.

    Points are buffered and drawn by a 10 Hz timer, so a run that reports many steps per second
    costs one redraw per tick, not one per step."""

    REDRAW_MS = 100

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LossChart")
        self.setLabel("bottom", self.tr("step"))
        self.setLabel("left", self.tr("loss"))
        self.legend = self.addLegend(offset=(-10, 10))
        self.train_curve = self.plot([], [], name=self.tr("train"), pen=pg.mkPen(TRAIN_COLOUR, width=2))
        self.val_curve = self.plot([], [], name=self.tr("validation"), pen=pg.mkPen(VAL_COLOUR, width=2),
                                   symbol="o", symbolSize=7, symbolBrush=VAL_COLOUR, symbolPen=None)
        self.train_curve.setClipToView(True)
        self.train_curve.setDownsampling(auto=True, method="peak")
        self.train_x: list[float] = []
        self.train_y: list[float] = []
        self.val_x: list[float] = []
        self.val_y: list[float] = []
        self._dirty = False
        self.redraws = 0
        self._timer = QTimer(self)  # runs only while points wait to be drawn
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.REDRAW_MS)
        self._timer.timeout.connect(self.flush)
        self.recoloured()

    def recoloured(self) -> None:
        legend = getattr(self, "legend", None)
        if legend is not None:
            legend.setLabelTextColor(QApplication.palette().color(QPalette.ColorRole.Text))

    def clear_points(self) -> None:
        self.train_x, self.train_y, self.val_x, self.val_y = [], [], [], []
        self._dirty = True
        self.flush()

    def add_train(self, step: float, loss: float) -> None:
        # A resumed run replays steps after its checkpoint: drop what it is about to redo.
        while self.train_x and self.train_x[-1] >= step:
            self.train_x.pop()
            self.train_y.pop()
        self.train_x.append(float(step))
        self.train_y.append(float(loss))
        self._schedule()

    def add_val(self, step: float, loss: float) -> None:
        while self.val_x and self.val_x[-1] >= step:
            self.val_x.pop()
            self.val_y.pop()
        self.val_x.append(float(step))
        self.val_y.append(float(loss))
        self._schedule()

    def _schedule(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        self._timer.stop()
        if not self._dirty:
            return
        self._dirty = False
        self.redraws += 1
        self.train_curve.setData(self.train_x, self.train_y)
        self.val_curve.setData(self.val_x, self.val_y)

    @property
    def n_points(self) -> int:
        return len(self.train_x)


__all__ = ["HistogramChart", "LossChart"]
