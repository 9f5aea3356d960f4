"""The Server switch in the status bar ("○ Server off" / "● Serving at …") and the dock that holds the
server panel (studio/ui/server_panel.py). Only this small module loads with the window: the panel, its
log table and the server modules (FastAPI, uvicorn) load the first time the dock opens or the server
starts with the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtWidgets import QDockWidget, QMainWindow, QToolButton, QWidget

from studio.core.settings import ServerSettings
from studio.core.workspace import Workspace
from studio.ui.lazy_qt import Qt

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
        self.visibilityChanged.connect(self._on_visibility)
        self._docked = False

    def dock_into_window(self) -> None:
        """Dock it at the bottom, hidden, unless the window's restoreState already put it where the last
        session left it. The window does this once it shows (MainWindow.startup): naming the area builds
        PySide's Qt namespace (studio.ui.lazy_qt), which the first window does without."""
        if self._docked:
            return
        self._docked = True
        window = self.parentWidget()
        if isinstance(window, QMainWindow) and window.dockWidgetArea(self) == Qt.DockWidgetArea.NoDockWidgetArea:
            visible = self.isVisibleTo(window)
            window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self)
            self.setVisible(visible)

    def _on_visibility(self, visible: bool) -> None:
        if visible:
            self.dock_into_window()  # opened from the View menu before the window finished starting
            self.ensure_panel()

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
            self.dock_into_window()
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
    """Add the Server switch (status bar) and its dock, hidden until opened; the window docks it once it
    shows (ServerDock.dock_into_window)."""
    dock = ServerDock(workspace, settings, save, window)
    dock.hide()
    window.statusBar().insertPermanentWidget(0, dock.button)
    return dock
