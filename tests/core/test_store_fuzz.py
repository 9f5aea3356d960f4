"""Seeded corruption of a populated chat store: random flipped bytes, overwritten pages, truncation.

Whatever the damage, opening never raises, using the store raises nothing but ChatStoreError, a
file that fails SQLite's check is never written into (its bytes are kept exactly), and recovery
from it never raises either.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.store import ChatStore, ChatStoreError
from studio.core.chat.store_recovery import open_chat_store, recover

CASES = 300
PAGE = 4096


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz-template") / "chats.sqlite3"
    with ChatStore(path) as store:
        for c in range(10):
            conversation = store.create_conversation(title=f"Fuzz {c} 模糊测试")
            for m in range(8):
                store.add_message(conversation.id, "user" if m % 2 == 0 else "assistant",
                                  f"MARK {c}-{m} " + "文本 and text " * (20 + 13 * m))
        reply = store.add_message(conversation.id, "assistant", "", status=MessageStatus.STREAMING)
        for i in range(30):
            store.update_message(reply.id, content="".join(f"tok{j} " for j in range(i + 1)))
    return path.read_bytes()


def corrupt(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    out = bytearray(data)
    roll = rng.random()
    if roll < 0.55:  # a few flipped bytes anywhere, the header included
        for _ in range(rng.choice((1, 1, 2, 4))):
            at = rng.randrange(len(out)) if rng.random() < 0.8 else rng.randrange(100)
            out[at] ^= rng.randrange(1, 256)
        return "bytes", bytes(out)
    if roll < 0.9:  # one page replaced: random bytes, zeros, or another page's content
        page = rng.randrange(len(out) // PAGE)
        how = rng.choice(("random", "zeros", "copy"))
        if how == "random":
            chunk = bytes(rng.randrange(256) for _ in range(PAGE))
        elif how == "zeros":
            chunk = bytes(PAGE)
        else:
            other = rng.randrange(len(out) // PAGE)
            chunk = bytes(out[other * PAGE:(other + 1) * PAGE])
        out[page * PAGE:(page + 1) * PAGE] = chunk
        return f"page {page} {how}", bytes(out)
    return "truncated", bytes(out[: rng.randrange(1, len(out))])


def passes_check(path: Path, scratch: Path) -> bool:
    """SQLite's own verdict, on a copy, independent of the store's code."""
    shutil.copyfile(path, scratch)
    try:
        db = sqlite3.connect(f"file:{scratch}?mode=ro", uri=True)
        try:
            return db.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return False
    finally:
        scratch.unlink(missing_ok=True)


def exercise(store: ChatStore) -> None:
    """What the window does: list, open every conversation, search, write. Only ChatStoreError may escape."""
    def attempt(action):
        try:
            return action()
        except ChatStoreError:
            return None
        except LookupError:
            return None
    conversations = attempt(store.list_conversations) or []
    for conversation in conversations:
        attempt(lambda: store.messages(conversation.id))
    attempt(lambda: store.search("MARK 3"))
    attempt(lambda: store.search("文本"))
    target = conversations[0].id if conversations else 1
    attempt(lambda: store.add_message(target, "user", "a new message after the damage"))
    attempt(lambda: store.update_conversation(target, title="renamed"))


def file_bytes(path: Path) -> tuple[bytes, bytes]:
    wal = Path(f"{path}-wal")
    return path.read_bytes() if path.exists() else b"", wal.read_bytes() if wal.exists() else b""


@pytest.mark.parametrize("chunk", range(6))
def test_random_corruption_never_crashes_and_never_writes_into_a_failing_file(tmp_path, template, chunk):
    seen = {"damaged at open": 0, "opened": 0, "damaged in use": 0}
    for seed in range(chunk * CASES // 6, (chunk + 1) * CASES // 6):
        rng = random.Random(seed)
        folder = tmp_path / f"case-{seed}"
        folder.mkdir()
        path = folder / "chats.sqlite3"
        what, data = corrupt(template, rng)
        path.write_bytes(data)
        healthy = passes_check(path, tmp_path / "scratch.sqlite3")

        store = open_chat_store(path)  # must not raise, whatever the bytes
        try:
            notice = store.notice
            if not healthy:  # never used silently, never written
                assert notice is not None, f"seed {seed} ({what}): a file failing the check was opened silently"
                if notice.kept is not None:
                    assert notice.kept.read_bytes() == data, f"seed {seed} ({what}): the kept file changed"
                else:
                    assert path.read_bytes() == data, f"seed {seed} ({what}): a file left in place changed"
            if notice is not None and notice.kept is not None:
                seen["damaged at open"] += 1
                assert notice.kept.read_bytes() == data
                report = recover(store, notice.kept)  # never raises
                assert notice.kept.read_bytes() == data, f"seed {seed} ({what}): recovery wrote into the kept file"
                assert report.messages <= 81
            elif notice is None:
                seen["opened"] += 1
                damaged_at: tuple[bytes, bytes] | None = None

                def on_damaged(message: str) -> None:
                    nonlocal damaged_at
                    damaged_at = file_bytes(path)

                store.subscribe("damaged", on_damaged)
                exercise(store)
                if store.damaged:
                    seen["damaged in use"] += 1
                    # Once damage showed, nothing more was written into the file or its journal.
                    assert file_bytes(path) == damaged_at, f"seed {seed} ({what}): written after damage was found"
        finally:
            store.close()
        shutil.rmtree(folder)
    print(seen)
    assert seen["damaged at open"] > 0  # the cases did reach damage SQLite can see
