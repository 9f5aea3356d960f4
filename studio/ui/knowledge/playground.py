""""Try a question": ask a collection and see every candidate chunk with how retrieval ranked it.

The mode, top-k and threshold are the app's knowledge retrieval settings (AppSettings.knowledge),
saved as they change, so Chat retrieves the way the user tried here.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from studio.core.settings import KnowledgeSettings
from studio.ui.knowledge.candidates import KnowledgeCandidatesView, mode_text

MODES = ("hybrid", "vector", "keyword")


class KnowledgePlayground(QWidget):
    ask_requested = Signal(str)  # the question

    def __init__(self, settings: KnowledgeSettings, save: Callable[[], Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("KnowledgePlayground")
        self.settings = settings
        self._save = save
        self.question = QLineEdit(self)
        self.question.setObjectName("KnowledgeQuestion")
        self.question.setPlaceholderText(self.tr("Ask something the documents answer, in any language"))
        self.question.setAcceptDrops(False)  # a dropped file is for the collection, not the text box
        self.question.returnPressed.connect(self._ask)
        self.mode = QComboBox(self)
        self.mode.setObjectName("KnowledgeMode")
        for mode in MODES:
            self.mode.addItem(mode_text(mode), mode)
        self.mode.setToolTip(self.tr("Hybrid fuses the keyword (BM25) and vector rankings by reciprocal rank; "
                                     "the other two use one side only"))
        self.top_k = QSpinBox(self)
        self.top_k.setObjectName("KnowledgeTopK")
        self.top_k.setRange(1, 100)
        self.top_k.setPrefix(self.tr("top-k: "))
        self.top_k.setToolTip(self.tr("How many of the best chunks go into the prompt"))
        self.threshold = QDoubleSpinBox(self)
        self.threshold.setObjectName("KnowledgeThreshold")
        self.threshold.setRange(-1.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setPrefix(self.tr("min. similarity: "))
        self.threshold.setToolTip(self.tr("Vector candidates below this cosine similarity are dropped; keyword "
                                          "matches stay"))
        self.ask_button = QPushButton(self.tr("Ask"), self)
        self.ask_button.setObjectName("KnowledgeAsk")
        self.ask_button.clicked.connect(self._ask)
        self.show_settings(settings)
        for signal in (self.mode.currentIndexChanged, self.top_k.valueChanged, self.threshold.valueChanged):
            signal.connect(self._changed)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Question:"), self))
        row.addWidget(self.question, 1)
        row.addWidget(self.mode)
        row.addWidget(self.top_k)
        row.addWidget(self.threshold)
        row.addWidget(self.ask_button)
        self.candidates = KnowledgeCandidatesView(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.candidates, 1)

    def show_settings(self, settings: KnowledgeSettings) -> None:
        for widget in (self.mode, self.top_k, self.threshold):
            widget.blockSignals(True)
        self.mode.setCurrentIndex(max(0, self.mode.findData(settings.mode)))
        self.top_k.setValue(settings.top_k)
        self.threshold.setValue(settings.min_similarity)
        for widget in (self.mode, self.top_k, self.threshold):
            widget.blockSignals(False)

    def _changed(self, *_: Any) -> None:
        self.settings.mode = str(self.mode.currentData())
        self.settings.top_k = self.top_k.value()
        self.settings.min_similarity = round(self.threshold.value(), 2)
        self._save()

    def _ask(self) -> None:
        self.ask_requested.emit(self.question.text().strip())

    def set_busy(self, busy: bool) -> None:
        self.ask_button.setEnabled(not busy)
        self.ask_button.setText(self.tr("Searching…") if busy else self.tr("Ask"))
