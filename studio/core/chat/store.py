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

One connection, used from the thread that opened it (the asyncio / Qt main thread).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from studio.core.chat.conversation import Conversation, Message, MessageStatus, SearchHit
from studio.core.chat.sampling import SamplingParams

DEFAULT_TITLE = "New chat"
TITLE_MAX = 48
ROLES = ("system", "user", "assistant")


class NotFoundError(LookupError):
    """A conversation or message id that is not (or no longer) in the store."""


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


# MIGRATIONS[i] brings a database from schema version i to i + 1. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_schema_v1]
SCHEMA_VERSION = len(MIGRATIONS)


class ChatStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; multi-statement writes use `_transaction`.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=5.0)
        # id -> full text stored so far, for messages this store saw streaming: the append fast path.
        self._streamed: dict[int, str] = {}
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            # The app died mid-reply last time: keep the partial text, index it, mark it.
            stale = self._db.execute("SELECT id FROM messages WHERE status = 'streaming'").fetchall()
            if stale:
                with self._transaction() as db:
                    for (message_id,) in stale:
                        self._fold(message_id)
                    db.execute("UPDATE messages SET status = ? WHERE status = ?",
                               (MessageStatus.INTERRUPTED.value, MessageStatus.STREAMING.value))
        except BaseException:
            self._db.close()
            raise

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ChatStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer Local LLM Studio (chat schema {version}, this "
                f"version knows up to {SCHEMA_VERSION}). Update the app, or move the file away to start fresh.")
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

    # -- conversations --------------------------------------------------------------------
    def create_conversation(self, title: str = DEFAULT_TITLE, system_prompt: str = "",
                            sampling: SamplingParams | None = None, model: str = "") -> Conversation:
        now = time.time()
        sampling_json = json.dumps((sampling or SamplingParams()).to_dict())
        cursor = self._db.execute(
            "INSERT INTO conversations (title, system_prompt, sampling, model, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (title, system_prompt, sampling_json, model, now, now))
        return self.get_conversation(int(cursor.lastrowid))

    def get_conversation(self, conversation_id: int) -> Conversation:
        row = self._db.execute(
            "SELECT id, title, system_prompt, sampling, model, created_at, updated_at"
            " FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"conversation {conversation_id} does not exist (it may have been deleted)")
        return self._conversation(row)

    def list_conversations(self) -> list[Conversation]:
        rows = self._db.execute(
            "SELECT id, title, system_prompt, sampling, model, created_at, updated_at"
            " FROM conversations ORDER BY updated_at DESC, id DESC").fetchall()
        return [self._conversation(row) for row in rows]

    def update_conversation(self, conversation_id: int, *, title: str | None = None,
                            system_prompt: str | None = None, sampling: SamplingParams | None = None,
                            model: str | None = None) -> Conversation:
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title.strip() or DEFAULT_TITLE
        if system_prompt is not None:
            changes["system_prompt"] = system_prompt
        if sampling is not None:
            changes["sampling"] = json.dumps(sampling.to_dict())
        if model is not None:
            changes["model"] = model
        changes["updated_at"] = time.time()
        assignments = ", ".join(f"{column} = ?" for column in changes)
        cursor = self._db.execute(f"UPDATE conversations SET {assignments} WHERE id = ?",
                                  (*changes.values(), conversation_id))
        if cursor.rowcount == 0:
            raise NotFoundError(f"conversation {conversation_id} does not exist (it may have been deleted)")
        return self.get_conversation(conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete it with its messages and their search entries; a missing id is not an error."""
        self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # -- messages -------------------------------------------------------------------------
    def add_message(self, conversation_id: int, role: str, content: str,
                    status: MessageStatus | str = MessageStatus.COMPLETE,
                    stats: dict[str, Any] | None = None) -> Message:
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
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, role, content, status, stats, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, status.value, json.dumps(stats or {}), now))
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
        if status == MessageStatus.STREAMING:
            self._streamed[int(cursor.lastrowid)] = content
        return Message(id=int(cursor.lastrowid), conversation_id=conversation_id, role=role, content=content,
                       status=status, created_at=now, stats=dict(stats or {}))

    def update_message(self, message_id: int, *, content: str | None = None,
                       status: MessageStatus | str | None = None,
                       stats: dict[str, Any] | None = None) -> None:
        """Committed at once. Called for every streamed token: while the message is streaming and
        `content` only grows, this is one small INSERT of the new text, with no index work."""
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
        row = self._db.execute(
            "SELECT id, conversation_id, role, content, status, stats, created_at FROM messages WHERE id = ?",
            (message_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"message {message_id} does not exist (it may have been deleted)")
        return self._message(row)

    def messages(self, conversation_id: int) -> list[Message]:
        rows = self._db.execute(
            "SELECT id, conversation_id, role, content, status, stats, created_at FROM messages"
            " WHERE conversation_id = ? ORDER BY id", (conversation_id,)).fetchall()
        return [self._message(row) for row in rows]

    def delete_messages_from(self, message_id: int) -> int:
        """Delete this message and every later one in its conversation; returns how many (0 if unknown)."""
        with self._transaction() as db:
            row = db.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return 0
            cursor = db.execute("DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (row[0], message_id))
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (time.time(), row[0]))
        return cursor.rowcount

    # -- search ---------------------------------------------------------------------------
    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages and titles containing every term of `query` (case-insensitive substrings).

        Any input is taken literally: `"a phrase"` is one term, everything else splits on
        whitespace; FTS syntax (AND, *, -, parentheses) has no special meaning. Title hits come
        first with role "title" and message_id 0, then messages by relevance. Messages still
        streaming are not searchable until they end.
        """
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
            hits.append(SearchHit(conversation_id=cid, conversation_title=title, message_id=mid, role=role,
                                  snippet=make_snippet(content, terms)))
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
    def export(self, conversation_id: int, path: Path | str) -> Path:
        """Write the conversation to `path` (.md/.markdown or .json, chosen by suffix), atomically."""
        from studio.core.chat.export import write_export
        return write_export(path, self.get_conversation(conversation_id), self.messages(conversation_id))

    # -- rows -----------------------------------------------------------------------------
    @staticmethod
    def _conversation(row: tuple) -> Conversation:
        cid, title, system_prompt, sampling, model, created_at, updated_at = row
        return Conversation(id=cid, title=title, system_prompt=system_prompt,
                            sampling=SamplingParams.from_dict(_loads(sampling)), model=model,
                            created_at=created_at, updated_at=updated_at)

    def _message(self, row: tuple) -> Message:
        mid, cid, role, content, status, stats, created_at = row
        try:
            status = MessageStatus(status)
        except ValueError:
            status = MessageStatus.INTERRUPTED
        if status == MessageStatus.STREAMING:  # chunks exist only while streaming
            content += "".join(text for (text,) in self._db.execute(
                "SELECT text FROM message_chunks WHERE message_id = ? ORDER BY id", (mid,)))
        return Message(id=mid, conversation_id=cid, role=role, content=content, status=status,
                       created_at=created_at, stats=_loads(stats))


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


def _loads(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
