"""Worker side of the JSON-lines protocol, and the shapes both sides share.

Request:  {"v": 1, "id": 7, "op": "generate", ...params}
Events:   {"id": 7, "event": "token", ...} ... then exactly one of
          {"id": 7, "event": "done", "result": {...}} or
          {"id": 7, "event": "error", "kind": "model_load", "message": "human text"}
Cancel:   {"v": 1, "id": 8, "op": "cancel", "target": 7} — handled on the reader thread so it
          lands while a long request runs; the handler sees it between tokens or steps.

The one cancellation rule: a cancelled call ends with `done` whose result carries
`"cancelled": true` — `{"cancelled": true}` alone when the operation has nothing to show, or the
operation's partial result (the reply so far, the adapter saved at the last step) with the flag
added; a client that ended a frozen worker adds `"unresponsive": true`. Every client turns that
result into `WorkerCancelled` in one place (`studio.core.workers.client.outcome`); each public API
then maps it to the one outcome it documents.

A worker is a `Worker` subclass: a name and one method per operation, each marked with
`@operation(ParamsType)`, where ParamsType is a dataclass shared with the client (the client
sends it, the worker receives it typed); results are TypedDicts, so they stay plain JSON.
Progress goes through `Request.progress(fraction, stage)`, which throttles.

Protocol lines go to a private dup of the original stdout; fd 1 itself is pointed at stderr so
stray prints from libraries (llama.cpp, tqdm) can never corrupt the stream.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable, Generic, Mapping, TextIO, TypeVar

from studio.core.errors import StudioError

PROTOCOL_VERSION = 1
PROGRESS_INTERVAL = 0.05  # seconds; the UI needs no more than ~20 updates a second

P = TypeVar("P")


class WorkerError(StudioError):
    """A request failed; `kind` is machine-readable, `message` is for people, `log_tail` is the
    worker's last stderr lines when it died."""

    def __init__(self, kind: str, message: str, log_tail: str = "") -> None:
        super().__init__(kind, message)
        self.log_tail = log_tail


class WorkerCancelled(WorkerError):
    """A call that ended by cancel (see the rule above). `partial` is the operation's result without
    the flags (empty when it had nothing to show); `unresponsive` when its worker was ended."""

    def __init__(self, message: str, result: Mapping[str, Any]) -> None:
        super().__init__("cancelled", message)
        self.unresponsive = bool(result.get("unresponsive"))
        self.partial = {k: v for k, v in result.items() if k not in ("cancelled", "unresponsive")}


class Cancelled(Exception):
    """Raised by `Request.check_cancelled()`; the request then ends with done + cancelled."""


def to_params(params: Any) -> dict[str, Any]:
    """A request's fields as the JSON object sent: a params dataclass, or a dict as it is."""
    if params is None:
        return {}
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    return dict(params)


def from_params(kind: type[P], op: str, params: dict[str, Any]) -> P:
    """The params dataclass of `op` from a request's fields; unknown or missing fields are a bad request."""
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(params) - names)
    if unknown:
        raise WorkerError("bad_request", f"{op} does not take {', '.join(unknown)}")
    try:
        return kind(**params)
    except TypeError as exc:
        raise WorkerError("bad_request", f"{op}: {exc}") from None


class Request(Generic[P]):
    def __init__(self, channel: "_Channel", req_id: int, op: str, params: P) -> None:
        self.id = req_id
        self.op = op
        self.params = params
        self._channel = channel
        self._cancel = threading.Event()
        self._last_at: dict[str, float] = {}
        self._last_stage: str | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def emit(self, event: str, **data: Any) -> None:
        self._channel.send({"id": self.id, "event": event, **data})

    def progress(self, fraction: float, stage: str = "", **extra: Any) -> None:
        """A "progress" event; within one stage at most every PROGRESS_INTERVAL, but a new stage
        and the end (fraction 1) always go out."""
        final = fraction >= 1.0 or stage != self._last_stage
        self._last_stage = stage
        self.emit_throttled("progress", final=final, fraction=round(float(fraction), 4), stage=stage, **extra)

    def emit_throttled(self, event: str, *, final: bool = False, interval: float = PROGRESS_INTERVAL,
                       **data: Any) -> None:
        """Emit `event` at most every `interval` seconds; `final` ones always go out."""
        now = time.monotonic()
        if not final and now - self._last_at.get(event, -interval) < interval:
            return
        self._last_at[event] = now
        self.emit(event, **data)


Handler = Callable[[Request[Any]], Any]


def operation(params: type | None = None, *, name: str | None = None) -> Callable[[Callable[..., Any]], Any]:
    """Mark a `Worker` method as the operation `name` (default: the method's name) whose request
    fields are the dataclass `params` (None: the fields stay a plain dict)."""
    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        method.__worker_op__ = (name or method.__name__, params)  # type: ignore[attr-defined]
        return method
    return mark


class Worker:
    """One worker process: set `name`, define its operations with @operation, call `main()`."""

    name = "worker"

    def handlers(self) -> dict[str, Handler]:
        found: dict[str, Handler] = {}
        for attr in dir(type(self)):
            marked = getattr(getattr(type(self), attr), "__worker_op__", None)
            if marked is not None:
                op, params = marked
                found[op] = self._typed(getattr(self, attr), params)
        return found

    @staticmethod
    def _typed(method: Callable[[Request[Any]], Any], params: type | None) -> Handler:
        if params is None:  # no fields to decode
            return method

        def handle(request: Request[Any]) -> Any:
            request.params = from_params(params, request.op, request.params)
            return method(request)
        return handle

    def main(self) -> None:
        serve(self.handlers(), name=self.name)


class _Channel:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


def _claim_stdout() -> TextIO:
    """Return a private stream on the original stdout and send fd 1 to stderr."""
    sys.stdout.flush()
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(proto_fd, "w", encoding="utf-8", buffering=1)


def serve(handlers: dict[str, Handler], *, name: str) -> None:
    """Run a worker until stdin closes or a `shutdown` request arrives."""
    import queue  # the worker's side only: the app's window imports this module before it shows

    channel = _Channel(_claim_stdout())
    pending: "queue.Queue[Request[Any] | None]" = queue.Queue()
    active: dict[int, Request[Any]] = {}
    active_lock = threading.Lock()

    def read_requests() -> None:
        for raw in sys.stdin:
            raw = raw.strip()
            if not raw:
                continue
            try:
                message = json.loads(raw)
                req_id = int(message.get("id", 0))
                op = str(message["op"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                channel.send({"id": 0, "event": "error", "kind": "protocol", "message": f"bad request line: {exc}"})
                continue
            if message.get("v") != PROTOCOL_VERSION:
                channel.send({"id": req_id, "event": "error", "kind": "protocol",
                              "message": f"protocol version {message.get('v')!r} not supported (worker speaks {PROTOCOL_VERSION})"})
                continue
            if op == "cancel":
                try:
                    target_id = int(message.get("target", -1))
                except (TypeError, ValueError):
                    continue
                with active_lock:
                    target = active.get(target_id)
                if target is not None:
                    target._cancel.set()
                continue
            if op == "shutdown":
                break
            params = {k: v for k, v in message.items() if k not in ("v", "id", "op")}
            request = Request(channel, req_id, op, params)
            with active_lock:
                active[req_id] = request
            pending.put(request)
        # stdin closed: the client is gone (maybe killed), so nobody wants the work in flight.
        with active_lock:
            for request in active.values():
                request._cancel.set()
        pending.put(None)

    threading.Thread(target=read_requests, name=f"{name}-stdin", daemon=True).start()
    channel.send({"id": 0, "event": "ready", "v": PROTOCOL_VERSION, "worker": name, "pid": os.getpid()})

    while True:
        request = pending.get()
        if request is None:
            break
        handler = handlers.get(request.op)
        try:
            if handler is None:
                raise WorkerError("unknown_op", f"the {name} worker has no operation {request.op!r}")
            result = handler(request) or {}
            request.emit("done", result=result)
        except Cancelled:
            request.emit("done", result={"cancelled": True})
        except StudioError as exc:  # WorkerError and every core error: its kind and sentence
            request.emit("error", kind=exc.kind, message=exc.message)
        except MemoryError:
            request.emit("error", kind="out_of_memory", message="the worker ran out of memory")
        except Exception as exc:  # report, keep serving
            traceback.print_exc(file=sys.stderr)
            request.emit("error", kind="internal", message=f"{type(exc).__name__}: {exc}")
        finally:
            with active_lock:
                active.pop(request.id, None)
