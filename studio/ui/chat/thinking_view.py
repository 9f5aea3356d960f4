"""A reply's thinking inside its message: a collapsed, dimmed section above the answer.

The header says how long and how many tokens the model thought ("Thought for 3.2 s · 57 tokens"),
live while it streams; a click expands the thinking text, also while it is still being written.
The parsing lives in studio.core.chat.thinking; this only shows it.
"""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel, QToolButton, QVBoxLayout, QWidget

from studio.core.engine.thinking import Split
from studio.ui.lazy_qt import Qt
from studio.ui.theme import styled


class ThinkingSection(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ThinkingSection")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(2)
        self.toggle = QToolButton(self)
        styled(self.toggle, "ThinkingToggle")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.toggled.connect(self.set_expanded)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        self.text = QLabel(self)
        styled(self.text, "ThinkingText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.hide()
        layout.addWidget(self.text)
        self._thinking = ""
        self.dim()

    def dim(self) -> None:
        """The palette's placeholder colour for the whole section (follows light and dark)."""
        palette = self.palette()
        dimmed = QApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
            palette.setColor(role, dimmed)
        self.setPalette(palette)
        font = self.text.font()
        font.setItalic(True)
        self.text.setFont(font)

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def set_expanded(self, expanded: bool) -> None:
        if self.toggle.isChecked() != expanded:
            self.toggle.setChecked(expanded)  # comes back here through toggled
            return
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.toggle.setToolTip(self.tr("Hide the model's thinking") if expanded else self.tr("Show the model's thinking"))
        if expanded:
            self.text.setText(self._thinking)  # only kept up to date while shown: long thoughts cost nothing folded
        self.text.setVisible(expanded)

    def show_thinking(self, parts: Split, stats: dict, streaming: bool) -> None:
        """Show a reply's thinking (hidden when it has none)."""
        if parts.thinking is None:
            self.hide()
            return
        self._thinking = parts.thinking
        self.toggle.setText(self.header(parts, stats, streaming))
        if self.expanded:
            self.text.setText(self._thinking)
        self.show()

    def header(self, parts: Split, stats: dict, streaming: bool) -> str:
        tokens = int(stats.get("thinking_tokens") or 0)
        seconds = f"{float(stats.get('thinking_ms') or 0) / 1000:.1f}"
        if not tokens:  # no numbers kept (an imported conversation, an old reply)
            return self.tr("Thinking…") if streaming and not parts.closed else self.tr("Thought")
        if parts.closed:
            return self.tr("Thought for {seconds} s · {tokens} tokens").format(seconds=seconds, tokens=tokens)
        if streaming:
            return self.tr("Thinking… {seconds} s · {tokens} tokens").format(seconds=seconds, tokens=tokens)
        return self.tr("Thinking cut off after {seconds} s · {tokens} tokens").format(seconds=seconds, tokens=tokens)
