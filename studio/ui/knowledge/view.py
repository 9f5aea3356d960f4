"""The Knowledge screen: collections on the left; on the right the indexing bar, then Files & chunks,
Try a question and the Embeddings map for the selected collection.

All work is core calls on a KnowledgeLibrary (studio.core.knowledge.library): indexing in one
knowledge worker, questions and maps in another, reads of the SQLite file on a helper thread. This
screen subscribes to the library's events and awaits its calls through qasync; files and folders
dropped anywhere on it are added to the selected collection.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QInputDialog, QLabel, QListWidget, QListWidgetItem,
                               QMessageBox, QPlainTextEdit, QProgressBar, QPushButton, QSplitter, QTabWidget,
                               QVBoxLayout, QWidget)

from studio.core.errors import StudioError
from studio.core.knowledge.library import CollectionInfo, IndexJob, KnowledgeLibrary
from studio.core.settings import KnowledgeSettings
from studio.core.workers.protocol import WorkerError
from studio.ui.knowledge.files import KnowledgeFilesPanel
from studio.ui.knowledge.map_view import KnowledgeMapView
from studio.ui.knowledge.playground import KnowledgePlayground
from studio.ui.tasks import spawn
from studio.ui.widgets.banner import Banner
from studio.ui.widgets.drop_overlay import DropOverlay

NAME_ROLE = Qt.ItemDataRole.UserRole + 3


def local_paths(event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> list[str]:
    """The local files and folders a drag carries. A .gguf is a model for the window to load (it
    ignores the drag here, so it reaches the window), not a document."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and os.path.exists(url.toLocalFile())]
    return [] if all(p.lower().endswith(".gguf") for p in paths) else paths


class KnowledgeView(QWidget):
    def __init__(self, library: KnowledgeLibrary, settings: KnowledgeSettings, save: Callable[[], Any],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("KnowledgeView")
        self.setAcceptDrops(True)
        self.library = library
        self.infos: list[CollectionInfo] = []
        self.last_job: IndexJob | None = None
        self.map_key: tuple[str, str, int] | None = None  # what the map shows (collection, question, k)
        # Asks before deleting; a test replaces it.
        self.confirm: Callable[[str, str], bool] = self._confirm

        # -- collections ------------------------------------------------------------------------
        self.collections = QListWidget(self)
        self.collections.setObjectName("KnowledgeCollections")
        self.collections.currentItemChanged.connect(lambda *_: self._on_collection())
        self.new_button = QPushButton(self.tr("New…"), self)
        self.new_button.clicked.connect(self._ask_new)
        self.rename_button = QPushButton(self.tr("Rename…"), self)
        self.rename_button.clicked.connect(self._ask_rename)
        self.delete_button = QPushButton(self.tr("Delete…"), self)
        self.delete_button.clicked.connect(self._ask_delete)
        buttons = QHBoxLayout()
        for button in (self.new_button, self.rename_button, self.delete_button):
            buttons.addWidget(button)
        self.info = QLabel(self)
        self.info.setObjectName("KnowledgeCollectionInfo")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(8, 6, 0, 8)
        left_layout.addWidget(QLabel(self.tr("Collections"), self))
        left_layout.addWidget(self.collections, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.info)

        # -- indexing ---------------------------------------------------------------------------
        self.banner = Banner(self)
        self.add_files_button = QPushButton(self.tr("Add files…"), self)
        self.add_files_button.clicked.connect(self._ask_files)
        self.add_folder_button = QPushButton(self.tr("Add folder…"), self)
        self.add_folder_button.clicked.connect(self._ask_folder)
        self.refresh_button = QPushButton(self.tr("Re-index changed files"), self)
        self.refresh_button.setToolTip(self.tr("Look again at every file and folder added: changed and new files "
                                               "are indexed (unchanged ones are skipped by content hash), deleted "
                                               "ones removed"))
        self.refresh_button.clicked.connect(lambda: self.start_index(refresh=True))
        self.resume_button = QPushButton(self.tr("Resume"), self)
        self.resume_button.setObjectName("KnowledgeResume")
        self.resume_button.setToolTip(self.tr("Finish the files an interrupted indexing job left waiting"))
        self.resume_button.clicked.connect(lambda: self.start_index())
        self.cancel_button = QPushButton(self.tr("Cancel"), self)
        self.cancel_button.setObjectName("KnowledgeCancel")
        self.cancel_button.clicked.connect(self.cancel_index)
        actions = QHBoxLayout()
        for button in (self.add_files_button, self.add_folder_button, self.refresh_button, self.resume_button):
            actions.addWidget(button)
        actions.addStretch(1)
        self.drop_hint = QLabel(self.tr("…or drop files and folders anywhere here"), self)
        self.drop_hint.setEnabled(False)
        actions.addWidget(self.drop_hint)
        self.status = QLabel(self)
        self.status.setObjectName("KnowledgeStatus")
        self.status.setWordWrap(True)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("KnowledgeProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(260)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.status, 1)
        progress_row.addWidget(self.progress)
        progress_row.addWidget(self.cancel_button)

        # -- the three views --------------------------------------------------------------------
        self.files = KnowledgeFilesPanel(library, self)
        self.files.failed.connect(lambda text: self.show_error(text))
        self.playground = KnowledgePlayground(settings, save, self)
        self.playground.ask_requested.connect(lambda text: spawn(self.ask(text), on_error=self._unexpected))
        self.playground.candidates.candidate_opened.connect(lambda c: self.open_chunk(int(c["chunk_id"])))
        self.playground.candidates.table.setToolTip(self.tr("Double-click a candidate to open it among its "
                                                            "file's chunks"))
        self.map = KnowledgeMapView(self)
        self.map.question.setAcceptDrops(False)
        self.map.draw_requested.connect(lambda text, k: spawn(self.draw_map(text, k), on_error=self._unexpected))
        self.map.chunk_clicked.connect(self.open_chunk)
        self.sections = QTabWidget(self)
        self.sections.setObjectName("KnowledgeSections")
        self.sections.addTab(self.files, self.tr("Files && chunks"))
        self.sections.addTab(self.playground, self.tr("Try a question"))
        self.sections.addTab(self.map, self.tr("Embeddings map"))
        self.sections.currentChanged.connect(self._on_section)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 6, 8, 8)
        right_layout.addWidget(self.banner)
        right_layout.addLayout(actions)
        right_layout.addLayout(progress_row)
        right_layout.addWidget(self.sections, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 4)
        splitter.setSizes([240, 960])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.overlay = DropOverlay(self)
        # Read-only text would refuse a drop anyway; let it pass to this screen.
        for edit in self.findChildren(QPlainTextEdit):
            edit.setAcceptDrops(False)
            edit.viewport().setAcceptDrops(False)

        # A burst of per-file events refreshes the tables once.
        self._last_reload = 0.0
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(250)
        self._reload_timer.timeout.connect(self.refresh)
        self._reload_timer.timeout.connect(lambda: self._reload_timer.setInterval(250))
        self._unsubscribe = [library.subscribe("changed", lambda: self._reload_timer.start()),
                             library.subscribe("job", self._on_job),
                             library.subscribe("file", lambda collection, info: self._reload_soon()),
                             library.subscribe("finished", self._on_finished)]
        self._show_job(None)
        self._update_buttons()
        self.refresh()

    def _reload_soon(self) -> None:
        """After a file is indexed: read the tables again now, then at most once a second (a big
        collection has thousands of rows)."""
        if self._reload_timer.isActive():
            return
        if time.monotonic() - self._last_reload >= 1.0:
            self.refresh()
        else:
            self._reload_timer.start(1000)

    # -- collections ------------------------------------------------------------------------
    def current(self) -> str:
        item = self.collections.currentItem()
        return str(item.data(NAME_ROLE)) if item is not None else ""

    def info_of(self, name: str) -> CollectionInfo | None:
        return next((c for c in self.infos if c.name == name), None)

    def refresh(self) -> None:
        self._last_reload = time.monotonic()
        spawn(self.reload(), on_error=self._unexpected)

    async def reload(self, select: str | None = None) -> None:
        """Read the collections again (counts change as files are indexed), keep the selection."""
        try:
            infos = await self.library.collections()
        except StudioError as exc:
            self.show_error(exc.message)
            return
        self.show_collections(infos, select if select is not None else self.current())

    def show_collections(self, infos: list[CollectionInfo], select: str) -> None:
        self.infos = infos
        widget = self.collections
        widget.blockSignals(True)
        widget.clear()
        for info in infos:
            counts = self.tr("{files} files · {chunks} chunks").format(files=info.documents, chunks=info.chunks)
            if info.skipped:
                counts += " · " + self.tr("{n} failed").format(n=info.skipped)
            item = QListWidgetItem(f"{info.name}\n{counts}")
            item.setData(NAME_ROLE, info.name)
            widget.addItem(item)
        names = [c.name for c in infos]
        row = names.index(select) if select in names else (0 if names else -1)
        widget.setCurrentRow(row)
        widget.blockSignals(False)
        self._on_collection()

    def _on_collection(self) -> None:
        name = self.current()
        info = self.info_of(name)
        if info is None:
            self.info.setText(self.tr("No collection yet. Create one with New…, or drop files or folders here "
                                      "to start one."))
        else:
            text = self.tr("{files} files indexed, {failed} yielded nothing, {chunks} chunks.").format(
                files=info.documents, failed=info.skipped, chunks=info.chunks)
            models = ", ".join(info.models) or self.library.model_name
            text += "\n" + self.tr("Embedding model: {model}").format(model=models)
            job = self.library.job
            if info.pending and job is not None and job.collection == name:
                text += "\n" + self.tr("{n} files are queued for indexing.").format(n=info.pending)
            elif info.pending:
                text += "\n" + self.tr("{n} files are waiting from an interrupted indexing job: press Resume.").format(
                    n=info.pending)
            self.info.setText(text)
        self.files.show_collection(name)
        if self.map_key is not None and self.map_key[0] != name:
            self.map.clear()
            self.map_key = None
        self._update_buttons()

    def _ask_new(self) -> None:
        name, ok = QInputDialog.getText(self, self.tr("New collection"), self.tr("Name of the new collection:"))
        if ok and name.strip():
            spawn(self.create_collection(name), on_error=self._unexpected)

    async def create_collection(self, name: str) -> str:
        try:
            created = await self.library.create(name)
        except StudioError as exc:
            self.show_error(self.tr("The collection could not be created: {reason}").format(reason=exc.message))
            return ""
        await self.reload(select=created)
        return created

    def _ask_rename(self) -> None:
        old = self.current()
        if not old:
            return
        prompt = self.tr("New name for “{name}”:").format(name=old)
        name, ok = QInputDialog.getText(self, self.tr("Rename collection"), prompt, text=old)
        if ok and name.strip() and name.strip() != old:
            spawn(self.rename_collection(old, name), on_error=self._unexpected)

    async def rename_collection(self, old: str, new: str) -> None:
        try:
            renamed = await self.library.rename(old, new)
        except StudioError as exc:
            self.show_error(self.tr("The collection could not be renamed: {reason}").format(reason=exc.message))
            return
        await self.reload(select=renamed)

    def _confirm(self, title: str, text: str) -> bool:
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel
        answer = QMessageBox.question(self, title, text, buttons, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def _ask_delete(self) -> None:
        name = self.current()
        if name:
            spawn(self.delete_collection(name), on_error=self._unexpected)

    async def delete_collection(self, name: str) -> bool:
        info = self.info_of(name)
        text = self.tr("Delete the collection “{name}” with its {chunks} chunks? Your files are not touched; only "
                       "the index is removed.").format(name=name, chunks=info.chunks if info else 0)
        if not self.confirm(self.tr("Delete collection"), text):
            return False
        try:
            await self.library.delete(name)
        except StudioError as exc:
            self.show_error(self.tr("The collection could not be deleted: {reason}").format(reason=exc.message))
            return False
        await self.reload(select="")
        return True

    # -- adding files -----------------------------------------------------------------------
    def _ask_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, self.tr("Add files to the collection"))
        if paths:
            self.add_paths(paths)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Add a folder to the collection"))
        if folder:
            self.add_paths([folder])

    def add_paths(self, paths: list[str]) -> None:
        spawn(self.add(paths), on_error=self._unexpected)

    async def add(self, paths: list[str]) -> IndexJob | None:
        """Index files and folders into the selected collection (one is made when there is none)."""
        name = self.current()
        if not name:
            first = Path(paths[0])
            base = first.name if first.is_dir() else self.tr("Documents")
            taken = {c.name for c in self.infos}
            name = next(n for n in (base, *(f"{base} {i}" for i in range(2, 1000))) if n not in taken)
            if not await self.create_collection(name):
                return None
        return await self.index(name, paths)

    def start_index(self, *, refresh: bool = False) -> None:
        name = self.current()
        if name:
            spawn(self.index(name, refresh=refresh), on_error=self._unexpected)

    async def index(self, name: str, paths: list[str] | None = None, *, refresh: bool = False) -> IndexJob | None:
        if self.library.indexing:
            self.show_error(self.tr("Another collection is being indexed; wait for it or cancel it first."))
            return None
        if self.banner.level in ("error", "warning"):
            self.banner.dismiss()
        try:
            return await self.library.index(name, paths or [], refresh=refresh)
        except StudioError as exc:
            self.show_error(exc.message)
            return None

    def cancel_index(self) -> None:
        self.cancel_button.setEnabled(False)
        self.status.setText(self.tr("Cancelling…"))
        spawn(self.library.cancel(), on_error=self._unexpected)

    def _on_job(self, job: IndexJob) -> None:
        self._show_job(job)
        self._update_buttons()

    def _show_job(self, job: IndexJob | None) -> None:
        running = job is not None
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        if job is None:
            return
        self.progress.setValue(int(job.fraction * 1000))
        if job.provisioning:
            self.status.setText(self.tr("First use: downloading and unpacking the embedding model (about 32 MB)… "
                                        "{p} %").format(p=int(job.fraction * 100)))
            return
        done = len(job.files)
        if job.stage == "done":
            text = self.tr("Finishing {collection}: loading its vectors for questions…")
        elif job.stage:
            text = self.tr("Indexing {file} into {collection}")
        else:
            text = self.tr("Starting the knowledge worker for {collection}…")
        text = text.format(file=job.stage, collection=job.collection)
        if done or job.chunks:
            text += " — " + self.tr("{done} files done, {chunks} chunks, {rate} chunks/s").format(
                done=done, chunks=job.chunks, rate=f"{job.rate:.1f}")
        self.status.setText(text)

    def _on_finished(self, job: IndexJob) -> None:
        self.last_job = job
        self._show_job(None)
        self.cancel_button.setEnabled(True)
        report = job.report
        if job.outcome == "done":
            self.status.setText(self.tr("{collection}: {indexed} files indexed ({chunks} chunks) in {s} s, "
                                        "{unchanged} unchanged, {skipped} yielded nothing, {removed} removed.").format(
                collection=job.collection, indexed=report.get("indexed", 0), chunks=report.get("embedded_chunks", 0),
                s=f"{float(report.get('seconds', 0)):.1f}", unchanged=report.get("unchanged", 0),
                skipped=report.get("skipped", 0), removed=report.get("removed", 0)))
            if report.get("skipped"):
                self.banner.show_message(self.tr("{n} files yielded nothing; the Files table says why for each. "
                                                 "The rest of the collection was indexed.").format(
                    n=report.get("skipped")), "warning")
        elif job.outcome == "cancelled":
            self.status.setText(self.tr("Indexing {collection} was cancelled after {n} files; what was done is "
                                        "kept. Resume finishes the rest.").format(collection=job.collection,
                                                                                  n=len(job.files)))
        elif job.error_kind == "worker_crashed":
            self.status.clear()
            self.show_error(self.tr("The knowledge worker stopped ({reason}). What was indexed is kept; Resume "
                                    "finishes the rest with a fresh worker.").format(reason=job.error))
        elif job.error_kind == "embedding_model":
            self.status.clear()
            self.show_error(self.tr("The embedding model could not be set up: {reason}").format(reason=job.error))
        else:
            self.status.clear()
            self.show_error(self.tr("Indexing {collection} failed: {reason}").format(
                collection=job.collection, reason=job.error))
        self._update_buttons()
        self._reload_timer.stop()
        self.refresh()

    def _update_buttons(self) -> None:
        name = self.current()
        busy = self.library.indexing
        info = self.info_of(name)
        for button in (self.add_files_button, self.add_folder_button):
            button.setEnabled(not busy)
        self.refresh_button.setEnabled(not busy and bool(name))
        self.resume_button.setVisible(bool(info and info.pending) and not busy)
        self.rename_button.setEnabled(bool(name))
        self.delete_button.setEnabled(bool(name))

    # -- drops ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        paths = local_paths(event)
        if not paths:
            event.ignore()
            return
        if self.library.indexing:
            self.overlay.show_hint(self.tr("Wait for the indexing job to finish (or cancel it) before adding more"),
                                   accepting=False)
            event.ignore()
            return
        event.acceptProposedAction()
        target = self.current() or self.tr("a new collection")
        self.overlay.show_hint(self.tr("Drop to add {n} files or folders to {collection}").format(
            n=len(paths), collection=target))

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if local_paths(event) and not self.library.indexing:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self.overlay.hide()
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.overlay.hide()
        paths = local_paths(event)
        if not paths or self.library.indexing:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_paths(paths)

    # -- questions and the map --------------------------------------------------------------
    async def ask(self, text: str) -> dict[str, Any] | None:
        name = self.current()
        if not name:
            self.show_error(self.tr("Create a collection and add documents first."))
            return None
        if not text:
            self.show_error(self.tr("Type a question first."))
            return None
        settings = self.playground.settings
        self.playground.set_busy(True)
        try:
            result = await self.library.query([name], text, mode=settings.mode, top_k=settings.top_k,
                                              min_similarity=settings.min_similarity)
        except WorkerError as exc:
            self._worker_failed(exc, self.tr("The question could not be answered: {reason}"))
            return None
        finally:
            self.playground.set_busy(False)
        if self.banner.level == "error":
            self.banner.dismiss()
        self.playground.candidates.show_retrieval(result)
        self.map.question.setText(text)
        return result

    def _on_section(self, index: int) -> None:
        if self.sections.widget(index) is self.map and self.current():
            key = (self.current(), self.map.question.text().strip(), self.map.nearest.value())
            if key != self.map_key:
                spawn(self.draw_map(key[1], key[2]), on_error=self._unexpected)

    async def draw_map(self, text: str, nearest: int) -> dict[str, Any] | None:
        name = self.current()
        if not name:
            return None
        self.map.set_busy(True)
        self.map.note.setText(self.tr("Projecting the chunks of {collection}…").format(collection=name))
        try:
            result = await self.library.map(name, text, nearest=nearest)
        except WorkerError as exc:
            if exc.kind == "empty":
                self.map.clear()
                self.map.note.setText(self.tr("The map needs at least two chunks: add documents to {collection} "
                                              "first.").format(collection=name))
            else:
                self.map.note.clear()
                self._worker_failed(exc, self.tr("The map could not be drawn: {reason}"))
            return None
        finally:
            self.map.set_busy(False)
        if name != self.current():
            return None
        self.map_key = (name, text, nearest)
        self.map.show_map(result)
        info = self.info_of(name)
        drawn = len(result.get("points") or [])
        if info is not None and info.chunks > drawn:  # the worker maps at most a few thousand
            self.map.note.setText(self.map.note.text() + " " + self.tr(
                "Only the first {n} of its {total} chunks are drawn.").format(n=drawn, total=info.chunks))
        return result

    def open_chunk(self, chunk_id: int) -> None:
        """A point clicked on the map, or a candidate double-clicked: show that chunk in Files & chunks."""
        self.sections.setCurrentWidget(self.files)
        spawn(self.files.select_chunk(chunk_id), on_error=self._unexpected)

    async def show_chunk(self, collection: str, chunk_id: int) -> None:
        """A chunk cited in Chat: its collection selected, then the chunk among its file's chunks."""
        if collection and self.current() != collection:
            await self.reload(select=collection)
        self.sections.setCurrentWidget(self.files)
        await self.files.select_chunk(chunk_id)

    # -- messages ---------------------------------------------------------------------------
    def _worker_failed(self, exc: WorkerError, template: str) -> None:
        if exc.kind == "worker_crashed":
            self.show_error(self.tr("The knowledge worker stopped ({reason}); the next request starts a fresh "
                                    "one.").format(reason=exc.message))
        else:
            self.show_error(template.format(reason=exc.message))

    def show_error(self, text: str) -> None:
        self.banner.show_message(text, "error")

    def _unexpected(self, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
        self.show_error(self.tr("Something went wrong: {reason}").format(reason=message))

    async def shutdown(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._reload_timer.stop()
        await self.library.close()
