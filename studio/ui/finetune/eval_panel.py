"""Fine-tune › Evaluate: did the adapter help?

Perplexity on the run's validation examples with the adapter detached (base) and attached
(tuned), and the same prompts answered by both, side by side. Everything runs in the engine
worker (EngineClient.perplexity / generate with set_lora); the adapters attached in Chat are put
back afterwards.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPlainTextEdit, QProgressBar, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from studio.ui.widgets.banner import Banner
from studio.ui.theme import styled

MAX_PPL_TEXTS = 64


class EvalPanel(QWidget):
    perplexity_requested = Signal(object)        # RunSummary
    compare_requested = Signal(object, list, int)  # RunSummary, prompts, max tokens
    stop_requested = Signal()
    prompts_wanted = Signal(object)              # fill the prompts from the run's validation data

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("EvalPanel")
        self.runs: list = []
        self.busy = False
        self.banner = Banner(self)

        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Run:"), self))
        self.run_combo = QComboBox(self)
        self.run_combo.setObjectName("EvalRunCombo")
        self.run_combo.setMinimumContentsLength(36)
        self.run_combo.currentIndexChanged.connect(self._run_changed)
        top.addWidget(self.run_combo, 1)
        self.run_hint = QLabel(self)
        styled(self.run_hint, "Hint")
        top.addWidget(self.run_hint, 2)

        # -- perplexity -----------------------------------------------------------------------
        ppl_box = QGroupBox(self.tr("Perplexity on the validation set (lower is better)"), self)
        grid = QGridLayout(ppl_box)
        self.ppl_button = QPushButton(self.tr("Compute"), ppl_box)
        self.ppl_button.setObjectName("ComputePerplexity")
        self.ppl_button.clicked.connect(lambda: self._emit_run(self.perplexity_requested))
        self.ppl_progress = QProgressBar(ppl_box)
        self.ppl_progress.setRange(0, 1000)
        self.ppl_stop = QPushButton(self.tr("Cancel"), ppl_box)
        self.ppl_stop.clicked.connect(self.stop_requested)
        self.base_ppl = QLabel("—", ppl_box)
        self.tuned_ppl = QLabel("—", ppl_box)
        self.change_ppl = QLabel("—", ppl_box)
        for label in (self.base_ppl, self.tuned_ppl, self.change_ppl):
            label.setObjectName("PerplexityValue")
            font = label.font()
            font.setBold(True)
            font.setPointSizeF(font.pointSizeF() * 1.2)
            label.setFont(font)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.ppl_note = QLabel(ppl_box)
        styled(self.ppl_note, "Hint")
        self.ppl_note.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.ppl_button)
        buttons.addWidget(self.ppl_progress, 1)
        buttons.addWidget(self.ppl_stop)
        values = QHBoxLayout()
        for name, label in ((self.tr("Base:"), self.base_ppl), (self.tr("Tuned:"), self.tuned_ppl),
                            (self.tr("Change:"), self.change_ppl)):
            values.addWidget(QLabel(name, ppl_box))
            values.addWidget(label)
            values.addSpacing(28)
        values.addStretch(1)
        grid.addLayout(buttons, 0, 0)
        grid.addLayout(values, 1, 0)
        grid.addWidget(self.ppl_note, 2, 0)

        # -- side by side ---------------------------------------------------------------------
        cmp_box = QGroupBox(self.tr("Answers side by side"), self)
        cmp_layout = QVBoxLayout(cmp_box)
        self.prompts = QPlainTextEdit(cmp_box)
        self.prompts.setObjectName("EvalPrompts")
        self.prompts.setPlaceholderText(self.tr("One prompt per line"))
        self.prompts.setFixedHeight(80)
        row = QHBoxLayout()
        self.fill_button = QPushButton(self.tr("Use validation prompts"), cmp_box)
        self.fill_button.setToolTip(self.tr("Fill in the first prompts of the run's validation examples"))
        self.fill_button.clicked.connect(lambda: self._emit_run(self.prompts_wanted))
        self.max_tokens = QSpinBox(cmp_box)
        self.max_tokens.setRange(8, 4096)
        self.max_tokens.setValue(96)
        self.compare_button = QPushButton(self.tr("Compare"), cmp_box)
        self.compare_button.setObjectName("CompareAnswers")
        self.compare_button.clicked.connect(self._compare)
        self.stop_button = QPushButton(self.tr("Stop"), cmp_box)
        self.stop_button.clicked.connect(self.stop_requested)
        self.cmp_status = QLabel(cmp_box)
        styled(self.cmp_status, "Hint")
        row.addWidget(self.fill_button)
        row.addWidget(QLabel(self.tr("Max tokens"), cmp_box))
        row.addWidget(self.max_tokens)
        row.addWidget(self.compare_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.cmp_status, 1)
        self.answers = QTableWidget(0, 3, cmp_box)
        self.answers.setObjectName("AnswersTable")
        self.answers.setHorizontalHeaderLabels([self.tr("Prompt"), self.tr("Base"), self.tr("Tuned")])
        self.answers.verticalHeader().hide()
        self.answers.setWordWrap(True)
        self.answers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.answers.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.answers.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        cmp_layout.addWidget(self.prompts)
        cmp_layout.addLayout(row)
        cmp_layout.addWidget(self.answers, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.banner)
        layout.addLayout(top)
        layout.addWidget(ppl_box)
        layout.addWidget(cmp_box, 1)

        self._pending: dict[tuple[int, int], str] = {}
        self._timer = QTimer(self)  # streamed answers are written into the table at most 10 times a second
        self._timer.setSingleShot(True)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.flush)
        self.set_busy(False)

    # -- runs -------------------------------------------------------------------------------
    def set_runs(self, runs: list) -> None:
        current = self.selected()
        keep = current.path if current else ""
        self.runs = [r for r in runs if r.gguf_adapter]
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for run in self.runs:
            self.run_combo.addItem(run.name, run.path)
            self.run_combo.setItemData(self.run_combo.count() - 1, run.gguf_adapter, Qt.ItemDataRole.ToolTipRole)
        if not self.runs:
            self.run_combo.addItem(self.tr("No run with a GGUF adapter yet"), "")
        index = self.run_combo.findData(keep) if keep else 0
        self.run_combo.setCurrentIndex(max(0, index))
        self.run_combo.blockSignals(False)
        self._run_changed()

    def select_path(self, path: str) -> None:
        index = self.run_combo.findData(path)
        if index >= 0:
            self.run_combo.setCurrentIndex(index)

    def selected(self):
        path = self.run_combo.currentData() if self.run_combo.count() else ""
        return next((r for r in self.runs if r.path == path), None)

    def _run_changed(self, *_args) -> None:
        run = self.selected()
        if run is None:
            self.run_hint.setText("")
        else:
            self.run_hint.setText(self.tr("Base model: {name}").format(name=Path(run.base_model).name))
            self.run_hint.setToolTip(run.base_model)
        self._update_buttons()

    def _emit_run(self, signal) -> None:
        run = self.selected()
        if run is not None:
            signal.emit(run)

    def _compare(self) -> None:
        run = self.selected()
        prompts = [line.strip() for line in self.prompts.toPlainText().splitlines() if line.strip()]
        if run is None:
            return
        if not prompts:
            self.banner.show_message(self.tr("Write at least one prompt (one per line), or use the validation "
                                             "prompts."), "info")
            return
        self.compare_requested.emit(run, prompts, self.max_tokens.value())

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._update_buttons()
        self.ppl_stop.setEnabled(busy)
        self.stop_button.setEnabled(busy)

    def _update_buttons(self) -> None:
        usable = self.selected() is not None and not self.busy
        self.ppl_button.setEnabled(usable)
        self.compare_button.setEnabled(usable)
        self.fill_button.setEnabled(usable)

    # -- results ----------------------------------------------------------------------------
    def set_prompts(self, prompts: list[str]) -> None:
        self.prompts.setPlainText("\n".join(p.replace("\n", " ") for p in prompts))

    def show_perplexity(self, base: dict | None, tuned: dict | None, n_texts: int = 0) -> None:
        def value(result: dict | None) -> str:
            return "—" if not result or result.get("ppl") is None else f"{float(result['ppl']):.3f}"

        self.base_ppl.setText(value(base))
        self.tuned_ppl.setText(value(tuned))
        if base and tuned and base.get("ppl") and tuned.get("ppl") is not None:
            change = (float(tuned["ppl"]) - float(base["ppl"])) / float(base["ppl"]) * 100.0
            self.change_ppl.setText(f"{change:+.1f}%")
        else:
            self.change_ppl.setText("—")
        if base or tuned:
            tokens = (base or tuned or {}).get("tokens") or 0
            self.ppl_note.setText(self.tr("Scored on {n} validation example(s), {tokens} tokens, rendered with the "
                                          "base model's chat template.").format(n=n_texts, tokens=f"{int(tokens):,}"))

    def set_ppl_progress(self, fraction: float, text: str = "") -> None:
        self.ppl_progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        self.ppl_progress.setFormat(text or "%p%")

    def start_answers(self, prompts: list[str]) -> None:
        self._pending.clear()
        self.answers.setRowCount(len(prompts))
        for row, prompt in enumerate(prompts):
            self.answers.setItem(row, 0, QTableWidgetItem(prompt))
            self.answers.setItem(row, 1, QTableWidgetItem(""))
            self.answers.setItem(row, 2, QTableWidgetItem(""))
        self.answers.resizeRowsToContents()

    def append_answer(self, row: int, column: int, text: str) -> None:
        self._pending[(row, column)] = self._pending.get((row, column), "") + text
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        self._timer.stop()
        if not self._pending:
            return
        for (row, column), text in self._pending.items():
            item = self.answers.item(row, column)
            if item is not None:
                item.setText(item.text() + text)
        self._pending.clear()
        self.answers.resizeRowsToContents()

    def answer(self, row: int, column: int) -> str:
        self.flush()
        item = self.answers.item(row, column)
        return item.text() if item else ""


__all__ = ["EvalPanel"]
