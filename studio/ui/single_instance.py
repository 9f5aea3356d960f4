"""One app at a time per data folder: a second launch hands its files to the running window.

The first instance listens on a QLocalServer whose name is derived from the user's data folder
(studio.core.paths.data_dir, so another STUDIO_HOME is another, independent instance). A later
launch connects, sends one JSON line, ``{"open": ["/abs/path", ...], "activate": true}``, waits for
the answer ``{"ok": true}`` and exits without opening the chat database or starting an engine. A
server that accepts the connection but never answers (a hung window) is reported as such, so the
second launch can say so and stop instead of writing the same database.

A crashed instance leaves its socket file behind (Unix): when nobody answers a connect, the file is
removed (QLocalServer.removeServer) before listening. A QLockFile in the data folder makes "connect,
else listen" atomic, so two launches at the same moment cannot both become first.

Start-up: the app claims with `listen_later=True`, which keeps that lock until `listen()` runs just
after the window shows — so QtNetwork (2–4 MB of libraries, with Kerberos) loads after the first
paint, and a launch in between waits on the lock and then hands its files over. On Unix the second
launch's side talks to the socket with Python's own `socket` module, so it never loads QtNetwork.
"""

from __future__ import annotations

import enum
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDir, QLockFile, QObject, Signal

if TYPE_CHECKING:  # QtNetwork loads when the server listens or (not Unix) when a launch connects
    from PySide6.QtNetwork import QLocalServer, QLocalSocket

ACK_TIMEOUT_MS = 5000  # a starting first instance answers once its event loop runs (well under a second)
CONNECT_TIMEOUT_MS = 1000
# How long a launch waits for a starting first instance to begin listening (it holds the lock until
# its window shows); past that, the other instance is treated as not answering.
LOCK_WAIT_MS = 20000
_MAX_MESSAGE = 1 << 20  # one message is a list of paths; anything bigger is not ours


def _sha256(data: bytes):
    # CPython's own SHA-256, so that a cold start does not load OpenSSL's libcrypto (4 MB) for one
    # hash before the window shows; hashlib's (same digest) where the private module is missing.
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # Python 3.12+
        except ImportError:
            from hashlib import sha256
    return sha256(data)


def server_name(data_dir: Path) -> str:
    """A short, stable name for this user's data folder (Unix: a socket in the temp folder)."""
    try:
        key = str(Path(data_dir).expanduser().resolve())
    except OSError:
        key = str(data_dir)
    uid = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    digest = _sha256(f"{uid}\0{key}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"local-llm-studio-{digest}"


class Handoff(enum.Enum):
    FIRST = "first"  # nobody else runs: this process is the app (and now listens)
    DELIVERED = "delivered"  # the running window took the files: exit 0
    NO_ANSWER = "no_answer"  # a window runs but did not answer: exit non-zero, do not open the DB
    FAILED = "failed"  # could neither reach a running window nor listen (the app still starts)


def encode(paths: list[str], activate: bool = True) -> bytes:
    return (json.dumps({"open": list(paths), "activate": bool(activate)}) + "\n").encode("utf-8")


def decode(line: bytes) -> tuple[list[str], bool]:
    """(paths, activate) from one message line; ValueError for anything that is not one."""
    message = json.loads(line.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("not an object")
    paths = message.get("open", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError("'open' is not a list of paths")
    return paths, bool(message.get("activate", True))


def send(name: str, paths: list[str], *, activate: bool = True, connect_timeout_ms: int = CONNECT_TIMEOUT_MS,
         ack_timeout_ms: int = ACK_TIMEOUT_MS) -> Handoff | None:
    """Hand `paths` to the instance listening on `name` (blocking; no event loop needed).

    None when nobody listens (no server, or a stale socket file), DELIVERED on an ack, NO_ANSWER when
    the connection was accepted but no ack came in time."""
    if os.name == "posix":
        return _send_unix(name, encode(paths, activate), connect_timeout_ms, ack_timeout_ms)
    from PySide6.QtNetwork import QLocalSocket

    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(connect_timeout_ms):
        return None
    try:
        socket.write(encode(paths, activate))
        socket.flush()
        buffer = b""
        while b"\n" not in buffer:
            if socket.bytesToWrite():
                socket.waitForBytesWritten(ack_timeout_ms)
            if not socket.bytesAvailable() and not socket.waitForReadyRead(ack_timeout_ms):
                return Handoff.NO_ANSWER
            buffer += bytes(socket.readAll().data())
        return _answer(buffer)
    finally:
        socket.abort()


def _answer(buffer: bytes) -> Handoff:
    """DELIVERED for the running window's {"ok": true} line, else NO_ANSWER."""
    try:
        answer = json.loads(buffer.split(b"\n", 1)[0].decode("utf-8"))
    except ValueError:
        return Handoff.NO_ANSWER
    return Handoff.DELIVERED if isinstance(answer, dict) and answer.get("ok") else Handoff.NO_ANSWER


def _socket_path(name: str) -> str:
    """Where QLocalServer puts a plain name's socket on Unix."""
    return os.path.join(QDir.tempPath(), name)


def _send_unix(name: str, message: bytes, connect_timeout_ms: int, ack_timeout_ms: int) -> Handoff | None:
    path = _socket_path(name)
    if not os.path.exists(path):  # nobody listens; and the first launch does not import socket (~9 ms)
        return None
    import socket as pysocket

    client = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    try:
        client.settimeout(connect_timeout_ms / 1000)
        try:
            client.connect(path)
        except OSError:  # no socket file, a stale one (refused), or a full backlog
            return None
        deadline = time.monotonic() + ack_timeout_ms / 1000
        buffer = b""
        try:
            client.settimeout(ack_timeout_ms / 1000)
            client.sendall(message)
            while b"\n" not in buffer:
                client.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = client.recv(65536)
                if not chunk:  # closed without an answer
                    return Handoff.NO_ANSWER
                buffer += chunk
        except OSError:  # includes the timeout: accepted, never answered
            return Handoff.NO_ANSWER
        return _answer(buffer)
    finally:
        client.close()


class InstanceServer(QObject):
    """The first instance's end: emits `open_requested(paths, activate)` for each message and answers it."""

    open_requested = Signal(list, bool)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.server: QLocalServer | None = None  # made by listen()
        self._buffers: dict[QLocalSocket, bytes] = {}
        self._lock: QLockFile | None = None  # held from claim(listen_later=True) until listen()

    def listen(self) -> bool:
        """Start answering later launches (and let go of the claim's lock); False if it cannot."""
        from PySide6.QtNetwork import QLocalServer

        try:
            if self.server is None:
                self.server = QLocalServer(self)
                # only this user may hand files
                self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
                self.server.newConnection.connect(self._accept)
            if self.server.isListening() or self.server.listen(self.name):
                return True
            # A crashed instance's socket file: nobody answered the connect, so it is safe to remove.
            QLocalServer.removeServer(self.name)
            return self.server.listen(self.name)
        finally:
            self._release_lock()

    def close(self) -> None:
        """Stop listening and let go of every connection (the app is quitting)."""
        self._release_lock()
        if self.server is not None:
            self.server.close()
        for socket in list(self._buffers):
            self._drop(socket)

    def _hold(self, lock: QLockFile) -> None:
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    def _accept(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            self._buffers[socket] = b""
            socket.readyRead.connect(self._on_ready_read)
            socket.disconnected.connect(self._on_disconnected)
            if socket.bytesAvailable():
                self._read(socket)

    def _on_ready_read(self) -> None:
        self._read(self.sender())

    def _on_disconnected(self) -> None:
        self._drop(self.sender())

    def _drop(self, socket: QLocalSocket) -> None:
        if self._buffers.pop(socket, None) is None:
            return
        socket.readyRead.disconnect(self._on_ready_read)
        socket.disconnected.disconnect(self._on_disconnected)
        socket.abort()
        socket.deleteLater()

    def _read(self, socket: QLocalSocket) -> None:
        if socket is None or socket not in self._buffers:
            return
        buffer = self._buffers[socket] + bytes(socket.readAll().data())
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                paths, activate = decode(line)
            except ValueError as exc:
                socket.write((json.dumps({"ok": False, "error": str(exc)}) + "\n").encode("utf-8"))
                continue
            self.open_requested.emit(paths, activate)
            socket.write(b'{"ok": true}\n')
            socket.flush()
        if len(buffer) > _MAX_MESSAGE:
            socket.abort()
            buffer = b""
        if socket in self._buffers:
            self._buffers[socket] = buffer


def claim(data_dir: Path, paths: list[str], *, ack_timeout_ms: int = ACK_TIMEOUT_MS,
          parent: QObject | None = None, listen_later: bool = False,
          lock_wait_ms: int = LOCK_WAIT_MS) -> tuple[Handoff, InstanceServer | None]:
    """Become the app's one instance for `data_dir`, or hand `paths` to the one that runs.

    (FIRST, server) — listen for later launches; (DELIVERED, None) — exit 0; (NO_ANSWER, None) — a
    window runs but is not answering; (FAILED, None) — no server could be started (start anyway).
    With listen_later the FIRST server is not listening yet: it holds the lock (later launches wait)
    until its listen() — call that once the window shows."""
    name = server_name(data_dir)
    lock = QLockFile(str(Path(data_dir) / ".instance.lock"))
    # A starting instance holds it until its window shows; a dead holder's lock is stale at once anyway.
    lock.setStaleLockTime(60000)
    locked = lock.tryLock(lock_wait_ms)
    if not locked and lock.error() == QLockFile.LockError.LockFailedError:
        # A live instance has held it all this time: it never got as far as listening.
        if send(name, paths, ack_timeout_ms=ack_timeout_ms) is Handoff.DELIVERED:
            return Handoff.DELIVERED, None
        return Handoff.NO_ANSWER, None
    held = False
    try:
        handed = send(name, paths, ack_timeout_ms=ack_timeout_ms)
        if handed is not None:
            return handed, None
        server = InstanceServer(name, parent)
        if listen_later and locked:
            server._hold(lock)
            held = True
            return Handoff.FIRST, server
        if server.listen():
            return Handoff.FIRST, server
        return Handoff.FAILED, None
    finally:
        if locked and not held:
            lock.unlock()


__all__ = ["ACK_TIMEOUT_MS", "Handoff", "InstanceServer", "claim", "decode", "encode", "send", "server_name"]
