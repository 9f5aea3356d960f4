"""Filling a model combo box: the chat's model first, then the library, then files picked by path,
one entry per real file (a symlink or a second path to the same file is not listed twice).
Item data is the path; the tooltip shows it too."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from studio.core.workspace import normalized_path


def fill_model_combo(combo: QComboBox, *, chat_model: str, entries: list, paths: list[str],
                     chat_label: str, folder_suffix: str = "") -> None:
    """Clear `combo` and list the models. `chat_label` is a format string with {name}; an HF folder
    among `paths` gets `folder_suffix` after its name. Signals are the caller's business."""
    combo.clear()
    seen: set[str] = set()

    def add(label: str, path: str) -> None:
        if path and normalized_path(path) not in seen:
            seen.add(normalized_path(path))
            combo.addItem(label, path)
            combo.setItemData(combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)

    if chat_model:
        add(chat_label.format(name=Path(chat_model).stem), chat_model)
    for entry in entries:
        add(entry.name, str(entry.path))
    for path in paths:
        if path:
            add(Path(path).name + (folder_suffix if folder_suffix and os.path.isdir(path) else ""), path)


def index_of_model(combo: QComboBox, path: str) -> int:
    """The row holding `path` (compared as real files), or -1."""
    if not path:
        return -1
    wanted = normalized_path(path)
    for row in range(combo.count()):
        data = combo.itemData(row)
        if isinstance(data, str) and data and normalized_path(data) == wanted:
            return row
    return -1
