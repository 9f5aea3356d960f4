"""Client side of the worker protocol, on asyncio (works under qasync, in the CLI and in tests).

`WorkerClient` is the transport: one client owns at most one worker process. `ServiceClient` is the
base of every worker's client (engine, trainer, analyser, datasets): pid, log tail, busy, cancel,
kill and close, typed requests, progress, and the one cancellation rule (see
studio.core.workers.protocol) applied in `outcome()`. A worker that dies (crash, OOM, kill -9) fails every
request in flight with kind "worker_crashed" and its log tail; the next request spawns a fresh one.
A cancel given a timeout ends a worker that does not answer it (frozen, stuck in a C call), so a
caller is never held forever.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections import deque
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from studio.core.events import Emitter
from studio.core.workers.protocol import PROTOCOL_VERSION, WorkerCancelled, WorkerError, to_params
from studio.core.workers.runtime import with_runtime

if TYPE_CHECKING:
    import asyncio
else:  # imported when first used, after the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import asyncio

OnProgress = Callable[[float, str], Any]
OnEvent = Callable[[dict[str, Any]], Any]

_TERMINAL = ("done", "error")
_STREAM_LIMIT = 64 * 1024 * 1024  # one event may carry a whole logits vector
TERMINATE_GRACE_S = 1.0  # how long an unresponsive worker gets after SIGTERM before SIGKILL

# What people call a request field (and one item of a list field), for the one-line error about
# text that is not valid Unicode.
_FIELD_NAMES = {"messages": ("prompt", "message"), "text": ("text", ""), "texts": ("text", "text"),
                "path": ("file path", "")}


def worker_command(module: str) -> list[str]:
    """How to start `python -m module`; a frozen bundle re-enters its own executable."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--run-worker", module]
    return [sys.executable, "-u", "-m", module]


class Call:
    """A request in flight. `async for event in call` yields its non-final events; afterwards
    `call.result` holds the done payload. An error event raises WorkerError from the iteration."""

    def __init__(self, client: "WorkerClient", call_id: int, op: str) -> None:
        self.id = call_id
        self.op = op
        self.result: dict[str, Any] | None = None
        self.worker_generation = client.generation  # which worker process it was sent to
        self._client = client
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ended = asyncio.Event()  # a terminal event was delivered (maybe not yet consumed)
        self._watchdog: asyncio.Future[None] | None = None
        self.finished = False
        self.unresponsive = False  # the worker ignored a timed cancel and was ended

    def _deliver(self, event: dict[str, Any]) -> None:
        if self._ended.is_set():  # nothing counts after the terminal event
            return
        self._events.put_nowait(event)
        if event.get("event") in _TERMINAL:
            self._ended.set()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while not self.finished:
            event = await self._events.get()
            kind = event.get("event")
            if kind == "done":
                self.finished = True
                self.result = event.get("result") or {}
                return
            if kind == "error":
                self.finished = True
                raise WorkerError(event.get("kind", "error"), event.get("message", "unknown error"),
                                  event.get("log_tail", ""))
            yield event

    async def ended(self, timeout: float) -> bool:
        """Wait until the worker has ended this call (or `timeout` passes); True when it has."""
        try:
            await asyncio.wait_for(self._ended.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return self._ended.is_set()

    async def wait(self, on_event: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
        async for event in self:
            if on_event is not None:
                on_event(event)
        return self.result or {}

    async def cancel(self, *, timeout: float | None = None) -> None:
        """Ask the worker to stop this call; returns once asked, without waiting for the end.
        With a timeout, a worker that has not ended the call by then is ended (terminate, then
        kill) and the call finishes as {"cancelled": True, "unresponsive": True}."""
        if self.finished or self._ended.is_set():
            return
        await self._client.cancel(self.id)
        if timeout is not None and self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._client._end_if_unanswered(self, timeout))


class WorkerClient:
    def __init__(self, module: str, *, name: str | None = None, env: dict[str, str] | None = None,
                 log_lines: int = 300) -> None:
        self.module = module
        self.name = name or module.rsplit(".", 2)[-2]
        self._env = env
        self._proc: asyncio.subprocess.Process | None = None
        self._calls: dict[int, Call] = {}
        self._ids = itertools.count(1)
        self._log: deque[str] = deque(maxlen=log_lines)
        self._readers: list[asyncio.Task[None]] = []
        self._start_lock: asyncio.Lock | None = None  # made by the first start(): asyncio loads after the window shows
        self._closing = False
        self._ended_reason = ""  # why the client itself ended the current worker, if it did
        self.generation = 0  # bumps each time a fresh worker process starts

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(list(self._log)[-lines:])

    async def start(self) -> None:
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self.running:
                return
            env = dict(os.environ if self._env is None else self._env)
            with_runtime(env)  # the GPU runtime's import path first, when the user turned it on
            env["PYTHONUNBUFFERED"] = "1"
            env.setdefault("PYTHONIOENCODING", "utf-8")
            self._log.clear()
            self._closing = False
            self._ended_reason = ""
            self._proc = await asyncio.create_subprocess_exec(
                *worker_command(self.module),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, limit=_STREAM_LIMIT,
            )
            self.generation += 1
            proc = self._proc
            stderr_task = asyncio.ensure_future(self._read_stderr(proc))
            self._readers = [asyncio.ensure_future(self._read_stdout(proc, stderr_task, self.generation)), stderr_task]

    async def request(self, op: str, **params: Any) -> Call:
        """Send a request and return its Call; starts the worker if none is running. Text that
        cannot be sent (lone surrogates) raises WorkerError "bad_input" and sends nothing."""
        call_id = next(self._ids)
        line = _encode({"v": PROTOCOL_VERSION, "id": call_id, "op": op, **params}, params)
        await self.start()
        call = Call(self, call_id, op)
        self._calls[call.id] = call
        try:
            await self._write(line)
        except (ConnectionError, RuntimeError) as exc:
            self._calls.pop(call.id, None)
            raise WorkerError("worker_crashed", f"the {self.name} worker is not accepting requests: {exc}",
                              self.log_tail()) from exc
        return call

    async def call(self, op: str, *, on_event: Callable[[dict[str, Any]], Any] | None = None,
                   **params: Any) -> dict[str, Any]:
        return await (await self.request(op, **params)).wait(on_event)

    async def cancel(self, call_id: int) -> None:
        if self.running:
            try:
                await self._send({"v": PROTOCOL_VERSION, "id": next(self._ids), "op": "cancel", "target": call_id})
            except (ConnectionError, RuntimeError):
                pass

    async def _end_if_unanswered(self, call: Call, timeout: float) -> None:
        """The watchdog of a timed cancel: end the worker if the call is still running after timeout."""
        try:
            await asyncio.wait_for(call._ended.wait(), timeout)
            return
        except asyncio.TimeoutError:
            pass
        if call._ended.is_set() or call.worker_generation != self.generation or not self.running:
            return  # it ended after all, or its worker died and the reader fails the call
        # Detach the call first so the worker's death does not also fail it as a crash.
        self._calls.pop(call.id, None)
        call.unresponsive = True
        await self.end_unresponsive(f"the {self.name} worker did not answer a cancel within {timeout:g} s "
                                    "and was ended")
        call._deliver({"id": call.id, "event": "done", "result": {"cancelled": True, "unresponsive": True}})

    async def end_unresponsive(self, reason: str) -> None:
        """End a worker that no longer reads its requests: terminate, then kill. Other calls in
        flight fail with kind "worker_crashed" and `reason`; the next request starts a fresh one."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        self._ended_reason = reason
        try:
            assert proc.stdin is not None
            proc.stdin.close()
        except (ConnectionError, RuntimeError, AssertionError):
            pass
        for action in (self._terminate_stopped, proc.kill):
            try:
                action()
            except ProcessLookupError:
                break
            try:  # reaped here, so no zombie is left behind
                await asyncio.wait_for(proc.wait(), TERMINATE_GRACE_S)
                break
            except asyncio.TimeoutError:
                continue

    def _terminate_stopped(self) -> None:
        """SIGTERM, then SIGCONT: a stopped process only acts on SIGTERM once it runs again."""
        import signal  # here, not at the top: the window imports this module before it shows

        assert self._proc is not None
        self._proc.terminate()
        if hasattr(signal, "SIGCONT"):
            os.kill(self._proc.pid, signal.SIGCONT)

    async def close(self, timeout: float = 3.0) -> None:
        """Stop in stages: ask politely, then terminate, then kill."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        self._closing = True
        try:
            await self._send({"v": PROTOCOL_VERSION, "id": 0, "op": "shutdown"})
            assert proc.stdin is not None
            proc.stdin.close()
        except (ConnectionError, RuntimeError, AssertionError):
            pass
        for action in (None, proc.terminate, proc.kill):
            if action is not None:
                try:
                    action()
                except ProcessLookupError:
                    break
            try:
                await asyncio.wait_for(proc.wait(), timeout)
                break
            except asyncio.TimeoutError:
                continue
        await asyncio.gather(*self._readers, return_exceptions=True)

    def kill(self) -> None:
        """Hard-kill the worker (tests, and the UI's last resort)."""
        if self.running:
            assert self._proc is not None
            self._proc.kill()

    async def _send(self, message: dict[str, Any]) -> None:
        await self._write(_encode(message, message))

    async def _write(self, line: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            raise ConnectionError("worker not running")
        proc.stdin.write(line)
        await proc.stdin.drain()

    async def _read_stdout(self, proc: asyncio.subprocess.Process, stderr_task: "asyncio.Future[None]",
                           generation: int) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self._log.append("[client] dropped an oversized protocol line")
                continue
            if not line:
                break
            try:
                event = json.loads(line)
            except ValueError:
                self._log.append("[stdout] " + line.decode("utf-8", "replace").rstrip())
                continue
            call = self._calls.get(event.get("id", 0))
            if call is not None:
                call._deliver(event)
                if event.get("event") in _TERMINAL:
                    self._calls.pop(call.id, None)
        returncode = await proc.wait()
        try:  # the log tail must include the worker's last words
            await asyncio.wait_for(asyncio.shield(stderr_task), 1.0)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            pass
        self._fail_pending(self._death_message(returncode), generation)

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            self._log.append(line.decode("utf-8", "replace").rstrip())

    def _death_message(self, returncode: int) -> str:
        if self._ended_reason:
            return self._ended_reason
        if self._closing:
            return f"the {self.name} worker was shut down"
        if returncode < 0:
            import signal

            try:
                signame = signal.Signals(-returncode).name
            except ValueError:
                signame = f"signal {-returncode}"
            hint = " (often: out of memory)" if signame == "SIGKILL" else ""
            return f"the {self.name} worker was killed by {signame}{hint}"
        return f"the {self.name} worker exited unexpectedly with code {returncode}"

    def _fail_pending(self, message: str, generation: int) -> None:
        """Fail the calls sent to the process that died, not those already sent to a fresh one."""
        calls = [c for c in self._calls.values() if c.worker_generation == generation]
        for call in calls:
            self._calls.pop(call.id, None)
        tail = self.log_tail()
        for call in calls:
            call._deliver({"id": call.id, "event": "error", "kind": "worker_crashed",
                           "message": message, "log_tail": tail})


def outcome(call: Call, what: str | None = None) -> dict[str, Any]:
    """A finished call's result; a cancelled one raises WorkerCancelled("<what> was cancelled")."""
    result = call.result or {}
    if result.get("cancelled"):
        raise WorkerCancelled(f"{what or 'the ' + call.op.replace('_', ' ')} was cancelled", result)
    return result


class ServiceClient(Emitter):
    """The client of one kind of worker; a subclass adds its operations and nothing else.
    Events: busy(busy) when the first call starts and when the last one ends."""

    def __init__(self, module: str, *, name: str, env: dict[str, str] | None = None,
                 worker: WorkerClient | None = None) -> None:
        super().__init__()
        self.worker = worker or WorkerClient(module, name=name, env=env)
        self._calls: list[Call] = []

    @property
    def busy(self) -> bool:
        return bool(self._calls)

    @property
    def pid(self) -> int | None:
        return self.worker.pid

    def log_tail(self, lines: int = 40) -> str:
        return self.worker.log_tail(lines)

    def kill(self) -> None:
        """Hard-kill the worker (tests; the UI's last resort)."""
        self.worker.kill()

    async def cancel(self, *, timeout: float | None = None) -> None:
        """Cancel every call in flight; each ends by the cancellation rule (see outcome())."""
        for call in list(self._calls):
            await call.cancel(timeout=timeout)

    async def close(self, timeout: float = 3.0) -> None:
        await self.cancel()
        await self.worker.close(timeout)

    async def _send(self, op: str, params: Any = None) -> Call:
        """Send `op` with its params (a dataclass from the worker's module, or a dict) and track it."""
        call = await self.worker.request(op, **to_params(params))
        self._calls.append(call)
        if len(self._calls) == 1:
            self.emit("busy", busy=True)
        return call

    async def _finish(self, call: Call, *, on_event: OnEvent | None = None, on_progress: OnProgress | None = None,
                      what: str | None = None) -> dict[str, Any]:
        """Wait for a sent call: "progress" events go to on_progress (when given), the rest to on_event.
        Returns the result; raises WorkerError, and WorkerCancelled for a cancelled call."""
        def dispatch(event: dict[str, Any]) -> None:
            if on_progress is not None and event.get("event") == "progress":
                on_progress(float(event.get("fraction", 0.0)), str(event.get("stage", "")))
            elif on_event is not None:
                on_event(event)
        try:
            await call.wait(dispatch)
        finally:
            if call in self._calls:
                self._calls.remove(call)
                if not self._calls:
                    self.emit("busy", busy=False)
        return outcome(call, what)

    async def _run(self, op: str, params: Any = None, *, on_event: OnEvent | None = None,
                   on_progress: OnProgress | None = None, what: str | None = None) -> dict[str, Any]:
        return await self._finish(await self._send(op, params), on_event=on_event, on_progress=on_progress,
                                  what=what)


def _encode(message: dict[str, Any], params: dict[str, Any]) -> bytes:
    """One protocol line. Lone surrogates (what undecodable bytes become through surrogateescape)
    have no UTF-8 form: refuse them with a sentence instead of a UnicodeEncodeError from the pipe."""
    line = json.dumps(message, ensure_ascii=False) + "\n"
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        pass
    for field, value in params.items():
        item, text, index = _find_surrogate(value)
        if text is None:
            continue
        what, item_name = _FIELD_NAMES.get(field, (f"request field {field!r}", "item"))
        where = f"character {index + 1}" + (f" of {item_name} {item + 1}" if item >= 0 and item_name else "")
        code = ord(text[index])
        # U+DC80..U+DCFF is how surrogateescape carries a byte that was not UTF-8 (argv, stdin, files)
        origin = ""
        if 0xDC80 <= code <= 0xDCFF:
            origin = f", which stands for a byte 0x{code - 0xDC00:02x} that is not UTF-8"
        raise WorkerError("bad_input", f"the {what} is not valid Unicode text (a lone surrogate U+{code:04X} "
                                       f"at {where}{origin})")
    raise WorkerError("bad_input", "the request is not valid Unicode text")


def _find_surrogate(value: Any, item: int = -1) -> tuple[int, str | None, int]:
    """(index in the outermost list or -1, string, index in it) of the first lone surrogate."""
    if isinstance(value, str):
        for i, ch in enumerate(value):
            if "\ud800" <= ch <= "\udfff":
                return item, value, i
    elif isinstance(value, dict):
        for element in value.values():
            found = _find_surrogate(element, item)
            if found[1] is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, element in enumerate(value):
            found = _find_surrogate(element, i if item < 0 else item)
            if found[1] is not None:
                return found
    return item, None, -1
