"""Inspect › Embeddings: a token's nearest neighbours in the input embedding matrix (cosine) and a
2-D PCA map of words the user types.

The matrix is read from the GGUF's token_embd tensor by studio.core.inspect.embeddings in a thread
(no model is loaded for generation); the cost is shown before the first load, with a progress bar
and Cancel while it runs. pyqtgraph is imported when the first map is drawn.
"""

from __future__ import annotations

import re
import threading

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QSizePolicy, QSpinBox, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from studio.core.inspect import embeddings as core
from studio.ui.tasks import in_thread, spawn, threadsafe
from studio.ui.widgets.banner import Banner
from studio.ui.widgets.plot_theme import themed_plot

_SEPARATORS = re.compile(r"[,\s，、;；]+")
BAR_COLOUR = QColor(38, 139, 210)
POINT_COLOUR = QColor(203, 75, 22)


def split_words(text: str) -> list[str]:
    """Words from a comma/space separated box (CJK commas and 、 too), duplicates dropped."""
    out: list[str] = []
    for word in _SEPARATORS.split(text):
        if word and word not in out:
            out.append(word)
    return out


def as_query(word: str, leading_space: bool) -> str:
    """A Latin word mid-sentence is one token with its space (" king"); CJK and #ids stay as typed."""
    if leading_space and word[:1].isascii() and word[:1].isalnum():
        return " " + word
    return word


class CosineBar(QWidget):
    """A horizontal bar for a cosine in [-1, 1] with its value written on it."""

    def __init__(self, value: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value = value
        self.setToolTip(f"{value:.4f}")

    def sizeHint(self) -> QSize:
        return QSize(160, self.fontMetrics().height() + 4)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        r = QRectF(self.rect()).adjusted(2, 2, -2, -2)
        width = r.width() * max(0.0, min(1.0, self.value))
        p.fillRect(QRectF(r.left(), r.top(), width, r.height()), BAR_COLOUR)
        p.setPen(self.palette().color(QPalette.ColorRole.Text))
        p.drawText(r.adjusted(4, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   f"{self.value:.3f}")
        p.end()


class EmbeddingsView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("EmbeddingsView")
        self.model = ""
        self.embeddings: core.Embeddings | None = None
        self.estimate: core.Estimate | None = None
        self.busy = False
        self.plot = None
        self.labels: list = []
        self._cancel: threading.Event | None = None

        self.banner = Banner(self)
        self.estimate_label = QLabel(self)
        self.estimate_label.setObjectName("EmbeddingsEstimate")
        self.estimate_label.setWordWrap(True)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton(self.tr("Cancel"), self)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        status = QHBoxLayout()
        status.addWidget(self.estimate_label, 1)
        status.addWidget(self.progress)
        status.addWidget(self.cancel_button)

        # -- neighbours -------------------------------------------------------------------------
        self.word_edit = QLineEdit(self)
        self.word_edit.setObjectName("EmbeddingsWord")
        self.word_edit.setPlaceholderText(self.tr("A word, or a token id like #4197"))
        self.word_edit.returnPressed.connect(self.find_neighbours)
        self.k_spin = QSpinBox(self)
        self.k_spin.setRange(1, 200)
        self.k_spin.setValue(20)
        self.k_spin.setToolTip(self.tr("How many neighbours to list"))
        self.space_check = QCheckBox(self.tr("Leading space"), self)
        self.space_check.setChecked(True)
        self.space_check.setToolTip(self.tr("Tokenize a Latin word as it appears mid-sentence (\" king\", "
                                            "usually one token) rather than at the start of a text"))
        self.find_button = QPushButton(self.tr("Neighbours"), self)
        self.find_button.clicked.connect(self.find_neighbours)
        word_row = QHBoxLayout()
        word_row.addWidget(self.word_edit, 1)
        word_row.addWidget(self.k_spin)
        word_row.addWidget(self.space_check)
        word_row.addWidget(self.find_button)
        self.query_note = QLabel(self)
        self.query_note.setObjectName("EmbeddingsQueryNote")
        self.query_note.setWordWrap(True)
        self.neighbours = QTreeWidget(self)
        self.neighbours.setObjectName("EmbeddingsNeighbours")
        self.neighbours.setRootIsDecorated(False)
        self.neighbours.setHeaderLabels([self.tr("Token"), self.tr("Id"), self.tr("Cosine")])
        header = self.neighbours.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(word_row)
        left_layout.addWidget(self.query_note)
        left_layout.addWidget(self.neighbours, 1)

        # -- map -----------------------------------------------------------------------------
        self.words_edit = QLineEdit(self)
        self.words_edit.setObjectName("EmbeddingsWords")
        self.words_edit.setPlaceholderText(self.tr("Words separated by spaces or commas"))
        self.words_edit.setText("国王 王后 男人 女人 king queen man woman")
        self.words_edit.returnPressed.connect(self.draw_map)
        self.map_button = QPushButton(self.tr("Map"), self)
        self.map_button.clicked.connect(self.draw_map)
        words_row = QHBoxLayout()
        words_row.addWidget(self.words_edit, 1)
        words_row.addWidget(self.map_button)
        self.map_note = QLabel(self)
        self.map_note.setObjectName("EmbeddingsMapNote")
        self.map_note.setWordWrap(True)
        self.plot_host = QVBoxLayout()
        self.plot_placeholder = QLabel(self.tr("Type a few words and press Map: their embeddings are "
                                               "projected onto the two directions they differ most in (PCA)."),
                                       self)
        self.plot_placeholder.setWordWrap(True)
        self.plot_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plot_placeholder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.plot_host.addWidget(self.plot_placeholder, 1)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(words_row)
        right_layout.addWidget(self.map_note)
        right_layout.addLayout(self.plot_host, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.addWidget(self.banner)
        layout.addLayout(status)
        layout.addWidget(splitter, 1)

    # -- model ------------------------------------------------------------------------------
    def set_model(self, path: str) -> None:
        if path == self.model:
            return
        self.cancel()
        self.model = path
        self.embeddings = core.cached(path) if path else None
        self.estimate = None
        self.neighbours.clear()
        self.query_note.setText("")
        self.estimate_label.setText("")
        if path:
            spawn(self._read_estimate(path), on_error=self._error)

    async def _read_estimate(self, path: str) -> None:
        try:
            est = await in_thread(core.estimate, path)
        except core.EmbeddingError as exc:
            if path == self.model:
                self.estimate_label.setText(str(exc))
            return
        if path == self.model:
            self.estimate = est
            self._show_state()

    def _show_state(self) -> None:
        emb = self.embeddings
        if emb is not None:
            rows, dim = emb.shape
            self.estimate_label.setText(self.tr("Embeddings: {rows} × {dim}, {mb} MB in memory, read in {s} s.").format(
                rows=f"{rows:,}", dim=f"{dim:,}", mb=f"{emb.estimate.memory_bytes / 1e6:,.0f}",
                s=f"{emb.load_seconds:.1f}"))
        elif self.estimate is not None:
            est = self.estimate
            self.estimate_label.setText(self.tr(
                "The first use reads {rows} × {dim} floats = {mb} MB into memory (from {file_mb} MB of {type} "
                "in the file); the model is not loaded for generation.").format(
                rows=f"{est.rows:,}", dim=f"{est.dim:,}", mb=f"{est.memory_bytes / 1e6:,.0f}",
                file_mb=f"{est.file_bytes / 1e6:,.0f}", type=est.ggml_type))

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        for widget in (self.find_button, self.map_button):
            widget.setEnabled(not busy)

    async def ensure_loaded(self) -> core.Embeddings | None:
        if self.embeddings is not None:
            return self.embeddings
        if not self.model:
            self.banner.show_message(self.tr("Pick a model at the top first."), "error")
            return None
        path = self.model
        cancel = self._cancel = threading.Event()
        self.progress.setValue(0)
        self._set_busy(True)

        def show(fraction: float) -> None:
            if not cancel.is_set():
                self.progress.setValue(int(fraction * 100))

        try:
            emb = await in_thread(core.load, path, progress=threadsafe(show), cancel=cancel)
        except core.EmbeddingError as exc:
            if exc.kind != "cancelled" and path == self.model:
                self.banner.show_message(self.tr("Could not read the embeddings: {error}").format(error=exc), "error")
            return None
        finally:
            if self._cancel is cancel:
                self._cancel = None
                self._set_busy(False)
        if path != self.model or cancel.is_set():
            return None
        self.embeddings = emb
        self._show_state()
        return emb

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self._cancel = None
            self._set_busy(False)

    # -- neighbours -------------------------------------------------------------------------
    def find_neighbours(self) -> None:
        spawn(self.neighbours_of(self.word_edit.text()), on_error=self._error)

    async def neighbours_of(self, text: str) -> None:
        word = text.strip()
        if not word:
            self.banner.show_message(self.tr("Type a word or a token id (#123)."), "error")
            return
        emb = await self.ensure_loaded()
        if emb is None:
            return
        try:
            result = await in_thread(emb.nearest, as_query(word, self.space_check.isChecked()), self.k_spin.value())
        except core.EmbeddingError as exc:
            self.banner.show_message(str(exc), "error")
            return
        if self.banner.level == "error":
            self.banner.dismiss()
        self.show_neighbours(result)

    def show_neighbours(self, result: core.NeighbourResult) -> None:
        pieces = " · ".join(result.token_pieces)
        if result.averaged:
            self.query_note.setText(self.tr("“{word}” is {n} tokens ({pieces}); their embeddings are averaged.")
                                    .format(word=result.query.strip(), n=len(result.token_ids), pieces=pieces))
        else:
            self.query_note.setText(self.tr("“{word}” is token {id} ({piece}).").format(
                word=result.query.strip(), id=result.token_ids[0], piece=pieces))
        tree = self.neighbours
        tree.clear()
        for n in result.neighbours:
            item = QTreeWidgetItem([n.piece, str(n.id), ""])
            item.setData(2, Qt.ItemDataRole.UserRole, n.cosine)
            tree.addTopLevelItem(item)
            tree.setItemWidget(item, 2, CosineBar(n.cosine, tree))

    # -- map --------------------------------------------------------------------------------
    def draw_map(self) -> None:
        spawn(self.map_words(self.words_edit.text()), on_error=self._error)

    async def map_words(self, text: str) -> None:
        words = split_words(text)
        if len(words) < 2:
            self.banner.show_message(self.tr("The map needs at least two words."), "error")
            return
        emb = await self.ensure_loaded()
        if emb is None:
            return
        space = self.space_check.isChecked()
        try:
            result = await in_thread(emb.pca_map, [as_query(w, space) for w in words])
        except core.EmbeddingError as exc:
            self.banner.show_message(str(exc), "error")
            return
        if self.banner.level == "error":
            self.banner.dismiss()
        self.show_map(words, result)

    def _ensure_plot(self):
        if self.plot is None:
            plot = themed_plot(self, "EmbeddingsMap")
            self.plot_host.removeWidget(self.plot_placeholder)
            self.plot_placeholder.hide()
            self.plot_host.addWidget(plot, 1)
            self.plot = plot
        return self.plot

    def show_map(self, words: list[str], result: core.PcaMap) -> None:
        import pyqtgraph as pg

        plot = self._ensure_plot()
        plot.clear()
        self.labels = []
        xs, ys = result.points[:, 0], result.points[:, 1]
        scatter = pg.ScatterPlotItem(x=xs, y=ys, size=10, brush=pg.mkBrush(POINT_COLOUR), pen=pg.mkPen(None))
        plot.addItem(scatter)
        self.scatter = scatter
        text_colour = self.palette().color(QPalette.ColorRole.Text)
        for word, x, y in zip(words, xs, ys):
            label = pg.TextItem(word, color=text_colour, anchor=(0, 1))
            label.setPos(float(x), float(y))
            plot.addItem(label)
            self.labels.append(label)
        ex1, ex2 = result.explained
        plot.setLabel("bottom", self.tr("PC1 ({p} % of the variance)").format(p=f"{ex1 * 100:.0f}"))
        plot.setLabel("left", self.tr("PC2 ({p} %)").format(p=f"{ex2 * 100:.0f}"))
        plot.autoRange(padding=0.2)
        multi = [w for w, ids in zip(words, result.token_ids) if len(ids) > 1]
        note = self.tr("{n} words; the two axes explain {p} % of their spread.").format(
            n=len(words), p=f"{result.explained_total * 100:.0f}")
        if multi:
            note += " " + self.tr("Averaged over their tokens: {words}.").format(words=" ".join(multi))
        self.map_note.setText(note)

    # -- misc -------------------------------------------------------------------------------
    def _error(self, exc: BaseException) -> None:
        self.banner.show_message(self.tr("Embeddings: {error}").format(error=exc), "error")

    async def shutdown(self) -> None:
        self.cancel()
