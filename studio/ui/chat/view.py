"""The Chat screen: conversations on the left, the conversation in the middle, settings on the right.

All chat behaviour lives in studio.core.chat.session.ChatSession; this widget turns clicks and keys
into session calls (run as asyncio tasks on the qasync loop) and shows the session's events.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QCoreApplication, QSignalBlocker, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar,
                               QPushButton, QSplitter, QToolButton, QVBoxLayout, QWidget)

from studio.core.chat.conversation import Conversation, Message, MessageStatus
from studio.core.chat.session import ChatSession, SessionBusy, SessionState
from studio.core.chat.store import ChatStoreError
from studio.core.chat.thinking import thinking_on
from studio.core.errors import StudioError
from studio.core.engine.client import EngineState, ModelInfo
from studio.core.engine.remote import RemoteEngine
from studio.core.settings import KnowledgeSettings
from studio.core.workers.protocol import WorkerError
from studio.core.workspace import Workspace
from studio.ui.chat.knowledge_panel import KnowledgeAttach, RetrievalPanel
from studio.ui.chat.messages import MessageList
from studio.ui.chat.serving_note import ServingNote
from studio.ui.chat.settings_panel import ChatSettingsPanel, adapter_name
from studio.ui.chat.sidebar import ConversationSidebar, shown_title
from studio.ui.lazy_qt import Qt
from studio.ui.tasks import spawn
from studio.ui.widgets.banner import Banner
from studio.ui.theme import styled

if TYPE_CHECKING:  # an event class read as the module loads builds QEvent's enums (studio.ui.lazy_qt)
    from PySide6.QtGui import QKeyEvent

BUSY = (SessionState.WAITING, SessionState.LOADING, SessionState.PROMPT, SessionState.GENERATING,
        SessionState.STOPPING)


class Composer(QPlainTextEdit):
    """Multi-line input: Ctrl+Enter sends, Esc stops (also when the window shortcuts don't fire)."""

    send_requested = Signal()
    stop_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.send_requested.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            return
        super().keyPressEvent(event)


class ChatView(QWidget):
    source_requested = Signal(dict)  # a cited or retrieved chunk (chunk_id, collection, path…): show it in Knowledge

    def __init__(self, store, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChatView")
        self.store = store
        self.engine = workspace.engine
        self.session = ChatSession(store, self.engine, workspace)
        self._unsubscribe: list = []
        self._last_stats: dict = {}

        self.sidebar = ConversationSidebar(store, self)
        self.settings_panel = ChatSettingsPanel(self)

        center = QWidget(self)
        column = QVBoxLayout(center)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        self.error_banner = Banner(center)
        self.error_banner.setObjectName("Banner")
        column.addWidget(self.error_banner)
        self.trimmed_banner = Banner(center)
        column.addWidget(self.trimmed_banner)
        self.messages = MessageList(center)
        column.addWidget(self.messages, 1)
        self.serving_note = ServingNote(workspace, self.session, center)  # the API server has the engine
        column.addWidget(self.serving_note)

        self.knowledge_attach = KnowledgeAttach(center)
        column.addWidget(self.knowledge_attach)
        self._library: Any = None  # () -> KnowledgeLibrary, given by use_knowledge

        composer_row = QHBoxLayout()
        composer_row.setContentsMargins(8, 0, 8, 0)
        self.composer = Composer(center)
        styled(self.composer, "Composer")
        self.composer.setPlaceholderText(self.tr("Message the model… (Ctrl+Enter to send, Esc to stop)"))
        self.composer.setFixedHeight(84)
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        composer_row.addWidget(self.composer, 1)
        buttons = QVBoxLayout()
        self.send_button = QPushButton(self.tr("Send"), center)
        self.send_button.setObjectName("SendButton")
        self.send_button.setToolTip(self.tr("Send (Ctrl+Enter)"))
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton(self.tr("Stop"), center)
        self.stop_button.setToolTip(self.tr("Stop the reply (Esc)"))
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        composer_row.addLayout(buttons)
        column.addLayout(composer_row)

        status_row = QHBoxLayout()
        status_row.setContentsMargins(8, 0, 8, 4)
        self.state_label = QLabel(center)
        self.state_label.setObjectName("EngineState")
        self.perf_label = QLabel(center)
        styled(self.perf_label, "PerfLabel")
        self.context_bar = QProgressBar(center)
        styled(self.context_bar, "ContextBar")
        self.context_bar.setFixedWidth(170)
        self.context_bar.setRange(0, 1)
        self.context_bar.setValue(0)
        self.context_bar.setFormat("")
        self.context_bar.setToolTip(self.tr("Tokens of the context window used by the last reply"))
        self.adapter_label = QLabel(center)
        styled(self.adapter_label, "AdapterLabel")
        self.adapter_label.hide()
        self.remote_label = QLabel(center)  # which remote engine answers, when one does
        self.remote_label.setObjectName("RemoteLabel")
        self.remote_label.hide()
        status_row.addWidget(self.state_label)
        status_row.addWidget(self.remote_label)
        status_row.addWidget(self.adapter_label)
        status_row.addWidget(self.perf_label, 1)
        status_row.addWidget(QLabel(self.tr("Context:"), center))
        status_row.addWidget(self.context_bar)
        column.addLayout(status_row)

        # Horizontal, the default. Without arguments: QSplitter(parent) has PySide check the overload that
        # takes a Qt.Orientation, which builds the Qt namespace before the window shows (studio.ui.lazy_qt);
        # the layout below gives it its parent.
        self.splitter = QSplitter()
        self.splitter.setObjectName("ChatSplitter")
        # The Retrieval panel sits beside the messages in a splitter of its own, so the window's
        # saved layout of the outer splitter (sidebar | chat | settings) keeps its meaning. It is built
        # the first time it is wanted (see retrieval_panel), not at start-up.
        self._retrieval_panel: RetrievalPanel | None = None
        self._retrieval_record: dict | None = None  # what it shows once built
        self.chat_split = QSplitter()  # horizontal; its parent is self.splitter
        self.chat_split.addWidget(center)
        self.chat_split.setCollapsible(0, False)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.chat_split)
        self.splitter.addWidget(self.settings_panel)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([230, 640, 290])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self._make_actions()
        retrieval_button = QToolButton(self.knowledge_attach)
        retrieval_button.setObjectName("RetrievalToggle")
        retrieval_button.setDefaultAction(self.toggle_retrieval_action)
        self.knowledge_attach.layout().addWidget(retrieval_button)
        self._connect()
        self._on_state(self.session.state)
        self._on_engine_state(self.engine.state)

    # -- wiring -----------------------------------------------------------------------------
    def _make_actions(self) -> None:
        # setShortcuts, not setShortcut (whose overloads include Qt.Key), and the shortcut context by
        # name: Qt is not read before the window shows (studio.ui.lazy_qt).
        self.send_action = QAction(self.tr("Send"), self)
        self.send_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.send_action.setProperty("shortcutContext", "WidgetWithChildrenShortcut")
        self.send_action.triggered.connect(self.send)
        self.stop_action = QAction(self.tr("Stop"), self)
        self.stop_action.setShortcuts([QKeySequence("Esc")])
        self.stop_action.setProperty("shortcutContext", "WindowShortcut")
        self.stop_action.triggered.connect(self.stop)
        self.new_action = QAction(self.tr("New chat"), self)
        self.new_action.setShortcuts(QKeySequence.StandardKey.New)
        self.new_action.triggered.connect(self.new_chat)
        self.search_action = QAction(self.tr("Search messages"), self)
        self.search_action.setShortcuts(QKeySequence.StandardKey.Find)
        self.search_action.triggered.connect(self.sidebar.focus_search)
        self.toggle_settings_action = QAction(self.tr("Chat settings panel"), self)
        self.toggle_settings_action.setCheckable(True)
        self.toggle_settings_action.setChecked(True)
        self.toggle_settings_action.toggled.connect(self.settings_panel.setVisible)
        self.toggle_retrieval_action = QAction(QCoreApplication.translate("ChatKnowledge", "Retrieval panel"), self)
        self.toggle_retrieval_action.setCheckable(True)
        self.toggle_retrieval_action.setToolTip(QCoreApplication.translate(
            "ChatKnowledge", "Show what was retrieved for the last question and the prompt the model received"))
        self.toggle_retrieval_action.toggled.connect(
            lambda on: self.retrieval_panel.setVisible(on) if on or self._retrieval_panel else None)
        for action in (self.send_action, self.stop_action):
            self.addAction(action)

    def _connect(self) -> None:
        s = self.session
        self._unsubscribe = [
            s.subscribe("state", self._on_state),
            s.subscribe("reset", self._on_reset),
            s.subscribe("message_added", self._on_message_added),
            s.subscribe("message_updated", self._on_message_updated),
            s.subscribe("messages_removed", self._on_messages_removed),
            s.subscribe("branches", self.messages.set_branches),
            s.subscribe("branch_switched", self._on_branch_switched),
            s.subscribe("trimmed", self._on_trimmed),
            s.subscribe("context", self._on_context),
            s.subscribe("error", self._on_error),
            s.subscribe("notice", self._on_notice),
            s.subscribe("collections", lambda names: self.knowledge_attach.set_attached(names)),
            s.subscribe("retrieval", self._on_retrieval),
            self.engine.subscribe("state", self._on_engine_state),
            self.engine.subscribe("loaded", self._on_loaded),
            self.engine.subscribe("lora", lambda adapters: self._show_adapters()),
        ]
        self.sidebar.open_requested.connect(self.open_conversation)
        self.sidebar.hit_activated.connect(self.open_conversation)
        self.sidebar.new_requested.connect(self.new_chat)
        self.sidebar.rename_requested.connect(self.rename_conversation)
        self.sidebar.delete_requested.connect(self.delete_conversation)
        self.sidebar.export_requested.connect(self.export_conversation)
        self.messages.edit_submitted.connect(self.edit_and_resend)
        self.messages.regenerate_requested.connect(lambda _mid: self.regenerate())
        self.messages.branch_requested.connect(self.switch_alternative)
        self.messages.citation_clicked.connect(self.open_citation)
        self.messages.retrieval_requested.connect(self.show_retrieval)
        self.knowledge_attach.menu_requested.connect(
            lambda: spawn(self._show_collections_menu(), on_error=self._unexpected))
        self.knowledge_attach.changed.connect(self.attach_collections)
        self.settings_panel.conversation_changed.connect(self._save_conversation_settings)
        self.settings_panel.output_format_changed.connect(self._set_output_format)
        self.settings_panel.thinking_changed.connect(self._set_thinking)
        self.sidebar.thinking_hit.connect(self.messages.expand_thinking)
        self.settings_panel.adapters_requested.connect(
            lambda adapters: spawn(self.attach_adapters(adapters, replace=True), on_error=self._unexpected))

    def disconnect_core(self) -> None:
        self.serving_note.disconnect_core()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    # -- start-up ---------------------------------------------------------------------------
    def start(self, conversation_id: int = 0) -> None:
        """Open the given (or the newest) conversation; create the first one on a fresh install."""
        try:
            ids = [c.id for c in self.store.list_conversations()]
            if conversation_id in ids:
                self.session.open(conversation_id)
            elif ids:
                self.session.open(ids[0])
            else:
                self.session.new_conversation()
        except ChatStoreError as exc:  # damaged, read-only: the window says so and stays usable
            self.show_note(str(exc))

    @property
    def busy(self) -> bool:
        return self.session.state in BUSY

    def current_n_ctx(self) -> int:
        conversation = self.session.conversation
        return conversation.sampling.n_ctx if conversation else self.settings_panel.sampling().n_ctx

    # -- actions ----------------------------------------------------------------------------
    def send(self) -> None:
        text = self.composer.toPlainText().strip()
        if not text or not self.send_button.isEnabled():
            return
        self.settings_panel.flush()
        self.composer.clear()
        self.error_banner.hide()
        spawn(self._send(text), on_error=self._unexpected)

    async def _send(self, text: str) -> None:
        try:
            await self.session.send(text)
        except (SessionBusy, ValueError, StudioError) as exc:  # busy, bad text, a store that refuses
            if not self.composer.toPlainText():
                self.composer.setPlainText(text)
            self.show_note(str(exc))

    def use_remote(self, remote: RemoteEngine | None) -> bool:
        """Answer with a remote engine's model (None: the local model); False while a reply runs."""
        previous = self.session.remote
        try:
            self.session.use_remote(remote)
        except SessionBusy as exc:
            self.show_note(str(exc))
            return False
        if previous is not None and previous is not remote:
            spawn(previous.close())  # its HTTP connections
        if remote is not None:
            self.remote_label.setText(self.tr("Remote: {engine} · {model}").format(engine=remote.name,
                                                                                  model=remote.model))
            self.remote_label.setToolTip(remote.base_url)
        self.remote_label.setVisible(remote is not None)
        info = self.session.engine.model_info
        self.settings_panel.set_thinking_switch(None if remote is not None else bool(info and info.thinking_switch))
        self._on_state(self.session.state)
        return True

    def stop(self) -> None:
        if self.busy and self.session.state != SessionState.STOPPING:
            spawn(self.session.stop(), on_error=self._unexpected)

    def regenerate(self) -> None:
        if self.busy:
            return
        self.error_banner.hide()
        spawn(self._guarded(self.session.regenerate()), on_error=self._unexpected)

    def edit_and_resend(self, message_id: int, text: str) -> None:
        if self.busy:
            self.show_note(self.tr("A reply is still being written: stop it first."))
            return
        self.error_banner.hide()
        spawn(self._guarded(self.session.edit_and_resend(message_id, text)), on_error=self._unexpected)

    def switch_alternative(self, message_id: int, step: int) -> None:
        """‹ or › on a message: show its alternative before or after; the messages below follow."""
        if self.busy:
            self.show_note(self.tr("A reply is still being written: stop it first."))
            return
        try:
            self.session.switch_sibling(message_id, step)
        except (SessionBusy, ValueError, LookupError, ChatStoreError) as exc:
            self.show_note(str(exc))

    def _on_branch_switched(self, index: int, messages: list[Message]) -> None:
        self.messages.replace_from(index, messages)
        for message in messages[index:]:
            record = self.session.retrieval(message.id) if message.role == "assistant" else None
            if record is not None:
                self.messages.widgets[message.id].set_retrieval(record)

    async def _guarded(self, coro) -> None:
        try:
            await coro
        except (SessionBusy, ValueError, StudioError) as exc:  # busy, bad text, a store that refuses
            self.show_note(str(exc))

    def new_chat(self) -> None:
        if self.busy:
            self.show_note(self.tr("A reply is still being written: stop it first."))
            return
        self.settings_panel.flush()
        try:
            self.session.new_conversation()  # keeps the current system prompt and sampling
        except ChatStoreError as exc:
            self.show_note(str(exc))
            return
        self.composer.setFocus()

    def open_conversation(self, conversation_id: int, message_id: int = 0) -> None:
        current = self.session.conversation
        if current is None or current.id != conversation_id:
            if self.busy:
                self.show_note(self.tr("A reply is still being written: stop it first."))
                self.sidebar.refresh(current.id if current else None)
                return
            self.settings_panel.flush()
            try:
                self.session.open(conversation_id)
            except (LookupError, ChatStoreError) as exc:  # the session stays on the conversation it had
                self.show_note(str(exc))
                self.sidebar.refresh(current.id if current else None)
                return
        if message_id and message_id not in self.messages.widgets and not self.busy:
            try:  # a search hit on another branch: show that branch
                self.session.switch_branch(message_id)
            except (ValueError, LookupError, ChatStoreError) as exc:
                self.show_note(str(exc))
        if message_id:
            self.messages.scroll_to_message(message_id)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        current = self.session.conversation
        try:
            if current is not None and current.id == conversation_id:
                self.session.update_settings(title=title)
            else:
                self.store.update_conversation(conversation_id, title=title)
        except (LookupError, ChatStoreError) as exc:
            self.show_note(str(exc))
        self.sidebar.refresh()

    def confirm(self, title: str, text: str) -> bool:
        from PySide6.QtWidgets import QMessageBox  # dialogs load on use: their enums cost start-up time

        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes
                                      | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def delete_conversation(self, conversation_id: int) -> None:
        current = self.session.conversation
        if current is not None and current.id == conversation_id and self.busy:
            self.show_note(self.tr("A reply is still being written: stop it first."))
            return
        try:
            title = shown_title(self.store.get_conversation(conversation_id).title)
        except (LookupError, ChatStoreError):
            self.sidebar.refresh()
            return
        if not self.confirm(self.tr("Delete conversation"),
                            self.tr("Delete “{title}” and all its messages? This cannot be undone.").format(title=title)):
            return
        try:
            self.store.delete_conversation(conversation_id)
        except ChatStoreError as exc:
            self.show_note(str(exc))
            return
        self.session.close_if_deleted(conversation_id)
        if self.session.conversation is None:
            self.start()
        self.sidebar.refresh(self.session.conversation.id if self.session.conversation else None)

    def export_conversation(self, conversation_id: int, fmt: str, path: str | None = None) -> Path | None:
        """fmt: "md", "json", or "json-all" (JSON with every branch, not just the one shown)."""
        all_branches = fmt == "json-all"
        fmt = "json" if all_branches else fmt
        if path is None:
            title = self.store.get_conversation(conversation_id).title
            safe = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in title).strip() or "conversation"
            filters = self.tr("Markdown (*.md)") if fmt == "md" else self.tr("JSON (*.json)")
            from PySide6.QtWidgets import QFileDialog

            path, _ = QFileDialog.getSaveFileName(self, self.tr("Export conversation"),
                                                  str(Path.home() / f"{safe}.{fmt}"), filters)
            if not path:
                return None
            if not path.lower().endswith(f".{fmt}") and not (fmt == "md" and path.lower().endswith(".markdown")):
                path += f".{fmt}"
        try:
            written = self.store.export(conversation_id, path, all_branches=all_branches)
        except (OSError, ValueError, LookupError, ChatStoreError) as exc:
            self.show_error(self.tr("Could not export the conversation: {reason}").format(reason=exc))
            return None
        self.show_note(self.tr("Exported to {path}").format(path=written))
        return Path(written)

    def _save_conversation_settings(self) -> None:
        if self.session.conversation is None:
            return
        try:
            self.session.update_settings(system_prompt=self.settings_panel.system_prompt_text(),
                                         sampling=self.settings_panel.sampling())
        except (LookupError, ChatStoreError) as exc:
            self.show_note(str(exc))

    def _set_output_format(self, fmt: object) -> None:
        try:
            self.session.set_output_format(fmt)  # type: ignore[arg-type]  # OutputFormat | None, from the box
        except (SessionBusy, LookupError, ChatStoreError) as exc:
            self.settings_panel.output_box.show_refusal(str(exc), self.session.conversation)

    def _set_thinking(self, on: bool) -> None:
        try:
            self.session.set_thinking(on)
        except (SessionBusy, LookupError, ChatStoreError) as exc:
            self.show_note(str(exc))
            with QSignalBlocker(self.settings_panel.thinking):  # show what is really saved
                self.settings_panel.thinking.setChecked(thinking_on(self.session.conversation))

    # -- adapters ---------------------------------------------------------------------------
    async def attach_adapters(self, adapters: list[dict], *, replace: bool = False) -> bool:
        """Set the LoRA adapters on the loaded model (added to the attached ones unless `replace`).
        A refusal (the adapter does not fit this model, an unreadable file) shows as a banner and
        leaves the adapters as they were."""
        if self.busy:
            self.show_note(self.tr("A reply is still being written: stop it before changing adapters."))
            self._show_adapters()
            return False
        wanted = [dict(a) for a in adapters]
        if not replace:
            paths = {a["path"] for a in wanted}
            wanted = [a for a in self._attached() if a["path"] not in paths] + wanted
        try:
            await self.engine.set_lora(wanted)
        except WorkerError as exc:
            added = [a for a in wanted if a["path"] not in {b["path"] for b in self._attached()}]
            name = Path(added[0]["path"]).name if added else ""
            if exc.kind == "no_model":
                text = self.tr("Load a model before attaching an adapter.")
            elif name:
                text = self.tr("Could not attach {name}: {reason}").format(name=name, reason=exc.message)
            else:
                text = self.tr("Could not change the adapters: {reason}").format(reason=exc.message)
            self.show_error(text, details=exc.log_tail)
            self._show_adapters()
            return False
        self.error_banner.hide()
        self._show_adapters()
        return True

    def _attached(self) -> list[dict]:
        info = self.engine.model_info
        return [{"path": str(a.get("path")), "scale": float(a.get("scale", 1.0))} for a in (info.lora if info else [])]

    def _show_adapters(self) -> None:
        attached = self._attached()
        self.settings_panel.adapters_box.set_adapters(attached)
        if not attached:
            self.adapter_label.hide()
            return
        names = ", ".join(f"{adapter_name(a['path'])} ×{a['scale']:g}"
                          for a in attached)
        self.adapter_label.setText(self.tr("Adapter: {names}").format(names=names))
        self.adapter_label.setToolTip("\n".join(a["path"] for a in attached))
        self.adapter_label.show()

    # -- messages to the user ---------------------------------------------------------------
    def _on_notice(self, message: str) -> None:
        if self.session.state == SessionState.WAITING:
            return  # waiting behind an API request is not a problem: the serving line says it quietly
        self.show_note(message)

    def show_note(self, text: str) -> None:
        self.trimmed_banner.show_message(text, "info")

    def show_error(self, text: str, details: str = "") -> None:
        self.error_banner.show_message(text, "error", details=details)

    def _unexpected(self, exc: BaseException) -> None:
        self.show_error(self.tr("Something went wrong: {reason}").format(reason=exc),
                        details=f"{type(exc).__name__}: {exc}")

    # -- session events ---------------------------------------------------------------------
    def _on_state(self, state: SessionState) -> None:
        busy = state in BUSY
        # While the window loads a model (engine loading, session idle) sending waits for it.
        can_send = not busy and (self.session.remote is not None or self.engine.state != EngineState.LOADING)
        self.send_button.setEnabled(can_send)
        self.send_action.setEnabled(can_send)
        self.stop_button.setEnabled(busy and state != SessionState.STOPPING)
        self.stop_action.setEnabled(busy)
        self.messages.set_idle(not busy)
        self.state_label.setText(self._state_text(state))
        self.state_label.setProperty("state", state.value)

    def _state_text(self, state: SessionState) -> str:
        local = self.session.remote is None  # a remote reply does not need the local engine
        if local and state == SessionState.IDLE and self.engine.state == EngineState.LOADING:
            return self.tr("● loading model")
        if local and state == SessionState.IDLE and self.engine.state == EngineState.NO_MODEL:
            return self.tr("○ no model loaded")
        return {
            SessionState.WAITING: self.tr("● waiting for the engine"),
            SessionState.IDLE: self.tr("● ready"),
            SessionState.LOADING: self.tr("● loading model"),
            SessionState.PROMPT: self.tr("● reading prompt"),
            SessionState.GENERATING: self.tr("● generating"),
            SessionState.STOPPING: self.tr("● stopping"),
            SessionState.ERROR: self.tr("● error"),
        }[state]

    def _on_engine_state(self, state: EngineState) -> None:
        self._on_state(self.session.state)

    def _on_loaded(self, info: ModelInfo) -> None:
        self.settings_panel.set_model_info(info)
        self._show_adapters()
        used = self.context_bar.value() if self._last_stats else 0
        self._on_context(used, info.n_ctx)

    def _on_reset(self, conversation: Conversation | None, messages: list[Message]) -> None:
        self.messages.set_messages(messages)
        self.settings_panel.set_conversation(conversation)
        self.trimmed_banner.hide()
        self.sidebar.refresh(conversation.id if conversation else None)
        last = next((m for m in reversed(messages) if m.role == "assistant" and m.stats), None)
        self._show_perf(last.stats if last else {})

        self.knowledge_attach.set_attached(self.session.collections if conversation else [])
        latest = None
        for message in messages:
            record = self.session.retrieval(message.id) if message.role == "assistant" else None
            if record is not None:
                self.messages.widgets[message.id].set_retrieval(record)
                latest = record
        self._show_retrieval_record(latest)

    # -- knowledge ----------------------------------------------------------------------------
    @property
    def retrieval_panel(self) -> RetrievalPanel:
        if self._retrieval_panel is None:
            panel = RetrievalPanel(self)
            panel.setVisible(self.toggle_retrieval_action.isChecked())
            panel.source_opened.connect(self.source_requested)
            panel.show_record(self._retrieval_record)
            self.chat_split.addWidget(panel)
            self.chat_split.setSizes([560, 440])
            self._retrieval_panel = panel
        return self._retrieval_panel

    def _show_retrieval_record(self, record: dict | None) -> None:
        self._retrieval_record = record
        if self._retrieval_panel is not None:
            self._retrieval_panel.show_record(record)

    def use_knowledge(self, library: Callable[[], Any], settings: KnowledgeSettings) -> None:
        """Answer from attached collections with `library()` (a KnowledgeLibrary, made on first need)."""
        self._library = library

        async def query(collections: list[str], text: str, **kw: Any) -> dict[str, Any]:
            return await library().query(collections, text, **kw)
        grounder: Any = None

        async def ground(*args: Any) -> Any:
            nonlocal grounder
            if grounder is None:  # the knowledge core (numpy) loads on the first grounded reply, not at start-up
                from studio.core.grounding import KnowledgeGrounder
                grounder = KnowledgeGrounder(query, settings=settings)
            return await grounder(*args)
        self.session.ground = ground

    async def _show_collections_menu(self) -> None:
        names = [c.name for c in await self._library().collections()] if self._library else []
        self.knowledge_attach.show_menu(names)

    def attach_collections(self, names: list[str]) -> None:
        try:
            self.session.attach(names)
        except (SessionBusy, ChatStoreError) as exc:
            self.show_error(str(exc))

    def _on_retrieval(self, message: Message, record: dict) -> None:
        widget = self.messages.widgets.get(message.id)
        if widget is not None:
            widget.set_retrieval(record)
        self._show_retrieval_record(record)

    def show_retrieval(self, message_id: int) -> None:
        self.retrieval_panel.show_record(self.session.retrieval(message_id))
        self.toggle_retrieval_action.setChecked(True)

    def open_citation(self, message_id: int, number: int) -> None:
        """A [n] clicked in a reply: its record in the panel, and the chunk in the Knowledge tab."""
        record = self.session.retrieval(message_id) or {}
        source = next((s for s in record.get("sources") or [] if s.get("number") == number), None)
        if source is None:
            return
        self.retrieval_panel.show_record(record)
        candidate = self.retrieval_panel.candidate(int(source["chunk_id"])) or source
        self.source_requested.emit(dict(candidate))

    def _on_message_added(self, message: Message) -> None:
        self.messages.add_message(message)
        if message.role == "user":
            self.sidebar.refresh(message.conversation_id)

    def _on_message_updated(self, message: Message, delta: str) -> None:
        self.messages.update_message(message, delta)
        if not delta and message.status != MessageStatus.STREAMING and message.stats:
            self._show_perf(message.stats)

    def _on_messages_removed(self, ids: list[int]) -> None:
        self.messages.remove_messages(ids)

    def _on_trimmed(self, ids: list[int], note: str) -> None:
        translated = self.tr("The conversation is longer than the context window: {count} older message(s) were "
                             "left out of the prompt (the system prompt is kept). Raise the context length in the "
                             "settings to keep more.")
        # In English the session's own sentence is shown; other languages use their translation.
        text = note if translated.startswith("The conversation is longer") else translated.format(count=len(ids))
        self.trimmed_banner.show_message(text, "warning")
        self.messages.mark_faded(ids)

    def _on_context(self, used: int, n_ctx: int) -> None:
        if int(n_ctx) <= 0:  # a remote engine does not say its context size
            self.context_bar.setRange(0, 1)
            self.context_bar.setValue(0)
            self.context_bar.setFormat(self.tr("{used} tokens").format(used=int(used)))
            return
        n_ctx = max(1, int(n_ctx))
        self.context_bar.setRange(0, n_ctx)
        self.context_bar.setValue(min(int(used), n_ctx))
        self.context_bar.setFormat(self.tr("{used} / {n_ctx} tokens").format(used=int(used), n_ctx=n_ctx))

    def _on_error(self, kind: str, message: str, log_tail: str) -> None:
        if kind == "worker_crashed":
            text = self.tr("The engine stopped unexpectedly: {reason}. The partial reply was kept; send "
                           "again and the engine restarts by itself.").format(reason=message)
        elif kind == "no_model":
            text = self.tr("No model is loaded. Pick one in the model picker or drop a .gguf file "
                           "on the window.")
        elif kind.startswith("remote_"):  # the core's sentence is specific (401, 429, unreachable...)
            text = self.tr("The remote engine did not answer: {reason} Your local models stay available in "
                           "the model picker.").format(reason=message)
            self.error_banner.show_message(text, "error")
            return
        elif kind == "context_overflow":
            text = self.tr("The message does not fit in the context window: {reason}").format(reason=message)
        else:
            text = self.tr("The reply failed: {reason}").format(reason=message)
        details = log_tail.strip() or self.tr("The worker wrote nothing to its log. Reason: {reason}").format(
            reason=message)
        self.error_banner.show_message(text, "error", details=details)

    def _show_perf(self, stats: dict) -> None:
        self._last_stats = stats or {}
        if not stats or "tokens_per_s" not in stats:
            self.perf_label.setText("")
            return
        self.perf_label.setText(self.tr("last reply: {speed} tok/s · TTFT {ttft} ms").format(
            speed=f"{float(stats.get('tokens_per_s') or 0):.1f}", ttft=f"{float(stats.get('ttft_ms') or 0):.0f}"))
        if stats.get("n_ctx"):
            self._on_context(int(stats.get("context_used") or 0), int(stats["n_ctx"]))
