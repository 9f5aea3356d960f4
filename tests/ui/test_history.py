"""The conversation sidebar: search, open-at-hit, rename, delete, export; keyboard shortcuts; notes."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit

from studio.core.chat.conversation import MessageStatus

pytestmark = pytest.mark.slow


def seed_history(store) -> tuple[int, int]:
    """An older conversation with many messages; returns (conversation id, id of the one to find)."""
    old = store.create_conversation(title="Trip planning")
    target = 0
    for i in range(14):
        store.add_message(old.id, "user", f"Question number {i} about trains and timetables")
        message = store.add_message(old.id, "assistant",
                                    f"Answer {i}: take the regional line." + (" The zeppelin leaves at noon."
                                                                              if i == 2 else ""))
        if i == 2:
            target = message.id
    return old.id, target


def test_search_finds_message_and_opens_it_scrolled(qtbot, run, window, screenshot_dir):
    win = window
    chat = win.chat
    old_id, target = seed_history(win.store)
    chat.sidebar.refresh()
    current = chat.session.conversation.id
    chat.composer.setFocus()
    qtbot.keyClick(chat.composer, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)  # Ctrl+F: search box
    assert chat.sidebar.search_box.hasFocus()
    qtbot.keyClicks(chat.sidebar.search_box, "zeppelin")
    run.until(lambda: chat.sidebar.hits.count() == 1, 5)
    item = chat.sidebar.hits.item(0)
    label = chat.sidebar.hits.itemWidget(item)
    assert "<b>zeppelin</b>" in label.text() and "Trip planning" in label.text()
    win.grab().save(str(screenshot_dir / "sidebar_search.png"))
    assert chat.session.conversation.id == current
    rect = chat.sidebar.hits.visualItemRect(item)
    qtbot.mouseClick(chat.sidebar.hits.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert chat.session.conversation.id == old_id
    widget = chat.messages.widgets[target]
    run.until(lambda: widget.visibleRegion().boundingRect().height() > 10, 5)
    assert widget.property("highlight") is True
    assert chat.messages.verticalScrollBar().value() < chat.messages.verticalScrollBar().maximum()
    chat.sidebar.search_box.clear()
    assert chat.sidebar.stack.currentWidget() is chat.sidebar.list


def test_export_rename_and_delete(qtbot, run, window, tmp_path, monkeypatch):
    win = window
    chat = win.chat
    old_id, _ = seed_history(win.store)
    chat.sidebar.refresh()
    item = chat.sidebar.item_for(old_id)
    menu = chat.sidebar.build_menu(item, old_id)
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert set(actions) >= {"Rename", "Export as Markdown…", "Export as JSON…", "Delete…"}

    for suffix, label in (("md", "Export as Markdown…"), ("json", "Export as JSON…")):
        target = tmp_path / f"trip.{suffix}"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, t=target, **k: (str(t), "")))
        actions[label].trigger()
        assert target.is_file()
        assert str(target) in chat.trimmed_banner.text()
    assert "zeppelin" in (tmp_path / "trip.md").read_text(encoding="utf-8")
    data = json.loads((tmp_path / "trip.json").read_text(encoding="utf-8"))
    assert "zeppelin" in json.dumps(data)

    # rename in place: the list's editor commits on Enter
    chat.sidebar.begin_rename(item)
    editor = chat.sidebar.list.findChild(QLineEdit)
    assert editor is not None
    editor.setText("Rail trip")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    run.until(lambda: win.store.get_conversation(old_id).title == "Rail trip", 5)
    assert chat.sidebar.item_for(old_id).text() == "Rail trip"

    # delete asks first; "Cancel" keeps it
    monkeypatch.setattr(chat, "confirm", lambda title, text: False)
    chat.sidebar.delete_requested.emit(old_id)
    assert chat.sidebar.item_for(old_id) is not None
    monkeypatch.setattr(chat, "confirm", lambda title, text: True)
    chat.sidebar.delete_requested.emit(old_id)
    assert chat.sidebar.item_for(old_id) is None
    assert all(c.id != old_id for c in win.store.list_conversations())


def test_new_chat_shortcut_and_list_order(qtbot, run, window):
    win = window
    chat = win.chat
    first = chat.session.conversation.id
    qtbot.keyClick(chat.composer, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # Ctrl+N
    second = chat.session.conversation.id
    assert second != first
    assert chat.sidebar.conversation_ids()[0] == second  # newest first
    assert chat.messages.empty_hint.isVisibleTo(win)


def test_trimmed_note_and_faded_messages(window):
    win = window
    chat = win.chat
    store = win.store
    cid = chat.session.conversation.id
    ids = [store.add_message(cid, role, text).id
           for role, text in (("user", "one"), ("assistant", "two"), ("user", "three"))]
    chat.session.open(cid)
    note = ("The conversation is longer than the context window: the 2 oldest messages were left out of the "
            "prompt (the system prompt is kept). Raise the context length in the settings to keep more.")
    chat.session.emit("trimmed", ids=ids[:2], note=note)
    assert chat.trimmed_banner.isVisibleTo(win) and chat.trimmed_banner.text() == note
    assert chat.trimmed_banner.level == "warning"
    assert chat.messages.widgets[ids[0]].faded and chat.messages.widgets[ids[1]].faded
    assert not chat.messages.widgets[ids[2]].faded


def test_reopened_conversation_shows_statuses_and_stats(window):
    win = window
    chat = win.chat
    store = win.store
    cid = store.create_conversation(title="Old one").id
    store.add_message(cid, "user", "Hello")
    store.add_message(cid, "assistant", "Partial answ", status=MessageStatus.INTERRUPTED,
                      stats={"error": "the engine worker was killed by SIGKILL"})
    store.add_message(cid, "user", "Again")
    store.add_message(cid, "assistant", "Done **well**", stats={"tokens": 12, "tokens_per_s": 33.3, "ttft_ms": 85})
    chat.open_conversation(cid)
    widgets = list(chat.messages.widgets.values())
    assert "Interrupted" in widgets[1].marker.text() and "SIGKILL" in widgets[1].marker.text()
    assert widgets[3].stats_label.text() == "12 tokens · 33.3 tok/s · TTFT 85 ms"
    assert "<strong>well</strong>" in widgets[3].body.text()
    assert not widgets[3].regenerate_button.isHidden() and widgets[1].regenerate_button.isHidden()
    assert "33.3 tok/s" in chat.perf_label.text()

