"""‹ 2/3 › on messages, in the real window with the real engine worker and starter model: regenerate and
edit keep the old alternative, the arrows switch, the messages below follow, search reaches any branch."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from studio.core.chat.session import SessionState
from studio.ui.chat.sidebar import MESSAGE_ROLE
from tests.ui.test_chat_flow import last_widget, type_and_send, wait_reply_done

pytestmark = pytest.mark.slow


def shown(win) -> list[tuple[str, str]]:
    return [(w.role, w.text) for w in win.chat.messages.widgets.values()]


def test_regenerate_shows_2_of_2_and_the_arrows_switch_the_branch_below(qtbot, run, window, screenshot_dir):
    win = window
    chat = win.chat
    type_and_send(qtbot, win, "Name a colour.")
    first = wait_reply_done(run, win)
    first_id, first_text = first.message_id, first.text
    assert first.branch_switch.isHidden()  # no alternatives yet: no control
    qtbot.mouseClick(first.regenerate_button, Qt.MouseButton.LeftButton)
    run.until(lambda: first_id not in chat.messages.widgets, 10)
    second = wait_reply_done(run, win)
    switch = second.branch_switch
    assert switch.isVisibleTo(win) and switch.label.text() == "2/2"
    assert switch.previous.isEnabled() and not switch.next.isEnabled()

    # Below the new reply the conversation goes on; the arrows stay still while a reply is written.
    enabled_while_writing = []
    chat.session.subscribe("state", lambda state: enabled_while_writing.append(switch.previous.isEnabled())
                           if state == SessionState.GENERATING else None)
    type_and_send(qtbot, win, "Tell me more about it.")
    wait_reply_done(run, win)
    assert enabled_while_writing and not any(enabled_while_writing)
    assert switch.previous.isEnabled()
    newer = shown(win)
    assert len(newer) == 4
    win.grab().save(str(screenshot_dir / "chat_branches.png"))

    qtbot.mouseClick(switch.previous, Qt.MouseButton.LeftButton)  # ‹: the old reply, and what followed it
    run.until(lambda: first_id in chat.messages.widgets, 5)
    assert shown(win) == [("user", "Name a colour."), ("assistant", first_text)]
    old = chat.messages.widgets[first_id]
    assert old.branch_switch.label.text() == "1/2" and not old.branch_switch.previous.isEnabled()
    assert [m.id for m in win.store.messages(chat.session.conversation.id)] == list(chat.messages.widgets)
    assert not old.regenerate_button.isHidden()  # the shown last reply can be regenerated again
    run.until(lambda: old.isVisible() and old.branch_switch.isVisible(), 5)
    win.grab().save(str(screenshot_dir / "chat_branches_switched.png"))

    # The keyboard: the focus stays on the control; Right arrow goes back to the newer branch.
    assert old.branch_switch.next.hasFocus() or not win.isActiveWindow()
    old.branch_switch.next.setFocus()
    qtbot.keyClick(old.branch_switch.next, Qt.Key.Key_Right)
    run.until(lambda: second.message_id in chat.messages.widgets, 5)
    assert shown(win) == newer


def test_edit_keeps_the_old_question_and_search_finds_it_on_its_branch(qtbot, run, window, tmp_path):
    win = window
    chat = win.chat
    type_and_send(qtbot, win, "Hi there, zebra")
    wait_reply_done(run, win)
    type_and_send(qtbot, win, "Tell me a fact.")
    wait_reply_done(run, win)
    before = shown(win)
    first_user = next(w for w in chat.messages.widgets.values() if w.role == "user")
    old_question = first_user.message_id
    qtbot.mouseClick(first_user.edit_button, Qt.MouseButton.LeftButton)
    first_user.editor.setPlainText("What is 2 + 2?")
    qtbot.mouseClick(first_user.save_button, Qt.MouseButton.LeftButton)
    run.until(lambda: len(chat.messages.widgets) == 2 and chat.session.state == SessionState.IDLE
              and last_widget(win, "assistant") is not None and last_widget(win, "assistant").text, 60)
    edited = next(w for w in chat.messages.widgets.values() if w.role == "user")
    assert edited.text == "What is 2 + 2?" and edited.branch_switch.label.text() == "2/2"

    # JSON export with every branch holds the old turns too.
    path = chat.export_conversation(chat.session.conversation.id, "json-all", str(tmp_path / "all.json"))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["messages"][0]["content"] == "What is 2 + 2?"
    assert {"Hi there, zebra", "Tell me a fact."} <= {m["content"] for m in data["alternatives"]}

    # Search reaches the hidden branch; opening the hit shows that branch.
    chat.sidebar.search_box.setText("zebra")
    hits = chat.sidebar.hits
    run.until(lambda: any(hits.item(i).data(MESSAGE_ROLE) == old_question for i in range(hits.count())), 5)
    (item,) = [hits.item(i) for i in range(hits.count()) if hits.item(i).data(MESSAGE_ROLE) == old_question]
    qtbot.mouseClick(hits.viewport(), Qt.MouseButton.LeftButton, pos=hits.visualItemRect(item).center())
    run.until(lambda: shown(win) == before, 5)
    assert next(w for w in chat.messages.widgets.values() if w.role == "user").branch_switch.label.text() == "1/2"
