"""Opening the chat store so that the app always starts, and getting chats back out of a damaged file.

`open_chat_store` never raises: a damaged or non-database file is moved aside (renamed, with its
WAL and SHM, so every byte is kept) and a fresh store takes its place; a read-only folder opens the
history read-only; anything else that keeps the file from opening (another process holding it with
its journal gone, a schema from a newer app, no writable folder at all) leaves the file untouched
and runs on a store in memory. In each case `store.notice` says what happened, where the file is,
and what the user can do.

`recover_into` copies what SQLite can still read from a damaged file, row by row: a scan in rowid
order until it hits damage, then point lookups by id for the rows the scan could not reach. It
reads a temporary copy, so the kept file is never opened for writing.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.store import (DEFAULT_TITLE, MEMORY, ROLES, ChatStore, ChatStoreError, StoreDamaged,
                                    StoreReadOnly, StoreSchemaTooNew, SQLITE_MAGIC, _loads, _row_id, _text)

SIDE_FILES = ("-wal", "-shm", "-journal")
# Point lookups past the highest id a scan or sqlite_sequence showed, for rows behind a damaged page.
PROBE_MARGIN = 2000
MAX_PROBES = 2_000_000


@dataclass
class StoreNotice:
    """What start-up (or a repair) had to do about the chat database, for the window's banner."""
    kind: str            # "damaged", "read_only", "unavailable", "schema_too_new", "recovered"
    message: str         # one or two sentences: what happened, where the file is, what to do
    kept: Path | None = None    # where the damaged file now is (nothing was deleted)
    can_recover: bool = False   # offer "Recover chats" from `kept`


@dataclass
class RecoveryReport:
    conversations: int = 0
    messages: int = 0
    unreadable: list[str] = field(default_factory=list)  # what could not be read, e.g. "messages 41–57"
    source: Path | None = None

    def summary(self) -> str:
        text = (f"Recovered {self.conversations} conversation{'s' if self.conversations != 1 else ''} and "
                f"{self.messages} message{'s' if self.messages != 1 else ''} from {self.source}.")
        if self.unreadable:
            shown = ", ".join(self.unreadable[:4]) + (", …" if len(self.unreadable) > 4 else "")
            text += f" Could not be read: {shown}."
        return text + " The damaged file is kept there unchanged."


def open_chat_store(path: Path | str | Callable[[], Path]) -> ChatStore:
    """The chat store the app runs on, whatever state the file is in. Never raises."""
    try:
        path = Path(path() if callable(path) else path)
    except OSError as exc:  # the data folder itself cannot be created
        store = ChatStore(MEMORY)
        store.notice = StoreNotice("unavailable", f"Your chats cannot be saved: the data folder cannot be created "
                                                  f"({exc}). Chats in this session are kept in memory only.")
        return store
    try:
        return ChatStore(path)
    except StoreDamaged as exc:
        return _replace_damaged(path, exc)
    except StoreReadOnly as exc:
        return _open_read_only(path, exc)
    except StoreSchemaTooNew as exc:
        return _in_memory(StoreNotice("schema_too_new", f"{exc} Chats in this session are kept in memory only."))
    except ChatStoreError as exc:
        return _in_memory(StoreNotice("unavailable", f"{exc} Your chats are not shown and the file is left as it "
                                                     "is; chats in this session are kept in memory only."))
    except (OSError, sqlite3.Error) as exc:
        return _in_memory(StoreNotice("unavailable", f"The chat database {path} cannot be opened ({exc}); the file "
                                                     "is left as it is and chats in this session are kept in memory only."))


def _replace_damaged(path: Path, exc: ChatStoreError) -> ChatStore:
    try:
        kept = move_aside(path)
    except OSError as move_error:
        return _in_memory(StoreNotice("unavailable", f"{exc} It could not be moved aside ({move_error}), so it is "
                                                     "left as it is; chats in this session are kept in memory only."))
    try:
        store = ChatStore(path)
    except (ChatStoreError, OSError, sqlite3.Error) as fresh_error:
        return _in_memory(StoreNotice("damaged", f"{exc} It was moved to {kept} and kept unchanged, but a new "
                                                 f"database cannot be created ({fresh_error}); chats in this session "
                                                 "are kept in memory only.", kept=kept, can_recover=True))
    store.notice = StoreNotice("damaged", f"Your chat database could not be used: {exc} It was moved to {kept} and kept "
                                          "unchanged; a new, empty one is in use. Recover what can still be read "
                                          "into it?", kept=kept, can_recover=True)
    return store


def _open_read_only(path: Path, exc: ChatStoreError) -> ChatStore:
    try:
        store = ChatStore(path, read_only=True)
    except (ChatStoreError, OSError, sqlite3.Error) as again:
        return _in_memory(StoreNotice("unavailable", f"{exc} Reading it failed too ({again}); chats in this session "
                                                     "are kept in memory only."))
    store.notice = StoreNotice("read_only", f"Your chats are read-only: {exc} You can read, search and export them, "
                                            "but new messages are not saved. Make the folder writable and restart.")
    return store


def _in_memory(notice: StoreNotice) -> ChatStore:
    store = ChatStore(MEMORY)
    store.notice = notice
    return store


def move_aside(path: Path) -> Path:
    """Rename the database and its side files to `<name>.damaged-<time>[-N]`; returns the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while any(Path(f"{target}{suffix}").exists() for suffix in ("", *SIDE_FILES)):
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    path.rename(target)
    for suffix in SIDE_FILES:
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(Path(f"{target}{suffix}"))
    return target


def repair(store: ChatStore) -> "RecoveryReport":
    """Damage found while in use: move the file aside (kept, with its WAL), continue in a fresh one
    at the same path and copy in what can still be read."""
    store.close()
    kept = move_aside(store.path)
    store.reopen()
    return recover(store, kept)


def recover(store: ChatStore, damaged: Path | str) -> "RecoveryReport":
    """Copy what can be read from a damaged database (only ever read, from a copy) into `store`."""
    report = recover_into(store, Path(damaged))
    store.emit("replaced")
    return report


# -- recovery ------------------------------------------------------------------------------
_CONVERSATION_COLUMNS = "id, title, system_prompt, sampling, model, created_at, updated_at"
_MESSAGE_COLUMNS = "id, conversation_id, role, content, status, stats, created_at"
_BRANCH_COLUMNS = ", parent_id, chosen"  # a file from before branches has neither: each conversation is a chain


def recover_into(store: ChatStore, damaged: Path) -> RecoveryReport:
    """Copy every conversation and message that can be read from `damaged` into `store` (new ids)."""
    report = RecoveryReport(source=damaged)
    with tempfile.TemporaryDirectory(prefix="studio-recover-") as scratch:
        copy = Path(scratch) / "damaged.sqlite3"
        shutil.copyfile(damaged, copy)
        wal = Path(f"{damaged}-wal")
        if wal.exists():
            shutil.copyfile(wal, Path(f"{copy}-wal"))
        _fit_header_to_file(copy)
        db = _open_for_reading(copy)
        if db is None:
            report.unreadable.append("the whole file (SQLite cannot open it)")
            return report
        try:
            conversations, missing_c = _read_rows(db, "conversations", _CONVERSATION_COLUMNS)
            tree = _has_branches(db)
            messages, missing_m = _read_rows(db, "messages", _MESSAGE_COLUMNS + (_BRANCH_COLUMNS if tree
                                                                                  else ", NULL, 0"))
            chunks, _ = _read_rows(db, "message_chunks", "id, message_id, text", probe=False)
        finally:
            db.close()
    report.unreadable += _ranges("conversations", missing_c) + _ranges("messages", missing_m)
    _write_recovered(store, conversations, messages, chunks, report, tree)
    return report


def _has_branches(db: sqlite3.Connection) -> bool:
    try:
        columns = {str(row[1]) for row in db.execute("PRAGMA table_info(messages)")}
    except sqlite3.DatabaseError:
        return False
    return {"parent_id", "chosen"} <= columns


def _fit_header_to_file(copy: Path) -> None:
    """A truncated file claims more pages than it has, and SQLite then refuses to read any of it: in
    the scratch copy, cut it to whole pages and make the header's page count match."""
    with open(copy, "r+b") as handle:
        head = handle.read(100)
        if len(head) < 100 or not head.startswith(SQLITE_MAGIC):
            return
        page_size = int.from_bytes(head[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            return
        size = copy.stat().st_size
        pages = size // page_size
        if pages and int.from_bytes(head[28:32], "big") > pages:
            handle.truncate(pages * page_size)
            handle.seek(28)
            handle.write(pages.to_bytes(4, "big"))


def _open_for_reading(copy: Path) -> sqlite3.Connection | None:
    for drop_wal in (False, True):  # a damaged WAL can keep the whole file from opening: retry without it
        if drop_wal:
            Path(f"{copy}-wal").unlink(missing_ok=True)
            Path(f"{copy}-shm").unlink(missing_ok=True)
        try:
            db = sqlite3.connect(str(copy), isolation_level=None)
            db.text_factory = lambda raw: raw.decode("utf-8", "replace")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.DatabaseError:
            try:
                db.close()
            except Exception:
                pass
    return None


def _read_rows(db: sqlite3.Connection, table: str, columns: str, *, probe: bool = True) -> tuple[dict[int, tuple], list[int]]:
    """Rows by id: a scan until damage stops it, then lookups of the ids it did not reach."""
    rows: dict[int, tuple] = {}
    try:
        for row in db.execute(f"SELECT {columns} FROM {table} ORDER BY rowid"):
            if isinstance(row[0], int):
                rows[row[0]] = row
    except sqlite3.DatabaseError:
        pass
    if not probe:
        return rows, []
    top = max(rows, default=0)
    try:
        seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        top = max(top, int(seq[0])) if seq and isinstance(seq[0], int) else top
    except sqlite3.DatabaseError:
        pass
    missing = []
    for row_id in range(1, min(top + PROBE_MARGIN, MAX_PROBES) + 1):
        if row_id in rows:
            continue
        try:
            row = db.execute(f"SELECT {columns} FROM {table} WHERE rowid = ?", (row_id,)).fetchone()
        except sqlite3.DatabaseError:
            missing.append(row_id)
            continue
        if row is not None:
            rows[row_id] = row
    # Ids past the last readable row were never written, not lost.
    last = max(rows, default=0)
    return rows, [i for i in missing if i <= max(last, top)]


def _ranges(what: str, ids: Iterable[int]) -> list[str]:
    """[3, 4, 5, 9] -> ["messages 3–5", "messages 9"]."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return [f"{what} {run[0]}" if len(run) == 1 else f"{what} {run[0]}–{run[-1]}" for run in runs]


def _write_recovered(store: ChatStore, conversations: dict[int, tuple], messages: dict[int, tuple],
                     chunks: dict[int, tuple], report: RecoveryReport, tree: bool = False) -> None:
    pending: dict[int, list[str]] = {}
    for _, message_id, text in sorted(chunks.values()):
        if isinstance(message_id, int):
            pending.setdefault(message_id, []).append(_text(text))
    by_conversation: dict[int, list[tuple]] = {}
    for row in sorted(messages.values()):
        if isinstance(row[1], int):
            by_conversation.setdefault(row[1], []).append(row)
    now = time.time()
    with store._guard("recovered chats", write=True), store._transaction() as db:
        ids: dict[int, int] = {}
        for old_id in sorted(set(conversations) | set(by_conversation)):
            found = conversations.get(old_id)
            if found is not None:
                _, title, system_prompt, sampling, model, created_at, updated_at = found
                values = (_text(title) or DEFAULT_TITLE, _text(system_prompt), _json_object(sampling), _text(model),
                          _number(created_at, now), _number(updated_at, now))
            else:  # its messages survived, the conversation row did not
                values = (f"Recovered messages (conversation {old_id})", "", "{}", "", now, now)
            cursor = db.execute("INSERT INTO conversations (title, system_prompt, sampling, model, created_at,"
                                " updated_at) VALUES (?, ?, ?, ?, ?, ?)", values)
            ids[old_id] = _row_id(cursor)
            report.conversations += 1
        new_ids: dict[int, int] = {}
        for old_id, rows in by_conversation.items():
            previous: int | None = None
            for mid, _, role, content, status, stats, created_at, parent, chosen in rows:
                text = _text(content)
                if status == MessageStatus.STREAMING.value or status not in {s.value for s in MessageStatus}:
                    text += "".join(pending.get(mid, ()))
                    status = MessageStatus.INTERRUPTED.value
                # Under its parent; when that was lost (or the file predates branches), under the message
                # before it, so nothing recovered hangs off the conversation out of sight.
                if isinstance(parent, int) and parent in new_ids:
                    parent = new_ids[parent]
                elif parent is None and tree:
                    parent = None  # a first message, or an edited first message's alternative
                else:
                    parent = previous
                cursor = db.execute(
                    "INSERT INTO messages (conversation_id, role, content, status, stats, created_at, parent_id,"
                    " chosen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (ids[old_id], role if role in ROLES else "assistant", text, status, _json_object(stats),
                     _number(created_at, now), parent, chosen if isinstance(chosen, int) else 0))
                previous = new_ids[mid] = _row_id(cursor)
                report.messages += 1


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) else default


def _json_object(value: Any) -> str:
    return json.dumps(_loads(_text(value)))
