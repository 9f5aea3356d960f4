"""Structured output in the chat screen: the per-conversation "Output format" box (free text, JSON,
a JSON schema, a GBNF grammar) and the note under a structured reply.

The box checks what is typed after a short pause (a grammar with llama.cpp's own parser, in a
child process, off the UI thread) and reports a format that holds with `format_changed(fmt)`; the
owner saves it through the session. While the text does not hold, the conversation keeps the
format it had and the box says what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit,
                               QPushButton, QVBoxLayout, QWidget)

from studio.core.chat.conversation import Conversation
from studio.core.engine import structured
from studio.ui.tasks import spawn
from studio.ui.theme import styled

if TYPE_CHECKING:
    import asyncio
else:  # imported when first used, after the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import asyncio

FREE = "free"
CHECK_DELAY_MS = 400
MAX_FILE_BYTES = 1_000_000  # a schema or grammar, not a data file

# Starters: bounded strings and arrays, so a small model closes the JSON within the token limit.
SCHEMA_EXAMPLES = {
    "person": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 40},
        "age": {"type": "integer"},
        "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 5}},
        "required": ["name", "age", "hobbies"], "additionalProperties": False},
    "answer": {"type": "object", "properties": {
        "answer": {"type": "string", "maxLength": 400},
        "confidence": {"type": "string", "enum": ["low", "medium", "high"]}},
        "required": ["answer", "confidence"], "additionalProperties": False},
}
GRAMMAR_EXAMPLES = {
    "yes_no": 'root ::= ("yes" | "no") ". " reason\nreason ::= [^\\n]{1,200}\n',
    "list": 'root ::= item{1,5}\nitem ::= "- " [^\\n]{1,80} "\\n"\n',
}


def structured_markdown(answer: str, stats: dict) -> str | None:
    """A finished structured reply as a fenced JSON block (indented, coloured by the Markdown
    renderer); None for any other reply, or one that does not parse."""
    outcome = stats.get("structured") if stats else None
    if not isinstance(outcome, dict) or outcome.get("kind") not in ("json", "json_schema", "gbnf"):
        return None
    pretty = structured.pretty(answer)
    return None if pretty is None else f"```json\n{pretty}\n```"


def structured_copy(answer: str, stats: dict) -> str:
    """What Copy takes from a structured reply: the indented JSON (the text as it is otherwise)."""
    outcome = stats.get("structured") if stats else None
    pretty = structured.pretty(answer) if isinstance(outcome, dict) else None
    return pretty if pretty is not None else answer


class StructuredNote(QLabel):
    """'✓ Valid JSON for the schema' or '✗ Invalid: reason' under a structured reply."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        styled(self, "StructuredNote")
        self.setWordWrap(True)
        self.hide()

    def show_outcome(self, stats: dict) -> None:
        outcome = stats.get("structured") if stats else None
        if not isinstance(outcome, dict):
            self.hide()
            return
        kind = outcome.get("kind")
        if outcome.get("valid"):
            text = {"json_schema": self.tr("✓ Valid: JSON that matches the schema"),
                    "json": self.tr("✓ Valid JSON"),
                    "gbnf": self.tr("✓ Valid: the grammar is complete")}.get(str(kind), self.tr("✓ Valid"))
        else:
            text = self.tr("✗ Invalid: {reason}").format(reason=outcome.get("reason") or "")
        self.setText(text)
        self.setProperty("valid", bool(outcome.get("valid")))
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()


class OutputFormatBox(QGroupBox):
    format_changed = Signal(object)  # structured.OutputFormat | None (free text)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Output format"), parent)
        self.setObjectName("OutputFormatBox")
        self._loading = False
        self._saved: dict | None = None   # the conversation's stored option, to skip saving it again
        self._max_tokens = 0
        self._checks = 0                  # the newest check; older answers are dropped
        self._problem: str | None = None
        self._unenforced: tuple[str, ...] = ()
        layout = QVBoxLayout(self)
        self.kind = QComboBox(self)
        self.kind.setObjectName("OutputFormatKind")
        self.kind.addItem(self.tr("Free text"), FREE)
        self.kind.addItem(self.tr("JSON"), "json")
        self.kind.addItem(self.tr("JSON schema"), "json_schema")
        self.kind.addItem(self.tr("GBNF grammar"), "gbnf")
        self.kind.setToolTip(self.tr("Constrain this conversation's replies: the model can only write text "
                                     "that fits, and each reply is checked when it ends"))
        self.kind.currentIndexChanged.connect(self._kind_changed)
        layout.addWidget(self.kind)

        self.status = QLabel(self)
        styled(self.status, "OutputFormatStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(lambda: spawn(self.check()))
        self._texts: dict[str, str] = {}  # what was typed per kind, so switching kinds loses nothing
        self._show_kind()

    # The editor row serves a schema or a grammar only, and most conversations are free text: it is
    # made the first time a kind needs it (or a part is read), not with the window (~5 ms there).
    _EDITOR_PARTS = frozenset(("editor", "example", "load_button", "buttons"))

    def __getattr__(self, name: str):
        if name in OutputFormatBox._EDITOR_PARTS and "_editor_built" not in self.__dict__:
            self._build_editor()
            return getattr(self, name)
        raise AttributeError(name)

    def _build_editor(self) -> None:
        self.__dict__["_editor_built"] = True
        layout = self.layout()
        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("OutputFormatEditor")
        from PySide6.QtGui import QFontDatabase  # with the editor: its enums cost start-up ~1 ms

        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setFixedHeight(140)
        self.editor.setPlainText(self._texts.get(self.current_kind(), ""))
        self.editor.textChanged.connect(self._text_changed)
        layout.insertWidget(1, self.editor)  # under the kind, above the status line

        buttons = QHBoxLayout()
        self.example = QComboBox(self)
        self.example.setObjectName("OutputFormatExample")
        self.example.activated.connect(self._example_chosen)
        buttons.addWidget(self.example, 1)
        self.load_button = QPushButton(self.tr("Load file…"), self)
        self.load_button.clicked.connect(self.choose_file)
        buttons.addWidget(self.load_button)
        self.buttons = QWidget(self)
        self.buttons.setLayout(buttons)
        buttons.setContentsMargins(0, 0, 0, 0)
        layout.insertWidget(2, self.buttons)
        self._show_kind()  # shown for a schema or grammar only; the kind's examples

    def _editor_text(self) -> str:
        """The editor's text; before it exists, what it would show."""
        if "_editor_built" in self.__dict__:
            return self.editor.toPlainText()
        return self._texts.get(self.current_kind(), "")

    # -- showing a conversation ---------------------------------------------------------------
    def set_conversation(self, conversation: Conversation | None) -> None:
        """Show a conversation's format without reporting it as a change."""
        self._timer.stop()
        self._checks += 1
        stored = (conversation.options if conversation else {}).get(structured.OPTION_KEY)
        if not isinstance(stored, dict) or stored.get("kind") not in structured.KINDS:
            stored = None
        self._saved = dict(stored) if stored else None
        self._texts = {}
        self._loading = True
        try:
            kind = stored["kind"] if stored else FREE
            text = str(stored.get("text") or "") if stored else ""
            self._texts[kind] = text
            self.kind.setCurrentIndex(self.kind.findData(kind))
            if text or "_editor_built" in self.__dict__:
                self.editor.setPlainText(text)
        finally:
            self._loading = False
        self._show_kind()
        self._problem = None
        self._unenforced = ()
        if stored and kind == "json_schema":  # cheap to check here; a stored grammar is parsed when used
            try:
                self._unenforced = structured.build(kind, text).unenforced
            except structured.OutputFormatError as exc:
                self._problem = str(exc)
        self._show_status()

    def set_max_tokens(self, max_tokens: int) -> None:
        self._max_tokens = max_tokens
        self._show_status()

    def current_kind(self) -> str:
        return str(self.kind.currentData())

    # -- editing ------------------------------------------------------------------------------
    def _kind_changed(self, _index: int) -> None:
        if self._loading:
            return
        self._loading = True
        try:  # each kind keeps its own text while the user looks around
            if "_editor_built" in self.__dict__:
                self.editor.setPlainText(self._texts.get(self.current_kind(), ""))
        finally:
            self._loading = False
        self._show_kind()
        if self.current_kind() in (FREE, "json") or self._editor_text().strip():
            self._timer.start(0)  # nothing to type: check (and save) at once
        else:
            self._problem = None
            self.status.setText(self.tr("Paste or load one, or start from an example."))
            self._style_status(None)

    def _text_changed(self) -> None:
        if self._loading:
            return
        self._texts[self.current_kind()] = self.editor.toPlainText()
        self._timer.start(CHECK_DELAY_MS)

    def _show_kind(self) -> None:
        kind = self.current_kind()
        editable = kind in ("json_schema", "gbnf")
        if not editable and "_editor_built" not in self.__dict__:
            return  # nothing to hide yet
        self.editor.setVisible(editable)
        self.buttons.setVisible(editable)
        self.example.clear()
        self.example.addItem(self.tr("Start from an example…"), None)
        if kind == "json_schema":
            self.editor.setPlaceholderText(self.tr('A JSON schema, e.g. {"type": "object", "properties": {…}}'))
            self.example.addItem(self.tr("A person (name, age, hobbies)"), "person")
            self.example.addItem(self.tr("An answer with a confidence"), "answer")
        elif kind == "gbnf":
            self.editor.setPlaceholderText(self.tr('A GBNF grammar with a root rule, e.g. root ::= "yes" | "no"'))
            self.example.addItem(self.tr("Yes or no, then a reason"), "yes_no")
            self.example.addItem(self.tr("A list of up to five lines"), "list")

    def _example_chosen(self, index: int) -> None:
        key = self.example.itemData(index)
        self.example.setCurrentIndex(0)
        if key is None:
            return
        if self.current_kind() == "json_schema":
            self.editor.setPlainText(json.dumps(SCHEMA_EXAMPLES[key], indent=2))
        else:
            self.editor.setPlainText(GRAMMAR_EXAMPLES[key])

    def choose_file(self) -> None:
        kind = self.current_kind()
        pattern = (self.tr("JSON schemas (*.json);;All files (*)") if kind == "json_schema"
                   else self.tr("GBNF grammars (*.gbnf);;All files (*)"))
        from PySide6.QtWidgets import QFileDialog  # dialogs load on use: their enums cost start-up time

        path, _ = QFileDialog.getOpenFileName(self, self.tr("Load an output format"), str(Path.home()), pattern)
        if path:
            self.load_file(path)

    def load_file(self, path: str) -> bool:
        try:
            if Path(path).stat().st_size > MAX_FILE_BYTES:
                raise ValueError(self.tr("{name} is over 1 MB: that is not a schema or a grammar").format(
                    name=Path(path).name))
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._problem = self.tr("{name} could not be read: {reason}").format(name=Path(path).name, reason=reason)
            self._show_status()
            return False
        self.editor.setPlainText(text)
        return True

    # -- checking -----------------------------------------------------------------------------
    async def check(self) -> structured.OutputFormat | None:
        """Build the format from the box; report it when it holds and differs from the saved one."""
        self._timer.stop()
        self._checks += 1
        ticket = self._checks
        kind, text = self.current_kind(), self._editor_text()
        fmt: structured.OutputFormat | None = None
        problem = None
        if kind != FREE:
            if kind == "gbnf":
                self.status.setText(self.tr("Checking the grammar…"))
                self._style_status(None)
            try:  # a grammar is parsed in a child process: off the UI thread
                fmt = await asyncio.to_thread(structured.build, kind, text) if kind == "gbnf" \
                    else structured.build(kind, text)
            except structured.OutputFormatError as exc:
                problem = str(exc)
        if ticket != self._checks:
            return None  # the text changed meanwhile; a newer check answers
        self._problem = problem
        self._unenforced = fmt.unenforced if fmt else ()
        self._show_status()
        if problem is None:
            option = fmt.to_option() if fmt else None
            if option != self._saved:
                self._saved = option
                self.format_changed.emit(fmt)
        return fmt

    def show_refusal(self, message: str, conversation: Conversation | None) -> None:
        """The owner could not save the format: say why and show what is saved."""
        self.set_conversation(conversation)
        self._problem = message
        self._show_status()

    def _show_status(self) -> None:
        kind = self.current_kind()
        if self._problem:
            problem = self._problem.rstrip(".")
            self.status.setText(self.tr("✗ {problem}. Replies keep the previous format until this is fixed.")
                                .format(problem=problem[:1].upper() + problem[1:]))
            self._style_status(False)
            return
        text = {FREE: self.tr("Replies are free text."),
                "json": self.tr("✓ Replies are JSON, shown formatted and checked."),
                "json_schema": self.tr("✓ Replies are JSON that matches this schema, shown formatted and checked."),
                "gbnf": self.tr("✓ Replies follow this grammar.")}[kind]
        note = structured.max_tokens_note(self._max_tokens) if kind != FREE else None
        if note:
            text += "\n" + self.tr("⚠ Max tokens is {n}: a reply cut at the limit is not valid. Raise it, or "
                                   "bound the schema's strings and arrays (maxLength, maxItems).").format(
                n=self._max_tokens)
        if self._unenforced and kind == "json_schema":
            text += "\n" + self.tr("⚠ {keywords}: not enforced while the reply is written, only checked after it.").format(
                keywords=", ".join(self._unenforced))
        self.status.setText(text)
        self._style_status(None if kind == FREE else True)

    def _style_status(self, ok: bool | None) -> None:
        value = "" if ok is None else ("true" if ok else "false")
        if value == (self.status.property("ok") or ""):
            return  # nothing to restyle (and style() while the window is built costs QStyle's enums, ~6 ms)
        self.status.setProperty("ok", value)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    @property
    def problem(self) -> str | None:
        return self._problem
