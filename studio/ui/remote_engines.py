"""The main window's remote engines: which remote model the chat answers with, the picker's remote
groups, and the add/edit dialogs (the engines themselves live in studio.core.engine.remote)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from PySide6.QtWidgets import QWidget

from studio.core.engine.remote import RemoteEngineError, parse_label
from studio.ui.lazy_qt import Qt
from studio.ui.tasks import spawn

if TYPE_CHECKING:
    import asyncio
else:  # imported when first used, after the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import asyncio


class RemoteEnginesMixin:
    """Mixed into MainWindow, whose chat, model picker, remote registry (`remotes`), settings and
    banner it uses."""

    chat: Any
    model_picker: Any
    remotes: Any
    settings: Any
    banner: Any
    workspace: Any
    _remote_errors: dict[str, str]
    # MainWindow's own methods this part calls
    _current_path: Any
    _select_in_picker: Any
    _unexpected: Any
    load_model: Any
    save_settings: Any
    show_banner: Any

    def use_local_model(self, path: str) -> None:
        """The picker's local model: the chat answers locally again, loading it unless it is loaded."""
        if not self.chat.use_remote(None):
            self._select_in_picker(self._current_path())
            return
        self._remember_chat_remote("")
        if self.workspace.has_model(path):
            self._select_in_picker(path)
        else:
            spawn(self.load_model(path), on_error=self._unexpected)

    def use_remote_model(self, label: str) -> None:
        """The picker's remote model (remote:<engine>/<model>): the chat answers with it."""
        parsed = parse_label(label)
        if parsed is None:
            return
        try:
            remote = self.remotes.engine(*parsed)
        except RemoteEngineError as exc:
            self.show_banner(str(exc), "error")
            return
        if self.chat.use_remote(remote):
            self.banner.hide()
            self._remember_chat_remote(label)
        self._select_in_picker(self._current_path())

    def _remember_chat_remote(self, label: str) -> None:
        if self.settings.chat_remote != label:
            self.settings.chat_remote = label
            self.save_settings()

    def restore_chat_remote(self) -> None:
        """The remote model the chat used when the app was last closed, if its engine is still there."""
        parsed = parse_label(self.settings.chat_remote)
        if parsed is not None and self.remotes.get(parsed[0]) is not None:
            self.use_remote_model(self.settings.chat_remote)
        else:
            self._remember_chat_remote("")

    def _show_remotes(self) -> None:
        self.model_picker.set_remotes([(e.name, e.base_url, e.models, self._remote_errors.get(e.name, ""))
                                       for e in self.remotes.entries()])
        self._select_in_picker(self._current_path())

    async def refresh_remotes(self) -> None:
        """List every remote engine's models (the picker shows the last listing meanwhile)."""
        self._show_remotes()

        async def listing(name: str) -> None:
            engine = self.remotes.engine(name)
            try:
                models = await engine.list_models()
            except RemoteEngineError as exc:
                self._remote_errors[name] = str(exc)
                return
            finally:
                await engine.close()
            self._remote_errors.pop(name, None)
            self.remotes.set_models(name, models)
        await asyncio.gather(*(listing(e.name) for e in self.remotes.entries()))
        self._show_remotes()

    def open_remote_dialog(self, name: str = ""):
        from studio.ui.remote_engine_dialog import RemoteEngineDialog

        dialog = RemoteEngineDialog(self.remotes, cast(QWidget, self), name=name)
        dialog.saved.connect(lambda name, models: self._remote_saved(name, models))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.remote_dialog = dialog
        return dialog

    def open_remote_engines(self):
        from studio.ui.remote_engine_dialog import RemoteEnginesDialog

        dialog = RemoteEnginesDialog(self.remotes, cast(QWidget, self))
        dialog.finished.connect(lambda _result: self._remotes_edited())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.remote_dialog = dialog
        return dialog

    def _remote_saved(self, name: str, models: list) -> None:
        self._remote_errors.pop(name, None)
        self._show_remotes()

    def _remotes_edited(self) -> None:
        """After edits: a chat on a removed or renamed engine goes back to the local model."""
        remote = self.chat.session.remote
        if remote is not None:
            entry = self.remotes.get(remote.name)
            if entry is None or entry.base_url != remote.base_url or remote.model not in entry.models:
                if self.chat.use_remote(None):
                    self._remember_chat_remote("")
            else:
                self.chat.use_remote(self.remotes.engine(remote.name, remote.model))  # the key may have changed
        self._show_remotes()

