"""Chat with documents end to end: a small bilingual corpus indexed with the real embedding model,
the real starter model answering through ChatSession, the retrieval record kept with the reply.

The 135M starter does not cite reliably, so the model's own reply is only checked for what is
deterministic (the record, the prompt, the token count); citation mapping end to end is checked
on a constructed reply through the same `cite` the session uses."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from studio.core.chat.session import ChatSession
from studio.core.chat.store import SCHEMA_VERSION, ChatStore
from studio.core.engine.client import EngineClient
from studio.core.engine.sampling import PRESETS
from studio.core.grounding import KnowledgeGrounder
from studio.core.knowledge.client import KnowledgeClient
from studio.core.settings import KnowledgeSettings
from studio.core.workers.protocol import WorkerError

pytestmark = pytest.mark.slow
CORPUS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "knowledge"
DOCS = ("lighthouse.md", "solar_dryer.md", "tea.md", "great_wall.md", "honeybees.txt")
QUESTION = "When was Harbor Point Lighthouse completed?"
PRECISE = replace(PRESETS["Precise"], n_ctx=2048, max_tokens=48)


@pytest.fixture(scope="module")
def corpus(embedding_model, starter_model, tmp_path_factory):
    """(loop, knowledge client, db, engine): the corpus indexed into collection "docs" once."""
    folder = tmp_path_factory.mktemp("corpus")
    for name in DOCS:
        shutil.copy(CORPUS / name, folder / name)
    db = str(folder / "knowledge.sqlite3")
    loop = asyncio.new_event_loop()
    client = KnowledgeClient()
    engine = EngineClient()
    loop.run_until_complete(client.index("docs", [folder], db=db))
    loop.run_until_complete(engine.load(str(starter_model), n_ctx=2048))
    yield loop, client, db, engine
    loop.run_until_complete(client.close())
    loop.run_until_complete(engine.close())
    loop.close()


def _session(corpus, tmp_path, **settings) -> tuple[ChatSession, KnowledgeGrounder]:
    _loop, client, db, engine = corpus

    async def query(collections, text, **kw):
        return await client.query(collections, text, db=db, **kw)

    session = ChatSession(ChatStore(tmp_path / "chats.sqlite3"), engine)
    grounder = KnowledgeGrounder(query, settings=KnowledgeSettings(**settings))
    session.ground = grounder
    session.new_conversation(sampling=PRECISE)
    session.attach(["docs"])
    return session, grounder


def test_the_answering_chunk_goes_in_as_source_one(corpus, tmp_path):
    loop, _client, _db, engine = corpus
    session, _ = _session(corpus, tmp_path)
    seen = []
    session.subscribe("retrieval", lambda message, record: seen.append(record))
    reply = loop.run_until_complete(session.send(QUESTION))
    record = session.retrieval(reply.id)
    assert record is not None and seen and not record["error"]
    candidates = record["retrieval"]["candidates"]
    top = min(candidates, key=lambda c: c["fused_rank"])
    assert Path(top["path"]).name == "lighthouse.md" and "completed in 1871" in top["text"]
    assert top["in_prompt"] is True
    assert record["sources"][0]["number"] == 1 and record["sources"][0]["chunk_id"] == top["chunk_id"]
    # The prompt exactly as the model read it: the template's markers, the chunk, the question.
    prompt = record["prompt"]
    assert "<|im_start|>" in prompt and "[1] lighthouse.md" in prompt
    assert top["text"] in prompt and QUESTION in prompt
    assert record["tokens"] == reply.stats["prompt_tokens"]
    assert record["tokens"] == loop.run_until_complete(engine.render_prompt(record["messages"]))["tokens"]
    assert record["n_ctx"] == 2048 and record["left_out"] == [] and record["note"] == ""
    assert "citations" in record  # parsed from whatever the model wrote


def test_citations_map_back_to_the_cited_chunk(corpus, tmp_path):
    # A constructed reply: the starter model's own citations are not reliable enough to assert on.
    loop, _client, _db, engine = corpus
    session, grounder = _session(corpus, tmp_path)
    conversation = session.conversation
    history = [{"role": "system", "content": conversation.system_prompt}, {"role": "user", "content": QUESTION}]
    grounding = loop.run_until_complete(grounder(conversation, ["docs"], history, engine))
    assert grounding.cite is not None
    cited = grounding.cite("It was completed in 1871 [1]; see also 【1】 and [9].")
    assert [c["number"] for c in cited["found"]] == [1, 1] and cited["unknown"] == [9]
    source = cited["found"][0]["source"]
    assert Path(source["path"]).name == "lighthouse.md" and source["chunk_id"] == grounding.record["sources"][0]["chunk_id"]
    assert source["unit"] == "line" and source["start"] <= source["end"]


def test_a_chinese_question_finds_its_document(corpus, tmp_path):
    loop, _client, _db, engine = corpus
    session, grounder = _session(corpus, tmp_path)
    history = [{"role": "user", "content": "西湖龙井应该用多少度的水冲泡？"}]
    grounding = loop.run_until_complete(grounder(session.conversation, ["docs"], history, engine))
    first = grounding.record["sources"][0]
    assert Path(first["path"]).name == "tea.md"


def test_a_small_context_says_which_chunks_were_left_out(corpus, tmp_path):
    loop, _client, _db, engine = corpus
    session, _ = _session(corpus, tmp_path, top_k=6)
    session.update_settings(sampling=replace(PRECISE, n_ctx=512, max_tokens=32))
    reply = loop.run_until_complete(session.send(QUESTION))
    record = session.retrieval(reply.id)
    assert record["n_ctx"] == 512 and record["tokens"] <= record["budget"] == 512 - 32
    assert record["left_out"] and "left out" in record["note"]
    assert all(c["in_prompt"] is False for c in record["left_out"])
    in_prompt = [c for c in record["retrieval"]["candidates"] if c["in_prompt"]]
    assert len(in_prompt) == len(record["sources"]) >= 1
    loop.run_until_complete(engine.load(engine.model_info.path, n_ctx=2048))


def test_a_failed_search_answers_without_documents(corpus, tmp_path):
    loop, _client, _db, _engine = corpus
    session, grounder = _session(corpus, tmp_path)

    async def broken(collections, text, **kw):
        raise WorkerError("worker_crashed", "the knowledge worker stopped unexpectedly")
    grounder.query = broken
    reply = loop.run_until_complete(session.send(QUESTION))
    record = session.retrieval(reply.id)
    assert "answered without your documents" in record["error"] and "stopped unexpectedly" in record["error"]
    assert reply.content  # the reply went ahead


def test_attachments_and_records_survive_reopening(corpus, tmp_path):
    loop = corpus[0]
    session, _ = _session(corpus, tmp_path)
    assert session.collections == ["docs"]
    reply = loop.run_until_complete(session.send(QUESTION))
    conversation_id = session.conversation.id
    session.store.close()
    store = ChatStore(tmp_path / "chats.sqlite3")
    assert store.collections(conversation_id) == ["docs"]
    assert store.retrieval(reply.id)["sources"][0]["number"] == 1
    store.set_collections(conversation_id, [])
    assert store.collections(conversation_id) == []
    store.delete_messages_from(reply.id)
    assert store.retrieval(reply.id) is None  # the record goes with its reply
    store.close()


def test_an_old_database_gains_the_tables_and_keeps_its_messages(tmp_path):
    path = tmp_path / "old.sqlite3"
    store = ChatStore(path)
    conversation = store.create_conversation()
    store.add_message(conversation.id, "user", "kept")
    store.close()
    db = sqlite3.connect(path)  # back to schema 2, as an older app left it
    db.execute("DROP TABLE conversation_collections")
    db.execute("DROP TABLE message_retrieval")
    db.execute("ALTER TABLE conversations DROP COLUMN options")  # schema 4's
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    store = ChatStore(path)
    assert store.schema_version == SCHEMA_VERSION >= 3
    assert [m.content for m in store.messages(conversation.id)] == ["kept"]
    assert store.collections(conversation.id) == []
    store.set_collections(conversation.id, ["a", "b"])
    assert store.collections(conversation.id) == ["a", "b"]
    store.close()


def _studio(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STUDIO_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=300, env=env)


def test_cli_chat_with_docs(tmp_path, embedding_model, starter_model):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in DOCS:
        shutil.copy(CORPUS / name, folder / name)
    home = tmp_path / "home"
    assert _studio("docs", "add", "notes", str(folder), home=home).returncode == 0
    done = _studio("chat", "--docs", "notes", "--prompt", QUESTION, "--max-tokens", "24", "--ctx", "2048",
                   "--temperature", "0", "--json", home=home)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    record = data["retrieval"]
    assert Path(record["sources"][0]["path"]).name == "lighthouse.md"
    assert record["tokens"] == data["prompt_tokens"] and QUESTION in record["prompt"]
    assert set(data["citations"]) == {"found", "unknown"}
    assert "[1] " in done.stderr and "lighthouse.md" in done.stderr and "of 2,048 tokens" in done.stderr
    missing = _studio("chat", "--docs", "nothing-here", "--prompt", "hi", home=home)
    assert missing.returncode == 2 and "no knowledge collection named" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_remote_engine_gets_the_messages_as_sent(corpus, tmp_path):
    # The remote server renders its own template: the grounder never contacts it to build the prompt.
    from studio.core.engine.remote import RemoteEngine
    loop = corpus[0]
    session, grounder = _session(corpus, tmp_path)
    remote = RemoteEngine("http://127.0.0.1:9", name="box", model="m")
    grounding = loop.run_until_complete(grounder(session.conversation, ["docs"], [{"role": "user", "content": QUESTION}],
                                                 remote))
    record = grounding.record
    assert record["template"] == "remote" and "applies its own chat template" in record["template_note"]
    assert record["prompt"].startswith("[system]\n") and "[user]\nSources:" in record["prompt"]
    assert Path(record["sources"][0]["path"]).name == "lighthouse.md" and record["n_ctx"] == 2048
    loop.run_until_complete(remote.close())
