"""The two upper panels of Inspect › Next token: the text so far with the step buttons (StepPanel) and
the sampling sliders above the bar chart (SamplingPanel).

Each owns its widgets and says what the user did through signals; NextTokenView connects them to
its predicting and stepping. Neither knows the view.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSlider, QSpinBox,
                               QVBoxLayout, QWidget)

from studio.ui.inspect.bars import BarChart, ContinuationView
from studio.ui.theme import styled


class StepPanel(QWidget):
    """The text so far (`continuation` in `continuation_area`), Take top / Take sampled / Undo, the
    seed of the draws and the "Drew …" line."""

    take_top_requested = Signal()
    take_sampled_requested = Signal()
    undo_requested = Signal()
    seed_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        so_far = QLabel(self.tr("Text so far"), self)
        styled(so_far, "TrainStage")
        self.continuation = ContinuationView(self)
        self.continuation_area = QScrollArea(self)
        self.continuation_area.setWidgetResizable(True)
        self.continuation_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.continuation_area.setWidget(self.continuation)
        self.continuation_area.setFrameShape(QFrame.Shape.StyledPanel)
        self.take_top_button = QPushButton(self.tr("Take top"), self)
        self.take_top_button.setToolTip(self.tr("Append the most likely token (what greedy decoding does)"))
        self.take_top_button.clicked.connect(self.take_top_requested)
        self.take_sampled_button = QPushButton(self.tr("Take sampled"), self)
        self.take_sampled_button.setToolTip(self.tr("Draw a token from the distribution as the sliders shape it "
                                                    "(seeded, so the same seed draws the same tokens)"))
        self.take_sampled_button.clicked.connect(self.take_sampled_requested)
        self.undo_button = QPushButton(self.tr("Undo"), self)
        self.undo_button.setToolTip(self.tr("Remove the last chosen token"))
        self.undo_button.clicked.connect(self.undo_requested)
        self.seed_spin = QSpinBox(self)
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setPrefix(self.tr("seed "))
        self.seed_spin.setToolTip(self.tr("Seed of the random draws of \"Take sampled\"; Reset starts it over"))
        self.seed_spin.valueChanged.connect(self.seed_changed)
        self.drawn_label = QLabel(self)
        styled(self.drawn_label, "Hint")
        self.drawn_label.setWordWrap(True)
        step_row = QHBoxLayout()
        for widget in (self.take_top_button, self.take_sampled_button, self.undo_button):
            step_row.addWidget(widget)
        step_row.addWidget(self.seed_spin)
        step_row.addStretch(1)
        hint = QLabel(self.tr("Click a bar to append that token; the black tick on a bar marks the model's own "
                              "probability (temperature 1, nothing cut). Hover a chip to see how likely it was."), self)
        styled(hint, "Hint")
        hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(so_far)
        layout.addWidget(self.continuation_area, 1)
        layout.addLayout(step_row)
        layout.addWidget(self.drawn_label)
        layout.addWidget(hint)

    def seed(self) -> int:
        return int(self.seed_spin.value())

    def set_steps_enabled(self, can_step: bool, can_undo: bool) -> None:
        self.take_top_button.setEnabled(can_step)
        self.take_sampled_button.setEnabled(can_step)
        self.undo_button.setEnabled(can_undo)

    def scroll_to_end(self) -> None:
        bar = self.continuation_area.verticalScrollBar()
        bar.setValue(bar.maximum())


class SamplingPanel(QWidget):
    """Temperature, top-p and top-k (a change emits `settings_changed`; the view reshapes the bars
    without asking the engine), the entropy line and the `bars` chart (a click emits `token_clicked`)."""

    settings_changed = Signal()
    token_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.temperature_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.temperature_slider.setObjectName("NextTemperature")
        self.temperature_slider.setRange(0, 200)
        self.temperature_slider.setValue(100)
        self.temperature_slider.setToolTip(self.tr("Temperature: below 1 sharpens the distribution, above 1 "
                                                   "flattens it; 0 always takes the top token (greedy)"))
        self.temperature_value = QLabel(self)
        self.top_p_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.top_p_slider.setObjectName("NextTopP")
        self.top_p_slider.setRange(1, 100)
        self.top_p_slider.setValue(100)
        self.top_p_slider.setToolTip(self.tr("Top-p: only the most likely tokens whose probabilities add up to "
                                             "p can be sampled; 1 keeps them all"))
        self.top_p_value = QLabel(self)
        self.top_k_spin = QSpinBox(self)
        self.top_k_spin.setObjectName("NextTopK")
        self.top_k_spin.setRange(0, 1000)
        self.top_k_spin.setSpecialValueText(self.tr("off"))
        self.top_k_spin.setToolTip(self.tr("Top-k: only the k most likely tokens can be sampled; off keeps them all"))
        for value_label in (self.temperature_value, self.top_p_value):
            value_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("0.00 (greedy)") + 6)
        for signal in (self.temperature_slider.valueChanged, self.top_p_slider.valueChanged,
                       self.top_k_spin.valueChanged):
            signal.connect(self.settings_changed)
        self.top_k_spin.setMaximumWidth(self.fontMetrics().horizontalAdvance("1000") + 48)
        controls = QGridLayout()
        controls.addWidget(QLabel(self.tr("Temperature"), self), 0, 0)
        controls.addWidget(self.temperature_slider, 0, 1)
        controls.addWidget(self.temperature_value, 0, 2)
        controls.addWidget(QLabel(self.tr("Top-k"), self), 0, 3)
        controls.addWidget(self.top_k_spin, 0, 4)
        controls.addWidget(QLabel(self.tr("Top-p"), self), 1, 0)
        controls.addWidget(self.top_p_slider, 1, 1)
        controls.addWidget(self.top_p_value, 1, 2)
        controls.setColumnStretch(1, 1)
        controls.setColumnMinimumWidth(3, 40)
        self.entropy_label = QLabel(self)
        styled(self.entropy_label, "Hint")
        self.entropy_label.setWordWrap(True)
        self.bars = BarChart(self)
        self.bars.token_clicked.connect(self.token_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.entropy_label)
        layout.addWidget(self.bars, 1)
        self.show_values()

    def settings(self) -> dict:
        """The sliders as Distribution keyword arguments."""
        return {"temperature": self.temperature_slider.value() / 100.0,
                "top_p": self.top_p_slider.value() / 100.0,
                "top_k": int(self.top_k_spin.value())}

    def set_temperature(self, value: float) -> None:
        self.temperature_slider.setValue(round(value * 100))

    def set_top_p(self, value: float) -> None:
        self.top_p_slider.setValue(round(value * 100))

    def show_values(self) -> None:
        s = self.settings()
        t = s["temperature"]
        self.temperature_value.setText(self.tr("0 (greedy)") if t == 0 else f"{t:.2f}")
        self.top_p_value.setText(self.tr("1.00 (off)") if s["top_p"] >= 1.0 else f"{s['top_p']:.2f}")


__all__ = ["SamplingPanel", "StepPanel"]
