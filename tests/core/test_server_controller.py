"""The in-app API server (ServerController): uvicorn on the caller's running loop over the app's own
workspace and engine, driven by the official `openai` client from another thread, as a real client
would be."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time

import pytest

from studio.core.chat.session import ChatSession
from studio.core.chat.store import ChatStore
from studio.core.engine.client import EngineClient
from studio.core.secrets import SecretStore
from studio.core.server.controller import KEY_NAME, ServerController, generate_key
from studio.core.settings import AppSettings, ServerSettings, load_settings, save_settings
from studio.core.workspace import Workspace

from tests.core.conftest import PRECISE

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.slow

KEY = "sk-test-controller"


@pytest.fixture(scope="module")
def engine(loop, starter_model):
    engine = EngineClient()
    loop.run_until_complete(engine.load(str(starter_model), n_ctx=2048))
    yield engine
    loop.run_until_complete(engine.close())
    # sse_starlette's per-loop shutdown watcher outlives every server; end it with the loop
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending))


@pytest.fixture()
def controller(loop, engine, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_SECRETS", "file")
    workspace = Workspace(engine)
    controller = ServerController(workspace, secret_store=SecretStore(tmp_path / "secrets.json"))
    states: list[dict] = []
    controller.subscribe("state", lambda **state: states.append(state))
    controller.states = states  # type: ignore[attr-defined]
    yield controller
    loop.run_until_complete(controller.stop())
    workspace.close()


def client(controller, key: str | None = KEY) -> "openai.OpenAI":
    return openai.OpenAI(base_url=controller.url, api_key=key or "none", max_retries=0, timeout=60)


def model_id(engine) -> str:
    return engine.model_info.path.rsplit("/", 1)[-1].removesuffix(".gguf")


def off_loop(loop, fn):
    """Run a blocking client call in a thread while the loop keeps serving."""
    return loop.run_until_complete(asyncio.to_thread(fn))


def wait_for(loop, predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        loop.run_until_complete(asyncio.sleep(0.02))


def port_is_free(port: int) -> bool:
    """Whether another program could listen on the port now (SO_REUSEADDR: TIME_WAIT does not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def test_serves_the_apps_engine_and_logs_each_request(loop, engine, controller):
    before = signal.getsignal(signal.SIGINT)
    assert loop.run_until_complete(controller.start(0, KEY))
    assert controller.running and controller.url == f"http://127.0.0.1:{controller.port}/v1"
    assert controller.states[-1] == {"running": True, "url": controller.url, "error": ""}
    # uvicorn's own handlers would stop the server, not the app, on Ctrl+C
    assert signal.getsignal(signal.SIGINT) is before
    records = []
    controller.subscribe("request", lambda record: records.append(record))

    reply = off_loop(loop, lambda: client(controller).chat.completions.create(
        model=model_id(engine), temperature=0, seed=1, max_tokens=12,
        messages=[{"role": "user", "content": "Name a colour."}]))
    assert reply.choices[0].message.content.strip()
    chunks = off_loop(loop, lambda: list(client(controller).chat.completions.create(
        model=model_id(engine), temperature=0, seed=1, max_tokens=12, stream=True,
        messages=[{"role": "user", "content": "Name a fruit."}])))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    wait_for(loop, lambda: len(records) == 2)  # a stream's record comes once its handler has returned

    assert [(r.method, r.path, r.status, r.stream) for r in records] == \
        [("POST", "/v1/chat/completions", 200, False), ("POST", "/v1/chat/completions", 200, True)]
    plain = records[0]
    assert plain.model == model_id(engine) and plain.client.startswith("127.0.0.1:")
    assert plain.prompt_tokens == reply.usage.prompt_tokens and plain.completion_tokens == reply.usage.completion_tokens
    assert plain.tokens_per_s > 0 and plain.ttft_ms > 0 and plain.duration_s > 0 and not plain.message
    assert records[1].completion_tokens > 0 and records[1].tokens_per_s > 0
    assert list(controller.records) == records
    assert controller.counters.requests == 2 and controller.counters.errors == 0
    assert controller.counters.tokens == sum(r.prompt_tokens + r.completion_tokens for r in records)
    assert controller.workspace.holder == ""


def test_a_wrong_key_is_a_401_record_with_its_sentence(loop, engine, controller):
    assert loop.run_until_complete(controller.start(0, KEY))
    records = []
    controller.subscribe("request", lambda record: records.append(record))
    with pytest.raises(openai.AuthenticationError):
        off_loop(loop, lambda: client(controller, "sk-wrong").models.list())
    wait_for(loop, lambda: len(records) == 1)
    assert [(r.status, r.path, r.message) for r in records] == [(401, "/v1/models", "The API key is wrong.")]
    assert controller.counters.errors == 1


def test_a_port_in_use_is_a_sentence_and_the_server_stays_off(loop, controller):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        assert not loop.run_until_complete(controller.start(port, KEY))
    assert not controller.running and controller.error_kind == "port_in_use"
    assert controller.states[-1] == {"running": False, "url": "",
                                     "error": f"Port {port} is already in use by another program: pick another "
                                              "port, or stop the program that uses it."}


def test_other_computers_need_an_explicit_opt_in_and_a_key(loop, controller):
    assert not loop.run_until_complete(controller.start(0, None, allow_remote=True))
    assert controller.error_kind == "needs_key" and "API key" in controller.error and not controller.running
    assert loop.run_until_complete(controller.start(0, None))  # without the opt-in: this machine only
    assert controller.host == "127.0.0.1"
    assert loop.run_until_complete(controller.start(0, KEY, allow_remote=True))
    assert controller.host == "0.0.0.0" and controller.local_url.startswith("http://127.0.0.1:")
    with pytest.raises(openai.AuthenticationError):  # the key is asked of everyone, this machine too
        off_loop(loop, lambda: openai.OpenAI(base_url=controller.local_url, api_key="no", max_retries=0).models.list())


def test_stop_cuts_a_stream_off_frees_the_engine_and_the_port_and_the_chat_still_works(loop, engine, controller,
                                                                                      tmp_path):
    assert loop.run_until_complete(controller.start(0, KEY))
    port = controller.port
    assert not port_is_free(port)
    first_token = threading.Event()
    outcome: dict = {}

    def long_stream() -> None:
        try:
            stream = client(controller).chat.completions.create(
                model=model_id(engine), max_tokens=1500, stream=True,
                messages=[{"role": "user", "content": "Write a very long story about the sea."}])
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    first_token.set()
            outcome["ended"] = "normally"
        except Exception as exc:  # the connection is cut: what a client sees when the server stops
            outcome["ended"] = type(exc).__name__

    async def stop_mid_stream() -> float:
        streaming = asyncio.ensure_future(asyncio.to_thread(long_stream))
        while not first_token.is_set():
            await asyncio.sleep(0.02)
        assert controller.workspace.holder == "server"
        began = time.monotonic()
        await controller.stop()
        took = time.monotonic() - began
        await streaming
        return took

    took = loop.run_until_complete(stop_mid_stream())
    assert took < 5, f"stopping took {took:.1f} s"
    assert controller.workspace.holder == "" and not controller.running
    assert controller.states[-1] == {"running": False, "url": "", "error": ""}
    assert outcome["ended"] != "normally"
    assert port_is_free(port)
    assert [r.stream for r in controller.records] == [True]

    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        session = ChatSession(store, engine, controller.workspace)
        session.new_conversation(sampling=PRECISE)
        reply = loop.run_until_complete(session.send("Say hello."))
        assert reply.content.strip()
    finally:
        store.close()
    # and it serves again on the same port at once
    assert loop.run_until_complete(controller.start(port, KEY)) and controller.port == port


def test_the_key_lives_in_the_secret_store_and_never_in_the_settings(controller, tmp_path):
    key = generate_key()
    assert len(key) > 40 and key != generate_key()
    where = controller.set_api_key(key)
    assert "file only you can read" in where and where == controller.key_location()
    assert controller.api_key() == key == controller.secrets.get(KEY_NAME)
    settings = AppSettings(server=ServerSettings(port=9123, allow_remote=True, auto_start=True))
    path = tmp_path / "settings.json"
    save_settings(settings, path)
    assert key not in path.read_text()
    assert json.loads(path.read_text())["server"] == {"port": 9123, "allow_remote": True, "auto_start": True}
    assert load_settings(path).server == settings.server
    controller.set_api_key("")
    assert controller.api_key() is None


def test_a_damaged_server_setting_takes_its_default(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"server": {"port": 70000, "allow_remote": "yes", "auto_start": True}}))
    settings = load_settings(path)
    assert settings.server == ServerSettings(auto_start=True)


def test_stop_with_a_plain_request_in_flight_and_more_queued_frees_the_engine(loop, engine, controller, tmp_path):
    assert loop.run_until_complete(controller.start(0, KEY))
    outcomes: list[str] = []

    def ask(stream: bool) -> None:
        try:
            result = client(controller).chat.completions.create(
                model=model_id(engine), max_tokens=1500, stream=stream,
                messages=[{"role": "user", "content": "Write a very long story about the mountains."}])
            if stream:
                list(result)
            outcomes.append("answered")
        except Exception as exc:  # cut off by the stop
            outcomes.append(type(exc).__name__)

    async def stop_with_three_in() -> float:
        askers = [asyncio.ensure_future(asyncio.to_thread(ask, s)) for s in (False, True, False)]
        while not (controller.workspace.holder == "server" and len(controller.workspace.waiting) >= 2):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # the first is generating
        began = time.monotonic()
        await controller.stop()
        took = time.monotonic() - began
        await asyncio.gather(*askers)
        return took

    took = loop.run_until_complete(stop_with_three_in())
    assert took < 8, f"stopping took {took:.1f} s"
    assert controller.workspace.holder == "" and controller.workspace.waiting == []
    assert len(outcomes) == 3 and "answered" not in outcomes
    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        session = ChatSession(store, engine, controller.workspace)
        session.new_conversation(sampling=PRECISE)
        began = time.monotonic()
        reply = loop.run_until_complete(session.send("Say hello."))
        assert reply.content.strip() and time.monotonic() - began < 10
    finally:
        store.close()
