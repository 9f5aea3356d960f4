"""The API server with a model that really thinks: `studio serve` running the starter with the
thinking adapter (tests/thinking_model.py), asked over HTTP by the `openai` package and raw SSE.
The thinking comes apart from the answer (reasoning_content), whole and streamed, with a tag cut
across tokens never leaking; "reasoning_format": "none" gives the raw reply; enable_thinking false
and a response_format turn thinking off; the studio's own RemoteEngine shows the thinking folded
again, and its thinking switch (the conversation's and `studio chat --no-thinking`) reaches the
server; a template that pre-opens <think> streams the same way."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from studio.core.engine.thinking import split
from tests.core.test_server import KEY, ROOT, Server, _free_port
from tests.thinking_model import with_template

openai = pytest.importorskip("openai")

# The first test may also train the adapter (thinking_adapter): ~2 min alone, more next to other jobs.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

SUM = [{"role": "user", "content": "What is 3 plus 5?"}]
GREEDY = {"temperature": 0, "seed": 1, "max_tokens": 60}


def start_server(model: Path, adapter: Path, log: Path) -> Server:
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "studio.core.server", "--model", str(model), "--lora",
                                 str(adapter), "--port", str(port), "--api-key", KEY, "--ctx", "2048"],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    srv = Server(proc, port, model.stem)
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, f"the server exited: {log.read_text(errors='replace')}"
        try:
            if srv.get("/models", timeout=2).status_code == 200:
                return srv
        except OSError:
            pass
        assert time.monotonic() < deadline, f"the server did not answer: {log.read_text(errors='replace')}"
        time.sleep(0.2)


def stop_server(srv: Server, log: Path) -> None:
    srv.proc.send_signal(signal.SIGINT)
    try:
        srv.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.proc.wait()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def server(starter_model, thinking_adapter, tmp_path_factory):
    log = tmp_path_factory.mktemp("thinking-server") / "server.log"
    srv = start_server(Path(starter_model), Path(thinking_adapter), log)
    yield srv
    stop_server(srv, log)


def sse(srv: Server, body: dict) -> list[dict]:
    """The events of a streamed request, read off the wire as they come (no client library)."""
    request = urllib.request.Request(srv.base + "/chat/completions", data=json.dumps({**body, "stream": True}).encode(),
                                     headers={"content-type": "application/json", "authorization": f"Bearer {KEY}"})
    events = []
    with urllib.request.urlopen(request, timeout=120) as response:
        for line in response:
            line = line.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    return events


def deltas(events: list[dict]) -> list[tuple[str, str]]:
    """(field, text) of each delta that carries text, in order."""
    out = []
    for event in events:
        for choice in event.get("choices", []):
            for key in ("reasoning_content", "content"):
                if choice["delta"].get(key):
                    out.append((key, choice["delta"][key]))
    return out


def test_the_thinking_comes_apart_from_the_answer_whole_and_streamed(server):
    client = server.client()
    reply = client.chat.completions.create(model=server.model, messages=SUM, **GREEDY)
    message = reply.choices[0].message
    thinking, answer = message.reasoning_content, message.content
    assert thinking.startswith("I add 3 and 5") and answer.startswith("3 plus 5 is"), message
    assert "think>" not in thinking + answer and thinking not in answer
    usage = reply.usage
    assert 0 < usage.completion_tokens_details.reasoning_tokens < usage.completion_tokens

    # The raw reply, as the model wrote it: the same text, its think block in content.
    raw = client.chat.completions.create(model=server.model, messages=SUM, extra_body={"reasoning_format": "none"},
                                         **GREEDY).choices[0].message
    assert raw.content.startswith("<think>") and getattr(raw, "reasoning_content", None) is None
    parts = split(raw.content)
    assert (parts.thinking, parts.answer) == (thinking, answer)

    # Streamed: reasoning_content chunks while it thinks, then content chunks; no tag, no piece of one.
    events = sse(server, {"model": server.model, "messages": SUM, **GREEDY, "stream_options": {"include_usage": True}})
    pieces = deltas(events)
    fields = [key for key, _ in pieces]
    assert fields == sorted(fields, key=lambda key: key != "reasoning_content"), fields  # thinking first, once
    assert fields.count("reasoning_content") > 3 and fields.count("content") > 3
    assert "".join(t for k, t in pieces if k == "reasoning_content") == thinking
    assert "".join(t for k, t in pieces if k == "content") == answer
    assert not any(mark in text for _, text in pieces for mark in ("<think", "</", "think>")), pieces
    assert events[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == usage.completion_tokens_details.reasoning_tokens

    # Raw streaming is the model's text as it came, tags and all.
    raw_pieces = deltas(sse(server, {"model": server.model, "messages": SUM, **GREEDY, "reasoning_format": "none"}))
    assert {k for k, _ in raw_pieces} == {"content"} and "".join(t for _, t in raw_pieces) == raw.content


def test_enable_thinking_false_and_a_response_format_answer_without_thinking(server):
    client = server.client()
    for extra in ({"chat_template_kwargs": {"enable_thinking": False}}, {"enable_thinking": False}):
        reply = client.chat.completions.create(model=server.model, messages=SUM, extra_body=extra, **GREEDY)
        message = reply.choices[0].message
        assert getattr(message, "reasoning_content", None) is None and "<think>" not in message.content, extra
        assert message.content.startswith("3 plus 5 is"), message.content  # the answer as trained, at once
        assert reply.usage.completion_tokens_details is None
    bad = server.post("/chat/completions", {"model": server.model, "messages": SUM,
                                            "chat_template_kwargs": {"enable_thinking": "no"}})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == 'enable_thinking must be true or false (got "no").'

    # A schema's grammar holds from the first token: no thinking, just valid JSON.
    schema = {"type": "object", "properties": {"sum": {"type": "integer"}, "words": {"type": "string"}},
              "required": ["sum", "words"]}
    reply = client.chat.completions.create(model=server.model, messages=SUM, temperature=0, seed=1, max_tokens=80,
                                           response_format={"type": "json_schema",
                                                            "json_schema": {"name": "sum", "schema": schema}})
    message = reply.choices[0].message
    assert getattr(message, "reasoning_content", None) is None and "<think>" not in message.content
    jsonschema.validate(json.loads(message.content), schema)


def test_the_studios_remote_engine_folds_the_thinking_again(server, tmp_path):
    from studio.core.chat.session import ChatSession
    from studio.core.chat.store import ChatStore
    from studio.core.chat.thinking import prompt_content, split_message
    from studio.core.engine.client import EngineClient
    from studio.core.engine.remote import RemoteEngine
    from studio.core.engine.sampling import SamplingParams

    store = ChatStore(tmp_path / "chats.sqlite3")
    remote = RemoteEngine(server.base, KEY, name="studio", model=server.model)
    session = ChatSession(store, EngineClient())  # the local engine is never started
    session.new_conversation(sampling=SamplingParams(temperature=0.0, max_tokens=60, seed=1, n_ctx=2048))
    session.use_remote(remote)

    async def chat():
        try:
            return await session.send("What is 3 plus 5?")
        finally:
            await remote.close()
    reply = asyncio.run(chat())
    assert reply.content.startswith("<think>") and "</think>" in reply.content, reply.content
    parts = split_message(reply)
    assert parts.thinking.startswith("I add 3 and 5") and parts.closed and parts.answer.startswith("3 plus 5 is")
    assert prompt_content(reply) == parts.answer  # the next prompt carries the answer only
    assert reply.stats["thinking_tokens"] > 0  # counted as it streamed
    store.close()


def test_the_conversations_switch_turns_a_remote_models_thinking_off(server, tmp_path):
    """The switch off goes to the server as chat_template_kwargs.enable_thinking false: the reply is the
    answer alone, no notice; on, the same question is thought about first."""
    from studio.core.chat.session import ChatSession
    from studio.core.chat.store import ChatStore
    from studio.core.chat.thinking import split_message
    from studio.core.engine.client import EngineClient
    from studio.core.engine.remote import RemoteEngine
    from studio.core.engine.sampling import SamplingParams

    store = ChatStore(tmp_path / "chats.sqlite3")
    remote = RemoteEngine(server.base, KEY, name="studio", model=server.model)
    session = ChatSession(store, EngineClient())  # the local engine is never started
    notices: list[str] = []
    session.subscribe("notice", lambda message: notices.append(message))
    sampling = SamplingParams(temperature=0.0, max_tokens=60, seed=1, n_ctx=2048)

    async def ask(thinking: bool):
        session.new_conversation(sampling=sampling)
        session.set_thinking(thinking)
        return await session.send("What is 3 plus 5?")

    async def chat():
        try:
            return await ask(False), await ask(True)
        finally:
            await remote.close()
    session.use_remote(remote)
    off, on = asyncio.run(chat())
    assert "think>" not in off.content and off.content.startswith("3 plus 5 is"), off.content
    assert split_message(off).thinking is None and not off.stats.get("thinking_tokens")
    assert split_message(on).thinking.startswith("I add 3 and 5") and on.stats["thinking_tokens"] > 0
    assert notices == [] and remote.thinking_switch is None  # the server took the switch
    store.close()


def test_studio_chat_no_thinking_with_an_engine(server):
    """`studio chat --engine URL --no-thinking`: the server's model answers without thinking."""
    def studio_chat(*extra: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "studio", "chat", "--engine", server.base, "--api-key", KEY,
                               "--model", server.model,
                               "--prompt", "What is 3 plus 5?", "--temperature", "0", "--seed", "1",
                               "--max-tokens", "60", "--json", *extra], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0 and "note:" not in done.stderr, done.stderr
        return json.loads(done.stdout)
    off = studio_chat("--no-thinking")
    assert "thinking" not in off and off["reply"].startswith("3 plus 5 is"), off
    on = studio_chat()
    assert on["thinking"].startswith("I add 3 and 5") and on["answer"].startswith("3 plus 5 is"), on


def test_a_template_that_pre_opens_think_streams_the_same_way(starter_model, thinking_adapter, tmp_path):
    model = with_template(Path(starter_model), tmp_path / "starter-qwen3-style.gguf")
    log = tmp_path / "server.log"
    srv = start_server(model, Path(thinking_adapter), log)
    try:
        whole = srv.client().chat.completions.create(model=srv.model, messages=SUM, **GREEDY).choices[0].message
        # The template wrote <think>: the reply has only </think>, and still splits.
        assert whole.reasoning_content and whole.content.startswith("3 plus 5 is"), whole
        pieces = deltas(sse(srv, {"model": srv.model, "messages": SUM, **GREEDY}))
        assert pieces[0][0] == "reasoning_content" and pieces[-1][0] == "content"
        assert "".join(t for k, t in pieces if k == "reasoning_content") == whole.reasoning_content
        assert "".join(t for k, t in pieces if k == "content") == whole.content
        off = srv.client().chat.completions.create(model=srv.model, messages=SUM, **GREEDY,
                                                   extra_body={"chat_template_kwargs": {"enable_thinking": False}})
        assert getattr(off.choices[0].message, "reasoning_content", None) is None
        assert "</think>" not in off.choices[0].message.content
    finally:
        stop_server(srv, log)
