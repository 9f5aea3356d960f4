"""A thinking model in the chat window: the starter fine-tuned to open its replies with <think> (the
`thinking_adapter` fixture), the real engine worker and store. The thinking shows as a collapsed,
dimmed section with its time and token count, live and expandable while it streams; the answer
follows; Copy takes the answer; search finds text in the thinking and unfolds it; the conversation's
switch turns thinking off."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.thinking import split_message
from tests.ui.conftest import set_sampling
from tests.ui.test_chat_flow import type_and_send, wait_reply_done

# The first test also trains the adapter (thinking_adapter): ~2 min alone, over 15 next to other jobs.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_thinking_shows_folded_dimmed_and_live(qtbot, run, window, thinking_adapter, screenshot_dir):
    win = window
    chat = win.chat
    assert run(chat.attach_adapters([{"path": str(thinking_adapter), "scale": 1.0}], replace=True), timeout=60)
    set_sampling(win, temperature=0.0, max_tokens=60)
    switch = chat.settings_panel.thinking
    assert switch.isChecked() and switch.isEnabled() and "no thinking switch" in switch.toolTip()

    # While the reply streams: the section is there, counting, and opens on a click mid-thought.
    seen = []

    def watch(message, delta):
        parts = split_message(message)
        if not delta or parts.thinking is None or parts.closed:
            return
        chat.messages.flush()  # render now rather than on the next timer tick
        widget = chat.messages.widgets[message.id]
        section = widget.thinking
        if not seen:
            assert not section.expanded and not section.text.isVisibleTo(widget)
            qtbot.mouseClick(section.toggle, Qt.MouseButton.LeftButton)
        seen.append((section.isVisibleTo(widget), section.toggle.text(), section.text.text(),
                     section.text.isVisibleTo(widget)))

    unsubscribe = chat.session.subscribe("message_updated", watch)
    type_and_send(qtbot, win, "What is 3 plus 5?")
    reply = wait_reply_done(run, win)
    unsubscribe()
    assert len(seen) >= 3, seen
    assert all(visible and header.startswith("Thinking…") for visible, header, _text, _shown in seen)
    assert seen[-1][3] and len(seen[-1][2]) > len(seen[1][2]) > 0  # expanded mid-stream, the text kept growing

    message = reply.message
    assert message.status == MessageStatus.COMPLETE
    parts = split_message(message)
    stats = message.stats
    section = reply.thinking
    expected = f"Thought for {stats['thinking_ms'] / 1000:.1f} s · {stats['thinking_tokens']} tokens"
    assert section.toggle.text() == expected
    assert section.expanded and section.text.text() == parts.thinking  # the user's click is kept
    assert "<think>" not in reply.body.text() and parts.thinking not in reply.body.text()
    assert "3 plus 5 is" in reply.body.text()
    chat.messages.copy_message(message.id)
    assert QGuiApplication.clipboard().text() == parts.answer
    # Dimmed: the palette's placeholder colour, not the answer's text colour.
    dim = QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText)
    assert section.text.palette().color(QPalette.ColorRole.WindowText) == dim
    assert section.toggle.palette().color(QPalette.ColorRole.ButtonText) == dim
    assert dim != reply.body.palette().color(QPalette.ColorRole.Text)
    reply.grab().save(str(screenshot_dir / "chat_thinking_expanded.png"))

    # Reopened, a reply's thinking starts folded.
    conversation_id = chat.session.conversation.id
    chat.session.open(conversation_id)
    reopened = chat.messages.widgets[message.id]
    assert reopened.thinking.isVisibleTo(reopened) and not reopened.thinking.expanded
    assert not reopened.thinking.text.isVisibleTo(reopened) and reopened.thinking.toggle.text() == expected
    qtbot.wait(100)  # the replaced widgets are gone and the new ones laid out before the picture
    chat.grab().save(str(screenshot_dir / "chat_thinking_folded.png"))

    # Search finds words that are only in the thinking, says so, and opening the hit unfolds it.
    chat.new_chat()
    qtbot.keyClicks(chat.sidebar.search_box, "which gives")
    run.until(lambda: chat.sidebar.hits.count() >= 1, 5)
    item = chat.sidebar.hits.item(0)
    label = chat.sidebar.hits.itemWidget(item)
    assert "thinking" in label.text() and "&lt;think&gt;" not in label.text() and "<b>which</b>" in label.text()
    win.grab().save(str(screenshot_dir / "chat_thinking_search.png"))
    rect = chat.sidebar.hits.visualItemRect(item)
    qtbot.mouseClick(chat.sidebar.hits.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert chat.session.conversation.id == conversation_id
    assert chat.messages.widgets[message.id].thinking.expanded
    chat.sidebar.search_box.clear()

    # The switch: off for this conversation, the next reply goes straight to its answer.
    qtbot.mouseClick(switch, Qt.MouseButton.LeftButton)
    assert not switch.isChecked()
    assert chat.store.get_conversation(conversation_id).options == {"thinking": False}
    type_and_send(qtbot, win, "What is 2 plus 4?")
    quiet = wait_reply_done(run, win)
    assert quiet.message.status == MessageStatus.COMPLETE and quiet.thinking.isHidden(), quiet.text
    assert "<think>" not in quiet.text and quiet.body.text().strip()
