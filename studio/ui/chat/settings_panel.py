"""Right side of the chat screen: per-conversation settings and the engine's load settings.

Conversation settings (system prompt, sampling, context length) are reported with
`conversation_changed` after a short pause, and the owner saves them through the session.
Engine settings are only applied on "Apply", which reloads the model (`engine_apply_requested`).
The Adapters group lists the LoRA adapters attached to the loaded model; the owner applies a
change through the engine (`adapters_requested` carries the whole wanted list).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QScrollArea, QSpinBox,
                               QVBoxLayout, QWidget)

from studio.core import hardware, limits
from studio.core.chat.conversation import Conversation
from studio.core.chat.thinking import thinking_on
from studio.core.engine.sampling import PRESETS, SamplingParams
from studio.core.engine.client import ModelInfo
from studio.core.settings import EngineSettings
from studio.ui.chat.output_format import OutputFormatBox
from studio.ui.lazy_qt import Qt
from studio.ui.theme import styled

CUSTOM = "__custom__"
MAX_GPU_LAYERS = int(limits.limit("n_gpu_layers").maximum)
_QT_INT_MAX = 2**31 - 1  # QSpinBox holds a C int


def limit_range(name: str, step: float = 1) -> tuple[float, float]:
    """A spin box's (min, max) from studio.core.limits, the table the CLI and the API check too. An
    excluded minimum (top-p 0) becomes the smallest step above it."""
    entry = limits.limit(name)
    low = entry.minimum + step if entry.above_minimum else entry.minimum
    high = min(entry.maximum, _QT_INT_MAX) if entry.integer else entry.maximum
    return (int(low), int(high)) if entry.integer else (low, high)


def adapter_name(path: str) -> str:
    """How an adapter is named in the UI. A run's adapter is always "adapter.gguf", so its run
    folder names it better."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.name == "adapter.gguf" and p.parent.name else p.name


class AdaptersBox(QGroupBox):
    """Attached LoRA adapters: a scale (0–2) and Detach per adapter, and "Attach adapter…".

    It shows what the engine reports and asks for changes with `adapters_requested(list)`; a
    scale change is sent after a short pause so spinning the arrows does not flood the engine."""

    adapters_requested = Signal(list)   # [{"path": str, "scale": float}, ...]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Adapters"), parent)
        self.setObjectName("AdaptersBox")
        self._adapters: list[dict] = []
        self.rows: list[tuple[QLabel, QDoubleSpinBox, QPushButton]] = []
        outer = QVBoxLayout(self)
        self._rows_box = QVBoxLayout()
        self._rows_box.setSpacing(2)
        outer.addLayout(self._rows_box)
        self.empty_label = QLabel(self.tr("No adapter attached."), self)
        styled(self.empty_label, "Hint")
        outer.addWidget(self.empty_label)
        self.attach_button = QPushButton(self.tr("Attach adapter…"), self)
        self.attach_button.setToolTip(self.tr("Attach a LoRA adapter (.gguf) to the loaded model"))
        self.attach_button.clicked.connect(self.choose_adapter)
        outer.addWidget(self.attach_button)
        self._scale_timer = QTimer(self)
        self._scale_timer.setSingleShot(True)
        self._scale_timer.setInterval(350)
        self._scale_timer.timeout.connect(self._send_scales)

    def adapters(self) -> list[dict]:
        return [dict(a) for a in self._adapters]

    def set_adapters(self, adapters: list[dict]) -> None:
        """Show the engine's attached adapters (replaces the rows)."""
        self._scale_timer.stop()
        self._adapters = [{"path": str(a.get("path", "")), "scale": float(a.get("scale", 1.0))} for a in adapters]
        for label, spin, button in self.rows:
            for widget in (label, spin, button):
                widget.deleteLater()
        self.rows = []
        while self._rows_box.count():
            self._rows_box.takeAt(0)
        for adapter in self._adapters:
            row = QHBoxLayout()
            label = QLabel(adapter_name(adapter["path"]), self)
            label.setToolTip(adapter["path"])
            label.setMinimumWidth(40)
            spin = QDoubleSpinBox(self)
            spin.setRange(*limit_range("lora_scale"))
            spin.setSingleStep(0.1)
            spin.setDecimals(2)
            spin.setValue(adapter["scale"])
            spin.setToolTip(self.tr("How strongly the adapter changes the model (1 = as trained, 0 = off)"))
            spin.valueChanged.connect(lambda _v: self._scale_timer.start())
            button = QPushButton(self.tr("Detach"), self)
            button.clicked.connect(lambda _=False, path=adapter["path"]: self.detach(path))
            row.addWidget(label, 1)
            row.addWidget(spin)
            row.addWidget(button)
            self._rows_box.addLayout(row)
            self.rows.append((label, spin, button))
        self.empty_label.setVisible(not self._adapters)

    def choose_adapter(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load on use: their enums cost start-up time

        path, _ = QFileDialog.getOpenFileName(self, self.tr("Attach a LoRA adapter"), str(Path.home()),
                                              self.tr("GGUF LoRA adapters (*.gguf);;All files (*)"))
        if path:
            self.attach(path)

    def attach(self, path: str, scale: float = 1.0) -> None:
        wanted = [a for a in self._current() if os.path.realpath(a["path"]) != os.path.realpath(path)]
        self.adapters_requested.emit(wanted + [{"path": path, "scale": float(scale)}])

    def detach(self, path: str) -> None:
        self.adapters_requested.emit([a for a in self._current() if a["path"] != path])

    def set_scale(self, path: str, scale: float) -> None:
        for adapter, (_label, spin, _button) in zip(self._adapters, self.rows):
            if adapter["path"] == path:
                spin.setValue(scale)
        self._send_scales()

    def _current(self) -> list[dict]:
        """The adapters with the scales now in the spin boxes."""
        return [{"path": a["path"], "scale": round(spin.value(), 4)}
                for a, (_label, spin, _button) in zip(self._adapters, self.rows)]

    def _send_scales(self) -> None:
        self._scale_timer.stop()
        current = self._current()
        if current != self._adapters:
            self.adapters_requested.emit(current)


class ChatSettingsPanel(QScrollArea):
    conversation_changed = Signal()
    engine_apply_requested = Signal(object)  # EngineSettings
    adapters_requested = Signal(list)        # the wanted attached adapters, see AdaptersBox
    output_format_changed = Signal(object)   # structured.OutputFormat | None, saved at once by the owner
    thinking_changed = Signal(bool)          # the conversation's thinking switch, saved at once by the owner

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChatSettingsPanel")
        self.setWidgetResizable(True)
        self.setProperty("horizontalScrollBarPolicy", "ScrollBarAlwaysOff")  # by name: studio.ui.lazy_qt
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        self._loading = False
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(300)
        self._save_timer.timeout.connect(self.conversation_changed)

        # -- conversation ---------------------------------------------------------------------
        chat_box = QGroupBox(self.tr("This conversation"), body)
        form = QFormLayout(chat_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.system_prompt = QPlainTextEdit(chat_box)
        self.system_prompt.setPlaceholderText(self.tr("Optional instructions for the assistant"))
        self.system_prompt.setFixedHeight(80)
        self.system_prompt.textChanged.connect(self._changed)
        form.addRow(self.tr("System prompt"), self.system_prompt)

        self.preset = QComboBox(chat_box)
        for name in PRESETS:
            self.preset.addItem(self.tr_preset(name), name)
        self.preset.addItem(self.tr("Custom"), CUSTOM)
        self.preset.activated.connect(self._preset_chosen)
        form.addRow(self.tr("Preset"), self.preset)

        def dspin(lo: float, hi: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
            box = QDoubleSpinBox(chat_box)
            box.setRange(lo, hi)
            box.setSingleStep(step)
            box.setDecimals(decimals)
            box.valueChanged.connect(self._changed)
            return box

        def ispin(lo: int, hi: int, step: int = 1) -> QSpinBox:
            box = QSpinBox(chat_box)
            box.setRange(lo, hi)
            box.setSingleStep(step)
            box.valueChanged.connect(self._changed)
            return box

        self.temperature = dspin(*limit_range("temperature"), 0.05)
        self.top_p = dspin(*limit_range("top_p", 0.01), 0.01)
        self.top_k = ispin(*limit_range("top_k"))
        self.min_p = dspin(*limit_range("min_p"), 0.01)
        self.repeat_penalty = dspin(*limit_range("repeat_penalty"), 0.01)
        self.max_tokens = ispin(*limit_range("max_tokens"), 64)
        self.seed = ispin(*limit_range("seed"))
        self.seed.setSpecialValueText(self.tr("random"))
        self.n_ctx = ispin(*limit_range("n_ctx"), 512)
        form.addRow(self.tr("Temperature"), self.temperature)
        form.addRow(self.tr("Top-p"), self.top_p)
        form.addRow(self.tr("Top-k"), self.top_k)
        form.addRow(self.tr("Min-p"), self.min_p)
        form.addRow(self.tr("Repeat penalty"), self.repeat_penalty)
        form.addRow(self.tr("Max tokens"), self.max_tokens)
        form.addRow(self.tr("Seed"), self.seed)
        form.addRow(self.tr("Context length"), self.n_ctx)
        self.thinking = QCheckBox(self.tr("Let the model think"), chat_box)
        self.thinking.setObjectName("ThinkingSwitch")
        self.thinking.setChecked(True)
        self.thinking.toggled.connect(lambda on: None if self._loading else self.thinking_changed.emit(on))
        form.addRow(self.tr("Thinking"), self.thinking)
        self.set_thinking_switch(False)
        note = QLabel(self.tr("Saved with this conversation. A new context length reloads the model "
                              "before the next reply."), chat_box)
        note.setWordWrap(True)
        styled(note, "Hint")
        form.addRow(note)
        layout.addWidget(chat_box)

        # -- output format (JSON, a schema, a grammar) ---------------------------------------
        self.output_box = OutputFormatBox(body)
        self.output_box.format_changed.connect(self.output_format_changed)
        self.max_tokens.valueChanged.connect(self.output_box.set_max_tokens)
        layout.addWidget(self.output_box)

        # -- adapters -------------------------------------------------------------------------
        self.adapters_box = AdaptersBox(body)
        self.adapters_box.adapters_requested.connect(self.adapters_requested)
        self.adapters_box.setEnabled(False)  # until a model is loaded
        layout.addWidget(self.adapters_box)

        # -- engine ---------------------------------------------------------------------------
        engine_box = QGroupBox(self.tr("Engine"), body)
        eform = QFormLayout(engine_box)
        self.backend_label = QLabel("—", engine_box)
        eform.addRow(self.tr("Backend"), self.backend_label)

        gpu_row = QHBoxLayout()
        self.gpu_layers = QSpinBox(engine_box)
        self.gpu_layers.setRange(0, MAX_GPU_LAYERS)  # -1 (all) is the "All" box
        self.gpu_all = QCheckBox(self.tr("All"), engine_box)
        self.gpu_all.toggled.connect(lambda on: self.gpu_layers.setEnabled(not on and self._offload_supported))
        gpu_row.addWidget(self.gpu_layers, 1)
        gpu_row.addWidget(self.gpu_all)
        eform.addRow(self.tr("GPU layers"), gpu_row)
        self.gpu_hint = QLabel(self.tr("This llama.cpp build has no GPU support: the model runs on the CPU."),
                               engine_box)
        self.gpu_hint.setWordWrap(True)
        styled(self.gpu_hint, "Hint")
        self.gpu_hint.hide()
        eform.addRow(self.gpu_hint)

        threads_row = QHBoxLayout()
        self.threads = QSpinBox(engine_box)
        self.threads.setRange(*limit_range("n_threads"))
        self.threads_auto = QCheckBox(self.tr("Auto"), engine_box)
        self.threads_auto.toggled.connect(lambda on: self.threads.setEnabled(not on))
        threads_row.addWidget(self.threads, 1)
        threads_row.addWidget(self.threads_auto)
        eform.addRow(self.tr("Threads"), threads_row)

        self.batch = QSpinBox(engine_box)
        self.batch.setRange(*limit_range("n_batch"))
        self.batch.setSingleStep(64)
        eform.addRow(self.tr("Batch size"), self.batch)
        self.flash_attn = QCheckBox(self.tr("Flash attention"), engine_box)
        eform.addRow("", self.flash_attn)
        self.prompt_lookup = QCheckBox(self.tr("Prompt lookup"), engine_box)
        eform.addRow("", self.prompt_lookup)
        # Drafts are verified exactly only with flash attention; the choice is kept while it is off.
        self.flash_attn.toggled.connect(self._show_lookup_state)
        self.apply_button = QPushButton(self.tr("Apply (reloads the model)"), engine_box)
        self.apply_button.clicked.connect(self._apply_engine)
        eform.addRow(self.apply_button)

        self.template_note = QLabel(engine_box)
        self.template_note.setWordWrap(True)
        styled(self.template_note, "TemplateNote")
        self.template_note.hide()
        eform.addRow(self.template_note)
        layout.addWidget(engine_box)
        layout.addStretch(1)
        self.setWidget(body)
        self._offload_supported = True
        self.set_conversation(None)
        self.set_engine_settings(EngineSettings())

    def tr_preset(self, name: str) -> str:
        names = {"Balanced": self.tr("Balanced"), "Precise": self.tr("Precise"),
                 "Creative": self.tr("Creative"), "Code": self.tr("Code")}
        return names.get(name, name)

    # -- conversation -----------------------------------------------------------------------
    def set_conversation(self, conversation: Conversation | None) -> None:
        """Show a conversation's settings without reporting them as a change."""
        self._save_timer.stop()
        self._loading = True
        try:
            sampling = conversation.sampling if conversation else SamplingParams()
            self.system_prompt.setPlainText(conversation.system_prompt if conversation else "")
            self.output_box.set_conversation(conversation)
            self.thinking.setChecked(thinking_on(conversation))
            self._show_sampling(sampling)
        finally:
            self._loading = False
        self.setEnabled(True)

    def _show_sampling(self, s: SamplingParams) -> None:
        was = self._loading
        self._loading = True
        try:
            self.temperature.setValue(s.temperature)
            self.top_p.setValue(s.top_p)
            self.top_k.setValue(s.top_k)
            self.min_p.setValue(s.min_p)
            self.repeat_penalty.setValue(s.repeat_penalty)
            self.max_tokens.setValue(s.max_tokens)
            self.seed.setValue(s.seed)
            self.n_ctx.setValue(s.n_ctx)
        finally:
            self._loading = was
        self._sync_preset()

    def sampling(self) -> SamplingParams:
        return SamplingParams(temperature=round(self.temperature.value(), 4), top_p=round(self.top_p.value(), 4),
                              top_k=self.top_k.value(), min_p=round(self.min_p.value(), 4),
                              repeat_penalty=round(self.repeat_penalty.value(), 4),
                              max_tokens=self.max_tokens.value(), seed=self.seed.value(), n_ctx=self.n_ctx.value())

    def system_prompt_text(self) -> str:
        return self.system_prompt.toPlainText().strip()

    def apply_preset(self, name: str) -> None:
        """Fill the sampling fields from a preset, keeping the context length, and report it."""
        preset = PRESETS[name]
        current = self.sampling()
        self._show_sampling(SamplingParams(**{**preset.to_dict(), "n_ctx": current.n_ctx}))
        self._changed()

    def _preset_chosen(self, index: int) -> None:
        name = self.preset.itemData(index)
        if name != CUSTOM:
            self.apply_preset(name)

    def _sync_preset(self) -> None:
        current = self.sampling().to_dict()
        current.pop("n_ctx")
        for index in range(self.preset.count()):
            name = self.preset.itemData(index)
            if name == CUSTOM:
                continue
            wanted = PRESETS[name].to_dict()
            wanted.pop("n_ctx")
            if all(abs(float(wanted[k]) - float(current[k])) < 1e-6 for k in wanted):
                self.preset.setCurrentIndex(index)
                return
        self.preset.setCurrentIndex(self.preset.findData(CUSTOM))

    def _changed(self, *_args) -> None:
        if self._loading:
            return
        self._sync_preset()
        self._save_timer.start()

    def flush(self) -> None:
        """Report a pending change now (before sending a message)."""
        if self._save_timer.isActive():
            self._save_timer.stop()
            self.conversation_changed.emit()

    # -- engine -----------------------------------------------------------------------------
    def _auto_threads_note(self) -> str:
        """What "Auto" picks here and why: every physical core but one, left to the window."""
        cores, threads = hardware.physical_cores(), hardware.generation_threads()
        if threads == cores:
            return self.tr("Auto: {threads} generation thread(s) (the only physical core)").format(threads=threads)
        return self.tr("Auto: {threads} generation thread(s) ({cores} physical cores − 1)").format(
            threads=threads, cores=cores)

    def set_engine_settings(self, settings: EngineSettings) -> None:
        self.gpu_all.setChecked(settings.n_gpu_layers < 0)
        self.gpu_layers.setValue(max(0, settings.n_gpu_layers))
        self.threads_auto.setChecked(not settings.n_threads)
        self.threads.setValue(settings.n_threads or hardware.generation_threads())
        self.threads_auto.setToolTip(self._auto_threads_note())  # what "Auto" decided, and why
        self.threads.setEnabled(bool(settings.n_threads))
        self.batch.setValue(settings.n_batch)
        self.flash_attn.setChecked(settings.flash_attn)
        self.prompt_lookup.setChecked(settings.prompt_lookup)
        self._show_lookup_state(settings.flash_attn)

    def _show_lookup_state(self, flash: bool) -> None:
        self.prompt_lookup.setEnabled(flash)
        self.prompt_lookup.setToolTip(
            self.tr("Faster replies that repeat the prompt (code edits, quotes, summaries): the next tokens are "
                    "drafted from the conversation and checked in one step. The reply is the same as without it; "
                    "the studio drafts only where it pays.") if flash else
            self.tr("Prompt lookup needs flash attention: turn that on to use it."))

    def engine_settings(self) -> EngineSettings:
        gpu = -1 if self.gpu_all.isChecked() else self.gpu_layers.value()
        if not self._offload_supported:
            gpu = 0
        return EngineSettings(n_gpu_layers=gpu, n_threads=None if self.threads_auto.isChecked() else self.threads.value(),
                              n_batch=self.batch.value(), flash_attn=self.flash_attn.isChecked(),
                              prompt_lookup=self.prompt_lookup.isChecked())

    def set_model_info(self, info: ModelInfo | None, backend: str | None = None) -> None:
        if info is None:
            self.backend_label.setText(backend or "—")
            self.template_note.hide()
            return
        self.adapters_box.setEnabled(True)
        self.adapters_box.set_adapters(list(info.lora or []))
        self.set_thinking_switch(info.thinking_switch)
        self._offload_supported = bool(info.gpu_offload_supported)
        self.backend_label.setText(info.backend)
        self.gpu_layers.setMaximum(max(1, info.n_layers))
        self.gpu_layers.setEnabled(self._offload_supported and not self.gpu_all.isChecked())
        self.gpu_all.setEnabled(self._offload_supported)
        self.gpu_hint.setVisible(not self._offload_supported)
        if info.n_threads and self.threads_auto.isChecked():
            self.threads.setValue(int(info.n_threads))
        if info.template_source == "fallback":
            self.template_note.setText(self.tr("No chat template in this model: {note}").format(note=info.template_note))
            self.template_note.show()
        else:
            self.template_note.hide()

    def set_thinking_switch(self, template_switch: bool | None) -> None:
        """Say how the thinking switch works for the model answering: True, through its template's
        own enable_thinking; False, with an empty think block; None (a remote engine), sent to the
        server as enable_thinking for its own template."""
        self.thinking.setEnabled(True)
        if template_switch is None:  # the server's template decides; an output format is the server's business
            self.thinking.setToolTip(self.tr(
                "A remote engine applies its own chat template, and the template decides whether the model "
                "thinks. Off: each request asks the template to leave thinking out (enable_thinking false); a "
                "server without that switch answers as it would, and the chat says so."))
            return
        if template_switch:
            tip = self.tr("Off: the model's chat template is rendered with its own thinking switch "
                          "(enable_thinking) turned off.")
        else:
            tip = self.tr("This model's chat template has no thinking switch. Off: each reply starts after an "
                          "empty <think></think> block, as Qwen3's template does, so a model that thinks goes "
                          "straight to the answer. Leave it on for models that do not think.")
        # A grammar holds from the first token: the engine turns thinking off under an output format.
        tip += "\n\n" + self.tr("With an output format set below, replies never think: the format holds from "
                                 "the reply's first token, so the engine turns thinking off for them.")
        self.thinking.setToolTip(tip)

    def _apply_engine(self) -> None:
        self.engine_apply_requested.emit(self.engine_settings())
