"""The workspace's engine queue: waiting leases take their turns first in, first out, with events the UI
shows; waits can be given up (Stop) or timed out without losing anyone's turn; users that do not wait
are still refused at once."""

from __future__ import annotations

import asyncio

import pytest

from studio.core.events import Emitter
from studio.core.workspace import EngineBusy, WaitCancelled, Workspace


class _Engine(Emitter):
    model_info = None
    ready = False
    lora: list = []


def _workspace() -> tuple[Workspace, list]:
    workspace = Workspace(_Engine())  # type: ignore[arg-type]
    seen: list = []
    workspace.subscribe("queue_changed", lambda waiting, holder: seen.append((list(waiting), holder)))
    return workspace, seen


def test_waiting_leases_take_turns_in_arrival_order_with_queue_events():
    workspace, seen = _workspace()
    order: list[str] = []

    async def user(name: str, release: asyncio.Event) -> None:
        async with workspace.lease(name, wait=True):
            order.append(name)
            await release.wait()

    async def scenario() -> None:
        gates = {name: asyncio.Event() for name in ("server", "chat", "server2")}
        first = asyncio.ensure_future(user("server", gates["server"]))
        await asyncio.sleep(0)
        assert workspace.holder == "server" and workspace.waiting == []
        second = asyncio.ensure_future(user("chat", gates["chat"]))
        third = asyncio.ensure_future(user("server2", gates["server2"]))
        await asyncio.sleep(0.01)
        assert workspace.waiting == ["chat", "server2"]
        with pytest.raises(EngineBusy):       # a user that does not wait is refused at once
            async with workspace.lease("evaluation"):
                pass
        for name in ("server", "chat", "server2"):
            gates[name].set()
            await asyncio.sleep(0.01)
        await asyncio.gather(first, second, third)

    asyncio.run(scenario())
    assert order == ["server", "chat", "server2"]
    assert workspace.holder == "" and workspace.waiting == []
    assert seen == [(["chat"], "server"), (["chat", "server2"], "server"), (["server2"], "chat"), ([], "server2")]


def test_waiting_only_behind_named_holders():
    workspace, _ = _workspace()

    async def scenario() -> None:
        async with workspace.lease("evaluation"):
            workspace.check_free(wait=True)
            with pytest.raises(EngineBusy, match="evaluating an adapter"):
                workspace.check_free(wait=("server",))
            with pytest.raises(EngineBusy):
                async with workspace.lease("chat", wait=("server",)):
                    pass
            assert workspace.waiting == []
        async with workspace.lease("server"):
            workspace.check_free(wait=("server",))
            chat = workspace.lease("chat", wait=("server",))  # kept: a dropped context manager releases
            waiter = asyncio.ensure_future(chat.__aenter__())
            await asyncio.sleep(0.01)
            assert workspace.waiting == ["chat"] and not waiter.done()
        await asyncio.wait_for(waiter, 1.0)
        assert workspace.holder == "chat"

    asyncio.run(scenario())


def test_a_cancelled_or_timed_out_wait_leaves_the_queue_and_the_turn_passes_on():
    workspace, seen = _workspace()

    async def scenario() -> None:
        stop = asyncio.Event()
        async with workspace.lease("server"):
            async def stoppable() -> None:
                async with workspace.lease("chat", wait=True, cancel=stop):
                    raise AssertionError("the stopped wait must not get the engine")

            stopped = asyncio.ensure_future(stoppable())
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(workspace.lease("server", wait=True).__aenter__(), 0.05)

            async def later() -> str:
                async with workspace.lease("server2", wait=True):
                    return workspace.holder

            last = asyncio.ensure_future(later())
            await asyncio.sleep(0.01)
            assert workspace.waiting == ["chat", "server2"]
            stop.set()
            with pytest.raises(WaitCancelled):
                await stopped
            assert workspace.waiting == ["server2"]
        assert await asyncio.wait_for(last, 1.0) == "server2"
        assert workspace.holder == "" and workspace.waiting == []

    asyncio.run(scenario())
    assert seen[-1] == ([], "server2")


def test_a_wait_given_up_just_as_its_turn_came_hands_the_engine_on():
    workspace, _ = _workspace()

    async def scenario() -> None:
        outer = workspace.lease("server")
        await outer.__aenter__()
        chat, server2 = workspace.lease("chat", wait=True), workspace.lease("server2", wait=True)
        doomed = asyncio.ensure_future(chat.__aenter__())
        after = asyncio.ensure_future(server2.__aenter__())
        await asyncio.sleep(0.01)
        await outer.__aexit__(None, None, None)   # the turn goes to "chat" ...
        doomed.cancel()                           # ... which gives up before it runs
        with pytest.raises(asyncio.CancelledError):
            await doomed
        await asyncio.wait_for(after, 1.0)
        assert workspace.holder == "server2" and workspace.waiting == []

    asyncio.run(scenario())
