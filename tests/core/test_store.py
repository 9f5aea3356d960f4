"""ChatStore on a real SQLite file: CRUD, ordering, titles, cascade, search (incl. Chinese), export."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.export import FORMAT, FORMAT_VERSION, from_json, to_json, to_markdown, write_export
from studio.core.engine.sampling import PRESETS, SamplingParams
from studio.core.chat.store import DEFAULT_TITLE, SCHEMA_VERSION, ChatStore, NotFoundError


@pytest.fixture()
def store(tmp_path):
    with ChatStore(tmp_path / "nested" / "chats.sqlite3") as s:
        yield s


def _messages_found(store, query, **kw):
    return [hit for hit in store.search(query, **kw) if hit.role != "title"]


def _chat(store, *turns, title=DEFAULT_TITLE):
    conversation = store.create_conversation(title=title)
    for role, content in turns:
        store.add_message(conversation.id, role, content)
    return conversation


# -- opening -------------------------------------------------------------------------------
def test_creates_parent_dirs_wal_and_schema(tmp_path):
    path = tmp_path / "a" / "b" / "chats.sqlite3"
    with ChatStore(path) as store:
        assert path.is_file()
        assert store.journal_mode == "wal"
        assert store.schema_version == SCHEMA_VERSION >= 1
        assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with ChatStore(path) as store:  # reopening runs no migration twice
        assert store.schema_version == SCHEMA_VERSION


def test_refuses_a_database_from_a_newer_app(tmp_path):
    path = tmp_path / "chats.sqlite3"
    ChatStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer Local LLM Studio"):
        ChatStore(path)


# -- conversations -------------------------------------------------------------------------
def test_conversation_options_round_trip_and_an_old_database_gains_them(tmp_path):
    path = tmp_path / "chats.sqlite3"
    with ChatStore(path) as store:
        conversation = store.create_conversation(options={"thinking": False})
        store.add_message(conversation.id, "user", "kept")
        assert store.get_conversation(conversation.id).options == {"thinking": False}
        changed = store.update_conversation(conversation.id, options={"thinking": True, "later": [1]})
        assert changed.options == {"thinking": True, "later": [1]}
        assert store.update_conversation(conversation.id, title="T").options == {"thinking": True, "later": [1]}
    db = sqlite3.connect(path)  # back to schema 3, as the previous app version left it
    db.execute("ALTER TABLE conversations DROP COLUMN options")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    with ChatStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        old = store.get_conversation(conversation.id)
        assert old.options == {} and old.title == "T"
        assert [m.content for m in store.messages(conversation.id)] == ["kept"]
    db = sqlite3.connect(path)  # a hand-edited or damaged value opens as no options
    db.execute("UPDATE conversations SET options = '[not json'")
    db.commit()
    db.close()
    with ChatStore(path) as store:
        assert store.get_conversation(conversation.id).options == {}


def test_conversation_crud_and_sampling_round_trip(store, tmp_path):
    sampling = SamplingParams(temperature=0.2, top_k=7, max_tokens=99, seed=42, n_ctx=2048)
    created = store.create_conversation(title="Plan", system_prompt="Be brief.", sampling=sampling, model="/m/a.gguf")
    got = store.get_conversation(created.id)
    assert got == created
    assert got.sampling == sampling and got.system_prompt == "Be brief." and got.model == "/m/a.gguf"
    assert got.created_at == got.updated_at > 0

    updated = store.update_conversation(created.id, title="Renamed", sampling=PRESETS["Precise"], model="/m/b.gguf")
    assert updated.title == "Renamed" and updated.sampling == PRESETS["Precise"] and updated.model == "/m/b.gguf"
    assert updated.system_prompt == "Be brief."  # untouched fields stay
    assert updated.updated_at >= created.updated_at

    store.delete_conversation(created.id)
    with pytest.raises(LookupError, match=f"conversation {created.id} does not exist"):
        store.get_conversation(created.id)
    with pytest.raises(NotFoundError):
        store.update_conversation(created.id, title="x")
    with pytest.raises(LookupError):
        store.add_message(created.id, "user", "hi")
    store.delete_conversation(created.id)  # deleting twice is harmless


def test_list_is_most_recently_updated_first(store):
    first = store.create_conversation(title="first")
    time.sleep(0.01)
    second = store.create_conversation(title="second")
    time.sleep(0.01)
    third = store.create_conversation(title="third")
    assert [c.id for c in store.list_conversations()] == [third.id, second.id, first.id]
    time.sleep(0.01)
    store.add_message(first.id, "user", "bump")
    assert [c.id for c in store.list_conversations()] == [first.id, third.id, second.id]
    time.sleep(0.01)
    store.update_conversation(second.id, system_prompt="x")
    assert [c.id for c in store.list_conversations()][0] == second.id


def test_title_is_set_from_the_first_user_message_only(store):
    conversation = store.create_conversation()
    assert conversation.title == DEFAULT_TITLE
    store.add_message(conversation.id, "system", "ignored for the title")
    store.add_message(conversation.id, "user", "\n   How   do I bake bread\nwith sourdough?")
    assert store.get_conversation(conversation.id).title == "How do I bake bread"
    store.add_message(conversation.id, "user", "second question")
    assert store.get_conversation(conversation.id).title == "How do I bake bread"

    long = store.create_conversation()
    store.add_message(long.id, "user", "x" * 30 + " " + "y" * 40)
    title = store.get_conversation(long.id).title
    assert len(title) <= 48 and title.startswith("x" * 30) and title.endswith("…")

    named = store.create_conversation(title="My own title")
    store.add_message(named.id, "user", "does not rename")
    assert store.get_conversation(named.id).title == "My own title"


# -- messages ------------------------------------------------------------------------------
def test_messages_in_order_with_status_and_stats(store):
    conversation = store.create_conversation()
    user = store.add_message(conversation.id, "user", "Hello")
    reply = store.add_message(conversation.id, "assistant", "", status=MessageStatus.STREAMING)
    assert reply.status == MessageStatus.STREAMING and reply.id > user.id
    store.update_message(reply.id, content="Hi")
    store.update_message(reply.id, content="Hi there")
    store.update_message(reply.id, status="complete", stats={"tokens": 2, "tokens_per_s": 31.5})
    saved = store.messages(conversation.id)
    assert [(m.role, m.content, m.status) for m in saved] == [
        ("user", "Hello", MessageStatus.COMPLETE), ("assistant", "Hi there", MessageStatus.COMPLETE)]
    assert saved[1].stats == {"tokens": 2, "tokens_per_s": 31.5}
    assert store.get_message(reply.id) == saved[1]
    assert saved[0].created_at <= saved[1].created_at
    with pytest.raises(LookupError, match="message 9999 does not exist"):
        store.get_message(9999)
    with pytest.raises(LookupError):
        store.update_message(9999, content="x")
    with pytest.raises(ValueError, match="role"):
        store.add_message(conversation.id, "robot", "x")


def test_streamed_tokens_are_appended_and_read_back_whole(store):
    conversation = store.create_conversation()
    reply = store.add_message(conversation.id, "assistant", "He", status=MessageStatus.STREAMING)
    text = "He"
    for piece in ["llo", ", ", "wor", "ld", ""]:
        text += piece
        store.update_message(reply.id, content=text)
        assert store.get_message(reply.id).content == text  # mid-stream reads see every token
    assert store._db.execute("SELECT count(*) FROM message_chunks").fetchone()[0] == 4  # appends only
    store.update_message(reply.id, stats={"tokens": 5})  # stats alone keep the text
    assert store.get_message(reply.id).content == "Hello, world"
    store.update_message(reply.id, content="Hello, there")  # not an extension: rewritten whole
    store.update_message(reply.id, content="Hello, there!")
    assert store.messages(conversation.id)[0].content == "Hello, there!"
    assert store.messages(conversation.id)[0].status == MessageStatus.STREAMING
    store.update_message(reply.id, status=MessageStatus.STOPPED)
    saved = store.get_message(reply.id)
    assert (saved.content, saved.status, saved.stats) == ("Hello, there!", MessageStatus.STOPPED, {"tokens": 5})
    assert store._db.execute("SELECT count(*) FROM message_chunks").fetchone()[0] == 0  # folded
    assert [h.message_id for h in store.search("there!")] == [reply.id]

    doomed = store.add_message(conversation.id, "assistant", "", status=MessageStatus.STREAMING)
    store.update_message(doomed.id, content="a")
    store.delete_messages_from(doomed.id)
    with pytest.raises(LookupError):
        store.update_message(doomed.id, content="ab")


def test_delete_messages_from_removes_it_and_later_ones_only_in_its_conversation(store):
    a = _chat(store, ("user", "a1"), ("assistant", "a2"), ("user", "a3"), ("assistant", "a4"))
    b = _chat(store, ("user", "b1"), ("assistant", "b2"))
    a_messages = store.messages(a.id)
    assert store.delete_messages_from(a_messages[2].id) == 2
    assert [m.content for m in store.messages(a.id)] == ["a1", "a2"]
    assert [m.content for m in store.messages(b.id)] == ["b1", "b2"]
    assert store.delete_messages_from(a_messages[2].id) == 0
    assert store.search("a3") == [] and store.search("a4") == []
    assert store.delete_messages_from(a_messages[0].id) == 2 and store.messages(a.id) == []
    again = store.add_message(a.id, "user", "fresh")
    assert again.id > max(m.id for m in a_messages)  # ids of deleted messages are never reused


def test_delete_conversation_cascades_to_messages_and_search(store):
    doomed = _chat(store, ("user", "zebra crossing"), ("assistant", "zebras are striped"), title="Zoo trip")
    kept = _chat(store, ("user", "zebra in another chat"))
    message_ids = [m.id for m in store.messages(doomed.id)]
    assert {h.conversation_id for h in store.search("zebra")} == {doomed.id, kept.id}
    store.delete_conversation(doomed.id)
    assert store.messages(doomed.id) == []
    for mid in message_ids:
        with pytest.raises(LookupError):
            store.get_message(mid)
    assert {h.conversation_id for h in store.search("zebra")} == {kept.id}
    assert store.search("Zoo") == [] and store.search("zo") == []
    count = store._db.execute("SELECT count(*) FROM messages").fetchone()[0]
    indexed = store._db.execute("SELECT count(*) FROM message_fts").fetchone()[0]
    assert count == indexed == 1


def test_streaming_message_becomes_interrupted_on_reopen(tmp_path):
    path = tmp_path / "chats.sqlite3"
    store = ChatStore(path)
    conversation = _chat(store, ("user", "Tell me about photosynthesis"))
    reply = store.add_message(conversation.id, "assistant", "", status=MessageStatus.STREAMING)
    store.update_message(reply.id, content="Photosynthesis")
    store.update_message(reply.id, content="Photosynthesis converts sunlight")
    assert store.search("sunlight") == []  # not indexed while still streaming
    store.close()
    with ChatStore(path) as reopened:
        saved = reopened.get_message(reply.id)
        assert saved.status == MessageStatus.INTERRUPTED and saved.content == "Photosynthesis converts sunlight"
        assert reopened._db.execute("SELECT count(*) FROM message_chunks").fetchone()[0] == 0
        hits = reopened.search("sunlight")
        assert [(h.message_id, h.role) for h in hits] == [(reply.id, "assistant")]
        assert "[sunlight]" in hits[0].snippet
        assert reopened.search("su")[0].message_id == reply.id  # short (LIKE) path too


# -- search --------------------------------------------------------------------------------
def test_search_english_words_and_snippet(store):
    conversation = _chat(store, ("user", "How do I reverse a linked list in Python?"),
                         ("assistant", "Walk the list and flip each next pointer. " * 5 + "Done."))
    assert store.search("linked list")[0].role == "title"  # the auto-set title matches too
    hits = _messages_found(store, "linked list")
    assert hits and hits[0].message_id == store.messages(conversation.id)[0].id
    assert "[linked]" in hits[0].snippet and "[list]" in hits[0].snippet
    assert hits[0].conversation_title == "How do I reverse a linked list in Python?"
    assert {h.role for h in store.search("POINTER")} == {"assistant"}  # case-insensitive
    assert store.search("python pointer") == []  # every term must be in the same message
    assert store.search('"flip each next"')[0].role == "assistant"  # quoted phrase
    assert store.search("nonexistentword") == []
    assert store.search("") == [] and store.search("   ") == []


def test_search_title_hits(store):
    conversation = _chat(store, ("assistant", "nothing relevant"), title="Quarterly budget review")
    hits = store.search("budget")
    assert [(h.conversation_id, h.role, h.message_id) for h in hits] == [(conversation.id, "title", 0)]
    assert hits[0].snippet == "Quarterly [budget] review"


def test_search_chinese(store):
    conversation = _chat(store, ("user", "我喜欢机器学习"), ("assistant", "深度学习是机器学习的一个分支。"))
    user_id, reply_id = (m.id for m in store.messages(conversation.id))
    phrase = store.search("机器学习")
    assert {h.message_id for h in phrase} >= {user_id, reply_id}
    assert any("[机器学习]" in h.snippet for h in phrase)
    two = store.search("机器")
    assert {h.message_id for h in two} >= {user_id, reply_id}
    assert any("[机器]" in h.snippet for h in two)
    assert {h.message_id for h in store.search("分支")} == {reply_id}
    assert {h.message_id for h in _messages_found(store, "喜欢 学习")} == {user_id}
    assert store.search("汽车") == []


def test_search_tolerates_any_user_syntax(store):
    _chat(store, ("user", 'Use "quotes" and (parens), well-known terms, a*b, 100% and C:\\path_x'))
    odd = ['"', '""', '"unbalanced', "(", "(((", ")", "*", "**", "a*", "AND", "OR", "NOT", "NEAR",
           "NEAR(a b)", "-", "--x", "well-known", "col:value", "^", "{x}", "x OR y AND (z", "'", "%",
           "_", "\\", "a\\b", "';DROP TABLE messages;--", "\u3000", "😀", "x" * 500, " ".join(["w"] * 100)]
    for query in odd:
        assert isinstance(store.search(query), list), query
    for literal in ("well-known", "(parens)", "100%", "a*b", "C:\\path_x", '"quotes"', "and"):
        assert [h.role for h in _messages_found(store, literal)] == ["user"], literal
    assert store.search("%%") == [] and store.search("__") == []  # % and _ are literal, not wildcards
    assert store._db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_search_limit(store):
    conversation = store.create_conversation(title="many")
    for i in range(30):
        store.add_message(conversation.id, "user", f"repeated needle number {i}")
    assert len(store.search("needle", limit=10)) == 10
    assert len(store.search("ne", limit=7)) == 7
    assert store.search("needle", limit=0) == []


# -- export --------------------------------------------------------------------------------
def _exportable(store):
    conversation = store.create_conversation(system_prompt="You are terse.\nAnswer in English.",
                                             sampling=PRESETS["Code"], model="/models/tiny.gguf")
    store.add_message(conversation.id, "user", "First question")
    store.add_message(conversation.id, "assistant", "First answer", stats={"tokens": 2})
    store.add_message(conversation.id, "user", "Second question")
    store.add_message(conversation.id, "assistant", "Half an ans", status=MessageStatus.INTERRUPTED)
    return store.get_conversation(conversation.id), store.messages(conversation.id)


def test_markdown_export_has_turns_in_order_and_marks_interrupted(store, tmp_path):
    conversation, messages = _exportable(store)
    text = to_markdown(conversation, messages)
    assert text.startswith("# First question\n")
    assert "tiny.gguf" in text and "> You are terse." in text and "> Answer in English." in text
    order = [text.index(s) for s in ("First question\n\n## Assistant", "First answer", "Second question", "Half an ans")]
    assert order == sorted(order)
    assert text.count("## User") == 2 and text.count("## Assistant") == 2
    assert "Interrupted" in text[text.index("Half an ans"):]
    assert "Interrupted" not in text[:text.index("Half an ans")]

    path = store.export(conversation.id, tmp_path / "out" / "chat.MD")
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in path.parent.iterdir()] == ["chat.MD"]  # no temp file left behind

    stopped = store.add_message(conversation.id, "assistant", "cut", status=MessageStatus.STOPPED)
    assert "Stopped" in to_markdown(conversation, [*messages, stopped])


def test_json_export_round_trips(store, tmp_path):
    conversation, messages = _exportable(store)
    data = to_json(conversation, messages)
    assert data["format"] == FORMAT == "local-llm-studio.conversation" and data["format_version"] == FORMAT_VERSION == 1
    assert data["sampling"] == PRESETS["Code"].to_dict()
    assert [m["status"] for m in data["messages"]] == ["complete", "complete", "complete", "interrupted"]
    assert data["messages"][1]["stats"] == {"tokens": 2} and data["messages"][0]["created_at"] > 0

    path = write_export(tmp_path / "chat.json", conversation, messages)
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert loaded == json.loads(json.dumps(data)) | {"exported_at": loaded["exported_at"]}
    back, back_messages = from_json(loaded)
    assert (back.title, back.system_prompt, back.model, back.sampling, back.created_at) == (
        conversation.title, conversation.system_prompt, conversation.model, conversation.sampling,
        conversation.created_at)
    assert [(m.role, m.content, m.status, m.stats, m.created_at) for m in back_messages] == [
        (m.role, m.content, m.status, m.stats, m.created_at) for m in messages]
    with pytest.raises(ValueError):
        from_json({"format": "something else"})


def test_export_suffix_and_atomic_replace(store, tmp_path):
    conversation, messages = _exportable(store)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match=r"\.md, \.markdown or \.json"):
        store.export(conversation.id, out / "chat.txt")
    assert list(out.iterdir()) == []
    target = out / "chat.markdown"
    target.write_text("old content", encoding="utf-8")
    write_export(target, conversation, messages)
    assert target.read_text(encoding="utf-8").startswith("# First question")
    assert sorted(p.name for p in out.iterdir()) == ["chat.markdown"]
    chinese = store.create_conversation(title="中文对话")
    store.add_message(chinese.id, "user", "你好")
    text = store.export(chinese.id, out / "zh.json").read_text(encoding="utf-8")
    assert "你好" in text and json.loads(text)["title"] == "中文对话"
