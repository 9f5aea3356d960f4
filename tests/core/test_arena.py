"""The Arena with real engines: two local models streaming at once (Gemma 3 270M in a second worker next
to the starter), one after the other when memory is short, the starter with and without a LoRA adapter on
the one engine, the starter against llama-cpp-python's own server; the picked answer continues the
conversation and the votes are tallied per pair after the store is reopened."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from studio.core.arena import MAIN, OWN, REMOTE, Arena, ArenaError, Contestant
from studio.core.chat import arena_votes
from studio.core.chat.store import SCHEMA_VERSION, ChatStore
from studio.core.engine.client import EngineClient
from studio.core.engine.remote import RemoteEngine
from studio.core.engine.sampling import PRESETS
from studio.core.workspace import EngineBusy, Workspace
from tests.remote_servers import LLAMA_ALIAS, start_llama_cpp_server

pytestmark = pytest.mark.slow
PRECISE = replace(PRESETS["Precise"], n_ctx=2048, max_tokens=24)


@pytest.fixture(scope="module")
def main_engine(starter_model, loop):
    """The app's engine with the starter, shared by the module (each test leaves it as it found it)."""
    engine = EngineClient()
    loop.run_until_complete(engine.load(str(starter_model), n_ctx=PRECISE.n_ctx))
    yield engine
    loop.run_until_complete(engine.close())


@pytest.fixture()
def chat(tmp_path, main_engine):
    store = ChatStore(tmp_path / "chats.sqlite3")
    conversation = store.create_conversation(system_prompt="You are a helpful assistant.", sampling=PRECISE)
    store.add_message(conversation.id, "user", "What is the capital of France?")
    store.add_message(conversation.id, "assistant", "The capital of France is Paris.")
    workspace = Workspace(main_engine)
    yield store, workspace, conversation
    workspace.close()
    store.close()


def _record(arena: Arena) -> dict[str, list[float]]:
    """When each side's pieces arrived."""
    times: dict[str, list[float]] = {"a": [], "b": []}
    arena.subscribe("delta", lambda side, text: times[side].append(time.perf_counter()))
    return times


def _statuses(arena: Arena) -> list[tuple[str, str]]:
    """Each side's status changes, in order."""
    seen: list[tuple[str, str]] = []
    arena.subscribe("side", lambda side, reply: seen.append((side, reply.status)))
    return seen


def test_two_local_models_stream_at_once_and_the_winner_continues(chat, starter_model, gemma_model, loop, tmp_path):
    store, workspace, conversation = chat
    arena = Arena(store, workspace, Contestant.local(starter_model), Contestant.local(gemma_model),
                  conversation_id=conversation.id)
    plan = arena.plan()
    assert plan.parallel and plan.reason == "fits" and plan.runners == {"a": MAIN, "b": OWN}
    assert plan.note.startswith("Both at once")
    assert 0 < plan.need < plan.free  # what a screen needs to say it in its own language
    statuses = _statuses(arena)
    holders: list[str] = []
    arena.subscribe("side", lambda side, reply: holders.append(workspace.holder))
    answer = loop.run_until_complete(arena.ask("And the capital of Italy? One word."))
    a, b = answer.replies["a"], answer.replies["b"]
    assert a.status == b.status == "done", (a.error, b.error)
    assert a.text.strip() and b.text.strip() and a.text != b.text
    for reply in (a, b):
        assert reply.stats["ttft_ms"] > 0 and reply.stats["tokens_per_s"] > 0
    assert a.stats["model_path"] == str(starter_model) and b.stats["model_path"] == str(gemma_model)
    # At once: each side was under way before the other had finished.
    assert statuses.index(("b", "loading")) < statuses.index(("a", "done"))
    assert statuses.index(("a", "prompt")) < statuses.index(("b", "done"))
    assert "arena" in holders and workspace.holder == ""  # the app's engine was leased for the round
    assert arena.workers == 1  # Gemma's own worker, kept for the next round
    # The history was the conversation so far plus the question.
    assert [t["content"] for t in answer.history[-3:]] == [
        "What is the capital of France?", "The capital of France is Paris.", "And the capital of Italy? One word."]

    message = arena.pick("b")
    stored = store.messages(conversation.id)
    assert [m.role for m in stored[-2:]] == ["user", "assistant"]
    assert stored[-2].content == "And the capital of Italy? One word." and stored[-1].content == b.text
    assert stored[-1].id == message.id
    assert stored[-1].stats["arena"]["result"] == "won" and stored[-1].stats["model_path"] == str(gemma_model)
    assert stored[-1].stats["arena"]["against"] == Contestant.local(starter_model).label
    with pytest.raises(ArenaError, match="voted on already"):
        arena.pick("a")

    # The next question sees the chosen answer; a tie keeps A's answer.
    second = loop.run_until_complete(arena.ask("Thanks. Say goodbye."))
    assert second.history[-2] == {"role": "assistant", "content": b.text}
    arena.pick("tie")
    assert store.messages(conversation.id)[-1].content == second.replies["a"].text
    assert store.messages(conversation.id)[-1].stats["arena"]["result"] == "tie"
    loop.run_until_complete(arena.close())
    assert arena.workers == 0
    assert workspace.has_model(starter_model)

    store.close()  # votes survive a reopen and are tallied per pair
    reopened = ChatStore(tmp_path / "chats.sqlite3")
    assert reopened.schema_version == SCHEMA_VERSION
    [tally] = arena_votes.summary(reopened)
    gemma_first = tally.first == Contestant.local(gemma_model).key
    assert (tally.first_wins, tally.second_wins) == ((1, 0) if gemma_first else (0, 1))
    assert tally.ties == 1 and tally.n == 2
    votes = arena_votes.votes(reopened, tally.pair)
    assert votes[0].answers[Contestant.local(gemma_model).key]["text"] == b.text
    assert votes[0].message_id == message.id
    reopened.close()


def test_not_enough_memory_one_after_the_other_on_the_one_engine(chat, starter_model, gemma_model, loop):
    store, workspace, conversation = chat
    arena = Arena(store, workspace, Contestant.local(gemma_model), Contestant.local(starter_model),
                  conversation_id=conversation.id, free_ram=lambda: 64 * 1024 * 1024)
    plan = arena.plan()
    assert plan.mode == "sequential" and plan.reason == "memory" and plan.runners == {"a": MAIN, "b": MAIN}
    assert "not enough memory for two models" in plan.note and "gemma-3-270m" in plan.note
    assert plan.name.startswith("gemma-3-270m") and plan.need > plan.free == 64 * 1024 * 1024
    times = _record(arena)
    loaded: list[str] = []
    unsubscribe = workspace.engine.subscribe("loaded", lambda info: loaded.append(info.name))
    answer = loop.run_until_complete(arena.ask("Name a fruit. One word."))
    unsubscribe()
    assert answer.replies["a"].status == answer.replies["b"].status == "done"
    assert answer.replies["a"].stats["model_path"] == str(gemma_model)
    # The starter (loaded) answered first, then Gemma in its place, then the starter came back.
    assert times["b"][-1] < times["a"][0]
    assert len(loaded) == 2 and workspace.has_model(starter_model)
    assert arena.workers == 0
    loop.run_until_complete(arena.close())


def test_stop_while_the_second_model_loads(chat, starter_model, gemma_model, loop):
    store, workspace, conversation = chat
    arena = Arena(store, workspace, Contestant.local(starter_model), Contestant.local(gemma_model),
                  conversation_id=conversation.id)

    async def stop_during_load():
        import asyncio
        loading = asyncio.Event()
        arena.subscribe("side", lambda side, reply: loading.set() if (side, reply.status) == ("b", "loading") else None)
        task = asyncio.ensure_future(arena.ask("Count to twenty."))
        await loading.wait()
        started = time.perf_counter()
        await arena.stop()
        return await task, time.perf_counter() - started
    answer, took = loop.run_until_complete(stop_during_load())
    assert answer.replies["b"].status == "stopped" and not answer.replies["b"].error
    assert answer.replies["a"].status in ("stopped", "done")
    assert took < 5.0 and not arena.busy
    assert workspace.holder == "" and workspace.has_model(starter_model)
    loop.run_until_complete(arena.close())


def test_with_and_without_an_adapter(chat, starter_model, dequantized_starter, loop, tmp_path):
    from tests.lora_fixtures import random_lora_gguf

    store, workspace, conversation = chat
    adapter = random_lora_gguf(dequantized_starter, starter_model, tmp_path, std=0.08)
    engine = workspace.engine
    loop.run_until_complete(engine.set_lora([{"path": str(adapter), "scale": 1.0}]))
    try:
        tuned = Contestant.local(starter_model, engine.lora)
        arena = Arena(store, workspace, Contestant.local(starter_model), tuned, conversation_id=conversation.id)
        plan = arena.plan()
        assert plan.mode == "sequential" and plan.reason == "same_model"
        assert "One after the other" in plan.note
        assert tuned.label.startswith(starter_model.stem + " + ")
        seen: list[list] = []
        arena.subscribe("side", lambda side, reply: seen.append([side, reply.status, list(engine.lora)])
                        if reply.status == "streaming" else None)
        answer = loop.run_until_complete(arena.ask("Write one sentence about the sea."))
        a, b = answer.replies["a"], answer.replies["b"]
        assert a.status == b.status == "done"
        assert a.text != b.text  # the adapter changes the greedy answer
        # The adapter was attached while B streamed and not while A did; B (as loaded) went first.
        assert [s for s, _, _ in seen] == ["b", "a"]
        assert {s: lora for s, _, lora in seen} == {"a": [], "b": engine.lora}
        assert b.stats["adapters"] == tuned.adapter_list and a.stats["adapters"] == []
        assert [x["path"] for x in engine.lora] == [str(adapter)]  # put back after the round
        arena.pick("a")
        [tally] = arena.summary()
        assert tally.n == 1 and {tally.first, tally.second} == {tuned.key, Contestant.local(starter_model).key}
        loop.run_until_complete(arena.close())
    finally:
        loop.run_until_complete(engine.set_lora([]))


def test_local_against_a_remote_server(chat, starter_model, loop, tmp_path):
    store, workspace, conversation = chat
    server = start_llama_cpp_server(starter_model, tmp_path)
    try:
        remote = RemoteEngine(server.base_url, name="llama", model=LLAMA_ALIAS)
        arena = Arena(store, workspace, Contestant.local(starter_model), Contestant.of_remote(remote),
                      conversation_id=conversation.id)
        plan = arena.plan()
        assert plan.parallel and plan.reason == "remote" and plan.runners == {"a": MAIN, "b": REMOTE}
        statuses = _statuses(arena)
        answer = loop.run_until_complete(arena.ask("Count from 1 to 20 separated by commas."))
        a, b = answer.replies["a"], answer.replies["b"]
        assert a.status == b.status == "done", (a.error, b.error)
        assert b.stats["engine"] == f"remote:llama/{LLAMA_ALIAS}" and b.stats["ttft_ms"] > 0
        # At once: the server had the question before the local engine finished its answer.
        assert statuses.index(("b", "prompt")) < statuses.index(("a", "done"))
        message = arena.pick("b")
        assert message.stats["engine_url"] == server.base_url
        loop.run_until_complete(arena.close())
    finally:
        server.stop()


def test_failures_are_sentences_and_the_other_side_still_answers(chat, starter_model, loop, tmp_path):
    store, workspace, conversation = chat
    with pytest.raises(ArenaError, match="same model"):
        Arena(store, workspace, Contestant.local(starter_model), Contestant.local(starter_model))
    missing = tmp_path / "missing.gguf"
    arena = Arena(store, workspace, Contestant.local(starter_model), Contestant.local(missing),
                  conversation_id=conversation.id)
    with pytest.raises(ArenaError, match="Ask something first"):
        arena.pick("a")
    answer = loop.run_until_complete(arena.ask("Say hi."))
    assert answer.replies["a"].status == "done"
    assert answer.replies["b"].status == "error" and "missing.gguf" in answer.replies["b"].error
    with pytest.raises(ArenaError, match="Answer B cannot continue"):
        arena.pick("b")
    before = len(store.messages(conversation.id))
    arena.pick("a")
    assert len(store.messages(conversation.id)) == before + 2

    # While the arena holds the engine the chat is told why it must wait.
    async def chat_during_round():
        import asyncio
        task = asyncio.ensure_future(arena.ask("Count to ten."))
        while workspace.holder != "arena":
            await asyncio.sleep(0.01)
        with pytest.raises(EngineBusy, match="comparing two answers in the Arena"):
            workspace.check_free()
        await arena.stop()
        return await task
    stopped = loop.run_until_complete(chat_during_round())
    assert stopped.replies["a"].status == "stopped"
    loop.run_until_complete(arena.close())


def test_votes_of_a_pair_count_together_whatever_the_side(tmp_path):
    store = ChatStore(tmp_path / "votes.sqlite3")
    for a, b, winner in [("x", "y", "x"), ("y", "x", "x"), ("y", "x", ""), ("x", "z", "z")]:
        pair, first, second = arena_votes.pair_key(a, b)
        arena_votes.save_vote(store, arena_votes.Vote(pair, first.upper(), second.upper(), winner, "q", {}))
    tallies = {t.pair: t for t in arena_votes.summary(store)}
    assert list(tallies) == ["x|z", "x|y"]  # the pair voted on last comes first
    assert (tallies["x|y"].first_wins, tallies["x|y"].second_wins, tallies["x|y"].ties) == (2, 0, 1)
    assert (tallies["x|z"].first_label, tallies["x|z"].second_wins, tallies["x|z"].n) == ("X", 1, 1)
    # Deleting the conversation a vote was cast in keeps the vote (and the tally).
    conversation = store.create_conversation()
    message = store.add_message(conversation.id, "assistant", "kept")
    arena_votes.save_vote(store, arena_votes.Vote("x|z", "X", "Z", "x", "q", {}, conversation.id, message.id))
    store.delete_conversation(conversation.id)
    last = arena_votes.votes(store, "x|z")[-1]
    assert (last.conversation_id, last.message_id, last.winner) == (None, None, "x")
    assert {t.pair: t.n for t in arena_votes.summary(store)} == {"x|z": 2, "x|y": 3}
    store.close()
