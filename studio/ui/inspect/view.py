"""The Inspect screen: Tokens → Attention → Next token → Embeddings, for one model picked at the top.

It owns the inspector (studio.core.inspect.inspector): attention and the logit lens come from the
app's llama.cpp engine for a GGUF file — the quantized model the user chats with, its adapters and
GPU offload — and from the torch analyser worker only for a Hugging Face folder. Next token uses
the engine too, loading the picked model through the workspace so the model picker stays in sync.
The views only show things; the work is core calls.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QTabWidget,
                               QVBoxLayout, QWidget)

from studio.core.workers.protocol import WorkerError
from studio.core.workspace import Workspace
from studio.ui.inspect.attention_view import AttentionView
from studio.ui.inspect.embeddings_view import EmbeddingsView
from studio.ui.inspect.next_view import NextTokenView
from studio.ui.inspect.tokens_view import TokensView
from studio.ui.tasks import in_thread, spawn
from studio.ui.widgets.model_combo import fill_model_combo, index_of_model


class InspectView(QWidget):
    banner_requested = Signal(str, str)     # text, level: for the window's banner

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from studio.core.inspect.client import AnalyserClient
        from studio.core.inspect.inspector import Inspector

        self.setObjectName("InspectView")
        self.workspace = workspace
        self.analyser = AnalyserClient()   # started only for a Hugging Face folder
        self.inspector = Inspector(workspace, self.analyser)
        self._entries: list = []
        self._chat_model = ""
        self._chosen_by_user = False
        self._warmed = False

        top = QHBoxLayout()
        top.setContentsMargins(8, 6, 8, 0)
        top.addWidget(QLabel(self.tr("Model:"), self))
        self.model_combo = QComboBox(self)
        self.model_combo.setObjectName("InspectModel")
        self.model_combo.setMinimumContentsLength(28)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.currentIndexChanged.connect(self._on_combo)
        top.addWidget(self.model_combo)
        self.model_facts = QLabel(self)
        self.model_facts.setObjectName("InspectModelFacts")
        self.model_facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_facts.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(self.model_facts, 1)
        top.addWidget(QLabel(self.tr("Adapter:"), self))
        self.adapter_combo = QComboBox(self)
        self.adapter_combo.setObjectName("InspectAdapter")
        self.adapter_combo.setMinimumContentsLength(18)
        self.adapter_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.adapter_combo.setToolTip(self.tr("Attach a LoRA adapter trained on this model (the chat uses it too); "
                                              "Attention, Next token and the logit lens can then compare the model "
                                              "before and after it"))
        self.adapter_combo.activated.connect(self._on_adapter_chosen)
        top.addWidget(self.adapter_combo)
        self.unload_button = QPushButton(self.tr("Free torch model"), self)
        self.unload_button.setToolTip(self.tr("Stop the attention worker and give its memory back; "
                                              "the next analysis loads the model again (fast, it is cached)."))
        self.unload_button.clicked.connect(lambda: spawn(self.free_analyser(), on_error=self._unexpected))
        self.unload_button.setVisible(False)
        top.addWidget(self.unload_button)

        self.tokens_view = TokensView(self)
        self.attention_view = AttentionView(self.inspector, self)
        self.next_view = NextTokenView(workspace, self.inspector, parent=self)
        self.sections = QTabWidget(self)
        self.sections.setObjectName("InspectSections")
        self.sections.addTab(self.tokens_view, self.tr("Tokens"))
        self.sections.addTab(self.attention_view, self.tr("Attention"))
        self.sections.addTab(self.next_view, self.tr("Next token"))
        self.embeddings_view = EmbeddingsView(self)   # reads the GGUF's embedding matrix when first asked
        self.sections.addTab(self.embeddings_view, self.tr("Embeddings"))
        self._last_section = 0
        self.sections.currentChanged.connect(self._on_section)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.sections, 1)
        self._unsubscribe = [self.analyser.subscribe("loaded", lambda **_: self._show_analyser_state()),
                             workspace.subscribe("adapters_changed", lambda **_: self._refresh_adapters()),
                             workspace.subscribe("model_changed", lambda **_: self._refresh_adapters())]

    def _refresh_adapters(self) -> None:
        """Offer "before and after the adapter" where the engine has adapters on the picked model."""
        self.attention_view.refresh_adapters()
        self.next_view.refresh_adapters()
        spawn(self._fill_adapters(), on_error=lambda _exc: None)

    async def _fill_adapters(self) -> None:
        """The adapter list: none, the runs trained on this model, anything attached."""
        model = self.model_path()
        choices = await in_thread(self.inspector.trained_adapters, model) if model else []
        if model != self.model_path():
            return
        from studio.core.workspace import normalized_path

        attached = {normalized_path(a.get("path")) for a in self.inspector.adapters(model)}
        combo = self.adapter_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(self.tr("None (the base model)"), "")
        for choice in choices:
            combo.addItem(choice.name, choice.path)
            combo.setItemData(combo.count() - 1, choice.path, Qt.ItemDataRole.ToolTipRole)
            if normalized_path(choice.path) in attached:
                combo.setCurrentIndex(combo.count() - 1)
        combo.setEnabled(bool(choices) and self.inspector.backend(model) == "llama.cpp")
        combo.blockSignals(False)

    def _on_adapter_chosen(self, index: int) -> None:
        path = str(self.adapter_combo.itemData(index) or "") or None
        spawn(self.use_adapter(path), on_error=self._unexpected)

    async def use_adapter(self, path: str | None) -> bool:
        """Attach `path` (None: detach) to the picked model in the engine; False, with a banner, if refused."""
        from studio.core.errors import StudioError

        self.adapter_combo.setEnabled(False)
        try:
            await self.inspector.use_adapter(self.model_path(), path)
            return True
        except StudioError as exc:
            self.banner_requested.emit(self.tr("The adapter could not be attached: {error}").format(
                error=exc.message), "warning")
            return False
        finally:
            await self._fill_adapters()

    def drop_targets(self) -> list[QWidget]:
        """The editors would take a dropped file's path: the window routes file drops on them."""
        return [view.editor.viewport() for view in self.views()]

    def views(self) -> list[QWidget]:
        return [self.tokens_view, self.attention_view, self.next_view]

    # -- models -----------------------------------------------------------------------------
    def set_models(self, entries: list, chat_model: str) -> None:
        """Library models and the chat's model; the chat's model is the default until the user picks."""
        self._entries = [e for e in entries if getattr(e, "ok", True)]
        self._chat_model = chat_model or ""
        wanted = self.model_path()
        if not self._chosen_by_user and self._chat_model:
            wanted = self._chat_model
        self._fill(wanted)
        self._apply_model()

    def _fill(self, current: str) -> None:
        combo = self.model_combo
        combo.blockSignals(True)
        fill_model_combo(combo, chat_model=self._chat_model, entries=self._entries, paths=[current],
                         chat_label=self.tr("{name} (the chat's model)"))
        index = index_of_model(combo, current)
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)

    def model_path(self) -> str:
        return str(self.model_combo.currentData() or "")

    def set_model(self, path: str) -> None:
        """Pick a model by path (adds it to the list if the library does not have it)."""
        self._chosen_by_user = True
        self._fill(path)
        self._apply_model()

    def _on_combo(self, _index: int) -> None:
        self._chosen_by_user = True
        self._apply_model()

    def _apply_model(self) -> None:
        path = self.model_path()
        entry = next((e for e in self._entries if str(e.path) == path), None)
        if entry is not None:
            self._show_facts(entry.architecture, entry.quantization, entry.parameter_count)
        else:
            self.model_facts.setText("")
            if path.endswith(".gguf"):  # a file from outside the library: read its header off the UI thread
                spawn(self._read_facts(path), on_error=lambda _exc: None)
        self.tokens_view.set_models(self._entries, path)  # its compare list, and its model
        for view in self.views():
            view.set_model(path)
        self.embeddings_view.set_model(path)
        spawn(self._fill_adapters(), on_error=lambda _exc: None)

    def _show_facts(self, architecture: str, quantization: str, parameter_count: int) -> None:
        facts = [architecture, quantization]
        if parameter_count:
            facts.append(self.tr("{n} M parameters").format(n=f"{parameter_count / 1e6:,.0f}"))
        self.model_facts.setText(" · ".join(f for f in facts if f))

    async def _read_facts(self, path: str) -> None:
        from studio.core.models.gguf_info import ModelFileError, read_gguf_info

        try:
            info = await in_thread(read_gguf_info, path)
        except ModelFileError as exc:
            info = None
            if self.model_path() == path:
                self.model_facts.setText(exc.message)
        if info is not None and self.model_path() == path:
            self._show_facts(info.architecture, info.quantization, info.parameter_count)

    def show_tokens(self, text: str, model: str = "") -> None:
        """Open Tokens on `text` (e.g. a chat message), with `model`'s tokenizer when given."""
        if model and index_of_model(self.model_combo, model) != self.model_combo.currentIndex():
            self.set_model(model)
        self.sections.setCurrentWidget(self.tokens_view)
        self.tokens_view.editor.setPlainText(text)

    # -- sections ---------------------------------------------------------------------------
    def _on_section(self, index: int) -> None:
        """Carry the prompt over: a section whose editor is empty starts from the last one's text."""
        views = self.views()
        if not 0 <= index < len(views):  # Embeddings: no prompt to carry, no torch worker to warm
            return
        model = self.model_path()
        if views[index] is not self.tokens_view and model and self.inspector.backend(model) == "torch":
            self.warm_analyser()   # torch only serves Hugging Face folders now
        previous = views[self._last_section] if 0 <= self._last_section < len(views) else None
        self._last_section = index
        target = views[index] if 0 <= index < len(views) else None
        if previous is None or target is None or previous is target:
            return
        text = previous.editor.toPlainText()
        # The Tokens editor can hold a whole document; only a prompt-sized text is worth carrying.
        if text.strip() and not target.editor.toPlainText().strip() and len(text) <= 20_000:
            target.editor.setPlainText(text)

    def warm_analyser(self) -> None:
        """Start the torch worker (and its ~2 s of imports) while the user is still typing."""
        if self._warmed or self.analyser.loaded or self.analyser.busy:
            return
        self._warmed = True

        async def warm() -> None:
            try:
                await self.analyser.warm()
            except WorkerError:
                self._warmed = False  # e.g. torch missing: the view says why when the user asks

        spawn(warm(), on_error=self._unexpected)

    def _show_analyser_state(self) -> None:
        loaded = getattr(self.analyser, "loaded", None)
        self.unload_button.setVisible(bool(loaded))

    async def free_analyser(self) -> None:
        try:
            await self.analyser.close()
        except WorkerError:
            pass
        self._warmed = False
        self._show_analyser_state()

    def _unexpected(self, exc: BaseException) -> None:
        self.banner_requested.emit(self.tr("Inspect: {error}").format(error=exc), "error")

    async def shutdown(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        for view in [*self.views(), self.embeddings_view]:
            stop = getattr(view, "shutdown", None)
            if stop is not None:
                await stop()
        try:
            await asyncio.wait_for(self.analyser.close(), 10)
        except (asyncio.TimeoutError, WorkerError):
            pass
        await self.inspector.close()
