"""A collection's files (status, chunks, length, and why a file yielded nothing), the chunks of the
selected file with their place and token count, and the selected chunk's full text."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QPlainTextEdit, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from studio.core.knowledge.library import DocumentInfo, KnowledgeLibrary
from studio.core.knowledge.store import ChunkRow
from studio.ui.knowledge.candidates import location_text, preview
from studio.ui.tasks import spawn

PROBLEM_TEXT = QColor(190, 40, 30)
PROBLEM_BACKGROUND = QColor(220, 50, 47, 38)
PATH_ROLE = Qt.ItemDataRole.UserRole + 2


def _reveal(table: QTableWidget, row: int) -> None:
    table.selectRow(row)
    table.scrollTo(table.model().index(row, 0))


class KnowledgeFilesPanel(QWidget):
    failed = Signal(str)  # a sentence for the screen's banner

    def __init__(self, library: KnowledgeLibrary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("KnowledgeFiles")
        self.library = library
        self.collection = ""
        self.documents: list[DocumentInfo] = []
        self.chunk_rows: list[ChunkRow] = []
        self._want_chunk: int | None = None  # a chunk to select once its file's chunks are listed

        self.files = QTableWidget(0, 5, self)
        self.files.setObjectName("KnowledgeFilesTable")
        self.files.setHorizontalHeaderLabels([self.tr("File"), self.tr("Status"), self.tr("Chunks"),
                                              self.tr("Pages / lines"), self.tr("Why nothing was indexed")])
        self._table_defaults(self.files)
        self.files.currentCellChanged.connect(lambda row, *_: self._on_file(row))
        self.empty_note = QLabel(self.tr("No files yet: drop files or folders here, or use Add files… / "
                                         "Add folder…"), self)
        self.empty_note.setObjectName("KnowledgeFilesEmpty")
        self.empty_note.setWordWrap(True)

        self.chunks = QTableWidget(0, 4, self)
        self.chunks.setObjectName("KnowledgeChunksTable")
        self.chunks.setHorizontalHeaderLabels([self.tr("Chunk"), self.tr("Where"), self.tr("Tokens"),
                                               self.tr("Text")])
        self._table_defaults(self.chunks)
        self.chunks.currentCellChanged.connect(lambda row, *_: self._on_chunk(row))
        self.chunk_text = QPlainTextEdit(self)
        self.chunk_text.setObjectName("KnowledgeChunkText")
        self.chunk_text.setReadOnly(True)
        self.chunk_text.setPlaceholderText(self.tr("Select a file, then one of its chunks, to read it whole."))

        below = QSplitter(Qt.Orientation.Horizontal, self)
        below.addWidget(self.chunks)
        below.addWidget(self.chunk_text)
        below.setStretchFactor(0, 3)
        below.setStretchFactor(1, 2)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.empty_note)
        top_layout.addWidget(self.files, 1)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(top)
        splitter.addWidget(below)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    @staticmethod
    def _table_defaults(table: QTableWidget) -> None:
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        header = table.horizontalHeader()
        for column in range(table.columnCount() - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    # -- text --------------------------------------------------------------------------------
    def kind_text(self, kind: str) -> str:
        return {"encrypted": self.tr("encrypted"), "scanned": self.tr("scanned, no text layer"),
                "binary": self.tr("binary, not text"), "empty": self.tr("empty"), "too_large": self.tr("too large"),
                "unreadable": self.tr("unreadable"), "damaged": self.tr("damaged")}.get(kind, kind)

    def extent_text(self, doc: DocumentInfo) -> str:
        if not doc.extent:
            return ""
        words = {"page": self.tr("{n} pages"), "paragraph": self.tr("{n} paragraphs")}
        word = words.get(doc.unit, self.tr("{n} lines"))
        return word.format(n=doc.extent)

    # -- the collection's files ---------------------------------------------------------------
    def show_collection(self, name: str) -> None:
        if name != self.collection:
            self.collection = name
            self.documents = []
            self.files.setRowCount(0)
            self._show_chunks([])
        spawn(self.reload(), on_error=lambda exc: self.failed.emit(str(exc)))

    async def reload(self) -> None:
        name = self.collection
        if not name:
            self.show_documents([])
            return
        documents = await self.library.documents(name)
        if name == self.collection:
            self.show_documents(documents)

    def show_documents(self, documents: list[DocumentInfo]) -> None:
        current = self.current_path()
        self.documents = documents
        table = self.files
        table.setUpdatesEnabled(False)
        table.blockSignals(True)
        table.setRowCount(len(documents))
        bold = QFont(table.font())
        bold.setBold(True)
        for row, doc in enumerate(documents):
            problem = doc.status != "indexed"
            cells = [doc.name, self.tr("indexed") if not problem else self.tr("nothing indexed"),
                     str(doc.chunks) if not problem else "", self.extent_text(doc),
                     f"{self.kind_text(doc.reason_kind)} — {doc.reason}" if problem else ""]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(PATH_ROLE, doc.path)
                if column == 0:
                    item.setToolTip(doc.path)
                if column in (2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if problem:
                    item.setBackground(QBrush(PROBLEM_BACKGROUND))
                    if column in (1, 4):
                        item.setForeground(QBrush(PROBLEM_TEXT))
                        item.setFont(bold)
                table.setItem(row, column, item)
        table.blockSignals(False)
        table.setUpdatesEnabled(True)
        self.empty_note.setVisible(not documents)
        paths = [d.path for d in documents]
        if current in paths:
            table.blockSignals(True)
            table.selectRow(paths.index(current))
            table.blockSignals(False)
        elif not current:
            self._show_chunks([])

    def current_path(self) -> str:
        row = self.files.currentRow()
        return self.documents[row].path if 0 <= row < len(self.documents) else ""

    def row_of(self, path: str) -> int:
        return next((i for i, d in enumerate(self.documents) if d.path == path), -1)

    def _on_file(self, row: int) -> None:
        if not 0 <= row < len(self.documents):
            self._show_chunks([])
            return
        doc = self.documents[row]
        spawn(self._load_chunks(doc.path), on_error=lambda exc: self.failed.emit(str(exc)))

    async def _load_chunks(self, path: str) -> None:
        name = self.collection
        rows = await self.library.chunks(name, path)
        if name == self.collection and path == self.current_path():
            self._show_chunks(rows)

    # -- chunks -------------------------------------------------------------------------------
    def _show_chunks(self, rows: list[ChunkRow]) -> None:
        self.chunk_rows = rows
        table = self.chunks
        table.setUpdatesEnabled(False)
        table.blockSignals(True)
        table.setRowCount(len(rows))
        for i, chunk in enumerate(rows):
            cells = [str(chunk.ordinal + 1), location_text(chunk.unit, chunk.start, chunk.end), str(chunk.n_tokens),
                     preview(chunk.text)]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (0, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(i, column, item)
        table.blockSignals(False)
        table.setUpdatesEnabled(True)
        self.chunk_text.clear()
        wanted, self._want_chunk = self._want_chunk, None
        index = next((i for i, c in enumerate(rows) if c.id == wanted), -1)
        if index >= 0:
            _reveal(table, index)

    def _on_chunk(self, row: int) -> None:
        if not 0 <= row < len(self.chunk_rows):
            self.chunk_text.clear()
            return
        chunk = self.chunk_rows[row]
        head = self.tr("Chunk {n} · {where} · {tokens} tokens").format(
            n=chunk.ordinal + 1, where=location_text(chunk.unit, chunk.start, chunk.end), tokens=chunk.n_tokens)
        if chunk.heading:
            head += f" · {chunk.heading}"
        self.chunk_text.setPlainText(f"{head}\n\n{chunk.text}")

    def current_chunk(self) -> ChunkRow | None:
        row = self.chunks.currentRow()
        return self.chunk_rows[row] if 0 <= row < len(self.chunk_rows) else None

    async def select_chunk(self, chunk_id: int) -> None:
        """Show a chunk picked elsewhere (the map, a candidate): its file, then it in the list."""
        chunk = await self.library.chunk(chunk_id)
        if chunk is None:
            return
        if self.current_path() == chunk.path and any(c.id == chunk_id for c in self.chunk_rows):
            index = next(i for i, c in enumerate(self.chunk_rows) if c.id == chunk_id)
            _reveal(self.chunks, index)
            return
        row = self.row_of(chunk.path)
        if row < 0:
            await self.reload()
            row = self.row_of(chunk.path)
        if row < 0:
            return
        self._want_chunk = chunk_id
        self.files.blockSignals(True)
        self.files.selectRow(row)
        self.files.blockSignals(False)
        self.files.scrollTo(self.files.model().index(row, 0))
        await self._load_chunks(chunk.path)
