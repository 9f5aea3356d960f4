"""The Knowledge screen (collections, files and chunks, a query playground, the embeddings map).

`KnowledgeScreen` is the tab the main window adds: it builds the screen, and the core library
behind it, the first time it is shown, so the app starts no knowledge worker until then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.core.settings import KnowledgeSettings

if TYPE_CHECKING:  # an event class read as the module loads builds QEvent's enums (studio.ui.lazy_qt)
    from PySide6.QtGui import QShowEvent


class KnowledgeScreen(QWidget):
    def __init__(self, settings: KnowledgeSettings, save: Callable[[], Any], parent: QWidget | None = None, *,
                 db: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("KnowledgeHost")
        self.settings = settings
        self._save = save
        self._db = db
        self.view: Any = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def title(self) -> str:
        return self.tr("Knowledge")

    def menu_text(self) -> str:
        return self.tr("&Knowledge")

    def ensure(self) -> Any:
        """The KnowledgeView, built on first need."""
        if self.view is None:
            from studio.core.knowledge.library import KnowledgeLibrary
            from studio.ui.knowledge.view import KnowledgeView

            self.view = KnowledgeView(KnowledgeLibrary(self._db), self.settings, self._save, self)
            self._layout.addWidget(self.view)
        return self.view

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        self.ensure()
        super().showEvent(event)

    async def shutdown(self) -> None:
        if self.view is not None:
            await self.view.shutdown()
