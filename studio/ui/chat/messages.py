"""The message list of the chat screen: one widget per message, streaming-friendly.

Streaming deltas are appended to a plain string (cheap); a single timer re-renders the Markdown of
the messages that changed at most 25 times a second, so a fast model never floods the event loop.
The list follows the newest text unless the user has scrolled up.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QFrame, QGraphicsOpacityEffect, QHBoxLayout, QLabel, QPlainTextEdit,
                               QPushButton, QScrollArea, QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from studio.core.chat.conversation import Message, MessageStatus
from studio.core.chat.thinking import split_reply
from studio.ui.chat.branch_switch import BranchSwitch
from studio.ui.chat.knowledge_panel import CITE_SCHEME, link_citations, sources_html
from studio.ui.chat.output_format import StructuredNote, structured_copy, structured_markdown
from studio.ui.chat.thinking_view import ThinkingSection
from studio.ui.lazy_qt import Qt
from studio.ui.theme import is_dark, styled, theme_watcher
from studio.ui.widgets.markdown_body import MarkdownBody

RENDER_INTERVAL_MS = 40  # ≤ 25 Markdown renders per second while streaming


class MessageWidget(QFrame):
    copy_requested = Signal(int)
    edit_submitted = Signal(int, str)
    regenerate_requested = Signal(int)
    inspect_requested = Signal(str)   # the message's text, to see as tokens
    citation_clicked = Signal(int, int)  # (message id, source number): a [n] in the reply or its Sources line
    retrieval_requested = Signal(int)  # show this reply's retrieval in the panel
    branch_requested = Signal(int, int)  # (message id, -1 | +1): show the alternative before / after it

    def __init__(self, message: Message, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self.message_id = message.id
        self.role = message.role
        self.text = message.content
        self._dirty = True
        self._drawn_status = None
        styled(self, "MessageBubble")
        self.setProperty("role", message.role)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 6)
        layout.setSpacing(4)
        self.header = QLabel(self.tr("You") if message.role == "user" else self.tr("Assistant"), self)
        styled(self.header, "MessageHeader")
        layout.addWidget(self.header)
        self.thinking = ThinkingSection(self)  # a reasoning model's thinking, folded above the answer
        self.thinking.hide()
        layout.addWidget(self.thinking)

        self.body = MarkdownBody(self, rich=message.role == "assistant")
        self.body.link_handlers[CITE_SCHEME] = self._on_cite
        layout.addWidget(self.body)
        self.structured_note = StructuredNote(self)  # whether a schema/grammar-constrained reply holds
        layout.addWidget(self.structured_note)
        self.retrieval: dict | None = None  # the reply's retrieval record, when built on documents
        self.sources = QLabel(self)
        self.sources.setObjectName("MessageSources")
        self.sources.setWordWrap(True)
        self.sources.linkActivated.connect(self._on_cite)
        self.sources.hide()
        layout.addWidget(self.sources)

        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("MessageEditor")
        self.editor.hide()
        layout.addWidget(self.editor)
        self.edit_buttons = QWidget(self)
        edit_row = QHBoxLayout(self.edit_buttons)
        edit_row.setContentsMargins(0, 0, 0, 0)
        self.save_button = QPushButton(self.tr("Save && resend"), self.edit_buttons)
        self.save_button.clicked.connect(self._submit_edit)
        self.cancel_edit_button = QPushButton(self.tr("Cancel"), self.edit_buttons)
        self.cancel_edit_button.clicked.connect(self.cancel_edit)
        edit_row.addStretch(1)
        edit_row.addWidget(self.cancel_edit_button)
        edit_row.addWidget(self.save_button)
        self.edit_buttons.hide()
        layout.addWidget(self.edit_buttons)

        self.marker = QLabel(self)
        styled(self.marker, "MessageMarker")
        self.marker.setWordWrap(True)
        self.marker.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.marker.hide()
        layout.addWidget(self.marker)

        footer = QHBoxLayout()
        footer.setSpacing(2)
        self.stats_label = QLabel(self)
        styled(self.stats_label, "MessageStats")
        footer.addWidget(self.stats_label, 1)
        self.branch_switch = BranchSwitch(self)  # ‹ 2/3 ›, when the message has alternatives
        self.branch_switch.stepped.connect(lambda step: self.branch_requested.emit(self.message_id, step))
        footer.addWidget(self.branch_switch)
        self.copy_button = self._action(self.tr("Copy"), lambda: self.copy_requested.emit(self.message_id))
        footer.addWidget(self.copy_button)
        self.inspect_button = self._action(self.tr("Tokens"), lambda: self.inspect_requested.emit(self.text))
        self.inspect_button.setToolTip(self.tr("See this message as the model's tokens (Inspect)"))
        footer.addWidget(self.inspect_button)
        self.edit_button = self._action(self.tr("Edit"), self.begin_edit)
        self.edit_button.setVisible(message.role == "user")
        footer.addWidget(self.edit_button)
        self.regenerate_button = self._action(self.tr("Regenerate"),
                                              lambda: self.regenerate_requested.emit(self.message_id))
        self.regenerate_button.hide()
        footer.addWidget(self.regenerate_button)
        self.retrieval_button = self._action(QCoreApplication.translate("ChatKnowledge", "Retrieval"),
                                             lambda: self.retrieval_requested.emit(self.message_id))
        self.retrieval_button.setToolTip(QCoreApplication.translate(
            "ChatKnowledge", "Show what was retrieved for this reply and the prompt the model received"))
        self.retrieval_button.hide()
        footer.addWidget(self.retrieval_button)
        layout.addLayout(footer)
        self.set_message(message)
        self.render()
        theme_watcher().changed.connect(self._on_theme_changed)

    def format_stats(self, stats: dict) -> str:
        """'N tokens · X tok/s · TTFT Y ms' from a message's stats dict ('' when there are none)."""
        if not stats or "tokens" not in stats:
            return ""
        text = self.tr("{tokens} tokens · {speed} tok/s · TTFT {ttft} ms").format(
            tokens=int(stats.get("tokens") or 0), speed=f"{float(stats.get('tokens_per_s') or 0):.1f}",
            ttft=f"{float(stats.get('ttft_ms') or 0):.0f}")
        if int(stats.get("accepted") or 0):  # tokens that came from drafts checked in one step
            text += " · " + self.tr("{kept} by prompt lookup").format(kept=int(stats["accepted"]))
        engine = str(stats.get("engine") or "")
        if engine.startswith("remote:"):  # a remote engine's reply says which engine and model wrote it
            text += " · " + self.tr("via {engine}").format(engine=engine[len("remote:"):])
        return text

    def _action(self, text: str, slot) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setAutoRaise(True)
        button.clicked.connect(slot)
        return button

    # -- content ----------------------------------------------------------------------------
    def append(self, delta: str) -> None:
        if delta:
            self.text += delta
            self._dirty = True

    def set_message(self, message: Message) -> None:
        self.message = message
        # The session mutates one Message in place, so compare with what was last drawn.
        if message.content != self.text or message.status != self._drawn_status:
            self.text = message.content
            self._dirty = True
        self.stats_label.setText(self.format_stats(message.stats) if message.role == "assistant" else "")
        error = str(message.stats.get("error") or "") if message.stats else ""
        status = message.status
        marker = ""
        if status == MessageStatus.STOPPED:
            marker = self.tr("■ Stopped — the reply was cut short by you.")
        elif status == MessageStatus.INTERRUPTED:
            cause = error or self.tr("the app or the engine stopped before the reply finished")
            marker = self.tr("⚠ Interrupted: {error}").format(error=cause)
        elif status == MessageStatus.ERROR:
            marker = self.tr("✖ Error: {error}").format(error=error or self.tr("no reply was produced"))
        self.marker.setText(marker)
        self.marker.setVisible(bool(marker))
        self.setProperty("status", status.value if isinstance(status, MessageStatus) else str(status))
        self.copy_button.setEnabled(bool(self.text))

    @property
    def dirty(self) -> bool:
        return self._dirty

    def render(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._drawn_status = self.message.status
        if self.role == "assistant":
            streaming = self.message.status == MessageStatus.STREAMING
            parts = split_reply(self.text, self.message.stats, streaming)
            self.thinking.show_thinking(parts, self.message.stats, streaming)
            answer = parts.answer
            self.body.setVisible(bool(answer) or parts.thinking is None)
            if not answer:
                thinking = self.tr("Thinking…")
                self.body.set_html(f"<i>{thinking}</i>" if streaming and parts.thinking is None else "")
            else:
                numbers = {int(x["number"]) for x in (self.retrieval or {}).get("sources") or []}
                text = link_citations(answer, numbers) if numbers else answer
                json_block = None if streaming else structured_markdown(answer, self.message.stats)
                self.body.set_markdown(json_block or text, is_dark(self))
            self.structured_note.show_outcome({} if streaming else self.message.stats)
        else:
            self.body.set_plain(self.text)
        self.copy_button.setEnabled(bool(self.text))

    def answer_text(self) -> str:
        """What Copy takes: a reply's answer without its thinking."""
        if self.role != "assistant":
            return self.text
        return structured_copy(split_reply(self.text, self.message.stats).answer, self.message.stats)

    def set_retrieval(self, record: dict | None) -> None:
        """Keep the reply's retrieval record: its citations become links and its sources a line."""
        self.retrieval = record
        html = sources_html(record, QCoreApplication.translate("ChatKnowledge", "Sources:")) if record else ""
        self.sources.setText(html)
        self.sources.setVisible(bool(html))
        self.retrieval_button.setVisible(record is not None)
        self._dirty = True
        self.render()

    def _on_cite(self, href: str) -> None:
        number = href[len(CITE_SCHEME):]
        if number.isdigit():
            self.citation_clicked.emit(self.message_id, int(number))

    # -- editing ----------------------------------------------------------------------------
    def begin_edit(self) -> None:
        self.editor.setPlainText(self.text)
        self.body.hide()
        self.editor.show()
        self.edit_buttons.show()
        self.editor.setFocus()
        self.editor.setMinimumHeight(min(240, max(70, self.body.sizeHint().height() + 30)))

    def cancel_edit(self) -> None:
        self.editor.hide()
        self.edit_buttons.hide()
        self.body.show()

    @property
    def editing(self) -> bool:
        return self.editor.isVisible() or not self.editor.isHidden()

    def _submit_edit(self) -> None:
        text = self.editor.toPlainText().strip()
        if not text:
            return
        self.cancel_edit()
        self.edit_submitted.emit(self.message_id, text)

    # -- looks ------------------------------------------------------------------------------
    def set_faded(self, faded: bool) -> None:
        if faded:
            effect = QGraphicsOpacityEffect(self)
            effect.setOpacity(0.45)
            self.setGraphicsEffect(effect)
            self.setToolTip(self.tr("Left out of the prompt: the conversation no longer fits the context window."))
        else:
            self.setGraphicsEffect(None)
            self.setToolTip("")
        self.setProperty("faded", faded)

    @property
    def faded(self) -> bool:
        return bool(self.property("faded"))

    def set_actions_enabled(self, idle: bool, can_regenerate: bool) -> None:
        self.edit_button.setEnabled(idle)
        self.save_button.setEnabled(idle)
        self.regenerate_button.setVisible(can_regenerate and idle)
        self.branch_switch.set_idle(idle)

    def _on_theme_changed(self) -> None:  # code colours follow light/dark
        self.thinking.dim()
        if self.role == "assistant":
            self._dirty = True
            self.render()


class MessageList(QScrollArea):
    """Shows a conversation; `stick_to_bottom` is False while the user looks at older text."""

    edit_submitted = Signal(int, str)
    regenerate_requested = Signal(int)
    inspect_requested = Signal(str)
    citation_clicked = Signal(int, int)
    retrieval_requested = Signal(int)
    branch_requested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MessageList")
        self.setWidgetResizable(True)
        # Qt properties by name before the window shows (studio.ui.lazy_qt)
        self.setProperty("horizontalScrollBarPolicy", "ScrollBarAlwaysOff")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._content = QWidget(self)
        styled(self._content, "MessageListContent")
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(10)
        self.empty_hint = QLabel(self.tr("Start a conversation: type a message below and press Ctrl+Enter."),
                                 self._content)
        styled(self.empty_hint, "EmptyHint")
        self.empty_hint.setProperty("alignment", "AlignCenter")
        self.empty_hint.setWordWrap(True)
        self._layout.addWidget(self.empty_hint)
        self._layout.addStretch(1)
        self.setWidget(self._content)
        self.widgets: dict[int, MessageWidget] = {}
        self.stick_to_bottom = True
        self._scroll_target = 0
        self._idle = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(RENDER_INTERVAL_MS)
        self._timer.timeout.connect(self.flush)
        self.render_count = 0  # for tests and benchmarks
        self.branches: dict[int, tuple[int, int]] = {}  # message id -> (alternative n, of count)
        self._switch_step = 0  # the arrow just used: the keyboard stays on it after the rebuild
        self._expand_thinking = 0  # a message whose thinking opens expanded when it is shown

    # -- building ---------------------------------------------------------------------------
    def clear(self) -> None:
        for widget in self.widgets.values():
            self._layout.removeWidget(widget)
            widget.deleteLater()
        self.widgets.clear()
        self.empty_hint.show()
        self.stick_to_bottom = True

    def set_messages(self, messages: list[Message]) -> None:
        self.clear()
        for message in messages:
            self.add_message(message, follow=False)
        self._update_actions()
        self._scroll_target = 0
        QTimer.singleShot(0, self._settle_scroll)

    def _settle_scroll(self) -> None:
        """After a conversation is shown: go to the asked-for message, else to the newest one."""
        if not self._scroll_target:
            self.scroll_to_bottom()

    def add_message(self, message: Message, follow: bool = True) -> MessageWidget:
        widget = MessageWidget(message, self._content)
        widget.copy_requested.connect(self.copy_message)
        widget.edit_submitted.connect(self.edit_submitted)
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.inspect_requested.connect(self.inspect_requested)
        widget.citation_clicked.connect(self.citation_clicked)
        widget.retrieval_requested.connect(self.retrieval_requested)
        widget.branch_requested.connect(self._on_branch_requested)
        widget.branch_switch.set_position(*self.branches.get(message.id, (1, 1)))
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self.widgets[message.id] = widget
        if message.id == self._expand_thinking:  # a search hit inside this reply's thinking
            widget.thinking.set_expanded(True)
            self._expand_thinking = 0
        self.empty_hint.hide()
        if follow:
            self.stick_to_bottom = True
            self._update_actions()
        return widget

    def expand_thinking(self, message_id: int) -> None:
        """Unfold a reply's thinking, now or when its conversation is shown (a search hit there)."""
        widget = self.widgets.get(message_id)
        if widget is not None:
            widget.thinking.set_expanded(True)
        else:
            self._expand_thinking = message_id

    def set_branches(self, positions: dict[int, tuple[int, int]]) -> None:
        self.branches = dict(positions)
        for message_id, widget in self.widgets.items():
            widget.branch_switch.set_position(*self.branches.get(message_id, (1, 1)))

    def replace_from(self, index: int, messages: list[Message]) -> None:
        """Another branch was chosen: show `messages` from `index` on; those above and the scroll
        position stay."""
        gone = list(self.widgets)[index:]
        for message_id in gone:  # at once: deleteLater leaves them painted until the loop gets to it
            self.widgets[message_id].hide()
        self.remove_messages(gone)
        added = [self.add_message(message, follow=False) for message in messages[index:]]
        self._update_actions()
        step, self._switch_step = self._switch_step, 0
        if added and step:
            added[0].branch_switch.focus_arrow(step)

    def _on_branch_requested(self, message_id: int, step: int) -> None:
        self._switch_step = step
        self.branch_requested.emit(message_id, step)

    def remove_messages(self, ids: list[int]) -> None:
        for message_id in ids:
            widget = self.widgets.pop(message_id, None)
            if widget is not None:
                self._layout.removeWidget(widget)
                widget.deleteLater()
        self.empty_hint.setVisible(not self.widgets)
        self._update_actions()

    def update_message(self, message: Message, delta: str) -> None:
        widget = self.widgets.get(message.id)
        if widget is None:
            return
        if delta:
            widget.append(delta)
        else:
            widget.set_message(message)
            self._update_actions()
        if widget.dirty:
            if message.status == MessageStatus.STREAMING:
                if not self._timer.isActive():
                    self._timer.start()
            else:  # final state: show it now
                widget.render()
                self.render_count += 1

    def flush(self) -> None:
        """Render every message whose text changed since the last tick (the timer's slot)."""
        dirty = [w for w in self.widgets.values() if w.dirty]
        for widget in dirty:
            widget.render()
            self.render_count += 1
        if not dirty:
            self._timer.stop()

    def mark_faded(self, ids: list[int]) -> None:
        for message_id in ids:
            widget = self.widgets.get(message_id)
            if widget is not None:
                widget.set_faded(True)

    def set_idle(self, idle: bool) -> None:
        self._idle = idle
        self._update_actions()

    def _update_actions(self) -> None:
        last_assistant = None
        ordered = list(self.widgets.values())
        if ordered and ordered[-1].role == "assistant":
            last_assistant = ordered[-1].message_id
        for widget in ordered:
            widget.set_actions_enabled(self._idle, widget.message_id == last_assistant)

    # -- clipboard --------------------------------------------------------------------------
    def copy_message(self, message_id: int) -> None:
        widget = self.widgets.get(message_id)
        if widget is not None:
            QGuiApplication.clipboard().setText(widget.answer_text())

    # -- scrolling --------------------------------------------------------------------------
    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self.stick_to_bottom = value >= bar.maximum() - 24

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self.stick_to_bottom:
            self.verticalScrollBar().setValue(maximum)

    def scroll_to_bottom(self) -> None:
        self.stick_to_bottom = True
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def scroll_to_message(self, message_id: int) -> bool:
        widget = self.widgets.get(message_id)
        if widget is None:
            return False
        self.flush()
        self.stick_to_bottom = False
        self._scroll_target = message_id

        def show() -> None:
            self._scroll_target = 0
            self.ensureWidgetVisible(widget, 0, 40)
            self.stick_to_bottom = self.verticalScrollBar().value() >= self.verticalScrollBar().maximum() - 24
            widget.setProperty("highlight", True)
            widget.style().unpolish(widget)
            widget.style().polish(widget)
            QTimer.singleShot(1500, lambda: _unhighlight(widget))

        self._content.adjustSize()
        QTimer.singleShot(0, show)
        return True


def _unhighlight(widget: MessageWidget) -> None:
    try:
        widget.setProperty("highlight", False)
        widget.style().unpolish(widget)
        widget.style().polish(widget)
    except RuntimeError:  # the widget is gone
        pass
