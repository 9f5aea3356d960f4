"""Splitting a reasoning model's reply into thinking and answer, as text and as it streams: tags split
across chunks, a template that pre-opens <think>, a reply stopped mid-thought, tags that are not a
think block; what later prompts, search and exports get."""

from __future__ import annotations

import itertools

import pytest

from studio.core.chat.conversation import Conversation, Message, MessageStatus
from studio.core.chat.export import to_json, to_markdown
from studio.core.chat.store import ChatStore
from studio.core.chat.thinking import (
    LiveThinking,
    export_parts,
    generate_args,
    prompt_content,
    search_text,
    thinking_on,
)
from studio.core.engine.thinking import (
    SplitStream,
    ThinkTracker,
    has_switch,
    opens_thinking,
    split,
    under_grammar,
    without_thinking,
)

REPLY = "<think>I add 3 and 5, which gives 8.</think>3 plus 5 is 8."


def reply(content: str, status=MessageStatus.COMPLETE, **stats) -> Message:
    return Message(id=1, conversation_id=1, role="assistant", content=content, status=status, stats=stats)


def test_a_whole_reply_splits_into_thinking_and_answer():
    parts = split(REPLY)
    assert (parts.thinking, parts.answer, parts.closed) == ("I add 3 and 5, which gives 8.", "3 plus 5 is 8.", True)
    assert split("  \n<think>\nhmm\n</think>\n\nYes.").answer == "Yes."
    assert split("Plain answer.") .thinking is None


def test_tags_later_in_the_answer_are_not_thinking():
    text = "Wrap it like <think>this</think> in your prompt."
    assert split(text).thinking is None and split(text).answer == text


def test_unclosed_thinking_is_all_thinking_and_no_answer():
    parts = split("<think>I was stopped while I")
    assert parts.thinking == "I was stopped while I" and parts.answer == "" and not parts.closed


def test_a_pre_opened_block_has_only_the_closing_tag():
    assert split("I add them.</think>It is 8.", opened=True).thinking == "I add them."
    # Without the engine's flag (an old message, a remote engine) a lone </think> says the same.
    parts = split("I add them.</think>It is 8.")
    assert (parts.thinking, parts.answer, parts.closed) == ("I add them.", "It is 8.", True)
    assert split("Still thinking", opened=True).thinking == "Still thinking"


def test_while_streaming_a_half_tag_shows_in_neither_part():
    assert split("<thi", streaming=True) == split("", streaming=True)
    assert split("<thi", streaming=True).answer == ""
    assert split("<think>adding</thi", streaming=True).thinking == "adding"
    assert split("<thi").answer == "<thi"  # a finished reply that really ends so shows it


@pytest.mark.parametrize("opened", [False, True])
def test_the_tracker_agrees_with_split_for_every_way_of_cutting_the_reply(opened):
    text = ("" if opened else "<think>") + "I add 3 and 5.</think>It is 8."
    thinking_end = text.index("</think>") + len("</think>")
    for a, b in itertools.combinations(range(1, len(text)), 2):
        chunks = [text[:a], text[a:b], text[b:]]
        tracker = ThinkTracker(opened)
        flags = [tracker.feed(chunk) for chunk in chunks]
        assert tracker.seen and tracker.closed and not tracker.inside
        # a chunk is thinking when it starts before the end of </think>
        starts = [0, a, b]
        assert flags == [start < thinking_end for start in starts], (chunks, flags)
        assert tracker.thinking_chunks == sum(flags)


def test_the_tracker_leaves_replies_without_thinking_alone():
    tracker = ThinkTracker()
    assert [tracker.feed(c) for c in ["<", "b>bold</b>", " and <think>x</think>"]] == [True, False, False]
    assert not tracker.seen and tracker.thinking_chunks == 0


@pytest.mark.parametrize("text,opened", [
    ("<think>I add 3 and 5.</think>It is 8.", False),
    ("\n <think>\nI add.\n</think>\n\nIt is 8 </think>.", False),
    ("I add 3 and 5.</think>It is 8.", True),
    ("<think>still thinking </thi", False),          # stopped mid-thought, mid-tag
    ("<b>bold</b> and <think>x</think>", False),     # no think block: all answer, tags as written
    ("\n\nIt is 8.", False),
    ("<thi", False),
])
def test_streamed_pieces_add_up_to_the_split_for_every_way_of_cutting_the_reply(text, opened):
    whole = split(text, opened)
    for a, b in itertools.combinations(range(0, len(text) + 1), 2):
        stream = SplitStream(opened)
        pieces = [stream.feed(chunk) for chunk in (text[:a], text[a:b], text[b:])] + [stream.finish()]
        thinking, answer = "".join(p[0] for p in pieces), "".join(p[1] for p in pieces)
        assert thinking == (whole.thinking or "") and answer == whole.answer, (a, b, pieces)
        for piece in pieces[:-1]:  # while it streams, a tag or a cut part of one never goes out as text
            if whole.thinking is not None:
                assert "<think>" not in piece[0] + piece[1] and "</thi" not in piece[0]


def test_live_thinking_counts_and_times_only_the_thinking():
    live = LiveThinking()
    changed = [live.feed(c) for c in ["<th", "ink>", "one ", "two", "</think>", "Answer", " more"]]
    assert changed == [False, True, True, True, True, False, False]
    stats = live.stats()
    assert stats["thinking_tokens"] == 5 and stats["thinking_ms"] >= 0 and stats["thinking_open"] is False
    assert LiveThinking().stats() == {}


def test_template_switch_and_prefill():
    qwen3 = "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    assert has_switch(qwen3) and not has_switch("{{ messages }}") and not has_switch(None)
    assert without_thinking("<|im_start|>assistant\n") == "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    pre_opened = "<｜Assistant｜><think>\n"
    assert opens_thinking(pre_opened) and not opens_thinking(without_thinking(pre_opened))
    assert without_thinking(pre_opened).endswith("<think>\n\n</think>\n\n")


def test_under_a_grammar_thinking_is_off_only_where_the_template_would_think():
    assert under_grammar(True, "<|im_start|>assistant\n") is False     # its own switch, turned off
    assert under_grammar(False, "<|im_start|>assistant\n<think>\n") is False  # pre-opened: closed
    assert under_grammar(False, "<|im_start|>assistant\n") is None      # left alone: no empty block added


def test_later_prompts_get_the_answer_only():
    assert prompt_content(reply(REPLY)) == "3 plus 5 is 8."
    assert prompt_content(reply("Thought.</think>Said.", thinking_open=True)) == "Said."
    assert prompt_content(reply("<think>cut off mid", MessageStatus.STOPPED)) == ""
    user = Message(id=2, conversation_id=1, role="user", content="<think>my own text</think>")
    assert prompt_content(user) == user.content  # only replies think


def test_search_shows_the_part_that_matched():
    assert search_text(REPLY, ["gives"]) == ("thinking", "I add 3 and 5, which gives 8.")
    assert search_text(REPLY, ["plus"]) == ("", "3 plus 5 is 8.")
    assert search_text("No thinking here", ["here"]) == ("", "No thinking here")


def test_search_in_the_store_marks_hits_inside_thinking(tmp_path):
    store = ChatStore(tmp_path / "chats.db")
    conversation = store.create_conversation(title="Sums")
    store.add_message(conversation.id, "user", "What is 3 plus 5?")
    store.add_message(conversation.id, "assistant", REPLY)
    [hit] = store.search("which gives")
    assert hit.part == "thinking" and "<think>" not in hit.snippet and "[which] [gives]" in hit.snippet
    hits = store.search("plus")
    assert [h.part for h in hits if h.role == "assistant"] == [""]
    store.close()


def test_exports_keep_thinking_as_its_own_part():
    conversation = Conversation(id=1, title="Sums")
    messages = [Message(id=1, conversation_id=1, role="user", content="What is 3 plus 5?"),
                reply(REPLY, thinking_tokens=14, thinking_ms=820.0)]
    entry = to_json(conversation, messages)["messages"][1]
    assert entry["content"] == REPLY  # raw, for re-import
    assert (entry["thinking"], entry["answer"], entry["thinking_closed"]) == (
        "I add 3 and 5, which gives 8.", "3 plus 5 is 8.", True)
    assert "thinking" not in to_json(conversation, messages)["messages"][0]
    md = to_markdown(conversation, messages)
    assert "<details><summary>Thinking (0.8 s, 14 tokens)</summary>\n\nI add 3 and 5, which gives 8.\n\n</details>" in md
    assert "<think>" not in md and md.index("</details>") < md.index("3 plus 5 is 8.")
    assert export_parts(reply("<think>half", MessageStatus.STOPPED))["thinking_closed"] is False


def test_the_switch_lives_in_the_conversation_options():
    on, off = Conversation(id=1, title=""), Conversation(id=2, title="", options={"thinking": False})
    assert thinking_on(on) and not thinking_on(off) and thinking_on(None)
    assert generate_args(on) == {} and generate_args(off) == {"thinking": False}


def test_a_remote_servers_separate_reasoning_becomes_the_replys_thinking(tmp_path):
    """A server that parses reasoning sends it apart from the content (reasoning_content); the chat
    gets it as a think block, split, counted and left out of the next prompt like a local one."""
    import asyncio

    from studio.core.chat.session import ChatSession
    from studio.core.chat.thinking import split_message
    from studio.core.engine.client import EngineClient
    from studio.core.engine.remote import RemoteEngine
    from tests.remote_servers import StandIn

    server = StandIn()
    store = ChatStore(tmp_path / "chats.sqlite3")
    remote = RemoteEngine(server.base_url, name="stand-in", model="reasoner")
    session = ChatSession(store, EngineClient())  # the local engine is never started
    session.use_remote(remote)

    async def chat():
        try:
            return await session.send("What is 3 plus 5?")
        finally:
            await remote.close()
    try:
        reply = asyncio.run(chat())
    finally:
        server.stop()
        store.close()
    assert reply.content == "<think>I add 3 and 5, which gives 8.</think>3 plus 5 is 8."
    parts = split_message(reply)
    assert parts.thinking == "I add 3 and 5, which gives 8." and parts.answer == "3 plus 5 is 8."
    # counted per streamed piece (a remote engine sends no token ids): three, and the one that closes it
    assert reply.stats["thinking_tokens"] == 4 and reply.stats["thinking_ms"] >= 0
    assert prompt_content(reply) == "3 plus 5 is 8."


def test_studio_chat_prints_the_answer_on_stdout_and_the_thinking_apart():
    """`studio chat` against a server that sends reasoning apart: stdout carries the answer alone (so
    it can be piped), the thinking streams to stderr, and --json gives both parts and the raw reply."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.remote_servers import StandIn

    repo = Path(__file__).resolve().parents[2]
    server = StandIn()
    try:
        def studio_chat(*extra: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "studio", "chat", "--engine", server.base_url, "--model",
                                   "reasoner", "--prompt", "What is 3 plus 5?", *extra], cwd=repo,
                                  capture_output=True, text=True, timeout=120,
                                  env={**os.environ, "PYTHONPATH": str(repo)}, check=False)
        plain = studio_chat()
        assert plain.returncode == 0, plain.stderr
        assert plain.stdout == "3 plus 5 is 8.\n"
        assert "thinking: I add 3 and 5, which gives 8." in plain.stderr and "<think>" not in plain.stderr
        as_json = studio_chat("--json")
        assert as_json.returncode == 0, as_json.stderr
        reply = json.loads(as_json.stdout.strip().splitlines()[-1])
        assert reply["reply"] == "<think>I add 3 and 5, which gives 8.</think>3 plus 5 is 8."
        assert (reply["thinking"], reply["answer"], reply["thinking_closed"]) == \
            ("I add 3 and 5, which gives 8.", "3 plus 5 is 8.", True)
        # --no-thinking goes as enable_thinking false; this server refuses the field, so the reply is
        # asked for again without it and a note says the server has no thinking switch.
        server.rejects = {"chat_template_kwargs": 400}
        off = studio_chat("--no-thinking")
        assert off.returncode == 0, off.stderr
        assert off.stdout == "3 plus 5 is 8.\n"
        assert f"note: {server.base_url} has no thinking switch (it refused enable_thinking)" in off.stderr
        asked, again = server.bodies[-2:]
        assert asked["chat_template_kwargs"] == {"enable_thinking": False} and "chat_template_kwargs" not in again
        assert not any("chat_template_kwargs" in body for body in server.bodies[:-2])  # never by default
    finally:
        server.stop()


@pytest.mark.parametrize("cut", [1, 3, 7, 9])
def test_the_cli_printer_never_splits_a_tag_across_stdout_and_stderr(cut, capsys):
    from studio.cli.chat import _ReplyPrinter

    text = "<think>plan</think>Answer here."
    printer = _ReplyPrinter(lambda: False)
    for start in range(0, len(text), cut):
        printer.feed(text[start:start + cut])
    printer.finish()
    out, err = capsys.readouterr()
    assert out == "Answer here.\n" and err == "thinking: plan\n"
