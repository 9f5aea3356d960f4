"""The toolbar's model picker: library models, then "Add model file…" and "Download from Hugging Face…".

It only shows entries and reports choices; the window decides what loading means.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget

ADD_FILE = "__add_file__"
FROM_HUB = "__from_hub__"


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

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ModelPicker")
        self.setMinimumWidth(320)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.activated.connect(self._on_activated)
        self._shown = ""  # the path the picker should show when nothing else is chosen
        self.set_entries([])

    def set_entries(self, entries: list, current: str = "") -> None:
        """Fill from ModelLibrary entries; unusable files are listed but disabled, with the reason."""
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
            self.insertSeparator(self.count())
            self.addItem(self.tr("Add model file…"), ADD_FILE)
            self.addItem(self.tr("Download from Hugging Face…"), FROM_HUB)
        finally:
            self.blockSignals(False)
        self.show_path(current or self._shown)

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
        chosen = data not in (ADD_FILE, FROM_HUB) and data and data != self._shown
        self.show_path(data if chosen else self._shown)
        if data == ADD_FILE:
            self.add_file_requested.emit()
        elif data == FROM_HUB:
            self.hub_requested.emit()
        elif chosen:
            self.model_chosen.emit(data)
