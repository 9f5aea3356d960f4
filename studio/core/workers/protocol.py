"""Worker side of the JSON-lines protocol.

Request:  {"v": 1, "id": 7, "op": "generate", ...params}
Events:   {"id": 7, "event": "token", ...} ... then exactly one of
          {"id": 7, "event": "done", "result": {...}} or
          {"id": 7, "event": "error", "kind": "model_load", "message": "human text"}
Cancel:   {"v": 1, "id": 8, "op": "cancel", "target": 7} — handled on the reader thread so it
          lands while a long request runs; the handler sees it between tokens or steps.

Protocol lines go to a private dup of the original stdout; fd 1 itself is pointed at stderr so
stray prints from libraries (llama.cpp, tqdm) can never corrupt the stream.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import traceback
from typing import Any, Callable, TextIO

PROTOCOL_VERSION = 1


class WorkerError(Exception):
    """A request failed; `kind` is machine-readable, `message` is for people."""

    def __init__(self, kind: str, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.log_tail = log_tail


class Cancelled(Exception):
    """Raised by `Request.check_cancelled()`; the request then ends with done + cancelled."""


class Request:
    def __init__(self, channel: "_Channel", req_id: int, op: str, params: dict[str, Any]) -> None:
        self.id = req_id
        self.op = op
        self.params = params
        self._channel = channel
        self._cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def emit(self, event: str, **data: Any) -> None:
        self._channel.send({"id": self.id, "event": event, **data})


Handler = Callable[[Request], "dict[str, Any] | None"]


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
    channel = _Channel(_claim_stdout())
    pending: "queue.Queue[Request | None]" = queue.Queue()
    active: dict[int, Request] = {}
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
        except WorkerError as exc:
            request.emit("error", kind=exc.kind, message=exc.message)
        except MemoryError:
            request.emit("error", kind="out_of_memory", message="the worker ran out of memory")
        except Exception as exc:  # report, keep serving
            traceback.print_exc(file=sys.stderr)
            request.emit("error", kind="internal", message=f"{type(exc).__name__}: {exc}")
        finally:
            with active_lock:
                active.pop(request.id, None)
