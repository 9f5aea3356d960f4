"""Fine-tune › Data: the dataset files, what the scan found in them, and how the model will see them.

Every scan runs in the dataset worker (DatasetClient); this panel shows its report: per-file
format and encoding (with an override), a column mapping for tables with unusual headers, the
validation split, counts, rendered examples, a token-length histogram and the problems list.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QTextCursor
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QDoubleSpinBox, QFileDialog,
                               QFrame, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPlainTextEdit, QProgressBar, QPushButton, QRadioButton, QSplitter,
                               QTableView, QTableWidget, QTableWidgetItem, QTextEdit, QVBoxLayout, QWidget)

from studio.core.workers.protocol import WorkerError
from studio.core.errors import user_message
from studio.ui.finetune import DATASET_SUFFIXES
from studio.ui.finetune.charts import HistogramChart
from studio.ui.finetune.preview_model import PreviewModel, location
from studio.ui.tasks import in_thread, spawn
from studio.ui.widgets.banner import Banner
from studio.ui.widgets.model_picker import format_size
from studio.ui.theme import styled

AUTO = ""
PREVIEW_ROWS = 200
MAPPING_FIELDS = ("instruction", "input", "output", "system", "prompt", "completion", "text")
TABLE_CONTAINERS = ("csv", "tsv", "json", "jsonl")


def _utf16(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


class DropZone(QFrame):
    """The dashed "drop files here" area with its buttons (the window handles the drop itself)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        styled(self, "DropZone")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        self.label = QLabel(self.tr("Drop dataset files here (.jsonl .json .csv .tsv .txt), several at once, "
                                    "or"), self)
        self.label.setWordWrap(True)
        self.add_button = QPushButton(self.tr("Add files…"), self)
        self.remove_button = QPushButton(self.tr("Remove"), self)
        self.remove_button.setToolTip(self.tr("Remove the selected file from the dataset"))
        self.clear_button = QPushButton(self.tr("Clear"), self)
        row.addWidget(self.label, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addWidget(self.clear_button)


class MappingEditor(QGroupBox):
    """Which column of a CSV/TSV/JSON file holds the instruction, the answer, …"""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Column mapping"), parent)
        self.setObjectName("MappingEditor")
        self.path = ""
        outer = QVBoxLayout(self)
        self.note = QLabel(self)
        styled(self.note, "Hint")
        self.note.setWordWrap(True)
        outer.addWidget(self.note)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        self.combos: dict[str, QComboBox] = {}
        labels = {"instruction": self.tr("Instruction"), "input": self.tr("Input"), "output": self.tr("Output"),
                  "system": self.tr("System"), "prompt": self.tr("Prompt"), "completion": self.tr("Completion"),
                  "text": self.tr("Text")}
        for i, name in enumerate(MAPPING_FIELDS):
            combo = QComboBox(self)
            combo.setMinimumContentsLength(10)
            combo.activated.connect(lambda _i: self.changed.emit())
            self.combos[name] = combo
            row, col = divmod(i, 4)
            grid.addWidget(QLabel(labels[name], self), row, col * 2, Qt.AlignmentFlag.AlignRight)
            grid.addWidget(combo, row, col * 2 + 1)
        outer.addLayout(grid)

    def set_columns(self, path: str, columns: list[str], mapping: dict | None) -> None:
        self.path = path
        self.setTitle(self.tr("Column mapping — {file}").format(file=os.path.basename(path)))
        self.note.setText(self.tr("The field names are not a standard format: choose which column holds what. "
                                  "Leave a field at “—” when the file has no such column."))
        for name, combo in self.combos.items():
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("—", "")
            for column in columns:
                combo.addItem(column, column)
            chosen = (mapping or {}).get(name) or ""
            combo.setCurrentIndex(max(0, combo.findData(chosen)))
            combo.blockSignals(False)

    def mapping(self) -> dict:
        return {name: combo.currentData() or None for name, combo in self.combos.items()}


class DataPanel(QWidget):
    """Signals `changed` whenever the dataset selection (files, split, overrides) changes."""

    changed = Signal()
    scanned = Signal(dict)

    def __init__(self, client, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DataPanel")
        self.client = client              # DatasetClient (its worker does the reading)
        self.paths: list[str] = []
        self.guesses: dict[str, object] = {}      # path -> FormatGuess (or an error sentence)
        # The scan reads every file with one format and one column mapping, so the user's choices
        # apply to the whole dataset (each row's combo shows the same override).
        self.format_override = AUTO
        self.mapping: dict | None = None
        self.val_path = ""
        self.model = ""
        self.max_seq_len = 512
        self.report: dict | None = None
        self.scan_count = 0
        self._serial = 0
        self._scanning = False

        self.banner = Banner(self)
        self.drop_zone = DropZone(self)
        self.drop_zone.add_button.clicked.connect(self.choose_files)
        self.drop_zone.remove_button.clicked.connect(self.remove_selected)
        self.drop_zone.clear_button.clicked.connect(self.clear)

        self.files = QTableWidget(0, 6, self)
        self.files.setObjectName("DatasetFiles")
        self.files.setHorizontalHeaderLabels([self.tr("File"), self.tr("Encoding"), self.tr("Format"),
                                              self.tr("Examples"), self.tr("Problems"), self.tr("Size")])
        self.files.verticalHeader().hide()
        self.files.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.files.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.files.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 6):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.files.itemSelectionChanged.connect(self._show_mapping_for_selection)

        self.mapping_editor = MappingEditor(self)
        self.mapping_editor.changed.connect(self._mapping_changed)
        self.mapping_editor.hide()

        split_row = QHBoxLayout()
        self.split_ratio_radio = QRadioButton(self.tr("Hold out"), self)
        self.val_ratio = QDoubleSpinBox(self)
        self.val_ratio.setRange(0.0, 50.0)
        self.val_ratio.setDecimals(1)
        self.val_ratio.setSingleStep(1.0)
        self.val_ratio.setSuffix(" %")
        self.val_ratio.setValue(10.0)
        self.val_ratio.valueChanged.connect(self._settings_changed)
        self.split_file_radio = QRadioButton(self.tr("Validation file:"), self)
        self.val_file_edit = QLineEdit(self)
        self.val_file_edit.setReadOnly(True)
        self.val_file_edit.setPlaceholderText(self.tr("none"))
        self.val_file_button = QPushButton(self.tr("Choose…"), self)
        self.val_file_button.clicked.connect(self.choose_val_file)
        group = QButtonGroup(self)
        group.addButton(self.split_ratio_radio)
        group.addButton(self.split_file_radio)
        self.split_ratio_radio.setChecked(True)
        self.split_ratio_radio.toggled.connect(self._settings_changed)
        split_row.addWidget(QLabel(self.tr("Validation:"), self))
        split_row.addWidget(self.split_ratio_radio)
        split_row.addWidget(self.val_ratio)
        split_row.addWidget(QLabel(self.tr("of the examples, or"), self))
        split_row.addWidget(self.split_file_radio)
        split_row.addWidget(self.val_file_edit, 1)
        split_row.addWidget(self.val_file_button)

        scan_row = QHBoxLayout()
        self.counts = QLabel(self.tr("No dataset yet."), self)
        styled(self.counts, "DatasetCounts")
        self.counts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.progress.setFormat(self.tr("Reading… %p%"))
        self.cancel_button = QPushButton(self.tr("Cancel"), self)
        self.cancel_button.setToolTip(self.tr("Stop reading the dataset"))
        self.cancel_button.clicked.connect(self.cancel_scan)
        scan_row.addWidget(self.counts, 1)
        scan_row.addWidget(self.progress)
        scan_row.addWidget(self.cancel_button)
        self.verdict = QLabel(self)
        styled(self.verdict, "Verdict")
        self.verdict.setWordWrap(True)

        # -- the examples, their lengths and the problems -------------------------------------
        self.preview_model = PreviewModel(self)
        self.preview = QTableView(self)
        self.preview.setObjectName("PreviewTable")
        self.preview.setModel(self.preview_model)
        self.preview.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.preview.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.preview.setWordWrap(False)
        # Elide in the middle: examples often start with the same long system turn, the reply is at the end.
        self.preview.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.preview.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        pheader = self.preview.horizontalHeader()
        pheader.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        pheader.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        pheader.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        pheader.setStretchLastSection(True)
        self.preview.selectionModel().currentRowChanged.connect(lambda current, _prev: self._show_example(current.row()))
        self.full_text = QPlainTextEdit(self)
        self.full_text.setObjectName("ExampleText")
        self.full_text.setReadOnly(True)
        self.full_text.setPlaceholderText(self.tr("Select an example to see all of it, exactly as the model "
                                                  "will be trained on it."))
        self.full_text.setToolTip(self.tr("Highlighted: the tokens the model learns to write (they carry the loss)"))
        preview_box = QGroupBox(self.tr("Examples (rendered with the base model's chat template)"), self)
        preview_layout = QVBoxLayout(preview_box)
        preview_split = QSplitter(Qt.Orientation.Vertical, preview_box)
        preview_split.addWidget(self.preview)
        preview_split.addWidget(self.full_text)
        preview_split.setSizes([300, 140])
        preview_layout.addWidget(preview_split)

        self.histogram = HistogramChart(self)
        self.histogram.setMinimumHeight(150)
        self.truncated_label = QLabel(self)
        self.truncated_label.setObjectName("TruncatedLabel")
        self.truncated_label.setWordWrap(True)
        hist_box = QGroupBox(self.tr("Token lengths"), self)
        hist_layout = QVBoxLayout(hist_box)
        hist_layout.addWidget(self.histogram, 1)
        hist_layout.addWidget(self.truncated_label)

        self.problems = QListWidget(self)
        self.problems.setObjectName("ProblemsList")
        self.problems.setToolTip(self.tr("Double-click a problem to copy it"))
        self.problems.itemDoubleClicked.connect(self._copy_problem)
        self.problems_box = QGroupBox(self.tr("Problems"), self)
        problems_layout = QVBoxLayout(self.problems_box)
        problems_layout.addWidget(self.problems)

        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(hist_box)
        right.addWidget(self.problems_box)
        right.setSizes([260, 180])
        bottom = QSplitter(Qt.Orientation.Horizontal, self)
        bottom.setObjectName("DataSplitter")
        bottom.addWidget(preview_box)
        bottom.addWidget(right)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        bottom.setSizes([700, 430])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.banner)
        layout.addWidget(self.drop_zone)
        layout.addWidget(self.files)
        layout.addWidget(self.mapping_editor)
        layout.addLayout(split_row)
        layout.addLayout(scan_row)
        layout.addWidget(self.verdict)
        layout.addWidget(bottom, 1)

        self._scan_timer = QTimer(self)
        self._scan_timer.setSingleShot(True)
        self._scan_timer.setInterval(300)
        self._scan_timer.timeout.connect(self.rescan)
        self._set_scanning(False)
        self._show_report(None)

    # -- choosing files ---------------------------------------------------------------------
    def choose_files(self) -> None:
        patterns = " ".join(f"*{s}" for s in DATASET_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(self, self.tr("Add dataset files"), str(Path.home()),
                                                self.tr("Datasets ({patterns});;All files (*)").format(
                                                    patterns=patterns))
        if paths:
            self.add_paths(paths)

    def choose_val_file(self) -> None:
        patterns = " ".join(f"*{s}" for s in DATASET_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose a validation file"), str(Path.home()),
                                              self.tr("Datasets ({patterns});;All files (*)").format(
                                                  patterns=patterns))
        if path:
            self.set_val_file(path)

    def set_val_file(self, path: str) -> None:
        self.val_path = os.path.abspath(path) if path else ""
        self.val_file_edit.setText(self.val_path)
        self.val_file_edit.setToolTip(self.val_path)
        if path:
            self.split_file_radio.setChecked(True)
        self._settings_changed()

    def add_paths(self, paths: list[str]) -> None:
        added = []
        for path in paths:
            path = os.path.abspath(path)
            if path not in self.paths:
                self.paths.append(path)
                added.append(path)
        if not added:
            return
        self._fill_files()
        spawn(self._detect(added), on_error=self._unexpected)
        self._settings_changed()

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.files.selectedIndexes()}, reverse=True)
        for row in rows:
            if 0 <= row < len(self.paths):
                path = self.paths.pop(row)
                self.guesses.pop(path, None)
        if rows:
            self._fill_files()
            self._settings_changed()

    def clear(self) -> None:
        self.paths.clear()
        self.guesses.clear()
        self.format_override = AUTO
        self.mapping = None
        self._fill_files()
        self._settings_changed()

    async def _detect(self, paths: list[str]) -> None:
        """Read each new file's head: encoding, container, format and columns, before the scan."""
        from studio.core.datasets import DatasetError, detect_format

        for path in paths:
            try:
                guess = await in_thread(detect_format, path)
            except DatasetError as exc:
                guess = exc.message
            except OSError as exc:
                guess = self.tr("cannot be read: {reason}").format(reason=exc.strerror or exc)
            if path in self.paths:
                self.guesses[path] = guess
        self._fill_files()
        self._show_mapping_for_selection()

    # -- settings that the run config takes -------------------------------------------------
    def data_settings(self) -> dict:
        """The RunConfig fields this panel decides."""
        by_file = self.split_file_radio.isChecked() and self.val_path
        mapping = {k: v for k, v in (self.mapping or {}).items() if v} or None
        return {"data": list(self.paths), "val_data": [self.val_path] if by_file else [],
                "val_ratio": 0.0 if by_file else round(self.val_ratio.value() / 100.0, 4),
                "format": self.format_override or None, "mapping": mapping}

    def set_data_settings(self, data: list[str], val_data: list[str], val_ratio: float, fmt: str | None,
                          mapping: dict | None) -> None:
        """Show a loaded config's dataset choices."""
        self.paths = []
        self.guesses.clear()
        self.format_override = fmt or AUTO
        self.mapping = dict(mapping) if mapping else None
        self.val_ratio.blockSignals(True)
        self.val_ratio.setValue(round(val_ratio * 100.0, 1))
        self.val_ratio.blockSignals(False)
        self.val_path = val_data[0] if val_data else ""
        self.val_file_edit.setText(self.val_path)
        (self.split_file_radio if self.val_path else self.split_ratio_radio).setChecked(True)
        self.add_paths(data)
        self._fill_files()
        self._settings_changed()

    def set_model(self, model: str) -> None:
        if model != self.model:
            self.model = model
            if self.paths:
                self._scan_timer.start()

    def set_max_seq_len(self, n: int) -> None:
        if n != self.max_seq_len:
            self.max_seq_len = n
            self.histogram.set_marker(n, (self.report or {}).get("histogram") or [])
            if self.paths:
                self._scan_timer.start()  # the truncation count comes from the scan

    def _settings_changed(self, *_args) -> None:
        self.val_ratio.setEnabled(self.split_ratio_radio.isChecked())
        self.changed.emit()
        if self.paths:
            self._scan_timer.start()
        else:
            self._serial += 1
            if self._scanning:
                spawn(self.client.cancel())
            self.report = None
            self._show_report(None)

    # -- scanning ---------------------------------------------------------------------------
    def rescan(self) -> None:
        self._scan_timer.stop()
        if self.paths:
            spawn(self.scan(), on_error=self._unexpected)

    async def scan(self) -> dict | None:
        """Scan the files in the dataset worker. Starting a scan cancels the one in flight (the
        client does that), whose result then reads {"cancelled": True} and is ignored."""
        self._serial += 1
        serial = self._serial
        settings = self.data_settings()
        self._set_scanning(True)
        self.progress.setValue(0)
        self.banner.hide()
        params = dict(format=settings["format"], mapping=settings["mapping"], model=self.model or None,
                      max_seq_len=self.max_seq_len, val_paths=settings["val_data"] or None,
                      val_ratio=settings["val_ratio"], preview=PREVIEW_ROWS)
        try:
            report = await self.client.scan(
                list(self.paths), on_progress=lambda f, stage: self._progress(serial, f, stage),
                on_preview=lambda rows: self._early_preview(serial, rows), **params)
        except WorkerError as exc:
            if serial == self._serial:
                self._set_scanning(False)
                self.banner.show_message(self.tr("The dataset could not be read: {reason}").format(
                    reason=exc.message), "error", details=exc.log_tail)
            return None
        if serial != self._serial:
            return None
        self._set_scanning(False)
        if report.get("cancelled"):
            self.verdict.setText(self.tr("Reading the dataset was cancelled."))
            return None
        self.report = report
        self.scan_count += 1
        self._show_report(report)
        self.scanned.emit(report)
        return report

    def _early_preview(self, serial: int, rows: list[dict]) -> None:
        """A big file's first examples show while the rest is still being counted."""
        if serial == self._serial and self._scanning:
            self.preview_model.set_rows(rows, counted=bool(self.model))
            if rows and not self.preview.selectionModel().hasSelection():
                self.preview.selectRow(0)

    def cancel_scan(self) -> None:
        if self._scanning:
            spawn(self.client.cancel())

    def _progress(self, serial: int, fraction: float, stage: str = "") -> None:
        if serial == self._serial:
            self.progress.setValue(int(max(0.0, min(1.0, float(fraction))) * 1000))
            self.progress.setToolTip(stage)

    def _set_scanning(self, on: bool) -> None:
        self._scanning = on
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)

    @property
    def scanning(self) -> bool:
        return self._scanning or self._scan_timer.isActive()

    # -- showing ----------------------------------------------------------------------------
    def _fill_files(self) -> None:
        reports = {os.path.abspath(f.get("path", "")): f for f in (self.report or {}).get("files", [])}
        selected = self.files.currentRow()
        self.files.setRowCount(len(self.paths))
        for row, path in enumerate(self.paths):
            guess = self.guesses.get(path)
            found = reports.get(path, {})
            name = QTableWidgetItem(os.path.basename(path))
            name.setToolTip(path)
            if isinstance(guess, str):
                name.setToolTip(f"{path}\n{guess}")
                name.setForeground(Qt.GlobalColor.red)
            encoding = found.get("encoding") or getattr(guess, "encoding", "") or ""
            container = found.get("container") or getattr(guess, "container", "") or ""
            self.files.setItem(row, 0, name)
            self.files.setItem(row, 1, QTableWidgetItem(encoding))
            detected = found.get("format") or getattr(guess, "format", "") or ""
            self.files.setCellWidget(row, 2, self._format_combo(path, container, detected))
            n_examples = found.get("n_examples")
            n_problems = found.get("n_problems")
            self.files.setItem(row, 3, QTableWidgetItem("" if n_examples is None else f"{n_examples:,}"))
            self.files.setItem(row, 4, QTableWidgetItem("" if n_problems is None else f"{n_problems:,}"))
            size = found.get("size_bytes")
            if size is None:
                try:
                    size = os.path.getsize(path)
                except OSError:
                    size = None
            self.files.setItem(row, 5, QTableWidgetItem("" if size is None else format_size(size)))
        if self.paths:
            self.files.selectRow(min(max(selected, 0), len(self.paths) - 1))
        self.files.setVisible(bool(self.paths))
        rows_height = sum(self.files.rowHeight(r) for r in range(min(len(self.paths), 4)))
        self.files.setFixedHeight(self.files.horizontalHeader().height() + rows_height + 2 * self.files.frameWidth()
                                  + (self.files.horizontalScrollBar().sizeHint().height()
                                     if self.files.horizontalScrollBar().isVisible() else 0))

    def _format_combo(self, path: str, container: str, detected: str) -> QComboBox:
        from studio.core.datasets import FORMAT_TITLES, FORMATS

        combo = QComboBox(self.files)
        label = f"{container} · {detected}" if container and detected else (detected or container or "?")
        combo.addItem(self.tr("{detected} (detected)").format(detected=label), AUTO)
        for fmt in FORMATS:
            combo.addItem(self._format_title(fmt, FORMAT_TITLES.get(fmt, fmt)), fmt)
        combo.setCurrentIndex(max(0, combo.findData(self.format_override)))
        combo.setToolTip(self.tr("Detected format; choose another if the detection is wrong (the choice "
                                 "applies to every file of the dataset)"))
        combo.activated.connect(lambda _i, c=combo: self.set_format_override(c.currentData()))
        return combo

    def _format_title(self, fmt: str, english: str) -> str:
        """A record shape's name in the UI's language; the format names themselves stay as they are."""
        titles = {
            "alpaca": self.tr("Alpaca (instruction/input/output)"),
            "sharegpt": self.tr("ShareGPT (conversations with from/value)"),
            "openai": self.tr("OpenAI chat (messages with role/content)"),
            "prompt_completion": self.tr("prompt/completion"),
            "text": self.tr("plain text"),
        }
        return titles.get(fmt, english)

    def set_format_override(self, fmt: str) -> None:
        self.format_override = fmt or AUTO
        self._fill_files()
        self._settings_changed()

    def _show_mapping_for_selection(self) -> None:
        """The mapping editor shows for a table (CSV/TSV/JSON) whose fields are not a standard format:
        the selected file if it is one, else the first such file."""
        reports = {os.path.abspath(f.get("path", "")): f for f in (self.report or {}).get("files", [])}
        row = self.files.currentRow()
        candidates = ([self.paths[row]] if 0 <= row < len(self.paths) else []) + self.paths
        for path in candidates:
            guess, found = self.guesses.get(path), reports.get(path, {})
            columns = list(found.get("columns") or getattr(guess, "columns", None) or [])
            container = found.get("container") or getattr(guess, "container", "")
            auto = getattr(guess, "mapping", None)
            auto = auto.to_dict() if hasattr(auto, "to_dict") else (found.get("mapping") or auto)
            if columns and container in TABLE_CONTAINERS and (auto or self.mapping):
                self.mapping_editor.set_columns(path, columns, self.mapping or auto)
                self.mapping_editor.show()
                return
        self.mapping_editor.hide()

    def _mapping_changed(self) -> None:
        self.mapping = self.mapping_editor.mapping()
        self._settings_changed()

    def _show_report(self, report: dict | None) -> None:
        self._fill_files()
        if report is None:
            self.preview_model.set_rows([])
            self.full_text.clear()
            self.histogram.set_histogram([], self.max_seq_len)
            self.truncated_label.setText("")
            self.problems.clear()
            self.problems_box.setTitle(self.tr("Problems"))
            self.counts.setText(self.tr("No dataset yet.") if not self.paths else self.tr("Reading…"))
            self.verdict.setText("")
            return
        n_problems = int(report.get("n_problems") or 0)
        self.counts.setText(self.tr("{examples} examples · {train} for training, {val} for validation · "
                                    "{problems} problem(s)").format(
            examples=f"{int(report.get('n_examples') or 0):,}", train=f"{int(report.get('n_train') or 0):,}",
            val=f"{int(report.get('n_val') or 0):,}", problems=f"{n_problems:,}"))
        self.verdict.setText(self._say_verdict(report))
        self.verdict.setProperty("usable", bool(report.get("usable")))
        self.verdict.style().unpolish(self.verdict)
        self.verdict.style().polish(self.verdict)
        self.preview_model.set_rows(report.get("preview") or [], counted=bool(report.get("model")))
        if self.preview_model.rowCount():
            self.preview.selectRow(0)
            self._show_example(0)
        else:
            self.full_text.clear()
        max_len = int(report.get("max_seq_len") or self.max_seq_len)
        histogram = report.get("histogram") or []
        self.histogram.set_histogram(histogram, max_len)
        if not histogram:
            self.truncated_label.setText(self.tr("Choose a base model (Configure) to count tokens."))
        else:
            n_truncated = int(report.get("n_truncated") or 0)
            self.truncated_label.setText(self.tr("{n} example(s) would be truncated at {max} tokens.").format(
                n=f"{n_truncated:,}", max=f"{max_len:,}"))
        self.problems.clear()
        for problem in report.get("problems") or []:
            path, line, message = str(problem.get("path", "")), int(problem.get("line") or 0), problem.get("message")
            item = QListWidgetItem(f"{location(path, line)}: {message}")
            item.setData(Qt.ItemDataRole.UserRole, f"{path}:{line}: {message}" if line else f"{path}: {message}")
            item.setToolTip(item.data(Qt.ItemDataRole.UserRole))
            if problem.get("severity") == "warning":
                item.setForeground(Qt.GlobalColor.darkYellow)
            self.problems.addItem(item)
        shown = self.problems.count()
        title = self.tr("Problems ({n})").format(n=f"{n_problems:,}")
        if n_problems > shown:
            title = self.tr("Problems ({n}, first {shown} shown)").format(n=f"{n_problems:,}", shown=shown)
        self.problems_box.setTitle(title)

    def _say_verdict(self, report: dict) -> str:
        """The scan's verdict in the UI's language, from its code and numbers (the core's English
        sentence where the code is unknown, e.g. from an older scanner)."""
        code, v = report.get("verdict_code") or "", report.get("verdict_values") or {}
        try:
            if code == "usable":
                parts = [self.tr("Usable: {examples} examples ({train} for training, {val} for validation)").format(
                    examples=f"{v['examples']:,}", train=f"{v['train']:,}", val=f"{v['val']:,}")]
                if v.get("skipped"):
                    parts.append(self.tr("{n} record(s) with problems will be skipped").format(n=f"{v['skipped']:,}"))
                if v.get("cut"):
                    parts.append(self.tr("{n} example(s) ({share}%) are longer than {max} tokens and will be cut").format(
                        n=f"{v['cut']:,}", share=f"{v['cut_share']:.1f}", max=f"{v['max_seq_len']:,}"))
                return self.tr("; ", "joins the parts of the dataset verdict").join(parts) + self.tr(
                    ".", "ends the dataset verdict")
            if code == "broken_file":
                if v.get("why"):  # the reader's own reason (encoding, JSON, …) stays as the core wrote it
                    return self.tr("Not usable: {name}: {why}.").format(name=v["name"], why=v["why"])
                return self.tr("Not usable: {name}: no usable examples in it.").format(name=v["name"])
            if code == "no_training":
                return self.tr("Not usable: there are no training examples.")
            if code == "empty_validation":
                return self.tr("Not usable: the validation file holds no examples.")
            if code == "too_many_problems":
                return self.tr("Not usable: {problems} record(s) have problems, more than the {examples} example(s) "
                               "that could be read — check the format and column mapping.").format(
                    problems=f"{v['problems']:,}", examples=f"{v['examples']:,}")
        except (KeyError, TypeError, ValueError):
            pass
        return str(report.get("verdict") or "")

    def _show_example(self, row: int) -> None:
        """The whole rendered example; the spans that carry the loss are highlighted."""
        if not 0 <= row < self.preview_model.rowCount():
            return
        example = self.preview_model.row(row)
        text = str(example.get("rendered_text") or "")
        self.full_text.setPlainText(text)
        tint = QColor(self.palette().color(QPalette.ColorRole.Highlight))
        tint.setAlpha(60)
        selections = []
        for start, end in example.get("train_spans") or []:
            selection = QTextEdit.ExtraSelection()
            selection.format.setBackground(tint)
            cursor = QTextCursor(self.full_text.document())
            # Qt counts UTF-16 units; the spans count Python characters.
            cursor.setPosition(_utf16(text, int(start)))
            cursor.setPosition(_utf16(text, int(end)), QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selections.append(selection)
        self.full_text.setExtraSelections(selections)

    def _copy_problem(self, item: QListWidgetItem) -> None:
        text = item.data(Qt.ItemDataRole.UserRole) or item.text()
        QGuiApplication.clipboard().setText(text)
        self.full_text.setPlainText(text)
        self.verdict.setText(self.tr("Copied: {problem}").format(problem=text))

    def _unexpected(self, exc: BaseException) -> None:
        self._set_scanning(False)
        message = user_message(exc)
        self.banner.show_message(self.tr("The dataset could not be read: {reason}").format(reason=message), "error",
                                 details=f"{type(exc).__name__}: {exc}")


__all__ = ["DataPanel"]
