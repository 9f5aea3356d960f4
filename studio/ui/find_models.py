"""Find models: search the Hugging Face hub (or a mirror, or ModelScope) for GGUF repositories, see
each file's quantization, size and whether it fits this machine at a chosen context, download it
(progress, speed, cancel, resume); and add GGUF files already on this computer (LM Studio, HF cache).

A thin screen over studio.core.models.search / fit / discover: every network or disk call runs off the
GUI thread (`in_thread`), and answers that arrive after the user moved on are dropped.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QSplitter, QTabWidget, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from studio.core import paths
from studio.core.errors import user_message
from studio.core.models.fit import Budget, Estimate, ModelShape, Verdict, estimate, judge
from studio.core.models.gguf_info import format_size
from studio.core.models.search import HUGGINGFACE, MODELSCOPE, HubClient, RemoteModel
from studio.core.settings import AppSettings
from studio.ui.model_dialogs import _throttled
from studio.ui.tasks import in_thread, spawn, threadsafe
from studio.ui.widgets.banner import Banner
from studio.ui.theme import styled

CONTEXTS = (2048, 4096, 8192, 16384, 32768, 131072)
COLOURS = {"fits": QColor(46, 125, 50), "tight": QColor(178, 106, 0), "will_not_fit": QColor(198, 40, 40)}
_ROLE = Qt.ItemDataRole.UserRole


class FindModelsDialog(QDialog):
    """`downloaded(path)` after a download finishes; `added(path)` after a found file joins the library."""

    downloaded = Signal(str)
    added = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, settings: AppSettings | None = None,
                 save_settings: Callable[[], None] | None = None, library: Any = None,
                 dest_dir: Path | None = None, n_ctx: int = 4096) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Find models"))
        self.resize(1100, 680)
        self.settings = settings or AppSettings()
        self._save_settings = save_settings
        self.library = library
        self.dest_dir = Path(dest_dir) if dest_dir else paths.models_dir()
        self._generation = 0            # bumps on every search/selection: late answers are dropped
        self._shape: ModelShape | None = None
        self._budget: Budget | None = None
        self._models: list[RemoteModel] = []
        self._cancel: threading.Event | None = None
        self._found: list[Any] = []
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        layout.addWidget(self.tabs)
        self.tabs.addTab(self._build_search(), self.tr("Search"))
        self.tabs.addTab(self._build_local(), self.tr("Found on this computer"))
        self.tabs.currentChanged.connect(self._tab_changed)
        index = self.context.findData(n_ctx)
        self.context.setCurrentIndex(index if index >= 0 else 1)

    # -- building -------------------------------------------------------------------------
    def _build_search(self) -> QWidget:
        page = QWidget(self)
        column = QVBoxLayout(page)
        row = QHBoxLayout()
        self.source = QComboBox(page)
        self.source.addItem(self.tr("Hugging Face"), HUGGINGFACE)
        self.source.addItem(self.tr("ModelScope (魔搭)"), MODELSCOPE)
        self.source.setCurrentIndex(max(0, self.source.findData(self.settings.hub_source)))
        self.source.activated.connect(self._source_changed)
        self.query = QLineEdit(page)
        self.query.setPlaceholderText(self.tr("Search GGUF models, e.g. qwen3 or llama 3.2"))
        self.query.returnPressed.connect(self.search)
        self.sort = QComboBox(page)
        self.sort.addItem(self.tr("Most downloaded"), "downloads")
        self.sort.addItem(self.tr("Recently updated"), "recent")
        self.sort.activated.connect(lambda _i: self.search() if self.query.text().strip() else None)
        self.search_button = QPushButton(self.tr("Search"), page)
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        row.addWidget(self.source)
        row.addWidget(self.query, 1)
        row.addWidget(self.sort)
        row.addWidget(self.search_button)
        column.addLayout(row)

        mirror = QHBoxLayout()
        self.endpoint_label = QLabel(self.tr("Mirror (HF_ENDPOINT):"), page)
        self.endpoint = QLineEdit(self.settings.hub_endpoint, page)
        self.endpoint.setPlaceholderText(self.tr("empty = huggingface.co, e.g. https://hf-mirror.com"))
        self.endpoint.setToolTip(self.tr("A Hugging Face mirror for places where huggingface.co is slow or "
                                         "blocked. Saved in the settings; used for searches and downloads."))
        self.endpoint.editingFinished.connect(self._endpoint_edited)
        mirror.addWidget(self.endpoint_label)
        mirror.addWidget(self.endpoint, 1)
        column.addLayout(mirror)
        self.status = Banner(page, closable=False)
        column.addWidget(self.status)

        split = QSplitter(Qt.Orientation.Horizontal, page)
        self.results = QTreeWidget(split)
        self.results.setHeaderLabels([self.tr("Repository"), self.tr("Downloads"), self.tr("Likes"),
                                      self.tr("Updated")])
        self.results.setRootIsDecorated(False)
        _stretch_first(self.results)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.itemSelectionChanged.connect(self._repo_chosen)
        right = QWidget(split)
        files_col = QVBoxLayout(right)
        files_col.setContentsMargins(0, 0, 0, 0)
        ctx_row = QHBoxLayout()
        ctx_row.addWidget(QLabel(self.tr("Context length:"), right))
        self.context = QComboBox(right)
        for n in CONTEXTS:
            self.context.addItem(self.tr("{n} tokens").format(n=f"{n:,}"), n)
        self.context.currentIndexChanged.connect(lambda _i: self._show_verdicts())
        ctx_row.addWidget(self.context)
        self.free_label = QLabel(right)
        styled(self.free_label, "Hint")
        ctx_row.addWidget(self.free_label, 1)
        files_col.addLayout(ctx_row)
        self.files = QTreeWidget(right)
        self.files.setHeaderLabels([self.tr("File"), self.tr("Quantization"), self.tr("Size"),
                                    self.tr("Memory needed"), self.tr("Verdict")])
        self.files.setRootIsDecorated(False)
        _stretch_first(self.files)
        self.files.itemSelectionChanged.connect(self._file_chosen)
        files_col.addWidget(self.files, 1)
        self.verdict = QLabel(right)
        self.verdict.setWordWrap(True)
        styled(self.verdict, "Verdict")
        files_col.addWidget(self.verdict)
        split.addWidget(self.results)
        split.addWidget(right)
        split.setSizes([480, 620])
        column.addWidget(split, 1)

        bar = QHBoxLayout()
        self.progress = QProgressBar(page)
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.speed = QLabel(page)
        self.download_button = QPushButton(self.tr("Download"), page)
        self.download_button.setEnabled(False)
        self.download_button.clicked.connect(self.download)
        self.cancel_button = QPushButton(self.tr("Cancel download"), page)
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.speed)
        bar.addStretch(0)
        bar.addWidget(self.download_button)
        bar.addWidget(self.cancel_button)
        column.addLayout(bar)
        self._source_changed()
        return page

    def _build_local(self) -> QWidget:
        page = QWidget(self)
        column = QVBoxLayout(page)
        from studio.core.models.discover import default_roots

        folders = "\n".join(str(p) for _source, p in default_roots())
        self.local_hint = QLabel(self.tr("GGUF models in LM Studio's folders and the Hugging Face cache. "
                                         "“Add” lists a model in this app where it lies; nothing is "
                                         "copied. Looked in:\n{folders}").format(folders=folders), page)
        self.local_hint.setWordWrap(True)
        styled(self.local_hint, "Hint")
        column.addWidget(self.local_hint)
        self.local_status = Banner(page, closable=False)
        column.addWidget(self.local_status)
        self.local = QTreeWidget(page)
        self.local.setHeaderLabels([self.tr("Model"), self.tr("Found in"), self.tr("Quantization"),
                                    self.tr("Size"), self.tr("Status")])
        self.local.setRootIsDecorated(False)
        _stretch_first(self.local)
        self.local.itemSelectionChanged.connect(self._local_chosen)
        column.addWidget(self.local, 1)
        row = QHBoxLayout()
        self.rescan_button = QPushButton(self.tr("Look again"), page)
        self.rescan_button.clicked.connect(self.scan_local)
        self.add_button = QPushButton(self.tr("Add to library"), page)
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(self.add_selected)
        row.addStretch(1)
        row.addWidget(self.rescan_button)
        row.addWidget(self.add_button)
        column.addLayout(row)
        self._scanned = False
        return page

    # -- settings ---------------------------------------------------------------------------
    def _source_changed(self, *_args) -> None:
        source = self.source.currentData()
        hf = source == HUGGINGFACE
        self.endpoint.setVisible(hf)
        self.endpoint_label.setVisible(hf)
        if self.settings.hub_source != source:
            self.settings.hub_source = source
            self._persist()
        self.results.clear()
        self.files.clear()
        if self.query.text().strip():
            self.search()

    def _endpoint_edited(self) -> None:
        text = self.endpoint.text().strip()
        if text and not text.startswith(("http://", "https://")):
            self.status.show_message(self.tr("A mirror address starts with http:// or https://, for "
                                             "example https://hf-mirror.com."), "warning")
            return
        if text != self.settings.hub_endpoint:
            self.settings.hub_endpoint = text
            self._persist()

    def _persist(self) -> None:
        if self._save_settings is not None:
            self._save_settings()

    def client(self) -> HubClient:
        source = self.source.currentData()
        return HubClient(source, self.settings.hub_endpoint if source == HUGGINGFACE else "")

    # -- search -----------------------------------------------------------------------------
    def search(self) -> None:
        self._endpoint_edited()
        query = self.query.text().strip()
        self._generation += 1
        self.results.clear()
        self.files.clear()
        self.verdict.clear()
        self.download_button.setEnabled(False)
        self.status.show_message(self.tr("Searching {host}…").format(host=self.client().host), "info")
        spawn(self._search(query, self.sort.currentData(), self._generation), on_error=self._failed)

    async def _search(self, query: str, sort: str, generation: int) -> None:
        hits = await in_thread(self.client().search, query, sort)
        if generation != self._generation:
            return
        for hit in hits:
            item = QTreeWidgetItem([hit.repo, f"{hit.downloads:,}", f"{hit.likes:,}", hit.updated])
            for column in (1, 2):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setData(0, _ROLE, hit.repo)
            if hit.gated:
                item.setToolTip(0, self.tr("Gated: accept its licence on the website and add a token (HF_TOKEN)"))
                item.setText(0, self.tr("{repo} (gated)").format(repo=hit.repo))
            self.results.addTopLevelItem(item)
        if hits:
            self.status.hide()
        else:
            self.status.show_message(self.tr("No GGUF repositories match “{query}”.").format(query=query), "info")

    def _repo_chosen(self) -> None:
        items = self.results.selectedItems()
        if not items:
            return
        self._generation += 1
        self.files.clear()
        self.verdict.clear()
        self._shape = None
        self.download_button.setEnabled(False)
        repo = items[0].data(0, _ROLE)
        self.status.show_message(self.tr("Listing the files of {repo}…").format(repo=repo), "info")
        spawn(self._list(repo, self._generation), on_error=self._failed)

    async def _list(self, repo: str, generation: int) -> None:
        client = self.client()
        models = await in_thread(client.list_models, repo)
        if generation != self._generation:
            return
        self._models = models
        for model in models:
            item = QTreeWidgetItem([model.name, model.quant or "—", format_size(model.size), "…", ""])
            if model.split:
                item.setToolTip(0, self.tr("Split into {n} files, downloaded together").format(n=len(model.files)))
            self.files.addTopLevelItem(item)
        if not models:
            self.status.show_message(self.tr("{repo} holds no GGUF model files.").format(repo=repo), "info")
            return
        self.files.setCurrentItem(self.files.topLevelItem(0))
        self.status.show_message(self.tr("Reading the model header to estimate its memory needs…"), "info")
        self._budget = await in_thread(Budget.now)
        shape = await in_thread(client.read_shape, models[0])
        if generation != self._generation:
            return
        self._shape = shape
        self.status.hide()
        self._show_verdicts()

    # -- verdicts ---------------------------------------------------------------------------
    def _estimate(self, model: RemoteModel) -> tuple[Estimate, Verdict] | None:
        if self._shape is None or self._budget is None:
            return None
        est = estimate(self._shape, model.size, int(self.context.currentData()))
        return est, judge(est, self._budget, self._shape.n_layers, self.settings.engine.n_gpu_layers)

    def _words(self, kind: str) -> str:
        return {"fits": self.tr("fits"), "tight": self.tr("tight"), "will_not_fit": self.tr("will not fit")}[kind]

    def _show_verdicts(self) -> None:
        budget = self._budget
        if budget is not None:
            text = self.tr("Free now: {ram} RAM").format(ram=format_size(budget.ram))
            if budget.vram is not None:
                text += self.tr(", {vram} on {gpu}").format(vram=format_size(budget.vram), gpu=budget.gpu)
            self.free_label.setText(text)
        for index, model in enumerate(self._models):
            item = self.files.topLevelItem(index)
            found = self._estimate(model)
            if item is None or found is None:
                continue
            est, verdict = found
            item.setText(3, format_size(est.total))
            item.setText(4, self._words(verdict.kind))
            item.setForeground(4, QBrush(COLOURS[verdict.kind]))
            item.setToolTip(4, self._sentence(est, verdict))
        self._file_chosen()

    def _sentence(self, est: Estimate, verdict: Verdict, rich: bool = False) -> str:
        budget = self._budget or Budget(0)
        text = self.tr("Needs about {total} at {ctx} tokens (model {weights}, context {kv}, working memory "
                       "{work}).").format(total=format_size(est.total), ctx=f"{est.n_ctx:,}",
                                          weights=format_size(est.weights), kv=format_size(est.kv_cache),
                                          work=format_size(est.compute))
        if verdict.vram_need and budget.vram is not None:
            text += " " + self.tr("{gpu} on the GPU ({vram} free) and {ram} in RAM ({free} free):").format(
                gpu=format_size(verdict.vram_need), vram=format_size(budget.vram),
                ram=format_size(verdict.ram_need), free=format_size(budget.ram))
        else:
            text += " " + self.tr("{free} of RAM is free:").format(free=format_size(budget.ram))
        word = self._words(verdict.kind)
        if rich:
            word = f"<b style='color:{COLOURS[verdict.kind].name()}'>{word}</b>"
        return f"{text} {word}."

    def _selected_model(self) -> RemoteModel | None:
        item = self.files.currentItem()
        index = self.files.indexOfTopLevelItem(item) if item is not None else -1
        return self._models[index] if 0 <= index < len(self._models) else None

    def _file_chosen(self) -> None:
        model = self._selected_model()
        self.download_button.setEnabled(model is not None and self._cancel is None)
        found = self._estimate(model) if model is not None else None
        if found is None:
            self.verdict.clear()
            return
        est, verdict = found
        text = f"{Path(model.name).name}: {self._sentence(est, verdict, rich=True)}"
        if self._shape is not None and self._shape.context_length and est.n_ctx > self._shape.context_length:
            text += "<br>" + self.tr("This model was trained for {n} tokens; a longer context may give poor "
                                     "answers.").format(n=f"{self._shape.context_length:,}")
        self.verdict.setText(text)

    # -- download ---------------------------------------------------------------------------
    @property
    def downloading(self) -> bool:
        return self._cancel is not None

    def download(self) -> None:
        model = self._selected_model()
        if model is None or self._cancel is not None:
            return
        self._cancel = threading.Event()
        self.download_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.setValue(0)
        self.progress.show()
        part = self.dest_dir / (Path(model.first.path).name + ".part")
        resumed = part.stat().st_size if part.exists() else 0
        if resumed:
            self.status.show_message(self.tr("Resuming {file} from {done}…").format(
                file=Path(model.first.path).name, done=format_size(resumed)), "info")
        else:
            self.status.show_message(self.tr("Downloading {file} into {folder}…").format(
                file=Path(model.name).name, folder=self.dest_dir), "info")
        spawn(self._download(model, self._cancel), on_error=self._download_failed)

    async def _download(self, model: RemoteModel, cancel: threading.Event) -> None:
        client = self.client()
        started = [time.monotonic(), -1]
        report = _throttled(threadsafe(lambda f, done, total: self._on_progress(f, done, total, started)), 0.2)
        on_file = threadsafe(self._on_file)
        try:
            path = await in_thread(client.download, model, self.dest_dir, progress=report, cancel=cancel,
                                   on_file=on_file)
        except Exception as exc:  # noqa: BLE001 - shown at once, so the message and the state change together
            self._download_failed(exc)
            return
        finally:
            self._cancel = None
            self.cancel_button.hide()
            self.download_button.setEnabled(self._selected_model() is not None)
        self.progress.setValue(1000)
        self.speed.clear()
        self.status.show_message(self.tr("Downloaded {file} (checksum verified). It is in your model list.")
                                 .format(file=path.name), "info")
        self.downloaded.emit(str(path))

    def _on_file(self, index: int, count: int) -> None:
        if count > 1:
            self.progress.setFormat(self.tr("File {i} of {n}: %p%").format(i=index + 1, n=count))

    def _on_progress(self, fraction: float, done: int, total: int | None, started: list) -> None:
        if started[1] < 0:  # the first report: bytes already on disk (a resumed .part) are not speed
            started[0], started[1] = time.monotonic(), done
        self.progress.setValue(int(fraction * 1000))
        elapsed = time.monotonic() - started[0]
        if elapsed > 0.5:
            rate = (done - started[1]) / elapsed
            text = self.tr("{done} of {total} · {rate}/s").format(
                done=format_size(done), total=format_size(total or 0), rate=format_size(rate))
            if rate > 0 and total:
                left = int((total - done) / rate)
                text += " · " + self.tr("{m} min {s} s left").format(m=left // 60, s=left % 60)
            self.speed.setText(text)

    def _download_failed(self, exc: BaseException) -> None:
        self._cancel = None
        self.cancel_button.hide()
        self.progress.hide()
        self.speed.clear()
        self.download_button.setEnabled(self._selected_model() is not None)
        if getattr(exc, "kind", "") == "cancelled":
            self.status.show_message(self.tr("Download cancelled. Download it again to resume where it stopped."),
                                     "info")
        else:
            self.status.show_message(self.tr("The download failed: {reason}").format(reason=self._say(exc)),
                                     "error")

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def reject(self) -> None:  # closing the dialog cancels a running download (its .part is kept)
        self.cancel()
        super().reject()

    def _failed(self, exc: BaseException) -> None:
        self.status.show_message(self._say(exc), "error")

    def _say(self, exc: BaseException) -> str:
        return say_hub_error(exc)

    # -- on this computer -------------------------------------------------------------------
    def _tab_changed(self, index: int) -> None:
        if index == 1 and not self._scanned:
            self.scan_local()

    def _library(self) -> Any:
        if self.library is None:
            from studio.core.models.library import ModelLibrary
            self.library = ModelLibrary()
        return self.library

    def scan_local(self) -> None:
        self._scanned = True
        self.rescan_button.setEnabled(False)
        self.local_status.show_message(self.tr("Looking for GGUF files…"), "info")
        spawn(self._scan(), on_error=self._local_failed)

    async def _scan(self) -> None:
        from studio.core.models.discover import HF_CACHE, discover

        try:
            found = await in_thread(discover, self._library())
        finally:
            self.rescan_button.setEnabled(True)
        self._found = found
        self.local.clear()
        for model in found:
            where = self.tr("Hugging Face cache") if model.source == HF_CACHE else self.tr("LM Studio")
            if model.repo:
                where += f" · {model.repo}"
            status = (self.tr("Unusable") if model.error
                      else self.tr("In library") if model.in_library else self.tr("Not added"))
            item = QTreeWidgetItem([model.path.name, where, model.quant or "—", format_size(model.size), status])
            item.setToolTip(0, str(model.path))
            if model.error:
                item.setToolTip(4, model.error)
            if model.error:
                item.setForeground(4, QBrush(COLOURS["will_not_fit"]))
            elif model.in_library:
                item.setForeground(4, QBrush(COLOURS["fits"]))
            self.local.addTopLevelItem(item)
        if found:
            self.local_status.hide()
        else:
            self.local_status.show_message(self.tr("No GGUF models were found in those folders."), "info")
        self._local_chosen()

    def _selected_found(self) -> Any:
        item = self.local.currentItem()
        index = self.local.indexOfTopLevelItem(item) if item is not None else -1
        return self._found[index] if 0 <= index < len(self._found) else None

    def _local_chosen(self) -> None:
        found = self._selected_found()
        self.add_button.setEnabled(found is not None and not found.in_library and not found.error)

    def add_selected(self) -> None:
        found = self._selected_found()
        if found is None:
            return
        self.add_button.setEnabled(False)
        spawn(self._add(found), on_error=self._local_failed)

    async def _add(self, found: Any) -> None:
        from studio.core.models.discover import add_found

        entry = await in_thread(add_found, self._library(), found)
        self.local_status.show_message(self.tr("{name} is now in your model list (left where it is).")
                                       .format(name=entry.name), "info")
        self.added.emit(str(entry.path))
        await self._scan()

    def _local_failed(self, exc: BaseException) -> None:
        self.rescan_button.setEnabled(True)
        self.local_status.show_message(user_message(exc), "error")


def _stretch_first(tree: QTreeWidget) -> None:
    """The name column takes the room; the numbers keep their width."""
    header = tree.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for index in range(1, tree.columnCount()):
        header.setSectionResizeMode(index, QHeaderView.ResizeMode.ResizeToContents)



def say_hub_error(exc: BaseException) -> str:
    """A hub or download error in the UI's language where the core gave its facts (the hub unreachable,
    the first thing a user behind a firewall meets; a rate limit; a missing repository); else the
    core's sentence."""
    kind, v = getattr(exc, "kind", ""), getattr(exc, "values", {}) or {}
    try:
        if kind == "offline" and v.get("source") == "modelscope":
            return QCoreApplication.translate(
                "FindModelsDialog", "could not reach {host} ({reason}) — check the connection or choose Hugging "
                "Face as the source").format(**v)
        if kind == "offline":
            return QCoreApplication.translate(
                "FindModelsDialog", "could not reach {host} ({reason}) — check the connection or set a mirror "
                "(HF_ENDPOINT) in Settings").format(**v)
        if kind == "network":
            return QCoreApplication.translate(
                "FindModelsDialog", "could not reach {host}: {reason}; check the network connection").format(**v)
        if kind == "rate_limited":
            return QCoreApplication.translate(
                "FindModelsDialog", "{host} answered 429: too many requests; wait a minute and try again (a "
                "token raises the limit)").format(**v)
        if kind == "not_found" and v.get("what"):
            return QCoreApplication.translate(
                "FindModelsDialog", "{what} was not found on {host} (404): the repository may have been renamed, "
                "removed or made private").format(**v)
    except (KeyError, IndexError):
        pass
    return user_message(exc)


__all__ = ["FindModelsDialog"]
