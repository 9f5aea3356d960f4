"""The window opens on damaged user files, says what happened, and gets the user's chats back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from studio.core.chat.store import ChatStore
from studio.core.chat.store_recovery import open_chat_store
from tests.core.test_store_damage import PAGE, populate

REPO = Path(__file__).resolve().parents[2]

_APP = (
    "import sys\n"
    "from studio.ui import main_window\n"
    "windows = []\n"
    "original = main_window.MainWindow.__init__\n"
    "def init(self, *a, **k):\n"
    "    original(self, *a, **k)\n"
    "    windows.append(self)\n"
    "main_window.MainWindow.__init__ = init\n"
    "from studio.ui.app import run_app\n"
    "rc = run_app(['studio'])\n"
    "w = windows[0]\n"
    "print('STORE', w.store_banner.isVisibleTo(w), w.store_banner.text(), flush=True)\n"
    "print('BUTTONS', [b.text() for b in w.store_banner.action_buttons()], flush=True)\n"
    "print('SETTINGS', w.settings_banner.isVisibleTo(w), w.settings_banner.text(), flush=True)\n"
    "sys.exit(rc)\n"
)


def test_the_app_starts_on_a_damaged_chat_database_and_bad_settings(tmp_path):
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "config").mkdir(parents=True)
    chats = home / "data" / "chats.sqlite3"
    chats.write_bytes(b"my notes, saved over the chat file by mistake\n" * 20)
    chat_bytes = chats.read_bytes()
    settings = home / "config" / "settings.json"
    settings.write_text(json.dumps({"window_geometry": 12, "engine": {"n_gpu_layers": "lots", "n_batch": 256},
                                    "last_model": "/models/mine.gguf"}), encoding="utf-8")
    settings_bytes = settings.read_bytes()
    env = {**os.environ, "STUDIO_HOME": str(home), "STUDIO_EXIT_AFTER_SHOW": "1", "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", _APP], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in proc.stdout.splitlines() if " " in line}

    (kept,) = [p for p in (home / "data").iterdir() if ".damaged-" in p.name and p.suffix != ".sqlite3-wal"
               and not p.name.endswith(("-wal", "-shm"))]
    assert kept.read_bytes() == chat_bytes  # every byte of the user's file is still there
    assert lines["STORE"].startswith("True ") and "not an SQLite database" in lines["STORE"]
    assert str(kept) in lines["STORE"]
    assert "Recover chats" in lines["BUTTONS"]

    assert lines["SETTINGS"].startswith("True ")
    assert "window_geometry" in lines["SETTINGS"] and "engine.n_gpu_layers" in lines["SETTINGS"]
    (backup,) = (home / "config").glob("settings.json.bad-*")
    assert backup.read_bytes() == settings_bytes
    saved = json.loads(settings.read_text(encoding="utf-8"))  # written on exit, the good fields kept
    assert saved["last_model"] == "/models/mine.gguf" and saved["engine"]["n_batch"] == 256
    with ChatStore(chats) as store:  # the fresh database the app created works
        assert store.schema_version >= 2


def test_recover_chats_brings_back_the_conversations_into_the_sidebar(qtbot, run, studio_home, tmp_path):
    from studio.core.engine.client import EngineClient
    from studio.core.models.library import ModelLibrary
    from studio.core.settings import AppSettings
    from studio.ui.main_window import MainWindow

    path = tmp_path / "chats.sqlite3"
    texts = populate(path, conversations=6, messages=4)
    data = bytearray(path.read_bytes())
    offset = (len(data) * 2 // 3) // PAGE * PAGE
    data[offset:offset + PAGE] = b"\x00\xff" * (PAGE // 2)
    path.write_bytes(bytes(data))

    store = open_chat_store(path)
    settings = AppSettings()
    win = MainWindow(settings, store, EngineClient(settings.engine), ModelLibrary())
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    try:
        assert win.store_banner.isVisible() and "moved to" in win.store_banner.text()
        assert win.chat.sidebar.list.count() == 1  # the fresh store's first conversation
        (recover,) = [b for b in win.store_banner.action_buttons() if b.text() == "Recover chats"]
        recover.click()
        assert "Recovered" in win.store_banner.text() and "kept there unchanged" in win.store_banner.text()
        # Recovering twice would duplicate every chat: the action is gone once it has run.
        assert [b.text() for b in win.store_banner.action_buttons() if b.isVisibleTo(win)] == ["Open folder"]
        titles = {win.chat.sidebar.list.item(i).text() for i in range(win.chat.sidebar.list.count())}
        assert {f"Conversation {n}" for n in range(1, 7)} <= titles
        # One page of rows is lost at most; a whole surviving conversation opens with its own messages.
        whole = [c for c in store.list_conversations() if len(store.messages(c.id)) == 4]
        assert len(whole) >= 4
        win.chat.open_conversation(whole[0].id)
        assert [m.content for m in win.chat.session.messages] == texts[int(whole[0].title.split()[-1])]
        assert store.notice.kept.read_bytes() == bytes(data)
        screenshots = os.environ.get("STUDIO_SCREENSHOT_DIR")
        if screenshots:
            qtbot.wait(300)
            win.grab().save(str(Path(screenshots) / "store_recovered.png"))
    finally:
        run(win.shutdown(), timeout=30)
        win.close()
        win.deleteLater()


def test_a_failed_resume_of_a_completed_run_is_not_shown_as_a_failed_run(qtbot):
    from studio.ui.finetune.train_panel import TrainPanel

    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.finish({"state": "failed", "resume_failed": True, "run_state": "completed", "resumable": False,
                  "error": "checkpoint step-3 is damaged (adapter_model.safetensors: truncated)",
                  "suggestion": "start a new run with: studio train RUN/config.json --out RUN-2"})
    assert panel.stage.text() == "Could not resume; the run is unchanged (completed)."
    assert "step-3 is damaged" in panel.banner.text() and "--out RUN-2" in panel.banner.text()
    assert panel.banner.level == "warning" and "Training failed" not in panel.banner.text()
    panel.finish({"state": "completed", "already_complete": True, "step": 3, "total_steps": 3,
                  "message": "run-1 is already complete (step 3/3): nothing to resume"})
    assert panel.stage.text().startswith("run-1 is already complete") and panel.progress.value() == 1000
