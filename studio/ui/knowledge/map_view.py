"""The embeddings map: a collection's chunks projected to 2-D (PCA, from the knowledge worker's
`map` op), coloured by source file, with a question placed among them and its nearest chunks
ringed and joined to it. Hovering shows a chunk's source and text; a click selects it.

One scatter item per file (a uniform brush draws fast), and hover/click find the nearest point
with numpy in screen pixels, so a few thousand points stay responsive. pyqtgraph loads on first draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QSpinBox, QToolTip,
                               QVBoxLayout, QWidget)

from studio.ui.knowledge.candidates import location_text, preview
from studio.ui.widgets.plot_theme import themed_plot

QUERY_COLOUR = QColor(203, 75, 22)
OTHER_COLOUR = QColor(150, 150, 150)
LEGEND_FILES = 12  # files beyond this share one grey entry: a longer legend covers the map
HOVER_PIXELS = 10


def file_colour(index: int, count: int) -> QColor:
    """Distinct hues around the wheel, alternating lightness so neighbours differ."""
    colour = QColor()
    colour.setHsvF((index * 0.618034) % 1.0, 0.75, 0.85 if index % 2 == 0 else 0.65)
    return colour


class KnowledgeMapView(QWidget):
    draw_requested = Signal(str, int)  # question (may be empty), how many nearest chunks
    chunk_clicked = Signal(int)  # chunk id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("KnowledgeMap")
        self.plot: Any = None
        self.points: list[dict[str, Any]] = []
        self.xy = np.zeros((0, 2))
        self.file_items: list[Any] = []
        self.query: dict[str, Any] | None = None
        self.query_item: Any = None
        self.ring_item: Any = None
        self.line_item: Any = None
        self.hover_item: Any = None
        self.selected_item: Any = None
        self._proxy: Any = None

        self.question = QLineEdit(self)
        self.question.setObjectName("KnowledgeMapQuestion")
        self.question.setPlaceholderText(self.tr("A question to place on the map (optional)"))
        self.question.returnPressed.connect(self._request)
        self.nearest = QSpinBox(self)
        self.nearest.setRange(1, 50)
        self.nearest.setValue(5)
        self.nearest.setPrefix(self.tr("nearest: "))
        self.nearest.setToolTip(self.tr("How many of the question's nearest chunks to ring"))
        self.draw_button = QPushButton(self.tr("Draw map"), self)
        self.draw_button.setObjectName("KnowledgeMapDraw")
        self.draw_button.clicked.connect(self._request)
        row = QHBoxLayout()
        row.addWidget(self.question, 1)
        row.addWidget(self.nearest)
        row.addWidget(self.draw_button)
        self.note = QLabel(self)
        self.note.setObjectName("KnowledgeMapNote")
        self.note.setWordWrap(True)
        self.hover = QLabel(self)
        self.hover.setObjectName("KnowledgeMapHover")
        self.hover.setWordWrap(True)
        self.hover.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.placeholder = QLabel(self.tr("Draw the map to see every chunk as a point: chunks that mean similar "
                                          "things lie close together. The two axes are the directions in which "
                                          "the chunks' embeddings differ most (PCA)."), self)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.plot_host = QVBoxLayout()
        self.plot_host.addWidget(self.placeholder, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.note)
        layout.addLayout(self.plot_host, 1)
        layout.addWidget(self.hover)

    def _request(self) -> None:
        self.draw_requested.emit(self.question.text().strip(), self.nearest.value())

    def set_busy(self, busy: bool) -> None:
        self.draw_button.setEnabled(not busy)

    def clear(self) -> None:
        self.points = []
        self.xy = np.zeros((0, 2))
        self.query = None
        self.note.clear()
        self.hover.clear()
        if self.plot is not None:
            self.plot.clear()
            self._reset_legend()

    # -- drawing ------------------------------------------------------------------------------
    def _ensure_plot(self) -> Any:
        if self.plot is None:
            import pyqtgraph as pg

            # no "×0.001" on the axes: SI prefixes on unitless projections only confuse
            plot = themed_plot(self, "KnowledgeMapPlot", si_prefix=False)
            plot.setLabel("bottom", self.tr("first principal direction"))
            plot.setLabel("left", self.tr("second principal direction"))
            self.plot_host.removeWidget(self.placeholder)
            self.placeholder.hide()
            self.plot_host.addWidget(plot, 1)
            scene = plot.scene()
            self._proxy = pg.SignalProxy(scene.sigMouseMoved, rateLimit=30, slot=self._on_move)
            scene.sigMouseClicked.connect(self._on_click)
            self.plot = plot
            self._reset_legend()
        return self.plot

    def _reset_legend(self) -> None:
        item = self.plot.getPlotItem()
        if item.legend is not None and item.legend.scene() is not None:
            item.legend.scene().removeItem(item.legend)
        item.legend = None
        legend = item.addLegend(offset=(10, 10), labelTextColor=self.palette().color(QPalette.ColorRole.Text))
        background = QColor(self.palette().color(QPalette.ColorRole.Base))
        background.setAlpha(200)
        legend.setBrush(background)

    def show_map(self, result: dict[str, Any]) -> None:
        import pyqtgraph as pg

        plot = self._ensure_plot()
        plot.clear()
        self._reset_legend()
        self.points = list(result.get("points") or [])
        self.xy = np.array([[p["x"], p["y"]] for p in self.points], dtype=float).reshape(-1, 2)
        self.query = result.get("query")
        by_file: dict[str, list[int]] = {}
        for i, point in enumerate(self.points):
            by_file.setdefault(str(point.get("path", "")), []).append(i)
        files = sorted(by_file, key=lambda f: (-len(by_file[f]), f))
        shown, rest = files[:LEGEND_FILES], files[LEGEND_FILES:]
        self.file_items = []
        groups = [(Path(f).name, by_file[f], file_colour(n, len(shown))) for n, f in enumerate(shown)]
        if rest:
            groups.append((self.tr("{n} other files").format(n=len(rest)),
                           [i for f in rest for i in by_file[f]], OTHER_COLOUR))
        for label, indices, colour in groups:
            item = pg.ScatterPlotItem(x=self.xy[indices, 0], y=self.xy[indices, 1], size=8, pen=pg.mkPen(None),
                                      brush=pg.mkBrush(colour), name=label)
            plot.addItem(item)
            self.file_items.append(item)
        self.query_item = self.ring_item = self.line_item = None
        if self.query:
            self._draw_query(pg)
        self.hover_item = pg.ScatterPlotItem(size=14, pen=pg.mkPen(self.palette().color(QPalette.ColorRole.Text),
                                                                   width=1.5), brush=pg.mkBrush(None))
        self.selected_item = pg.ScatterPlotItem(size=16, symbol="s", pen=pg.mkPen(QUERY_COLOUR, width=2),
                                                brush=pg.mkBrush(None))
        plot.addItem(self.hover_item)
        plot.addItem(self.selected_item)
        # Kept on, so the view fits the points again when the widget is resized.
        plot.getPlotItem().vb.setDefaultPadding(0.06)
        plot.enableAutoRange()
        note = self.tr("{n} chunks from {files} files, projected with PCA ({model}).").format(
            n=len(self.points), files=len(files), model=result.get("model", ""))
        if self.query:
            note += " " + self.tr("The question is the orange star; its {k} nearest chunks (by cosine similarity "
                                  "in the full embedding space) are ringed and joined to it — near in 2-D is not "
                                  "always near in the full space.").format(k=len(self.query.get("nearest") or []))
        self.note.setText(note)
        self.hover.setText(self.tr("Hover over a point to read its chunk; click it to open it in Files."))

    def _draw_query(self, pg: Any) -> None:
        assert self.query is not None
        index = {int(p["chunk_id"]): i for i, p in enumerate(self.points)}
        near = [index[c] for c in self.query.get("nearest") or [] if c in index]
        qx, qy = float(self.query["x"]), float(self.query["y"])
        if near:
            pairs = np.empty((2 * len(near), 2))
            pairs[0::2] = (qx, qy)
            pairs[1::2] = self.xy[near]
            self.line_item = pg.PlotDataItem(pairs[:, 0], pairs[:, 1], connect="pairs",
                                             pen=pg.mkPen(QUERY_COLOUR, width=1.5, style=Qt.PenStyle.DashLine))
            self.plot.addItem(self.line_item)
            self.ring_item = pg.ScatterPlotItem(x=self.xy[near, 0], y=self.xy[near, 1], size=20,
                                                pen=pg.mkPen(QUERY_COLOUR, width=2.5), brush=pg.mkBrush(None),
                                                name=self.tr("nearest chunks"))
            self.plot.addItem(self.ring_item)
        self.query_item = pg.ScatterPlotItem(x=[qx], y=[qy], size=22, symbol="star", pen=pg.mkPen("w", width=1),
                                             brush=pg.mkBrush(QUERY_COLOUR), name=self.tr("the question"))
        self.plot.addItem(self.query_item)

    # -- hover and click ----------------------------------------------------------------------
    def point_at(self, scene_pos: QPointF) -> int:
        """The index of the point within HOVER_PIXELS of a scene position, or -1."""
        if self.plot is None or not len(self.xy):
            return -1
        box = self.plot.getPlotItem().vb
        if not box.sceneBoundingRect().contains(scene_pos):
            return -1
        at = box.mapSceneToView(scene_pos)
        width, height = box.viewPixelSize()
        dx = (self.xy[:, 0] - at.x()) / max(width, 1e-12)
        dy = (self.xy[:, 1] - at.y()) / max(height, 1e-12)
        distance = dx * dx + dy * dy
        best = int(np.argmin(distance))
        return best if distance[best] <= HOVER_PIXELS ** 2 else -1

    def describe(self, index: int) -> str:
        point = self.points[index]
        where = point.get("location", "")
        if "unit" in point:
            where = location_text(point["unit"], point["start"], point["end"])
        return f"{Path(str(point.get('path', ''))).name} · {where}\n{preview(str(point.get('text', '')), 240)}"

    def _on_move(self, args: tuple[Any, ...]) -> None:
        index = self.point_at(args[0])
        if index < 0:
            if self.hover_item is not None:
                self.hover_item.setData([], [])
            return
        self.hover_item.setData([self.xy[index, 0]], [self.xy[index, 1]])
        text = self.describe(index)
        self.hover.setText(text)
        view = self.plot.mapFromScene(args[0])
        QToolTip.showText(self.plot.mapToGlobal(view), text, self.plot)

    def _on_click(self, event: Any) -> None:
        index = self.point_at(event.scenePos())
        if index >= 0:
            self.mark(index)
            self.chunk_clicked.emit(int(self.points[index]["chunk_id"]))

    def mark(self, index: int) -> None:
        self.selected_item.setData([self.xy[index, 0]], [self.xy[index, 1]])
        self.hover.setText(self.describe(index))
