"""A quiet line under the conversation while the engine answers the API server: the chat is not
broken, it waits its turn. It follows the workspace's lease ("server" holds the engine) and its
queue (the chat's reply waiting behind it)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

from studio.core.chat.session import ChatSession, SessionState
from studio.core.workspace import Workspace

LINGER_MS = 1200  # requests come in runs: keep the line between two of them instead of blinking


class ServingNote(QLabel):
    def __init__(self, workspace: Workspace, session: ChatSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ServingNote")
        self.setStyleSheet("QLabel#ServingNote { color: palette(placeholder-text); font-style: italic; "
                           "padding: 2px 10px; }")
        self.setWordWrap(True)
        self.workspace = workspace
        self.session = session
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.setInterval(LINGER_MS)
        self._hide_timer.timeout.connect(self._linger_over)
        self._unsubscribe: list[Callable[[], None]] = [
            workspace.subscribe("lease_changed", lambda holder: self._refresh()),
            workspace.subscribe("queue_changed", lambda waiting, holder: self._refresh()),
            session.subscribe("state", lambda state: self._refresh()),
        ]
        self.hide()
        self._refresh()

    def disconnect_core(self) -> None:
        self._hide_timer.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    @property
    def serving(self) -> bool:
        return self.workspace.holder == "server"

    def _refresh(self) -> None:
        if self.serving:
            self._hide_timer.stop()
            turn = self._turn()
            if turn == 0:
                self.setText(self.tr("The engine is answering an API request — your message goes next."))
            elif turn > 0:
                self.setText(self.tr("The engine is answering API requests — your message goes after {count} "
                                     "more.").format(count=turn))
            else:
                self.setText(self.tr("The engine is answering an API request; the chat gets it back as soon as "
                                     "the request is done."))
            self.show()
        elif self.workspace.holder:  # the chat (or another user) has the engine now: nothing to wait for
            self._hide_timer.stop()
            self.hide()
        elif not self.isHidden() and not self._hide_timer.isActive():
            self._hide_timer.start()

    def _linger_over(self) -> None:
        if not self.serving:
            self.hide()

    def _turn(self) -> int:
        """How many are ahead of the chat's reply in the engine's queue; -1 when it does not wait."""
        waiting = list(getattr(self.workspace, "waiting", []))
        if "chat" in waiting:
            return waiting.index("chat")
        # a reply started but not writing yet waits for the engine too
        return 0 if self.session.state in (SessionState.LOADING, SessionState.PROMPT) else -1
