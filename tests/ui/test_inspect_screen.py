"""The Inspect screen inside the main window: built on first show, one model picked at the top for
all three views, the prompt carried between them, and no torch in the window's process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ZH_PROMPT = "天空为什么是蓝色的？Why is the sky blue?"


def test_inspect_is_built_on_first_show_and_torch_stays_out_of_the_window(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from studio.core.chat.store import ChatStore\n"
        "from studio.core.engine.client import EngineClient\n"
        "from studio.ui.main_window import MainWindow\n"
        "from studio.core.settings import load_settings\n"
        "win = MainWindow(load_settings(), ChatStore(sys.argv[1]), EngineClient())\n"
        "win.show()\n"
        "heavy = ('studio.ui.inspect.view', 'studio.core.inspect.tokens', 'numpy', 'torch')\n"
        "print('BEFORE', [m for m in heavy if m in sys.modules])\n"
        "win.screen_actions[2].trigger()\n"
        "print('AFTER', win.inspect is not None, win.tabs.currentWidget() is win.inspect_host,\n"
        "      'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.sqlite3")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "BEFORE []" in proc.stdout, proc.stdout
    assert "AFTER True True False False" in proc.stdout, proc.stdout


def test_one_model_for_all_views_and_the_prompt_follows_the_user(run, bare_window, starter_model, tmp_path,
                                                                 screenshot_dir):
    win = bare_window
    win.tabs.setCurrentWidget(win.inspect_host)
    view = win.inspect
    assert view is not None
    # The library's starter is offered and picked; every view got it.
    assert Path(view.model_path()).resolve() == Path(starter_model).resolve()
    picked = view.model_path()
    assert view.tokens_view.model_path == view.attention_view.model == view.next_view.model == picked

    view.tokens_view.editor.setPlainText(ZH_PROMPT)
    run.until(lambda: view.tokens_view.tokenized is not None
              and view.tokens_view.tokenized.text == ZH_PROMPT, timeout=30)
    assert view.tokens_view.tokenized.n_tokens > 5
    # Going to Next token starts from the same prompt; a view with its own text keeps it.
    view.sections.setCurrentWidget(view.next_view)
    assert view.next_view.editor.toPlainText() == ZH_PROMPT
    view.attention_view.editor.setPlainText("The cat sat")
    view.sections.setCurrentWidget(view.attention_view)
    assert view.attention_view.editor.toPlainText() == "The cat sat"

    # A model file picked by path (not in the library) is added to the list and reaches the views.
    outside = tmp_path / "elsewhere" / "copy.gguf"
    outside.parent.mkdir()
    try:  # a second path to the same bytes (the combo keeps one entry per real path)
        os.link(os.path.realpath(starter_model), outside)
    except OSError:
        shutil.copyfile(starter_model, outside)
    view.set_model(str(outside))
    assert view.model_path() == str(outside)
    assert view.tokens_view.model_path == view.attention_view.model == view.next_view.model == str(outside)

    view.sections.setCurrentWidget(view.tokens_view)
    run.until(lambda: not view.tokens_view.busy, timeout=30)
    win.grab().save(str(screenshot_dir / "inspect_window.png"))


def test_a_chat_reply_opens_in_tokens_with_the_chats_model(qtbot, run, window, screenshot_dir):
    from tests.ui.test_chat_flow import last_widget, type_and_send, wait_reply_done

    win = window
    type_and_send(qtbot, win, "用一句话介绍你自己。")
    reply = wait_reply_done(run, win)
    assert reply.inspect_button.isVisible()
    win.grab().save(str(screenshot_dir / "chat_message_tokens_button.png"))
    reply.inspect_button.click()
    view = win.inspect
    assert win.tabs.currentWidget() is win.inspect_host and view.sections.currentWidget() is view.tokens_view
    assert Path(view.model_path()).resolve() == Path(win.engine.model_info.path).resolve()
    run.until(lambda: view.tokens_view.tokenized is not None and view.tokens_view.tokenized.text == reply.text,
              timeout=30)
    # The same ids the engine itself gives for that text.
    engine_ids = run(win.engine.tokenize(reply.text, add_special=False))["ids"]
    shown = view.tokens_view.tokenized
    assert [i for i, k in zip(shown.ids, shown.kinds) if k != "added"] == engine_ids
    assert not last_widget(win, "user").inspect_button.isHidden()  # a user message has it too
    win.grab().save(str(screenshot_dir / "inspect_chat_reply_tokens.png"))


def test_free_torch_model_gives_the_analysers_memory_back(qtbot, run, starter_model, dequantized_starter):
    import psutil

    from studio.core.engine.client import EngineClient
    from studio.core.workspace import Workspace
    from studio.ui.inspect.view import InspectView

    engine = EngineClient()
    view = InspectView(Workspace(engine))
    qtbot.addWidget(view)
    try:
        view.set_model(str(starter_model))
        assert view.unload_button.isHidden()
        run(view.analyser.load(str(starter_model)), timeout=120)
        pid = view.analyser.pid
        assert not view.unload_button.isHidden() and pid is not None
        view.unload_button.click()
        run.until(lambda: view.unload_button.isHidden() and not psutil.pid_exists(pid), timeout=30)
        assert view.analyser.loaded is None
    finally:
        run(view.shutdown(), timeout=30)
        run(engine.close(), timeout=30)


def test_a_text_file_dropped_on_inspect_opens_in_tokens(run, bare_window, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from tests.ui.conftest import drag_enter_event

    win = bare_window
    win.screen_actions[2].trigger()
    view = win.inspect
    view.sections.setCurrentWidget(view.next_view)
    text_file = tmp_path / "notes.txt"
    text_file.write_bytes("第一行：注意力。\nSecond line.\n".encode("gb18030"))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text_file))])
    enter = drag_enter_event(300, 300, mime)
    win.dragEnterEvent(enter)
    assert enter.isAccepted() and "notes.txt" in win.drop_overlay.text and "token" in win.drop_overlay.text
    win.dropEvent(QDropEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier))
    assert view.sections.currentWidget() is view.tokens_view and win.tabs.currentWidget() is win.inspect_host
    run.until(lambda: view.tokens_view.editor.toPlainText() == "第一行：注意力。\nSecond line.\n", timeout=30)
    assert win.finetune is None  # nothing went to Fine-tune
