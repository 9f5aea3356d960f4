"""The API server inside the app: the same ASGI app as `studio serve`, served by uvicorn as a task on
the app's own running event loop (qasync), over the app's workspace and its one engine (no second
copy of the model in memory).

Safe by default: it binds 127.0.0.1; every interface (0.0.0.0) only with `allow_remote` and an API
key. It says it is running only once the socket really listens, and a port in use is a sentence
(the server stays off). Stopping cuts in-flight requests off the way a client that hangs up does,
so their generations are cancelled and the engine is free for the chat at once.

Events (Emitter):
- state(running, url, error): running or not, the base URL ("http://127.0.0.1:8080/v1", "" when
  off) and, when it stopped or could not start, one sentence saying why ("" otherwise).
- request(record): one answered request (RequestRecord), for a live log.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets as _secrets
import socket
import time
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator, cast

from studio.core.errors import StudioError
from studio.core.events import Emitter
from studio.core.secrets import SecretStore
from studio.core.server.app import RequestRecord
from studio.core.server.run import ServeRefused, check_bind
from studio.core.workers.protocol import WorkerError
from studio.core.workspace import EngineBusy, Lease, Workspace

KEY_NAME = "server-api-key"   # the one name the server's key has in the secret store
LOCAL_HOST = "127.0.0.1"
ALL_HOSTS = "0.0.0.0"
MAX_RECORDS = 500
GRACE_S = 5             # uvicorn cancels whatever has not ended this long after stop
FREE_WAIT_S = 12.0     # how long stop waits for the engine to be given back (a cancel's own bound)


class ServerError(StudioError):
    """Why the server did not start: kind is "port_in_use", "port_denied", "bad_port",
    "needs_key", "address" or "failed"; `port` is the port asked for."""

    def __init__(self, kind: str, message: str, port: int = 0) -> None:
        super().__init__(kind, message)
        self.port = port


@dataclass
class Counters:
    requests: int = 0
    errors: int = 0            # answers with a status of 400 or more (499: the client hung up)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def generate_key() -> str:
    """A fresh random API key (URL-safe, 32 bytes of entropy)."""
    return "sk-local-" + _secrets.token_urlsafe(32)


def _server_class() -> type:
    import uvicorn

    class InAppServer(uvicorn.Server):  # type: ignore[misc]
        """uvicorn without its signal handlers: Ctrl+C and SIGTERM stay the app's (uvicorn would
        replace them with its own for as long as it serves, and re-raise them when it ends)."""

        def __init__(self, config: Any, listening: asyncio.Event) -> None:
            super().__init__(config)
            self._listening = listening

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                self._listening.set()

    return InAppServer


class _Gate:
    """The workspace as the API sees it. Once the server stops, a request whose turn in the engine
    queue comes gives the engine straight back instead of generating for a client that was cut off
    (queued requests would otherwise each take the engine once more before noticing)."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self.closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._workspace, name)

    @asynccontextmanager
    async def lease(self, user: str, **wait: Any) -> AsyncIterator[Lease]:
        self._refuse_if_closed()
        async with self._workspace.lease(user, **wait) as lease:
            self._refuse_if_closed()
            yield lease

    def _refuse_if_closed(self) -> None:
        if self.closed:
            from studio.core.server.app import ApiError
            raise ApiError(503, "The server was stopped before this request's turn came.", "server_error",
                           "server_stopped")


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (not yet listening); OSError says why not."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if os.name == "posix":  # rebind right after a stop (TIME_WAIT); never shares a live listener there
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        elif hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: no other program may take it over
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_error(exc: OSError, host: str, port: int) -> ServerError:
    code = exc.errno
    if code in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        return ServerError("port_in_use", f"Port {port} is already in use by another program: pick another "
                                          "port, or stop the program that uses it.", port)
    if code in (errno.EACCES, errno.EPERM, getattr(errno, "WSAEACCES", -1)):
        return ServerError("port_denied", f"This system does not let the app listen on port {port} (ports below "
                                          "1024 need administrator rights): pick a port of 1024 or higher.", port)
    return ServerError("address", f"Could not listen on {host}:{port}: {exc.strerror or exc}.", port)


class ServerController(Emitter):
    def __init__(self, workspace: Workspace, *, secret_store: SecretStore | None = None,
                 max_records: int = MAX_RECORDS) -> None:
        super().__init__()
        self.workspace = workspace
        self.secrets = secret_store or SecretStore()
        self.records: deque[RequestRecord] = deque(maxlen=max_records)
        self.counters = Counters()
        self.url = ""
        self.host = ""
        self.port = 0
        self.error = ""
        self.error_kind = ""
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._gate: _Gate | None = None
        self._stopping = False
        self._switch = asyncio.Lock()  # start and stop one at a time

    # -- state ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and bool(self.url)

    @property
    def remote(self) -> bool:
        """Whether it listens on every interface (other computers may connect, with the key)."""
        return self.running and self.host == ALL_HOSTS

    @property
    def local_url(self) -> str:
        """The URL from this machine (the shown `url` names the network address when remote)."""
        return f"http://{LOCAL_HOST}:{self.port}/v1" if self.running else ""

    @property
    def serving_request(self) -> bool:
        """Whether the engine is answering one of this server's requests right now."""
        return self.workspace.holder == "server"

    def _set_state(self, running: bool, url: str = "", error: str = "", kind: str = "") -> None:
        self.url, self.error, self.error_kind = url, error, kind
        self.emit("state", running=running, url=url, error=error)

    # -- the key --------------------------------------------------------------------------------
    def api_key(self) -> str | None:
        return self.secrets.get(KEY_NAME) or None

    def set_api_key(self, key: str | None) -> str:
        """Store (or with None/"" forget) the key; returns where it is kept, in words. A running
        server keeps the key it started with until it is started again."""
        if not key:
            self.secrets.delete(KEY_NAME)
            return self.secrets.where()
        return self.secrets.set(KEY_NAME, key)

    def key_location(self) -> str:
        return self.secrets.where()

    # -- start and stop -------------------------------------------------------------------------
    async def start(self, port: int, api_key: str | None = None, allow_remote: bool = False) -> bool:
        """Listen on 127.0.0.1:port (every interface with allow_remote, which needs a key). True once
        it listens; False with the reason in `error` and a state event (the server stays off).
        Port 0 takes any free port. A running server is stopped first."""
        async with self._switch:
            await self._stop_locked()
            try:
                sock, host = self._open(int(port), api_key or None, allow_remote)
            except ServerError as exc:
                self._set_state(False, error=exc.message, kind=exc.kind)
                return False
            return await self._serve(sock, host, api_key or None)

    def _open(self, port: int, api_key: str | None, allow_remote: bool) -> tuple[socket.socket, str]:
        if not 0 <= port <= 65535:
            raise ServerError("bad_port", f"{port} is not a port: use a number between 1024 and 65535.", port)
        host = ALL_HOSTS if allow_remote else LOCAL_HOST
        if allow_remote and not api_key:
            raise ServerError("needs_key", "Other computers may connect only with an API key: set or generate "
                                           "one first.", port)
        try:
            check_bind(host, allow_remote, api_key)  # the same rule as `studio serve`, as a last guard
        except ServeRefused as exc:
            raise ServerError("needs_key", exc.message, port) from None
        try:
            return _bind(host, port), host
        except OSError as exc:
            raise _bind_error(exc, host, port) from None

    async def _serve(self, sock: socket.socket, host: str, api_key: str | None) -> bool:
        import uvicorn

        from studio.core.server.app import ServerOptions, create_app

        # n_ctx stays None: the API asks the engine, so a model reloaded meanwhile is measured right
        gate = _Gate(self.workspace)
        app = create_app(cast(Workspace, gate), ServerOptions(api_key=api_key, on_request=self._on_record))
        # log_config=None: uvicorn must not reconfigure the app's logging; no access log (the panel is one)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", http="h11",
                                timeout_graceful_shutdown=GRACE_S)
        listening = asyncio.Event()
        server = _server_class()(config, listening)
        port = int(sock.getsockname()[1])
        task = asyncio.ensure_future(self._run(server, sock))
        ready = asyncio.ensure_future(listening.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if not listening.is_set():
            reason = _task_error(task) or "it stopped before it listened"
            self._set_state(False, error=f"The server could not start: {reason}.", kind="failed")
            sock.close()
            return False
        self._server, self._task, self._gate, self.host, self.port = server, task, gate, host, port
        shown = LOCAL_HOST if host == LOCAL_HOST else _lan_address()
        task.add_done_callback(self._ended)
        self._set_state(True, url=f"http://{shown}:{port}/v1")
        return True

    @staticmethod
    async def _run(server: Any, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit:  # uvicorn's way to give up; it must never end the app
            raise RuntimeError("uvicorn gave up") from None

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The serve task ended without stop(): say it stopped, and why."""
        if task is not self._task or self._stopping:
            return
        self._server = self._task = None
        reason = _task_error(task)
        self._set_state(False, error=f"The server stopped: {reason}." if reason else "The server stopped.",
                        kind="failed")

    async def stop(self) -> None:
        """Stop listening, cut in-flight requests off (their generations are cancelled) and return
        once the port is closed and the engine is no longer the server's."""
        async with self._switch:
            await self._stop_locked()

    async def _stop_locked(self) -> None:
        server, task = self._server, self._task
        if server is None or task is None:
            return
        self._stopping = True  # running until the port is closed; _ended must not call this a failure
        if self._gate is not None:
            self._gate.closed = True
        server.should_exit = True
        # Closing the connections is what a client hanging up does: the API then cancels the
        # generation between tokens and gives the engine back (a plain task cancel would not).
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        await asyncio.wait({task}, timeout=GRACE_S + 5.0)
        if not task.done():  # uvicorn cancels stragglers itself after GRACE_S; this is the backstop
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)
        deadline = time.monotonic() + FREE_WAIT_S
        while self.workspace.holder == "server" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self._engine_settled()
        self._server = self._task = self._gate = None
        self._stopping = False
        self.host, self.port = "", 0
        self._set_state(False)

    async def _engine_settled(self) -> None:
        """Wait until the worker has really ended what the stop cut off: a cut stream gives the lease
        back as soon as it has asked for the cancel, and the worker ends the reply a moment later.
        The worker answers requests in order, so a cheap one comes back only after that reply."""
        engine = self.workspace.engine
        worker = getattr(engine, "worker", None)
        if worker is None or not worker.running or self.workspace.holder:
            return  # nothing running, or someone else (the chat) has the engine already
        try:
            async with self.workspace.lease("server"):
                await asyncio.wait_for(engine.system_info(), FREE_WAIT_S)
        except (EngineBusy, WorkerError, asyncio.TimeoutError):
            pass

    # -- the request log ------------------------------------------------------------------------
    def _on_record(self, record: RequestRecord) -> None:
        self.records.append(record)
        c = self.counters
        c.requests += 1
        c.errors += int(record.status >= 400)
        c.prompt_tokens += record.prompt_tokens
        c.completion_tokens += record.completion_tokens
        self.emit("request", record=record)

    def clear_log(self) -> None:
        self.records.clear()
        self.counters = Counters()


def _task_error(task: asyncio.Task[None]) -> str:
    if not task.done() or task.cancelled():
        return ""
    exc = task.exception()
    return f"{type(exc).__name__}: {exc}".splitlines()[0] if exc is not None else ""


def _lan_address() -> str:
    """This machine's address on the local network (for the URL others use), else 127.0.0.1."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # a documentation address: UDP connect sends nothing
        return str(probe.getsockname()[0])
    except OSError:
        return LOCAL_HOST
    finally:
        probe.close()


__all__ = ["ALL_HOSTS", "KEY_NAME", "LOCAL_HOST", "Counters", "ServerController", "ServerError", "generate_key"]
