"""A model that really thinks: the starter fine-tuned by the studio's trainer to open its replies with
a <think> block (the `thinking_adapter` fixture), chatting through the real engine worker and session
at temperature 0. The reply splits into thinking and answer, with the thinking's tokens and time;
later prompts carry only the answer; the switch turns thinking off; a reply stopped mid-thought stays
thinking; a Qwen3-style template (its own enable_thinking, <think> pre-opened) works the same."""

from __future__ import annotations

import asyncio
import json

import pytest

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.session import ChatSession, SessionState
from studio.core.chat.store import ChatStore
from studio.core.chat.thinking import split_message
from studio.core.engine.client import EngineClient
from studio.core.engine.sampling import SamplingParams
from tests.thinking_model import with_template

# The first test also trains the adapter (thinking_adapter): ~2 min alone, over 15 next to other jobs.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

GREEDY = SamplingParams(temperature=0.0, max_tokens=60, n_ctx=2048)


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def qwen3_style_model(starter_model, tmp_path_factory):
    return with_template(starter_model, tmp_path_factory.mktemp("qwen3style") / "starter-qwen3-style.gguf")


def open_chat(loop, tmp_path, model, adapter):
    store = ChatStore(tmp_path / "chats.sqlite3")
    engine = EngineClient()
    loop.run_until_complete(engine.load(str(model), n_ctx=2048, lora=[{"path": str(adapter), "scale": 1.0}]))
    session = ChatSession(store, engine)
    session.new_conversation(sampling=GREEDY)
    return session, store, engine


@pytest.fixture()
def chat(loop, tmp_path, starter_model, thinking_adapter):
    session, store, engine = open_chat(loop, tmp_path, starter_model, thinking_adapter)
    yield session, store, engine
    loop.run_until_complete(engine.close())
    store.close()


def test_a_thinking_reply_is_split_counted_and_left_out_of_the_next_prompt(chat, loop, tmp_path):
    session, store, engine = chat
    live = []
    session.subscribe("message_updated", lambda message, delta: live.append(dict(message.stats)) if delta else None)
    reply = loop.run_until_complete(session.send("What is 3 plus 5?"))
    assert reply.content.startswith("<think>") and "</think>" in reply.content, reply.content
    parts = split_message(reply)
    # the shape it was trained on (a 135M model after 12 steps does not always add right: that is not tested)
    assert parts.thinking.startswith("I add 3 and 5") and parts.closed and parts.answer.startswith("3 plus 5 is")
    assert "<think>" not in parts.answer and "</think>" not in parts.answer and parts.thinking not in parts.answer

    # The engine's exact count: the think block's tokens (tags included), fewer than the reply's.
    stats = reply.stats
    block = reply.content[:reply.content.index("</think>") + len("</think>")]
    block_tokens = len(loop.run_until_complete(engine.tokenize(block, add_special=False))["ids"])
    assert abs(stats["thinking_tokens"] - block_tokens) <= 1 and stats["thinking_tokens"] < stats["tokens"]
    assert 0 < stats["thinking_ms"] <= stats["wall_ms"] and stats["thinking_open"] is False
    # While it streamed, the count grew token by token and stopped growing at </think>.
    counts = [s.get("thinking_tokens", 0) for s in live]
    assert counts == sorted(counts) and counts[-1] >= stats["thinking_tokens"] - 1 and counts[0] <= 2
    assert store.get_message(reply.id).stats["thinking_tokens"] == stats["thinking_tokens"]

    # The next turn's prompt carries the answer, never the thinking.
    second = loop.run_until_complete(session.send("What colour is snow?"))
    assert split_message(second).thinking
    history, _ = session._prompt_messages(session.conversation)
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
    assert history[2]["content"] == parts.answer
    rendered = loop.run_until_complete(engine.render_prompt(history[:4]))
    assert parts.thinking not in rendered["prompt"] and "<think>" not in rendered["prompt"]
    assert second.stats["prompt_tokens"] == rendered["tokens"]  # what the engine really read

    # Exports keep the thinking as its own part; search finds it and says so.
    data = json.loads(store.export(session.conversation.id, tmp_path / "sums.json").read_text())
    first = data["messages"][1]
    assert first["content"] == reply.content and first["thinking"] == parts.thinking and first["answer"] == parts.answer
    markdown = store.export(session.conversation.id, tmp_path / "sums.md").read_text()
    assert f"<summary>Thinking ({stats['thinking_ms'] / 1000:.1f} s, {stats['thinking_tokens']} tokens)</summary>" in markdown
    hits = [h for h in store.search(parts.thinking) if h.role == "assistant"]
    assert hits and hits[0].part == "thinking" and "<think>" not in hits[0].snippet, hits


def test_the_switch_off_starts_the_reply_past_an_empty_think_block(chat, loop):
    session, store, engine = chat
    assert engine.model_info.thinking_switch is False  # the starter's template has no switch of its own
    session.set_thinking(False)
    assert store.get_conversation(session.conversation.id).options == {"thinking": False}
    reply = loop.run_until_complete(session.send("What is 3 plus 5?"))
    assert "<think>" not in reply.content and split_message(reply).thinking is None, reply.content
    # the answer as trained, straight away
    assert reply.content.startswith("3 plus 5 is") and "thinking_tokens" not in reply.stats
    history, _ = session._prompt_messages(session.conversation)
    off = loop.run_until_complete(engine.render_prompt(history[:2], thinking=False))
    assert off["prompt"].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert reply.stats["prompt_tokens"] == off["tokens"]
    session.set_thinking(True)
    assert store.get_conversation(session.conversation.id).options == {}
    again = loop.run_until_complete(session.send("What is 2 plus 4?"))
    assert split_message(again).thinking


def test_a_reply_stopped_mid_thought_is_all_thinking_and_stays_out_of_the_prompt(chat, loop):
    session, store, _engine = chat

    def stop_while_thinking(message, delta):
        if delta and len(message.content) > 12 and session.state == SessionState.GENERATING:
            asyncio.ensure_future(session.stop())

    session.subscribe("message_updated", stop_while_thinking)
    reply = loop.run_until_complete(session.send("What is 4 plus 2?"))
    assert reply.status == MessageStatus.STOPPED and "</think>" not in reply.content, reply.content
    parts = split_message(store.get_message(reply.id))
    assert parts.thinking and not parts.closed and parts.answer == ""
    assert reply.stats["thinking_tokens"] >= 1
    history, _ = session._prompt_messages(session.conversation)
    assert [m["role"] for m in history] == ["system", "user"]  # the unfinished thought is not an answer


def test_a_template_with_its_own_switch_that_pre_opens_think(loop, tmp_path, qwen3_style_model, thinking_adapter):
    session, store, engine = open_chat(loop, tmp_path, qwen3_style_model, thinking_adapter)
    try:
        assert engine.model_info.thinking_switch is True
        reply = loop.run_until_complete(session.send("What is 3 plus 5?"))
        # The template wrote <think>: the reply starts inside its thinking and only closes it.
        assert not reply.content.lstrip().startswith("<think>") and "</think>" in reply.content, reply.content
        assert reply.stats["thinking_open"] is True and reply.stats["thinking_tokens"] > 0
        parts = split_message(reply)
        assert parts.thinking and parts.closed and parts.answer.startswith("3 plus 5 is") and "</think>" not in parts.answer

        history, _ = session._prompt_messages(session.conversation)
        on = loop.run_until_complete(engine.render_prompt(history))
        off = loop.run_until_complete(engine.render_prompt(history, thinking=False))
        assert on["prompt"].endswith("<|im_start|>assistant\n<think>")
        # enable_thinking reached the template (its own empty block, once: no second one of ours)
        assert off["prompt"].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
        assert off["prompt"].count("<think>") == 1

        session.set_thinking(False)
        quiet = loop.run_until_complete(session.send("What colour is snow?"))
        assert split_message(quiet).thinking is None and "</think>" not in quiet.content, quiet.content
        assert "thinking_open" not in quiet.stats
    finally:
        loop.run_until_complete(engine.close())
        store.close()


SUM_SCHEMA = {"type": "object", "properties": {"sum": {"type": "integer"}, "words": {"type": "string"}},
              "required": ["sum", "words"]}


def test_an_output_format_turns_thinking_off_and_the_json_validates(chat, loop, tmp_path, qwen3_style_model,
                                                                    thinking_adapter):
    """A grammar holds from the first token, so a model cannot think under it: the engine turns thinking
    off (an empty think block, or the template's own switch) and the reply is the JSON alone."""
    import jsonschema

    from studio.core.engine import structured

    fmt = structured.build("json_schema", json.dumps(SUM_SCHEMA))
    (tmp_path / "qwen3").mkdir()
    other = open_chat(loop, tmp_path / "qwen3", qwen3_style_model, thinking_adapter)
    try:
        for session, _store, _engine in (chat, other):
            session.update_settings(sampling=SamplingParams(temperature=0.0, max_tokens=80, n_ctx=2048))
            session.set_output_format(fmt)
            reply = loop.run_until_complete(session.send("What is 3 plus 5?"))
            assert reply.status == MessageStatus.COMPLETE and "think>" not in reply.content, reply.content
            assert split_message(reply).thinking is None and not reply.stats.get("thinking_open")
            jsonschema.validate(json.loads(reply.content), SUM_SCHEMA)
            assert structured.check_reply(fmt, reply.content)["valid"], reply.content
            # the switch itself stays as the user left it: free text thinks again
            session.set_output_format(None)
            assert split_message(loop.run_until_complete(session.send("What is 2 plus 4?"))).thinking
    finally:
        loop.run_until_complete(other[2].close())
        other[1].close()
