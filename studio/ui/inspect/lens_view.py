"""Inspect › Next token › Logit lens: one painted grid of what each layer would predict.

Left block: rows = layers (embeddings at the bottom, the model's output at the top, the way the
answer "rises" through the network), columns = the last prompt positions, each cell the top-1
token decoded from that layer's hidden state, coloured by its probability. Right block: the last
position's top 5 per layer. The view builds the cells; this widget lays them out and paints.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import (QCheckBox, QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea, QSizePolicy,
                               QToolTip, QVBoxLayout, QWidget)

from studio.core.errors import StudioError
from studio.core.workers.protocol import WorkerError
from studio.ui.inspect.analyser_status import failure_note, show_fraction, stage_text
from studio.ui.inspect.bars import (group_chosen, percent, set_note, visible_piece,
                                    visible_text)
from studio.ui.tasks import in_thread, spawn
from studio.ui.theme import ChartPalette, mix_colours, styled, theme_watcher

LENS_POSITIONS = 16       # the grid shows the last this many positions
LENS_TOP_K = 5
LENS_MAX_TOKENS = 2048


@dataclass
class LensCell:
    id: int
    text: str          # the piece with whitespace visible
    prob: float
    tooltip: str = ""
    match: bool = False   # the same token as the model's final prediction: outlined


class LensGrid(QWidget):
    GAP = 16           # between the positions block and the top-5 block
    MIN_COL = 42
    MAX_COL = 96
    TOP_COL = 62

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LogitLensGrid")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.row_labels: list[str] = []
        self.position_labels: list[str] = []
        self.cells: list[list[LensCell]] = []        # [row][position]
        self.last_cells: list[list[LensCell]] = []   # [row][rank]
        self.titles = ("", "")
        self.axis_note = ""
        self.legend = ""
        self.hint = ""
        self._hover: tuple[str, int, int] | None = None
        self._colours = ChartPalette()
        self._small = QFont(self.font())
        self._small.setPointSizeF(max(7.5, self.font().pointSizeF() * 0.9))
        self._bold = QFont(self._small)
        self._bold.setBold(True)
        # A bound method (not a lambda): Qt drops the connection when this widget is deleted.
        theme_watcher().changed.connect(self._recolour)

    def _recolour(self) -> None:
        self._colours.refresh()
        self.update()

    # -- data -------------------------------------------------------------------------------
    def set_data(self, row_labels: list[str], position_labels: list[str], cells: list[list[LensCell]],
                 last_cells: list[list[LensCell]], *, titles: tuple[str, str] = ("", ""),
                 axis_note: str = "", legend: str = "") -> None:
        """Rows top to bottom as shown; cells[row][column], last_cells[row][rank]."""
        self.row_labels = list(row_labels)
        self.position_labels = list(position_labels)
        self.cells = [list(r) for r in cells]
        self.last_cells = [list(r) for r in last_cells]
        self.titles = titles
        self.axis_note = axis_note
        self.legend = legend
        self._hover = None
        self.updateGeometry()
        self.update()

    def clear(self, hint: str = "") -> None:
        self.hint = hint
        self.set_data([], [], [], [])

    @property
    def n_rows(self) -> int:
        return len(self.row_labels)

    @property
    def n_positions(self) -> int:
        return len(self.position_labels)

    @property
    def n_ranks(self) -> int:
        return max((len(r) for r in self.last_cells), default=0)

    # -- geometry ---------------------------------------------------------------------------
    def _fm(self) -> QFontMetrics:
        return QFontMetrics(self._small)

    def cell_height(self) -> int:
        return self._fm().height() + 3

    def _label_width(self) -> int:
        fm = self._fm()
        widest = max((fm.horizontalAdvance(t) for t in [*self.row_labels, self.axis_note]), default=60)
        return widest + 12

    def _header_height(self) -> int:
        return self._fm().height() + 10

    def _footer_height(self) -> int:
        return 2 * (self._fm().height() + 8)

    def _column_width(self) -> int:
        if not self.n_positions:
            return self.MIN_COL
        room = self.width() - self._label_width() - self.GAP - self.n_ranks * self.TOP_COL - 8
        return int(max(self.MIN_COL, min(self.MAX_COL, room // self.n_positions)))

    def sizeHint(self) -> QSize:
        width = self._label_width() + self.n_positions * 64 + self.GAP + self.n_ranks * self.TOP_COL + 8
        return QSize(max(width, 300), self._header_height() + self.n_rows * self.cell_height()
                     + self._footer_height() + 4)

    def minimumSizeHint(self) -> QSize:
        if not self.n_rows:
            return QSize(200, 80)
        width = self._label_width() + self.n_positions * self.MIN_COL + self.GAP + self.n_ranks * self.TOP_COL + 8
        return QSize(width, self.sizeHint().height())

    def cell_rect(self, block: str, row: int, column: int) -> QRect:
        """block "pos" (positions) or "last" (top-k at the last position)."""
        h = self.cell_height()
        y = self._header_height() + row * h
        left = self._label_width()
        if block == "pos":
            w = self._column_width()
            return QRect(left + column * w, y, w, h)
        start = left + self.n_positions * self._column_width() + self.GAP
        return QRect(start + column * self.TOP_COL, y, self.TOP_COL, h)

    def cell_at(self, pos: QPoint) -> tuple[str, int, int] | None:
        h = self.cell_height()
        row = (pos.y() - self._header_height()) // h if pos.y() >= self._header_height() else -1
        if not 0 <= row < self.n_rows:
            return None
        left = self._label_width()
        w = self._column_width()
        if left <= pos.x() < left + self.n_positions * w:
            return "pos", int(row), (pos.x() - left) // w
        start = left + self.n_positions * w + self.GAP
        rank = (pos.x() - start) // self.TOP_COL if pos.x() >= start else -1
        if 0 <= rank < len(self.last_cells[row]):
            return "last", int(row), int(rank)
        return None

    def cell(self, block: str, row: int, column: int) -> LensCell:
        return (self.cells if block == "pos" else self.last_cells)[row][column]

    # -- painting ---------------------------------------------------------------------------
    def colour(self, prob: float) -> QColor:
        c = self._colours
        # sqrt: a 10 % guess is already visibly tinted, as the eye reads those as "a real candidate".
        return mix_colours(c.base, c.bar, 0.08 + 0.92 * max(0.0, min(1.0, prob)) ** 0.5)

    def paintEvent(self, _event) -> None:
        c = self._colours
        painter = QPainter(self)
        painter.fillRect(self.rect(), c.base)
        if not self.n_rows:
            painter.setPen(c.dim)
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.hint)
            return
        fm = self._fm()
        painter.setFont(self._small)
        header = self._header_height()
        label_w = self._label_width()
        col_w = self._column_width()
        h = self.cell_height()
        grid_bottom = header + self.n_rows * h
        last_left = label_w + self.n_positions * col_w + self.GAP

        # Titles over both blocks and the axis note over the row labels.
        painter.setFont(self._bold)
        painter.setPen(c.text)
        painter.drawText(QRect(label_w, 0, self.n_positions * col_w, header - 2),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(self.titles[0], Qt.TextElideMode.ElideRight, self.n_positions * col_w))
        painter.drawText(QRect(last_left, 0, self.n_ranks * self.TOP_COL + 40, header - 2),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.titles[1])
        painter.setFont(self._small)
        painter.setPen(c.dim)
        painter.drawText(QRect(2, 0, label_w - 8, header - 2),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self.axis_note)

        for row, label in enumerate(self.row_labels):
            y = header + row * h
            painter.setPen(c.text)
            painter.drawText(QRect(2, y, label_w - 8, h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             label)
            for column, cell in enumerate(self.cells[row] if row < len(self.cells) else []):
                self._paint_cell(painter, fm, self.cell_rect("pos", row, column), cell,
                                 self._hover == ("pos", row, column))
            for rank, cell in enumerate(self.last_cells[row] if row < len(self.last_cells) else []):
                self._paint_cell(painter, fm, self.cell_rect("last", row, rank), cell,
                                 self._hover == ("last", row, rank))

        # Footer: token labels under the positions, rank numbers under the top-5 block.
        painter.setFont(self._small)
        label_h = fm.height() + 8
        for column, text in enumerate(self.position_labels):
            rect = QRect(label_w + column * col_w, grid_bottom + 2, col_w, label_h)
            painter.setPen(c.text)
            painter.drawText(rect.adjusted(2, 0, -2, 0), Qt.AlignmentFlag.AlignCenter,
                             fm.elidedText(text, Qt.TextElideMode.ElideRight, col_w - 4))
        for rank in range(self.n_ranks):
            rect = QRect(last_left + rank * self.TOP_COL, grid_bottom + 2, self.TOP_COL, label_h)
            painter.setPen(c.dim)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"#{rank + 1}")

        # Legend: the colour ramp with its ends.
        y = grid_bottom + 2 + label_h
        painter.setPen(c.dim)
        legend_w = fm.horizontalAdvance(self.legend) + 8
        painter.drawText(QRect(label_w, y, legend_w, label_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         self.legend)
        ramp = QRect(label_w + legend_w + fm.horizontalAdvance("0%") + 6, y + 5, 140, label_h - 10)
        painter.drawText(QRect(label_w + legend_w, y, fm.horizontalAdvance("0%") + 4, label_h),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "0%")
        gradient = QLinearGradient(ramp.left(), 0, ramp.right(), 0)
        for stop in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0):
            gradient.setColorAt(stop, self.colour(stop))
        painter.fillRect(ramp, gradient)
        painter.setPen(QPen(c.mid, 1))
        painter.drawRect(ramp)
        painter.setPen(c.dim)
        painter.drawText(QRect(ramp.right() + 6, y, 60, label_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         "100%")

    def _paint_cell(self, painter: QPainter, fm: QFontMetrics, rect: QRect, cell: LensCell, hover: bool) -> None:
        c = self._colours
        fill = self.colour(cell.prob)
        painter.fillRect(rect.adjusted(0, 0, -1, -1), fill)
        if cell.match or hover:
            colour = c.highlight if hover else c.drawn
            painter.setPen(QPen(colour, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(rect).adjusted(1, 1, -2, -2))
        # Text that stays readable on both ends of the ramp.
        painter.setPen(QColor(255, 255, 255) if fill.lightness() < 140 else QColor(20, 20, 20))
        painter.setFont(self._bold if cell.match else self._small)
        painter.drawText(rect.adjusted(3, 0, -3, 0), Qt.AlignmentFlag.AlignCenter,
                         fm.elidedText(cell.text, Qt.TextElideMode.ElideRight, rect.width() - 6))
        painter.setFont(self._small)

    # -- hover ------------------------------------------------------------------------------
    def mouseMoveEvent(self, event) -> None:
        hit = self.cell_at(event.position().toPoint())
        if hit != self._hover:
            self._hover = hit
            self.update()
        if hit is not None:
            QToolTip.showText(event.globalPosition().toPoint(), self.cell(*hit).tooltip, self,
                              self.cell_rect(*hit))
        else:
            QToolTip.hideText()

    def leaveEvent(self, _event) -> None:
        self._hover = None
        self.update()


class LensPanel(QWidget):
    """"Run logit lens", its progress and Cancel, a note (unsupported architecture, where the answer
    settles) and the grid. The owner says what to analyse: compute(model, params)."""

    def __init__(self, inspector, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LogitLensPanel")
        self.inspector = inspector
        self.busy = False
        self.result: dict | None = None
        self.comparison = None   # LensComparison when the last run compared with the base model
        self._cancelled = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        title = QLabel(self.tr("Logit lens"), self)
        styled(title, "TrainStage")
        self.button = QPushButton(self.tr("Run logit lens"), self)
        self.button.setObjectName("RunLogitLens")
        self.button.setToolTip(self.tr("Decode every layer's hidden state with the model's final norm and output "
                                       "matrix: watch the answer form layer by layer"))
        self.compare_toggle = QCheckBox(self.tr("Compare with the base model"), self)
        self.compare_toggle.setObjectName("LensCompare")
        self.compare_toggle.setToolTip(self.tr("Run the lens with and without the attached adapter and say at which "
                                               "layer the two part"))
        self.compare_toggle.setVisible(False)
        self.cancel_button = QPushButton(self.tr("Cancel"), self)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(220)
        self.stage = QLabel(self)
        styled(self.stage, "Hint")
        row = QHBoxLayout()
        row.addWidget(title)
        row.addSpacing(8)
        row.addWidget(self.button)
        row.addWidget(self.compare_toggle)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress)
        row.addWidget(self.stage)
        row.addStretch(1)
        self.note = QLabel(self)
        self.note.setObjectName("LensNote")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.hide()
        self.grid = LensGrid(self)
        self.area = QScrollArea(self)
        self.area.setWidgetResizable(True)
        self.area.setWidget(self.grid)
        self.area.setFrameShape(QFrame.Shape.StyledPanel)
        layout.addLayout(row)
        layout.addWidget(self.note)
        layout.addWidget(self.area, 1)
        self._set_busy(False)
        self.clear()

    def clear(self) -> None:
        self.result = None
        self.comparison = None
        self.show_note("")
        self.grid.clear(self.tr("Run the logit lens to see the top token each layer would predict, "
                                "for the last {n} positions of the prompt.").format(n=LENS_POSITIONS))

    def show_note(self, text: str, level: str = "info") -> None:
        set_note(self.note, text, level)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.button.setEnabled(not busy)
        self.compare_toggle.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        self.stage.setVisible(busy)

    def refresh_adapters(self, model: str) -> None:
        """Offer the comparison while the engine has adapters attached to `model`."""
        adapters = self.inspector.adapters(model) if model else []
        self.compare_toggle.setVisible(bool(adapters))
        if not adapters:
            self.compare_toggle.setChecked(False)

    async def compute(self, model: str, params: dict) -> bool:
        """params: {"text", "chat"} or {"tokens"} for the inspector's logit_lens; True when shown."""
        if self.busy:
            return False
        compare = self.compare_toggle.isVisible() and self.compare_toggle.isChecked()
        self._cancelled = False
        self.show_note("")
        self._set_busy(True)
        self.progress.setRange(0, 0)
        self.stage.setText(self.tr("Starting…"))
        kw = dict(top_k=LENS_TOP_K, max_tokens=LENS_MAX_TOKENS, positions=LENS_POSITIONS,
                  on_progress=self._on_progress, **params)
        try:
            if "text" in params:
                estimate = await in_thread(self.inspector.plan_lens, model, str(params["text"]),
                                           max_tokens=LENS_MAX_TOKENS, positions=LENS_POSITIONS)
                refusal = self.inspector.refusal(estimate)
                if refusal:
                    self.show_note(refusal, "warning")
                    return False
                self.stage.setText(estimate.sentence())
            if compare:
                comparison = await self.inspector.compare_lens(model, **kw)
                result = comparison.tuned
            else:
                comparison = None
                result = await self.inspector.logit_lens(model, **kw)
        except WorkerError as exc:
            self.show_note(*failure_note(exc, self._cancelled,
                                         self.tr("The logit lens could not be computed: {error}")))
            return False
        except StudioError as exc:   # the engine is busy, the model could not be loaded
            self.show_note(exc.message, "warning")
            return False
        finally:
            self._set_busy(False)
        if self._cancelled:
            self.show_note(self.tr("Cancelled; nothing was computed."))
            return False
        self.result = result
        self.comparison = comparison
        groups = [*(result.get("top1") or []), *(result.get("last") or [])]
        if comparison is not None:
            groups += [*(comparison.base.get("top1") or []), *(comparison.base.get("last") or [])]
        ids = {int(t["id"]) for group in groups for t in group}
        ids.update(int(i) for i in result.get("ids") or [])
        self.show(result, await in_thread(_pieces, model, sorted(ids)))
        return True

    def cancel(self) -> None:
        if not self.busy:
            return
        self._cancelled = True
        self.stage.setText(self.tr("Cancelling…"))
        self.cancel_button.setEnabled(False)
        spawn(self.inspector.cancel(), on_error=lambda exc: self.show_note(str(exc), "error"))

    def _on_progress(self, fraction, stage: str = "") -> None:
        if not self.busy or self._cancelled:
            return
        show_fraction(self.progress, fraction)
        self.stage.setText(stage_text(stage, self.tr("Running the model…")))

    async def shutdown(self) -> None:
        if self.busy:
            self._cancelled = True
            try:
                await self.inspector.cancel()
            except WorkerError:
                pass

    def layer_name(self, name: str, index: int, count: int) -> str:
        if index == 0 or name == "embeddings":
            return self.tr("embeddings")
        text = self.tr("layer {n}").format(n=index)
        return self.tr("{layer} · output").format(layer=text) if index == count - 1 else text

    def show(self, result: dict, pieces: dict[int, bytes] | None = None) -> None:
        names = list(result.get("layer_names") or [])
        top1 = result.get("top1") or []
        last = result.get("last") or []
        labels = [str(label) for label in result.get("labels") or []]
        final = (result.get("final") or [{}])[0]
        final_id = int(final.get("id", -1))
        n_pos = len(labels)
        start = max(0, n_pos - LENS_POSITIONS)
        first = int(result.get("first_position") or 0)  # the worker sends top-1 rows from here on
        count = len(names)
        pieces = pieces or {}
        comparison = self.comparison if self.comparison is not None and self.comparison.tuned is result else None
        base_top1 = comparison.base.get("top1") if comparison is not None else None

        def shown(t: dict) -> str:
            # The tokenizer's bytes say more than the worker's text for a piece that is part of a
            # character (‹e5› rather than �).
            raw = pieces.get(int(t["id"]))
            return visible_piece(raw) if raw else visible_text(str(t["piece"]))

        rows, cells, last_cells = [], [], []
        for entry in reversed(range(count)):      # the output on top, the embeddings at the bottom
            layer = self.layer_name(names[entry], entry, count)
            rows.append(layer)
            row = []
            for pos in range(start, n_pos):
                t = top1[entry][pos - first]
                tip = self.tr("{layer} · after {token} (position {pos})\ntop-1 {piece} · id {id} · {prob}").format(
                    layer=layer, token=labels[pos], pos=pos + 1, piece=repr(t["piece"]), id=t["id"],
                    prob=percent(float(t["prob"])))
                if base_top1:
                    b = base_top1[entry][pos - first]
                    tip += "\n" + self.tr("base model: {piece} · {prob}").format(piece=repr(b["piece"]),
                                                                                prob=percent(float(b["prob"])))
                row.append(LensCell(int(t["id"]), shown(t), float(t["prob"]), tip,
                                    match=pos == n_pos - 1 and int(t["id"]) == final_id))
            cells.append(row)
            last_cells.append([LensCell(int(t["id"]), shown(t), float(t["prob"]),
                                        self.tr("{layer} · last position · #{rank}\n{piece} · id {id} · {prob}").format(
                                            layer=layer, rank=rank + 1, piece=repr(t["piece"]), id=t["id"],
                                            prob=percent(float(t["prob"]))),
                                        match=int(t["id"]) == final_id)
                               for rank, t in enumerate(last[entry] if entry < len(last) else [])])
        ids = [int(i) for i in result.get("ids") or []]
        if len(ids) == n_pos and all(i in pieces for i in ids):
            labels = _position_labels([pieces[i] for i in ids])
        n_shown = n_pos - start
        self.grid.set_data(
            rows, labels[start:], cells, last_cells,
            titles=(self.tr("Top-1 token each layer predicts after each of the last {n} tokens").format(n=n_shown),
                    self.tr("Last position: top {k}").format(k=LENS_TOP_K)),
            axis_note=self.tr("↑ later layers"), legend=self.tr("Probability"))
        notes = []
        settled = self._settled_layer(last, final_id)
        if settled is not None and final:
            piece = repr(shown(final).replace("␣", " "))
            if settled == count - 1:
                notes.append(self.tr("The model's prediction {piece} only becomes the top token at the last "
                                     "layer.").format(piece=piece))
            else:
                notes.append(self.tr("The model's prediction {piece} is the top token from {layer} on.").format(
                    piece=piece, layer=self.layer_name(names[settled], settled, count)))
        if comparison is not None:
            notes.append(self._parting_note(comparison, count, names, shown))
        truncated = result.get("truncated_from")
        if truncated:
            notes.append(self.tr("Only the first {shown} of {total} tokens were analysed.").format(
                shown=n_pos, total=truncated))
        self.show_note(" ".join(notes))

    def _parting_note(self, comparison, count: int, names: list, shown) -> str:
        """Where the adapted model's lens parts from the base model's, as a sentence."""
        parting = comparison.parting
        base_last = comparison.base.get("last") or []
        tuned_last = comparison.tuned.get("last") or []

        def top(rows: list) -> str:
            return repr(shown(rows[-1][0]).replace("␣", " ")) if rows and rows[-1] else "?"
        if parting.parts_at is None:
            layer = max(range(len(parting.shift)), key=lambda i: parting.shift[i]) if parting.shift else 0
            return self.tr("With the adapter the model still predicts {piece}; the two lenses differ at {n} of {count} "
                           "layers, most at {layer} (the base model's top token moves by {change}).").format(
                piece=top(tuned_last), n=sum(parting.differs), count=count,
                layer=self.layer_name(names[layer], layer, count), change=percent(max(parting.shift or [0.0])))
        at = parting.parts_at
        return self.tr("The adapter changes the prediction from {base} to {tuned}: the two lenses part at {layer} "
                       "and stay apart up to the output.").format(
            base=top(base_last), tuned=top(tuned_last), layer=self.layer_name(names[at], at, count))

    @staticmethod
    def _settled_layer(last: list, final_id: int) -> int | None:
        """The first layer from which the final prediction stays the top-1 at the last position."""
        settled = None
        for entry in reversed(range(len(last))):
            if last[entry] and int(last[entry][0]["id"]) == final_id:
                settled = entry
            else:
                break
        return settled


def _position_labels(pieces: list[bytes]) -> list[str]:
    """One label per token; tokens whose bytes only together form a character (split CJK) label
    the first with the character and the rest "…", as the Tokens view does."""
    chips = group_chosen([(i, piece, 0.0) for i, piece in enumerate(pieces)])
    labels: list[str] = []
    for chip in chips:
        labels.append(chip.text)
        labels.extend("…" for _ in chip.tokens[1:])
    return labels


def _pieces(model: str, ids: list[int]) -> dict[int, bytes]:
    """The tokens' raw bytes from the model's own (llama.cpp) vocabulary; {} when it cannot be read
    (an HF folder): the worker's decoded text is shown then."""
    if not str(model).lower().endswith(".gguf"):
        return {}
    try:
        from studio.core.inspect.tokens import open_tokenizer
        tokenizer = open_tokenizer(model)
        return {i: tokenizer.piece(i) for i in ids}
    except (StudioError, OSError, ValueError):
        return {}
