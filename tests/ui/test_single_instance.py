"""One app at a time: a second launch hands its files to the running window and exits, without
touching the chat database; a killed instance's socket does not block the next start; another
STUDIO_HOME is another instance; a hung window is reported, not shared."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from studio.ui.single_instance import (
    Handoff,
    InstanceServer,
    claim,
    decode,
    encode,
    send,
    server_name,
)

REPO = Path(__file__).resolve().parents[2]


# -- in-process: the message and the server ------------------------------------------------------
def test_message_round_trip_and_bad_messages():
    assert decode(encode(["/a/b.gguf", "/c d.jsonl"]).rstrip(b"\n")) == (["/a/b.gguf", "/c d.jsonl"], True)
    assert decode(b'{"activate": false}') == ([], False)
    for bad in (b"[1]", b'{"open": "x"}', b'{"open": [1]}', b"not json"):
        with pytest.raises(ValueError):
            decode(bad)


def test_server_name_depends_on_the_data_folder(tmp_path):
    a, b = tmp_path / "a" / "data", tmp_path / "b" / "data"
    assert server_name(a) == server_name(a) != server_name(b)
    assert len(server_name(a)) < 40  # a Unix socket path has ~100 bytes


def test_server_emits_the_paths_and_answers(qtbot, tmp_path):
    name = server_name(tmp_path / "data")
    server = InstanceServer(name)
    assert server.listen()
    received = []
    server.open_requested.connect(lambda paths, activate: received.append((paths, activate)))
    try:
        client = QLocalSocket()
        client.connectToServer(name)
        qtbot.waitUntil(lambda: client.state() == QLocalSocket.LocalSocketState.ConnectedState, timeout=3000)
        message = encode(["/x/model.gguf", "/x/data.jsonl"])
        client.write(message[:7])  # a message may arrive in pieces
        client.flush()
        qtbot.wait(50)
        client.write(message[7:] + b"nonsense\n")
        client.flush()
        answers = []

        def read():
            answers.extend(bytes(client.readAll().data()).splitlines())
            return len(answers) >= 2

        qtbot.waitUntil(read, timeout=3000)
        assert received == [(["/x/model.gguf", "/x/data.jsonl"], True)]
        assert json.loads(answers[0]) == {"ok": True}
        assert json.loads(answers[1])["ok"] is False
        client.abort()
    finally:
        server.close()


def test_a_listening_server_that_never_answers_is_reported(tmp_path):
    """No event loop runs while send() waits, so this server accepts but never answers: a hung window."""
    name = server_name(tmp_path / "data")
    server = QLocalServer()
    assert server.listen(name)
    try:
        started = time.monotonic()
        assert send(name, ["/x/model.gguf"], ack_timeout_ms=300) is Handoff.NO_ANSWER
        assert time.monotonic() - started < 3
        handoff, instance = claim(tmp_path / "data", [], ack_timeout_ms=300)
        assert (handoff, instance) == (Handoff.NO_ANSWER, None)
    finally:
        server.close()


def test_nobody_listening_means_first(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    assert send(server_name(data), []) is None
    handoff, instance = claim(data, [])
    try:
        assert handoff is Handoff.FIRST and instance is not None
        assert send(server_name(data), [], ack_timeout_ms=200) is Handoff.NO_ANSWER  # no loop runs here
    finally:
        instance.close()


def test_a_starting_first_instance_makes_later_launches_wait_until_it_listens(tmp_path):
    """The app claims before its window and listens after it: in between, the lock holds later launches."""
    data = tmp_path / "data"
    data.mkdir()
    handoff, first = claim(data, [], listen_later=True)
    try:
        assert handoff is Handoff.FIRST and first is not None and first.server is None  # no QtNetwork yet
        assert send(server_name(data), []) is None  # not listening yet...
        started = time.monotonic()
        # ...so another launch waits on the lock, and one that waits too long is told the window is not answering
        assert claim(data, ["/x/model.gguf"], lock_wait_ms=300) == (Handoff.NO_ANSWER, None)
        assert time.monotonic() - started >= 0.25
        assert first.listen()
        # Listening released the lock: a launch now reaches the server at once (no event loop runs here to answer)
        started = time.monotonic()
        assert claim(data, [], ack_timeout_ms=200, lock_wait_ms=5000) == (Handoff.NO_ANSWER, None)
        assert time.monotonic() - started < 2
    finally:
        first.close()
    handoff, again = claim(data, [])  # closed: the next launch is first
    assert handoff is Handoff.FIRST
    again.close()


# -- real processes ------------------------------------------------------------------------------
class App:
    """The real app (`python -m studio`), offscreen, printing `OPEN [...]` for files that reach it."""

    def __init__(self, home: Path, models: Path, *args: str) -> None:
        env = {**os.environ, "STUDIO_HOME": str(home), "STUDIO_MODELS_DIR": str(models), "QT_QPA_PLATFORM": "offscreen",
               "STUDIO_TEST_REPORT_OPEN": "1", "STUDIO_STARTUP_REPORT": "1", "PYTHONPATH": str(REPO)}
        env.pop("STUDIO_EXIT_AFTER_SHOW", None)
        self.proc = subprocess.Popen([sys.executable, "-u", "-m", "studio", *args], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, f"the app exited ({self.proc.returncode}): {self.seen[-20:]}"
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no {prefix!r} within {timeout} s: {self.seen[-20:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=10)


def launch(home: Path, models: Path, *args: str, code: str | None = None, timeout: float = 30):
    env = {**os.environ, "STUDIO_HOME": str(home), "STUDIO_MODELS_DIR": str(models), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(REPO), "STUDIO_EXIT_AFTER_SHOW": "1", "STUDIO_STARTUP_REPORT": "1"}
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "studio", *args]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started


def db_holders(db: Path) -> set[int]:
    """Processes with the chat database open (Linux /proc)."""
    holders = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                if os.readlink(fd) == str(db):
                    holders.add(int(fd_dir.parent.name))
                    break
        except OSError:
            continue
    return holders


# The second launch through the CLI in-process, reporting whether it got as far as the chat store.
SECOND = """
import sys
from studio.cli import main
rc = main(sys.argv[1:])
print("STORE", "studio.core.chat.store" in sys.modules, "ENGINE", "studio.core.engine.client" in sys.modules)
sys.exit(rc)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and sends POSIX signals")
def test_second_launch_hands_files_to_the_running_app(tmp_path, starter_model):
    home, other_home, models = tmp_path / "home", tmp_path / "other", tmp_path / "models"
    models.mkdir()  # no model: the first window starts empty, fast
    dataset = tmp_path / "data.jsonl"
    dataset.write_text('{"text": "hello"}\n', encoding="utf-8")
    db = home / "data" / "chats.sqlite3"

    first = App(home, models)
    try:
        first.wait_for("startup: window shown")
        # `python -m studio FILE`: exits 0 at once, and the running window gets the absolute path.
        proc, took = launch(home, models, str(starter_model))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert took < 10 and "window shown" not in proc.stderr
        assert json.loads(first.wait_for("OPEN ")[5:]) == [str(starter_model)]
        # A relative dataset path through the CLI: handed over absolute; no store, no engine here.
        proc, _ = launch(home, models, "data.jsonl", code=SECOND)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "STORE False ENGINE False" in proc.stdout
        # (cwd is the repository: the relative name resolves there, and the window says it is missing)
        assert json.loads(first.wait_for("OPEN ")[5:]) == [str(REPO / "data.jsonl")]
        proc, _ = launch(home, models, str(dataset), code=SECOND)
        assert proc.returncode == 0 and json.loads(first.wait_for("OPEN ")[5:]) == [str(dataset)]
        # No file: the running window is brought forward, nothing opens, nothing starts.
        proc, _ = launch(home, models, code=SECOND)
        assert proc.returncode == 0 and "STORE False" in proc.stdout
        assert db_holders(db) == {first.proc.pid}  # one writer of the chat database

        # Another STUDIO_HOME is another app: it shows its own window (and exits, as told).
        proc, _ = launch(other_home, models, str(dataset))
        assert proc.returncode == 0 and "startup: window shown" in proc.stderr, proc.stderr[-2000:]
        assert (other_home / "data" / "chats.sqlite3").is_file()

        # A hung window: the next launch says so and fails instead of opening the same database.
        first.proc.send_signal(signal.SIGSTOP)
        proc, took = launch(home, models, str(dataset))
        assert proc.returncode != 0 and "not answer" in proc.stderr and "window shown" not in proc.stderr
        assert took < 15
    finally:
        first.kill()  # SIGKILL: its socket file stays behind

    # The killed instance's socket does not block a new start; the new one takes hand-offs.
    again = App(home, models)
    try:
        again.wait_for("startup: window shown")
        proc, _ = launch(home, models, str(dataset))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads(again.wait_for("OPEN ")[5:]) == [str(dataset)]
    finally:
        again.kill()


# -- the window's end: handed files open like dropped ones ---------------------------------------
def test_handed_files_open_like_drops_and_bad_paths_get_a_sentence(qtbot, bare_window, tmp_path):
    win = bare_window
    dataset = tmp_path / "chat.jsonl"
    dataset.write_text('{"text": "hello"}\n', encoding="utf-8")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    win.open_files([str(tmp_path / "gone.gguf"), str(tmp_path), str(tmp_path / "notes.pdf"), str(dataset)])
    assert win.tabs.currentWidget() is win.finetune_host  # the dataset went to Fine-tune
    text = win.banner.text()
    assert "gone.gguf was not found" in text and "is a folder" in text and "notes.pdf cannot be opened here" in text
    win.banner.dismiss()
    win.open_files([str(tmp_path / "nope.jsonl")])  # nothing usable: an error, never a crash
    assert "nope.jsonl was not found" in win.banner.text()
    win.open_files([])  # just brings the window forward
