"""The Server switch: a status-bar button that is always visible ("Server off" / "Serving at …") and
a dock panel to run the OpenAI-compatible API over the app's own engine (ServerController in core):
on/off, port, API key, "allow other computers", the URL with a ready curl example, and a live log of
requests. The panel only shows what the controller's events say; problems are one sentence in the
panel, never a dialog.
"""

from __future__ import annotations

import json
import shlex
import time
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPaintEvent
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QCheckBox, QFormLayout, QFrame,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPlainTextEdit,
                               QPushButton, QScrollArea, QSizePolicy, QSpinBox, QTableView, QToolButton,
                               QVBoxLayout, QWidget)

from studio.core.settings import ServerSettings
from studio.ui.tasks import spawn
from studio.ui.theme import styled

if TYPE_CHECKING:  # the server modules (FastAPI, uvicorn) load when the panel is first opened
    from studio.core.server.app import RequestRecord
    from studio.core.server.controller import ServerController

FLUSH_MS = 250          # the log takes new rows in batches, so a flood of requests costs a few repaints
MAX_ROWS = 500
_ERROR = QColor(200, 60, 50)
_OK = QColor(60, 160, 90)
_Index = QModelIndex | QPersistentModelIndex


class ToggleSwitch(QAbstractButton):
    """An on/off switch (a checkable button drawn as a track with a knob)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(44, 24)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(1, 1, self.width() - 2, self.height() - 2)
        palette = self.palette()
        track = palette.highlight().color() if self.isChecked() else palette.mid().color()
        if not self.isEnabled():
            track.setAlpha(110)
        painter.setPen(palette.highlight().color() if self.hasFocus() else Qt.PenStyle.NoPen)
        painter.setBrush(track)
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        knob = rect.height() - 6
        x = rect.right() - knob - 3 if self.isChecked() else rect.left() + 3
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.base().color())
        painter.drawEllipse(QRectF(x, rect.top() + 3, knob, knob))


class RequestLogModel(QAbstractTableModel):
    """The last MAX_ROWS requests; rows arrive through `add` and show on the next flush."""

    COLUMNS = ("time", "client", "endpoint", "model", "status", "tokens", "speed", "ttft", "message")

    def __init__(self, parent: QObject | None = None, max_rows: int = MAX_ROWS) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self.rows: list["RequestRecord"] = []
        self._pending: list["RequestRecord"] = []
        self._headers = [self.tr("Time"), self.tr("Client"), self.tr("Endpoint"), self.tr("Model"),
                         self.tr("Status"), self.tr("Tokens"), self.tr("tok/s"), self.tr("First token"),
                         self.tr("Error")]
        self._header_tips = {5: self.tr("Prompt tokens + reply tokens"), 6: self.tr("Reply tokens per second"),
                             7: self.tr("Time to the first reply token")}

    def add(self, record: "RequestRecord") -> None:
        self._pending.append(record)
        if len(self._pending) > self.max_rows:  # a flood between two flushes: only the newest can show
            del self._pending[:-self.max_rows]

    def flush(self) -> int:
        """Show the rows that arrived since the last flush; returns how many."""
        new, self._pending = self._pending, []
        if not new:
            return 0
        overflow = len(self.rows) + len(new) - self.max_rows
        if overflow > 0:
            drop = min(overflow, len(self.rows))
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            del self.rows[:drop]
            self.endRemoveRows()
        start = len(self.rows)
        self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
        self.rows.extend(new)
        self.endInsertRows()
        return len(new)

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self._pending = [], []
        self.endResetModel()

    # -- QAbstractTableModel ----------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._header_tips.get(section)
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        record = self.rows[index.row()]
        column = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(record, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == "status":
            return _ERROR if record.status >= 400 else _OK
        if role == Qt.ItemDataRole.ToolTipRole:
            return record.message or f"{record.method} {record.path} · {record.client}"
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("status", "tokens", "speed", "ttft"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def text(self, record: "RequestRecord", column: str) -> str:
        answered = record.status < 400 and record.completion_tokens > 0
        if column == "time":
            return time.strftime("%H:%M:%S", time.localtime(record.started))
        if column == "client":  # the host; the port (which connection) is in the tooltip
            return record.client.rsplit(":", 1)[0]
        if column == "endpoint":
            path = f"{record.method} {record.path}"
            return self.tr("{path} (stream)").format(path=path) if record.stream else path
        if column == "model":
            return record.model
        if column == "status":
            return str(record.status)
        if column == "tokens":
            return f"{record.prompt_tokens} + {record.completion_tokens}" if record.prompt_tokens else ""
        if column == "speed":
            return f"{record.tokens_per_s:.1f}" if answered else ""
        if column == "ttft":
            return self.tr("{ms} ms").format(ms=f"{record.ttft_ms:.0f}") if answered else ""
        return record.message


class ServerPanel(QWidget):
    """The panel's contents; `button` is the status-bar switch that shows the state and opens it."""

    def __init__(self, controller: "ServerController", settings: ServerSettings, save: Callable[[], None],
                 button: QToolButton, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ServerPanel")
        self.controller = controller
        self.settings = settings
        self._save = save
        self._started_with: tuple[int, str, bool] | None = None
        self._starting = False
        self._unsubscribe: list[Callable[[], None]] = []

        self.button = button
        self._button_tip = button.toolTip()

        # -- the left column: switch, settings, URL, example -------------------------------
        form_host = QWidget(self)
        left = QVBoxLayout(form_host)
        left.setContentsMargins(8, 6, 8, 6)
        left.setSpacing(6)
        switch_row = QHBoxLayout()
        self.switch = ToggleSwitch(form_host)
        self.switch.setObjectName("ServerSwitch")
        self.switch.setAccessibleName(self.tr("Server on or off"))
        self.switch.toggled.connect(self._on_switch)
        self.state_label = QLabel(form_host)
        self.state_label.setObjectName("ServerState")
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        switch_row.addWidget(self.switch, 0, Qt.AlignmentFlag.AlignTop)
        switch_row.addWidget(self.state_label, 1)
        left.addLayout(switch_row)
        self.message = QLabel(form_host)  # the one sentence about what went wrong, replaced, never stacked
        self.message.setObjectName("ServerMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setStyleSheet("QLabel { color: #c0392b; }")
        self.message.hide()
        left.addWidget(self.message)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.port = QSpinBox(form_host)
        self.port.setRange(1, 65535)
        self.port.setValue(settings.port)
        self.port.setGroupSeparatorShown(False)
        self.port.setToolTip(self.tr("The TCP port clients connect to (8080 unless something else uses it)"))
        self.port.valueChanged.connect(self._on_port)
        form.addRow(self.tr("Port:"), self.port)

        key_row = QHBoxLayout()
        self.key = QLineEdit(form_host)
        self.key.setObjectName("ServerKey")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText(self.tr("none: anyone on this computer may connect"))
        self.key.setText(controller.api_key() or "")
        self.key.textChanged.connect(self._on_key_typed)
        self.key.editingFinished.connect(self._store_key)
        self.show_key = QToolButton(form_host)
        self.show_key.setText(self.tr("Show"))
        self.show_key.setCheckable(True)
        self.show_key.toggled.connect(self._on_show_key)
        self.copy_key = QToolButton(form_host)
        self.copy_key.setText(self.tr("Copy"))
        self.copy_key.setToolTip(self.tr("Copy the API key"))
        self.copy_key.clicked.connect(lambda: self._copy(self.key.text(), self.tr("The API key was copied.")))
        self.generate = QToolButton(form_host)
        self.generate.setText(self.tr("Generate"))
        self.generate.setToolTip(self.tr("Make a new random key (clients with the old one are refused)"))
        self.generate.clicked.connect(self.generate_key)
        key_row.addWidget(self.key, 1)
        for button in (self.show_key, self.copy_key, self.generate):
            key_row.addWidget(button)
        form.addRow(self.tr("API key:"), key_row)
        self.key_where = QLabel(form_host)
        styled(self.key_where, "Hint")
        self.key_where.setWordWrap(True)
        form.addRow("", self.key_where)

        self.allow_remote = QCheckBox(self.tr("Allow other computers on the network"), form_host)
        self.allow_remote.setChecked(settings.allow_remote and bool(self.key.text()))
        self.allow_remote.toggled.connect(self._on_allow_remote)
        form.addRow("", self.allow_remote)
        self.remote_hint = QLabel(form_host)
        styled(self.remote_hint, "Hint")
        self.remote_hint.setWordWrap(True)
        form.addRow("", self.remote_hint)
        self.auto_start = QCheckBox(self.tr("Start the server when the app starts"), form_host)
        self.auto_start.setChecked(settings.auto_start)
        self.auto_start.toggled.connect(self._on_auto_start)
        form.addRow("", self.auto_start)
        left.addLayout(form)

        self.restart_row = QWidget(form_host)
        restart_layout = QHBoxLayout(self.restart_row)
        restart_layout.setContentsMargins(0, 0, 0, 0)
        self.restart_label = QLabel(self.tr("The server still uses the old port, key or network setting."),
                                    self.restart_row)
        self.restart_label.setWordWrap(True)
        self.restart_button = QPushButton(self.tr("Restart the server"), self.restart_row)
        self.restart_button.clicked.connect(lambda: spawn(self.start(), on_error=self._failed))
        restart_layout.addWidget(self.restart_label, 1)
        restart_layout.addWidget(self.restart_button)
        self.restart_row.hide()
        left.addWidget(self.restart_row)

        url_row = QHBoxLayout()
        url_row.addWidget(QLabel(self.tr("URL:"), form_host))
        self.url = QLineEdit(form_host)
        self.url.setObjectName("ServerUrl")
        self.url.setReadOnly(True)
        self.copy_url = QToolButton(form_host)
        self.copy_url.setText(self.tr("Copy"))
        self.copy_url.setToolTip(self.tr("Copy the base URL (what OpenAI clients call base_url)"))
        self.copy_url.clicked.connect(lambda: self._copy(self.url.text(), self.tr("The URL was copied.")))
        url_row.addWidget(self.url, 1)
        url_row.addWidget(self.copy_url)
        example_row = QHBoxLayout()
        example_row.addWidget(QLabel(self.tr("Try it:"), form_host), 0, Qt.AlignmentFlag.AlignTop)
        self.copy_example = QToolButton(form_host)
        self.copy_example.setText(self.tr("Copy"))
        self.copy_example.setToolTip(self.tr("Copy the curl command (with the key)"))
        self.copy_example.clicked.connect(
            lambda: self._copy(self.curl_example(reveal=True), self.tr("The curl command was copied.")))
        self.example = QPlainTextEdit(form_host)
        self.example.setObjectName("ServerExample")
        self.example.setReadOnly(True)
        self.example.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QGuiApplication.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.example.setFont(font)
        self.example.setFixedHeight(self.example.fontMetrics().lineSpacing() * 4 + 14)
        example_row.addWidget(self.example, 1)
        example_row.addWidget(self.copy_example, 0, Qt.AlignmentFlag.AlignTop)
        self.copied = QLabel(form_host)
        styled(self.copied, "Hint")
        self._copied_timer = QTimer(self)  # a child: it dies with the panel, never fires on a deleted label
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(4000)
        self._copied_timer.timeout.connect(lambda: self.copied.setText(""))
        left.addWidget(self.copied)
        left.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidget(form_host)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(360)
        scroll.setMaximumWidth(420)

        # -- the right column: the request log ----------------------------------------------
        log_host = QWidget(self)
        right = QVBoxLayout(log_host)
        right.setContentsMargins(4, 6, 8, 6)
        right.addLayout(url_row)
        right.addLayout(example_row)
        header = QHBoxLayout()
        self.counters = QLabel(log_host)
        self.counters.setObjectName("ServerCounters")
        self.clear_button = QPushButton(self.tr("Clear log"), log_host)
        self.clear_button.clicked.connect(self.clear_log)
        header.addWidget(self.counters, 1)
        header.addWidget(self.clear_button)
        right.addLayout(header)
        self.log_model = RequestLogModel(self)
        self.log = QTableView(log_host)
        self.log.setObjectName("ServerLog")
        self.log.setModel(self.log_model)
        self.log.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.log.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.log.setAlternatingRowColors(True)
        self.log.setWordWrap(False)
        self.log.verticalHeader().hide()
        self.log.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.log.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        head = self.log.horizontalHeader()
        head.setStretchLastSection(True)
        # Fixed widths: measuring contents on every batch would cost more than the rows themselves.
        for column, sample in enumerate(("00:00:00", "192.168.10.100", "POST /v1/chat/completions (stream)",
                                         "SmolLM2-135M-In", "404", "9999 + 999", "99.9", "9999 ms")):
            title = str(self.log_model.headerData(column, Qt.Orientation.Horizontal))
            head.resizeSection(column, max(self.log.fontMetrics().horizontalAdvance(sample),
                                           head.fontMetrics().horizontalAdvance(title)) + 14)
        right.addWidget(self.log, 1)

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(scroll)
        row.addWidget(log_host, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.flush_log)
        self._timer.start()
        self._unsubscribe = [controller.subscribe("state", self._on_state),
                             controller.subscribe("request", self._on_request),
                             controller.workspace.subscribe("lease_changed", lambda holder: self._show_state()),
                             controller.workspace.subscribe("model_changed", lambda info: self._show_example())]
        self._on_key_typed(self.key.text())
        self._show_key_where()
        self._show_state()
        self._show_counters()

    def disconnect_core(self) -> None:
        self._timer.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    # -- starting and stopping ------------------------------------------------------------------
    async def start(self) -> bool:
        """Start (or restart) with what the panel shows."""
        self._store_key()
        key = self.key.text().strip()
        allow_remote = self.allow_remote.isChecked() and bool(key)
        self._starting = True
        self._show_state()
        try:
            started = await self.controller.start(self.port.value(), key or None, allow_remote)
        finally:
            self._starting = False
        self._started_with = (self.port.value(), key, allow_remote) if started else None
        self._show_state()
        return started

    async def stop(self) -> None:
        self._starting = True
        self._show_state()
        try:
            await self.controller.stop()
        finally:
            self._starting = False
            self._started_with = None
            self._show_state()

    def start_if_wanted(self) -> None:
        """At start-up: serve when the user asked for it to start with the app."""
        if self.settings.auto_start and not self.controller.running:
            spawn(self.start(), on_error=self._failed)

    async def shutdown(self) -> None:
        self.disconnect_core()
        await self.controller.stop()

    def _on_switch(self, on: bool) -> None:
        if on == self.controller.running or self._starting:
            return
        self.message.hide()
        spawn(self.start() if on else self.stop(), on_error=self._failed)

    def _failed(self, exc: BaseException) -> None:
        self._show_message(self.tr("Something went wrong: {reason}").format(reason=exc))
        self._show_state()

    # -- settings ---------------------------------------------------------------------------------
    def _on_port(self, value: int) -> None:
        self.settings.port = int(value)
        self._save()
        self._show_state()

    def _on_key_typed(self, text: str) -> None:
        has_key = bool(text.strip())
        self.allow_remote.setEnabled(has_key)
        if not has_key and self.allow_remote.isChecked():
            self.allow_remote.setChecked(False)
        if has_key:
            self.remote_hint.setText(self.tr("Listens on every network interface; only clients that send the "
                                             "key are answered. Without this, only this computer can connect."))
        else:
            self.remote_hint.setText(self.tr("Set an API key first: other computers are let in only with the "
                                             "key, so that no one else on the network can use the model."))
        self.copy_key.setEnabled(has_key)
        self.show_key.setEnabled(has_key)
        self._show_example()
        self._show_pending()

    def _store_key(self) -> None:
        key = self.key.text().strip()
        if key == (self.controller.api_key() or ""):
            return
        try:
            self.controller.set_api_key(key or None)
        except Exception as exc:  # a keyring or a file that refuses: say so, keep the panel usable
            self._show_message(self.tr("The API key could not be stored: {reason}").format(reason=exc))
            return
        self._show_key_where()

    def generate_key(self) -> None:
        from studio.core.server.controller import generate_key

        self.key.setText(generate_key())
        self._store_key()
        self._show_copied(self.tr("A new key was made; copy it into your client."))

    def _on_show_key(self, shown: bool) -> None:
        self.key.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_key.setText(self.tr("Hide") if shown else self.tr("Show"))
        self._show_example()

    def _on_allow_remote(self, allowed: bool) -> None:
        self.settings.allow_remote = bool(allowed)
        self._save()
        self._show_pending()

    def _on_auto_start(self, wanted: bool) -> None:
        self.settings.auto_start = bool(wanted)
        self._save()

    # -- showing the state --------------------------------------------------------------------
    def _on_state(self, running: bool, url: str, error: str) -> None:
        if error:
            self._show_message(self._translated_error(error))
        elif running:
            self.message.hide()
        self._show_state()

    def _translated_error(self, error: str) -> str:
        kind, port = self.controller.error_kind, self.port.value()
        if kind == "port_in_use":
            return self.tr("Port {port} is already in use by another program: pick another port, or stop the "
                           "program that uses it.").format(port=port)
        if kind == "port_denied":
            return self.tr("This system does not let the app listen on port {port} (ports below 1024 need "
                           "administrator rights): pick a port of 1024 or higher.").format(port=port)
        if kind == "needs_key":
            return self.tr("Other computers may connect only with an API key: set or generate one first.")
        return error  # anything else is already one sentence from core

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def _show_state(self) -> None:
        running = self.controller.running
        self.switch.blockSignals(True)
        self.switch.setChecked(running)
        self.switch.blockSignals(False)
        self.switch.setEnabled(not self._starting)
        url = self.controller.url if running else ""
        self.url.setText(url or self._planned_url())
        self.url.setEnabled(running)
        self.copy_url.setEnabled(running)
        if self._starting:
            text, button = self.tr("Working…"), self.tr("Server: working…")
        elif running:
            text = self.tr("Serving at {url}").format(url=url)
            if self.controller.remote:
                text += "\n" + self.tr("Other computers on the network may connect (with the key).")
            button = self.tr("Serving at {url}").format(url=url)
            if self.controller.serving_request:
                button += " · " + self.tr("answering")
        else:
            text = self.tr("Off. Switch it on to answer OpenAI-compatible requests with the loaded model.")
            button = self.tr("Server off")
        self.state_label.setText(text)
        failed = not running and not self._starting and not self.message.isHidden()
        # a start that failed while the dock was closed (auto-start) still shows, in the status bar
        self.button.setText(("● " if running else "⚠ " if failed else "○ ") + button)
        self.button.setToolTip(self.message.text() if failed else self._button_tip)
        self.button.setProperty("serving", running)
        self._show_example()
        self._show_pending()

    def _planned_url(self) -> str:
        return f"http://127.0.0.1:{self.port.value()}/v1"

    def _show_pending(self) -> None:
        if self._started_with is None or not self.controller.running:
            self.restart_row.hide()
            return
        key = self.key.text().strip()
        now = (self.port.value(), key, self.allow_remote.isChecked() and bool(key))
        self.restart_row.setVisible(now != self._started_with)

    def _show_key_where(self) -> None:
        try:
            where = self.controller.key_location()
        except Exception:  # the keyring may fail to answer; the key still works for this run
            where = ""
        self.key_where.setText(self.tr("The key is kept in {where}, never in the settings file.").format(where=where)
                               if where else "")

    def curl_example(self, *, reveal: bool = False) -> str:
        base = self.controller.local_url or self._planned_url()
        info = self.controller.workspace.model_info
        model = info.path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".gguf") if info else "MODEL"
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello!"}]}, ensure_ascii=False)
        lines = [f"curl {base}/chat/completions", '-H "Content-Type: application/json"']
        key = self.key.text().strip()
        if key:
            shown = key if reveal or self.show_key.isChecked() else "•" * 8
            lines.append(f'-H "Authorization: Bearer {shown}"')
        lines.append(f"-d {shlex.quote(body)}")
        return " \\\n  ".join(lines)

    def _show_example(self) -> None:
        text = self.curl_example()
        if self.example.toPlainText() != text:
            self.example.setPlainText(text)

    def _copy(self, text: str, note: str) -> None:
        if text:
            QGuiApplication.clipboard().setText(text)
            self._show_copied(note)

    def _show_copied(self, note: str) -> None:
        self.copied.setText(note)
        self._copied_timer.start()

    # -- the log ----------------------------------------------------------------------------------
    def _on_request(self, record: "RequestRecord") -> None:
        self.log_model.add(record)  # shown by the next flush: one repaint per batch, not per request

    def flush_log(self) -> None:
        bar = self.log.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        if self.log_model.flush():
            self._show_counters()
            if at_bottom:  # follow new rows unless the user scrolled up to read
                self.log.scrollToBottom()

    def _show_counters(self) -> None:
        c = self.controller.counters
        self.counters.setText(self.tr("{requests} requests · {tokens} tokens · {errors} errors").format(
            requests=f"{c.requests:,}", tokens=f"{c.tokens:,}", errors=f"{c.errors:,}"))

    def clear_log(self) -> None:
        self.controller.clear_log()
        self.log_model.clear()
        self._show_counters()
