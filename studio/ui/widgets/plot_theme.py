"""A pyqtgraph plot that follows the window's palette (base background, muted axes, text-coloured
labels), shared by the scatter maps of Inspect › Embeddings and Knowledge › Embeddings map."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget


def themed_plot(parent: QWidget, object_name: str, *, si_prefix: bool = True) -> Any:
    """A bare PlotWidget (no context menu, no auto-range button) in `parent`'s colours. pyqtgraph is
    imported here, on first use, so it stays out of the window's start-up."""
    import pyqtgraph as pg

    plot = pg.PlotWidget(parent)
    plot.setObjectName(object_name)
    plot.setMenuEnabled(False)
    plot.getPlotItem().hideButtons()
    palette = parent.palette()
    plot.setBackground(palette.color(QPalette.ColorRole.Base))
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Mid)))
        axis.setTextPen(pg.mkPen(palette.color(QPalette.ColorRole.Text)))
        if not si_prefix:
            axis.enableAutoSIPrefix(False)
    return plot
