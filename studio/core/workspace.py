"""The app's state around its one llama.cpp engine: the current model and its adapters, who is using
the engine right now (a lease), and adapter swaps that always put the previous adapters back.

Screens take the workspace instead of the main window: they load models, ask for the engine and
swap adapters here, and the window only shows what the events say.

Events (Emitter):
- model_changed(info): the engine now runs another model file.
- adapters_changed(adapters): the attached LoRA adapters changed ([{"path", "scale"}]).
- lease_changed(holder): who holds the engine now ("" when it is free).
- loading(path): a load starts ("" when it has ended, loaded or not).
- load_failed(path, error): a load was refused (EngineBusy) or failed (WorkerError); the previous
  model stays.
- restore_failed(error): a swap could not put the previous adapters back (WorkerError).
- queue_changed(waiting, holder): who waits for the engine, in turn order (a list of users, e.g.
  ["server", "chat"]), and who holds it now; emitted when someone joins or leaves the queue or it
  moves on.

The lease and its queue: `lease(user)` takes the engine or raises EngineBusy at once (what long,
exclusive users do: an evaluation, the inspector). `lease(user, wait=True)` instead joins ONE first-in,
first-out queue shared by every user and returns when its turn comes; `wait=("server",)` waits only
behind those holders and raises EngineBusy at once behind anyone else (the chat waits for an API
request, never for an evaluation). A wait ends early, with WaitCancelled, when the `cancel` event given
is set (a Stop button), and cleanly when its task is cancelled (a timeout). A released engine passes
straight to the next in the queue, so nobody can slip in between.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Union

from studio.core.engine.client import EngineClient, ModelInfo
from studio.core.errors import StudioError
from studio.core.events import Emitter
from studio.core.settings import EngineSettings
from studio.core.workers.protocol import WorkerError

if TYPE_CHECKING:
    import asyncio
else:  # imported when first used, after the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import asyncio

# What each engine user is doing, as the sentence "the engine is busy …" ends.
USES = {
    "chat": "writing a chat reply",
    "evaluation": "evaluating an adapter",
    "next_token": "predicting the next token",
    "server": "answering an API request",
    "inspect": "inspecting the model (attention or the logit lens)",
    "arena": "comparing two answers in the Arena",
}


class EngineBusy(StudioError):
    """The engine is lent to someone else; `holder` names who ("chat", "evaluation", …)."""

    def __init__(self, holder: str) -> None:
        super().__init__("engine_busy", f"The engine is busy {USES.get(holder, holder)}: wait for it or stop it "
                                        "first.")
        self.holder = holder


class WaitCancelled(StudioError):
    """A wait for the engine was given up (its `cancel` event was set) before its turn came."""

    def __init__(self, user: str) -> None:
        super().__init__("cancelled", f"Stopped waiting for the engine ({USES.get(user, user)}).")
        self.user = user


# True: wait behind anyone; a collection: wait only behind these holders (EngineBusy behind others).
Wait = Union[bool, Collection[str]]


def normalized_path(path: str | os.PathLike[str] | None) -> str:
    """One spelling per model file (symlinks and relative paths resolved), for comparing paths."""
    return os.path.realpath(path) if path else ""


@dataclass(eq=False)
class Lease:
    """Proof of holding the engine; pass it to load_model so the holder may load its own model."""
    user: str


def _same_adapters(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return [(x.get("path"), x.get("scale")) for x in a] == [(x.get("path"), x.get("scale")) for x in b]


class Workspace(Emitter):
    def __init__(self, engine: EngineClient) -> None:
        super().__init__()
        self.engine = engine
        # The chat's context length for loads (the window points this at the chat's setting).
        self.context_length: Callable[[], int | None] = lambda: None
        self._lease: Lease | None = None
        self._waiting: list[tuple[Lease, asyncio.Future[None]]] = []  # the queue, first in first
        self._loading_path = ""
        self._model_path = normalized_path(engine.model_info.path) if engine.model_info else ""
        self._unsubscribe = [engine.subscribe("loaded", self._on_loaded),
                             engine.subscribe("lora", self._on_lora)]

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    # -- the current model ------------------------------------------------------------------
    @property
    def model_info(self) -> ModelInfo | None:
        return self.engine.model_info

    @property
    def model_path(self) -> str:
        """The loaded model's path as the engine reports it ("" when none)."""
        return self.engine.model_info.path if self.engine.model_info else ""

    @property
    def loading_path(self) -> str:
        return self._loading_path

    def current_path(self) -> str:
        """The model being loaded, else the loaded one: what a model picker should show."""
        return self._loading_path or self.model_path

    def same_model(self, path: str | os.PathLike[str] | None) -> bool:
        """Whether `path` is the model the engine holds (ready or not), whatever its spelling."""
        return bool(path) and self.engine.model_info is not None and \
            normalized_path(self.engine.model_info.path) == normalized_path(path)

    def has_model(self, path: str | os.PathLike[str] | None) -> bool:
        """Whether the engine is ready with `path` loaded (no load needed to use it)."""
        return self.engine.ready and self.same_model(path)

    @property
    def adapters(self) -> list[dict[str, Any]]:
        return self.engine.lora

    def _on_loaded(self, info: ModelInfo) -> None:
        path = normalized_path(info.path)
        if path != self._model_path:
            self._model_path = path
            self.emit("model_changed", info=info)
        self.emit("adapters_changed", adapters=list(info.lora))

    def _on_lora(self, adapters: list[dict[str, Any]]) -> None:
        self.emit("adapters_changed", adapters=list(adapters))

    # -- loading ----------------------------------------------------------------------------
    async def load_model(self, path: str, *, settings: EngineSettings | None = None,
                         lease: Lease | None = None) -> ModelInfo | None:
        """Load `path` with the chat's context length. None when refused (another user holds the
        engine) or failed; then load_failed says why and the previous model stays."""
        try:
            self.check_free(lease)
        except EngineBusy as exc:
            self.emit("load_failed", path=path, error=exc)
            return None
        self._loading_path = path
        self.emit("loading", path=path)
        try:
            return await self.engine.load(path, n_ctx=self.context_length(), settings=settings)
        except WorkerError as exc:
            self.emit("load_failed", path=path, error=exc)
            return None
        finally:
            self._loading_path = ""
            self.emit("loading", path="")

    async def use_model(self, path: str, *, lease: Lease | None = None) -> ModelInfo | None:
        """The engine with `path` loaded: loads it only when it holds another model (or none)."""
        if self.has_model(path):
            return self.engine.model_info
        return await self.load_model(path, lease=lease)

    # -- the engine lease -------------------------------------------------------------------
    @property
    def holder(self) -> str:
        """Who holds the engine ("" when it is free)."""
        return self._lease.user if self._lease is not None else ""

    @property
    def waiting(self) -> list[str]:
        """Who waits for the engine, in turn order."""
        return [lease.user for lease, _ in self._waiting]

    def check_free(self, lease: Lease | None = None, *, wait: Wait = False) -> None:
        """Raise EngineBusy unless the engine is free, held by `lease`, or `wait` allows queueing
        behind its holder (see lease())."""
        if self._lease is None or self._lease is lease:
            return
        if wait is True or (not isinstance(wait, bool) and self._lease.user in wait):
            return
        raise EngineBusy(self._lease.user)

    @asynccontextmanager
    async def lease(self, user: str, *, wait: Wait = False,
                    cancel: asyncio.Event | None = None) -> AsyncIterator[Lease]:
        """Hold the engine for `user` ("chat", "evaluation", "next_token", "inspect", "server") until the block
        ends. Without `wait`, another holder makes this raise EngineBusy at once (callers say so rather
        than queue behind an evaluation). With `wait` (True, or the holders worth waiting for) it takes
        its turn in the shared FIFO queue; setting `cancel` gives up the wait (WaitCancelled)."""
        lease = await self._acquire(user, wait, cancel)
        try:
            yield lease
        finally:
            self._release(lease)

    async def _acquire(self, user: str, wait: Wait, cancel: asyncio.Event | None) -> Lease:
        lease = Lease(user)
        if self._lease is None:  # a released engine passes to the queue at once: free means nobody waits
            self._grant(lease)
            return lease
        self.check_free(wait=wait)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((lease, turn))
        self._queue_changed()
        stop: asyncio.Future[Any] | None = None
        try:
            if cancel is None:
                await turn
            else:
                stop = asyncio.ensure_future(cancel.wait())
                await asyncio.wait((turn, stop), return_when=asyncio.FIRST_COMPLETED)
                if cancel.is_set():
                    raise WaitCancelled(user)
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._release(lease)  # the turn came as we gave up: pass it on
            else:
                turn.cancel()
                self._leave_queue(lease)
            raise
        finally:
            if stop is not None:
                stop.cancel()
        return lease

    def _grant(self, lease: Lease) -> None:
        self._lease = lease
        self.emit("lease_changed", holder=lease.user)

    def _release(self, lease: Lease) -> None:
        if self._lease is not lease:
            return
        while self._waiting:
            following, turn = self._waiting.pop(0)
            if turn.done():  # gave up already (its task ends without waking)
                continue
            turn.set_result(None)
            self._grant(following)
            self._queue_changed()
            return
        self._lease = None
        self.emit("lease_changed", holder="")

    def _leave_queue(self, lease: Lease) -> None:
        before = len(self._waiting)
        self._waiting = [entry for entry in self._waiting if entry[0] is not lease]
        if len(self._waiting) != before:
            self._queue_changed()

    def _queue_changed(self) -> None:
        self.emit("queue_changed", waiting=self.waiting, holder=self.holder)

    # -- adapter swaps ----------------------------------------------------------------------
    @asynccontextmanager
    async def adapters_swapped(self, adapters: list[dict[str, Any]] | None = None) -> AsyncIterator["AdapterSwap"]:
        """Attach `adapters` (None: keep them for now) and, when the block ends for any reason
        (error, cancel), put back the ones attached before. Swap again inside with `swap.set()`."""
        swap = AdapterSwap(self.engine, self.engine.lora)
        try:
            if adapters is not None:
                await swap.set(adapters)
            yield swap
        finally:
            error = await swap.restore()
            if error is not None:
                self.emit("restore_failed", error=error)


class AdapterSwap:
    def __init__(self, engine: EngineClient, previous: list[dict[str, Any]]) -> None:
        self.engine = engine
        self.previous = previous

    async def set(self, adapters: list[dict[str, Any]]) -> None:
        await self.engine.set_lora(adapters)

    async def restore(self) -> WorkerError | None:
        """Put the previous adapters back when they changed (nothing to do without a ready model)."""
        if self.engine.model_info is None or not self.engine.ready or \
                _same_adapters(self.engine.lora, self.previous):
            return None
        try:
            await self.engine.set_lora(self.previous)
        except WorkerError as exc:
            return exc
        return None


__all__ = ["USES", "AdapterSwap", "EngineBusy", "Lease", "WaitCancelled", "Workspace", "normalized_path"]
