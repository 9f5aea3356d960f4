"""Branches, not overwrites: editing a message or regenerating a reply keeps what was there.

A conversation's messages form a tree. `parent_id` is the message a message follows (NULL for a
first message; editing the first message makes a second root). Siblings are alternatives of one
another. Which one is shown is the one chosen last: `chosen` holds a per-conversation counter that a
new message and a switch both bump, so the active child of any parent is its sibling with the
highest `chosen` (ties: the newest). Nothing points at a child, so deleting the active one simply
shows the previous choice again.

The active path (root → active child → … → leaf) is what ChatStore.messages returns: prompts,
grounding, export and the server keep seeing one linear conversation. Search covers every branch.

The migration gives every message of an existing conversation the previous one (by id) as its
parent: each conversation becomes one chain, every message kept, the search index untouched. It adds
only what is missing, so it is safe wherever it sits in the store's MIGRATIONS list.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from enum import Enum
from typing import TYPE_CHECKING, Literal

from studio.core.chat.conversation import Message


def schema_branches(db: sqlite3.Connection) -> None:
    # Plain executes inside the migration's transaction (executescript would commit it).
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(messages)")}
    if "chosen" not in columns:
        db.execute("ALTER TABLE messages ADD COLUMN chosen INTEGER NOT NULL DEFAULT 0")
    if "parent_id" not in columns:  # already there: a tree exists and must not be flattened
        # No REFERENCES: a foreign-key cascade down a long chain would recurse once per message.
        db.execute("ALTER TABLE messages ADD COLUMN parent_id INTEGER")
        db.execute("UPDATE messages SET parent_id = (SELECT MAX(p.id) FROM messages p"
                   " WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id)")
    db.execute("CREATE INDEX IF NOT EXISTS messages_parent ON messages(conversation_id, parent_id)")
    db.execute("CREATE INDEX IF NOT EXISTS messages_chosen ON messages(conversation_id, chosen)")  # the next choice


class _Placement(Enum):
    LEAF = "leaf"


# add_message's default parent: the end of the active path (appending, as before branches).
ACTIVE_LEAF = _Placement.LEAF
Parent = int | None | Literal[_Placement.LEAF]

# (id, parent_id, chosen) of every message in a conversation.
_Node = tuple[int, int | None, int]


def active_path(nodes: list[_Node]) -> list[int]:
    """Ids from the root to the leaf, following each parent's most recently chosen child."""
    best: dict[int | None, _Node] = {}
    for candidate in nodes:
        held = best.get(candidate[1])
        if held is None or (candidate[2], candidate[0]) > (held[2], held[0]):
            best[candidate[1]] = candidate
    path: list[int] = []
    seen: set[int] = set()
    node: _Node | None = best.get(None)
    while node is not None and node[0] not in seen:  # `seen`: a damaged row pointing back up
        path.append(node[0])
        seen.add(node[0])
        node = best.get(node[0])
    return path


def positions(nodes: list[_Node], ids: list[int]) -> dict[int, tuple[int, int]]:
    """For each of `ids`: (its place among its siblings counted from 1, in creation order; their number)."""
    groups: dict[int | None, list[int]] = {}
    parent_of = {}
    for mid, parent, _chosen in nodes:
        groups.setdefault(parent, []).append(mid)
        parent_of[mid] = parent
    result = {}
    for mid in ids:
        group = sorted(groups.get(parent_of.get(mid), [mid]))
        result[mid] = (group.index(mid) + 1 if mid in group else 1, len(group))
    return result


class BranchesMixin:
    if TYPE_CHECKING:  # ChatStore's, which this is mixed into
        _db: sqlite3.Connection

        def _guard(self, what: str, *, write: bool = False) -> AbstractContextManager[None]: ...

        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _message(self, row: tuple) -> Message: ...

        def get_message(self, message_id: int) -> Message: ...

    _COLUMNS = "id, conversation_id, role, content, status, stats, created_at, parent_id"

    def _nodes(self, conversation_id: int) -> list[_Node]:
        return [(int(mid), parent if isinstance(parent, int) else None, chosen if isinstance(chosen, int) else 0)
                for mid, parent, chosen in self._db.execute(
                    "SELECT id, parent_id, chosen FROM messages WHERE conversation_id = ?", (conversation_id,))]

    def _active_messages(self, conversation_id: int) -> list[Message]:
        rows = {row[0]: row for row in self._db.execute(
            f"SELECT {self._COLUMNS}, chosen FROM messages WHERE conversation_id = ?", (conversation_id,))}
        nodes = [(int(r[0]), r[7] if isinstance(r[7], int) else None, r[8] if isinstance(r[8], int) else 0)
                 for r in rows.values()]
        return [self._message(rows[mid][:8]) for mid in active_path(nodes)]

    def _place(self, db: sqlite3.Connection, conversation_id: int, parent_id: Parent) -> tuple[int | None, int]:
        """(parent, chosen) for a new message (inside the caller's transaction): under `parent_id`, or
        at the end of the active path, and chosen last so it is the one shown."""
        if parent_id is ACTIVE_LEAF:
            path = active_path(self._nodes(conversation_id))
            parent = path[-1] if path else None
        else:
            parent = parent_id
            if parent is not None and db.execute("SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
                                                 (parent, conversation_id)).fetchone() is None:
                from studio.core.chat.store import NotFoundError
                raise NotFoundError(f"message {parent} is not in conversation {conversation_id} "
                                    "(it may have been deleted)")
        return parent, self._next_choice(db, conversation_id)

    @staticmethod
    def _next_choice(db: sqlite3.Connection, conversation_id: int) -> int:
        top = db.execute("SELECT MAX(chosen) FROM messages WHERE conversation_id = ?", (conversation_id,)).fetchone()[0]
        return (top if isinstance(top, int) else 0) + 1

    def siblings(self, message_id: int) -> list[Message]:
        """The message and its alternatives (same parent), oldest first."""
        message = self.get_message(message_id)
        with self._guard(f"the alternatives of message {message_id}"):
            rows = self._db.execute(f"SELECT {self._COLUMNS} FROM messages WHERE conversation_id = ?"
                                    " AND parent_id IS ? ORDER BY id", (message.conversation_id, message.parent_id))
            return [self._message(row) for row in rows]

    def branch_position(self, message_id: int) -> tuple[int, int]:
        """(n, count): the message is alternative n (from 1, oldest first) of `count`."""
        ids = [m.id for m in self.siblings(message_id)]
        return (ids.index(message_id) + 1 if message_id in ids else 1, max(1, len(ids)))

    def branch_positions(self, conversation_id: int) -> dict[int, tuple[int, int]]:
        """branch_position for every message on the active path, in one read."""
        with self._guard(f"the branches of conversation {conversation_id}"):
            nodes = self._nodes(conversation_id)
            return positions(nodes, active_path(nodes))

    def all_messages(self, conversation_id: int) -> list[Message]:
        """Every message of every branch, oldest first (a parent always comes before its children)."""
        with self._guard(f"conversation {conversation_id}"):
            rows = self._db.execute(f"SELECT {self._COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                                    (conversation_id,)).fetchall()
            return [self._message(row) for row in rows]

    def switch_branch(self, message_id: int) -> bool:
        """Show the branch through `message_id`: it and each of its ancestors become their parent's
        active child; below it, the branch shown last there. False when it was shown already."""
        with self._guard(f"switching to message {message_id}", write=True), self._transaction() as db:
            row = db.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                from studio.core.chat.store import NotFoundError
                raise NotFoundError(f"message {message_id} does not exist (it may have been deleted)")
            conversation_id = int(row[0])
            nodes = self._nodes(conversation_id)
            if message_id in active_path(nodes):
                return False
            parent_of = {mid: parent for mid, parent, _ in nodes}
            line: list[int] = []
            mid: int | None = message_id
            while mid is not None and mid not in line:
                line.append(mid)
                mid = parent_of.get(mid)
            choice = self._next_choice(db, conversation_id)
            for offset, mid in enumerate(reversed(line)):  # root first; only the order within a group matters
                db.execute("UPDATE messages SET chosen = ? WHERE id = ?", (choice + offset, mid))
            return True
