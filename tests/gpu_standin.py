"""A local stand-in for the GPU runtime's download servers: small fake wheels built here, served on
127.0.0.1 with HTTP Range support, and a manifest pointing at them. Used by the core and UI tests."""

from __future__ import annotations

import hashlib
import http.server
import io
import random
import re
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.engine.gpu_runtime import Manifest, load_manifest

BIG = 3 * 1024 * 1024  # > one download chunk, so cancel and a dropped connection leave a partial file


def make_wheel(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            # random payloads are stored: compressing them would only make the wheel larger
            archive.writestr(name, data, zipfile.ZIP_STORED if name.endswith(".bin") else zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def fake_wheels() -> dict[str, bytes]:
    """An "engine" wheel (a fake llama_cpp that shadows the real one, a probe module, a CUDA library
    folder, a .data/purelib file) and a "training" wheel with a payload larger than a chunk."""
    payload = random.Random(7).randbytes(BIG)
    engine = make_wheel({
        "llama_cpp/__init__.py": b'__version__ = "0.0.0+fakecuda"\n',
        "fakecuda_probe/__init__.py": b'MARK = "from the GPU runtime"\n',
        "nvidia/cublas/lib/libcublas.so.12": b"\x7fELF not really",
        "llama_cpp_python-0.0.0.data/purelib/fakecuda_extra.py": b"EXTRA = 1\n",
        "llama_cpp_python-0.0.0.data/scripts/not-installed": b"#!/bin/sh\n",
        "llama_cpp_python-0.0.0.dist-info/METADATA": b"Name: llama_cpp_python\nVersion: 0.0.0\n",
    })
    training = make_wheel({"faketorch/__init__.py": b"", "faketorch/blob.bin": payload,
                           "faketorch-1.0.dist-info/METADATA": b"Name: faketorch\nVersion: 1.0\n"})
    return {"llama_cpp_python-0.0.0-cp311-cp311-linux_x86_64.whl": engine,
            "faketorch-1.0-py3-none-any.whl": training}


@dataclass
class StandIn:
    files: dict[str, bytes]
    drops: dict[str, int] = field(default_factory=dict)  # name → bytes sent before the connection drops (once)
    ranges: list[str] = field(default_factory=list)       # "name bytes=N-" for each Range request seen
    requests: int = 0
    delay: float = 0.0                                    # seconds per 64 kB sent (to watch progress)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def manifest(self, **overrides: str) -> Manifest:
        return load_manifest(self.manifest_data(**overrides))

    def manifest_data(self, **sha_overrides: str) -> dict:
        entries = []
        for name, data in self.files.items():
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                unpacked = sum(i.file_size for i in archive.infolist())
            entries.append({"name": name, "url": self.base + name, "size": len(data),
                            "sha256": sha_overrides.get(name, hashlib.sha256(data).hexdigest()),
                            "kind": "wheel", "unpacked": unpacked,
                            "component": "engine" if name.startswith("llama") else "training"})
        return {"cuda": "cu124", "min_driver_cuda": "12.4", "python": "cp311", "platform": "linux_x86_64",
                "files": entries}

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def serve(files: dict[str, bytes] | None = None) -> StandIn:
    state = StandIn(files if files is not None else fake_wheels())

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):  # noqa: N802 (http.server's name)
            import time

            state.requests += 1
            name = self.path.lstrip("/")
            data = state.files.get(name)
            if data is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            wanted = self.headers.get("Range")
            if wanted:
                state.ranges.append(f"{name} {wanted}")
                start = int(re.match(r"bytes=(\d+)-", wanted).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            drop = state.drops.pop(name, None)
            if drop is not None:
                body = body[:drop]
                self.close_connection = True
            for offset in range(0, len(body), 64 * 1024):
                try:
                    self.wfile.write(body[offset:offset + 64 * 1024])
                    self.wfile.flush()
                except OSError:
                    return
                if state.delay:
                    time.sleep(state.delay)

    state.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.server.daemon_threads = True
    threading.Thread(target=state.server.serve_forever, daemon=True).start()
    return state


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def site_of(root: Path) -> Path:
    return root / "site-packages"
