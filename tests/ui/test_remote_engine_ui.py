"""Add remote engine… in the model picker, against llama-cpp-python's own server on 127.0.0.1: the
dialog's Connect (a failure sentence, then the model list), the key kept out of the settings file,
the remote model in the picker, a streamed chat reply from it, and removing the engine."""

from __future__ import annotations

import pytest

from studio.core import paths
from studio.core.settings import load_settings
from tests.remote_servers import LLAMA_ALIAS, StandIn, free_port, start_llama_cpp_server
from tests.ui.conftest import set_sampling

pytestmark = pytest.mark.slow
KEY = "sk-ui-test-4242"


@pytest.fixture(scope="module")
def llama_server(starter_model, tmp_path_factory):
    server = start_llama_cpp_server(starter_model, tmp_path_factory.mktemp("llama-ui"))
    yield server
    server.stop()


@pytest.fixture()
def file_secrets(monkeypatch):
    monkeypatch.setenv("STUDIO_SECRETS", "file")


def _row_of(picker, data: str) -> int:
    return next((i for i in range(picker.count()) if picker.itemData(i) == data), -1)


def test_add_remote_engine_then_chat_with_it(qtbot, run, bare_window, llama_server, file_secrets, screenshot_dir,
                                            monkeypatch):
    win = bare_window
    picker = win.model_picker
    add_row = _row_of(picker, "__add_remote__")
    assert add_row >= 0 and picker.itemText(add_row) == "Add remote engine…"
    picker.setCurrentIndex(add_row)
    picker.activated.emit(add_row)
    dialog = win.remote_dialog
    assert dialog is not None and dialog.isVisible()
    assert "a file only you can read" in dialog.key_note.text()
    assert "never in the settings file" in dialog.key_note.text()

    # Nothing listens on this port: the dialog says so in one sentence, Save stays off.
    port = free_port()
    dialog.url.setText(f"127.0.0.1:{port}")
    qtbot.mouseClick(dialog.connect_button, qtbot_button())
    run.until(lambda: dialog.connect_button.isEnabled() and "Could not reach" in dialog.status.text(), 20)
    assert dialog.status.text() == (f"Could not reach http://127.0.0.1:{port}/v1: connection refused — "
                                    "is the server running?")
    assert not dialog.save_button.isEnabled()
    dialog.grab().save(str(screenshot_dir / "remote_engine_dialog_unreachable.png"))

    dialog.url.setText(llama_server.base_url)
    dialog.key.setText(KEY)
    qtbot.mouseClick(dialog.connect_button, qtbot_button())
    run.until(lambda: dialog.save_button.isEnabled(), 30)
    assert [dialog.model_list.item(i).text() for i in range(dialog.model_list.count())] == [LLAMA_ALIAS]
    assert "1 model(s)" in dialog.status.text()
    name = dialog.name.text()
    assert name == f"127.0.0.1:{llama_server.port}"
    dialog.name.setText("llama box")
    dialog.grab().save(str(screenshot_dir / "remote_engine_dialog_connected.png"))
    qtbot.mouseClick(dialog.save_button, qtbot_button())
    assert not dialog.isVisible()

    settings_text = paths.settings_path().read_text()
    assert "llama box" in settings_text and KEY not in settings_text
    assert win.remotes.key_of(win.remotes.get("llama box")) == KEY

    label = f"remote:llama box/{LLAMA_ALIAS}"
    row = _row_of(picker, label)
    assert row > 0 and picker.itemText(row) == f"{LLAMA_ALIAS}  (llama box)"
    assert any(picker.itemText(i) == "llama box (remote)" for i in range(row))
    picker.showPopup()
    qtbot.wait(200)
    picker.view().window().grab().save(str(screenshot_dir / "model_picker_remote.png"))
    picker.hidePopup()
    picker.setCurrentIndex(row)
    picker.activated.emit(row)
    session = win.chat.session
    assert session.remote is not None and session.remote.label == label and session.remote.api_key == KEY
    assert picker.currentData() == label
    run(win.refresh_models(), timeout=30)
    assert picker.currentData() == label  # a rescan of the library keeps the remote choice shown
    assert load_settings().chat_remote == label  # the next start answers with it again
    win.chat.use_remote(None)
    win.restore_chat_remote()
    assert session.remote is not None and session.remote.label == label
    assert win.chat.remote_label.isVisible() and "llama box" in win.chat.remote_label.text()
    assert win.chat.send_button.isEnabled()  # no local model is loaded, and none is needed

    set_sampling(win, max_tokens=24, n_ctx=2048, temperature=0.0, seed=1)
    win.chat.composer.setPlainText("Say hello in one short sentence.")
    qtbot.mouseClick(win.chat.send_button, qtbot_button())
    run.until(lambda: len(session.messages) == 2 and session.messages[-1].status.value == "complete", 60)
    reply = session.messages[-1]
    assert reply.content.strip() and reply.stats["engine"] == label
    assert not win.engine.worker.running  # the local engine was never started
    assert "tok/s" in win.chat.perf_label.text()
    qtbot.wait(300)  # the message list paints at most 25 times a second
    footers = win.chat.messages.findChildren(type(win.chat.remote_label), "MessageStats")
    assert any(f"via llama box/{LLAMA_ALIAS}" in f.text() for f in footers)
    assert session.conversation.model == label
    win.grab().save(str(screenshot_dir / "chat_remote_reply.png"))

    # An engine that stopped answering: its sentence in the chat; the picker still offers the local model.
    gone = free_port()
    win.remotes.put("gone", f"127.0.0.1:{gone}", "", models=["m"])
    win.use_remote_model("remote:gone/m")
    win.chat.composer.setPlainText("Are you there?")
    qtbot.mouseClick(win.chat.send_button, qtbot_button())
    run.until(lambda: win.chat.error_banner.isVisible(), 20)
    assert win.chat.error_banner.text() == (
        f"The remote engine did not answer: Could not reach http://127.0.0.1:{gone}/v1: connection refused — "
        "is the server running? Your local models stay available in the model picker.")
    assert session.messages[-1].status.value == "error"
    win.grab().save(str(screenshot_dir / "chat_remote_unreachable.png"))
    win.remotes.remove("gone")
    # The local model answers after the failure, picked like any library model.
    local_row = next(i for i in range(picker.count()) if str(picker.itemData(i)).endswith(".gguf"))
    picker.setCurrentIndex(local_row)
    picker.activated.emit(local_row)
    assert session.remote is None and not win.chat.remote_label.isVisible()
    run.until(lambda: win.engine.ready, 90)
    win.chat.composer.setPlainText("Say hello.")
    qtbot.mouseClick(win.chat.send_button, qtbot_button())
    run.until(lambda: session.messages[-1].role == "assistant" and session.messages[-1].status.value == "complete", 60)
    assert "engine" not in session.messages[-1].stats and session.conversation.model == win.engine.model_info.path
    win.use_remote_model(label)

    # Remove it: the chat goes back to the local engine and the picker forgets the engine.
    manage = _row_of(picker, "__manage_remotes__")
    picker.setCurrentIndex(manage)
    picker.activated.emit(manage)
    engines = win.remote_dialog
    assert engines.list.count() == 1 and "llama box" in engines.list.item(0).text()
    assert "key saved" in engines.list.item(0).text()
    qtbot.mouseClick(engines.edit_button, qtbot_button())
    editor = engines.editor
    assert editor.url.text() == llama_server.base_url and editor.key.text() == ""
    assert editor.key.placeholderText() == "leave empty to keep the saved key"
    editor.name.setText("llama lab")
    qtbot.mouseClick(editor.save_button, qtbot_button())
    assert "llama lab" in engines.list.item(0).text()
    assert win.remotes.key_of(win.remotes.get("llama lab")) == KEY  # renamed, key kept
    monkeypatch.setattr(engines, "confirm", lambda name: True)
    qtbot.mouseClick(engines.remove_button, qtbot_button())
    assert engines.list.count() == 0
    engines.accept()
    run.until(lambda: session.remote is None, 5)
    assert _row_of(picker, label) < 0 and _row_of(picker, f"remote:llama lab/{LLAMA_ALIAS}") < 0
    assert win.remotes.entries() == [] and win.remotes.secrets.get("remote-engine:llama lab") is None
    assert KEY not in paths.settings_path().read_text() and load_settings().chat_remote == ""
    assert not win.chat.remote_label.isVisible()


def test_the_thinking_switch_goes_to_a_remote_engine(qtbot, run, bare_window, screenshot_dir):
    """With a remote model the conversation's thinking switch stays usable and says the server's template
    decides; off, a server that refuses enable_thinking still answers and the chat says it has no switch."""
    server = StandIn(rejects={"chat_template_kwargs": 400})
    win = bare_window
    try:
        win.remotes.put("strict", server.base_url, "", models=["reasoner"])
        win.use_remote_model("remote:strict/reasoner")
        switch = win.chat.settings_panel.thinking
        assert win.chat.session.remote is not None and switch.isEnabled() and switch.isChecked()
        assert "the template decides whether the model thinks" in switch.toolTip()
        assert "enable_thinking false" in switch.toolTip()
        switch.click()
        assert win.chat.session.conversation.options["thinking"] is False

        win.chat.composer.setPlainText("What is 3 plus 5?")
        qtbot.mouseClick(win.chat.send_button, qtbot_button())
        session = win.chat.session
        run.until(lambda: len(session.messages) == 2 and session.messages[-1].status.value == "complete", 20)
        assert [("chat_template_kwargs" in body) for body in server.bodies] == [True, False]
        banner = win.chat.trimmed_banner
        assert banner.isVisible() and banner.text() == (
            f"{server.base_url} has no thinking switch (it refused enable_thinking), so its model thinks or not "
            "as the server decides.")
        qtbot.wait(300)
        win.grab().save(str(screenshot_dir / "chat_remote_no_thinking_switch.png"))
        win.use_remote_model("remote:strict/reasoner")  # picked again: the switch keeps its state and use
        assert switch.isEnabled() and not switch.isChecked()
    finally:
        server.stop()


def qtbot_button():
    from PySide6.QtCore import Qt
    return Qt.MouseButton.LeftButton
