"""The Server switch in the status bar ("○ Server off" / "● Serving at …") and the dock that holds the
server panel (studio/ui/server_panel.py). Only this small module loads with the window: the panel, its
log table and the server modules (FastAPI, uvicorn) load the first time the dock opens or the server
starts with the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QToolButton, QWidget

from studio.core.settings import ServerSettings
from studio.core.workspace import Workspace

if TYPE_CHECKING:
    from studio.core.server.controller import ServerController
    from studio.ui.server_panel import ServerPanel


class ServerDock(QDockWidget):
    """The panel in a dock (bottom by default, may float), so the chat stays usable beside it. The
    status-bar button exists from the start; the panel and the server modules are built the first
    time the dock opens (or the server starts with the app), so they cost the start-up nothing."""

    def __init__(self, workspace: Workspace, settings: ServerSettings, save: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ServerDock")
        self.setWindowTitle(self.tr("API server"))
        self.workspace, self.settings, self._save = workspace, settings, save
        self.panel: ServerPanel | None = None
        self.button = QToolButton()
        self.button.setObjectName("ServerButton")
        self.button.setAutoRaise(True)
        self.button.setToolTip(self.tr("The OpenAI-compatible API server: click to open its panel"))
        self.button.setText("○ " + self.tr("Server off"))
        self.button.clicked.connect(self.toggle)
        self.visibilityChanged.connect(lambda visible: self.ensure_panel() if visible else None)

    @property
    def controller(self) -> "ServerController":
        return self.ensure_panel().controller

    def ensure_panel(self) -> ServerPanel:
        if self.panel is None:
            from studio.core.server.controller import ServerController
            from studio.ui.server_panel import ServerPanel

            self.panel = ServerPanel(ServerController(self.workspace), self.settings, self._save, self.button, self)
            self.setWidget(self.panel)
        return self.panel

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.ensure_panel()
            self.show()
            self.raise_()

    def start_if_wanted(self) -> None:
        if self.settings.auto_start:
            self.ensure_panel().start_if_wanted()

    async def shutdown(self) -> None:
        if self.panel is not None:
            await self.panel.shutdown()


def install_server_panel(window: QMainWindow, workspace: Workspace, settings: ServerSettings,
                         save: Callable[[], None]) -> ServerDock:
    """Add the Server switch (status bar) and its dock, hidden until opened."""
    dock = ServerDock(workspace, settings, save, window)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    dock.hide()
    window.statusBar().insertPermanentWidget(0, dock.button)
    return dock
