"""Table models for the Data section: the rendered-example preview and the problems list.

They only format what the dataset scan returned (DatasetReport.to_dict()); nothing is parsed here.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QAbstractTableModel, QCoreApplication, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

ELIDE_CHARS = 600       # a table cell shows an example on one line, elided in the middle
TOOLTIP_CHARS = 1500    # the tooltip shows more; the side pane shows it all


def one_line(text: str, limit: int = ELIDE_CHARS) -> str:
    flat = " ⏎ ".join(part for part in text.splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def location(path: str, line: int) -> str:
    return f"{os.path.basename(path)}:{line}" if line else os.path.basename(path)


class PreviewModel(QAbstractTableModel):
    """One row per previewed example: where it comes from, its roles, tokens, and the text as the
    model will see it (rendered with the base model's chat template)."""

    COLUMNS = ("source", "roles", "tokens", "text")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[dict] = []
        self.counted = True   # False when the scan had no model, so no tokens were counted

    def set_rows(self, rows: list[dict], counted: bool = True) -> None:
        self.beginResetModel()
        self.rows = list(rows or [])
        self.counted = counted
        self.endResetModel()

    def row(self, index: int) -> dict:
        return self.rows[index]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        return {"source": QCoreApplication.translate("PreviewModel", "Source"),
                "roles": QCoreApplication.translate("PreviewModel", "Roles"),
                "tokens": QCoreApplication.translate("PreviewModel", "Tokens"),
                "text": QCoreApplication.translate("PreviewModel", "As the model sees it")}[self.COLUMNS[section]]

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = self.COLUMNS[index.column()]
        text = str(row.get("rendered_text") or "")
        if role == Qt.ItemDataRole.DisplayRole:
            if column == "source":
                return location(str(row.get("path", "")), int(row.get("line") or 0))
            if column == "roles":
                return str(row.get("roles") or "")
            if column == "tokens":
                n = row.get("n_tokens")
                return "—" if n is None or not self.counted else f"{int(n):,}"
            return one_line(text)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "source":
                return f"{row.get('path', '')}:{row.get('line', '')}"
            if column == "tokens" and row.get("truncated"):
                return QCoreApplication.translate("PreviewModel", "Longer than the maximum sequence length: "
                                                                  "training sees only the start")
            return text if len(text) <= TOOLTIP_CHARS else text[:TOOLTIP_CHARS] + "…"
        if role == Qt.ItemDataRole.ForegroundRole and column == "tokens" and row.get("truncated"):
            return QColor(220, 50, 47)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == "tokens":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


__all__ = ["PreviewModel", "location", "one_line"]
