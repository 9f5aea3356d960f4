"""The JSON-lines worker protocol, through a real subprocess."""

import asyncio
import os
import time
from pathlib import Path

import pytest

from studio.core.errors import StudioError
from studio.core.workers.client import ServiceClient, WorkerClient
from studio.core.workers.protocol import WorkerCancelled, WorkerError

REPO = Path(__file__).resolve().parents[2]


def make_client() -> WorkerClient:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return WorkerClient("tests.core._echo_worker", name="echo", env=env)


def run(coro):
    return asyncio.run(coro)


def test_request_response_survives_stdout_noise():
    async def go():
        client = make_client()
        try:
            result = await client.call("echo", text="héllo 你好")
            assert result["echo"] == "héllo 你好"
            assert result["pid"] == client.pid
            for _ in range(100):  # stderr is read on its own task; give it a moment
                if "library noise" in client.log_tail():
                    break
                await asyncio.sleep(0.01)
            assert "library noise" in client.log_tail()  # went to the log, not the protocol
        finally:
            await client.close()
    run(go())


def test_events_stream_in_order_then_done():
    async def go():
        client = make_client()
        try:
            seen = []
            result = await client.call("count", n=5, on_event=lambda e: seen.append(e["i"]))
            assert seen == [0, 1, 2, 3, 4]
            assert result == {"counted": 5}
        finally:
            await client.close()
    run(go())


def test_cancel_lands_between_steps():
    async def go():
        client = make_client()
        try:
            call = await client.request("count", n=1000, delay=0.01)
            ticks = 0
            async for _event in call:
                ticks += 1
                if ticks == 3:
                    started = time.perf_counter()
                    await call.cancel()
            assert call.result == {"cancelled": True}
            assert time.perf_counter() - started < 0.5
            assert ticks < 100
            # the worker keeps serving after a cancel
            assert (await client.call("echo", text="again"))["echo"] == "again"
        finally:
            await client.close()
    run(go())


def test_error_event_carries_kind_and_message():
    async def go():
        client = make_client()
        try:
            with pytest.raises(WorkerError) as info:
                await client.call("fail", why="too long")
            assert info.value.kind == "bad_input"
            assert "too long" in info.value.message
            with pytest.raises(WorkerError) as info:
                await client.call("no_such_op")
            assert info.value.kind == "unknown_op"
        finally:
            await client.close()
    run(go())


def test_crash_reports_log_tail_and_next_request_restarts():
    async def go():
        client = make_client()
        try:
            first_pid = (await client.call("echo", text="x"))["pid"]
            with pytest.raises(WorkerError) as info:
                await client.call("die")
            assert info.value.kind == "worker_crashed"
            assert "code 3" in info.value.message
            assert "last words" in info.value.log_tail
            result = await client.call("echo", text="fresh")
            assert result["echo"] == "fresh" and result["pid"] != first_pid
        finally:
            await client.close()
    run(go())


def test_kill_9_mid_stream_fails_the_call_promptly():
    async def go():
        client = make_client()
        try:
            call = await client.request("count", n=10_000, delay=0.01)  # 100 s if nobody notices
            killed = None

            async def consume() -> None:
                nonlocal killed
                async for event in call:
                    if event["i"] == 2:
                        client.kill()
                        killed = time.perf_counter()

            with pytest.raises(WorkerError) as info:
                await asyncio.wait_for(consume(), 10)  # a hang fails here instead of stalling the suite
            noticed = time.perf_counter() - killed
            assert info.value.kind == "worker_crashed"
            assert "SIGKILL" in info.value.message
            assert noticed < 2.0, f"the call learned of the kill after {noticed:.2f} s"
        finally:
            await client.close()
    run(go())


def test_typed_params_refuse_unknown_fields():
    async def go():
        client = make_client()
        try:
            with pytest.raises(WorkerError) as info:
                await client.call("count", n=2, speed=3)
            assert info.value.kind == "bad_request" and "speed" in info.value.message
            assert isinstance(info.value, StudioError)  # one error family
        finally:
            await client.close()
    run(go())


def test_progress_is_throttled_but_keeps_each_stage_and_the_end():
    async def go():
        client = make_client()
        try:
            seen = []
            await client.call("progress", steps=200, delay=0.001, on_event=lambda e: seen.append(e))
            stages = [e["stage"] for e in seen]
            assert len(seen) < 60, len(seen)  # 201 reports over ~0.2 s, at most one per 50 ms a stage
            assert stages[0] == "first half" and "second half" in stages
            assert seen[-1]["fraction"] == 1.0
        finally:
            await client.close()
    run(go())


def test_service_client_turns_a_cancelled_call_into_worker_cancelled():
    class Echo(ServiceClient):
        async def count(self, n: int) -> dict:
            return await self._run("count", {"n": n, "delay": 0.01})

    async def go():
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        client = Echo("tests.core._echo_worker", name="echo", env=env)
        client.subscribe("busy", lambda busy: busyness.append(busy))
        try:
            task = asyncio.ensure_future(client.count(1000))
            while not client.busy:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            await client.cancel()
            with pytest.raises(WorkerCancelled) as info:
                await asyncio.wait_for(task, 10)
            assert info.value.kind == "cancelled" and not info.value.unresponsive and info.value.partial == {}
            assert not client.busy and busyness == [True, False]
            assert (await client.count(3)) == {"counted": 3}
        finally:
            await client.close()
    busyness: list[bool] = []
    run(go())
