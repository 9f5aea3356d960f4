"""Real OpenAI-compatible servers for the remote-engine tests, on 127.0.0.1:

- llama-cpp-python's own server (`python -m llama_cpp.server`, its [server] extra) with the starter model;
- the studio's own server (`python -m studio.core.server`), with an API key;
- a stand-in written with the standard library's http.server for what a real model server will not do
  on demand: answer 429 with Retry-After, fail with 500, or stay silent past the client's timeout.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIO_KEY = "remote-test-key"
LLAMA_ALIAS = "smollm2-135m"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _start(argv: list[str], port: int, log: Path, key: str | None = None) -> Process:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = Process(proc, port, log)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace')}")
        try:
            request = urllib.request.Request(server.base_url + "/models", headers=headers)
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the server did not answer: {log.read_text(errors='replace')}")
        time.sleep(0.25)


def start_llama_cpp_server(model: Path, log_dir: Path) -> Process:
    port = free_port()
    return _start([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", LLAMA_ALIAS,
                   "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "False"],
                  port, log_dir / "llama_cpp_server.log")


def start_studio_server(model: Path, log_dir: Path, key: str = STUDIO_KEY) -> Process:
    port = free_port()
    return _start([sys.executable, "-m", "studio.core.server", "--model", str(model), "--port", str(port),
                   "--api-key", key, "--ctx", "2048"], port, log_dir / "studio_server.log", key)


class StandIn:
    """/v1/models lists 'limited', 'broken', 'slow' and 'reasoner'; chat completions for them answer 429
    with Retry-After: 7, 500 with the server's own message, nothing for `slow_s` seconds, or a streamed
    reply whose thinking comes apart as `reasoning_content` (DeepSeek's API, llama.cpp's and vLLM's
    servers with a reasoning parser) before its content. `rejects` {field: status} makes it refuse a
    request body carrying that field, as strict servers refuse unknown ones (OpenAI's API: 400, a
    pydantic server with extra="forbid": 422); `bodies` keeps every chat request's body."""

    MODELS = ["limited", "broken", "slow", "reasoner"]
    REASONING = ["I add ", "3 and 5", ", which gives 8."]
    ANSWER = ["3 plus 5 ", "is 8."]

    def __init__(self, slow_s: float = 5.0, rejects: dict[str, int] | None = None) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

            def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"}
                                                                for m in StandIn.MODELS]})
                else:
                    self._json(404, {"error": {"message": "no such endpoint"}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                stand_in.bodies.append(body)
                model = body.get("model")
                refused = next((f for f in stand_in.rejects if f in body), None)
                if refused is not None:
                    self._json(stand_in.rejects[refused], {"error": {
                        "message": f"Unrecognized request argument supplied: {refused}",
                        "type": "invalid_request_error", "param": refused}})
                elif model == "limited":
                    self._json(429, {"error": {"message": "Rate limit reached", "type": "rate_limit"}},
                               {"retry-after": "7"})
                elif model == "broken":
                    self._json(500, {"error": {"message": "CUDA out of memory while loading the KV cache",
                                               "type": "server_error"}})
                elif model == "reasoner":
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.end_headers()
                    deltas = ([{"role": "assistant", "content": None, "reasoning_content": r} for r in StandIn.REASONING]
                              + [{"content": c} for c in StandIn.ANSWER])
                    for n, delta in enumerate(deltas):
                        last = n == len(deltas) - 1
                        chunk = {"id": "r1", "object": "chat.completion.chunk", "created": 0, "model": model,
                                 "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if last else None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                elif model == "slow":
                    stand_in.release.wait(stand_in.slow_s)
                    try:
                        self._json(503, {"error": {"message": "too late"}})
                    except OSError:  # the client gave up long ago, as it should
                        pass
                else:
                    self._json(404, {"error": {"message": f"model {model} not found"}})

        self.slow_s = slow_s
        self.rejects = dict(rejects or {})
        self.bodies: list[dict] = []
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
