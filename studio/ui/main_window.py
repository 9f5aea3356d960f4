"""The main window: model toolbar, the screens (tabs), status bar, and drag-and-drop (.gguf models load,
dataset files open in the Fine-tune screen, which is built the first time it is needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QObject, QUrl
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QLabel, QMainWindow, QProgressBar, QPushButton,
                               QSizePolicy, QTabWidget, QToolBar, QVBoxLayout, QWidget)

from studio import APP_NAME
from studio.core.chat import store_recovery
from studio.core.engine.client import CANCEL_TIMEOUT_S, EngineClient, EngineState, ModelInfo
from studio.core.engine.remote import RemoteRegistry
from studio.core.secrets import SecretStore
from studio.core.settings import AppSettings, EngineSettings, save_settings
from studio.core.workers.protocol import WorkerError
from studio.core.workspace import EngineBusy, Workspace
from studio.ui.arena import ArenaOpener
from studio.ui.chat.view import ChatView
from studio.ui.finetune import dataset_paths
from studio.ui.i18n import LANGUAGES
from studio.ui.knowledge import KnowledgeScreen
from studio.ui.model_dialogs import HubDownloadDialog, StarterPanel, gguf_paths
from studio.ui.lazy_qt import QEvent, Qt
from studio.ui.remote_engines import RemoteEnginesMixin
from studio.ui.server_switch import install_server_panel
from studio.ui.tasks import in_thread, spawn
from studio.ui.widgets.banner import Banner
from studio.ui.widgets.drop_overlay import DropOverlay
from studio.ui.widgets.model_picker import ModelPicker

if TYPE_CHECKING:
    import asyncio

    # Annotations only: an event class read as the module loads builds QEvent's enums (studio.ui.lazy_qt).
    from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
else:  # imported when first used, after the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import asyncio

class MainWindow(RemoteEnginesMixin, QMainWindow):
    def __init__(self, settings: AppSettings, store, engine: EngineClient, library=None, *,
                 settings_path: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.settings_path = settings_path
        self.store = store
        self.engine = engine
        self.workspace = Workspace(engine)
        # Remote engines (settings.remote_engines; their keys in the SecretStore) and their listings.
        self.remotes = RemoteRegistry(settings, SecretStore(), save=lambda _settings: self.save_settings())
        self._remote_errors: dict[str, str] = {}
        self.remote_dialog = None
        self.library = library
        self._closed = False
        self._closing = False
        self._entries: list = []
        self.hub_dialog: HubDownloadDialog | None = None
        self.setWindowTitle(APP_NAME)
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        self.resize(1200, 780)

        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.banner = Banner(central)
        self.banner.setObjectName("Banner")
        column.addWidget(self.banner)
        # Problems with the user's own files (chat database, settings) stay until dismissed: the
        # general banner above is replaced by every model load.
        self.store_banner = Banner(central)
        column.addWidget(self.store_banner)
        self.settings_banner = Banner(central)
        column.addWidget(self.settings_banner)
        self.starter_panel = StarterPanel(central)
        self.starter_panel.provisioned.connect(lambda path: spawn(self._after_new_file(path)))
        self.starter_panel.hub_requested.connect(self.open_hub_dialog)
        column.addWidget(self.starter_panel)
        self.tabs = QTabWidget(central)
        self.tabs.setObjectName("Screens")
        self.tabs.setDocumentMode(True)
        self.chat = ChatView(store, self.workspace, self.tabs)
        self.workspace.context_length = self.chat.current_n_ctx  # models load with the chat's context
        self.tabs.addTab(self.chat, self.tr("Chat"))
        # The Fine-tune screen (pyqtgraph, core training modules) is built on first show, so it
        # costs nothing at start-up.
        self.finetune_host = QWidget(self.tabs)
        self.finetune_host.setObjectName("FinetuneHost")
        host_layout = QVBoxLayout(self.finetune_host)
        host_layout.setContentsMargins(0, 0, 0, 0)
        self.finetune = None
        self.tabs.addTab(self.finetune_host, self.tr("Fine-tune"))
        # Inspect is built on first show too (its analyser worker starts only when asked).
        self.inspect_host = QWidget(self.tabs)
        self.inspect_host.setObjectName("InspectHost")
        inspect_layout = QVBoxLayout(self.inspect_host)
        inspect_layout.setContentsMargins(0, 0, 0, 0)
        self.inspect = None
        self.tabs.addTab(self.inspect_host, self.tr("Inspect"))
        self.knowledge = KnowledgeScreen(settings.knowledge, self.save_settings, self.tabs)  # built on first show
        self.tabs.addTab(self.knowledge, self.knowledge.title())
        self.tabs.currentChanged.connect(self._on_tab_changed)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.drop_overlay = DropOverlay(self)

        # The API server answers with this window's engine; its switch sits in the status bar.
        self.server_dock = install_server_panel(self, self.workspace, settings.server, self.save_settings)
        self._make_toolbar()
        self.arena = ArenaOpener(self)  # its window and workers exist once opened
        self.toolbar.insertAction(self.settings_toggle, self.arena.action)
        self._make_menus()
        self._make_status_bar()
        self._show_remotes()  # the last listing, until refresh_remotes() asks again
        self.restore_chat_remote()
        self.remotes.subscribe("changed", self._show_remotes)
        self._unsubscribe = [
            engine.subscribe("state", self._on_engine_state),
            engine.subscribe("load_progress", self._on_load_progress),
            engine.subscribe("loaded", self._on_loaded),
            engine.subscribe("crashed", self._on_crashed),
            # A frozen engine ended by Stop or Cancel: a reply's notice shows in the chat, a load's here.
            engine.subscribe("unresponsive", self._on_unresponsive),
            self.workspace.subscribe("loading", self._on_loading),
            self.workspace.subscribe("load_failed", self._on_load_failed),
            self.workspace.subscribe("model_changed", self._on_model_changed),
        ]
        if hasattr(store, "subscribe"):
            self._unsubscribe.append(store.subscribe("damaged", self._on_store_damaged))
        self.show_store_notice(getattr(store, "notice", None))
        self.chat.settings_panel.engine_apply_requested.connect(self.apply_engine_settings)
        self.chat.messages.inspect_requested.connect(self.inspect_text)
        self.chat.use_knowledge(lambda: self.knowledge.ensure().library, settings.knowledge)
        self.chat.source_requested.connect(self.open_source)
        self.chat.settings_panel.set_engine_settings(settings.engine)
        self.restore_window()
        self.chat.start(settings.last_conversation_id)
        self._on_engine_state(engine.state)

    # -- building ---------------------------------------------------------------------------
    def _make_toolbar(self) -> None:
        bar = QToolBar(self.tr("Model"), self)
        bar.setObjectName("ModelToolbar")
        bar.setMovable(False)
        self.addToolBar(bar)  # at the top; naming the area would build the Qt namespace (studio.ui.lazy_qt)
        bar.addWidget(QLabel(self.tr("Model:") + " ", bar))
        self.model_picker = ModelPicker(bar)
        self.model_picker.model_chosen.connect(self.use_local_model)
        self.model_picker.remote_chosen.connect(self.use_remote_model)
        self.model_picker.add_remote_requested.connect(lambda: self.open_remote_dialog())
        self.model_picker.manage_remotes_requested.connect(self.open_remote_engines)
        self.model_picker.add_file_requested.connect(self.add_model_file)
        self.model_picker.hub_requested.connect(self.open_hub_dialog)
        self.model_picker.find_requested.connect(self.open_find_models)
        bar.addWidget(self.model_picker)
        self.add_file_action = QAction(self.tr("Add model file…"), self)
        self.add_file_action.triggered.connect(self.add_model_file)
        self.hub_action = QAction(self.tr("Download from Hugging Face…"), self)
        self.hub_action.triggered.connect(self.open_hub_dialog)
        self.find_action = QAction(self.tr("Find models…"), self)
        self.find_action.triggered.connect(self.open_find_models)
        bar.addAction(self.find_action)
        bar.addAction(self.add_file_action)
        bar.addAction(self.hub_action)
        bar.addSeparator()
        self.backend_label = QLabel(bar)
        self.backend_label.setObjectName("BackendLabel")
        self.backend_label.setToolTip(self.tr("The llama.cpp backend that runs the model"))
        bar.addWidget(self.backend_label)
        bar.addSeparator()
        self.load_progress = QProgressBar(bar)
        self.load_progress.setObjectName("LoadProgress")
        self.load_progress.setRange(0, 1000)
        self.load_progress.setMaximumWidth(220)
        self.load_progress.setFormat(self.tr("Loading… %p%"))
        self.cancel_load_button = QPushButton(self.tr("Cancel"), bar)
        self.cancel_load_button.setToolTip(self.tr("Cancel loading the model"))
        self.cancel_load_button.clicked.connect(self.cancel_load)
        self._progress_action = bar.addWidget(self.load_progress)
        self._cancel_action = bar.addWidget(self.cancel_load_button)
        self._set_loading_ui(False)
        spacer = QWidget(bar)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        self.settings_toggle = self.chat.toggle_settings_action
        bar.addAction(self.settings_toggle)
        self.toolbar = bar

    def _open_gpu_runtime(self) -> None:
        from studio.ui.gpu_runtime_dialog import open_gpu_runtime_dialog

        self._gpu_dialog = open_gpu_runtime_dialog(self, self.settings)

    def _make_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu(self.tr("&File"))
        file_menu.addAction(self.chat.new_action)
        file_menu.addAction(self.arena.action)
        file_menu.addSeparator()
        file_menu.addAction(self.find_action)
        file_menu.addAction(self.add_file_action)
        file_menu.addAction(self.hub_action)
        gpu_action = file_menu.addAction(self.tr("GPU runtime…"))
        gpu_action.setToolTip(self.tr("Download the NVIDIA (CUDA) builds of llama.cpp and torch for this app"))
        gpu_action.triggered.connect(self._open_gpu_runtime)
        file_menu.addSeparator()
        quit_action = file_menu.addAction(self.tr("&Quit"))
        quit_action.setShortcuts([QKeySequence("Ctrl+Q")])  # see ChatView._make_actions
        quit_action.triggered.connect(self.close)
        edit_menu = menu.addMenu(self.tr("&Edit"))
        edit_menu.addAction(self.chat.search_action)
        view_menu = menu.addMenu(self.tr("&View"))
        view_menu.addAction(self.chat.toggle_settings_action)
        view_menu.addAction(self.server_dock.toggleViewAction())
        view_menu.addSeparator()
        self.screen_actions: list[QAction] = []
        for number, (label, host) in enumerate(((self.tr("&Chat"), self.chat),
                                                (self.tr("&Fine-tune"), self.finetune_host),
                                                (self.tr("&Inspect"), self.inspect_host),
                                                (self.knowledge.menu_text(), self.knowledge)), start=1):
            action = view_menu.addAction(label)
            action.setShortcuts([QKeySequence(f"Ctrl+{number}")])
            action.triggered.connect(lambda _=False, w=host: self.tabs.setCurrentWidget(w))
            self.addAction(action)
            self.screen_actions.append(action)
        view_menu.addSeparator()
        language_menu = view_menu.addMenu(self.tr("Language (applies after restart)"))
        group = QActionGroup(self)
        self.language_actions: dict[str, QAction] = {}
        for code in LANGUAGES:
            label = self.tr("System default") if code == "" else LANGUAGES[code]
            action = language_menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(code == self.settings.language)
            action.triggered.connect(lambda _=False, c=code: self.set_language(c))
            group.addAction(action)
            self.language_actions[code] = action
        # Window-wide shortcuts live on actions that belong to the window.
        for action in (self.chat.new_action, self.chat.search_action):
            self.addAction(action)

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_model = QLabel(self.tr("No model"), bar)
        self.status_ctx = QLabel(bar)
        self.status_backend = QLabel(bar)
        self.status_threads = QLabel(bar)
        for label in (self.status_model, self.status_ctx, self.status_backend, self.status_threads):
            bar.addPermanentWidget(label)

    # -- window state -----------------------------------------------------------------------
    def restore_window(self) -> None:
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode("ascii")))
        if self.settings.window_state:
            self.restoreState(QByteArray.fromBase64(self.settings.window_state.encode("ascii")))
        if self.settings.splitter_state:
            self.chat.splitter.restoreState(QByteArray.fromBase64(self.settings.splitter_state.encode("ascii")))
            self.chat.toggle_settings_action.setChecked(self.chat.splitter.sizes()[2] > 0)

    def remember_window(self) -> None:
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode("ascii")
        self.settings.window_state = bytes(self.saveState().toBase64()).decode("ascii")
        self.settings.splitter_state = bytes(self.chat.splitter.saveState().toBase64()).decode("ascii")
        if self.chat.session.conversation is not None:
            self.settings.last_conversation_id = self.chat.session.conversation.id
        self.save_settings()

    def save_settings(self) -> None:
        try:
            save_settings(self.settings, self.settings_path)
        except OSError as exc:
            self.show_banner(self.tr("Could not save the settings: {reason}").format(reason=exc), "warning")

    def set_language(self, code: str) -> None:
        self.settings.language = code
        self.save_settings()
        self.show_banner(self.tr("The language changes the next time you start {app}.").format(app=APP_NAME), "info")

    # -- start-up ---------------------------------------------------------------------------
    async def startup(self) -> None:
        """After the window shows: list the models, then load the last (or the starter) model."""
        self.server_dock.dock_into_window()  # where the last session left it, possibly open
        # Text fields accept drops themselves (they would paste the file's path): send .gguf drags
        # that land on them to the window instead. Done here, not while building: the first
        # viewport() makes PySide set up ~30 Python classes and their enums (3-8 ms).
        for target in (self.chat.composer.viewport(), self.chat.sidebar.search_box,
                       self.chat.settings_panel.system_prompt.viewport()):
            self.route_drops(target)
        if self.library is None:
            def make_library():
                from studio.core.models.library import ModelLibrary
                return ModelLibrary()
            self.library = await in_thread(make_library)
        await self.refresh_models()
        # Build the Markdown renderer (markdown-it, pygments) now, off the GUI thread, so the
        # first streamed reply does not pay for it.
        from studio.ui.widgets.markdown import render_markdown
        await in_thread(render_markdown, "warm-up `code`\n\n```python\nx = 1\n```")
        path = self._initial_model()
        if path:
            await self.load_model(path)
        else:
            from studio.core.models.starter import is_starter_present
            if not is_starter_present():
                self.starter_panel.offer()
            spawn(self._show_system_backend())
        self.server_dock.start_if_wanted()
        spawn(self.refresh_remotes(), on_error=self._unexpected)

    def _initial_model(self) -> str | None:
        last = self.settings.last_model
        usable = {str(e.path) for e in self._entries if e.ok}
        if last and last in usable:
            return last
        default = next((e for e in self._entries if e.is_starter and e.ok), None) or \
            next((e for e in self._entries if e.ok), None)
        return str(default.path) if default else None

    async def _show_system_backend(self) -> None:
        try:
            info = await self.engine.system_info()
        except WorkerError:
            return
        self.backend_label.setText(self.tr("Backend: {name}").format(name=info.get("backend", "?")))
        self.chat.settings_panel.set_model_info(None, info.get("backend"))

    async def refresh_models(self) -> None:
        if self.library is None:
            return
        self._entries = await in_thread(self.library.list)
        self.model_picker.set_entries(self._entries, self._current_path())
        self._select_in_picker(self._current_path())  # a chosen remote model stays shown
        if self.finetune is not None:
            self.finetune.set_models(self._entries, self._current_path())
        if self.inspect is not None:
            self.inspect.set_models(self._entries, self._current_path())

    def _current_path(self) -> str:
        return self.workspace.current_path()

    def _select_in_picker(self, path: str) -> None:
        remote = self.chat.session.remote
        self.model_picker.show_path(remote.label if remote is not None else path)

    # -- loading ----------------------------------------------------------------------------
    async def load_model(self, path: str, settings: EngineSettings | None = None) -> ModelInfo | None:
        """Load a model; on failure the inline banner says why and the previous model stays."""
        return await self.workspace.load_model(path, settings=settings)

    def _on_loading(self, path: str) -> None:
        """Any load (picker, drop, a screen's): the picker shows the model being loaded, then the current one."""
        if path:
            self.banner.hide()
        self._select_in_picker(path or self._current_path())

    def _on_load_failed(self, path: str, error: Exception) -> None:
        if isinstance(error, EngineBusy):
            text = self.tr("A reply is still being written: stop it before switching models.") \
                if error.holder == "chat" else str(error)
            self.show_banner(text, "warning")
            self._select_in_picker(self._current_path())
        elif isinstance(error, WorkerError) and error.kind == "cancelled":
            self.show_banner(self.tr("Loading was cancelled."), "info")
        elif isinstance(error, WorkerError):
            kept = self.engine.model_info.name if self.engine.ready and self.engine.model_info else ""
            text = self.tr("Could not load {name}: {reason}").format(name=Path(path).name, reason=error.message)
            if kept:
                text += "\n" + self.tr("{model} is still loaded.").format(model=kept)
            self.show_banner(text, "error", details=error.log_tail)

    def _on_model_changed(self, info: ModelInfo) -> None:
        self.settings.last_model = info.path
        self.save_settings()

    def cancel_load(self) -> None:
        spawn(self.engine.cancel_load())

    def apply_engine_settings(self, settings: EngineSettings) -> None:
        self.settings.engine = settings
        self.save_settings()
        path = self._current_path() or self.settings.last_model
        if path:
            spawn(self.load_model(path, settings=settings), on_error=self._unexpected)
        else:
            self.engine.settings = settings

    # -- adding models ----------------------------------------------------------------------
    def add_model_file(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load on use: their enums cost start-up time

        path, _ = QFileDialog.getOpenFileName(self, self.tr("Add a GGUF model"), str(Path.home()),
                                              self.tr("GGUF models (*.gguf);;All files (*)"))
        if path:
            spawn(self.import_and_load(path), on_error=self._unexpected)

    def open_hub_dialog(self) -> HubDownloadDialog:
        from studio.core.models.starter import STARTER_HF_FILENAME, STARTER_HF_REPO

        dialog = HubDownloadDialog(self, repo=STARTER_HF_REPO, filename=STARTER_HF_FILENAME,
                                   endpoint=self.settings.hub_endpoint)
        dialog.downloaded.connect(lambda path: spawn(self._after_new_file(path)))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.hub_dialog = dialog
        return dialog

    def open_find_models(self):
        """The Find models dialog: one, kept when closed (searches still in flight land in it, and it
        reopens as it was); a download loads the model, an added file is listed."""
        from studio.ui.find_models import FindModelsDialog

        dialog = getattr(self, "find_dialog", None)
        if dialog is None:
            dialog = FindModelsDialog(self, settings=self.settings, save_settings=self.save_settings,
                                      library=self.library, n_ctx=self.chat.current_n_ctx())
            dialog.downloaded.connect(lambda path: spawn(self._after_new_file(path)))
            dialog.added.connect(lambda _path: spawn(self.refresh_models()))
            self.find_dialog = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    async def _after_new_file(self, path: str) -> None:
        self.starter_panel.hide()
        await self.import_and_load(path)

    async def import_and_load(self, path: str) -> ModelInfo | None:
        """Validate a file with the library (GGUF checks), add it to the picker, and load it."""
        from studio.core.models.gguf_info import ModelFileError

        if self.library is None:
            from studio.core.models.library import ModelLibrary
            self.library = ModelLibrary()
        try:
            entry = await in_thread(self.library.add, path)
        except ModelFileError as exc:
            kept = self.engine.model_info.name if self.engine.ready and self.engine.model_info else ""
            text = self.tr("{name} cannot be used: {reason}").format(name=Path(path).name, reason=exc.message)
            if kept:
                text += "\n" + self.tr("{model} is still loaded.").format(model=kept)
            self.show_banner(text, "error")
            return None
        except OSError as exc:
            self.show_banner(self.tr("{name} cannot be read: {reason}").format(
                name=Path(path).name, reason=exc.strerror or exc), "error")
            return None
        await self.refresh_models()
        return await self.load_model(str(entry.path))

    # -- the Fine-tune screen ---------------------------------------------------------------
    def ensure_finetune(self):
        """Build the Fine-tune screen (first use only) and return it."""
        if self.finetune is None:
            from studio.ui.finetune.view import FinetuneView

            self.finetune = FinetuneView(self.workspace, self.finetune_host)
            self.finetune.chat_with_adapter_requested.connect(
                lambda base, adapter: spawn(self.chat_with_adapter(base, adapter), on_error=self._unexpected))
            for widget in self.finetune.drop_targets():
                self.route_drops(widget)
            self.finetune_host.layout().addWidget(self.finetune)
            self.finetune.set_models(self._entries, self._current_path())
        return self.finetune

    def ensure_inspect(self):
        """Build the Inspect screen the first time it is needed."""
        if self.inspect is None:
            from studio.ui.inspect.view import InspectView

            self.inspect = InspectView(self.workspace, self.inspect_host)
            self.inspect.banner_requested.connect(self.show_banner)
            for widget in self.inspect.drop_targets():
                self.route_drops(widget)
            self.inspect_host.layout().addWidget(self.inspect)
            self.inspect.set_models(self._entries, self._current_path())
        return self.inspect

    def inspect_text(self, text: str) -> None:
        """A chat message's "Tokens" button: the message in Inspect › Tokens, with the chat's model."""
        view = self.ensure_inspect()
        self.tabs.setCurrentWidget(self.inspect_host)
        view.show_tokens(text, self.workspace.model_path)

    def open_source(self, candidate: dict) -> None:
        """A citation clicked in Chat: the Knowledge tab with that chunk selected in its file."""
        self.tabs.setCurrentWidget(self.knowledge)
        view = self.knowledge.ensure()
        spawn(view.show_chunk(str(candidate.get("collection") or ""), int(candidate["chunk_id"])),
              on_error=view._unexpected)

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.finetune_host:
            self.ensure_finetune()
        elif self.tabs.widget(index) is self.inspect_host:
            self.ensure_inspect()

    def open_datasets(self, paths: list[str]) -> None:
        """Show the Fine-tune screen with these dataset files added."""
        view = self.ensure_finetune()
        self.tabs.setCurrentWidget(self.finetune_host)
        view.add_datasets(paths)

    def route_drops(self, widget: QWidget) -> None:
        """Text fields accept drops themselves (they would paste the file's path): send file drags
        that land on them to the window instead."""
        widget.installEventFilter(self)

    async def chat_with_adapter(self, base_model: str, adapter: str, *, scale: float = 1.0) -> bool:
        """Switch to Chat with `base_model` loaded and `adapter` attached, in a new conversation."""
        self.tabs.setCurrentWidget(self.chat)
        if self.chat.busy:
            self.show_banner(self.tr("A reply is still being written: stop it before switching models."), "warning")
            return False
        if not base_model.lower().endswith(".gguf"):
            self.show_banner(self.tr("This run was trained from a Hugging Face folder; chatting needs a GGUF model. "
                                     "Convert the base model to GGUF, or merge the adapter into a GGUF first."),
                             "warning")
            return False
        if not Path(base_model).is_file():
            self.show_banner(self.tr("The run's base model {path} is gone, so the adapter has nothing to attach "
                                     "to.").format(path=base_model), "error")
            return False
        if await self.workspace.use_model(base_model) is None:
            return False
        if not await self.chat.attach_adapters([{"path": adapter, "scale": scale}], replace=True):
            return False
        self.chat.new_chat()
        return True

    # -- drag and drop ----------------------------------------------------------------------
    # By the event type's name: QEvent.Type here would build QEvent's enums as the module loads
    # (studio.ui.lazy_qt).
    _DRAG_EVENTS = {"DragEnter": "dragEnterEvent", "DragMove": "dragMoveEvent", "DragLeave": "dragLeaveEvent",
                    "Drop": "dropEvent"}

    @staticmethod
    def _dropped(mime) -> tuple[list[str], list[str]]:
        """(.gguf models, dataset files) among the dragged URLs."""
        if mime is None or not mime.hasUrls():
            return [], []
        urls = mime.urls()
        return gguf_paths(urls), dataset_paths(urls)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        handler = self._DRAG_EVENTS.get(event.type().name)
        if handler is None:
            return False
        if event.type() == QEvent.Type.DragLeave:
            self.drop_overlay.hide()
            return False
        models, datasets = self._dropped(event.mimeData())
        if models or datasets:
            getattr(self, handler)(event)
            return True
        return False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        models, datasets = self._dropped(mime)
        if models:
            event.acceptProposedAction()
            self.drop_overlay.show_hint(self.tr("Drop the .gguf file to add and load it"))
        elif datasets and self._drops_go_to_tokens(datasets):
            event.acceptProposedAction()
            self.drop_overlay.show_hint(self.tr("Drop to see {name} as tokens").format(
                name=os.path.basename(datasets[0])))
        elif datasets:
            event.acceptProposedAction()
            self.drop_overlay.show_hint(self.tr("Drop to open {count} dataset file(s) in Fine-tune").format(
                count=len(datasets)))
        elif mime.hasUrls():
            self.drop_overlay.show_hint(self.tr("Drop a .gguf model to load it, or dataset files (.jsonl .json .csv "
                                                ".tsv .txt) to fine-tune; other files cannot be used here"),
                                        accepting=False)
            event.ignore()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        models, datasets = self._dropped(event.mimeData())
        if models or datasets:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self.drop_overlay.hide()
        event.accept()

    def _drops_go_to_tokens(self, datasets: list[str]) -> bool:
        """On Inspect, one dropped text file is something to read as tokens, not to train on."""
        return self.inspect is not None and self.tabs.currentWidget() is self.inspect_host and len(datasets) == 1

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.drop_overlay.hide()
        models, datasets = self._dropped(event.mimeData())
        if not models and not datasets:
            event.ignore()
            return
        event.acceptProposedAction()
        if models:  # a model wins over datasets dropped with it: loading is what the user sees first
            if len(models) > 1 or datasets:
                self.show_banner(self.tr("Several files were dropped: loading {name} only.").format(
                    name=os.path.basename(models[0])), "info")
            spawn(self.import_and_load(models[0]), on_error=self._unexpected)
            return
        if self._drops_go_to_tokens(datasets):
            self.inspect.sections.setCurrentWidget(self.inspect.tokens_view)
            self.inspect.tokens_view.load_file(datasets[0])
            return
        self.open_datasets(datasets)

    # -- files handed over (command line, desktop entry, a second launch) ---------------------
    def open_files(self, paths: list[str]) -> None:
        """Open files as if they had been dropped on the window (a .gguf loads, datasets go to
        Fine-tune), and bring the window to the front. Bad paths get a sentence in the banner."""
        from studio.ui.finetune import DATASET_SUFFIXES

        self.bring_to_front()
        urls = [QUrl.fromLocalFile(os.path.abspath(p)) for p in paths if os.path.isfile(p)]
        models, datasets = gguf_paths(urls), dataset_paths(urls)
        problems = []
        for path in paths:
            name = os.path.basename(path) or path
            if not os.path.exists(path):
                problems.append(self.tr("{name} was not found ({path}).").format(name=name, path=path))
            elif not os.path.isfile(path):
                problems.append(self.tr("{name} is a folder, not a file.").format(name=name))
            elif not path.lower().endswith((".gguf", *DATASET_SUFFIXES)):
                problems.append(self.tr("{name} cannot be opened here: open a .gguf model, or dataset files "
                                        "(.jsonl .json .csv .tsv .txt) to fine-tune.").format(name=name))
        if models:
            if len(models) > 1 or datasets:
                problems.append(self.tr("Several files were given: loading {name} only.").format(
                    name=os.path.basename(models[0])))
            spawn(self._load_then_tell(models[0], "\n".join(problems)), on_error=self._unexpected)
            return
        if datasets:
            self.open_datasets(datasets)
        if problems:
            self.show_banner("\n".join(problems), "warning" if datasets else "error")

    async def _load_then_tell(self, path: str, problems: str) -> None:
        """Load a handed model; what was wrong with the other files shows afterwards (a load hides the banner)."""
        await self.import_and_load(path)
        if problems and self.banner.isHidden():
            self.show_banner(problems, "warning")

    def bring_to_front(self) -> None:
        """Show, un-minimize, raise and activate the window (the desktop may still only flash it)."""
        if self.isMinimized():
            self.showNormal()
        else:
            self.show()
        self.setWindowState((self.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
        self.raise_()
        self.activateWindow()

    # -- engine events ----------------------------------------------------------------------
    def _set_loading_ui(self, loading: bool) -> None:
        self._progress_action.setVisible(loading)
        self._cancel_action.setVisible(loading)
        self.model_picker.setEnabled(not loading)

    def _on_engine_state(self, state: EngineState) -> None:
        self._set_loading_ui(state == EngineState.LOADING)
        if state == EngineState.LOADING:
            self.load_progress.setValue(0)
        if state == EngineState.NO_MODEL and self.engine.model_info is None:
            self.status_model.setText(self.tr("No model"))

    def _on_load_progress(self, fraction: float, stage: str) -> None:
        self.load_progress.setValue(int(fraction * 1000))
        self.load_progress.setToolTip(stage)

    def _on_loaded(self, info: ModelInfo) -> None:
        self.backend_label.setText(self.tr("Backend: {name}").format(name=info.backend))
        self.status_model.setText(self.tr("Model: {name}").format(name=Path(info.path).stem))
        self.status_ctx.setText(self.tr("n_ctx {n}").format(n=info.n_ctx))
        self.status_backend.setText(info.backend)
        self.status_threads.setText(self.tr("threads: {n}").format(n=info.n_threads))
        self.status_model.setToolTip(f"{info.name}\n{info.path}")
        self._select_in_picker(info.path)
        self.starter_panel.hide()
        if self.finetune is not None:
            self.finetune.set_models(self._entries, info.path)
        if self.inspect is not None:
            self.inspect.set_models(self._entries, info.path)

    def _on_unresponsive(self, message: str) -> None:
        self._on_crashed(message, "")
        if not self.chat.busy:  # during a reply the chat shows the note itself
            self.show_banner(message)

    def _on_crashed(self, message: str, log_tail: str) -> None:
        self.status_model.setText(self.tr("Engine stopped — restarts on the next message"))

    # -- the chat database -------------------------------------------------------------------
    def show_store_notice(self, notice) -> None:
        """What start-up had to do about the chat database (core's StoreNotice), with its way out."""
        if notice is None:
            return
        actions = []
        if notice.can_recover and notice.kept is not None:
            actions.append((self.tr("Recover chats"), lambda: self.recover_chats(notice.kept)))
        folder = notice.kept.parent if notice.kept is not None else getattr(self.store, "path", Path()).parent
        if not getattr(self.store, "memory", False) or notice.kept is not None:
            actions.append((self.tr("Open folder"), lambda: self._open_folder(folder)))
        level = "warning" if notice.kind == "read_only" else "error"
        self.store_banner.show_message(notice.message, level, actions=actions)

    def recover_chats(self, damaged: Path) -> None:
        """Copy what can be read from the damaged file (kept as it is) into the store in use."""
        try:
            report = store_recovery.recover(self.store, damaged)
        except Exception as exc:  # a store error or an unreadable copy: say so, keep the window
            self.store_banner.show_message(self.tr("Recovery failed: {reason}").format(reason=exc), "error")
            return
        self.store_banner.show_message(report.summary(), "warning" if report.unreadable else "info",
                                       actions=[(self.tr("Open folder"), lambda: self._open_folder(damaged.parent))])
        self.chat.sidebar.refresh()

    def _on_store_damaged(self, message: str) -> None:
        self.store_banner.show_message(message, "error", actions=[(self.tr("Repair"), self.repair_store)])

    def repair_store(self) -> None:
        """Damage found while in use: core moves the file aside and recovers it into a fresh one."""
        if self.chat.busy:
            self.store_banner.show_message(self.tr("A reply is still being written: stop it, then repair."),
                                           "warning", actions=[(self.tr("Repair"), self.repair_store)])
            return
        try:
            report = store_recovery.repair(self.store)
        except Exception as exc:
            self.store_banner.show_message(self.tr("Repair failed: {reason}").format(reason=exc), "error")
            return
        self.store_banner.show_message(report.summary(), "warning" if report.unreadable else "info")
        self.chat.session.close_if_deleted(self.chat.session.conversation.id if self.chat.session.conversation else 0)
        self.chat.start()
        self.chat.sidebar.refresh(self.chat.session.conversation.id if self.chat.session.conversation else None)

    def show_settings_notice(self, notice: str) -> None:
        if notice:
            self.settings_banner.show_message(notice, "warning")

    @staticmethod
    def _open_folder(folder: Path) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- messages ---------------------------------------------------------------------------
    def show_banner(self, text: str, level: str = "info", details: str = "") -> None:
        self.banner.show_message(text, level, details=details)

    def _unexpected(self, exc: BaseException) -> None:
        self.show_banner(self.tr("Something went wrong: {reason}").format(reason=exc), "error",
                         details=f"{type(exc).__name__}: {exc}")

    # -- closing ----------------------------------------------------------------------------
    async def shutdown(self) -> None:
        """Save the window, stop a running reply, close the engine worker and the store."""
        if self._closed:
            return
        self._closing = True
        self.remember_window()
        self.chat.settings_panel.flush()
        await self.server_dock.shutdown()  # first: its requests must not hold the engine
        try:
            if self.chat.busy:
                await asyncio.wait_for(self.chat.session.stop(), CANCEL_TIMEOUT_S + 2)  # past Stop's own bound
        except (asyncio.TimeoutError, WorkerError):
            pass
        try:
            if self.finetune is not None:
                await self.finetune.shutdown()
            if self.inspect is not None:
                await self.inspect.shutdown()
            await self.knowledge.shutdown()
            await self.arena.shutdown()  # its own engine workers, before the app's engine
        finally:
            try:
                await self.engine.close()
            finally:
                self._close_core()

    def _close_core(self) -> None:
        self.chat.disconnect_core()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self.workspace.close()
        self.store.close()
        self._closed = True

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._closed:
            event.accept()
            return
        event.ignore()
        if self._closing:
            return
        if self.finetune is not None and self.finetune.training:
            from PySide6.QtWidgets import QMessageBox

            answer = QMessageBox.question(
                self, self.tr("Training in progress"),
                self.tr("A fine-tuning run is still training. Quit anyway? The run stops here and can be "
                        "resumed from its last checkpoint in Fine-tune › Runs."),
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.remember_window()  # saved now, even if the shutdown below is cut short

        async def close_later() -> None:
            try:
                await self.shutdown()
            finally:
                self._closed = True
                self.close()

        spawn(close_later())
