"""The settings panel (presets, engine settings + Apply → reload) and follow-the-reply scrolling."""

from __future__ import annotations

import os
import signal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.exceptions import TimeoutError as WaitTimeout

from studio.core.chat.conversation import MessageStatus
from studio.core.engine.sampling import PRESETS
from studio.core.chat.session import SessionState
from studio.core.engine.client import EngineState, ModelInfo
from studio.core.settings import load_settings
from tests.ui.conftest import StreamGaps, set_sampling

pytestmark = pytest.mark.slow


def test_presets_and_per_conversation_settings(window):
    chat = window.chat
    panel = chat.settings_panel
    panel.preset.setCurrentIndex(panel.preset.findData("Creative"))
    panel.preset.activated.emit(panel.preset.currentIndex())
    panel.flush()
    saved = window.store.get_conversation(chat.session.conversation.id).sampling
    assert saved.temperature == PRESETS["Creative"].temperature and saved.top_k == PRESETS["Creative"].top_k
    assert saved.n_ctx == 2048  # a preset keeps the context length
    panel.temperature.setValue(0.33)
    assert panel.preset.currentData() == "__custom__"
    panel.system_prompt.setPlainText("Answer like a pirate.")
    panel.flush()
    first = window.store.get_conversation(chat.session.conversation.id)
    assert first.system_prompt == "Answer like a pirate." and first.sampling.temperature == 0.33
    chat.new_chat()  # a new chat starts from the current settings, then each keeps its own
    panel.temperature.setValue(0.9)
    panel.flush()
    chat.open_conversation(first.id)
    assert panel.temperature.value() == pytest.approx(0.33)
    assert panel.system_prompt.toPlainText() == "Answer like a pirate."


def test_engine_panel_hints(window):
    panel = window.chat.settings_panel
    info = ModelInfo(path="/x.gguf", name="x", architecture="llama", n_ctx=2048, n_ctx_train=8192, n_layers=30,
                     n_gpu_layers=0, n_threads=2, template_source="fallback",
                     template_note="this model has no chat template; using ChatML", backend="CPU",
                     gpu_offload_supported=False, load_ms=1.0)
    panel.set_model_info(info)
    assert not panel.template_note.isHidden() and "ChatML" in panel.template_note.text()
    assert not panel.gpu_hint.isHidden() and not panel.gpu_layers.isEnabled() and not panel.gpu_all.isEnabled()
    assert panel.engine_settings().n_gpu_layers == 0
    panel.set_model_info(ModelInfo(**{**info.__dict__, "template_source": "gguf", "gpu_offload_supported": True,
                                      "backend": "CUDA"}))
    assert panel.template_note.isHidden() and panel.gpu_hint.isHidden() and panel.gpu_all.isEnabled()
    assert panel.backend_label.text() == "CUDA"
    panel.gpu_all.setChecked(True)
    assert panel.engine_settings().n_gpu_layers == -1 and not panel.gpu_layers.isEnabled()
    panel.gpu_all.setChecked(False)
    panel.gpu_layers.setValue(12)
    assert panel.engine_settings().n_gpu_layers == 12


def test_apply_engine_settings_reloads_with_progress(qtbot, run, window):
    win = window
    panel = win.chat.settings_panel
    seen = []
    win.engine.subscribe("state", lambda state: seen.append((state, win._progress_action.isVisible(),
                                                             win._cancel_action.isVisible())))
    threads = 2 if win.engine.model_info.n_threads == 1 else 1
    panel.threads_auto.setChecked(False)
    panel.threads.setValue(threads)
    panel.batch.setValue(256)
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    run.until(lambda: win.engine.state == EngineState.READY and win.engine.model_info.n_threads == threads, 60)
    loading = [entry for entry in seen if entry[0] == EngineState.LOADING]
    assert loading and loading[0][1] and loading[0][2]  # progress bar and Cancel were shown
    assert not win._progress_action.isVisible()
    assert win.status_threads.text() == f"threads: {threads}"
    assert load_settings().engine.n_threads == threads and load_settings().engine.n_batch == 256


def test_long_reply_follows_unless_user_scrolled_up(qtbot, run, window):
    win = window
    chat = win.chat
    store = win.store
    cid = chat.session.conversation.id
    for i in range(8):
        store.add_message(cid, "user", f"Earlier question {i}")
        store.add_message(cid, "assistant", f"Earlier answer {i}. " * 6)
    chat.session.open(cid)
    set_sampling(win, max_tokens=300, temperature=0.9, seed=5)  # seeded: a long story, not an early stop
    bar = chat.messages.verticalScrollBar()
    stream_gaps = StreamGaps(chat.session)
    earlier = chat.session.messages[-1].id
    chat.composer.setPlainText("Tell me a long story about a lighthouse keeper.")
    qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
    # The new reply, not the earlier answer that is last until the send lands.
    run.until(lambda: chat.session.messages[-1].id > earlier and chat.session.messages[-1].role == "assistant"
              and len(chat.session.messages[-1].content) > 60, 60)
    qtbot.wait(100)
    assert bar.maximum() > 0 and bar.value() == bar.maximum()  # following the reply
    bar.setValue(0)  # the user scrolls up to read
    top_max = bar.maximum()
    shown = len(chat.session.messages[-1].content)
    run.until(lambda: bar.maximum() > top_max + 40 or chat.session.state == SessionState.IDLE, 60)
    # The reply must have kept growing below the reader, else leaving them at the top proves nothing.
    assert bar.maximum() > top_max + 40, f"the reply ended before growing ({shown} chars when scrolled up)"
    assert len(chat.session.messages[-1].content) > shown
    assert bar.value() == 0  # and the list leaves them there
    chat.stop()
    run.until(lambda: chat.session.state == SessionState.IDLE, 10)
    gaps = stream_gaps.stop()
    print(StreamGaps.summary(gaps))
    StreamGaps.assert_smooth(gaps)
    assert chat.session.messages[-1].status in (MessageStatus.STOPPED, MessageStatus.COMPLETE)
    chat.messages.scroll_to_bottom()
    assert chat.messages.stick_to_bottom


def test_copy_puts_message_on_clipboard(qtbot, window):
    chat = window.chat
    cid = chat.session.conversation.id
    window.store.add_message(cid, "user", "copy me 你好")
    chat.session.open(cid)
    widget = list(chat.messages.widgets.values())[-1]
    qtbot.mouseClick(widget.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "copy me 你好"


def test_cancel_load_keeps_the_previous_model_and_the_app_usable(qtbot, run, window):
    win = window
    engine = win.engine
    before = engine.model_info
    new_threads = 2 if before.n_threads == 1 else 1
    sent = []
    send_cancel = engine.worker.cancel

    async def recorded_cancel(call_id):
        await send_cancel(call_id)
        sent.append(call_id)

    engine.worker.cancel = recorded_cancel
    panel = win.chat.settings_panel
    panel.threads_auto.setChecked(False)
    panel.threads.setValue(new_threads)
    # Hold the worker still so the load is in flight when Cancel is pressed, as with a large model;
    # the small starter model would otherwise often finish first.
    pid = engine.worker.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
        run.until(lambda: engine._load_call is not None, 10)
        assert win._progress_action.isVisible() and win.cancel_load_button.isEnabled()
        qtbot.mouseClick(win.cancel_load_button, Qt.MouseButton.LeftButton)
        try:
            run.until(lambda: sent, 5)
        except WaitTimeout:
            pytest.fail("Cancel never reached the engine worker")
    finally:
        os.kill(pid, signal.SIGCONT)
    run.until(lambda: engine.state != EngineState.LOADING and not win.chat.busy, 30)
    assert "cancelled" in win.banner.text(), win.banner.text()
    assert not win._progress_action.isVisible()
    # The cancelled settings never reached a live model: the previous one is what the engine keeps.
    assert engine.model_info is before and engine.settings.n_threads != new_threads
    assert engine.worker.pid == pid  # cancelled in time, not ended as unresponsive
    chat = win.chat
    chat.composer.setPlainText("Say yes.")
    qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
    run.until(lambda: chat.session.state == SessionState.IDLE and chat.session.messages
              and chat.session.messages[-1].role == "assistant"
              and chat.session.messages[-1].status != MessageStatus.STREAMING, 90)
    reply = chat.session.messages[-1]
    assert reply.status == MessageStatus.COMPLETE and reply.content.strip()
    assert engine.ready and engine.model_info.n_threads == before.n_threads  # reloaded as it was


def test_prompt_lookup_switch_speeds_a_code_edit_and_the_reply_says_so(qtbot, run, window):
    win = window
    panel = win.chat.settings_panel
    panel.flash_attn.setChecked(False)
    assert not panel.prompt_lookup.isEnabled() and "flash attention" in panel.prompt_lookup.toolTip()
    panel.flash_attn.setChecked(True)
    assert panel.prompt_lookup.isEnabled() and panel.prompt_lookup.isChecked()  # on by default
    panel.threads_auto.setChecked(False)
    panel.threads.setValue(1)  # greedy replies draft with one generation thread (exact there on any CPU)
    states = []
    win.engine.subscribe("state", lambda state: states.append(state))
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    run.until(lambda: EngineState.LOADING in states and win.engine.state == EngineState.READY, 60)
    assert load_settings().engine.flash_attn and load_settings().engine.prompt_lookup
    set_sampling(win, "Precise", max_tokens=160)
    code = "".join(f"def scale_{i}(values):\n    total = 0\n    for v in values:\n        total += v * {i}\n"
                   f"    return total\n" for i in range(8))
    win.chat.composer.setPlainText(f"Here is a Python file:\n```python\n{code}```\n"
                                   "Rename the variable `total` to `acc` and return the whole file.")
    qtbot.mouseClick(win.chat.send_button, Qt.MouseButton.LeftButton)
    messages = win.chat.session.messages
    run.until(lambda: len(messages) >= 2 and messages[-1].status == MessageStatus.COMPLETE
              and win.chat.session.state == SessionState.IDLE, 120)
    reply = win.chat.session.messages[-1]
    assert reply.stats["drafted"] > 0  # how many are kept depends on the clock: busy cores make batches not pay
    label = win.chat.messages.widgets[reply.id].stats_label.text()
    assert ("by prompt lookup" in label) == (reply.stats["accepted"] > 0)
    cid = win.chat.session.conversation.id
    saved = win.store.add_message(cid, "assistant", "def f(): pass", stats={
        "tokens": 40, "tokens_per_s": 50.0, "ttft_ms": 90, "drafted": 20, "accepted": 12})
    win.chat.session.open(cid)
    assert win.chat.messages.widgets[saved.id].stats_label.text() == "40 tokens · 50.0 tok/s · TTFT 90 ms · 12 by prompt lookup"
    panel.prompt_lookup.setChecked(False)
    assert panel.engine_settings().prompt_lookup is False  # Apply keeps the user's choice
