"""The Arena, reachable from the chat: a toolbar and File-menu action opens one non-modal window per main
window (studio/ui/arena/dialog.py); the core lives in studio.core.arena."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:  # the dialog and the arena core (gguf, numpy) load when the Arena is first opened
    from studio.ui.arena.dialog import ArenaDialog


class ArenaOpener(QObject):
    """Owns the window's Arena dialog: built on first use, its workers closed at shutdown."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: ArenaDialog | None = None
        self.action = QAction(self.tr("Arena: compare two models…"), window)
        self.action.setObjectName("ArenaAction")
        self.action.setShortcuts([QKeySequence("Ctrl+Shift+A")])  # not setShortcut: studio.ui.lazy_qt
        self.action.setToolTip(self.tr("Two models answer the same conversation side by side; pick the better "
                                       "answer and the chat continues with it"))
        self.action.triggered.connect(self.open)

    def open(self) -> ArenaDialog:
        from studio.ui.arena.dialog import ArenaDialog

        window = self.window
        if self.dialog is None:
            self.dialog = ArenaDialog(window.store, window.workspace, choices=self.choices,
                                      make_remote=lambda name, model: window.remotes.engine(name, model),
                                      conversation_id=self._conversation_id, picked=self._picked, parent=window)
        self.dialog.refresh()
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    def choices(self) -> list[tuple[str, dict]]:
        window = self.window
        from studio.ui.arena.dialog import contestant_choices

        return contestant_choices(
            window._entries, window.workspace.model_path, window.workspace.adapters if window.workspace.model_path
            else [], window.remotes.entries(),
            with_adapters=self.tr("{name} + {adapters} (as in the chat)"),
            without_adapters=self.tr("{name} without adapters"))

    def _conversation_id(self) -> int | None:
        conversation = self.window.chat.session.conversation
        return conversation.id if conversation is not None else None

    def _picked(self, conversation_id: int) -> None:
        """Show the chosen answer in the chat (reopening the conversation reads it from the store)."""
        chat = self.window.chat
        if chat.busy:
            return
        try:
            chat.session.open(conversation_id)
        except Exception as exc:  # noqa: BLE001 - the store's sentence, shown in the chat
            chat.show_note(str(exc))

    async def shutdown(self) -> None:
        if self.dialog is not None:
            await self.dialog.shutdown()
            self.dialog.close()


def __getattr__(name: str) -> Any:  # the dialog's names, imported on first use
    if name in ("ArenaDialog", "ArenaPane", "contestant_choices"):
        from studio.ui.arena import dialog

        return getattr(dialog, name)
    raise AttributeError(name)


__all__ = ["ArenaDialog", "ArenaOpener", "ArenaPane", "contestant_choices"]
