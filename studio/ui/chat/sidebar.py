"""Left side of the chat screen: conversations (newest first) and full-text search over messages.

The sidebar reads from the store (list, search) and asks its owner, through signals, for anything
that changes data (new, rename, delete, export), so the open session always stays in step.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QPoint, QTimer, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMenu,
                               QPushButton, QStackedWidget, QVBoxLayout, QWidget)

from studio.core.chat.conversation import Conversation, SearchHit
from studio.core.chat.store import DEFAULT_TITLE, ChatStoreError
from studio.ui.lazy_qt import Qt
from studio.ui.theme import styled

if TYPE_CHECKING:
    import html
else:  # imported on first use: not needed before the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import html

# Item data roles from Qt.ItemDataRole.UserRole (0x0100) on, as numbers: the list is filled before
# the window shows, when reading Qt would build its namespace (studio.ui.lazy_qt).
ID_ROLE = 0x0100
MESSAGE_ROLE = ID_ROLE + 1
THINKING_ROLE = ID_ROLE + 2  # the hit is inside a reply's thinking


def snippet_html(snippet: str) -> str:
    """Escape a search snippet and turn its [match] markers into bold text."""
    escaped = html.escape(snippet)
    return re.sub(r"\[([^\[\]]*)\]", r"<b>\1</b>", escaped)


def shown_title(title: str) -> str:
    """A conversation's title as the screen shows it: the stored default ("New chat", which is what
    exports and the CLI keep) in the UI's language; any other title as the user or the model wrote it."""
    if title == DEFAULT_TITLE:
        return QCoreApplication.translate("ConversationSidebar", "New chat")
    return title or QCoreApplication.translate("ConversationSidebar", "Untitled")


class ConversationSidebar(QWidget):
    open_requested = Signal(int)
    hit_activated = Signal(int, int)          # conversation id, message id
    thinking_hit = Signal(int)                # before hit_activated: the hit is inside this reply's thinking
    new_requested = Signal()
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    export_requested = Signal(int, str)       # conversation id, "md" | "json" | "json-all" (every branch)

    def __init__(self, store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setObjectName("ConversationSidebar")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)

        top = QHBoxLayout()
        self.new_button = QPushButton(self.tr("New chat"), self)
        self.new_button.setToolTip(self.tr("Start a new conversation (Ctrl+N)"))
        self.new_button.clicked.connect(self.new_requested)
        top.addWidget(self.new_button)
        layout.addLayout(top)

        self.search_box = QLineEdit(self)
        self.search_box.setObjectName("SearchBox")
        self.search_box.setPlaceholderText(self.tr("Search all messages (Ctrl+F)"))
        # The clear button shows only with text; enabling it then keeps its icon (and Qt's image
        # plugins) out of the window's cold start.
        self.search_box.textChanged.connect(self._enable_clear_button)
        self.search_box.textChanged.connect(self._schedule_search)
        layout.addWidget(self.search_box)

        self.stack = QStackedWidget(self)
        self.list = QListWidget(self)
        self.list.setObjectName("ConversationList")
        self.list.setEditTriggers(QListWidget.EditTrigger.NoEditTriggers)
        self.list.setProperty("contextMenuPolicy", "CustomContextMenu")  # by name: see studio.ui.lazy_qt
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.itemClicked.connect(self._on_clicked)
        self.list.itemActivated.connect(self._on_clicked)
        self.list.itemDoubleClicked.connect(self.begin_rename)
        self.list.itemChanged.connect(self._on_item_changed)
        self.stack.addWidget(self.list)

        self.hits = QListWidget(self)
        self.hits.setObjectName("SearchHits")
        self.hits.setWordWrap(True)
        self.hits.itemClicked.connect(self._on_hit)
        self.hits.itemActivated.connect(self._on_hit)
        self.stack.addWidget(self.hits)
        layout.addWidget(self.stack, 1)

        self.hits_label = QLabel(self)
        styled(self.hits_label, "SearchSummary")
        self.hits_label.hide()
        layout.addWidget(self.hits_label)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self.run_search)
        self.current_id: int | None = None
        self._renaming = False

    # -- conversations ----------------------------------------------------------------------
    def refresh(self, current_id: int | None = None) -> None:
        if current_id is not None:
            self.current_id = current_id
        try:
            listed = self.store.list_conversations()
        except ChatStoreError as exc:  # the window's banner offers the repair
            listed = []
            self.hits_label.setText(str(exc))
            self.hits_label.show()
        conversations: list[Conversation] = sorted(listed, key=lambda c: (c.updated_at, c.id), reverse=True)
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for conversation in conversations:
                item = QListWidgetItem(shown_title(conversation.title))
                item.setData(ID_ROLE, conversation.id)
                item.setToolTip(shown_title(conversation.title))
                self.list.addItem(item)
                if conversation.id == self.current_id:
                    item.setSelected(True)
                    self.list.setCurrentItem(item)
        finally:
            self.list.blockSignals(False)

    def conversation_ids(self) -> list[int]:
        return [self.list.item(i).data(ID_ROLE) for i in range(self.list.count())]

    def item_for(self, conversation_id: int) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(ID_ROLE) == conversation_id:
                return self.list.item(i)
        return None

    def _on_clicked(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(ID_ROLE)
        if conversation_id != self.current_id:
            self.open_requested.emit(conversation_id)

    def begin_rename(self, item: QListWidgetItem | None = None) -> None:
        item = item or self.list.currentItem()
        if item is not None:
            # Editable from now on (not when listed: item.flags() builds the Qt namespace, and the list
            # is filled before the window shows); the flag change is not a rename.
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self._renaming = True
            self.list.editItem(item)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if not self._renaming:
            return
        self._renaming = False
        title = item.text().strip()
        if title:
            self.rename_requested.emit(item.data(ID_ROLE), title)
        else:
            self.refresh()

    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        conversation_id = item.data(ID_ROLE)
        menu = self.build_menu(item, conversation_id)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def build_menu(self, item: QListWidgetItem, conversation_id: int) -> QMenu:
        menu = QMenu(self)
        menu.addAction(self.tr("Rename"), lambda: self.begin_rename(item))
        menu.addAction(self.tr("Export as Markdown…"), lambda: self.export_requested.emit(conversation_id, "md"))
        menu.addAction(self.tr("Export as JSON…"), lambda: self.export_requested.emit(conversation_id, "json"))
        menu.addAction(self.tr("Export as JSON with all branches…"),
                       lambda: self.export_requested.emit(conversation_id, "json-all"))
        menu.addSeparator()
        menu.addAction(self.tr("Delete…"), lambda: self.delete_requested.emit(conversation_id))
        return menu

    # -- search -----------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.search_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_box.selectAll()

    def _enable_clear_button(self, text: str) -> None:
        if text and not self.search_box.isClearButtonEnabled():
            self.search_box.setClearButtonEnabled(True)

    def _schedule_search(self, text: str) -> None:
        if not text.strip():
            self._search_timer.stop()
            self.stack.setCurrentWidget(self.list)
            self.hits_label.hide()
            return
        self._search_timer.start()

    def run_search(self) -> list[SearchHit]:
        query = self.search_box.text().strip()
        if not query:
            return []
        try:
            hits = self.store.search(query)
        except Exception as exc:  # a malformed query must not take the window down
            hits = []
            self.hits_label.setText(self.tr("Search failed: {error}").format(error=exc))
        else:
            self.hits_label.setText(self.tr("Matches: {count}").format(count=len(hits)) if hits
                                    else self.tr("No messages match “{query}”.").format(query=query))
        self.hits_label.show()
        self.hits.clear()
        for hit in hits:
            item = QListWidgetItem()
            item.setData(ID_ROLE, hit.conversation_id)
            item.setData(MESSAGE_ROLE, hit.message_id)
            label = QLabel()
            label.setObjectName("SearchHit")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            role = {"user": self.tr("You"), "assistant": self.tr("Assistant"), "title": self.tr("Title"),
                    "system": self.tr("System prompt")}.get(hit.role, hit.role)
            if hit.part == "thinking":
                role = self.tr("{role} · thinking").format(role=role)
                item.setData(THINKING_ROLE, True)
            label.setText(f"<b>{html.escape(hit.conversation_title or self.tr('Untitled'))}</b>"
                          f" <span style='font-size:small'>· {html.escape(role)}</span><br>"
                          f"{snippet_html(hit.snippet)}")
            label.setContentsMargins(4, 3, 4, 3)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            self.hits.addItem(item)
            self.hits.setItemWidget(item, label)
            item.setSizeHint(label.sizeHint())
        self.stack.setCurrentWidget(self.hits)
        return hits

    def _on_hit(self, item: QListWidgetItem) -> None:
        if item.data(THINKING_ROLE):
            self.thinking_hit.emit(item.data(MESSAGE_ROLE))
        self.hit_activated.emit(item.data(ID_ROLE), item.data(MESSAGE_ROLE))
