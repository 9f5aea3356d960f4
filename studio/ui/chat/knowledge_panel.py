"""Chat with documents, the widgets: the "Knowledge" attach control with a chip per attached
collection, citation markup for replies, and the Retrieval panel.

The panel shows one reply's retrieval record (studio.core.grounding): every candidate in the
Knowledge tab's own KnowledgeCandidatesView, which went into the prompt and which were left out,
and the whole prompt exactly as the model received it with its token count against the context.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.lazy_qt import Qt

if TYPE_CHECKING:
    import html
else:  # imported on first use: not needed before the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import html

# studio.ui.knowledge.candidates (the candidates table) loads with the first Retrieval panel, not at start-up.

CITE_SCHEME = "cite:"
_MARKER = re.compile(r"[\[【]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】]")


def link_citations(text: str, numbers: set[int]) -> str:
    """Markdown with each citation of a known source as a link cite:N (unknown numbers stay text)."""
    def one(match: re.Match[str]) -> str:
        parts = [p.strip() for p in re.split(r"[,，、]", match.group(1))]
        if not all(p.isdigit() and int(p) in numbers for p in parts):
            return match.group(0)
        return "".join(f"[\\[{p}\\]]({CITE_SCHEME}{p})" for p in parts)
    return _MARKER.sub(one, text)


def source_label(source: dict[str, Any]) -> str:
    from studio.ui.knowledge.candidates import location_text

    return f"{Path(str(source.get('path', ''))).name} · " + location_text(
        str(source.get("unit", "line")), int(source.get("start", 0)), int(source.get("end", 0)))


class KnowledgeAttach(QWidget):
    """A "Knowledge" button whose menu lists the collections to attach, then a chip per attached
    one (clicking a chip's × detaches it)."""

    changed = Signal(list)  # the collections the user wants attached now
    menu_requested = Signal()  # the owner fetches the collection names and calls show_menu

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attached: list[str] = []
        self.button = QToolButton(self)
        self.button.setObjectName("AttachKnowledge")
        self.button.setText(self.tr("Attach knowledge"))
        self.button.setToolTip(self.tr("Answer from your documents: attach Knowledge collections to this conversation"))
        self.button.clicked.connect(self.menu_requested)
        self._chips = QHBoxLayout()
        self._chips.setContentsMargins(0, 0, 0, 0)
        self._chips.setSpacing(4)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 0, 8, 0)
        row.setSpacing(6)
        row.addWidget(self.button)
        row.addLayout(self._chips)
        row.addStretch(1)
        self.menu: QMenu | None = None

    def set_attached(self, names: list[str]) -> None:
        self.attached = list(names)
        while self._chips.count():
            item = self._chips.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()
        for name in names:
            chip = QToolButton(self)
            chip.setObjectName("KnowledgeChip")
            chip.setText(f"{name}  ×")
            chip.setToolTip(self.tr("Detach {name} from this conversation").format(name=name))
            chip.clicked.connect(lambda _=False, n=name: self.changed.emit([x for x in self.attached if x != n]))
            self._chips.addWidget(chip)

    def show_menu(self, names: list[str]) -> QMenu:
        """The menu of collections, the attached ones checked; choosing one toggles it."""
        menu = QMenu(self)
        if not names:
            empty = menu.addAction(self.tr("No collections yet: create one in the Knowledge tab"))
            empty.setEnabled(False)
        for name in names:
            action = menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in self.attached)
            action.toggled.connect(lambda on, n=name: self.changed.emit(
                [*self.attached, n] if on else [x for x in self.attached if x != n]))
        self.menu = menu
        menu.popup(self.button.mapToGlobal(QPoint(0, self.button.height())))
        return menu


class RetrievalPanel(QWidget):
    """For one reply: its question, what was found and used, and the prompt the model read."""

    source_opened = Signal(dict)  # a candidate's dict (chunk_id, collection, path…): show it in Knowledge

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("RetrievalPanel")
        self.record: dict[str, Any] = {}
        self.title = QLabel(self)
        self.title.setObjectName("RetrievalTitle")
        self.title.setWordWrap(True)
        self.note = QLabel(self)
        self.note.setObjectName("RetrievalNote")
        self.note.setWordWrap(True)
        self.note.hide()
        from studio.ui.knowledge.candidates import KnowledgeCandidatesView

        self.candidates = KnowledgeCandidatesView(self)
        self.candidates.candidate_opened.connect(self.source_opened)
        self.tokens = QLabel(self)
        self.tokens.setObjectName("RetrievalTokens")
        self.prompt = QPlainTextEdit(self)
        self.prompt.setObjectName("RetrievalPrompt")
        self.prompt.setReadOnly(True)
        self.prompt.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.prompt.setPlaceholderText(self.tr("The prompt the model received shows here."))
        bottom = QWidget(self)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.tokens)
        bottom_layout.addWidget(self.prompt, 1)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.candidates)
        split.addWidget(bottom)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.note)
        layout.addWidget(split, 1)
        self.show_record(None)

    def show_record(self, record: dict[str, Any] | None) -> None:
        self.record = record or {}
        if not record:
            self.title.setText(self.tr("Retrieval: attach a Knowledge collection and ask a question to see what "
                                       "was found and the prompt the model received."))
            self.note.hide()
            self.candidates.clear()
            self.tokens.clear()
            self.prompt.clear()
            return
        self.title.setText(self.tr("Retrieval for “{question}” from {collections}").format(
            question=record.get("question", ""), collections=", ".join(record.get("collections") or [])))
        notes = []
        if record.get("error"):
            notes.append(self._error_text(record))
        left_out = record.get("left_out") or []
        if left_out:
            notes.append(self.tr("{n} retrieved passage(s) did not fit the context and were left out: {names}").format(
                n=len(left_out), names=", ".join(source_label(c) for c in left_out)))
        if record.get("retrieval") and not record.get("sources"):
            notes.append(self.tr("Nothing relevant was found: the reply was answered without your documents."))
        if record.get("template") == "remote":
            notes.append(self.tr("The remote server applies its own chat template: these are the messages as "
                                 "sent, and the token count is an estimate."))
        self.note.setText("\n".join(notes))
        self.note.setVisible(bool(notes))
        self.candidates.show_retrieval(record.get("retrieval") or {})
        if record.get("retrieval"):
            self.tokens.setText(self.tr("The full prompt, exactly as the model received it: {tokens} of {n_ctx} "
                                        "tokens").format(tokens=f"{int(record.get('tokens', 0)):,}",
                                                         n_ctx=f"{int(record.get('n_ctx', 0)):,}"))
        else:
            self.tokens.clear()
        self.prompt.setPlainText(str(record.get("prompt", "")))

    def _error_text(self, record: dict[str, Any]) -> str:
        # The core's sentence names the cause; this line says in the UI's language what happened.
        return self.tr("Retrieval did not run, so this reply was answered without your documents.") + \
            f"\n{record.get('error', '')}"

    def candidate(self, chunk_id: int) -> dict[str, Any] | None:
        return next((c for c in (self.record.get("retrieval") or {}).get("candidates") or []
                     if c.get("chunk_id") == chunk_id), None)


def sources_html(record: dict[str, Any], title: str) -> str:
    """The "Sources:" line under a reply: each numbered source as a cite: link."""
    links = [f'<a href="{CITE_SCHEME}{s["number"]}">[{s["number"]}]</a> {html.escape(source_label(s))}'
             for s in record.get("sources") or []]
    return f"<small>{html.escape(title)} " + " &nbsp; ".join(links) + "</small>" if links else ""
