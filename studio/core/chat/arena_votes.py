"""Arena votes: which of two engines gave the better answer to the same conversation, kept in the chat
database so the tally survives restarts and travels with the chats.

A pair is keyed by its two contestants' keys in sorted order ("first|second"), so A-vs-B and B-vs-A
count together; each vote names the winning key (or "" for a tie) and keeps both answers and their
stats. The migration only adds a table, and CREATE IF NOT EXISTS keeps it safe whatever its place in
the store's MIGRATIONS list.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.core.chat.store import ChatStore

TIE = ""


def schema_arena_votes(db: sqlite3.Connection) -> None:
    # Plain executes inside the migration's transaction (executescript would commit it).
    db.execute("""CREATE TABLE IF NOT EXISTS arena_votes (
        id INTEGER PRIMARY KEY,
        pair TEXT NOT NULL,                 -- "<first key>|<second key>", keys sorted
        first_label TEXT NOT NULL,
        second_label TEXT NOT NULL,
        winner TEXT NOT NULL,               -- the winning contestant's key, '' for a tie
        conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
        message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
        prompt TEXT NOT NULL,
        answers TEXT NOT NULL,              -- JSON {key: {"label", "text", "stats", "side"}}
        created_at REAL NOT NULL)""")
    db.execute("CREATE INDEX IF NOT EXISTS arena_votes_pair ON arena_votes (pair)")
    # Deleting a conversation or its messages looks up their votes (ON DELETE SET NULL): indexed, not scanned.
    db.execute("CREATE INDEX IF NOT EXISTS arena_votes_conversation ON arena_votes (conversation_id)")
    db.execute("CREATE INDEX IF NOT EXISTS arena_votes_message ON arena_votes (message_id)")


def pair_key(key_a: str, key_b: str) -> tuple[str, str, str]:
    """(pair, first, second): the two keys in sorted order and the pair they make."""
    first, second = sorted((key_a, key_b))
    return f"{first}|{second}", first, second


@dataclass
class Vote:
    pair: str
    first_label: str
    second_label: str
    winner: str                      # a contestant key, or TIE
    prompt: str
    answers: dict[str, dict[str, Any]]  # key → {"label", "text", "stats", "side"}
    conversation_id: int | None = None
    message_id: int | None = None
    created_at: float = field(default_factory=time.time)
    id: int = 0


@dataclass
class PairSummary:
    """The tally of one pair: `first`/`second` are the contestants' keys in sorted order."""
    pair: str
    first: str
    second: str
    first_label: str
    second_label: str
    first_wins: int = 0
    second_wins: int = 0
    ties: int = 0

    @property
    def n(self) -> int:
        return self.first_wins + self.second_wins + self.ties


def save_vote(store: ChatStore, vote: Vote) -> Vote:
    with store._guard("the arena vote", write=True), store._transaction() as db:
        cursor = db.execute(
            "INSERT INTO arena_votes (pair, first_label, second_label, winner, conversation_id, message_id, prompt,"
            " answers, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (vote.pair, vote.first_label, vote.second_label, vote.winner, vote.conversation_id, vote.message_id,
             vote.prompt, json.dumps(vote.answers, ensure_ascii=False), vote.created_at))
        vote.id = int(cursor.lastrowid or 0)
    return vote


def votes(store: ChatStore, pair: str | None = None) -> list[Vote]:
    """Every vote (or one pair's), oldest first."""
    where, args = ("WHERE pair = ?", (pair,)) if pair else ("", ())
    with store._guard("the arena votes"):
        rows = store._db.execute(
            "SELECT id, pair, first_label, second_label, winner, conversation_id, message_id, prompt, answers,"
            f" created_at FROM arena_votes {where} ORDER BY id", args).fetchall()
    out = []
    for vid, pair_, first_label, second_label, winner, cid, mid, prompt, answers, created in rows:
        try:
            loaded = json.loads(answers)
        except ValueError:  # a damaged record still counts in the tally
            loaded = {}
        out.append(Vote(str(pair_), str(first_label), str(second_label), str(winner), str(prompt),
                        loaded if isinstance(loaded, dict) else {}, cid, mid, float(created), int(vid)))
    return out


def summary(store: ChatStore) -> list[PairSummary]:
    """Wins of each side and ties per pair, the pair voted on most recently first."""
    with store._guard("the arena tally"):
        rows = store._db.execute(
            "SELECT pair, first_label, second_label, winner, COUNT(*), MAX(id) FROM arena_votes "
            "GROUP BY pair, winner").fetchall()
    pairs: dict[str, PairSummary] = {}
    latest: dict[str, int] = {}
    for pair, first_label, second_label, winner, count, last in rows:
        first, _, second = str(pair).partition("|")
        tally = pairs.setdefault(pair, PairSummary(pair, first, second, str(first_label), str(second_label)))
        if winner == first:
            tally.first_wins += int(count)
        elif winner == second:
            tally.second_wins += int(count)
        else:
            tally.ties += int(count)
        latest[pair] = max(latest.get(pair, 0), int(last))
    return sorted(pairs.values(), key=lambda s: -latest[s.pair])


__all__ = ["TIE", "PairSummary", "Vote", "pair_key", "save_vote", "schema_arena_votes", "summary", "votes"]
