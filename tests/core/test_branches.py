"""Branches, not overwrites: edits and regenerations keep what was there (a tree in SQLite).

Store tests use a real SQLite file; the session tests drive the real engine worker with the starter model.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from studio.core.chat.branches import schema_branches
from studio.core.chat.conversation import MessageStatus
from studio.core.chat.export import from_json
from studio.core.chat.store import DEFAULT_TITLE, MIGRATIONS, SCHEMA_VERSION, ChatStore
from studio.core.chat.store_recovery import recover_into


@pytest.fixture()
def store(tmp_path):
    with ChatStore(tmp_path / "chats.sqlite3") as s:
        yield s


def _chain(store, *texts, title=DEFAULT_TITLE):
    conversation = store.create_conversation(title=title)
    messages = [store.add_message(conversation.id, "user" if i % 2 == 0 else "assistant", text)
                for i, text in enumerate(texts)]
    return conversation, messages


def _contents(store, conversation_id):
    return [m.content for m in store.messages(conversation_id)]


# -- migration -----------------------------------------------------------------------------------
def test_a_database_from_before_branches_becomes_one_chain_per_conversation_keeping_every_message(tmp_path):
    path = tmp_path / "chats.sqlite3"
    before = MIGRATIONS.index(schema_branches)  # the schema the previous app version wrote
    db = sqlite3.connect(path, isolation_level=None)
    for migrate in MIGRATIONS[:before]:
        migrate(db)
    db.execute(f"PRAGMA user_version = {before}")
    for cid, title in ((1, "Trains"), (2, "Cooking")):
        db.execute("INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, 0, 0)", (cid, title))
    texts = {1: [], 2: []}
    for i in range(12):  # interleaved ids: the previous message of a conversation is not id - 1
        cid = 1 + i % 2
        text = f"turn {i} of {cid}: " + ("platform timetable" if cid == 1 else "烤面包 recipe")
        db.execute("INSERT INTO messages (conversation_id, role, content, status, created_at) VALUES (?, ?, ?, ?, ?)",
                   (cid, "user" if len(texts[cid]) % 2 == 0 else "assistant", text,
                    "interrupted" if i == 11 else "complete", i))
        texts[cid].append(text)
    index_before = db.execute("SELECT rowid, content FROM message_fts ORDER BY rowid").fetchall()
    db.close()

    with ChatStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        for cid in (1, 2):
            shown = store.messages(cid)
            assert [m.content for m in shown] == texts[cid]
            assert shown[0].parent_id is None
            assert [m.parent_id for m in shown[1:]] == [m.id for m in shown[:-1]]
            assert set(store.branch_positions(cid).values()) == {(1, 1)}
        assert store.messages(2)[-1].status == MessageStatus.INTERRUPTED
        assert store._db.execute("SELECT count(*) FROM messages").fetchone()[0] == 12
        assert store._db.execute("SELECT rowid, content FROM message_fts ORDER BY rowid").fetchall() == index_before
        assert {h.conversation_id for h in store.search("timetable") if h.role != "title"} == {1}
        # and it goes on as before: a new message follows the last one
        added = store.add_message(1, "user", "one more")
        assert added.parent_id == store.messages(1)[-2].id and _contents(store, 1)[-1] == "one more"
    with ChatStore(path) as store:  # reopening migrates nothing twice
        assert [m.content for m in store.messages(1)] == [*texts[1], "one more"]


def test_rerunning_the_migration_on_a_tree_keeps_the_tree(tmp_path):
    path = tmp_path / "chats.sqlite3"
    with ChatStore(path) as store:
        conversation, (q, a1) = _chain(store, "question", "answer one")
        store.add_message(conversation.id, "assistant", "answer two", parent_id=q.id)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA user_version = {MIGRATIONS.index(schema_branches)}")  # as a hand-edited header would
    db.close()
    with ChatStore(path) as store:
        assert _contents(store, conversation.id) == ["question", "answer two"]
        assert [m.content for m in store.siblings(a1.id)] == ["answer one", "answer two"]


# -- the tree ------------------------------------------------------------------------------------
def test_alternatives_switching_and_the_branch_below_following(store):
    conversation, (q1, a1, _q2, a2) = _chain(store, "q1", "a1", "q2", "a2")
    b1 = store.add_message(conversation.id, "assistant", "b1", parent_id=q1.id)  # a regenerated first reply
    assert _contents(store, conversation.id) == ["q1", "b1"]
    store.add_message(conversation.id, "user", "q2 after b1")  # by default: after the last shown message
    assert _contents(store, conversation.id) == ["q1", "b1", "q2 after b1"]
    assert store.branch_positions(conversation.id) == {q1.id: (1, 1), b1.id: (2, 2),
                                                       store.messages(conversation.id)[2].id: (1, 1)}
    assert [m.id for m in store.siblings(b1.id)] == [a1.id, b1.id] and store.branch_position(a1.id) == (1, 2)

    assert store.switch_branch(a1.id) is True
    assert _contents(store, conversation.id) == ["q1", "a1", "q2", "a2"]  # the old turns below came back
    assert store.switch_branch(a1.id) is False  # shown already
    assert store.switch_branch(b1.id) is True
    assert _contents(store, conversation.id) == ["q1", "b1", "q2 after b1"]
    assert store.switch_branch(a2.id) is True  # a message deep in another branch: its ancestors follow
    assert _contents(store, conversation.id) == ["q1", "a1", "q2", "a2"]
    assert store._db.execute("SELECT count(*) FROM messages").fetchone()[0] == 6


def test_editing_the_first_message_makes_a_second_root(store):
    conversation, (q1, _a1) = _chain(store, "first try", "reply")
    again = store.add_message(conversation.id, "user", "second try", parent_id=None)
    assert _contents(store, conversation.id) == ["second try"]
    assert store.branch_positions(conversation.id) == {again.id: (2, 2)}
    store.switch_branch(q1.id)
    assert _contents(store, conversation.id) == ["first try", "reply"]
    assert store.get_conversation(conversation.id).title == "first try"  # the title is not re-derived


def test_a_parent_from_another_conversation_is_refused(store):
    _, (other,) = _chain(store, "elsewhere")
    conversation = store.create_conversation()
    with pytest.raises(LookupError, match="not in conversation"):
        store.add_message(conversation.id, "user", "x", parent_id=other.id)
    assert store.messages(conversation.id) == []


def test_deleting_a_message_takes_its_subtree_and_deleting_a_conversation_takes_every_branch(store):
    conversation, (q1, *_) = _chain(store, "q1", "a1", "q2", "a2")
    b1 = store.add_message(conversation.id, "assistant", "b1 needle", parent_id=q1.id)
    store.add_message(conversation.id, "user", "under b1 needle")
    other, _ = _chain(store, "other needle", "kept")
    assert store.delete_messages_from(b1.id) == 2
    assert _contents(store, conversation.id) == ["q1", "a1", "q2", "a2"]  # the previous choice shows again
    store.add_message(conversation.id, "assistant", "c1 needle", parent_id=q1.id)
    store.delete_conversation(conversation.id)
    assert store._db.execute("SELECT count(*) FROM messages WHERE conversation_id = ?",
                             (conversation.id,)).fetchone()[0] == 0
    assert [h.conversation_id for h in store.search("needle") if h.role != "title"] == [other.id]
    assert _contents(store, other.id) == ["other needle", "kept"]


def test_search_finds_text_in_every_branch(store):
    conversation, (q1, a1) = _chain(store, "Name a bird", "A pelican.")
    b1 = store.add_message(conversation.id, "assistant", "A cormorant.", parent_id=q1.id)
    hits = {h.message_id for h in store.search("pelican")}
    assert hits == {a1.id}  # not shown, still found
    assert {h.message_id for h in store.search("cormorant")} == {b1.id}
    store.switch_branch(a1.id)
    assert _contents(store, conversation.id) == ["Name a bird", "A pelican."]


def test_export_shows_the_branch_shown_and_json_can_hold_every_branch(store, tmp_path):
    conversation, (q1, a1, q2, a2) = _chain(store, "q1", "old answer", "q2", "a2")
    b1 = store.add_message(conversation.id, "assistant", "new answer", parent_id=q1.id)
    markdown = store.export(conversation.id, tmp_path / "chat.md").read_text(encoding="utf-8")
    assert "new answer" in markdown and "old answer" not in markdown and "q2" not in markdown

    plain = json.loads(store.export(conversation.id, tmp_path / "plain.json").read_text(encoding="utf-8"))
    assert [m["content"] for m in plain["messages"]] == ["q1", "new answer"] and "alternatives" not in plain

    data = json.loads(store.export(conversation.id, tmp_path / "all.json", all_branches=True).read_text("utf-8"))
    assert [m["content"] for m in data["messages"]] == ["q1", "new answer"]
    assert [m["id"] for m in data["messages"]] == [q1.id, b1.id] and data["messages"][1]["parent_id"] == q1.id
    tree = {m["id"]: m for m in data["messages"] + data["alternatives"]}
    assert {m["content"] for m in data["alternatives"]} == {"old answer", "q2", "a2"}
    assert tree[a2.id]["parent_id"] == q2.id and tree[q2.id]["parent_id"] == a1.id and tree[a1.id]["parent_id"] == q1.id
    _, back = from_json(data)  # a reader of the first format gets the conversation as shown
    assert [m.content for m in back] == ["q1", "new answer"]


def test_recovery_keeps_the_branches(store, tmp_path):
    conversation, (q1, _a1, _q2, a2) = _chain(store, "q1", "a1", "q2", "a2")
    store.add_message(conversation.id, "assistant", "b1", parent_id=q1.id)
    store.add_message(conversation.id, "user", "q2 after b1")
    store.switch_branch(a2.id)
    with ChatStore(tmp_path / "fresh.sqlite3") as fresh:
        report = recover_into(fresh, store.path)
        assert report.messages == 6 and report.conversations == 1
        (copy,) = fresh.list_conversations()
        shown = fresh.messages(copy.id)
        assert [m.content for m in shown] == ["q1", "a1", "q2", "a2"]
        assert fresh.branch_position(shown[1].id) == (1, 2)
        fresh.switch_branch(fresh.siblings(shown[1].id)[1].id)
        assert [m.content for m in fresh.messages(copy.id)] == ["q1", "b1", "q2 after b1"]


# -- the session, with the real engine ------------------------------------------------------------
@pytest.mark.slow
def test_regenerating_twice_keeps_three_replies_and_the_prompt_follows_the_shown_one(harness):
    from studio.core.engine.sampling import SamplingParams

    session, store, _engine, loop = harness
    session.update_settings(sampling=SamplingParams(temperature=1.0, seed=1, max_tokens=12, n_ctx=2048))
    first = loop.run_until_complete(session.send("Name a colour."))
    seen = []
    session.subscribe("branches", lambda positions: seen.append(positions))
    second = loop.run_until_complete(session.regenerate())
    third = loop.run_until_complete(session.regenerate())
    question = session.messages[0]
    assert [m.id for m in store.siblings(third.id)] == [first.id, second.id, third.id]
    assert [m.id for m in session.messages] == [question.id, third.id]
    assert [m.id for m in store.messages(question.conversation_id)] == [question.id, third.id]
    assert session.branches[third.id] == (3, 3) and seen[-1][third.id] == (3, 3)
    assert all(m.status == MessageStatus.COMPLETE and m.content for m in store.siblings(third.id))

    switched = []
    session.subscribe("branch_switched", lambda index, messages: switched.append((index, [m.id for m in messages])))
    assert session.switch_sibling(third.id, -2) is True
    assert switched == [(1, [question.id, first.id])] and session.branches[first.id] == (1, 3)
    assert session.switch_sibling(first.id, -1) is False  # no alternative before the first
    history, _ = session._prompt_messages(session.conversation)
    assert [t["content"] for t in history if t["role"] == "assistant"] == [first.content]

    follow = loop.run_until_complete(session.send("And another?"))
    asked = store.messages(question.conversation_id)
    assert [m.id for m in asked[:2]] == [question.id, first.id] and asked[-1].id == follow.id
    assert asked[2].parent_id == first.id
    assert {m.id for m in store.siblings(first.id)} == {first.id, second.id, third.id}  # nothing lost


@pytest.mark.slow
def test_editing_keeps_the_old_turns_as_a_branch(harness):
    session, store, _engine, loop = harness
    loop.run_until_complete(session.send("What is the capital of Germany?"))
    loop.run_until_complete(session.send("And its population?"))
    old = list(session.messages)
    removed = []
    session.subscribe("messages_removed", lambda ids: removed.append(ids))
    reply = loop.run_until_complete(session.edit_and_resend(old[2].id, "What is the capital of France? Answer in English."))
    assert removed == [[old[2].id, old[3].id]]
    shown = store.messages(session.conversation.id)
    assert [m.content for m in shown[:2]] == [old[0].content, old[1].content]
    assert shown[2].content == "What is the capital of France? Answer in English." and shown[2].parent_id == old[1].id
    assert "Paris" in reply.content and session.branches[shown[2].id] == (2, 2)
    assert session.switch_branch(old[3].id) is True  # the old question and its answer are all there
    assert [m.id for m in session.messages] == [m.id for m in old]
