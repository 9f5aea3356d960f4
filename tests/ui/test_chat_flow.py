"""Chatting through the real window: real worker, real starter model, real SQLite store."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.session import SessionState
from tests.ui.conftest import set_sampling

pytestmark = pytest.mark.slow


def type_and_send(qtbot, win, text: str) -> None:
    composer = win.chat.composer
    composer.setFocus()
    composer.setPlainText(text)
    before = len(win.chat.messages.widgets)
    qtbot.keyClick(composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(win.chat.messages.widgets) >= before + 2, timeout=10_000)


def last_widget(win, role: str):
    widgets = [w for w in win.chat.messages.widgets.values() if w.role == role]
    return widgets[-1] if widgets else None


def wait_reply_done(run, win, timeout: float = 60):
    run.until(lambda: win.chat.session.state in (SessionState.IDLE, SessionState.ERROR)
              and last_widget(win, "assistant") is not None
              and last_widget(win, "assistant").message.status != MessageStatus.STREAMING, timeout)
    return last_widget(win, "assistant")


def test_send_streams_reply_with_stats(qtbot, run, window):
    win = window
    seen_states = []
    win.chat.session.subscribe("state", lambda state: seen_states.append(state))
    type_and_send(qtbot, win, "Say hello in one short sentence.")
    assert win.chat.composer.toPlainText() == ""
    user = last_widget(win, "user")
    assert user is not None and user.text == "Say hello in one short sentence."
    # streamed text shows up while the reply is still being written
    run.until(lambda: last_widget(win, "assistant") is not None
              and len(last_widget(win, "assistant").body.text()) > 0, 60)
    reply = wait_reply_done(run, win)
    assert reply.message.status == MessageStatus.COMPLETE
    assert reply.text.strip()
    assert SessionState.GENERATING in seen_states
    stats = reply.stats_label.text()
    assert "tokens" in stats and "tok/s" in stats and "TTFT" in stats and "ms" in stats
    assert "tok/s" in win.chat.perf_label.text()
    assert win.chat.context_bar.value() > 0 and win.chat.context_bar.maximum() == 2048
    assert not win.chat.stop_button.isEnabled() and win.chat.send_button.isEnabled()
    # streaming re-renders were throttled: far fewer renders than tokens
    assert win.chat.messages.render_count <= int(reply.message.stats["tokens"]) + 2
    # the message is in the store, and the sidebar lists the conversation with its new title
    stored = win.store.messages(win.chat.session.conversation.id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == reply.text
    assert win.chat.sidebar.list.item(0).text().startswith("Say hello")


def test_precise_preset_knows_paris(qtbot, run, window):
    win = window
    set_sampling(win, preset="Precise")
    assert win.chat.settings_panel.preset.currentData() == "Precise"
    assert win.chat.session.conversation.sampling.temperature == 0.0
    set_sampling(win, max_tokens=24)
    type_and_send(qtbot, win, "What is the capital of France? Answer in English.")
    reply = wait_reply_done(run, win)
    assert "Paris" in reply.text, reply.text


def test_stop_keeps_partial_reply(qtbot, run, window):
    win = window
    set_sampling(win, max_tokens=400, temperature=0.8)
    at_stop = {}

    def on_state(state):
        if state == SessionState.STOPPING and "text" not in at_stop:
            at_stop["text"] = win.chat.session.messages[-1].content
            at_stop["t"] = time.perf_counter()

    win.chat.session.subscribe("state", on_state)
    type_and_send(qtbot, win, "Write a long story about a dragon who learns to bake bread.")
    run.until(lambda: last_widget(win, "assistant") is not None
              and len(last_widget(win, "assistant").text) > 40, 60)
    pressed = time.perf_counter()
    qtbot.keyClick(win.chat.composer, Qt.Key.Key_Escape)
    run.until(lambda: "t" in at_stop, 2)
    assert at_stop["t"] - pressed < 0.2  # Stop takes effect at once: later tokens are ignored from here
    assert not win.chat.stop_button.isEnabled()
    run.until(lambda: win.chat.session.state == SessionState.IDLE, 15)
    elapsed = time.perf_counter() - pressed
    print(f"Esc → stopping {1000 * (at_stop['t'] - pressed):.0f} ms, → idle {1000 * elapsed:.0f} ms")
    assert elapsed < 5.0, f"the worker took {elapsed:.2f} s to finish the token in flight"
    reply = last_widget(win, "assistant")
    assert reply.message.status == MessageStatus.STOPPED
    assert reply.marker.isVisibleTo(win) and "Stopped" in reply.marker.text()
    assert reply.text and reply.text == at_stop["text"]  # nothing was added after Stop
    assert win.store.messages(win.chat.session.conversation.id)[-1].status == MessageStatus.STOPPED
    assert win.chat.send_button.isEnabled()


def test_regenerate_shows_a_new_reply_and_keeps_the_old(qtbot, run, window):
    win = window
    type_and_send(qtbot, win, "Name a colour.")
    first = wait_reply_done(run, win)
    first_id = first.message_id
    assert first.regenerate_button.isVisibleTo(win)
    qtbot.mouseClick(first.regenerate_button, Qt.MouseButton.LeftButton)
    run.until(lambda: first_id not in win.chat.messages.widgets, 10)
    second = wait_reply_done(run, win)
    assert second.message_id != first_id
    roles = [w.role for w in win.chat.messages.widgets.values()]
    assert roles == ["user", "assistant"]
    assert [m.id for m in win.store.messages(win.chat.session.conversation.id)][-1] == second.message_id
    assert [m.id for m in win.store.siblings(second.message_id)] == [first_id, second.message_id]


def test_edit_and_resend_shows_the_new_version_and_keeps_the_old(qtbot, run, window):
    win = window
    type_and_send(qtbot, win, "Hi there")
    wait_reply_done(run, win)
    type_and_send(qtbot, win, "Tell me a fact.")
    wait_reply_done(run, win)
    assert len(win.chat.messages.widgets) == 4
    first_user = [w for w in win.chat.messages.widgets.values() if w.role == "user"][0]
    qtbot.mouseClick(first_user.edit_button, Qt.MouseButton.LeftButton)
    assert first_user.editor.isVisibleTo(win)
    first_user.editor.setPlainText("What is 2 + 2?")
    qtbot.mouseClick(first_user.save_button, Qt.MouseButton.LeftButton)
    run.until(lambda: len(win.chat.messages.widgets) == 2
              and win.chat.session.state == SessionState.IDLE
              and last_widget(win, "assistant") is not None
              and last_widget(win, "assistant").message.status == MessageStatus.COMPLETE, 60)
    texts = [(w.role, w.text) for w in win.chat.messages.widgets.values()]
    assert texts[0] == ("user", "What is 2 + 2?")
    stored = win.store.messages(win.chat.session.conversation.id)
    assert [m.content for m in stored if m.role == "user"] == ["What is 2 + 2?"]
    everything = win.store.all_messages(win.chat.session.conversation.id)
    assert [m.content for m in everything if m.role == "user"] == ["Hi there", "Tell me a fact.", "What is 2 + 2?"]


def test_worker_killed_mid_stream_then_next_send_works(qtbot, run, window, screenshot_dir):
    win = window
    set_sampling(win, max_tokens=400, temperature=0.8)
    type_and_send(qtbot, win, "Write a long poem about the sea.")
    run.until(lambda: last_widget(win, "assistant") is not None
              and len(last_widget(win, "assistant").text) > 20, 60)
    win.engine.worker.kill()
    reply = wait_reply_done(run, win, 20)
    assert reply.message.status == MessageStatus.INTERRUPTED
    assert reply.text  # the partial reply is kept
    banner = win.chat.error_banner
    assert banner.isVisibleTo(win)
    assert "engine stopped unexpectedly" in banner.text() and "SIGKILL" in banner.text()
    assert banner.details_button.isVisibleTo(win)
    qtbot.mouseClick(banner.details_button, Qt.MouseButton.LeftButton)
    assert banner.details.isVisibleTo(win)
    assert "Interrupted" in reply.marker.text()
    win.grab().save(str(screenshot_dir / "chat_worker_killed.png"))
    # the next send restarts the engine by itself
    set_sampling(win, max_tokens=12)
    type_and_send(qtbot, win, "Say OK.")
    assert not banner.isVisibleTo(win)
    nxt = wait_reply_done(run, win, 90)
    assert nxt.message.status == MessageStatus.COMPLETE and nxt.text.strip()
    assert win.engine.ready
