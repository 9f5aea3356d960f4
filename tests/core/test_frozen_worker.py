"""A worker that stops answering, and text that cannot be sent to one: what the user sees, and that
nothing they wrote is lost.

A frozen worker is made with SIGSTOP; every test SIGCONTs and kills what it froze in a finally, so a
failing test never leaves a stopped process behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from studio.core.chat.conversation import DEFAULT_SYSTEM_PROMPT, MessageStatus
from studio.core.engine.sampling import PRESETS, SamplingParams
from studio.core.chat.session import SessionState
from studio.core.engine import client as engine_client
from studio.core.engine.client import EngineClient, EngineState
from studio.core.workers import client as worker_client
from studio.core.workers.client import WorkerClient
from studio.core.workers.protocol import WorkerError

REPO = Path(__file__).resolve().parents[2]
BOUND = 1.0   # the cancel timeout these tests run with (3 s in the app)
GRACE = 0.5   # SIGTERM → SIGKILL grace
SLACK = 1.5   # scheduling on a busy 2-core machine
PRECISE = replace(PRESETS["Precise"], n_ctx=2048)


@pytest.fixture(autouse=True)
def short_bounds(monkeypatch):
    monkeypatch.setattr(engine_client, "CANCEL_TIMEOUT_S", BOUND)
    monkeypatch.setattr(worker_client, "TERMINATE_GRACE_S", GRACE)


@contextmanager
def frozen_processes():
    """Collects the pids a test SIGSTOPs; afterwards every one still alive is continued and killed."""
    pids: list[int] = []
    try:
        yield pids
    finally:
        for pid in pids:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    break


def freeze(pids: list[int], pid: int) -> None:
    pids.append(pid)
    os.kill(pid, signal.SIGSTOP)


def assert_gone(pid: int) -> None:
    """Dead and reaped: not running, and no zombie of it left behind."""
    if psutil.pid_exists(pid):
        status = psutil.Process(pid).status()
        pytest.fail(f"the frozen worker {pid} is still there ({status})")
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def echo_client() -> WorkerClient:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return WorkerClient("tests.core._echo_worker", name="echo", env=env)


# -- the shared worker client (fast: the echo worker) ------------------------------------------
def test_timed_cancel_ends_a_frozen_worker_and_the_next_request_gets_a_fresh_one():
    async def go():
        client = echo_client()
        with frozen_processes() as pids:
            try:
                call = await client.request("count", n=100_000, delay=0.01)
                ticks = []
                async for event in call:
                    ticks.append(event["i"])
                    if len(ticks) == 3:
                        frozen = client.pid
                        freeze(pids, frozen)
                        started = time.perf_counter()
                        await call.cancel(timeout=BOUND)
                elapsed = time.perf_counter() - started
                assert BOUND * 0.9 <= elapsed < BOUND + 2 * GRACE + SLACK
                assert call.result == {"cancelled": True, "unresponsive": True} and call.unresponsive
                assert ticks[:3] == [0, 1, 2]  # what came before the freeze was all delivered
                assert not client.running
                assert_gone(frozen)
                fresh = await client.call("echo", text="after")
                assert fresh["echo"] == "after" and fresh["pid"] != frozen
            finally:
                await client.close()
    asyncio.run(go())


def test_timed_cancel_that_is_answered_changes_nothing():
    async def go():
        client = echo_client()
        try:
            call = await client.request("count", n=100_000, delay=0.01)
            pid = client.pid
            async for event in call:
                if event["i"] == 2:
                    await call.cancel(timeout=BOUND)
            assert call.result == {"cancelled": True} and not call.unresponsive
            await asyncio.sleep(BOUND + 0.2)  # the watchdog fires after the call ended: nothing happens
            assert client.running and client.pid == pid
            assert (await client.call("echo", text="same"))["pid"] == pid
        finally:
            await client.close()
    asyncio.run(go())


def test_lone_surrogate_is_a_one_line_bad_input_error_and_the_worker_keeps_serving():
    async def go():
        client = echo_client()
        try:
            pid = (await client.call("echo", text="before"))["pid"]
            with pytest.raises(WorkerError) as info:
                await client.call("echo", text="ab\udcff cd")
            error = info.value
            assert error.kind == "bad_input"
            assert error.message == ("the text is not valid Unicode text (a lone surrogate U+DCFF at character 3, "
                                     "which stands for a byte 0xff that is not UTF-8)")
            assert "\n" not in error.message and "Traceback" not in error.message
            assert error.__cause__ is None and error.__context__ is None  # no codec traceback chained on
            again = await client.call("echo", text="héllo after")
            assert again == {"echo": "héllo after", "pid": pid}
        finally:
            await client.close()
    asyncio.run(go())


# -- the engine and the chat session (the real starter model) -----------------------------------
@pytest.mark.slow
def test_stop_on_a_frozen_engine_returns_keeps_the_reply_and_restarts(harness):
    session, store, engine, loop = harness
    session.update_settings(sampling=SamplingParams(temperature=0.8, max_tokens=1500, seed=5, n_ctx=2048))
    notices, seen = [], {}
    session.subscribe("notice", lambda message: notices.append(message))
    engine_notes = []
    engine.subscribe("unresponsive", lambda message: engine_notes.append(message))

    async def stop_timed():
        started = time.perf_counter()
        await session.stop()
        seen["stop_s"] = time.perf_counter() - started
        seen["state_after_stop"] = session.state

    def on_update(message, delta):
        if "pid" not in seen and len(message.content) > 30 and session.state == SessionState.GENERATING:
            seen["pid"] = engine.worker.pid
            freeze(pids, seen["pid"])
            seen["stop"] = asyncio.ensure_future(stop_timed())

    def on_state(state):
        if state == SessionState.STOPPING:
            seen["text_at_stop"] = session.messages[-1].content

    session.subscribe("message_updated", on_update)
    session.subscribe("state", on_state)
    with frozen_processes() as pids:
        reply = loop.run_until_complete(session.send("Tell me a very long story about a cat."))
        loop.run_until_complete(seen["stop"])
        frozen = seen["pid"]

        assert seen["stop_s"] < BOUND + 2 * GRACE + SLACK, f"stop took {seen['stop_s']:.1f} s"
        assert seen["state_after_stop"] == SessionState.IDLE == session.state
        # the user asked to stop: the reply is kept as stopped, not as an error
        assert reply.status == MessageStatus.STOPPED and session.last_error is None
        assert len(seen["text_at_stop"]) > 30 and reply.content == seen["text_at_stop"]
        saved = store.get_message(reply.id)
        assert saved.status == MessageStatus.STOPPED and saved.content == seen["text_at_stop"]
        assert "error" not in saved.stats
        assert notices == engine_notes and len(notices) == 1
        assert notices[0] == session.last_notice and "did not answer" in notices[0] and "\n" not in notices[0]
        assert_gone(frozen)

        follow_up = loop.run_until_complete(session.send("What is the capital of France? Answer in English."))
        assert follow_up.status == MessageStatus.COMPLETE and "Paris" in follow_up.content
        assert engine.worker.pid != frozen and engine.state == EngineState.READY
        assert session.last_notice is None
        assert [m.content for m in store.messages(session.conversation.id)][:2] == [
            "Tell me a very long story about a cat.", seen["text_at_stop"]]


@pytest.mark.slow
def test_cancel_load_on_a_frozen_engine_ends_it_and_the_next_load_works(starter_model):
    async def go():
        engine = EngineClient()
        notes = []
        engine.subscribe("unresponsive", lambda message: notes.append(message))
        with frozen_processes() as pids:
            try:
                await engine.worker.start()
                frozen = engine.worker.pid
                # Freeze the worker before it reads the load request: the load never answers.
                freeze(pids, frozen)
                load = asyncio.ensure_future(engine.load(str(starter_model), n_ctx=2048))
                while engine._load_call is None:
                    await asyncio.sleep(0.01)
                started = time.perf_counter()
                await engine.cancel_load()
                with pytest.raises(WorkerError) as info:
                    await load
                elapsed = time.perf_counter() - started
                assert info.value.kind == "cancelled"
                assert elapsed < BOUND + 2 * GRACE + SLACK
                assert len(notes) == 1 and "did not answer" in notes[0]
                assert engine.state == EngineState.NO_MODEL
                assert_gone(frozen)
                info2 = await engine.load(str(starter_model), n_ctx=2048)
                assert info2.n_ctx == 2048 and engine.worker.pid != frozen and engine.ready
            finally:
                await engine.close()
    asyncio.run(go())


@pytest.mark.slow
def test_lone_surrogate_in_a_prompt_is_bad_input_and_the_engine_answers_next(starter_model):
    async def go():
        engine = EngineClient()
        try:
            await engine.load(str(starter_model), n_ctx=2048)
            pid = engine.worker.pid
            prompt = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": "hi\udcff there"}]
            with pytest.raises(WorkerError) as info:
                await engine.generate(prompt, PRECISE)
            assert info.value.kind == "bad_input"
            assert info.value.message == ("the prompt is not valid Unicode text (a lone surrogate U+DCFF at "
                                          "character 3 of message 2, which stands for a byte 0xff that is not UTF-8)")
            assert info.value.__context__ is None
            assert engine.state == EngineState.READY and engine.worker.pid == pid
            prompt[1] = {"role": "user", "content": "What is the capital of France? Answer in English."}
            text, _stats = await engine.complete(prompt, PRECISE)
            assert "Paris" in text and engine.worker.pid == pid
        finally:
            await engine.close()
    asyncio.run(go())
