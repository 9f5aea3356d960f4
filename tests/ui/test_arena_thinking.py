"""The Arena with a model that thinks: the starter with the thinking adapter (A) against the plain starter
(B), one after the other on the app's engine. A's thinking shows as the chat's folded, dimmed section,
counting live while it streams, with the answer below and tok/s under it; B has no section. Picking A
puts the raw reply into the chat, which folds the thinking the same way. Screenshot: arena_thinking.png."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from studio.core.chat.thinking import split_message
from tests.ui.conftest import set_sampling

# The first test may also train the adapter (thinking_adapter): ~2 min alone, more next to other jobs.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_a_thinking_reply_folds_its_thinking_in_its_pane(qtbot, run, window, thinking_adapter, screenshot_dir):
    win = window
    assert run(win.chat.attach_adapters([{"path": str(thinking_adapter), "scale": 1.0}], replace=True), timeout=60)
    set_sampling(win, temperature=0.0, max_tokens=60)

    win.arena.action.trigger()
    dialog = win.arena.dialog
    dialog.resize(1100, 760)
    assert dialog.combos["a"].currentData()["adapters"] and not dialog.combos["b"].currentData()["adapters"]
    run.until(lambda: dialog.send_button.isEnabled() and "One after the other" in dialog.plan_label.text(), 20)
    pane_a, pane_b = dialog.panes["a"], dialog.panes["b"]

    seen = []

    def watch(side, text):
        if side == "a":
            seen.append((pane_a.thinking_area.isVisibleTo(pane_a), pane_a.thinking.toggle.text(),
                         pane_a.text.toPlainText()))
            if len(seen) == 8:  # mid-thought
                dialog.grab().save(str(screenshot_dir / "arena_thinking_live.png"))
    dialog.arena.subscribe("delta", watch)  # after the dialog's own subscriber: sees what it showed
    dialog.composer.setPlainText("What is 3 plus 5?")
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    run.until(lambda: dialog.vote_buttons["a"].isEnabled(), 180)

    # Live: the section counted while A thought, the answer pane stayed empty until </think>; no tag ever showed.
    thinking_live = [s for s in seen if s[1].startswith("Thinking… ")]
    assert len(thinking_live) >= 3 and all(visible and answer == "" for visible, _h, answer in thinking_live), seen
    assert seen[-1][2].startswith("3 plus 5 is")
    assert not any("think>" in answer or "<" in answer for _v, _h, answer in seen), seen

    reply = dialog.arena.round.replies["a"]
    stats = reply.stats
    assert pane_a.thinking.toggle.text() == \
        f"Thought for {stats['thinking_ms'] / 1000:.1f} s · {stats['thinking_tokens']} tokens"
    assert not pane_a.thinking.expanded and pane_a.thinking.text.isHidden()
    assert pane_a.text.toPlainText() == reply.parts().answer and reply.text.startswith("<think>")
    assert " tok/s · TTFT " in pane_a.stats.text() and " tok/s · TTFT " in pane_b.stats.text()
    assert pane_b.thinking_area.isHidden() and pane_b.text.toPlainText().strip()
    assert pane_b.text.toPlainText() == dialog.arena.round.replies["b"].text  # the plain reply, as written

    QApplication.processEvents()
    dialog.grab().save(str(screenshot_dir / "arena_thinking_folded.png"))
    qtbot.mouseClick(pane_a.thinking.toggle, Qt.MouseButton.LeftButton)
    assert pane_a.thinking.expanded and pane_a.thinking.text.text() == reply.parts().thinking
    QApplication.processEvents()
    dialog.grab().save(str(screenshot_dir / "arena_thinking.png"))

    # A wins: the chat gets the raw reply and folds its thinking itself.
    qtbot.mouseClick(dialog.vote_buttons["a"], Qt.MouseButton.LeftButton)
    message = win.chat.session.messages[-1]
    assert message.content == reply.text and message.stats["thinking_tokens"] == stats["thinking_tokens"]
    parts = split_message(message)
    assert parts.thinking.startswith("I add 3 and 5") and parts.answer == pane_a.text.toPlainText()
    win.chat.messages.flush()
    widget = win.chat.messages.widgets[message.id]
    assert widget.thinking.isVisibleTo(widget) and widget.thinking.toggle.text().startswith("Thought for ")
    assert dialog.arena.history()[-1] == {"role": "assistant", "content": parts.answer}  # next round: no thinking


def test_long_thinking_unfolds_into_a_scrolling_share_of_the_pane(qtbot, screenshot_dir):
    from studio.core.arena import Contestant, Reply
    from studio.ui.arena.dialog import THINKING_SHARE, ArenaPane

    pane = ArenaPane("a")
    qtbot.addWidget(pane)
    pane.resize(500, 600)
    pane.show()
    thought = " ".join(f"Step {n}: I weigh one more thing." for n in range(300))
    reply = Reply("a", Contestant.local("model.gguf"), text=f"<think>{thought}</think>The answer.", status="done",
                  stats={"tokens": 900, "tokens_per_s": 20.0, "ttft_ms": 80, "thinking_tokens": 880,
                         "thinking_ms": 41000.0})
    pane.show_reply(reply)
    folded = pane.thinking_area.height()
    assert pane.thinking.toggle.text() == "Thought for 41.0 s · 880 tokens" and folded < 60
    qtbot.mouseClick(pane.thinking.toggle, Qt.MouseButton.LeftButton)
    assert folded < pane.thinking_area.height() <= pane.height() * THINKING_SHARE
    assert pane.thinking_area.verticalScrollBar().maximum() > 0  # the rest scrolls; the answer keeps its room
    assert pane.text.toPlainText() == "The answer." and " tok/s · TTFT " in pane.stats.text()
    QApplication.processEvents()  # the pane's layout places the answer below the unfolded thinking
    pane.grab().save(str(screenshot_dir / "arena_thinking_long.png"))
    qtbot.mouseClick(pane.thinking.toggle, Qt.MouseButton.LeftButton)
    assert pane.thinking_area.height() == folded
