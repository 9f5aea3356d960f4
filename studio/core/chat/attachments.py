"""What a conversation draws on besides its messages: attached knowledge collections, and for each
reply built on retrieved text its retrieval record (every candidate, the prompt exactly as the
model received it, its token count, what was left out, the reply's citations).

Schema version 3 of the chat store adds the two tables; ChatStore mixes in the accessors. Records
are plain JSON here: the chat layer knows nothing of the knowledge package that fills them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any


def schema_v3(db: sqlite3.Connection) -> None:
    # New tables only, in the migration's transaction (no executescript: it would commit):
    # an old database keeps every message and just gains them.
    db.execute("""CREATE TABLE IF NOT EXISTS conversation_collections (
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        collection TEXT NOT NULL,
        PRIMARY KEY (conversation_id, collection))""")
    db.execute("""CREATE TABLE IF NOT EXISTS message_retrieval (
        message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        record TEXT NOT NULL)""")


class AttachmentsMixin:
    if TYPE_CHECKING:  # ChatStore's, which this is mixed into
        _db: sqlite3.Connection

        def _guard(self, what: str, *, write: bool = False) -> AbstractContextManager[None]: ...

        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def collections(self, conversation_id: int) -> list[str]:
        """The knowledge collections attached to the conversation, in the order attached."""
        with self._guard("reading the conversation's collections"):
            rows = self._db.execute("SELECT collection FROM conversation_collections WHERE conversation_id = ? "
                                    "ORDER BY position", (conversation_id,)).fetchall()
        return [str(r[0]) for r in rows]

    def set_collections(self, conversation_id: int, names: Sequence[str]) -> list[str]:
        """Attach exactly `names` (duplicates and blanks dropped); [] detaches all."""
        wanted = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
        with self._guard("the conversation's collections", write=True), self._transaction() as db:
            db.execute("DELETE FROM conversation_collections WHERE conversation_id = ?", (conversation_id,))
            db.executemany("INSERT INTO conversation_collections (conversation_id, position, collection) "
                           "VALUES (?, ?, ?)", [(conversation_id, i, n) for i, n in enumerate(wanted)])
        return wanted

    def set_retrieval(self, message_id: int, record: dict[str, Any]) -> None:
        with self._guard("the reply's retrieval record", write=True), self._transaction() as db:
            db.execute("INSERT INTO message_retrieval (message_id, record) VALUES (?, ?) "
                       "ON CONFLICT(message_id) DO UPDATE SET record = excluded.record",
                       (message_id, json.dumps(record, ensure_ascii=False)))

    def retrieval(self, message_id: int) -> dict[str, Any] | None:
        """The retrieval record kept with a reply, or None when it was not built on retrieved text."""
        with self._guard("reading the reply's retrieval record"):
            row = self._db.execute("SELECT record FROM message_retrieval WHERE message_id = ?",
                                   (message_id,)).fetchone()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:  # a damaged record hides the panel's content, never the reply
            return None
        return value if isinstance(value, dict) else None
