"""Remote engines in the model picker: the add/edit dialog (base URL, optional key, Connect lists the
models or says what is wrong) and the list to edit or remove them.

Everything it does goes through studio.core.engine.remote (RemoteEngine, RemoteRegistry); the key
goes to the SecretStore, and the dialog says where.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout, QWidget)

from studio.core.engine.remote import RemoteEngine, RemoteEngineError, RemoteRegistry
from studio.ui.tasks import spawn
from studio.ui.widgets.banner import Banner


class RemoteEngineDialog(QDialog):
    """Add (or, with `name`, edit) a remote engine. `saved(name, models)` after Save."""

    saved = Signal(str, list)

    def __init__(self, registry: RemoteRegistry, parent: QWidget | None = None, *, name: str = "") -> None:
        super().__init__(parent)
        self.registry = registry
        self.editing = registry.get(name) if name else None
        self.models: list[str] = []
        self._connected_to = ""   # the URL and key the listed models came from
        self.setObjectName("RemoteEngineDialog")
        self.setWindowTitle(self.tr("Edit remote engine") if self.editing else self.tr("Add remote engine"))
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("Chat with a model served elsewhere: any OpenAI-compatible server, such as vLLM, "
                               "llama-server, Ollama, LM Studio or another Local LLM Studio."), self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.url = QLineEdit(self.editing.base_url if self.editing else "", self)
        self.url.setPlaceholderText("http://127.0.0.1:8080/v1")
        self.key = QLineEdit(self)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        has_key = bool(self.editing and self.editing.key_ref)
        self.key.setPlaceholderText(self.tr("leave empty to keep the saved key") if has_key
                                    else self.tr("optional"))
        self.name = QLineEdit(self.editing.name if self.editing else "", self)
        self.name.setPlaceholderText(self.tr("a name for the model picker"))
        form.addRow(self.tr("Base URL"), self.url)
        form.addRow(self.tr("API key"), self.key)
        form.addRow(self.tr("Name"), self.name)
        layout.addLayout(form)
        self.key_note = QLabel(self.tr("A key is stored in {where}, never in the settings file.").format(
            where=registry.where_keys_go()), self)
        self.key_note.setObjectName("KeyNote")
        self.key_note.setWordWrap(True)
        layout.addWidget(self.key_note)
        row = QHBoxLayout()
        self.connect_button = QPushButton(self.tr("Connect"), self)
        self.connect_button.setToolTip(self.tr("List the server's models (GET /v1/models)"))
        self.connect_button.clicked.connect(self.test_connection)
        row.addWidget(self.connect_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.status = Banner(self, closable=False)
        layout.addWidget(self.status)
        self.model_list = QListWidget(self)
        self.model_list.setObjectName("RemoteModels")
        self.model_list.setMaximumHeight(140)
        self.model_list.hide()
        layout.addWidget(self.model_list)
        self.buttons = QDialogButtonBox(self)
        self.save_button = self.buttons.addButton(self.tr("Save"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(self.tr("Cancel"), QDialogButtonBox.ButtonRole.RejectRole)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        self.cancel_button.clicked.connect(self.reject)
        layout.addWidget(self.buttons)
        if self.editing:  # a name change alone needs no new listing
            self.models = list(self.editing.models)
            self._connected_to = self._target()
            self.save_button.setEnabled(True)
        self.url.textChanged.connect(self._inputs_changed)
        self.key.textChanged.connect(self._inputs_changed)

    def _key(self) -> str | None:
        """The key to use: the typed one, else (editing) the saved one."""
        typed = self.key.text().strip()
        if typed:
            return typed
        return self.registry.key_of(self.editing) if self.editing else None

    def _inputs_changed(self) -> None:
        if self._connected_to and self._connected_to != self._target():
            self.save_button.setEnabled(False)  # the models listed belong to another address or key

    def _target(self) -> str:
        return f"{self.url.text().strip()}\n{self.key.text().strip()}"

    def test_connection(self) -> None:
        try:
            engine = RemoteEngine(self.url.text(), self._key())
        except RemoteEngineError as exc:
            self._failed(exc)
            return
        self.connect_button.setEnabled(False)
        self.save_button.setEnabled(False)
        self.model_list.hide()
        self.status.show_message(self.tr("Connecting to {url}…").format(url=engine.base_url), "info")
        spawn(self._connect(engine), on_error=self._failed)

    async def _connect(self, engine: RemoteEngine) -> None:
        target = self._target()
        try:
            models = await engine.list_models()
        finally:
            self.connect_button.setEnabled(True)
            await engine.close()
        self.models = models
        self._connected_to = ""
        self.url.setText(engine.base_url)  # as normalized: what will be saved
        self._connected_to = self._target() if target else ""
        if not self.name.text().strip():
            self.name.setText(self.registry.unique_name(engine.base_url))
        self.model_list.clear()
        for model in models:
            self.model_list.addItem(QListWidgetItem(model))
        self.model_list.setVisible(bool(models))
        if models:
            self.status.show_message(self.tr("Connected: {count} model(s). Save to add them to the model "
                                             "picker.").format(count=len(models)), "info")
        else:
            self.status.show_message(self.tr("Connected to {url}, but it lists no models.").format(
                url=engine.base_url), "warning")
        self.save_button.setEnabled(bool(models))
        self.adjustSize()  # room for the list and the banner

    def _failed(self, exc: BaseException) -> None:
        self.connect_button.setEnabled(True)
        self.save_button.setEnabled(False)
        self.model_list.hide()
        self.status.show_message(str(exc), "error")

    def save(self) -> None:
        name = self.name.text().strip() or self.registry.unique_name(self.url.text())
        typed = self.key.text().strip()
        try:
            where = self.registry.put(name, self.url.text(), typed if typed else (None if self.editing else ""),
                                      models=self.models, replacing=self.editing.name if self.editing else "")
        except (RemoteEngineError, OSError) as exc:
            self.status.show_message(str(exc), "error")
            return
        self.where = where
        self.saved.emit(name, list(self.models))
        self.accept()


class RemoteEnginesDialog(QDialog):
    """The remote engines: add, edit, remove."""

    def __init__(self, registry: RemoteRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.setObjectName("RemoteEnginesDialog")
        self.setWindowTitle(self.tr("Remote engines"))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        self.list = QListWidget(self)
        layout.addWidget(self.list)
        row = QHBoxLayout()
        self.add_button = QPushButton(self.tr("Add…"), self)
        self.edit_button = QPushButton(self.tr("Edit…"), self)
        self.remove_button = QPushButton(self.tr("Remove"), self)
        for button in (self.add_button, self.edit_button, self.remove_button):
            row.addWidget(button)
        row.addStretch(1)
        close = QPushButton(self.tr("Close"), self)
        close.clicked.connect(self.accept)
        row.addWidget(close)
        layout.addLayout(row)
        self.add_button.clicked.connect(lambda: self.open_editor(""))
        self.edit_button.clicked.connect(lambda: self.open_editor(self.selected()))
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.list.itemDoubleClicked.connect(lambda _item: self.open_editor(self.selected()))
        self.editor: RemoteEngineDialog | None = None
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        for entry in self.registry.entries():
            key = self.tr("key saved") if entry.key_ref else self.tr("no key")
            item = QListWidgetItem(f"{entry.name} — {entry.base_url} ({key})")
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        self._update_buttons()

    def selected(self) -> str:
        item = self.list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else ""

    def _update_buttons(self) -> None:
        chosen = bool(self.selected())
        self.edit_button.setEnabled(chosen)
        self.remove_button.setEnabled(chosen)

    def open_editor(self, name: str) -> RemoteEngineDialog:
        dialog = RemoteEngineDialog(self.registry, self, name=name)
        dialog.saved.connect(lambda *_: self.refresh())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.editor = dialog
        return dialog

    def confirm(self, name: str) -> bool:
        answer = QMessageBox.question(self, self.tr("Remove remote engine"),
                                      self.tr("Remove “{name}” and its saved key?").format(name=name))
        return answer == QMessageBox.StandardButton.Yes

    def remove_selected(self) -> None:
        name = self.selected()
        if name and self.confirm(name):
            self.registry.remove(name)
            self.refresh()
