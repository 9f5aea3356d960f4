"""The chat store keeps every committed token when the app is killed mid-reply (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.store import ChatStore
from tests.core._store_writer import token  # the child's token stream, to rebuild the text

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

MIN_COMMITS = 200


def _expected_text(length: int) -> str:
    text, i = "", 0
    while len(text) < length:
        text += token(i)
        i += 1
    return text


@pytest.mark.timeout(120)
def test_sigkill_mid_stream_keeps_every_committed_token(tmp_path):
    db = tmp_path / "chats.sqlite3"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "_store_writer.py"), str(db), "1000000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env)
    try:
        ready = child.stdout.readline().split()
        assert ready and ready[0] == "ready", f"writer did not start: {ready} {child.stderr.read() if child.poll() is not None else ''}"
        conversation_id, message_id = int(ready[1]), int(ready[2])
        reported = []
        while len(reported) < MIN_COMMITS:
            line = child.stdout.readline()
            assert line.endswith("\n"), f"writer ended early: {child.stderr.read()}"
            reported.append(int(line))
        child.kill()  # SIGKILL on POSIX: no atexit, no close(), no checkpoint
        # Lengths the child printed before dying were committed too: the check covers them all.
        reported += [int(line) for line in child.stdout.read().splitlines(keepends=True)
                     if line.endswith("\n") and line.strip().isdigit()]
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    if os.name == "posix":
        assert child.returncode == -9
    assert reported == sorted(reported) and len(reported) >= MIN_COMMITS
    last_reported = reported[-1]
    print(f"\nchild committed {len(reported)} tokens ({last_reported} chars) before SIGKILL")

    assert db.with_name(db.name + "-wal").stat().st_size > 0  # the kill left a WAL to recover from
    with ChatStore(db) as store:
        message = store.get_message(message_id)
        assert message.conversation_id == conversation_id and message.role == "assistant"
        assert message.status == MessageStatus.INTERRUPTED
        assert len(message.content) >= last_reported
        assert message.content == _expected_text(len(message.content))[:len(message.content)]
        assert message.content.endswith(" ")  # whole tokens only: each update is one transaction
        # The interrupted partial reply is searchable after the reopen.
        assert any(hit.message_id == message_id for hit in store.search("tok151"))
        assert [m.role for m in store.messages(conversation_id)] == ["user", "assistant"]


def test_update_message_rate(tmp_path):
    """Streaming writes must keep up with a fast model (~1000 tokens/s); > 300/s catches pathologies."""
    with ChatStore(tmp_path / "chats.sqlite3") as store:
        conversation = store.create_conversation()
        reply = store.add_message(conversation.id, "assistant", "", status=MessageStatus.STREAMING)
        content, n = "", 3000
        started = time.perf_counter()
        for i in range(n):
            content += token(i)
            store.update_message(reply.id, content=content)
        elapsed = time.perf_counter() - started
        store.update_message(reply.id, status=MessageStatus.COMPLETE)
        rate = n / elapsed
        print(f"\nupdate_message: {rate:,.0f} commits/s ({n} tokens, final reply {len(content):,} chars)")
        assert store.get_message(reply.id).content == content
        assert rate > 300
