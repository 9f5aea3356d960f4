"""ChatSession with the real engine worker, real model and a real SQLite store (no Qt)."""

import asyncio
from dataclasses import replace

import pytest

from studio.core.chat.conversation import MessageStatus
from studio.core.engine.sampling import PRESETS, SamplingParams
from studio.core.chat.session import SessionState

pytestmark = pytest.mark.slow
PRECISE = replace(PRESETS["Precise"], n_ctx=2048)


def test_send_streams_persists_and_reports_stats(harness):
    session, store, _engine, loop = harness
    deltas, states, contexts = [], [], []
    session.subscribe("message_updated", lambda message, delta: deltas.append(delta))
    session.subscribe("state", lambda state: states.append(state))
    session.subscribe("context", lambda used, n_ctx: contexts.append((used, n_ctx)))
    reply = loop.run_until_complete(session.send("What is the capital of France? Answer in English."))
    assert "Paris" in reply.content
    assert len([d for d in deltas if d]) >= 2  # streamed, not delivered in one piece
    assert states[0] in (SessionState.PROMPT, SessionState.LOADING) and states[-1] == SessionState.IDLE
    assert SessionState.GENERATING in states
    assert reply.stats["tokens"] > 0 and reply.stats["tokens_per_s"] > 0 and reply.stats["ttft_ms"] > 0
    assert contexts and 0 < contexts[-1][0] <= contexts[-1][1] == 2048
    saved = store.messages(session.conversation.id)
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[1].content == reply.content and saved[1].status == MessageStatus.COMPLETE
    assert store.get_conversation(session.conversation.id).title.startswith("What is the capital")


def test_stop_keeps_partial_reply_marked_stopped(harness):
    session, store, _engine, loop = harness
    session.update_settings(sampling=SamplingParams(temperature=0.8, max_tokens=1500, seed=5, n_ctx=2048))

    def maybe_stop(message, delta):
        if len(message.content) > 30 and session.state == SessionState.GENERATING:
            asyncio.ensure_future(session.stop())

    session.subscribe("message_updated", maybe_stop)
    reply = loop.run_until_complete(session.send("Tell me a very long story about a cat."))
    assert reply.status == MessageStatus.STOPPED
    assert len(reply.content) > 30
    assert session.state == SessionState.IDLE
    saved = store.get_message(reply.id)
    assert saved.status == MessageStatus.STOPPED and saved.content == reply.content


def test_regenerate_shows_a_new_reply_and_keeps_the_old_one(harness):
    session, store, _engine, loop = harness
    first = loop.run_until_complete(session.send("Name a colour."))
    session.update_settings(sampling=SamplingParams(temperature=1.0, seed=99, max_tokens=40, n_ctx=2048))
    second = loop.run_until_complete(session.regenerate())
    saved = store.messages(session.conversation.id)
    assert [m.id for m in saved] == [saved[0].id, second.id]
    assert first.id != second.id and saved[-1].role == "assistant"
    assert [m.id for m in store.siblings(second.id)] == [first.id, second.id]  # ‹ 2/2 ›: nothing overwritten


def test_edit_and_resend_shows_the_new_version_and_keeps_the_old_turns(harness):
    session, store, _engine, loop = harness
    loop.run_until_complete(session.send("What is the capital of Germany?"))
    loop.run_until_complete(session.send("And its population?"))
    first_user = session.messages[0]
    reply = loop.run_until_complete(session.edit_and_resend(first_user.id, "What is the capital of France? Answer in English."))
    saved = store.messages(session.conversation.id)
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[0].content == "What is the capital of France? Answer in English."
    assert "Paris" in reply.content
    kept = [m.content for m in store.all_messages(session.conversation.id)]
    assert kept[:4] == ["What is the capital of Germany?", kept[1], "And its population?", kept[3]]
    assert len(kept) == 6  # the old question, its answer and the follow-up stay as another branch


def test_worker_killed_mid_stream_keeps_partial_and_next_send_works(harness):
    session, store, engine, loop = harness
    session.update_settings(sampling=SamplingParams(temperature=0.8, max_tokens=800, seed=8, n_ctx=2048))
    errors = []
    session.subscribe("error", lambda kind, message, log_tail: errors.append((kind, message)))

    def kill_once(message, delta):
        if len(message.content) > 20 and not errors and engine.worker.running:
            engine.worker.kill()

    unsubscribe = session.subscribe("message_updated", kill_once)
    broken = loop.run_until_complete(session.send("Tell me a long story about the sea."))
    unsubscribe()
    assert errors and errors[0][0] == "worker_crashed" and "SIGKILL" in errors[0][1]
    assert broken.status == MessageStatus.INTERRUPTED and len(broken.content) > 20
    assert store.get_message(broken.id).content == broken.content
    assert session.state == SessionState.ERROR
    session.update_settings(sampling=PRECISE)
    reply = loop.run_until_complete(session.send("What is the capital of France? Answer in English."))
    assert "Paris" in reply.content and session.state == SessionState.IDLE


def test_failed_turns_are_merged_so_roles_alternate(harness):
    """A reply stopped before any text leaves two user turns in a row; strict templates
    ("roles must alternate") would refuse every later message, so the prompt merges them."""
    session, store, _engine, loop = harness
    conversation = session.conversation
    session.messages = [
        store.add_message(conversation.id, "user", "first question"),
        store.add_message(conversation.id, "assistant", "", status=MessageStatus.STOPPED),
        store.add_message(conversation.id, "user", "second question"),
    ]
    history, sources = session._prompt_messages(conversation)
    roles = [m["role"] for m in history]
    assert roles == ["system", "user"]
    assert history[1]["content"] == "first question\n\nsecond question"
    assert sources[1] == [session.messages[0].id, session.messages[2].id]
