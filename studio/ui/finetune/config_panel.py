"""Fine-tune › Configure: the base model and the run's settings (a RunConfig, field for field).

Defaults come from studio.core.training.config (defaults_for the model's size, PRESETS); the
panel only shows and edits them. The same settings save to the JSON file that `studio train
CONFIG` and `accelerate launch -m studio.core.training.run CONFIG` read.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton, QScrollArea,
                               QSpinBox, QVBoxLayout, QWidget)

from studio.core.training.config import PRESETS, SCHEDULERS, RunConfig, defaults_for, target_modules_for
from studio.core.workspace import normalized_path
from studio.ui.widgets.model_combo import fill_model_combo, index_of_model
from studio.ui.theme import styled

CUSTOM = "__custom__"
CHOOSE_GGUF = "__choose_gguf__"
CHOOSE_HF = "__choose_hf__"

# RunConfig fields this panel edits (the Data panel adds data/val_data/val_ratio/format/mapping).
FIELDS = ("base_model", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "learning_rate", "lr_scheduler",
          "warmup_ratio", "weight_decay", "epochs", "max_steps", "batch_size", "grad_accum", "max_seq_len",
          "packing", "response_only", "seed", "eval_every", "save_every")


class ConfigPanel(QScrollArea):
    changed = Signal()
    model_changed = Signal(str)
    max_seq_len_changed = Signal(int)
    save_requested = Signal()
    load_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ConfigPanel")
        self.setWidgetResizable(True)
        self._loading = False
        self._architecture = "llama"
        self._models: list = []
        self._chat_model = ""
        self._model_chosen_by_user = False
        self._extra_models: list[str] = []   # folders/files picked with the dialogs
        self._last_model = ""
        body = QWidget(self)
        outer = QVBoxLayout(body)
        outer.setContentsMargins(8, 6, 8, 6)

        # -- model ----------------------------------------------------------------------------
        model_box = QGroupBox(self.tr("Base model"), body)
        mform = QFormLayout(model_box)
        self.base_model = QComboBox(model_box)
        self.base_model.setObjectName("BaseModelCombo")
        self.base_model.setMinimumContentsLength(40)
        self.base_model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.base_model.setPlaceholderText(self.tr("Choose a base model"))
        self.base_model.activated.connect(self._model_activated)
        mform.addRow(self.tr("Model"), self.base_model)
        self.model_hint = QLabel(model_box)
        styled(self.model_hint, "Hint")
        self.model_hint.setWordWrap(True)
        mform.addRow(self.model_hint)
        self.preset = QComboBox(model_box)
        self.preset.setObjectName("PresetCombo")
        for name in PRESETS:
            self.preset.addItem(self.tr_preset(name), name)
        self.preset.addItem(self.tr("Custom"), CUSTOM)
        self.preset.activated.connect(lambda _i: self.apply_preset(self.preset.currentData()))
        mform.addRow(self.tr("Preset"), self.preset)
        outer.addWidget(model_box)

        columns = QHBoxLayout()
        # -- LoRA -----------------------------------------------------------------------------
        lora_box = QGroupBox(self.tr("LoRA"), body)
        lform = QFormLayout(lora_box)
        self.lora_r = self._ispin(1, 1024)
        self.lora_r.setToolTip(self.tr("Rank: how much the adapter can learn (higher = more capacity, more memory)"))
        self.lora_alpha = self._ispin(1, 4096)
        self.lora_alpha.setToolTip(self.tr("Scaling of the adapter's update; usually twice the rank"))
        self.lora_dropout = self._dspin(0.0, 0.9, 0.05, 2)
        self.target_modules = QLineEdit(lora_box)
        self.target_modules.setToolTip(self.tr("Layers that get an adapter, separated by commas; leave empty for "
                                               "the usual choice for this architecture"))
        self.target_modules.textEdited.connect(self._changed)
        lform.addRow(self.tr("Rank (r)"), self.lora_r)
        lform.addRow(self.tr("Alpha"), self.lora_alpha)
        lform.addRow(self.tr("Dropout"), self.lora_dropout)
        lform.addRow(self.tr("Target modules"), self.target_modules)
        columns.addWidget(lora_box)

        # -- optimisation ---------------------------------------------------------------------
        opt_box = QGroupBox(self.tr("Optimisation"), body)
        oform = QFormLayout(opt_box)
        self.learning_rate = self._dspin(1e-6, 0.5, 1e-5, 6)
        self.lr_scheduler = QComboBox(opt_box)
        names = {"cosine": self.tr("cosine"), "linear": self.tr("linear"), "constant": self.tr("constant")}
        for name in SCHEDULERS:
            self.lr_scheduler.addItem(names.get(name, name), name)
        self.lr_scheduler.activated.connect(self._changed)
        self.warmup_ratio = self._dspin(0.0, 0.5, 0.01, 3)
        self.weight_decay = self._dspin(0.0, 1.0, 0.01, 3)
        length = QWidget(opt_box)
        length_row = QHBoxLayout(length)
        length_row.setContentsMargins(0, 0, 0, 0)
        self.by_epochs = QRadioButton(self.tr("Epochs"), length)
        self.epochs = self._dspin(0.1, 100.0, 0.5, 1)
        self.by_steps = QRadioButton(self.tr("Max steps"), length)
        self.max_steps = self._ispin(1, 10_000_000)
        group = QButtonGroup(self)
        group.addButton(self.by_epochs)
        group.addButton(self.by_steps)
        self.by_epochs.setChecked(True)
        self.by_epochs.toggled.connect(self._changed)
        for widget in (self.by_epochs, self.epochs, self.by_steps, self.max_steps):
            length_row.addWidget(widget)
        self.batch_size = self._ispin(1, 1024)
        self.grad_accum = self._ispin(1, 1024)
        self.grad_accum.setToolTip(self.tr("Micro-batches added up per optimizer step: a larger effective batch "
                                           "without more memory"))
        oform.addRow(self.tr("Learning rate"), self.learning_rate)
        oform.addRow(self.tr("Schedule"), self.lr_scheduler)
        oform.addRow(self.tr("Warmup share"), self.warmup_ratio)
        oform.addRow(self.tr("Weight decay"), self.weight_decay)
        oform.addRow(self.tr("Length"), length)
        oform.addRow(self.tr("Batch size"), self.batch_size)
        oform.addRow(self.tr("Gradient accumulation"), self.grad_accum)
        columns.addWidget(opt_box)

        # -- data handling --------------------------------------------------------------------
        data_box = QGroupBox(self.tr("Sequences"), body)
        dform = QFormLayout(data_box)
        self.max_seq_len = self._ispin(16, 131072, 64)
        self.max_seq_len.valueChanged.connect(lambda v: None if self._loading else self.max_seq_len_changed.emit(v))
        self.packing = QCheckBox(self.tr("Pack short examples together"), data_box)
        self.packing.toggled.connect(self._changed)
        self.response_only = QCheckBox(self.tr("Loss on responses only"), data_box)
        self.response_only.setToolTip(self.tr("Learn only the assistant's replies, not the prompts (best for "
                                              "instruction and chat data)"))
        self.response_only.toggled.connect(self._changed)
        self.seed = self._ispin(0, 2**31 - 1)
        self.eval_every = self._ispin(0, 1_000_000)
        self.eval_every.setSpecialValueText(self.tr("auto"))
        self.save_every = self._ispin(0, 1_000_000)
        self.save_every.setSpecialValueText(self.tr("auto"))
        dform.addRow(self.tr("Max sequence length"), self.max_seq_len)
        dform.addRow("", self.packing)
        dform.addRow("", self.response_only)
        dform.addRow(self.tr("Seed"), self.seed)
        dform.addRow(self.tr("Evaluate every (steps)"), self.eval_every)
        dform.addRow(self.tr("Checkpoint every (steps)"), self.save_every)
        columns.addWidget(data_box)
        outer.addLayout(columns)

        buttons = QHBoxLayout()
        self.save_button = QPushButton(self.tr("Save config…"), body)
        self.save_button.setToolTip(self.tr("Save these settings and the dataset as a JSON file for "
                                            "`studio train CONFIG` or `accelerate launch`"))
        self.save_button.clicked.connect(self.save_requested)
        self.load_button = QPushButton(self.tr("Load config…"), body)
        self.load_button.clicked.connect(self.load_requested)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.load_button)
        buttons.addStretch(1)
        outer.addLayout(buttons)
        self.problems = QLabel(body)
        styled(self.problems, "ConfigProblems")
        self.problems.setWordWrap(True)
        outer.addWidget(self.problems)
        outer.addStretch(1)
        self.setWidget(body)
        # RunConfig's own defaults first (seed, loss on responses only, …), then the preset.
        self.set_values({k: v for k, v in RunConfig().to_dict().items() if k in FIELDS and k != "base_model"})
        self.apply_preset("Balanced")

    def tr_preset(self, name: str) -> str:
        names = {"Quick test": self.tr("Quick test"), "Balanced": self.tr("Balanced"),
                 "Thorough": self.tr("Thorough")}
        return names.get(name, name)

    def _ispin(self, lo: int, hi: int, step: int = 1) -> QSpinBox:
        box = QSpinBox(self)
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.valueChanged.connect(self._changed)
        return box

    def _dspin(self, lo: float, hi: float, step: float, decimals: int) -> QDoubleSpinBox:
        box = QDoubleSpinBox(self)
        box.setRange(lo, hi)
        box.setDecimals(decimals)
        box.setSingleStep(step)
        box.valueChanged.connect(self._changed)
        return box

    # -- base model -------------------------------------------------------------------------
    def set_models(self, entries: list, chat_model: str) -> None:
        """Library models and the chat's current model; the chat's model is the default choice."""
        self._models = [e for e in entries if getattr(e, "ok", True)]
        self._chat_model = chat_model or ""
        wanted = self._last_model
        if not self._model_chosen_by_user and self._chat_model:
            wanted = self._chat_model
        self._fill_models(wanted)
        if self.model_path() != self._last_model or (self.model_path() and not self.model_hint.text()):
            self._model_set(self.model_path())

    def _fill_models(self, current: str) -> None:
        """List the models and select `current` (no change is reported)."""
        combo = self.base_model
        combo.blockSignals(True)
        fill_model_combo(combo, chat_model=self._chat_model, entries=self._models,
                         paths=self._extra_models + [current], chat_label=self.tr("{name} (the chat's model)"),
                         folder_suffix=self.tr(" (Hugging Face folder)"))
        combo.insertSeparator(combo.count())
        combo.addItem(self.tr("Other GGUF file…"), CHOOSE_GGUF)
        combo.addItem(self.tr("Hugging Face folder (safetensors)…"), CHOOSE_HF)
        index = index_of_model(combo, current)
        if index < 0 and self._chat_model:
            index = 0
        combo.setCurrentIndex(index)
        combo.blockSignals(False)

    def model_path(self) -> str:
        data = self.base_model.currentData()
        return "" if data in (None, CHOOSE_GGUF, CHOOSE_HF) else str(data)

    def set_model_path(self, path: str) -> None:
        """Choose a base model (a .gguf file or a Hugging Face folder)."""
        known = {str(e.path) for e in self._models} | {self._chat_model}
        if path and path not in known and path not in self._extra_models:
            self._extra_models.append(path)
        self._model_chosen_by_user = True
        self._fill_models(path)
        if self.model_path() != self._last_model:
            self._model_set(self.model_path())

    def _model_activated(self, index: int) -> None:
        data = self.base_model.itemData(index)
        path = ""
        if data == CHOOSE_GGUF:
            path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose a base model"), str(Path.home()),
                                                  self.tr("GGUF models (*.gguf)"))
        elif data == CHOOSE_HF:
            path = QFileDialog.getExistingDirectory(self, self.tr("Choose a Hugging Face model folder"),
                                                    str(Path.home()))
        else:
            path = str(data or "")
        if path:
            self.set_model_path(path)
        else:  # dialog cancelled: back to the model that was chosen
            self._fill_models(self._last_model)

    def _model_set(self, path: str) -> None:
        """A new base model: size its defaults and tell the Data panel (the template changes)."""
        self._last_model = path
        entry = next((e for e in self._models if normalized_path(e.path) == normalized_path(path)), None)
        facts = (entry.architecture or "llama", entry.parameter_count) if entry is not None else None
        if facts is None and path:
            from studio.core.training.base_model import BaseModelError, describe_source
            try:  # a header read, not a weight load: tens of milliseconds
                described = describe_source(path)
                facts = (described.architecture, described.n_params)
            except BaseModelError:
                facts = None
        if facts and facts[1]:
            self._architecture, size = facts
            self.apply_model_defaults(size, self._architecture)
            self.model_hint.setText(self.tr("{arch}, {size} parameters: defaults sized for it.").format(
                arch=self._architecture, size=_count(size)))
        elif path and os.path.isdir(path):
            self.model_hint.setText(self.tr("A Hugging Face folder: its safetensors weights are loaded directly."))
        elif path:
            self.model_hint.setText(self.tr("A GGUF file: it is dequantized for training (once; the result is "
                                            "cached)."))
        else:
            self.model_hint.setText(self.tr("Load a model in Chat, or choose one here."))
        self.target_modules.setPlaceholderText(", ".join(target_modules_for(self._architecture)))
        self.model_changed.emit(path)
        self._changed()

    def apply_model_defaults(self, n_params: int, architecture: str) -> None:
        preset = self.preset.currentData()
        values = defaults_for(n_params, architecture)
        values.pop("target_modules", None)  # empty field = chosen per architecture
        self.set_values(values)
        if preset and preset != CUSTOM:
            self.apply_preset(preset)

    # -- values -----------------------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        if name in PRESETS:
            self.set_values(PRESETS[name])
            self.preset.setCurrentIndex(self.preset.findData(name))
            self._changed()

    def set_values(self, values: dict) -> None:
        """Show RunConfig fields (any subset) without reporting each as an edit."""
        was = self._loading
        self._loading = True
        try:
            for key, value in values.items():
                widget = getattr(self, key, None)
                if key == "base_model":
                    if value:
                        self.set_model_path(str(value))
                elif key == "target_modules":
                    self.target_modules.setText(", ".join(value) if value else "")
                elif key == "lr_scheduler":
                    self.lr_scheduler.setCurrentIndex(max(0, self.lr_scheduler.findData(value)))
                elif key == "max_steps":
                    if int(value) > 0:
                        self.max_steps.setValue(int(value))
                        self.by_steps.setChecked(True)
                    else:
                        self.by_epochs.setChecked(True)
                elif isinstance(widget, QCheckBox):
                    widget.setChecked(bool(value))
                elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                    widget.setValue(value)
        finally:
            self._loading = was
        self._update_enabled()
        if not was:
            self.max_seq_len_changed.emit(self.max_seq_len.value())

    def values(self) -> dict:
        targets = [t.strip() for t in self.target_modules.text().replace(";", ",").split(",") if t.strip()]
        return {
            "base_model": self.model_path(),
            "lora_r": self.lora_r.value(), "lora_alpha": self.lora_alpha.value(),
            "lora_dropout": round(self.lora_dropout.value(), 4), "target_modules": targets or None,
            "learning_rate": float(f"{self.learning_rate.value():.6g}"), "lr_scheduler": self.lr_scheduler.currentData(),
            "warmup_ratio": round(self.warmup_ratio.value(), 4), "weight_decay": round(self.weight_decay.value(), 4),
            "epochs": round(self.epochs.value(), 3),
            "max_steps": self.max_steps.value() if self.by_steps.isChecked() else -1,
            "batch_size": self.batch_size.value(), "grad_accum": self.grad_accum.value(),
            "max_seq_len": self.max_seq_len.value(), "packing": self.packing.isChecked(),
            "response_only": self.response_only.isChecked(), "seed": self.seed.value(),
            "eval_every": self.eval_every.value(), "save_every": self.save_every.value(),
        }

    def show_problems(self, problems: list[str]) -> None:
        self.problems.setText("\n".join(f"• {self._say(p)}" for p in problems))
        self.problems.setVisible(bool(problems))

    def _say(self, problem: str) -> str:
        """A problem in the UI's language: the core's English sentence where this screen cannot cause it
        (its boxes keep numbers in range) or does not know its code."""
        said = {
            "no_model": self.tr("Choose a base model (a .gguf file or a Hugging Face folder)."),
            "model_missing": self.tr("The base model {path} does not exist."),
            "model_not_gguf": self.tr("The base model {name} is not a .gguf file or a model folder."),
            "no_data": self.tr("Add at least one training data file."),
            "training_file_missing": self.tr("The training file {path} does not exist."),
            "validation_file_missing": self.tr("The validation file {path} does not exist."),
            "no_targets": self.tr("Target modules is empty: leave it unset to choose them for the architecture."),
            "no_length": self.tr("Set a number of epochs above 0 or a maximum number of steps."),
        }.get(getattr(problem, "code", ""))
        return said.format(**getattr(problem, "values", {})) if said else str(problem)

    def _update_enabled(self) -> None:
        self.epochs.setEnabled(self.by_epochs.isChecked())
        self.max_steps.setEnabled(self.by_steps.isChecked())

    def _changed(self, *_args) -> None:
        self._update_enabled()
        if self._loading:
            return
        self._sync_preset()
        self.changed.emit()

    def _sync_preset(self) -> None:
        current = self.values()
        for name, preset in PRESETS.items():
            if all(_same(current.get(k), v) for k, v in preset.items() if k in current):
                self.preset.setCurrentIndex(self.preset.findData(name))
                return
        self.preset.setCurrentIndex(self.preset.findData(CUSTOM))


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
        except (TypeError, ValueError):
            return False
    return a == b


def _count(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}".replace(".0", "")
    return str(n)


__all__ = ["ConfigPanel", "FIELDS"]
