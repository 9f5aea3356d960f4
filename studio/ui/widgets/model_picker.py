"""The toolbar's model picker: library models, remote engines' models grouped under each engine's name,
then "Find models…", "Add model file…", "Download from Hugging Face…", "Add remote engine…" (and "Remote engines…").

It only shows entries and reports choices; the window decides what loading means.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget

from studio.ui.lazy_qt import Qt

ADD_FILE = "__add_file__"
FROM_HUB = "__from_hub__"
FIND_MODELS = "__find_models__"
ADD_REMOTE = "__add_remote__"
MANAGE_REMOTES = "__manage_remotes__"
REMOTE_PREFIX = "remote:"  # item data of a remote model: remote:<engine>/<model> (its label in core)


def format_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


class ModelPicker(QComboBox):
    model_chosen = Signal(str)       # a library model's path
    add_file_requested = Signal()
    hub_requested = Signal()
    find_requested = Signal()        # the Find models dialog (search the hub, files on this computer)
    remote_chosen = Signal(str)      # remote:<engine>/<model>
    add_remote_requested = Signal()
    manage_remotes_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ModelPicker")
        self.setMinimumWidth(320)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.activated.connect(self._on_activated)
        self._shown = ""  # the path the picker should show when nothing else is chosen
        self._remotes: list[tuple[str, str, list[str], str]] = []
        self._entries: list = []
        self.set_entries([])

    def set_entries(self, entries: list, current: str = "") -> None:
        """Fill from ModelLibrary entries; unusable files are listed but disabled, with the reason."""
        self._entries = list(entries)
        self.blockSignals(True)
        try:
            self.clear()
            for entry in entries:
                details = " · ".join(x for x in (entry.quantization, format_size(entry.size)) if x)
                self.addItem(f"{entry.name}  ({details})" if details else entry.name, str(entry.path))
                index = self.count() - 1
                if entry.ok:
                    self.setItemData(index, str(entry.path), Qt.ItemDataRole.ToolTipRole)
                else:
                    self.setItemData(index, self.tr("Unusable: {reason}").format(reason=entry.error),
                                     Qt.ItemDataRole.ToolTipRole)
                    self._disable(index)
            if not entries:
                self.addItem(self.tr("No models yet"), "")
                self._disable(0)
            self._add_remotes()
            self.insertSeparator(self.count())
            self.addItem(self.tr("Find models…"), FIND_MODELS)
            self.addItem(self.tr("Add model file…"), ADD_FILE)
            self.addItem(self.tr("Download from Hugging Face…"), FROM_HUB)
            self.addItem(self.tr("Add remote engine…"), ADD_REMOTE)
            if self._remotes:
                self.addItem(self.tr("Remote engines…"), MANAGE_REMOTES)
        finally:
            self.blockSignals(False)
        self.show_path(current or self._shown)

    def set_remotes(self, remotes: list[tuple[str, str, list[str], str]]) -> None:
        """Remote engines as (name, base URL, models, error sentence or ""), shown after the library."""
        self._remotes = list(remotes)
        self.set_entries(self._entries)

    def _add_remotes(self) -> None:
        for name, url, models, error in self._remotes:
            self.insertSeparator(self.count())
            self.addItem(self.tr("{name} (remote)").format(name=name), "")
            header = self.count() - 1
            self.setItemData(header, url, Qt.ItemDataRole.ToolTipRole)
            font = self.font()
            font.setBold(True)
            self.setItemData(header, font, Qt.ItemDataRole.FontRole)
            self._disable(header)
            for model in models:
                self.addItem(f"{model}  ({name})", f"{REMOTE_PREFIX}{name}/{model}")
                self.setItemData(self.count() - 1, f"{model}\n{url}", Qt.ItemDataRole.ToolTipRole)
            if error or not models:
                self.addItem(self.tr("unreachable") if error else self.tr("no models"), "")
                self.setItemData(self.count() - 1, error or url, Qt.ItemDataRole.ToolTipRole)
                self._disable(self.count() - 1)

    def _disable(self, index: int) -> None:
        item = self.model().item(index)
        if item is not None:
            item.setEnabled(False)

    def show_path(self, path: str) -> None:
        """Show `path` as the current choice (without reporting it)."""
        self._shown = path
        index = self.findData(path) if path else -1
        if index < 0 and path:
            index = self.findData(str(Path(path)))
        if index >= 0:
            self.blockSignals(True)
            self.setCurrentIndex(index)
            self.blockSignals(False)

    def _on_activated(self, index: int) -> None:
        data = self.itemData(index)
        chosen = (data not in (ADD_FILE, FROM_HUB, FIND_MODELS, ADD_REMOTE, MANAGE_REMOTES) and data
                  and data != self._shown)
        self.show_path(data if chosen else self._shown)
        if data == ADD_FILE:
            self.add_file_requested.emit()
        elif data == FROM_HUB:
            self.hub_requested.emit()
        elif data == FIND_MODELS:
            self.find_requested.emit()
        elif data == ADD_REMOTE:
            self.add_remote_requested.emit()
        elif data == MANAGE_REMOTES:
            self.manage_remotes_requested.emit()
        elif chosen and str(data).startswith(REMOTE_PREFIX):
            self.remote_chosen.emit(data)
        elif chosen:
            self.model_chosen.emit(data)
