"""The API server sharing the app's engine, in the app's process: requests and chat replies take turns
in one queue (in arrival order; the chat shows it waits, and Stop ends the wait), and a request naming
a training run's adapter is answered by base + that adapter while the chat keeps its own."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")

from studio.core.chat.conversation import MessageStatus  # noqa: E402
from studio.core.chat.session import ChatSession, SessionState  # noqa: E402
from studio.core.chat.store import ChatStore  # noqa: E402
from studio.core.engine.client import EngineClient  # noqa: E402
from studio.core.server.app import ServerOptions, create_app  # noqa: E402
from studio.core.workspace import EngineBusy, Workspace  # noqa: E402
from tests.core.conftest import PRECISE  # noqa: E402

pytestmark = pytest.mark.slow

# a grammar that forbids ending before 300 numbers: the request runs until max_tokens
LONG = {"type": "json_schema", "json_schema": {"name": "numbers", "schema": {
    "type": "array", "items": {"type": "integer"}, "minItems": 300}}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, engine: EngineClient, workspace: Workspace, session: ChatSession, port: int, model: str) -> None:
        self.engine, self.workspace, self.session, self.model = engine, workspace, session, model
        self.base = f"http://127.0.0.1:{port}/v1"

    def client(self) -> "openai.AsyncOpenAI":
        return openai.AsyncOpenAI(base_url=self.base, api_key="none", max_retries=0, timeout=120)


async def _start(workspace: Workspace, options: ServerOptions) -> tuple["uvicorn.Server", "asyncio.Task", int]:
    """The API over `workspace` on a free port, served by this loop."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(workspace, options), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.05)
    return server, task, port


@pytest.fixture(scope="module")
def served(loop, starter_model, tmp_path_factory):
    engine = EngineClient()
    loop.run_until_complete(engine.load(str(starter_model), n_ctx=2048))
    workspace = Workspace(engine)
    store = ChatStore(tmp_path_factory.mktemp("chats") / "chats.sqlite3")
    session = ChatSession(store, engine, workspace)
    session.new_conversation(sampling=PRECISE)
    server, task, port = loop.run_until_complete(asyncio.wait_for(_start(workspace, ServerOptions(n_ctx=2048)), 30))
    yield Served(engine, workspace, session, port, Path(starter_model).stem)
    server.should_exit = True
    loop.run_until_complete(asyncio.wait_for(task, 30))
    leftovers = [t for t in asyncio.all_tasks(loop) if not t.done()]  # sse-starlette's shutdown watcher
    for leftover in leftovers:
        leftover.cancel()
    loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
    loop.run_until_complete(engine.close())
    workspace.close()
    store.close()


async def _long_request(client: "openai.AsyncOpenAI", model: str, ends: dict[str, float], name: str,
                        max_tokens: int = 60) -> str:
    stream = await client.completions.create(model=model, prompt="1, 2, 3,", max_tokens=max_tokens, temperature=0,
                                             stream=True, extra_body={"response_format": LONG})
    text = "".join([c.choices[0].text async for c in stream if c.choices])
    ends[name] = time.monotonic()
    return text


async def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_requests_and_chat_replies_take_turns_in_arrival_order(served, loop):
    workspace, session = served.workspace, served.session
    holders: list[str] = []
    queues: list[tuple[list[str], str]] = []
    states: list[SessionState] = []
    notices: list[str] = []
    unsubscribe = [workspace.subscribe("lease_changed", lambda holder: holders.append(holder)),
                   workspace.subscribe("queue_changed", lambda waiting, holder: queues.append((list(waiting), holder))),
                   session.subscribe("state", lambda state: states.append(state)),
                   session.subscribe("notice", lambda message: notices.append(message))]
    ends: dict[str, float] = {}

    async def scenario() -> None:
        async with served.client() as client:
            first = asyncio.ensure_future(_long_request(client, served.model, ends, "first"))
            await _until(lambda: workspace.holder == "server")

            async def chat() -> None:
                reply = await session.send("Say hello.")
                ends["chat"] = time.monotonic()
                assert reply.status == MessageStatus.COMPLETE and reply.content

            chatting = asyncio.ensure_future(chat())
            await _until(lambda: session.state == SessionState.WAITING)
            assert session.waiting and workspace.waiting == ["chat"]
            second = asyncio.ensure_future(_long_request(client, served.model, ends, "second", max_tokens=8))
            await _until(lambda: workspace.waiting == ["chat", "server"])
            assert not first.done()                   # the chat waited for the request in flight
            await asyncio.wait_for(asyncio.gather(first, chatting, second), 120)

    loop.run_until_complete(scenario())
    for unsubscribe_one in unsubscribe:
        unsubscribe_one()
    assert ends["first"] < ends["chat"] < ends["second"]
    assert holders == ["server", "chat", "server", ""]
    assert queues == [(["chat"], "server"), (["chat", "server"], "server"), (["server"], "chat"), ([], "server")]
    assert states[0] == SessionState.WAITING and states[-1] == SessionState.IDLE
    assert notices and "answering an API request" in notices[0]


def test_stop_ends_a_chat_reply_waiting_for_the_server(served, loop):
    workspace, session = served.workspace, served.session
    ends: dict[str, float] = {}

    async def scenario() -> None:
        async with served.client() as client:
            request = asyncio.ensure_future(_long_request(client, served.model, ends, "request", max_tokens=40))
            await _until(lambda: workspace.holder == "server")
            reply = asyncio.ensure_future(session.send("Are you there?"))
            await _until(lambda: session.state == SessionState.WAITING)
            started = time.monotonic()
            await session.stop()
            assert time.monotonic() - started < 1.0
            assert session.state == SessionState.IDLE and workspace.waiting == []
            stopped = await reply
            assert stopped.status == MessageStatus.STOPPED and stopped.content == ""
            assert not request.done()                 # the request goes on, unaffected
            assert (await request).startswith("[")

    loop.run_until_complete(scenario())
    assert workspace.holder == ""
    # the chat is usable again, and an evaluation-like holder still refuses it at once
    assert loop.run_until_complete(session.send("Hello again.")).status == MessageStatus.COMPLETE

    async def refused() -> None:
        async with workspace.lease("evaluation"):
            with pytest.raises(EngineBusy):
                await session.send("Now?")

    loop.run_until_complete(refused())


@pytest.fixture(scope="module")
def run_adapter(starter_model, dequantized_starter):
    """A training run on the starter with a GGUF adapter (random, strong enough to change answers)."""
    from studio.core.training.runs import runs_root
    from tests.lora_fixtures import random_lora_gguf

    folder = runs_root() / "serve-adapter-run"
    folder.mkdir(parents=True, exist_ok=True)
    adapter = random_lora_gguf(dequantized_starter, starter_model, folder, std=0.2)
    assert adapter == folder / "adapter.gguf"
    (folder / "config.json").write_text(json.dumps({"base_model": str(starter_model), "data": []}))
    (folder / "status.json").write_text(json.dumps({"state": "completed", "step": 1, "total_steps": 1,
                                                     "started": time.time()}))
    return "serve-adapter-run", str(adapter)


def test_a_request_naming_a_run_adapter_gets_base_plus_that_adapter_only(served, loop, run_adapter, tmp_path):
    name, path = run_adapter
    engine = served.engine
    question = [{"role": "user", "content": "What is the capital of France?"}]

    async def ask(client: "openai.AsyncOpenAI", model: str) -> str:
        reply = await client.chat.completions.create(model=model, messages=question, temperature=0, seed=1,
                                                     max_tokens=16)
        assert reply.model == model
        return reply.choices[0].message.content

    async def scenario() -> None:
        assert engine.lora == []
        async with served.client() as client:
            models = (await client.models.list()).data
            ids = [m.id for m in models]
            assert ids[0] == served.model and name in ids
            assert next(m for m in models if m.id == name).parent == served.model
            assert (await client.models.retrieve(name)).id == name
            base = await ask(client, served.model)
            adapted = await ask(client, name)
            assert adapted != base
            assert engine.lora == []                    # put back as it was: no adapter
            # the chat attaches the same adapter at half strength: the base model answers with it, the
            # adapter's id still with exactly the adapter at full strength, and the chat keeps its own
            chat_adapters = [{"path": path, "scale": 0.5}]
            await served.workspace.engine.set_lora(chat_adapters)
            with_chat_adapter = await ask(client, served.model)
            assert with_chat_adapter != base
            assert await ask(client, name) == adapted
            assert engine.lora == chat_adapters
            # embeddings follow the model named too
            plain = await client.embeddings.create(model=served.model, input="Paris", encoding_format="float")
            tuned = await client.embeddings.create(model=name, input="Paris", encoding_format="float")
            assert plain.data[0].embedding != tuned.data[0].embedding
            assert engine.lora == chat_adapters
            with pytest.raises(openai.NotFoundError):
                await ask(client, "no-such-adapter")
        await served.workspace.engine.set_lora([])
        # an adapter given to the server (studio serve --lora) is a model too, at its scale
        style = tmp_path / "style.gguf"
        style.write_bytes(Path(path).read_bytes())
        server, task, port = await _start(served.workspace, ServerOptions(n_ctx=2048, adapters=[
            {"path": str(style), "scale": 1.0}]))
        try:
            async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none",
                                          max_retries=0, timeout=120) as client:
                listed = {m.id: m for m in (await client.models.list()).data}
                assert listed["style"].parent == served.model and name in listed
                assert await ask(client, "style") == adapted   # the same weights under another name
                assert engine.lora == []
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 30)

    loop.run_until_complete(scenario())
