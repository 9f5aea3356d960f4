"""Remote engines (studio.core.engine.remote) against real OpenAI-compatible servers on 127.0.0.1:
llama-cpp-python's own server and the studio's own server, both with the starter model, plus a
standard-library stand-in for 429, 500 and a server that never answers. No HTTP is mocked."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.session import ChatSession, SessionState
from studio.core.chat.store import ChatStore
from studio.core.engine.client import EngineClient
from studio.core.engine.remote import (RemoteEngine, RemoteEngineError, RemoteRegistry, normalize_base_url,
                                       parse_label)
from studio.core.engine.sampling import PRESETS
from studio.core.secrets import SecretStore, file_is_private
from studio.core.settings import AppSettings, load_settings, save_settings
from tests.remote_servers import (LLAMA_ALIAS, ROOT, STUDIO_KEY, StandIn, free_port, start_llama_cpp_server,
                                  start_studio_server)

pytestmark = pytest.mark.slow
PRECISE = replace(PRESETS["Precise"], n_ctx=2048, max_tokens=24)
LONG = replace(PRECISE, max_tokens=400)
HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]
COUNT = [{"role": "user", "content": "Count from 1 to 200, one number per line."}]


@pytest.fixture(scope="module")
def llama_server(starter_model, tmp_path_factory):
    server = start_llama_cpp_server(starter_model, tmp_path_factory.mktemp("llama"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def studio_server(starter_model, tmp_path_factory):
    server = start_studio_server(starter_model, tmp_path_factory.mktemp("studio"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stand_in():
    server = StandIn(slow_s=5.0)
    yield server
    server.stop()


def _reply(loop, engine: RemoteEngine, messages=HELLO, sampling=PRECISE):
    async def go():
        generation = await engine.generate(messages, sampling)
        async for _ in generation:
            pass
        return generation
    return loop.run_until_complete(go())


def _error(loop, coro) -> RemoteEngineError:
    with pytest.raises(RemoteEngineError) as caught:
        loop.run_until_complete(coro)
    return caught.value


def test_base_urls_are_normalized():
    assert normalize_base_url("127.0.0.1:8080") == "http://127.0.0.1:8080/v1"
    assert normalize_base_url("http://localhost:11434/v1/") == "http://localhost:11434/v1"
    assert normalize_base_url("https://example.org/api/v1/chat/completions") == "https://example.org/api/v1"
    assert parse_label("remote:box/qwen/qwen3") == ("box", "qwen/qwen3")
    for bad in ("", "ftp://x", "http://:80", "http://host:port"):
        with pytest.raises(RemoteEngineError):
            normalize_base_url(bad)


def test_llama_cpp_server_lists_and_streams(loop, llama_server):
    engine = RemoteEngine(llama_server.base_url, name="llama")
    assert loop.run_until_complete(engine.list_models()) == [LLAMA_ALIAS]
    engine.model = LLAMA_ALIAS
    tokens: list[str] = []

    async def go():
        generation = await engine.generate(HELLO, PRECISE)
        async for kind, value in generation:
            assert kind == "token"
            tokens.append(value)
        return generation
    generation = loop.run_until_complete(go())
    assert len(tokens) > 2 and "".join(tokens) == generation.text and generation.text.strip()
    stats = generation.stats
    # llama-cpp-python sends no usage: tokens are the streamed chunks, timings measured here.
    assert stats.tokens == len(tokens) and stats.ttft_ms > 0 and stats.tokens_per_s > 0
    assert stats.finish_reason in ("stop", "length") and not stats.stopped
    loop.run_until_complete(engine.close())


def test_studio_server_streams_with_usage_and_a_key(loop, studio_server):
    engine = RemoteEngine(studio_server.base_url, STUDIO_KEY, name="studio")
    models = loop.run_until_complete(engine.list_models())
    assert len(models) == 1
    engine.model = models[0]
    generation = _reply(loop, engine)
    stats = generation.stats
    assert generation.text.strip() and stats.ttft_ms > 0 and stats.tokens_per_s > 0
    assert stats.prompt_tokens > 5 and 0 < stats.tokens <= PRECISE.max_tokens  # from the server's usage
    loop.run_until_complete(engine.close())


def test_stop_ends_the_stream_at_once_and_the_server_goes_on(loop, llama_server):
    engine = RemoteEngine(llama_server.base_url, model=LLAMA_ALIAS)

    async def go():
        generation = await engine.generate(COUNT, LONG)
        seen = 0
        cancel_s = 0.0
        async for kind, _ in generation:
            seen += 1
            if seen == 5:
                started = time.perf_counter()
                await generation.cancel()
                cancel_s = time.perf_counter() - started
        return generation, seen, cancel_s
    generation, seen, cancel_s = loop.run_until_complete(go())
    assert cancel_s < 0.1, cancel_s
    assert seen == 5 and generation.stats.stopped and generation.stats.tokens == 5
    assert generation.stats.finish_reason == "cancelled"
    assert _reply(loop, engine).text.strip()  # the server took the hang-up and answers again
    loop.run_until_complete(engine.close())


def test_each_failure_has_its_own_sentence(loop, studio_server, stand_in):
    port = free_port()  # nothing listens there
    error = _error(loop, RemoteEngine(f"http://127.0.0.1:{port}").list_models())
    assert error.kind == "remote_unreachable"
    assert str(error) == f"Could not reach http://127.0.0.1:{port}/v1: connection refused — is the server running?"

    error = _error(loop, RemoteEngine(studio_server.base_url, "wrong-key").list_models())
    assert error.kind == "remote_unauthorized" and "the key was refused" in str(error)
    error = _error(loop, RemoteEngine(studio_server.base_url).list_models())
    assert error.kind == "remote_unauthorized" and "needs an API key" in str(error)

    error = _error(loop, RemoteEngine(f"http://127.0.0.1:{studio_server.port}/nowhere", STUDIO_KEY).list_models())
    assert error.kind == "remote_not_found" and "no /models endpoint" in str(error)
    unknown = RemoteEngine(studio_server.base_url, STUDIO_KEY, model="no-such-model")
    error = _error(loop, _reply_async(unknown))
    assert error.kind == "remote_not_found"
    assert "404" in str(error) and "“no-such-model”" in str(error) and "is not served here" in str(error)

    error = _error(loop, _reply_async(RemoteEngine(stand_in.base_url, model="limited")))
    assert error.kind == "remote_rate_limited" and error.retry_after == 7
    assert str(error).endswith("(429 Too Many Requests): try again in 7 s.")

    error = _error(loop, _reply_async(RemoteEngine(stand_in.base_url, model="broken")))
    assert error.kind == "remote_server_error"
    assert "(500)" in str(error) and "CUDA out of memory while loading the KV cache" in str(error)

    started = time.perf_counter()
    error = _error(loop, _reply_async(RemoteEngine(stand_in.base_url, model="slow", timeout_s=0.5)))
    assert error.kind == "remote_timeout" and "did not answer within 0.5 s" in str(error)
    assert time.perf_counter() - started < 4


async def _reply_async(engine: RemoteEngine):
    generation = await engine.generate(HELLO, PRECISE)
    async for _ in generation:
        pass
    return generation


def test_chat_with_a_remote_model_is_saved_with_its_engine_and_local_stays_usable(loop, llama_server,
                                                                                  starter_model, tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    engine = EngineClient()
    session = ChatSession(store, engine)
    remote = RemoteEngine(llama_server.base_url, name="llama box", model=LLAMA_ALIAS)
    session.use_remote(remote)
    conversation = session.new_conversation(sampling=PRECISE)
    assert conversation.model == "remote:llama box/" + LLAMA_ALIAS
    streamed: list[str] = []
    session.subscribe("message_updated", lambda message, delta: delta and streamed.append(delta))
    reply = loop.run_until_complete(session.send("Say hello."))
    assert reply.status == MessageStatus.COMPLETE and reply.content.strip() and len(streamed) > 1
    assert reply.stats["engine"] == "remote:llama box/" + LLAMA_ALIAS
    assert reply.stats["model"] == LLAMA_ALIAS and reply.stats["engine_url"] == llama_server.base_url
    assert reply.stats["tokens_per_s"] > 0 and reply.stats["ttft_ms"] > 0
    assert not engine.worker.running  # the local engine was never started
    stored = store.messages(conversation.id)[-1]
    assert stored.content == reply.content and stored.stats["engine"] == reply.stats["engine"]

    # A remote that cannot be reached fails with its sentence; the local model still answers.
    session.use_remote(RemoteEngine(f"http://127.0.0.1:{free_port()}", name="gone", model="x"))
    failed = loop.run_until_complete(session.send("Are you there?"))
    assert session.conversation.model == "remote:llama box/" + LLAMA_ALIAS  # a failure changes nothing
    assert failed.status == MessageStatus.ERROR and session.state == SessionState.ERROR
    assert "connection refused" in failed.stats["error"] and failed.stats["engine"] == "remote:gone/x"
    session.use_remote(None)
    loop.run_until_complete(engine.load(str(starter_model), n_ctx=2048))
    local = loop.run_until_complete(session.send("Say hello again."))
    assert local.status == MessageStatus.COMPLETE and local.content.strip() and "engine" not in local.stats
    loop.run_until_complete(engine.close())

    # Reopened later, the conversation and its replies still say which engine answered.
    store.close()
    reopened = ChatStore(tmp_path / "chats.sqlite3")
    again = ChatSession(reopened, EngineClient())
    assert again.open(conversation.id).model == str(starter_model)  # the engine that answered last
    first = [m for m in again.messages if m.role == "assistant"][0]
    assert first.stats["engine"] == "remote:llama box/" + LLAMA_ALIAS
    reopened.close()


def test_stop_of_a_remote_reply_in_the_session(loop, llama_server, tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    session = ChatSession(store, EngineClient())
    session.use_remote(RemoteEngine(llama_server.base_url, name="llama", model=LLAMA_ALIAS))
    session.new_conversation(sampling=LONG)

    async def go():
        task = asyncio.ensure_future(session.send(COUNT[0]["content"]))
        while session.state != SessionState.GENERATING:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        await session.stop()
        return await task, time.perf_counter() - started
    reply, stop_s = loop.run_until_complete(go())
    assert stop_s < 0.5 and reply.status == MessageStatus.STOPPED and reply.content
    assert store.messages(reply.conversation_id)[-1].status == MessageStatus.STOPPED
    store.close()


def test_a_remote_reply_goes_ahead_while_an_evaluation_holds_the_local_engine(loop, llama_server, tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    session = ChatSession(store, EngineClient())
    session.use_remote(RemoteEngine(llama_server.base_url, name="llama", model=LLAMA_ALIAS))
    session.new_conversation(sampling=replace(PRECISE, max_tokens=8))

    async def go():
        async with session.workspace.lease("evaluation"):  # the local engine is busy for a long while
            return await session.send("Say hi.")
    reply = loop.run_until_complete(go())
    assert reply.status == MessageStatus.COMPLETE and reply.content
    store.close()


def test_registry_keeps_keys_out_of_the_settings_file(tmp_path):
    settings_path = tmp_path / "settings.json"
    secrets = SecretStore(file=tmp_path / "secrets.json")
    settings = AppSettings()
    registry = RemoteRegistry(settings, secrets, save=lambda s: save_settings(s, settings_path))
    where = registry.put("box", "127.0.0.1:8000", "sk-very-secret-123", models=["m1"])
    assert where == secrets.where()
    assert "sk-very-secret-123" not in settings_path.read_text()
    entry = registry.get("box")
    assert entry is not None and entry.base_url == "http://127.0.0.1:8000/v1" and entry.models == ["m1"]
    assert registry.key_of(entry) == "sk-very-secret-123"
    if not secrets.uses_keyring():
        assert file_is_private(secrets.file) and "sk-very-secret-123" in secrets.file.read_text()
    # Renaming keeps the key (None = keep it); the engine is rebuilt from the saved settings.
    registry.put("lab box", "127.0.0.1:8001", None, replacing="box")
    loaded = RemoteRegistry(load_settings(settings_path), secrets, save=lambda s: save_settings(s, settings_path))
    assert [e.name for e in loaded.entries()] == ["lab box"]
    engine = loaded.engine("lab box", "m1")
    assert engine.api_key == "sk-very-secret-123" and engine.label == "remote:lab box/m1"
    assert "sk-very-secret-123" not in settings_path.read_text()
    loaded.remove("lab box")
    assert secrets.get("remote-engine:lab box") is None and loaded.entries() == []
    assert json.loads(settings_path.read_text())["remote_engines"] == []


def _studio(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, env={**os.environ, **(env or {})})


def test_cli_chat_with_a_remote_engine(llama_server, studio_server, stand_in):
    done = _studio("chat", "--engine", llama_server.base_url, "--prompt", "Say hello.", "--max-tokens", "16",
                   "--temperature", "0", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reply"].strip() and result["model"] == LLAMA_ALIAS and result["engine"] == llama_server.base_url
    assert result["tokens"] > 0 and result["tokens_per_s"] > 0 and result["ttft_ms"] > 0

    # The key from the environment; the one model served is used without --model.
    done = _studio("chat", "--engine", studio_server.base_url, "--prompt", "Say hello.", "--max-tokens", "12",
                   "--temperature", "0", env={"STUDIO_ENGINE_API_KEY": STUDIO_KEY})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    done = _studio("chat", "--engine", studio_server.base_url, "--api-key", "nope", "--prompt", "hi")
    assert done.returncode == 1 and "the key was refused" in done.stderr and "Traceback" not in done.stderr

    done = _studio("chat", "--engine", stand_in.base_url, "--prompt", "hi")
    assert done.returncode == 2 and "limited, broken, slow" in done.stderr and "--model" in done.stderr
    done = _studio("chat", "--engine", stand_in.base_url, "--model", "broken", "--prompt", "hi")
    assert done.returncode == 1 and "CUDA out of memory" in done.stderr
    done = _studio("chat", "--engine", f"127.0.0.1:{free_port()}", "--prompt", "hi")
    assert done.returncode == 1 and "connection refused — is the server running?" in done.stderr


def test_a_server_without_the_thinking_switch_is_asked_again_without_it(loop, tmp_path):
    """Thinking off sends chat_template_kwargs.enable_thinking false, and only then; a server that
    refuses the field (400, or 422 from a strict pydantic server) is asked once more without it, the
    reply comes as the server decides, and the chat says in one sentence that it has no switch."""
    server = StandIn(rejects={"chat_template_kwargs": 400})
    store = ChatStore(tmp_path / "chats.sqlite3")
    remote = RemoteEngine(server.base_url, name="stand-in", model="reasoner")
    session = ChatSession(store, EngineClient())
    notices: list[str] = []
    session.subscribe("notice", lambda message: notices.append(message))
    session.use_remote(remote)
    sentence = (f"{server.base_url} has no thinking switch (it refused enable_thinking), so its model thinks "
                "or not as the server decides.")
    try:
        on = loop.run_until_complete(session.send("What is 3 plus 5?"))
        assert on.status == MessageStatus.COMPLETE and notices == [] and session.last_notice is None
        assert len(server.bodies) == 1 and "chat_template_kwargs" not in server.bodies[0]  # never by default

        session.set_thinking(False)
        off = loop.run_until_complete(session.send("And 4 plus 4?"))
        assert off.status == MessageStatus.COMPLETE and off.content == on.content  # the server's own way
        asked, again = server.bodies[1:]
        assert asked["chat_template_kwargs"] == {"enable_thinking": False} and "chat_template_kwargs" not in again
        assert asked["messages"] == again["messages"]
        assert notices == [sentence] and session.last_notice == sentence and remote.thinking_switch is False

        # Remembered: the next reply goes without the field at once, and still says why it may think.
        loop.run_until_complete(session.send("And 2 plus 2?"))
        assert len(server.bodies) == 4 and "chat_template_kwargs" not in server.bodies[3]
        assert notices == [sentence, sentence]

        server.rejects = {"chat_template_kwargs": 422}
        strict = RemoteEngine(server.base_url, model="reasoner")
        said: list[str] = []
        strict.subscribe("notice", lambda message: said.append(message))
        generation = _reply(loop, strict, HELLO)
        generation_off = loop.run_until_complete(strict.generate(HELLO, thinking=False))
        assert generation.text == on.content and said == []

        async def drain():
            async for _ in generation_off:
                pass
        loop.run_until_complete(drain())
        assert generation_off.text == on.content and said == [sentence] and strict.thinking_switch is False
        loop.run_until_complete(strict.close())
    finally:
        loop.run_until_complete(remote.close())
        server.stop()
        store.close()
