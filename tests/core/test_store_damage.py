"""The chat store under damage: it never locks the user out, never writes into a damaged file, keeps
every byte of it, and gets back what SQLite can still read (real files, real second processes)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.session import ChatSession
from studio.core.engine.client import EngineClient
from studio.core.chat.store import ChatStore, StoreDamaged, check_database_file
from studio.core.chat.store_recovery import move_aside, open_chat_store, recover, repair
from tests.core.test_store_durability import _expected_text  # the writer child's token stream

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PAGE = 4096


def populate(path: Path, conversations: int = 12, messages: int = 16, size: int = 300) -> dict[int, list[str]]:
    """Conversations whose messages carry a findable marker; returns {conversation id: texts}."""
    texts: dict[int, list[str]] = {}
    with ChatStore(path) as store:
        for c in range(conversations):
            conversation = store.create_conversation(title=f"Conversation {c + 1}")
            texts[conversation.id] = []
            for m in range(messages):
                text = f"MARK-{conversation.id}-{m} " + ("数据 lorem ipsum " * size)[: size * 2]
                store.add_message(conversation.id, "user" if m % 2 == 0 else "assistant", text)
                texts[conversation.id].append(text)
    return texts


def side_files(path: Path) -> list[Path]:
    return [p for p in path.parent.iterdir() if p.name.startswith(path.name)]


def kept_copy(folder: Path, name: str = "chats.sqlite3") -> Path:
    (kept,) = [p for p in folder.iterdir() if ".damaged-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    return kept


# -- 1. the app always opens -------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "text_file", "page_overwritten"])
def test_a_damaged_file_is_moved_aside_kept_byte_for_byte_and_recoverable(tmp_path, damage):
    path = tmp_path / "chats.sqlite3"
    texts = populate(path)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "text_file":
        data = bytearray("这不是数据库 — just some notes the user saved over it\n".encode() * 40)
    else:
        offset = (len(data) // 2) // PAGE * PAGE
        data[offset:offset + PAGE] = bytes(range(256)) * (PAGE // 256)
    path.write_bytes(bytes(data))

    store = open_chat_store(path)  # never raises
    try:
        notice = store.notice
        assert notice is not None and notice.kind == "damaged" and notice.can_recover
        assert notice.kept is not None and notice.kept.read_bytes() == bytes(data)  # not one byte changed
        assert str(notice.kept) in notice.message and "kept unchanged" in notice.message
        if damage == "text_file":
            assert "not an SQLite database" in notice.message
        if damage == "truncated":
            assert "truncated" in notice.message
        # The app runs on a fresh store at the same path, and it is writable.
        assert store.list_conversations() == []
        fresh = store.create_conversation(title="After the damage")
        store.add_message(fresh.id, "user", "still works")

        report = recover(store, notice.kept)
        assert notice.kept.read_bytes() == bytes(data)  # recovery reads a copy
        recovered = {m.content for c in store.list_conversations() for m in store.messages(c.id)}
        original = {t for ts in texts.values() for t in ts}
        if damage == "text_file":
            assert report.messages == 0
        elif damage == "page_overwritten":
            # One page of ~70 lost at most a page's worth of rows; everything else is back, verbatim.
            assert len(recovered & original) >= len(original) - 8
            assert recovered <= original | {"still works"}
        else:
            assert len(recovered & original) >= len(original) // 3
            assert recovered <= original | {"still works"}
        assert "still works" in recovered
        assert f"Recovered {report.conversations} conversation" in report.summary()
    finally:
        store.close()


def test_a_healthy_store_opens_without_a_notice_and_without_moving_anything(tmp_path):
    path = tmp_path / "chats.sqlite3"
    populate(path, conversations=2, messages=2)
    store = open_chat_store(path)
    try:
        assert store.notice is None and len(store.list_conversations()) == 2
        assert not [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
    finally:
        store.close()


def test_move_aside_never_overwrites_an_earlier_kept_copy(tmp_path):
    path = tmp_path / "chats.sqlite3"
    kept = []
    for n in range(3):
        path.write_bytes(f"damaged copy {n}".encode())
        Path(f"{path}-wal").write_bytes(f"wal {n}".encode())
        kept.append(move_aside(path))
    assert len(set(kept)) == 3
    assert [k.read_bytes() for k in kept] == [f"damaged copy {n}".encode() for n in range(3)]
    assert [Path(f"{k}-wal").read_bytes() for k in kept] == [f"wal {n}".encode() for n in range(3)]


def test_a_database_from_a_newer_app_is_left_alone_and_the_app_runs_in_memory(tmp_path):
    path = tmp_path / "chats.sqlite3"
    populate(path, conversations=1, messages=2)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = path.read_bytes()
    store = open_chat_store(path)
    try:
        assert store.notice.kind == "schema_too_new" and "newer Local LLM Studio" in store.notice.message
        assert store.memory and store.create_conversation().id == 1
    finally:
        store.close()
    assert path.read_bytes() == before


def test_an_uncreatable_data_folder_still_opens(tmp_path):
    def no_folder() -> Path:
        raise PermissionError(13, "Permission denied", str(tmp_path / "nope"))
    store = open_chat_store(no_folder)
    try:
        assert store.memory and "data folder cannot be created" in store.notice.message
        store.add_message(store.create_conversation().id, "user", "kept in memory")
    finally:
        store.close()


_READ_ONLY_PROBE = r"""
import sys
from studio.core.chat.store import StoreReadOnly
from studio.core.chat.store_recovery import open_chat_store
store = open_chat_store(sys.argv[1])
print("kind", store.notice.kind if store.notice else None)
print("message", store.notice.message if store.notice else "")
print("titles", sorted(c.title for c in store.list_conversations()))
print("search", len(store.search("MARK")))
try:
    store.add_message(store.list_conversations()[0].id, "user", "new")
except StoreReadOnly as exc:
    print("refused", exc)
store.close()
"""


def _read_only_command(folder: Path, path: Path) -> list[str] | None:
    """Run the probe where `folder` cannot be written: root ignores file modes, so as root the folder
    is bind-mounted read-only in a private mount namespace; otherwise its mode is enough."""
    probe = [sys.executable, "-c", _READ_ONLY_PROBE, str(path)]
    if os.geteuid() != 0:
        return probe
    if not shutil.which("unshare"):
        return None
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", str(folder), *probe]


@pytest.mark.skipif(os.name != "posix", reason="permissions are POSIX here")
def test_a_read_only_data_folder_opens_read_only_with_a_banner(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "chats.sqlite3"
    populate(path, conversations=2, messages=2)
    before = path.read_bytes()
    command = _read_only_command(folder, path)
    if command is None:
        pytest.skip("running as root without unshare: no way to make a folder read-only")
    os.chmod(path, 0o444)
    os.chmod(folder, 0o555)
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    finally:
        os.chmod(folder, 0o755)
        os.chmod(path, 0o644)
    if os.geteuid() == 0 and "mount" in result.stderr and result.returncode != 0:
        pytest.skip(f"no private read-only mount here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert out["kind"] == "read_only"
    assert "read-only" in out["message"] and str(folder) in out["message"]
    assert out["titles"] == "['Conversation 1', 'Conversation 2']"
    assert int(out["search"]) >= 1
    assert "read-only" in out["refused"]
    assert path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["chats.sqlite3"]


_WAL_WRITER = r"""
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint=0")  # keep everything in the WAL while it runs
conversation = int(sys.argv[2])
for i in range(40):
    db.execute("INSERT INTO messages (conversation_id, role, content, created_at) VALUES (?, 'user', ?, 0)",
               (conversation, f"late {i}"))
    if i == 5:
        print("writing", flush=True)
    time.sleep(0.05)
db.close()
print("done", flush=True)
"""


def test_a_missing_wal_while_another_process_writes_leaves_the_file_alone(tmp_path):
    path = tmp_path / "chats.sqlite3"
    texts = populate(path, conversations=1, messages=2)
    (conversation_id,) = texts
    writer = subprocess.Popen([sys.executable, "-c", _WAL_WRITER, str(path), str(conversation_id)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        Path(f"{path}-wal").unlink()
        store = open_chat_store(path)  # the other process's journal is gone: SQLite reports an I/O error
        try:
            assert store.notice is not None and store.notice.kind in ("unavailable", "damaged")
            assert "Traceback" not in store.notice.message
            store.create_conversation(title="usable")  # the window works either way
        finally:
            store.close()
        assert writer.stdout.readline().strip() == "done"
    finally:
        writer.wait(timeout=30)
    # Whatever was decided, nothing the user had is gone: the file (or its kept copy) has every message.
    candidates = [path] + [p for p in tmp_path.iterdir() if ".damaged-" in p.name and "-" not in p.name[-4:]]
    best = 0
    for candidate in candidates:
        try:
            db = sqlite3.connect(f"file:{candidate}?mode=ro", uri=True)
            best = max(best, db.execute("SELECT count(*) FROM messages").fetchone()[0])
            db.close()
        except sqlite3.Error:
            pass
    assert best >= 2


# -- 2. damage found while reading ---------------------------------------------------------------
def _page_of(path: Path, marker: str) -> int:
    data = path.read_bytes()
    offset = data.find(marker.encode())
    assert offset > 0, marker
    return offset // PAGE


def test_an_unreadable_conversation_leaves_the_session_where_it_was_and_stops_writes(tmp_path):
    path = tmp_path / "chats.sqlite3"
    texts = populate(path, conversations=4, messages=6, size=900)  # about a page per message
    first, second, third = sorted(texts)[:3]
    bad_page = _page_of(path, f"MARK-{third}-3 ")
    assert bad_page not in {_page_of(path, f"MARK-{second}-{m} ") for m in range(6)}

    store = ChatStore(path)  # passes the check: the damage comes after
    damaged_events = []
    store.subscribe("damaged", lambda message: damaged_events.append(message))
    session = ChatSession(store, EngineClient())  # never started: nothing here needs a model
    try:
        session.open(second)
        with open(path, "r+b") as handle:  # a page goes bad under the running app
            handle.seek(bad_page * PAGE)
            handle.write(b"\xff" * 64)
        with pytest.raises(StoreDamaged, match=f"[Cc]onversation {third} could not be read"):
            session.open(third)
        # Still on the conversation it was on, with that conversation's own messages.
        assert session.conversation.id == second
        assert [m.content for m in session.messages] == texts[second]
        assert len(damaged_events) == 1 and "Repair" in damaged_events[0]
        damaged_bytes = path.read_bytes()
        with pytest.raises(StoreDamaged, match="nothing more is written"):
            store.add_message(second, "user", "must not land in the damaged file")
        assert path.read_bytes() == damaged_bytes

        report = repair(store)  # moves it aside, recovers into a fresh file at the same path
        kept = kept_copy(tmp_path)
        assert kept.read_bytes() == damaged_bytes
        assert report.messages >= sum(len(t) for t in texts.values()) - 3
        assert store.damaged == "" and store.add_message(store.list_conversations()[0].id, "user", "ok")
        check_database_file(path)
    finally:
        store.close()


# -- 3. a second process never cuts a live reply short -------------------------------------------
@pytest.mark.timeout(120)
def test_opening_the_store_in_a_second_process_keeps_a_live_reply_streaming(tmp_path):
    db = tmp_path / "chats.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen([sys.executable, str(HERE / "_store_writer.py"), str(db), "1000000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready = writer.stdout.readline().split()
        assert ready[:1] == ["ready"], writer.stderr.read() if writer.poll() is not None else ready
        message_id = int(ready[2])
        for _ in range(5):
            writer.stdout.readline()
        second = ChatStore(db)  # what a second window does on start
        try:
            live = second.get_message(message_id)
            assert live.status == MessageStatus.STREAMING  # not marked interrupted under the writer
        finally:
            second.close()
        lengths = [int(writer.stdout.readline()) for _ in range(20)]
        writer.kill()
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        writer.stdout.close()
        writer.stderr.close()
    with ChatStore(db) as after:  # the writer is dead now: its reply is interrupted, every token kept
        reply = after.get_message(message_id)
        assert reply.status == MessageStatus.INTERRUPTED
        assert len(reply.content) >= lengths[-1]
        assert reply.content.startswith(_expected_text(lengths[-1]))
        assert after._db.execute("SELECT count(*) FROM message_chunks").fetchone()[0] == 0


def test_a_store_closed_in_this_process_counts_as_a_dead_writer(tmp_path):
    path = tmp_path / "chats.sqlite3"
    store = ChatStore(path)
    conversation = store.create_conversation()
    reply = store.add_message(conversation.id, "assistant", "", status=MessageStatus.STREAMING)
    store.update_message(reply.id, content="half a rep")
    other = ChatStore(path)  # same process, the first store still open: its reply is live
    try:
        assert other.get_message(reply.id).status == MessageStatus.STREAMING
        store.update_message(reply.id, content="half a reply, then more")
    finally:
        other.close()
    store.close()
    with ChatStore(path) as reopened:
        saved = reopened.get_message(reply.id)
        assert (saved.status, saved.content) == (MessageStatus.INTERRUPTED, "half a reply, then more")


def test_chunks_orphaned_by_the_old_race_are_folded_back_on_open(tmp_path):
    path = tmp_path / "chats.sqlite3"
    with ChatStore(path) as store:
        conversation = store.create_conversation()
        reply = store.add_message(conversation.id, "assistant", "tokens 0-4 ", status=MessageStatus.INTERRUPTED)
        # What an older version left behind: the writer kept appending after another process ended the reply.
        store._db.execute("INSERT INTO message_chunks (message_id, text) VALUES (?, ?)", (reply.id, "tokens 5-9"))
    with ChatStore(path) as reopened:
        assert reopened.get_message(reply.id).content == "tokens 0-4 tokens 5-9"
        assert [h.message_id for h in reopened.search("tokens 5-9")] == [reply.id]


# -- text that is not valid Unicode --------------------------------------------------------------
def test_a_message_with_a_lone_surrogate_is_refused_before_anything_is_stored(tmp_path):
    import asyncio

    from studio.core.chat.store import ChatStoreError
    from studio.core.limits import BadText

    with ChatStore(tmp_path / "chats.sqlite3") as store:
        session = ChatSession(store, EngineClient())  # never started: nothing here needs a model
        conversation = session.new_conversation()
        with pytest.raises(BadText, match=r"the message is not valid UTF-8 text \(byte 0xff at byte 5\)"):
            asyncio.run(session.send("hello\udcff world"))
        assert store.messages(conversation.id) == [] and session.messages == []
        with pytest.raises(ChatStoreError, match="not valid Unicode") as caught:
            store.add_message(conversation.id, "user", "lone \ud800 surrogate")
        assert caught.value.kind == "bad_text"
        assert store.add_message(conversation.id, "user", "fine").content == "fine"  # the store still works
