"""The OpenAI-compatible API server (studio.core.server) over the real engine and the starter model,
driven by the official `openai` package, curl and raw HTTP from outside its process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import http.client
import urllib.error
import urllib.request

import jsonschema
import pytest

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.slow

KEY = "test-key-123"
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, model: str) -> None:
        self.proc, self.port, self.model = proc, port, model
        self.base = f"http://127.0.0.1:{port}/v1"

    def client(self, **kw) -> "openai.OpenAI":
        return openai.OpenAI(base_url=self.base, api_key=KEY, max_retries=0, timeout=120, **kw)

    def post(self, path: str, body, *, key: str | None = KEY, raw: bytes | None = None, timeout: float = 60) -> "Answer":
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        data = raw if raw is not None else json.dumps(body).encode()
        return _http("POST", self.base + path, data, headers, timeout)

    def get(self, path: str, *, key: str | None = KEY, timeout: float = 10) -> "Answer":
        return _http("GET", self.base + path, None, {"authorization": f"Bearer {key}"} if key else {}, timeout)


class Answer:
    def __init__(self, status_code: int, text: str) -> None:
        self.status_code, self.text = status_code, text

    def json(self):
        return json.loads(self.text)


def _http(method: str, url: str, data: bytes | None, headers: dict, timeout: float) -> Answer:
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.read().decode())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode())


@pytest.fixture(scope="module")
def server(starter_model, tmp_path_factory) -> Server:
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "studio.core.server", "--model", str(starter_model),
                                 "--port", str(port), "--api-key", KEY, "--ctx", "2048"],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    srv = Server(proc, port, Path(starter_model).stem)
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, f"the server exited: {log.read_text(errors='replace')}"
        try:
            if srv.get("/models", timeout=2).status_code == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, f"the server did not answer: {log.read_text(errors='replace')}"
        time.sleep(0.2)
    yield srv
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text


def test_models_and_a_chat_completion(server):
    client = server.client()
    models = client.models.list()
    assert models.data[0].id == server.model  # then any adapters made for it (tests' training runs)
    assert all(getattr(m, "parent", None) == server.model for m in models.data[1:])
    reply = client.chat.completions.create(model=server.model, temperature=0, seed=1, max_tokens=24,
                                           messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert reply.object == "chat.completion"
    text = reply.choices[0].message.content
    assert text and text.strip()
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 5
    assert 0 < reply.usage.completion_tokens <= 24
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streamed_chat_arrives_in_chunks_with_usage(server):
    client = server.client()
    stream = client.chat.completions.create(model=server.model, temperature=0, seed=1, max_tokens=30, stream=True,
                                            stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "Tell me about cats."}])
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            finish = choice.finish_reason or finish
    assert len(pieces) > 3
    assert finish in ("stop", "length")
    # one chunk per token, unless the server fell behind the engine (then it sends what has come together)
    assert usage is not None and len(pieces) <= usage.completion_tokens + 1
    # the same request without streaming writes the same text (greedy, same seed)
    whole = client.chat.completions.create(model=server.model, temperature=0, seed=1, max_tokens=30,
                                           messages=[{"role": "user", "content": "Tell me about cats."}])
    assert whole.choices[0].message.content == "".join(pieces)


def test_json_schema_output_is_valid_json_for_the_schema(server):
    schema = {"type": "object",
              "properties": {"name": {"type": "string", "maxLength": 24}, "age": {"type": "integer"},
                             "pet": {"type": "string", "enum": ["cat", "dog", "none"]}},
              "required": ["name", "age", "pet"], "additionalProperties": False}
    client = server.client()
    reply = client.chat.completions.create(
        model=server.model, temperature=0, seed=3, max_tokens=120,
        messages=[{"role": "user", "content": "Describe a person called Ann, aged 31, who owns a cat, as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    data = json.loads(reply.choices[0].message.content)
    jsonschema.validate(data, schema)
    reply = client.chat.completions.create(
        model=server.model, temperature=0, max_tokens=120,
        messages=[{"role": "user", "content": 'Is the sky blue? Answer as JSON like {"answer": "yes"}.'}],
        response_format={"type": "json_object"})
    assert reply.choices[0].finish_reason == "stop", reply.choices[0].message.content
    assert isinstance(json.loads(reply.choices[0].message.content), (dict, list))


def test_text_completion_with_stop(server):
    reply = server.client().completions.create(model=server.model, prompt="1, 2, 3, 4, 5,", max_tokens=20,
                                               temperature=0, stop=[", 9"])
    text = reply.choices[0].text
    assert text.startswith(" 6, 7")
    assert "9" not in text and reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens > 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_raw_sse_framing_with_curl(server):
    body = {"model": server.model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8,
            "temperature": 0, "stream": True}
    out = subprocess.run(["curl", "-sN", server.base + "/chat/completions", "-H", "content-type: application/json",
                          "-H", f"authorization: Bearer {KEY}", "-d", json.dumps(body)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    events = [block for block in out.stdout.split("\n\n") if block.strip()]
    assert all(re.fullmatch(r"data: .+", e.strip()) or e.startswith(":") for e in events), out.stdout
    datas = [e.strip()[len("data: "):] for e in events if e.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_api_key_is_required(server):
    body = {"model": server.model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    for key in (None, "wrong"):
        answer = server.post("/chat/completions", body, key=key)
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == "invalid_api_key" and error["type"] and error["message"]
    assert server.get("/models", key=None).status_code == 401
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.base, api_key="nope", max_retries=0).models.list()


def test_bad_bodies_get_one_line_4xx(server):
    good = {"model": server.model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    cases = [
        (None, b'{"model": ', 400),                                       # malformed JSON
        (None, b"[1, 2]", 400),                                           # not an object
        ({**good, "max_tokens": "lots"}, None, 400),                      # wrong type
        ({**good, "temperature": 9}, None, 400),                          # out of range
        ({**good, "max_tokens": 10_000_000}, None, 400),                  # beyond the context
        ({**good, "max_tokens": 4096}, None, 400),                        # beyond this server's 2048
        ({**good, "n": 2}, None, 400),
        ({**good, "model": "gpt-17"}, None, 404),                         # unknown model
        ({**good, "messages": []}, None, 400),
        ({**good, "messages": [{"role": "wizard", "content": "x"}]}, None, 400),
        ({**good, "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, None, 400),
        (None, b'{"model": "' + b"a" * 1_100_000 + b'"}', 413),          # over the size limit
    ]
    for body, raw, status in cases:
        answer = server.post("/chat/completions", body, raw=raw)
        assert answer.status_code == status, (body if raw is None else raw[:40], answer.text[:300])
        message = answer.json()["error"]["message"]
        assert message and "\n" not in message and "Traceback" not in message, message
    assert server.post("/chat/completions", good).status_code == 200  # still alive and well


def test_embeddings_with_the_openai_client(server):
    import base64

    import numpy as np

    client = server.client()
    texts = ["The cat sat on the mat.", "A kitten was sitting on the rug.",
             "Quarterly revenue grew by five percent in the third fiscal quarter."]
    floats = client.embeddings.create(model=server.model, input=texts, encoding_format="float")
    assert floats.object == "list" and floats.model == server.model
    assert [d.index for d in floats.data] == [0, 1, 2]
    vectors = np.array([d.embedding for d in floats.data])
    assert vectors.shape == (3, 576)                                  # SmolLM2-135M's embedding size
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated + 0.05, (similar, unrelated)
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 10

    # base64 (what the openai package asks for by default) carries the same float32 numbers
    raw = server.post("/embeddings", {"model": server.model, "input": texts, "encoding_format": "base64"}).json()
    decoded = np.array([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in raw["data"]])
    assert np.array_equal(decoded, vectors.astype(np.float32))
    default = client.embeddings.create(model=server.model, input=texts)  # the package decodes base64 itself
    assert np.allclose(np.array([d.embedding for d in default.data]), vectors, atol=1e-6)

    # one string, token ids and lists of token ids are inputs too; batching does not change a vector much
    single = client.embeddings.create(model=server.model, input=texts[0], encoding_format="float")
    assert len(single.data) == 1 and float(np.dot(single.data[0].embedding, vectors[0])) > 0.999
    ids = client.embeddings.create(model=server.model, input=[1, 504, 2365], encoding_format="float")
    assert len(ids.data) == 1 and ids.usage.prompt_tokens == 3
    lists = client.embeddings.create(model=server.model, input=[[1, 504, 2365], [1, 504]], encoding_format="float")
    assert len(lists.data) == 2 and float(np.dot(lists.data[0].embedding, ids.data[0].embedding)) > 0.999

    refused = [
        ({"input": ""}, "empty"),
        ({"input": []}, "empty"),
        ({"input": ["fine", ""]}, "input[1] is empty"),
        ({"input": "hello " * 2500}, "context"),                          # beyond this server's 2048
        ({"input": [[1, 2], [10_000_000]]}, "vocabulary"),
        ({"input": "hi", "dimensions": 64}, "576 dimensions"),
        ({"input": "hi", "encoding_format": "hex"}, "encoding_format"),
        ({"input": ["a", 1]}, "input"),
    ]
    for extra, words in refused:
        answer = server.post("/embeddings", {"model": server.model, **extra})
        assert answer.status_code == 400, (extra, answer.text[:300])
        message = answer.json()["error"]["message"]
        assert words in message and "\n" not in message, (extra, message)
    assert server.post("/embeddings", {"model": "gpt-17", "input": "x"}).status_code == 404
    assert client.embeddings.create(model=server.model, input="hi", dimensions=576).data[0].embedding


def test_eight_concurrent_clients_get_their_own_uncorrupted_streams(server):
    starts = list(range(10, 90, 10))  # each asks to continue its own count: checkable, distinct

    def prompt(n: int) -> str:
        return f"{n}, {n + 1}, {n + 2}, {n + 3},"

    async def one(n: int) -> str:
        async with openai.AsyncOpenAI(base_url=server.base, api_key=KEY, max_retries=0, timeout=120) as aclient:
            stream = await aclient.completions.create(model=server.model, prompt=prompt(n), max_tokens=16,
                                                      temperature=0, seed=0, stream=True)
            return "".join([c.choices[0].text async for c in stream if c.choices])

    async def all_of_them() -> list[str]:
        return await asyncio.gather(*(one(n) for n in starts))

    texts = asyncio.run(all_of_them())
    for n, text in zip(starts, texts):
        # its own count, carried on in order: a token from another stream would break the run
        numbers = [int(part) for part in text.split(",")[:-1]]  # the last one may be cut by max_tokens
        assert len(numbers) >= 3 and numbers[0] == n + 4, (n, text)
        assert numbers == list(range(n + 4, n + 4 + len(numbers))), (n, text)


def test_disconnect_mid_stream_frees_the_engine(server):
    # a grammar that forbids ending before 300 numbers: unstopped, this reply runs for tens of seconds
    long_array = {"type": "json_schema", "json_schema": {"name": "numbers", "schema": {
        "type": "array", "items": {"type": "integer"}, "minItems": 300}}}
    body = {"model": server.model, "prompt": "1, 2, 3, 4, 5,", "max_tokens": 1000, "temperature": 0, "stream": True,
            "response_format": long_array}
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("POST", "/v1/completions", body=json.dumps(body),
                       headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    seen = 0
    while seen < 5:
        line = response.fp.readline()
        assert line, "the stream ended early"
        if line.startswith(b"data: "):
            seen += 1
    connection.sock.close()  # hang up mid-stream
    connection.close()
    started = time.monotonic()  # the connection is closed: the generation must stop, not run 1000 tokens
    answer = server.post("/completions", {"model": server.model, "prompt": "Hello", "max_tokens": 3,
                                          "temperature": 0}, timeout=30)
    assert answer.status_code == 200
    assert time.monotonic() - started < 5.0


def test_a_client_that_gives_up_on_a_whole_reply_frees_the_engine(server):
    long_array = {"type": "json_schema", "json_schema": {"name": "numbers", "schema": {
        "type": "array", "items": {"type": "integer"}, "minItems": 300}}}
    with pytest.raises(OSError):  # urllib's timeout: the client hangs up
        server.post("/completions", {"model": server.model, "prompt": "1, 2, 3,", "max_tokens": 1000,
                                     "temperature": 0, "response_format": long_array}, timeout=1.5)
    started = time.monotonic()
    answer = server.post("/completions", {"model": server.model, "prompt": "Hello", "max_tokens": 3,
                                          "temperature": 0}, timeout=30)
    assert answer.status_code == 200
    assert time.monotonic() - started < 5.0


def test_a_client_that_gives_up_on_embeddings_frees_the_engine(server):
    many = ["many different words in a long text " * 120] * 64     # a minute of embedding here
    with pytest.raises(OSError):  # urllib's timeout: the client hangs up
        server.post("/embeddings", {"model": server.model, "input": many}, timeout=1.5)
    started = time.monotonic()
    answer = server.post("/embeddings", {"model": server.model, "input": "Hello"}, timeout=30)
    assert answer.status_code == 200 and len(answer.json()["data"]) == 1
    assert time.monotonic() - started < 5.0


def test_a_port_in_use_is_one_sentence(starter_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "studio.core.server", "--model", str(starter_model),
                              "--port", str(port)], cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert out.returncode == 2
    assert f"could not listen on 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("extra", [["--host", "0.0.0.0"], ["--host", "0.0.0.0", "--allow-remote"]])
def test_remote_bind_is_refused_without_opt_in_and_key(extra, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "STUDIO_API_KEY"}
    out = subprocess.run([sys.executable, "-m", "studio.core.server", "--model", str(tmp_path / "none.gguf"),
                          "--port", str(_free_port()), *extra], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "refusing to listen on 0.0.0.0" in out.stderr and "Traceback" not in out.stderr


def test_serve_command_refuses_a_remote_bind_without_a_key(starter_model):
    import argparse

    from studio.cli import serve
    from studio.cli.exits import USAGE, CliError
    parser = argparse.ArgumentParser()
    serve.register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--model", str(starter_model), "--host", "192.0.2.1", "--allow-remote"])
    with pytest.raises(CliError) as refused:
        serve.run(args)
    assert refused.value.code == USAGE and "API key" in str(refused.value)


def test_requests_wait_their_turn_for_the_engine_then_get_a_503():
    """The server queues behind another lease holder (the chat) and answers 503 when it waits too long."""
    from studio.core.engine.client import EngineClient
    from studio.core.server.app import ApiError, EngineSlot
    from studio.core.workspace import Workspace

    async def scenario() -> None:
        workspace = Workspace(EngineClient())  # no worker starts: nothing is asked of the engine
        async with workspace.lease("chat"):
            with pytest.raises(ApiError) as busy:
                await EngineSlot(workspace, 0.3).acquire()
            assert busy.value.status == 503 and "busy" in busy.value.message and "chat" in busy.value.message
            assert workspace.waiting == []   # the timed-out request left the queue
        async with workspace.lease("chat"):
            first = EngineSlot(workspace, 5.0)
            waiting = asyncio.ensure_future(first.acquire())
            await asyncio.sleep(0.2)
            assert not waiting.done()
        await asyncio.wait_for(waiting, 2.0)  # the chat let go: the server's turn
        assert workspace.holder == "server"
        after = EngineSlot(workspace, 5.0)
        second = asyncio.ensure_future(after.acquire())
        await asyncio.sleep(0.2)
        assert not second.done()  # FIFO behind the first request
        await first.release()
        await asyncio.wait_for(second, 2.0)
        assert workspace.holder == "server"
        await after.release()
        assert workspace.holder == ""
        workspace.close()

    asyncio.run(scenario())
