"""The GPU runtime dialog: which NVIDIA GPU is there, what the download costs, Download / Cancel /
Resume with progress and speed, and the "Use the GPU runtime" switch once it is installed.

Thin: everything is studio.core.engine.gpu_runtime. The blocking install runs in a worker thread
(`in_thread`), progress comes back through `threadsafe`, Cancel is a threading.Event checked between
chunks. Switching the runtime on or off applies to workers started from then on (the next model
load, training run or analysis).
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QLabel, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from studio.core.engine import gpu_runtime
from studio.core.engine.gpu_runtime import GpuInfo, Manifest
from studio.core.errors import user_message
from studio.core.models.gguf_info import format_size
from studio.ui.tasks import in_thread, spawn, threadsafe
from studio.ui.widgets.banner import Banner

_DETECT = object()  # GpuRuntimeDialog(gpu=...) default: ask the driver


class GpuRuntimeDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, settings: Any = None, *, manifest: Manifest | None = None,
                 gpu: Any = _DETECT, root: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("GPU runtime"))
        self.setMinimumWidth(600)
        self.settings = settings
        self.root = Path(root) if root is not None else gpu_runtime.default_root()
        self._given_manifest = manifest
        self.manifest: Manifest | None = None
        self.gpu: GpuInfo | None = None
        self._cancel: threading.Event | None = None
        self._samples: deque[tuple[float, int]] = deque(maxlen=40)

        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("With an NVIDIA graphics card, chat and fine-tuning run much faster on the GPU. "
                               "The GPU runtime (the CUDA builds of llama.cpp and torch) is a separate download; "
                               "the CPU runtime stays installed and is used whenever the GPU runtime is off."), self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.gpu_label = QLabel(self.tr("Looking for an NVIDIA GPU…"), self)
        self.gpu_label.setWordWrap(True)
        layout.addWidget(self.gpu_label)
        self.training = QCheckBox(self.tr("Include fine-tuning (torch with CUDA)"), self)
        self.training.setChecked(importlib.util.find_spec("torch") is not None)
        self.training.toggled.connect(self._refresh)
        layout.addWidget(self.training)
        self.estimate_label = QLabel(self)
        self.estimate_label.setWordWrap(True)
        layout.addWidget(self.estimate_label)
        self.state_label = QLabel(self)
        self.state_label.setWordWrap(True)
        layout.addWidget(self.state_label)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.speed_label = QLabel(self)
        self.speed_label.hide()
        layout.addWidget(self.speed_label)
        self.use_gpu = QCheckBox(self.tr("Use the GPU runtime"), self)
        self.use_gpu.hide()
        self.use_gpu.toggled.connect(self._switch)
        layout.addWidget(self.use_gpu)
        self.status = Banner(self, closable=False)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.buttons = QDialogButtonBox(self)
        self.download_button = self.buttons.addButton(self.tr("Download"), QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button = self.buttons.addButton(self.tr("Cancel download"), QDialogButtonBox.ButtonRole.ActionRole)
        self.remove_button = self.buttons.addButton(self.tr("Remove"), QDialogButtonBox.ButtonRole.DestructiveRole)
        close: QPushButton = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.download_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.remove_button.clicked.connect(self.remove)
        close.clicked.connect(self.reject)
        layout.addWidget(self.buttons)
        self.resize(660, 420)  # room for the wrapped lines (word-wrapped labels report no height for a width)
        self._refresh()
        if gpu is _DETECT:
            self.download_button.setEnabled(False)
            spawn(self._detect(), on_error=lambda exc: self._found(None))
        else:
            self._found(gpu)

    # -------------------------------------------------------------------------------- state

    @property
    def running(self) -> bool:
        return self._cancel is not None

    async def _detect(self) -> None:
        self._found(await in_thread(gpu_runtime.detect_nvidia))

    def _found(self, gpu: GpuInfo | None) -> None:
        self.gpu = gpu
        if gpu is None:
            self.gpu_label.setText(self.tr("No NVIDIA GPU found — the CPU runtime is in use."))
        else:
            self.gpu_label.setText(self.tr("Found: {gpu}").format(gpu=gpu.describe()))
        self._refresh()

    def _components(self) -> list[str]:
        return ["engine", "training"] if self.training.isChecked() else ["engine"]

    def _refresh(self) -> None:
        full, why = ((self._given_manifest, "") if self._given_manifest is not None
                     else gpu_runtime.manifest_for(self.gpu, components=("engine", "training")))
        self.manifest = full.only(self._components()) if full is not None else None
        self.training.setVisible(full is not None and "training" in full.components())
        if self.manifest is not None:
            cost = gpu_runtime.estimate(self.manifest)
            self.estimate_label.setText(self.tr("Size: {download} to download, about {disk} on disk.").format(
                download=format_size(cost.download_bytes), disk=format_size(cost.disk_bytes)))
        else:
            self.estimate_label.setText(why)
        state = gpu_runtime.status(self.root)
        if state.installed:
            packages = ", ".join(f"{name} {version}" for name, version in state.packages.items())
            self.state_label.setText(self.tr("Installed ({packages}; {size}) in {folder}.").format(
                packages=packages, size=format_size(state.disk_bytes), folder=self.root))
        elif state.partial_bytes:
            self.state_label.setText(self.tr("{size} downloaded so far; Resume continues from there.").format(
                size=format_size(state.partial_bytes)))
        else:
            self.state_label.setText(self.tr("Not installed. It would go to {folder}.").format(folder=self.root))
        self.download_button.setText(self.tr("Resume") if state.partial_bytes and not state.installed
                                     else self.tr("Reinstall") if state.installed else self.tr("Download"))
        can_download = self.manifest is not None and self.gpu is not None and not self.running
        self.download_button.setEnabled(can_download)
        self.cancel_button.setEnabled(self.running)
        self.remove_button.setEnabled(not self.running and (state.installed or state.partial_bytes > 0))
        self.training.setEnabled(not self.running)
        self.use_gpu.setVisible(state.installed)
        self.use_gpu.blockSignals(True)
        self.use_gpu.setChecked(state.installed and state.enabled)
        self.use_gpu.blockSignals(False)
        self.use_gpu.setEnabled(state.installed and self.gpu is not None and not self.running)

    # ------------------------------------------------------------------------------ actions

    def start(self) -> None:
        if self.manifest is None or self.running:
            return
        self._cancel = threading.Event()
        self._samples.clear()
        self.progress.setValue(0)
        self.progress.show()
        self.speed_label.setText("")
        self.speed_label.show()
        self.status.show_message(self.tr("Downloading the GPU runtime…"), "info")
        self._refresh()
        spawn(self._install(self.manifest, self._cancel), on_error=self._failed)

    async def _install(self, manifest: Manifest, cancel: threading.Event) -> None:
        report = _throttled(threadsafe(self._on_progress))
        try:
            await in_thread(gpu_runtime.install, manifest, self.root, report, cancel)
        finally:
            self._cancel = None
        gpu_runtime.set_enabled(True, self.root)  # downloaded to be used; the switch turns it off again
        self.progress.setValue(1000)
        self.speed_label.hide()
        self.status.show_message(self.tr("The GPU runtime is installed and on from the next model load."), "info")
        self._refresh()

    def _on_progress(self, fraction: float, done: int, total: int, stage: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        now = time.monotonic()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > 3.0:
            self._samples.popleft()
        first_time, first_done = self._samples[0]
        speed = (done - first_done) / (now - first_time) if now > first_time else 0.0
        self.speed_label.setText(self.tr("{stage} — {done} of {total}, {speed}/s").format(
            stage=stage, done=format_size(done), total=format_size(total), speed=format_size(speed)))

    def _failed(self, exc: BaseException) -> None:
        self._cancel = None
        self.progress.hide()
        self.speed_label.hide()
        if getattr(exc, "kind", "") == "cancelled":
            self.status.show_message(self.tr("Download cancelled. Resume continues where it stopped."), "info")
        else:
            self.status.show_message(self.tr("The GPU runtime could not be installed: {reason}").format(
                reason=user_message(exc)), "error")
        self._refresh()

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def remove(self) -> None:
        if self.running:
            return
        gpu_runtime.remove(self.root)
        self.status.show_message(self.tr("The GPU runtime was removed; the CPU runtime is in use."), "info")
        self._refresh()

    def _switch(self, on: bool) -> None:
        try:
            gpu_runtime.set_enabled(on, self.root)
        except (OSError, gpu_runtime.DownloadError) as exc:
            self.status.show_message(self.tr("The switch could not be saved: {reason}").format(
                reason=user_message(exc)), "error")
        else:
            message = (self.tr("The GPU runtime is on from the next model load.") if on
                       else self.tr("The GPU runtime is off; the CPU runtime is used from the next model load."))
            self.status.show_message(message, "info")
        self._refresh()

    def reject(self) -> None:  # closing the dialog cancels a running download (it can be resumed)
        if self._cancel is not None:
            self._cancel.set()
        super().reject()


def _throttled(callback: Any, interval: float = 0.1) -> Any:
    """Drop progress reports that arrive faster than `interval` seconds (the last one always passes)."""
    last = [0.0]

    def report(fraction: float, *rest: Any) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - last[0] >= interval:
            last[0] = now
            callback(fraction, *rest)

    return report


def open_gpu_runtime_dialog(parent: QWidget | None, settings: Any = None) -> GpuRuntimeDialog:
    """Show the GPU runtime dialog (non-modal) and return it; hook this to a menu entry."""
    dialog = GpuRuntimeDialog(parent, settings)
    dialog.setModal(True)
    dialog.show()
    return dialog
