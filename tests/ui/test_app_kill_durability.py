"""kill -9 of the real app mid-reply loses nothing: on reopen the reply holds every token the window
had shown, marked interrupted, and the orphaned engine worker goes away on its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.store import ChatStore

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

# The real entry point (run_app, offscreen); once the starter model is loaded, ask for a long reply
# through the settings panel and the composer, and print each streamed state of it as JSON.
APP = """
import json, sys
from studio.ui import main_window

original = main_window.MainWindow.startup

async def startup(self):
    await original(self)
    panel = self.chat.settings_panel
    panel.max_tokens.setValue(900)
    panel.temperature.setValue(0.9)
    panel.seed.setValue(11)
    panel.flush()
    session = self.chat.session
    widgets = self.chat.messages.widgets

    def shown(message, delta):
        if message.role == "assistant" and message.id in widgets:
            print("SHOWN", json.dumps([message.id, widgets[message.id].text]), flush=True)

    session.subscribe("message_updated", shown)
    print("WORKER", self.engine.worker.pid, flush=True)
    self.chat.composer.setPlainText("Write a very long story about a lighthouse keeper.")
    self.chat.send()

main_window.MainWindow.startup = startup
from studio.ui.app import run_app
sys.exit(run_app(["studio"]))
"""


def test_sigkill_of_the_app_mid_reply_keeps_what_was_shown(starter_model, tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "STUDIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    env.pop("STUDIO_EXIT_AFTER_SHOW", None)
    app = subprocess.Popen([sys.executable, "-u", "-c", APP], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    worker_pid, shown = None, (0, "")
    deadline = time.monotonic() + 180
    try:
        for line in app.stdout:
            if line.startswith("WORKER "):
                worker_pid = int(line.split()[1])
            elif line.startswith("SHOWN "):
                shown = tuple(json.loads(line[6:]))
                if len(shown[1]) >= 200:
                    break
            if time.monotonic() > deadline:
                break
        app.send_signal(signal.SIGKILL)
        app.wait(timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
    assert worker_pid and len(shown[1]) >= 200, f"the reply never streamed far (shown: {shown!r})"

    store = ChatStore(home / "data" / "chats.sqlite3")
    try:
        messages = store.messages(store.list_conversations()[0].id)
        assert [m.role for m in messages] == ["user", "assistant"]
        reply = messages[1]
        assert reply.id == shown[0]
        assert reply.content.startswith(shown[1])  # every token the window had shown is on disk
        assert reply.status == MessageStatus.INTERRUPTED
    finally:
        store.close()

    # The worker loses its stdin with the app and exits instead of lingering.
    for _ in range(100):
        if not _alive(worker_pid):
            break
        time.sleep(0.1)
    else:
        os.kill(worker_pid, signal.SIGKILL)
        pytest.fail("the engine worker outlived the killed app")


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
