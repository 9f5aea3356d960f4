"""Conversations and messages in one SQLite file (WAL), with full-text search (FTS5, trigram).

Durability: every write is its own committed transaction. With journal_mode=WAL and
synchronous=NORMAL a committed transaction survives the process being killed (not a power cut),
so a reply streamed token by token through `update_message` loses at most the token in flight.

Streaming is append-only: while a message is "streaming", an update whose content extends what is
already stored inserts just the new text as a row of `message_chunks` (cost independent of the
reply's length). Reads add the chunks back; any other update, and reopening the store, folds them
into `messages.content` first.

Search index: `message_fts` holds the text of every message whose status is not "streaming";
triggers keep it in step, so the per-token updates of a growing reply never touch it. When the
status leaves "streaming" (complete, stopped, error, or interrupted on the next open) the text is
indexed. Conversation titles live in `title_fts`. The trigram tokenizer matches any substring of at
least three characters, which also covers Chinese and Japanese without word segmentation; shorter
terms are matched with LIKE over the same indexed text.

Branches: messages form a tree (parent_id); an edit or a regenerate adds an alternative and keeps the
old one. `messages()` returns the branch shown; the rest lives in branches.py.

Damage: opening runs SQLite's quick check on a read-only connection first, so a damaged or
non-database file is never written into (`StoreDamaged`); `open_chat_store` in store_recovery.py moves
such a file aside and offers recovery. Damage found later, while reading, switches the store to
refuse writes and emits "damaged". Every SQLite failure leaves as a `ChatStoreError` with a sentence.

Live replies: each open read-write store registers itself in `writers` (pid, process start time,
host). A reply still "streaming" is only marked interrupted when its writer is gone, so a second
window opening the same file never cuts another process's reply short.

One connection, used from the thread that opened it (the asyncio / Qt main thread). Events
(Emitter): damaged(message); replaced() after store_recovery swapped in or filled a new file.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from studio.core.chat.attachments import AttachmentsMixin, schema_v3
from studio.core.chat.branches import ACTIVE_LEAF, BranchesMixin, Parent, schema_branches
from studio.core.chat.conversation import Conversation, Message, MessageStatus, SearchHit
from studio.core.chat.thinking import search_text
from studio.core.chat.writers import process_identity, writer_alive
from studio.core.engine.sampling import SamplingParams
from studio.core.errors import StudioError
from studio.core.events import Emitter

DEFAULT_TITLE = "New chat"
TITLE_MAX = 48
ROLES = ("system", "user", "assistant")


MEMORY = ":memory:"  # a store that keeps nothing on disk: the last resort when no file can be used
SQLITE_MAGIC = b"SQLite format 3\x00"


class NotFoundError(LookupError):
    """A conversation or message id that is not (or no longer) in the store."""


class ChatStoreError(StudioError):
    """The chat database cannot do what was asked; `kind` says why, the message what to do."""


class StoreDamaged(ChatStoreError):
    """The file is not a database, fails SQLite's check, or a read hit a damaged page."""

    def __init__(self, message: str, *, kind: str = "damaged") -> None:
        super().__init__(kind, message)


class StoreReadOnly(ChatStoreError):
    def __init__(self, message: str) -> None:
        super().__init__("read_only", message)


class StoreUnavailable(ChatStoreError):
    """Busy, disk full, I/O errors: nothing says the file is damaged, so it is left exactly as it is."""


class StoreSchemaTooNew(ChatStoreError, RuntimeError):
    def __init__(self, message: str) -> None:
        super().__init__("schema_too_new", message)


def _schema_v1(db: sqlite3.Connection) -> None:
    _run_script(db, """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused after a delete
            title TEXT NOT NULL,
            system_prompt TEXT NOT NULL DEFAULT '',
            sampling TEXT NOT NULL DEFAULT '{}',
            model TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX conversations_updated ON conversations(updated_at);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused after a delete
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'complete',
            stats TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL
        );
        CREATE INDEX messages_conversation ON messages(conversation_id, id);
        CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';
        CREATE TABLE message_chunks (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            text TEXT NOT NULL
        );
        CREATE INDEX message_chunks_message ON message_chunks(message_id, id);

        CREATE VIRTUAL TABLE message_fts USING fts5(content, tokenize = 'trigram');
        CREATE VIRTUAL TABLE title_fts USING fts5(title, tokenize = 'trigram');

        CREATE TRIGGER messages_ai AFTER INSERT ON messages WHEN new.status != 'streaming' BEGIN
            INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_au_index AFTER UPDATE OF content, status ON messages
        WHEN new.status != 'streaming' BEGIN
            DELETE FROM message_fts WHERE rowid = old.id;
            INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_au_unindex AFTER UPDATE OF status ON messages
        WHEN new.status = 'streaming' AND old.status != 'streaming' BEGIN
            DELETE FROM message_fts WHERE rowid = old.id;
        END;
        CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
            DELETE FROM message_fts WHERE rowid = old.id;
        END;

        CREATE TRIGGER conversations_ai AFTER INSERT ON conversations BEGIN
            INSERT INTO title_fts(rowid, title) VALUES (new.id, new.title);
        END;
        CREATE TRIGGER conversations_au AFTER UPDATE OF title ON conversations BEGIN
            DELETE FROM title_fts WHERE rowid = old.id;
            INSERT INTO title_fts(rowid, title) VALUES (new.id, new.title);
        END;
        CREATE TRIGGER conversations_ad AFTER DELETE ON conversations BEGIN
            DELETE FROM title_fts WHERE rowid = old.id;
        END;
    """)


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Like executescript, but inside the caller's transaction (executescript would commit it)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


def _schema_v2(db: sqlite3.Connection) -> None:
    """Who is writing a streaming reply: only a dead writer's reply may be marked interrupted."""
    _run_script(db, """
        CREATE TABLE writers (
            token TEXT PRIMARY KEY,      -- one per open ChatStore
            pid INTEGER NOT NULL,
            started REAL NOT NULL,       -- the process's start time: a reused pid is not the writer
            host TEXT NOT NULL,
            opened_at REAL NOT NULL
        );
        ALTER TABLE messages ADD COLUMN writer TEXT NOT NULL DEFAULT '';
    """)


def _schema_v4(db: sqlite3.Connection) -> None:
    """Per-conversation options that are not sampling (thinking on/off, an output format): one JSON
    object, so a later option needs no new column."""
    db.execute("ALTER TABLE conversations ADD COLUMN options TEXT NOT NULL DEFAULT '{}'")


def _schema_v5(db: sqlite3.Connection) -> None:
    from studio.core.chat.arena_votes import schema_arena_votes  # its dataclasses load with the Arena, not at start-up

    schema_arena_votes(db)


# MIGRATIONS[i] brings a database from schema version i to i + 1. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_schema_v1, _schema_v2, schema_v3, _schema_v4,
                                                      _schema_v5, schema_branches]
SCHEMA_VERSION = len(MIGRATIONS)


# Tokens of the stores open in this process: a writer row of ours whose token is not here was left
# by a store that was closed or dropped without close(), so its streaming replies are over.
_OPEN_TOKENS: set[str] = set()


class ChatStore(AttachmentsMixin, BranchesMixin, Emitter):
    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        super().__init__()
        self.memory = str(path) == MEMORY
        self.path = Path(path) if self.memory else Path(path).expanduser()
        self.read_only = read_only
        # Why the store refuses writes after damage was found while in use ("" = it does not).
        self.damaged = ""
        # What start-up had to do about the file (set by open_chat_store); the window shows it.
        self.notice: Any = None
        self._token = os.urandom(16).hex()  # this writer's id (the uuid module imports platform: ~8 ms at start-up)
        # id -> full text stored so far, for messages this store saw streaming: the append fast path.
        self._streamed: dict[int, str] = {}
        self._db = self._connect()

    # -- lifecycle ------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self.memory:
            db = sqlite3.connect(MEMORY, isolation_level=None)
            db.execute("PRAGMA foreign_keys=ON")
            self._db = db
            self._migrate()
            return db
        if not self.read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _unwritable(self.path, exc) from exc
        if self.path.exists() and self.path.stat().st_size > 0:
            check_database_file(self.path)
        try:
            if self.read_only:
                db = _connect_read_only(self.path)
            else:
                # isolation_level=None: autocommit; multi-statement writes use `_transaction`.
                db = sqlite3.connect(str(self.path), isolation_level=None, timeout=5.0)
        except sqlite3.Error as exc:
            raise _opening_error(self.path, exc, self.read_only) from exc
        # Undecodable text (damage SQLite's check cannot see) reads as U+FFFD rather than failing the read.
        db.text_factory = lambda raw: raw.decode("utf-8", "replace")
        self._db = db
        try:
            if self.read_only:
                version = self.schema_version
                if version > SCHEMA_VERSION:
                    raise _too_new(self.path, version)
            else:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
                self._settle_streaming()
                _OPEN_TOKENS.add(self._token)
        except sqlite3.Error as exc:
            db.close()
            raise _opening_error(self.path, exc, self.read_only) from exc
        except BaseException:
            db.close()
            raise
        return db

    def _settle_streaming(self) -> None:
        """Register as a writer; end the replies whose writer is gone (the app died mid-reply last
        time: keep the partial text, index it, mark it), and fold chunks left behind by a race."""
        me = process_identity()
        with self._transaction() as db:
            live = {self._token}
            for token, pid, started, host in db.execute("SELECT token, pid, started, host FROM writers").fetchall():
                if writer_alive(token, pid, started, host, _OPEN_TOKENS):
                    live.add(token)
                else:
                    db.execute("DELETE FROM writers WHERE token = ?", (token,))
            db.execute("INSERT OR REPLACE INTO writers (token, pid, started, host, opened_at) VALUES (?, ?, ?, ?, ?)",
                       (self._token, *me, time.time()))
            stale = [mid for mid, writer in db.execute(
                "SELECT id, writer FROM messages WHERE status = 'streaming'").fetchall() if writer not in live]
            for message_id in stale:
                self._fold(message_id)
                db.execute("UPDATE messages SET status = ? WHERE id = ?", (MessageStatus.INTERRUPTED.value, message_id))
            for (message_id,) in db.execute(
                    "SELECT DISTINCT c.message_id FROM message_chunks c JOIN messages m ON m.id = c.message_id"
                    " WHERE m.status != 'streaming'").fetchall():
                self._fold(message_id)

    def close(self) -> None:
        if self._token in _OPEN_TOKENS:
            _OPEN_TOKENS.discard(self._token)
            try:
                self._db.execute("DELETE FROM writers WHERE token = ?", (self._token,))
            except sqlite3.Error:
                pass  # a damaged or vanished file: the next open finds this writer dead anyway
        self._db.close()

    def __enter__(self) -> "ChatStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reopen(self) -> None:
        """Connect again to whatever file is at `path` now (after it was moved aside)."""
        self.close()
        self.damaged = ""
        self._streamed.clear()
        self._token = os.urandom(16).hex()
        self._db = self._connect()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    @property
    def writable(self) -> bool:
        return not self.read_only and not self.damaged

    def _migrate(self) -> None:
        version = self.schema_version
        if version < 0:  # no version of the app writes this: the header is damaged
            raise StoreDamaged(f"{self.path.name} is damaged: its header says chat schema {version}.")
        if version > SCHEMA_VERSION:
            raise _too_new(self.path, version)
        for step in range(version, SCHEMA_VERSION):
            with self._transaction():
                MIGRATIONS[step](self._db)
                self._db.execute(f"PRAGMA user_version = {step + 1}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # some errors (disk full, I/O) have rolled back already
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _guard(self, what: str, *, write: bool = False) -> Iterator[None]:
        """Turn SQLite's failures into a ChatStoreError that names `what` failed, and refuse writes
        into a read-only store or one found damaged."""
        if write:
            if self.read_only:
                raise StoreReadOnly(f"Cannot save {what}: the chat history is open read-only ({self.path}).")
            if self.damaged:
                raise StoreDamaged(f"Cannot save {what}: the chat database is damaged ({self.damaged}), so nothing "
                                   "more is written into it. Use Repair in the banner; the file is kept.")
        try:
            yield
        except UnicodeEncodeError as exc:  # lone surrogates: SQLite stores UTF-8 only
            raise ChatStoreError("bad_text", f"Cannot save {what}: the text is not valid Unicode "
                                             f"({exc.reason} at character {exc.start}).") from None
        except sqlite3.IntegrityError:
            raise  # a constraint the caller handles (e.g. a message deleted meanwhile)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, what) from exc

    def _translate(self, exc: sqlite3.DatabaseError, what: str) -> ChatStoreError:
        reason = str(exc)
        text = reason.lower()
        if _looks_damaged(text):
            first = not self.damaged
            self.damaged = reason
            message = (f"{what[:1].upper()}{what[1:]} could not be read: the chat database is damaged ({reason}). "
                       "Nothing more is written into it; use Repair to move it aside and recover what can be read.")
            if first:
                self.emit("damaged", message=message)
            return StoreDamaged(message)
        if "readonly" in text or "read-only" in text:
            return StoreReadOnly(f"Cannot save {what}: {self.path} is read-only ({reason}).")
        if "full" in text:
            return StoreUnavailable("disk_full", f"Cannot save {what}: the disk is full. Free some space; "
                                                 "what was saved before is kept.")
        if "locked" in text or "busy" in text:
            return StoreUnavailable("busy", f"Cannot reach {what}: the chat database is busy in another "
                                            "process for too long. Try again in a moment.")
        return StoreUnavailable("storage", f"{what[:1].upper()}{what[1:]} failed: {reason} ({self.path}).")

    # -- conversations --------------------------------------------------------------------
    def create_conversation(self, title: str = DEFAULT_TITLE, system_prompt: str = "",
                            sampling: SamplingParams | None = None, model: str = "",
                            options: dict[str, Any] | None = None) -> Conversation:
        with self._guard("a new conversation", write=True):
            now = time.time()
            sampling_json = json.dumps((sampling or SamplingParams()).to_dict())
            cursor = self._db.execute(
                "INSERT INTO conversations (title, system_prompt, sampling, model, options, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, system_prompt, sampling_json, model, json.dumps(options or {}), now, now))
            return self.get_conversation(_row_id(cursor))

    def get_conversation(self, conversation_id: int) -> Conversation:
        with self._guard(f"conversation {conversation_id}"):
            row = self._db.execute(
                "SELECT id, title, system_prompt, sampling, model, created_at, updated_at, options"
                " FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"conversation {conversation_id} does not exist (it may have been deleted)")
            return self._conversation(row)

    def list_conversations(self) -> list[Conversation]:
        with self._guard("the conversation list"):
            rows = self._db.execute(
                "SELECT id, title, system_prompt, sampling, model, created_at, updated_at, options"
                " FROM conversations ORDER BY updated_at DESC, id DESC").fetchall()
            return [self._conversation(row) for row in rows]

    def update_conversation(self, conversation_id: int, *, title: str | None = None,
                            system_prompt: str | None = None, sampling: SamplingParams | None = None,
                            model: str | None = None, options: dict[str, Any] | None = None) -> Conversation:
        """options replaces the whole options object (read, change, write back)."""
        with self._guard(f"conversation {conversation_id}", write=True):
            changes: dict[str, Any] = {}
            if title is not None:
                changes["title"] = title.strip() or DEFAULT_TITLE
            if system_prompt is not None:
                changes["system_prompt"] = system_prompt
            if sampling is not None:
                changes["sampling"] = json.dumps(sampling.to_dict())
            if model is not None:
                changes["model"] = model
            if options is not None:
                changes["options"] = json.dumps(options)
            changes["updated_at"] = time.time()
            assignments = ", ".join(f"{column} = ?" for column in changes)
            cursor = self._db.execute(f"UPDATE conversations SET {assignments} WHERE id = ?",
                                      (*changes.values(), conversation_id))
            if cursor.rowcount == 0:
                raise NotFoundError(f"conversation {conversation_id} does not exist (it may have been deleted)")
            return self.get_conversation(conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete it with its messages and their search entries; a missing id is not an error."""
        with self._guard(f"deleting conversation {conversation_id}", write=True):
            self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # -- messages -------------------------------------------------------------------------
    def add_message(self, conversation_id: int, role: str, content: str,
                    status: MessageStatus | str = MessageStatus.COMPLETE,
                    stats: dict[str, Any] | None = None, *, parent_id: Parent = ACTIVE_LEAF) -> Message:
        """Add a message under `parent_id` (None: a first message), by default at the end of the
        branch shown; it becomes the alternative shown."""
        with self._guard(f"a message in conversation {conversation_id}", write=True):
            if role not in ROLES:
                raise ValueError(f"unknown message role {role!r}; expected one of {', '.join(ROLES)}")
            status = MessageStatus(status)
            now = time.time()
            with self._transaction() as db:
                row = db.execute("SELECT title FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
                if row is None:
                    raise NotFoundError(f"conversation {conversation_id} does not exist (it may have been deleted)")
                if role == "user" and row[0] == DEFAULT_TITLE and not db.execute(
                        "SELECT 1 FROM messages WHERE conversation_id = ? AND role = 'user' LIMIT 1",
                        (conversation_id,)).fetchone():
                    title = title_from_text(content)
                    if title:
                        db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))
                writer = self._token if status == MessageStatus.STREAMING else ""
                parent, chosen = self._place(db, conversation_id, parent_id)
                cursor = db.execute(
                    "INSERT INTO messages (conversation_id, role, content, status, stats, created_at, writer,"
                    " parent_id, chosen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (conversation_id, role, content, status.value, json.dumps(stats or {}), now, writer,
                     parent, chosen))
                db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
            message_id = _row_id(cursor)
            if status == MessageStatus.STREAMING:
                self._streamed[message_id] = content
            return Message(id=message_id, conversation_id=conversation_id, role=role, content=content,
                           status=status, created_at=now, stats=dict(stats or {}), parent_id=parent)

    def update_message(self, message_id: int, *, content: str | None = None,
                       status: MessageStatus | str | None = None,
                       stats: dict[str, Any] | None = None) -> None:
        """Committed at once. Called for every streamed token: while the message is streaming and
        `content` only grows, this is one small INSERT of the new text, with no index work."""
        with self._guard(f"message {message_id}", write=True):
            status = None if status is None else MessageStatus(status)
            stored = self._streamed.get(message_id)
            if (stored is not None and content is not None and stats is None
                    and status in (None, MessageStatus.STREAMING) and content.startswith(stored)):
                if len(content) > len(stored):
                    try:
                        self._db.execute("INSERT INTO message_chunks (message_id, text) VALUES (?, ?)",
                                         (message_id, content[len(stored):]))
                    except sqlite3.IntegrityError:  # the message was deleted meanwhile
                        del self._streamed[message_id]
                        raise NotFoundError(f"message {message_id} does not exist (it may have been deleted)") from None
                    self._streamed[message_id] = content
                return
            changes: dict[str, Any] = {}
            if content is not None:
                changes["content"] = content
            if status is not None:
                changes["status"] = status.value
                changes["writer"] = self._token if status == MessageStatus.STREAMING else ""
            if stats is not None:
                changes["stats"] = json.dumps(stats)
            assignments = ", ".join(f"{column} = ?" for column in changes) or "id = id"
            with self._transaction() as db:
                self._fold(message_id)
                cursor = db.execute(f"UPDATE messages SET {assignments} WHERE id = ?", (*changes.values(), message_id))
                if cursor.rowcount == 0:
                    self._streamed.pop(message_id, None)
                    raise NotFoundError(f"message {message_id} does not exist (it may have been deleted)")
                if status == MessageStatus.STREAMING or (status is None and stored is not None):
                    text = content if content is not None else db.execute(
                        "SELECT content FROM messages WHERE id = ?", (message_id,)).fetchone()[0]
                    self._streamed[message_id] = text
                else:
                    self._streamed.pop(message_id, None)

    def _fold(self, message_id: int) -> None:
        """Append the message's pending chunks to its content (inside the caller's transaction)."""
        chunks = self._db.execute("SELECT text FROM message_chunks WHERE message_id = ? ORDER BY id",
                                  (message_id,)).fetchall()
        if chunks:
            self._db.execute("UPDATE messages SET content = content || ? WHERE id = ?",
                             ("".join(text for (text,) in chunks), message_id))
            self._db.execute("DELETE FROM message_chunks WHERE message_id = ?", (message_id,))

    def get_message(self, message_id: int) -> Message:
        with self._guard(f"message {message_id}"):
            row = self._db.execute(f"SELECT {self._COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"message {message_id} does not exist (it may have been deleted)")
            return self._message(row)

    def messages(self, conversation_id: int) -> list[Message]:
        """The branch shown: from the first message, each time the alternative chosen last (branches.py)."""
        with self._guard(f"conversation {conversation_id}"):
            return self._active_messages(conversation_id)

    def delete_messages_from(self, message_id: int) -> int:
        """Delete this message and everything below it, in every branch; returns how many (0 if unknown)."""
        with self._guard(f"deleting message {message_id}", write=True):
            with self._transaction() as db:
                row = db.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
                if row is None:
                    return 0
                below = ("WITH RECURSIVE below(id) AS (SELECT ? UNION SELECT m.id FROM messages m JOIN below"
                         " ON m.conversation_id = ? AND m.parent_id = below.id) ")
                count = int(db.execute(below + "SELECT count(*) FROM below", (message_id, row[0])).fetchone()[0])
                db.execute(below + "DELETE FROM messages WHERE id IN below", (message_id, row[0]))
                db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (time.time(), row[0]))
            return count

    # -- search ---------------------------------------------------------------------------
    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages and titles containing every term of `query` (case-insensitive substrings).

        Any input is taken literally: `"a phrase"` is one term, everything else splits on
        whitespace; FTS syntax (AND, *, -, parentheses) has no special meaning. Title hits come
        first with role "title" and message_id 0, then messages by relevance. Messages still
        streaming are not searchable until they end.
        """
        with self._guard("search"):
            terms = split_terms(query)
            if not terms or limit <= 0:
                return []
            hits = [SearchHit(conversation_id=cid, conversation_title=title, message_id=0, role="title",
                              snippet=make_snippet(title, terms))
                    for cid, title in self._match(
                        "title_fts", "SELECT c.id, c.title FROM title_fts f JOIN conversations c ON c.id = f.rowid",
                        "c.updated_at DESC", terms, limit)]
            for mid, cid, title, role, content in self._match(
                    "message_fts",
                    "SELECT m.id, m.conversation_id, c.title, m.role, f.content FROM message_fts f"
                    " JOIN messages m ON m.id = f.rowid JOIN conversations c ON c.id = m.conversation_id",
                    "m.id DESC", terms, limit - len(hits)):
                part, text = search_text(content, terms) if role == "assistant" else ("", content)
                hits.append(SearchHit(conversation_id=cid, conversation_title=title, message_id=mid, role=role,
                                      snippet=make_snippet(text, terms), part=part))
            return hits

    def _match(self, table: str, select: str, newest: str, terms: list[str], limit: int) -> list[tuple]:
        if limit <= 0:
            return []
        column = "f.title" if table == "title_fts" else "f.content"
        long_terms = [t for t in terms if len(t) >= 3]
        short_terms = [t for t in terms if len(t) < 3]  # trigrams cannot match these: use LIKE
        likes = [f"{column} LIKE ? ESCAPE '\\'" for _ in short_terms]
        like_args = [f"%{_escape_like(t)}%" for t in short_terms]
        if long_terms:
            phrase = " ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
            where = " AND ".join([f"{table} MATCH ?", *likes])
            try:
                return self._db.execute(f"{select} WHERE {where} ORDER BY f.rank, {newest} LIMIT ?",
                                        (phrase, *like_args, limit)).fetchall()
            except sqlite3.OperationalError:  # never expected; fall back to a plain scan
                likes += [f"{column} LIKE ? ESCAPE '\\'" for _ in long_terms]
                like_args += [f"%{_escape_like(t)}%" for t in long_terms]
        return self._db.execute(f"{select} WHERE {' AND '.join(likes)} ORDER BY {newest} LIMIT ?",
                                (*like_args, limit)).fetchall()

    # -- export ---------------------------------------------------------------------------
    def export(self, conversation_id: int, path: Path | str, *, all_branches: bool = False) -> Path:
        """Write the conversation to `path` (.md/.markdown or .json, chosen by suffix), atomically: the
        branch shown; with `all_branches` a JSON export also holds every other alternative."""
        from studio.core.chat.export import write_export
        messages = self.messages(conversation_id)
        shown = {m.id for m in messages}
        others = [m for m in self.all_messages(conversation_id) if m.id not in shown] if all_branches else None
        return write_export(path, self.get_conversation(conversation_id), messages, alternatives=others)

    # -- rows -----------------------------------------------------------------------------
    # Values are coerced: a damaged page SQLite's check cannot see may still hold a wrong type.
    @staticmethod
    def _conversation(row: tuple) -> Conversation:
        cid, title, system_prompt, sampling, model, created_at, updated_at, options = row
        loaded = _loads(options)
        return Conversation(id=int(cid), title=_text(title), system_prompt=_text(system_prompt),
                            sampling=SamplingParams.from_dict(_loads(sampling)), model=_text(model),
                            created_at=_number(created_at), updated_at=_number(updated_at),
                            options=loaded if isinstance(loaded, dict) else {})

    def _message(self, row: tuple) -> Message:
        mid, cid, role, content, status, stats, created_at, parent_id = row
        content = _text(content)
        try:
            status = MessageStatus(status)
        except ValueError:
            status = MessageStatus.INTERRUPTED
        if status == MessageStatus.STREAMING:  # chunks exist only while streaming
            content += "".join(_text(text) for (text,) in self._db.execute(
                "SELECT text FROM message_chunks WHERE message_id = ? ORDER BY id", (mid,)))
        return Message(id=int(mid), conversation_id=int(cid), role=_text(role), content=content, status=status,
                       created_at=_number(created_at), stats=_loads(stats),
                       parent_id=parent_id if isinstance(parent_id, int) else None)


def title_from_text(text: str) -> str:
    """The first non-empty line, whitespace collapsed, at most TITLE_MAX characters."""
    line = next((" ".join(part.split()) for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= TITLE_MAX else line[:TITLE_MAX - 1].rstrip() + "…"


_TERM = re.compile(r'"([^"]*)"|(\S+)')


def split_terms(query: str, max_terms: int = 16) -> list[str]:
    terms: list[str] = []
    for phrase, word in _TERM.findall(query or ""):
        term = " ".join(phrase.split()) if phrase else word.replace('"', "")
        if term and term.casefold() not in {t.casefold() for t in terms}:
            terms.append(term)
    return terms[:max_terms]


def make_snippet(text: str, terms: list[str], width: int = 96) -> str:
    """A window of `text` around the first match, each match wrapped in [ and ]."""
    flat = " ".join(text.split())
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    found = pattern.search(flat)
    start = max(0, (found.start() if found else 0) - width // 3)
    if start and (space := flat.rfind(" ", max(0, start - 12), start)) > 0:
        start = space + 1
    window = flat[start:start + width]
    marked = pattern.sub(lambda m: f"[{m.group(0)}]", window)
    return ("…" if start > 0 else "") + marked + ("…" if start + width < len(flat) else "")


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _loads(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except (ValueError, TypeError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id an INSERT just gave its row (always set after an INSERT; typed Optional by sqlite3)."""
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


# -- opening and checking ------------------------------------------------------------------
def _uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path.resolve()))}?mode={mode}"


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write `path`. In a folder that cannot be written SQLite cannot create
    the WAL index, so a database without a pending WAL is opened as immutable instead."""
    db = sqlite3.connect(_uri(path, "ro"), uri=True, isolation_level=None, timeout=5.0)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError as exc:
        db.close()
        wal = Path(f"{path}-wal")
        if "unable to open" not in str(exc).lower() or (wal.exists() and wal.stat().st_size > 0):
            raise
    return sqlite3.connect(_uri(path, "ro") + "&immutable=1", uri=True, isolation_level=None, timeout=5.0)


def _looks_damaged(text: str) -> bool:
    return any(sign in text for sign in ("malformed", "not a database", "corrupt", "file is encrypted"))


def check_database_file(path: Path) -> None:
    """Raise StoreDamaged unless `path` is an SQLite database that passes `PRAGMA quick_check`.

    Read-only throughout (a read-only connection never checkpoints its WAL into the file on close), so
    a damaged file leaves this exactly as it came in. Failures that say nothing about damage (busy, I/O,
    permissions) raise StoreUnavailable / StoreReadOnly and the file is left alone too."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(100)
    except OSError as exc:
        raise StoreUnavailable("unreadable", f"The chat database {path} cannot be read: {exc.strerror or exc}.") from exc
    if not head.startswith(SQLITE_MAGIC):
        sample = head[:24].decode("ascii", "replace").replace("\ufffd", "?").strip()
        raise StoreDamaged(f"{path.name} is not an SQLite database (it begins with {sample!r}).", kind="not_a_database")
    if len(head) < 100:
        raise StoreDamaged(f"{path.name} is cut short: {len(head)} bytes, not even a database header.")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    size = path.stat().st_size
    # The header's page count is kept up to date by every SQLite since 3.7.0 (checked by the version field).
    if page_size >= 512 and pages and int.from_bytes(head[92:96], "big") == int.from_bytes(head[24:28], "big"):
        expected = page_size * pages
        if size < expected:
            raise StoreDamaged(f"{path.name} is truncated: expected {_mb(expected)}, the file has {_mb(size)}.",
                               kind="truncated")
    try:
        db = _connect_read_only(path)
    except sqlite3.Error as exc:
        raise _opening_error(path, exc, True) from exc
    try:
        problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.DatabaseError as exc:
        raise _opening_error(path, exc, True) from exc
    finally:
        db.close()
    if problems != ["ok"]:
        raise StoreDamaged(f"{path.name} fails SQLite's check: {'; '.join(problems[:3])}.")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1000:.1f} KB"


def _opening_error(path: Path, exc: sqlite3.Error, read_only: bool) -> ChatStoreError:
    reason = str(exc)
    text = reason.lower()
    if _looks_damaged(text):
        return StoreDamaged(f"{path.name} is damaged: {reason}.")
    if "locked" in text or "busy" in text:
        return StoreUnavailable("busy", f"The chat database {path} is locked by another process ({reason}). "
                                        "Close other Local LLM Studio windows and start again.")
    if not read_only and ("readonly" in text or "read-only" in text or not _can_write(path)):
        return StoreReadOnly(f"The chat database {path} cannot be written ({reason}).")
    return StoreUnavailable("unavailable", f"The chat database {path} cannot be opened: {reason}.")


def _unwritable(path: Path, exc: OSError) -> ChatStoreError:
    if path.exists():
        return StoreReadOnly(f"The folder {path.parent} cannot be written ({exc.strerror or exc}).")
    return StoreUnavailable("unwritable", f"The folder {path.parent} cannot be created or written "
                                          f"({exc.strerror or exc}).")


def _can_write(path: Path) -> bool:
    folder_ok = os.access(path.parent, os.W_OK | os.X_OK)
    return folder_ok and (not path.exists() or os.access(path, os.W_OK))


def _too_new(path: Path, version: int) -> StoreSchemaTooNew:
    return StoreSchemaTooNew(
        f"{path} was written by a newer Local LLM Studio (chat schema {version}, this version knows up to "
        f"{SCHEMA_VERSION}). Update the app, or move the file away to start fresh.")
