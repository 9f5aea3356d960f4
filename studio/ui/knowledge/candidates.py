"""Every candidate chunk of one retrieval, with how each side of the search ranked it.

`CandidatesView.show_retrieval(d)` takes a `Retrieval.to_dict()` (studio.core.knowledge.retrieval)
and lists every candidate: fused rank, keyword score (BM25) and rank, vector similarity and rank,
whether it goes into the prompt, its source and place, and a preview; the selected one's full text
shows below. It needs nothing else, so Chat's Retrieval panel can embed it as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (QAbstractTableModel, QCoreApplication, QModelIndex, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt, Signal)
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QPlainTextEdit, QSplitter, QTableView,
                               QVBoxLayout, QWidget)

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


def location_text(unit: str, start: int, end: int) -> str:
    """"page 3", "lines 10–24": where a chunk is, in the UI's language."""
    if start == end:
        one = {"page": QCoreApplication.translate("KnowledgeCandidates", "page {n}"),
               "paragraph": QCoreApplication.translate("KnowledgeCandidates", "paragraph {n}")}
        return one.get(unit, QCoreApplication.translate("KnowledgeCandidates", "line {n}")).format(n=start)
    many = {"page": QCoreApplication.translate("KnowledgeCandidates", "pages {a}–{b}"),
            "paragraph": QCoreApplication.translate("KnowledgeCandidates", "paragraphs {a}–{b}")}
    return many.get(unit, QCoreApplication.translate("KnowledgeCandidates", "lines {a}–{b}")).format(a=start, b=end)


def mode_text(mode: str) -> str:
    names = {"hybrid": QCoreApplication.translate("KnowledgeCandidates", "hybrid"),
             "vector": QCoreApplication.translate("KnowledgeCandidates", "vector only"),
             "keyword": QCoreApplication.translate("KnowledgeCandidates", "keyword only")}
    return names.get(mode, mode)


def preview(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class KnowledgeCandidatesModel(QAbstractTableModel):
    COLUMNS = ("fused", "keyword", "keyword_rank", "vector", "vector_rank", "prompt", "source", "where", "text")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self._top = QColor(0, 0, 0, 0)

    def set_rows(self, rows: list[dict[str, Any]], top_colour: QColor) -> None:
        self.beginResetModel()
        self.rows = rows
        self._top = top_colour
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return (self.tr("Fused"), self.tr("BM25"), self.tr("BM25 rank"), self.tr("Cosine"),
                    self.tr("Cosine rank"), self.tr("Prompt"), self.tr("Source"), self.tr("Where"),
                    self.tr("Text"))[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return (self.tr("Fused rank: reciprocal-rank fusion of the keyword and vector rankings (1 = best)"),
                    self.tr("Keyword score (BM25, higher is better); — when no word of the question matched"),
                    self.tr("Rank on the keyword side"),
                    self.tr("Vector similarity: cosine between the question's and the chunk's embeddings"),
                    self.tr("Rank on the vector side; — when below the threshold or not searched"),
                    self.tr("Whether the chunk goes into the prompt (the top k)"),
                    self.tr("The file the chunk comes from"), self.tr("Page or lines in that file"),
                    self.tr("The start of the chunk's text"))[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == Qt.ItemDataRole.ToolTipRole and column in ("text", "source"):
            return row.get("path", "") if column == "source" else preview(row.get("text", ""), 600)
        if role == Qt.ItemDataRole.BackgroundRole and row.get("selected"):
            return QBrush(self._top)
        if role == Qt.ItemDataRole.TextAlignmentRole and column not in ("source", "where", "text", "prompt"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, row: dict[str, Any], column: str) -> str:
        dash = "—"
        if column == "fused":
            return str(row.get("fused_rank", ""))
        if column == "keyword":
            score = row.get("keyword_score")
            return dash if score is None else f"{score:.2f}"
        if column == "vector":
            sim = row.get("vector_similarity")
            return dash if sim is None else f"{sim:.3f}"
        if column in ("keyword_rank", "vector_rank"):
            rank = row.get(column)
            return dash if rank is None else str(rank)
        if column == "prompt":
            went = row.get("in_prompt")
            if went is not None:
                return self.tr("in the prompt") if went else self.tr("left out (did not fit)")
            return self.tr("top k") if row.get("selected") else dash
        if column == "source":
            return Path(str(row.get("path", ""))).name
        if column == "where":
            return location_text(str(row.get("unit", "line")), int(row.get("start", 0)), int(row.get("end", 0)))
        return preview(str(row.get("text", "")))

    def _sort_key(self, row: dict[str, Any], column: str) -> Any:
        missing = 10 ** 9
        if column == "fused":
            return int(row.get("fused_rank", missing))
        if column == "keyword":  # best first when sorted ascending, like the ranks
            score = row.get("keyword_score")
            return missing if score is None else -float(score)
        if column == "vector":
            sim = row.get("vector_similarity")
            return missing if sim is None else -float(sim)
        if column in ("keyword_rank", "vector_rank"):
            rank = row.get(column)
            return missing if rank is None else int(rank)
        if column == "prompt":
            return 0 if row.get("in_prompt") or (row.get("in_prompt") is None and row.get("selected")) else 1
        return self._display(row, column)


class KnowledgeCandidatesView(QWidget):
    """The candidates table, a line about the search, and the selected chunk's full text."""

    candidate_selected = Signal(dict)  # the candidate's dict (chunk_id, path, text, scores…)
    candidate_opened = Signal(dict)  # double-clicked: show it in its document

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("KnowledgeCandidates")
        self.retrieval: dict[str, Any] = {}
        self.summary = QLabel(self)
        self.summary.setObjectName("KnowledgeCandidatesSummary")
        self.summary.setWordWrap(True)
        self.model = KnowledgeCandidatesModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView(self)
        self.table.setObjectName("KnowledgeCandidatesTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        for column in range(len(KnowledgeCandidatesModel.COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.table.doubleClicked.connect(lambda index: self.candidate_opened.emit(self.candidate_at(index.row())))
        self.detail = QPlainTextEdit(self)
        self.detail.setObjectName("KnowledgeCandidateText")
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText(self.tr("Select a candidate to read its whole chunk."))
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)

    def show_retrieval(self, retrieval: dict[str, Any]) -> None:
        self.retrieval = retrieval
        candidates = list(retrieval.get("candidates") or [])
        top = QColor(self.palette().color(QPalette.ColorRole.Highlight))
        top.setAlpha(45)
        self.model.set_rows(candidates, top)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.detail.clear()
        self.summary.setText(self._summary(retrieval, candidates))
        if candidates:
            self.table.selectRow(0)

    def _summary(self, retrieval: dict[str, Any], candidates: list[dict[str, Any]]) -> str:
        if not candidates:
            return self.tr("No chunk matched “{query}”.").format(query=retrieval.get("query", ""))
        mode = str(retrieval.get("mode", "hybrid"))
        ms = f"{float(retrieval.get('seconds', 0)) * 1000:.0f}"
        text = self.tr("{n} candidates for “{query}” ({mode}, {ms} ms); the top {k} go into the prompt "
                       "(highlighted).").format(n=len(candidates), query=retrieval.get("query", ""),
                                                mode=mode_text(mode), ms=ms,
                                                k=retrieval.get("top_k", len(retrieval.get("hits") or [])))
        if mode == "hybrid":
            weight = float(retrieval.get("keyword_weight", 1.0))
            text += " " + self.tr("The keyword side counts {w} in the fusion (the share of the question's "
                                  "rare words its best match contains).").format(w=f"{weight:.2f}")
        return text

    def clear(self) -> None:
        self.retrieval = {}
        self.model.set_rows([], QColor(0, 0, 0, 0))
        self.summary.clear()
        self.detail.clear()

    def candidate_at(self, row: int) -> dict[str, Any]:
        """The candidate shown in table row `row` (as sorted now)."""
        return self.model.rows[self.proxy.mapToSource(self.proxy.index(row, 0)).row()]

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        candidate = self.model.rows[self.proxy.mapToSource(current).row()]
        where = location_text(str(candidate.get("unit", "line")), int(candidate.get("start", 0)),
                              int(candidate.get("end", 0)))
        head = f"{Path(str(candidate.get('path', ''))).name} · {where}"
        if candidate.get("heading"):
            head += f" · {candidate['heading']}"
        self.detail.setPlainText(f"{head}\n\n{candidate.get('text', '')}")
        self.candidate_selected.emit(candidate)
