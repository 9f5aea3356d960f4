"""The two upper panels of Inspect › Next token, built onto a NextTokenView: the text so far with the
step buttons (left) and the sampling sliders above the bar chart (right).

Split out of studio.ui.inspect.next_view to keep that module small; NextTokenView calls
`build_step_panel()` and `build_sampling_panel()` from its constructor, in the order it used to
create these widgets itself. The widgets become attributes of the view under the names the view
(and the tests) use, and their strings stay in the "NextTokenView" translation context:
QCoreApplication.translate names it explicitly (that is the context self.tr resolves to inside
NextTokenView), so pyside6-lupdate files them exactly as before and existing translations match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSlider, QSpinBox,
                               QVBoxLayout)

from studio.ui.inspect.bars import BarChart, ContinuationView
from studio.ui.tasks import spawn

if TYPE_CHECKING:
    from studio.ui.inspect.next_view import NextTokenView


def build_step_panel(view: NextTokenView) -> QVBoxLayout:
    """The text so far + step buttons: `continuation` (in `continuation_area`), Take top / Take
    sampled / Undo, the seed and the "Drew …" line. Returns the panel's layout."""
    so_far = QLabel(QCoreApplication.translate("NextTokenView", "Text so far"), view)
    so_far.setObjectName("TrainStage")
    view.continuation = ContinuationView(view)
    view.continuation_area = QScrollArea(view)
    view.continuation_area.setWidgetResizable(True)
    view.continuation_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.continuation_area.setWidget(view.continuation)
    view.continuation_area.setFrameShape(QFrame.Shape.StyledPanel)
    view.take_top_button = QPushButton(QCoreApplication.translate("NextTokenView", "Take top"), view)
    view.take_top_button.setToolTip(QCoreApplication.translate(
        "NextTokenView", "Append the most likely token (what greedy decoding does)"))
    view.take_top_button.clicked.connect(lambda: spawn(view.take_top(), on_error=view._unexpected))
    view.take_sampled_button = QPushButton(QCoreApplication.translate("NextTokenView", "Take sampled"), view)
    view.take_sampled_button.setToolTip(QCoreApplication.translate(
        "NextTokenView", "Draw a token from the distribution as the sliders shape it "
                         "(seeded, so the same seed draws the same tokens)"))
    view.take_sampled_button.clicked.connect(lambda: spawn(view.take_sampled(), on_error=view._unexpected))
    view.undo_button = QPushButton(QCoreApplication.translate("NextTokenView", "Undo"), view)
    view.undo_button.setToolTip(QCoreApplication.translate("NextTokenView", "Remove the last chosen token"))
    view.undo_button.clicked.connect(lambda: spawn(view.undo(), on_error=view._unexpected))
    view.seed_spin = QSpinBox(view)
    view.seed_spin.setRange(0, 2**31 - 1)
    view.seed_spin.setPrefix(QCoreApplication.translate("NextTokenView", "seed "))
    view.seed_spin.setToolTip(QCoreApplication.translate(
        "NextTokenView", "Seed of the random draws of \"Take sampled\"; Reset starts it over"))
    view.seed_spin.valueChanged.connect(view._reseed)
    view.drawn_label = QLabel(view)
    view.drawn_label.setObjectName("Hint")
    view.drawn_label.setWordWrap(True)
    step_row = QHBoxLayout()
    for widget in (view.take_top_button, view.take_sampled_button, view.undo_button):
        step_row.addWidget(widget)
    step_row.addWidget(view.seed_spin)
    step_row.addStretch(1)
    left = QVBoxLayout()
    left.setContentsMargins(0, 0, 0, 0)
    left.addWidget(so_far)
    left.addWidget(view.continuation_area, 1)
    left.addLayout(step_row)
    left.addWidget(view.drawn_label)
    hint = QLabel(QCoreApplication.translate(
        "NextTokenView", "Click a bar to append that token; the black tick on a bar marks the model's own "
                         "probability (temperature 1, nothing cut). Hover a chip to see how likely it was."), view)
    hint.setObjectName("Hint")
    hint.setWordWrap(True)
    left.addWidget(hint)
    return left


def build_sampling_panel(view: NextTokenView) -> QVBoxLayout:
    """The sliders + bars: temperature, top-p and top-k (each change reshapes the bars without
    asking the engine), the entropy line and the `bars` chart. Returns the panel's layout."""
    view.temperature_slider = QSlider(Qt.Orientation.Horizontal, view)
    view.temperature_slider.setObjectName("NextTemperature")
    view.temperature_slider.setRange(0, 200)
    view.temperature_slider.setValue(100)
    view.temperature_slider.setToolTip(QCoreApplication.translate(
        "NextTokenView", "Temperature: below 1 sharpens the distribution, above 1 "
                         "flattens it; 0 always takes the top token (greedy)"))
    view.temperature_value = QLabel(view)
    view.top_p_slider = QSlider(Qt.Orientation.Horizontal, view)
    view.top_p_slider.setObjectName("NextTopP")
    view.top_p_slider.setRange(1, 100)
    view.top_p_slider.setValue(100)
    view.top_p_slider.setToolTip(QCoreApplication.translate(
        "NextTokenView", "Top-p: only the most likely tokens whose probabilities add up to "
                         "p can be sampled; 1 keeps them all"))
    view.top_p_value = QLabel(view)
    view.top_k_spin = QSpinBox(view)
    view.top_k_spin.setObjectName("NextTopK")
    view.top_k_spin.setRange(0, 1000)
    view.top_k_spin.setSpecialValueText(QCoreApplication.translate("NextTokenView", "off"))
    view.top_k_spin.setToolTip(QCoreApplication.translate(
        "NextTokenView", "Top-k: only the k most likely tokens can be sampled; off keeps them all"))
    for value_label in (view.temperature_value, view.top_p_value):
        value_label.setMinimumWidth(view.fontMetrics().horizontalAdvance("0.00 (greedy)") + 6)
    view.temperature_slider.valueChanged.connect(view._reshape)
    view.top_p_slider.valueChanged.connect(view._reshape)
    view.top_k_spin.valueChanged.connect(view._reshape)
    view.top_k_spin.setMaximumWidth(view.fontMetrics().horizontalAdvance("1000") + 48)
    controls = QGridLayout()
    controls.addWidget(QLabel(QCoreApplication.translate("NextTokenView", "Temperature"), view), 0, 0)
    controls.addWidget(view.temperature_slider, 0, 1)
    controls.addWidget(view.temperature_value, 0, 2)
    controls.addWidget(QLabel(QCoreApplication.translate("NextTokenView", "Top-k"), view), 0, 3)
    controls.addWidget(view.top_k_spin, 0, 4)
    controls.addWidget(QLabel(QCoreApplication.translate("NextTokenView", "Top-p"), view), 1, 0)
    controls.addWidget(view.top_p_slider, 1, 1)
    controls.addWidget(view.top_p_value, 1, 2)
    controls.setColumnStretch(1, 1)
    controls.setColumnMinimumWidth(3, 40)
    view.entropy_label = QLabel(view)
    view.entropy_label.setObjectName("Hint")
    view.entropy_label.setWordWrap(True)
    view.bars = BarChart(view)
    view.bars.token_clicked.connect(lambda token: spawn(view.choose(token), on_error=view._unexpected))
    right = QVBoxLayout()
    right.setContentsMargins(0, 0, 0, 0)
    right.addLayout(controls)
    right.addWidget(view.entropy_label)
    right.addWidget(view.bars, 1)
    return right
