"""kill -9 of the app mid-reply loses nothing: the partial reply is there on reopen, marked
interrupted, and the orphaned engine worker goes away on its own."""

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


def test_sigkill_mid_reply_keeps_partial_reply(starter_model, tmp_path):
    db = tmp_path / "chats.sqlite3"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    app = subprocess.Popen([sys.executable, "-u", "-m", "tests.core._chat_app", str(db), str(starter_model)],
                           stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    worker_pid, last = None, (0, 0)
    deadline = time.monotonic() + 240
    try:
        for line in app.stdout:
            if line.startswith("worker "):
                worker_pid = int(line.split()[1])
                continue
            message_id, length = map(int, line.split())
            last = (message_id, length)
            if length >= 80 or time.monotonic() > deadline:
                break
        app.send_signal(signal.SIGKILL)
        app.wait(timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
    assert last[1] >= 80, "the reply never streamed"

    store = ChatStore(db)
    try:
        (conversation,) = store.list_conversations()
        messages = store.messages(conversation.id)
        assert [m.role for m in messages] == ["user", "assistant"]
        reply = messages[1]
        assert reply.id == last[0]
        assert len(reply.content) >= last[1]  # everything the app had shown was on disk
        assert reply.status == MessageStatus.INTERRUPTED
    finally:
        store.close()

    # The worker loses its stdin with the app and exits instead of lingering.
    for _ in range(100):
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker_pid, signal.SIGKILL)
        pytest.fail("the engine worker outlived the killed app")
