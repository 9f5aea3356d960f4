"""Fine-tune › Runs: the run history (studio.core.training.runs.list_runs) and what to do with a run.

Open folder, Resume, Chat with this adapter, Export GGUF adapter, Merge into a standalone GGUF and
Delete. Each button asks the owner (the Fine-tune view) through a signal carrying the run summary;
exports and merges run in a thread with a progress bar.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from studio.ui.widgets.banner import Banner


class RunsPanel(QWidget):
    resume_requested = Signal(object)     # RunSummary
    chat_requested = Signal(object)
    export_requested = Signal(object)
    merge_requested = Signal(object)
    delete_requested = Signal(object)
    show_requested = Signal(object)       # show the run's curve in Train
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("RunsPanel")
        self.runs: list = []
        self.busy_path = ""     # the run being trained now
        self.banner = Banner(self)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("RunsList")
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setHeaderLabels([self.tr("Run"), self.tr("State"), self.tr("Steps"), self.tr("Train loss"),
                                   self.tr("Val loss"), self.tr("Base model"), self.tr("Started")])
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 7):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda *_: self._emit(self.show_requested))

        row = QHBoxLayout()
        self.open_button = QPushButton(self.tr("Open folder"), self)
        self.open_button.clicked.connect(self.open_folder)
        self.resume_button = QPushButton(self.tr("Resume"), self)
        self.resume_button.setToolTip(self.tr("Continue from the run's last checkpoint"))
        self.resume_button.clicked.connect(lambda: self._emit(self.resume_requested))
        self.chat_button = QPushButton(self.tr("Chat with this adapter"), self)
        self.chat_button.setObjectName("ChatWithAdapter")
        self.chat_button.setToolTip(self.tr("Load the base model in Chat with this adapter attached"))
        self.chat_button.clicked.connect(lambda: self._emit(self.chat_requested))
        self.export_button = QPushButton(self.tr("Export GGUF adapter…"), self)
        self.export_button.setToolTip(self.tr("Write the adapter as a GGUF LoRA file that llama.cpp loads"))
        self.export_button.clicked.connect(lambda: self._emit(self.export_requested))
        self.merge_button = QPushButton(self.tr("Merge into a GGUF model…"), self)
        self.merge_button.setToolTip(self.tr("Write a standalone GGUF model with the adapter built in"))
        self.merge_button.clicked.connect(lambda: self._emit(self.merge_requested))
        self.delete_button = QPushButton(self.tr("Delete"), self)
        self.delete_button.clicked.connect(lambda: self._emit(self.delete_requested))
        self.refresh_button = QPushButton(self.tr("Refresh"), self)
        self.refresh_button.clicked.connect(self.refresh_requested)
        for button in (self.open_button, self.resume_button, self.chat_button, self.export_button,
                       self.merge_button, self.delete_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.refresh_button)

        self.details = QLabel(self)
        self.details.setObjectName("RunDetails")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        progress_row = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress_label = QLabel(self)
        progress_row.addWidget(self.progress_label)
        progress_row.addWidget(self.progress, 1)
        self.set_progress(None)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.banner)
        layout.addLayout(row)
        layout.addWidget(self.tree, 1)
        layout.addLayout(progress_row)
        layout.addWidget(self.details)
        self._update_buttons()

    # -- list -------------------------------------------------------------------------------
    def set_runs(self, runs: list) -> None:
        selected = self.selected()
        keep = selected.path if selected else ""
        self.runs = list(runs)
        self.tree.clear()
        states = {"running": self.tr("running"), "completed": self.tr("completed"),
                  "cancelled": self.tr("cancelled"), "failed": self.tr("failed"),
                  "interrupted": self.tr("interrupted")}
        for run in self.runs:
            steps = f"{run.step} / {run.total_steps}" if run.total_steps else str(run.step or "—")
            item = QTreeWidgetItem([
                run.name, states.get(run.state, run.state), steps, _loss(run.train_loss), _loss(run.val_loss),
                Path(run.base_model).name if run.base_model else "—", _when(run.started)])
            item.setData(0, Qt.ItemDataRole.UserRole, run.path)
            item.setToolTip(0, run.path)
            item.setToolTip(5, run.base_model)
            if run.error:
                item.setToolTip(1, run.error + ("\n" + run.suggestion if run.suggestion else ""))
            self.tree.addTopLevelItem(item)
            if run.path == keep:
                item.setSelected(True)
                self.tree.setCurrentItem(item)
        if self.tree.currentItem() is None and self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self._update_buttons()

    def selected(self):
        item = self.tree.currentItem()
        if item is None:
            return None
        path = item.data(0, Qt.ItemDataRole.UserRole)
        return next((r for r in self.runs if r.path == path), None)

    def select_path(self, path: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if os.path.realpath(item.data(0, Qt.ItemDataRole.UserRole)) == os.path.realpath(path):
                self.tree.setCurrentItem(item)
                return

    def set_busy_path(self, path: str) -> None:
        self.busy_path = path
        self._update_buttons()

    def _emit(self, signal) -> None:
        run = self.selected()
        if run is not None:
            signal.emit(run)

    def open_folder(self) -> None:
        run = self.selected()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(run.path))

    def _update_buttons(self) -> None:
        run = self.selected()
        busy = run is not None and bool(self.busy_path) and os.path.realpath(run.path) == os.path.realpath(
            self.busy_path)
        training = bool(self.busy_path)
        self.open_button.setEnabled(run is not None)
        self.resume_button.setEnabled(run is not None and run.resumable and not training)
        self.chat_button.setEnabled(run is not None and bool(run.gguf_adapter) and not busy)
        self.export_button.setEnabled(run is not None and bool(run.adapter_dir) and not busy)
        self.merge_button.setEnabled(run is not None and bool(run.gguf_adapter) and not busy
                                     and run.base_model.lower().endswith(".gguf"))
        self.delete_button.setEnabled(run is not None and not busy and run.state != "running")
        if run is None:
            self.details.setText(self.tr("No runs yet: configure one and press Start in Train.")
                                 if not self.runs else "")
            return
        lines = [run.path]
        if run.data:
            lines.append(self.tr("Data: {files}").format(files=", ".join(Path(p).name for p in run.data)))
        if run.gguf_adapter:
            lines.append(self.tr("GGUF adapter: {path}").format(path=run.gguf_adapter))
        elif run.adapter_dir:
            lines.append(self.tr("PEFT adapter: {path} (no GGUF copy yet: use Export)").format(path=run.adapter_dir))
        if run.error:
            lines.append(self.tr("Error: {reason}").format(reason=run.error))
        if run.suggestion and run.state in ("failed", "interrupted"):
            lines.append(run.suggestion)
        self.details.setText("\n".join(lines))

    def set_progress(self, fraction: float | None, text: str = "") -> None:
        """A running export or merge (None hides the bar)."""
        visible = fraction is not None
        self.progress.setVisible(visible)
        self.progress_label.setVisible(visible)
        if visible:
            self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
            self.progress_label.setText(text)


def _loss(value) -> str:
    return "—" if value is None else f"{float(value):.4f}"


def _when(timestamp) -> str:
    if not timestamp:
        return "—"
    return dt.datetime.fromtimestamp(float(timestamp)).strftime("%Y-%m-%d %H:%M")


__all__ = ["RunsPanel"]
