"""Inspect › Attention: every layer's and head's attention over a prompt.

The inspector (studio.core.inspect.inspector.Inspector) computes the weights: llama.cpp itself for a
GGUF file (the engine, with the chat's adapters), the torch analyser for a Hugging Face folder. This
view only shows them: a layer × head grid of thumbnails (plus a per-layer mean column), a zoom on
the selected head or aggregate with token labels on both axes, and the prompt as token chips that
light up with the attention of the query under the pointer. With an adapter attached it can show
the adapter's change instead: adapted − base, on a diverging scale.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar,
                               QPushButton, QSizePolicy, QSplitter, QVBoxLayout, QWidget)

from studio.core.errors import StudioError
from studio.core.workers.protocol import WorkerError
from studio.ui.inspect.analyser_status import failure_note, show_fraction, stage_text
from studio.ui.inspect.heatmap import GridThumbs, HeatmapGrid, prepare_grid
from studio.ui.inspect.heatmap_zoom import HeatmapView, ZoomArea
from studio.ui.inspect.token_strip import TokenStrip
from studio.ui.tasks import in_thread, spawn
from studio.ui.theme import styled

MAX_TOKENS = 512
LARGE_JOB_BYTES = 256 << 20   # from here on the cost stays in the note, not only in the stage line
AGGREGATES = ("head", "layer", "all")


class AttentionView(QWidget):
    def __init__(self, inspector, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AttentionView")
        self.inspector = inspector
        self.model = ""
        self.result = None                 # AttentionResult of the last compute (the difference when comparing)
        self.comparison = None             # AttentionComparison when the result is a difference
        self.estimate = None               # JobEstimate of the last compute, said before it ran
        self.thumbs: GridThumbs | None = None
        self.layer = 0
        self.head = 0
        self.aggregate = "head"
        self.busy = False
        self.max_tokens = MAX_TOKENS       # longer prompts are cut (the worker says from how many)
        self.timings: dict[str, float] = {}
        self._cancel_requested = False
        self._pinned_query = -1

        # -- prompt row ----------------------------------------------------------------------
        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("AttentionPrompt")
        self.editor.setPlaceholderText(self.tr("A prompt to look at, e.g. 猫坐在垫子上，因为它很累。"))
        self.editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.editor.setFixedHeight(self.editor.fontMetrics().lineSpacing() * 3 + 14)
        self.chat_toggle = QCheckBox(self.tr("As the model sees it"), self)
        self.chat_toggle.setToolTip(self.tr("Wrap the prompt in the model's chat template (special tokens included)"))
        self.compare_toggle = QCheckBox(self.tr("Adapter's change"), self)
        self.compare_toggle.setObjectName("AttentionCompare")
        self.compare_toggle.setToolTip(self.tr("Compute with and without the attached adapter and show the "
                                               "difference: red where the adapter made a token attend more, blue less"))
        self.compare_toggle.setVisible(False)
        self.compute_button = QPushButton(self.tr("Compute"), self)
        self.compute_button.setObjectName("ComputeAttention")
        self.compute_button.setDefault(True)
        self.compute_button.clicked.connect(lambda: spawn(self.compute(), on_error=self._unexpected))
        self.compute_button.setToolTip(self.tr("Compute attention for every layer and head (Ctrl+Enter)"))
        run_shortcut = QShortcut(QKeySequence("Ctrl+Return"), self.editor)
        run_shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        run_shortcut.activated.connect(self.compute_button.click)
        self.cancel_button = QPushButton(self.tr("Cancel"), self)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("AttentionProgress")
        self.progress.setRange(0, 1000)
        self.progress.setMinimumWidth(160)
        self.progress.setTextVisible(False)
        self.stage = QLabel(self)
        styled(self.stage, "Hint")
        buttons = QVBoxLayout()
        buttons.addWidget(self.chat_toggle)
        buttons.addWidget(self.compare_toggle)
        row = QHBoxLayout()
        row.addWidget(self.compute_button)
        row.addWidget(self.cancel_button)
        buttons.addLayout(row)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress)
        buttons.addLayout(progress_row)
        buttons.addWidget(self.stage)
        buttons.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.editor, 1)
        top.addLayout(buttons)

        self.note = QLabel(self)
        self.note.setObjectName("AttentionNote")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.hide()

        # -- view controls -------------------------------------------------------------------
        self.aggregate_combo = QComboBox(self)
        self.aggregate_combo.setObjectName("AttentionAggregate")
        self.aggregate_combo.addItem(self.tr("Single head"), "head")
        self.aggregate_combo.addItem(self.tr("Mean over heads (this layer)"), "layer")
        self.aggregate_combo.addItem(self.tr("Mean over all layers and heads"), "all")
        self.aggregate_combo.currentIndexChanged.connect(
            lambda _i: self.set_aggregate(self.aggregate_combo.currentData()))
        self.scale_combo = QComboBox(self)
        self.scale_combo.addItem(self.tr("Linear"), "linear")
        self.scale_combo.addItem(self.tr("Square root"), "sqrt")
        self.scale_combo.addItem(self.tr("Log"), "log")
        self.scale_combo.setToolTip(self.tr("How weights map to colour; square root and log show small weights "
                                            "that a few large ones (often on the first token) would hide"))
        self.scale_combo.currentIndexChanged.connect(lambda _i: self.set_scale(self.scale_combo.currentData()))
        self.export_png_button = QPushButton(self.tr("Export PNG…"), self)
        self.export_png_button.setToolTip(self.tr("Save the zoomed heatmap, with its labels, as an image"))
        self.export_png_button.clicked.connect(self._ask_export_png)
        self.export_npz_button = QPushButton(self.tr("Export .npz…"), self)
        self.export_npz_button.setToolTip(self.tr("Save all weights [layers, heads, tokens, tokens] with the "
                                                  "token ids and labels (numpy .npz)"))
        self.export_npz_button.clicked.connect(self._ask_export_npz)
        controls = QHBoxLayout()
        controls.addWidget(QLabel(self.tr("Show:"), self))
        controls.addWidget(self.aggregate_combo)
        controls.addSpacing(12)
        controls.addWidget(QLabel(self.tr("Colour scale:"), self))
        controls.addWidget(self.scale_combo)
        controls.addStretch(1)
        controls.addWidget(self.export_png_button)
        controls.addWidget(self.export_npz_button)

        # -- grid | zoom ---------------------------------------------------------------------
        self.grid = HeatmapGrid(self)
        self.grid.cell_clicked.connect(self._on_cell_clicked)
        self.zoom_title = QLabel(self)
        styled(self.zoom_title, "TrainStage")   # bold, like other section headings
        self.zoom = HeatmapView(self)
        self.zoom.query_hovered.connect(self._on_query_hovered)
        self.zoom_area = ZoomArea(self.zoom, self)
        zoom_hint = QLabel(self.tr("Ctrl+wheel zooms, double-click fits"), self)
        styled(zoom_hint, "Hint")
        grid_box = QWidget(self)
        grid_layout = QVBoxLayout(grid_box)
        grid_layout.setContentsMargins(0, 0, 0, 0)
        grid_hint = QLabel(self.tr("Layers × heads — click one to zoom"), grid_box)
        styled(grid_hint, "Hint")
        grid_layout.addWidget(grid_hint)
        grid_layout.addWidget(self.grid, 1)
        zoom_box = QWidget(self)
        zoom_layout = QVBoxLayout(zoom_box)
        zoom_layout.setContentsMargins(0, 0, 0, 0)
        title_row = QHBoxLayout()
        title_row.addWidget(self.zoom_title, 1)
        title_row.addWidget(zoom_hint)
        zoom_layout.addLayout(title_row)
        zoom_layout.addWidget(self.zoom_area, 1)
        self.split = QSplitter(Qt.Orientation.Horizontal, self)
        self.split.addWidget(grid_box)
        self.split.addWidget(zoom_box)
        self.split.setStretchFactor(0, 2)
        self.split.setStretchFactor(1, 3)
        self.split.setChildrenCollapsible(False)

        self.token_strip = TokenStrip(self)
        self.token_strip.query_hovered.connect(self._on_query_hovered)
        self.token_strip.query_clicked.connect(self._on_query_clicked)
        strip_hint = QLabel(self.tr("Point at a token to see what it attends to (click to keep it)"), self)
        styled(strip_hint, "Hint")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addLayout(controls)
        layout.addWidget(self.split, 1)
        layout.addWidget(strip_hint)
        layout.addWidget(self.token_strip)

        self._show_empty()
        self._set_busy(False)

    # -- model ------------------------------------------------------------------------------
    def set_model(self, path: str) -> None:
        path = str(path or "")
        if path == self.model:
            return
        self.model = path
        if self.result is not None:     # weights of another model would mislead
            self.clear()
        self._show_empty()
        self.refresh_adapters()

    def refresh_adapters(self) -> None:
        """Offer "Adapter's change" while the engine has adapters attached to this view's model."""
        adapters = self.inspector.adapters(self.model) if self.model else []
        self.compare_toggle.setVisible(bool(adapters))
        if not adapters:
            self.compare_toggle.setChecked(False)
        names = ", ".join(str(a.get("name") or Path(str(a.get("path", ""))).stem) for a in adapters)
        self.compare_toggle.setText(self.tr("Change made by {names}").format(names=names) if adapters
                                    else self.tr("Adapter's change"))

    def clear(self) -> None:
        self.result = None
        self.comparison = None
        self.thumbs = None
        self.grid.set_thumbs(None)
        self.zoom.set_matrix(None)
        self.token_strip.set_tokens([])
        self.zoom_title.setText("")
        self._pinned_query = -1
        self._update_buttons()

    def _show_empty(self) -> None:
        if self.result is not None:
            return
        hint = (self.tr("Type a prompt and press Compute to see how every layer and head attends between "
                        "its tokens.") if self.model else self.tr("Pick a model at the top first."))
        self.grid.set_hint(hint)
        self.zoom.set_hint(self.tr("The selected head appears here, with its tokens on both axes."))
        self.token_strip.set_hint(self.tr("The prompt's tokens appear here."))

    # -- compute ----------------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.compute_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        self.stage.setVisible(busy)
        self.editor.setReadOnly(busy)
        self.chat_toggle.setEnabled(not busy)
        self.compare_toggle.setEnabled(not busy)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.result is not None and not self.busy
        self.export_png_button.setEnabled(has)
        self.export_npz_button.setEnabled(has)

    def show_note(self, text: str, level: str = "info") -> None:
        self.note.setText(text)
        self.note.setProperty("level", level)
        colour = {"error": "#c0392b", "warning": "#b9770e"}.get(level)
        self.note.setStyleSheet(f"color: {colour};" if colour else "")
        self.note.setVisible(bool(text))

    def _on_progress(self, fraction: float | None, stage: str = "") -> None:
        if not self.busy:
            return
        show_fraction(self.progress, fraction)
        text = stage_text(stage, self.tr("Computing attention…"))
        if self.estimate is not None:
            text = self.tr("{stage} (about {size})").format(stage=text, size=self.estimate.size())
        self.stage.setText(self.tr("Cancelling…") if self._cancel_requested else text)

    async def compute(self) -> bool:
        """Compute attention for the editor's prompt; True when a result is shown."""
        if self.busy:
            return False
        text = self.editor.toPlainText()
        if not self.model:
            self.show_note(self.tr("Pick a model at the top first."), "warning")
            return False
        if not text.strip():
            self.show_note(self.tr("Type a prompt first."), "warning")
            return False
        compare = self.compare_toggle.isVisible() and self.compare_toggle.isChecked()
        self.estimate = None
        self._cancel_requested = False
        self.show_note("")
        self._set_busy(True)
        self.progress.setRange(0, 0)
        self.stage.setText(self.tr("Starting…"))
        started = time.perf_counter()
        try:
            try:
                # What it will cost, said before it runs (and refused when it would not fit).
                estimate = await in_thread(self.inspector.plan_attention, self.model, text,
                                           max_tokens=self.max_tokens, compare=compare)
                refusal = self.inspector.refusal(estimate)
                if refusal:
                    self.show_note(refusal, "warning")
                    return False
                self.estimate = estimate
                self.stage.setText(estimate.sentence())
                if estimate.bytes >= LARGE_JOB_BYTES:
                    self.show_note(estimate.sentence())
                kw = dict(text=text, chat=self.chat_toggle.isChecked(), on_progress=self._on_progress)
                if compare:
                    comparison = await self.inspector.compare_attention(self.model, **kw)
                    result = comparison.tuned
                    difference = await in_thread(comparison.difference)
                else:
                    comparison, difference = None, None
                    result = await self.inspector.attention(self.model, max_tokens=self.max_tokens, **kw)
            except WorkerError as exc:
                self.show_note(*failure_note(exc, self._cancel_requested,
                                             self.tr("Attention could not be computed: {error}")))
                return False
            except StudioError as exc:   # the engine is busy, the model could not be loaded
                self.show_note(exc.message, "warning")
                return False
            if self._cancel_requested or getattr(result, "cancelled", False):
                self.show_note(self.tr("Cancelled; nothing was computed."))
                return False
            self.timings["analyse"] = time.perf_counter() - started
            self.stage.setText(self.tr("Drawing…"))
            # Pooling 30×9 heads of up to 512² weights takes a few hundred ms: not on the UI thread.
            if difference is not None:
                from dataclasses import replace

                shown = replace(result, weights=difference)
                thumbs = await in_thread(prepare_grid, difference, signed=True)
            else:
                shown = result
                thumbs = await in_thread(prepare_grid, result.weights)
            self.timings["thumbnails"] = thumbs.seconds
            if self._cancel_requested:     # cancelled while the thumbnails were being made
                self.show_note(self.tr("Cancelled; nothing was computed."))
                return False
            self.comparison = comparison
            self._show_result(shown, thumbs)
            return True
        finally:
            self._cancel_requested = False
            self._set_busy(False)

    def cancel(self) -> None:
        if not self.busy:
            return
        self._cancel_requested = True
        self.stage.setText(self.tr("Cancelling…"))
        self.cancel_button.setEnabled(False)
        spawn(self.inspector.cancel(), on_error=self._unexpected)

    async def shutdown(self) -> None:
        if self.busy:
            self._cancel_requested = True
            try:
                await self.inspector.cancel()
            except WorkerError:
                pass

    def _unexpected(self, exc: BaseException) -> None:
        self.show_note(self.tr("Something went wrong: {error}").format(error=exc), "error")

    # -- showing a result -------------------------------------------------------------------
    def _show_result(self, result, thumbs: GridThumbs) -> None:
        self.result = result
        self.thumbs = thumbs
        large = self.estimate is not None and self.estimate.bytes >= LARGE_JOB_BYTES
        notes = [self.estimate.sentence()] if large else []
        if result.truncated_from:
            notes.append(self.tr("Showing the first {shown} of {total} tokens: attention is computed for at most "
                                 "{shown} tokens.").format(shown=result.n_tokens, total=result.truncated_from))
        span = None
        if self.comparison is not None:
            change = np.abs(result.weights)
            where = np.unravel_index(int(change.argmax()), change.shape)
            span = max(float(change.max()), 1e-6)
            notes.append(self.tr("Adapted − base: red where the adapter made a token attend more, blue less. The "
                                 "largest change is {change} in layer {layer}, head {head}.").format(
                change=f"{float(result.weights[where]):+.3f}", layer=int(where[0]) + 1, head=int(where[1]) + 1))
        for widget in (self.grid, self.zoom):
            widget.set_span(span)
        self.show_note(" ".join(notes))
        self.layer = min(self.layer, result.n_layers - 1)
        self.head = min(self.head, result.n_heads - 1)
        self._pinned_query = -1
        self.grid.set_thumbs(thumbs)
        self.token_strip.set_tokens(list(result.labels), list(result.ids))
        self.zoom_area.set_factor(1.0)
        self._update_zoom()
        self._update_buttons()

    def matrix(self) -> np.ndarray | None:
        """The [T, T] matrix the zoom shows (selected head, layer mean or overall mean)."""
        if self.result is None or self.thumbs is None:
            return None
        if self.aggregate == "all":
            return self.thumbs.mean
        if self.aggregate == "layer":
            return self.thumbs.layer_means[self.layer]
        return self.result.weights[self.layer, self.head]

    def title(self) -> str:
        if self.aggregate == "all":
            return self.tr("Mean over all layers and heads")
        if self.aggregate == "layer":
            return self.tr("Layer {layer} · mean over heads").format(layer=self.layer + 1)
        return self.tr("Layer {layer} · head {head}").format(layer=self.layer + 1, head=self.head + 1)

    def _update_zoom(self) -> None:
        if self.result is None:
            return
        self.zoom_title.setText(self.title())
        matrix = self.matrix()
        if self.comparison is not None and matrix is not None:  # the zoom's own range: small changes stay visible
            self.zoom.set_span(max(float(np.abs(matrix).max()), 1e-6))
        self.zoom.set_matrix(matrix, list(self.result.labels), self.title())
        self.grid.set_selection(self.layer, self.head, self.aggregate)
        self._highlight(self._pinned_query)

    def select(self, layer: int, head: int) -> None:
        """Zoom on one head (head -1: that layer's mean over heads)."""
        if self.result is None:
            return
        self.layer = max(0, min(int(layer), self.result.n_layers - 1))
        if head < 0:
            self._set_aggregate_combo("layer")
        else:
            self.head = max(0, min(int(head), self.result.n_heads - 1))
            self._set_aggregate_combo("head")
        self._update_zoom()

    def set_aggregate(self, aggregate: str) -> None:
        if aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate {aggregate!r}")
        self._set_aggregate_combo(aggregate)
        self._update_zoom()

    def _set_aggregate_combo(self, aggregate: str) -> None:
        self.aggregate = aggregate
        index = self.aggregate_combo.findData(aggregate)
        if index != self.aggregate_combo.currentIndex():
            self.aggregate_combo.blockSignals(True)
            self.aggregate_combo.setCurrentIndex(index)
            self.aggregate_combo.blockSignals(False)

    def set_scale(self, scale: str) -> None:
        index = self.scale_combo.findData(scale)
        if index < 0:
            raise ValueError(f"unknown scale {scale!r}")
        if index != self.scale_combo.currentIndex():
            self.scale_combo.setCurrentIndex(index)      # comes back here through the signal
            return
        for widget in (self.grid, self.zoom, self.token_strip):
            widget.set_scale(scale)

    def _on_cell_clicked(self, layer: int, head: int) -> None:
        self.select(layer, head)

    # -- query highlight --------------------------------------------------------------------
    def _on_query_hovered(self, query: int) -> None:
        self._highlight(query if query >= 0 else self._pinned_query)

    def _on_query_clicked(self, query: int) -> None:
        self._pinned_query = -1 if query == self._pinned_query else query
        self._highlight(self._pinned_query)

    def highlight_query(self, query: int) -> None:
        """What hovering token `query` does: tint the strip with its row of the current matrix."""
        self._highlight(query)

    def _highlight(self, query: int) -> None:
        matrix = self.matrix()
        if matrix is None or not 0 <= query < matrix.shape[0]:
            self.token_strip.highlight(-1, None)
            self.zoom.mark_row(-1)
            return
        row = matrix[query]
        if self.comparison is not None:  # a change of either sign lights its token by its size
            row = np.abs(row) / max(float(np.abs(matrix).max()), 1e-9)
        self.token_strip.highlight(query, row)
        self.zoom.mark_row(query)

    # -- export -----------------------------------------------------------------------------
    def export_png(self, path) -> Path:
        if self.result is None:
            raise ValueError("nothing to export yet")
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        title = f"{Path(self.model).stem} · {self.title()}" if self.model else self.title()
        image = self.zoom.render_image(title=title)
        if image.isNull() or not image.save(str(path), "PNG"):
            raise OSError(self.tr("Could not write {path}").format(path=path))
        return path

    def export_npz(self, path) -> Path:
        if self.result is None:
            raise ValueError("nothing to export yet")
        path = Path(path)
        if path.suffix.lower() != ".npz":
            path = path.with_suffix(".npz")
        return Path(self.result.save_npz(path))

    def _default_name(self, suffix: str) -> str:
        base = Path(self.model).stem if self.model else "attention"
        if suffix == ".png":
            part = {"all": "mean", "layer": f"L{self.layer + 1}-mean"}.get(
                self.aggregate, f"L{self.layer + 1}-H{self.head + 1}")
            return str(Path.home() / f"{base}-attention-{part}.png")
        return str(Path.home() / f"{base}-attention.npz")

    def _ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Export heatmap"), self._default_name(".png"),
                                              self.tr("PNG images (*.png)"))
        if path:
            self._export(self.export_png, path)

    def _ask_export_npz(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Export attention weights"),
                                              self._default_name(".npz"), self.tr("NumPy archives (*.npz)"))
        if path:
            self._export(self.export_npz, path)

    def _export(self, fn, path: str) -> None:
        try:
            written = fn(path)
        except (OSError, ValueError) as exc:
            self.show_note(self.tr("Export failed: {error}").format(error=exc), "error")
            return
        self.show_note(self.tr("Saved {path}").format(path=written))
