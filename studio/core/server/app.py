"""The OpenAI-compatible HTTP API over the app's one engine (FastAPI).

Every request borrows the engine through the workspace's lease ("server"), one at a time in arrival
order: requests take their turn in the workspace's one FIFO queue (shared with the chat, whose replies
wait there too) and one that waits longer than `queue_timeout_s` gets a 503 sentence. Nothing here
loads a second copy of the model: it answers with whatever the workspace's engine has loaded.

`model` may name the loaded model (answered with the adapters attached now, as the chat sees them) or
one of its LoRA adapters (GET /v1/models lists them, see adapters.py): that request gets exactly base +
that adapter, and the attached ones are put back when it ends.

Errors are OpenAI-shaped ({"error": {"message", "type", "code", "param"}}) with one human sentence;
a client that disconnects mid-stream cancels its generation, so the next request is answered at once.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import os
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message as AsgiMessage, Receive, Scope, Send

from studio.core import limits
from studio.core.engine.client import Generation, GenerationStats, embedding_vectors
from studio.core.engine import structured
from studio.core.engine.thinking import SplitStream, split
from studio.core.engine.sampling import SamplingParams
from studio.core.server.adapters import ServedAdapter, served_adapters
from studio.core.server.schemas import (ChatRequest, CompletionRequest, EmbeddingRequest, ResponseFormat,
                                        error_body)
from studio.core.workers.protocol import WorkerError
from studio.core.workspace import Workspace

MAX_BODY_BYTES = 1_000_000
QUEUE_TIMEOUT_S = 120.0
MAX_EMBEDDING_INPUTS = 2048  # OpenAI's limit per request
_DISCONNECT_POLL_S = 0.25
PING_S = 15.0  # a comment line on a stream that has been quiet this long (a long prompt), so it stays open
_DRAIN_MAX = 16_000_000  # refused bodies up to this size are read to the end before the 413


class ApiError(Exception):
    """An answer other than 200: status, one sentence, OpenAI's error type and code."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param

    def response(self) -> JSONResponse:
        return JSONResponse(error_body(self.message, self.type, self.code, self.param), status_code=self.status)


@dataclass
class RequestRecord:
    """One answered request, for a live log: what was asked, how it ended, how fast."""
    started: float                 # time.time() when the request arrived
    method: str
    path: str
    client: str = ""               # "host:port" of the caller
    status: int = 0
    duration_s: float = 0.0
    model: str = ""
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_s: float = 0.0
    ttft_ms: float = 0.0
    message: str = ""              # the error sentence when status is not 200


@dataclass
class ServerOptions:
    api_key: str | None = None
    n_ctx: int | None = None             # the context the engine was loaded with (None: ask the engine)
    max_body_bytes: int = MAX_BODY_BYTES
    queue_timeout_s: float = QUEUE_TIMEOUT_S
    # adapters given to the server ([{"path", "scale"}], `studio serve --lora`): listed as models
    adapters: list[dict[str, Any]] = field(default_factory=list)
    # called once per request when its answer has been sent (streams: after the last event)
    on_request: Callable[[RequestRecord], None] | None = field(default=None, repr=False)


# -- the engine slot: a turn in the workspace's queue, then the request's adapters ---------------
class EngineSlot:
    """Holds the engine for one request: its turn in the workspace's FIFO queue (behind other requests,
    the chat's replies, an evaluation…), up to the timeout; then, for a request naming an adapter,
    exactly that adapter until release puts the previous ones back."""

    def __init__(self, workspace: Workspace, timeout_s: float, adapters: list[dict[str, Any]] | None = None) -> None:
        self._workspace, self._timeout_s, self._adapters = workspace, timeout_s, adapters
        self._stack = AsyncExitStack()
        self._held = False

    async def acquire(self) -> None:
        lease = self._workspace.lease("server", wait=True)
        try:
            if not self._workspace.holder:  # free: taken at once, without the timeout's extra task
                await self._stack.enter_async_context(lease)
            else:
                await asyncio.wait_for(self._stack.enter_async_context(lease), self._timeout_s)
        except asyncio.TimeoutError:
            holder = self._workspace.holder
            raise _busy(self._timeout_s, "other API requests" if holder in ("server", "") else
                        f"the app ({holder})") from None
        self._held = True
        attached = [(a.get("path"), float(a.get("scale", 1.0))) for a in self._workspace.adapters]
        wanted = [(a.get("path"), float(a.get("scale", 1.0))) for a in self._adapters or []]
        if self._adapters is not None and attached != wanted:  # the same set: no swap (it drops the prompt cache)
            try:
                await self._stack.enter_async_context(self._workspace.adapters_swapped(self._adapters))
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.release()
                raise

    async def release(self) -> None:
        if self._held:
            self._held = False
            await self._stack.aclose()


def _busy(timeout_s: float, whom: str) -> ApiError:
    return ApiError(503, f"The engine stayed busy with {whom} for {timeout_s:g} s; try again later.",
                    "server_error", "engine_busy")


# -- request checks ----------------------------------------------------------------------------
def _grammar(fmt: ResponseFormat | None) -> str | None:
    """GBNF for a response_format, so llama.cpp can only write JSON (for the schema)."""
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return structured.json_grammar()
    if fmt.json_schema is None or not fmt.json_schema.schema_:
        raise ApiError(400, "response_format json_schema needs a schema: "
                            '{"type": "json_schema", "json_schema": {"name": …, "schema": {…}}}', param="response_format")
    try:
        return structured.schema_grammar(fmt.json_schema.schema_)
    except structured.OutputFormatError as exc:
        raise ApiError(400, str(exc), param="response_format") from None


def _thinking_switch(body: ChatRequest) -> bool | None:
    """False when the request turns thinking off (chat_template_kwargs.enable_thinking or a top-level
    enable_thinking); None leaves it to the model's template."""
    kwargs = body.chat_template_kwargs or {}
    wanted = kwargs.get("enable_thinking", body.enable_thinking)
    if wanted is None:
        return None
    if not isinstance(wanted, bool):
        raise ApiError(400, f"enable_thinking must be true or false (got {json.dumps(wanted)}).",
                       param="chat_template_kwargs.enable_thinking" if "enable_thinking" in kwargs else "enable_thinking")
    return None if wanted else False


def _check(name: str, value: Any, param: str) -> None:
    try:
        limits.check(name, value, param)
    except limits.OutOfRange as exc:
        raise ApiError(400, exc.message, param=param) from None


@dataclass
class _Job:
    messages: list[dict[str, str]]
    prompt: str | None
    sampling: SamplingParams
    stop: list[str]
    grammar: str | None
    adapters: list[dict[str, Any]] | None = None   # None: the ones attached now
    thinking: bool | None = None     # False: a reasoning model answers without thinking
    split_thinking: bool = False     # a chat reply's thinking goes in reasoning_content, apart from content


@dataclass
class _Served:
    """What a request's `model` names: the id answered with, and the adapters it needs (None: as attached)."""
    id: str
    adapters: list[dict[str, Any]] | None = None


class Api:
    def __init__(self, workspace: Workspace, options: ServerOptions) -> None:
        self.workspace = workspace
        self.options = options

    @property
    def engine(self) -> Any:
        return self.workspace.engine

    def model_id(self) -> str:
        info = self.engine.model_info
        if info is None:
            raise ApiError(503, "No model is loaded in the engine: load one and try again.", "server_error", "no_model")
        return os.path.splitext(os.path.basename(info.path))[0]

    def is_base(self, name: str) -> bool:
        info = self.engine.model_info
        return info is not None and name in (self.model_id(), os.path.basename(info.path), info.path, info.name)

    async def adapters(self) -> list[ServedAdapter]:
        """The loaded model's adapters that requests may name (see adapters.py)."""
        info = self.engine.model_info
        if info is None:
            return []
        return await anyio.to_thread.run_sync(served_adapters, info.path, self.model_id(),
                                              list(self.options.adapters), self.engine.lora)

    async def resolve(self, name: str) -> _Served:
        """The loaded model, or one of its adapters, named by a request; 404 with a sentence otherwise."""
        served = self.model_id()
        if self.is_base(name):
            return _Served(served)
        adapters = await self.adapters()
        for adapter in adapters:
            if name == adapter.id:
                return _Served(adapter.id, adapter.wanted())
        names = ", ".join(f"'{a.id}'" for a in adapters[:5]) + (", …" if len(adapters) > 5 else "")
        also = f" and its adapters {names}" if adapters else ""
        raise ApiError(404, f"The model '{name}' is not served here; this server serves '{served}'{also} "
                            "(GET /v1/models lists them).", code="model_not_found", param="model")

    def n_ctx(self) -> int:
        if self.options.n_ctx:
            return int(self.options.n_ctx)
        wanted = getattr(self.engine, "_wanted", None)
        if wanted is not None:
            return int(wanted.n_ctx)
        info = self.engine.model_info
        return int(info.n_ctx) if info is not None else 4096

    def job(self, body: ChatRequest | CompletionRequest, served: _Served, *, max_tokens: int | None,
            default_max: int) -> _Job:
        if body.n != 1:
            raise ApiError(400, f"n must be 1: this server writes one choice per request (got n={body.n}).",
                           param="n")
        n_ctx = self.n_ctx()
        wanted = default_max if max_tokens is None else max_tokens
        if max_tokens is not None:
            _check("max_tokens", max_tokens, "max_tokens")
            if max_tokens > n_ctx:
                raise ApiError(400, f"max_tokens {max_tokens:,} is more than the model's context of {n_ctx:,} "
                                    "tokens.", param="max_tokens")
        if body.temperature is not None:
            _check("temperature", body.temperature, "temperature")
        if body.top_p is not None:
            _check("top_p", body.top_p, "top_p")
        if body.seed is not None:
            _check("seed", body.seed, "seed")
        for name in ("top_k", "min_p", "repeat_penalty"):
            if getattr(body, name) is not None:
                _check(name, getattr(body, name), name)
        stop = body.stop_list()
        if len(stop) > 4:
            raise ApiError(400, f"stop takes at most 4 strings (got {len(stop)}).", param="stop")
        sampling = SamplingParams(
            temperature=1.0 if body.temperature is None else float(body.temperature),
            top_p=1.0 if body.top_p is None else float(body.top_p),
            top_k=40 if body.top_k is None else int(body.top_k),
            min_p=0.05 if body.min_p is None else float(body.min_p),
            repeat_penalty=1.0 if body.repeat_penalty is None else float(body.repeat_penalty),
            max_tokens=min(int(wanted), n_ctx), seed=-1 if body.seed is None else int(body.seed), n_ctx=n_ctx)
        grammar = _grammar(body.response_format)
        if isinstance(body, ChatRequest):
            messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                        for m in body.messages]
            return _Job(messages, None, sampling, stop, grammar, served.adapters, thinking=_thinking_switch(body),
                        split_thinking=body.reasoning_format != "none")
        prompt = body.prompt
        if isinstance(prompt, list):
            if len(prompt) != 1:
                raise ApiError(400, "prompt must be one string (this server writes one completion per request).",
                               param="prompt")
            prompt = prompt[0]
        return _Job([], prompt, sampling, stop, grammar, served.adapters)

    async def start(self, job: _Job) -> tuple[EngineSlot, Generation, list[tuple[str, Any]]]:
        """Wait for the engine, start the generation and read it up to its first token (so a refused
        prompt is still an HTTP error, not a broken stream). Returns the events read so far."""
        slot = EngineSlot(self.workspace, self.options.queue_timeout_s, job.adapters)
        try:
            await slot.acquire()
        except WorkerError as exc:  # the adapter could not be attached
            raise _engine_error(exc) from None
        generation: Generation | None = None
        try:
            generation = await self.engine.generate(job.messages, job.sampling, grammar=job.grammar,
                                                    stop=job.stop or None, prompt=job.prompt, thinking=job.thinking)
            return slot, generation, []
        except BaseException:
            if generation is not None:
                with anyio.CancelScope(shield=True):
                    await generation.stop()
            with anyio.CancelScope(shield=True):
                await slot.release()
            raise


def _engine_error(exc: WorkerError) -> ApiError:
    if exc.kind in ("context_overflow", "template", "bad_grammar", "bad_request", "lora_mismatch"):
        return ApiError(400, exc.message, code=exc.kind)
    if exc.kind == "no_model":
        return ApiError(503, exc.message, "server_error", exc.kind)
    return ApiError(500, f"The engine failed: {exc.message}", "server_error", exc.kind)


def _finish(stats: GenerationStats) -> str:
    return "length" if stats.finish_reason == "length" else "stop"


def _usage(stats: GenerationStats) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.tokens,
                             "total_tokens": stats.prompt_tokens + stats.tokens}
    if stats.thinking_tokens:  # the engine counts a reply's thinking (its <think> block, tags included)
        usage["completion_tokens_details"] = {"reasoning_tokens": stats.thinking_tokens}
    return usage


def _message(text: str, stats: GenerationStats, split_thinking: bool) -> dict[str, Any]:
    """A whole chat reply: the answer in content and a reasoning model's thinking in reasoning_content
    (raw when not split, or when the reply did not think)."""
    parts = split(text, stats.thinking_open) if split_thinking else None
    if parts is None or parts.thinking is None:
        return {"role": "assistant", "content": text}
    return {"role": "assistant", "content": parts.answer, "reasoning_content": parts.thinking}


class _Stream(StreamingResponse):
    """Server-sent events written straight to the connection, one `send` per event: a token costs one
    JSON chunk and one write (a general SSE layer's per-event timeouts and task hops cost a busy machine
    tokens/s). A hang-up ends the stream; a comment line every PING_S keeps an idle one open (a long
    prompt). Whatever ends it, the generation is stopped and the engine freed, even when the client
    went away before the first event."""

    def __init__(self, events: AsyncIterator[bytes], slot: EngineSlot, generation: Generation) -> None:
        super().__init__(events, status_code=200, media_type="text/event-stream",
                         headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._events, self._slot, self._generation, self.finished = events, slot, generation, False
        self._last_write = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            self._last_write = time.monotonic()
            async with anyio.create_task_group() as tasks:
                async def hang_up() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tasks.cancel_scope.cancel()

                async def ping() -> None:
                    while True:
                        await anyio.sleep(max(0.5, self._last_write + PING_S - time.monotonic()))
                        if time.monotonic() - self._last_write >= PING_S:
                            self._last_write = time.monotonic()
                            await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})

                tasks.start_soon(hang_up)
                tasks.start_soon(ping)
                async for data in self._events:
                    self._last_write = time.monotonic()
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                if not self.finished:
                    try:
                        await self._generation.stop()
                    except Exception:
                        pass
                await self._slot.release()


def _event(data: Any) -> bytes:
    """One SSE event: `data: <json>` and a blank line ("[DONE]" goes as it is)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return b"data: " + text.encode("utf-8") + b"\n\n"


# -- the gate: API key and body-size limit (raw ASGI, before anything reads the body) -----------
class Gate:
    def __init__(self, app: ASGIApp, max_bytes: int, api_key: str | None,
                 on_request: Callable[[RequestRecord], None] | None = None) -> None:
        self.app, self.max_bytes, self.api_key = app, max_bytes, api_key
        self.on_request = on_request

    def _refusal(self, scope: Scope) -> ApiError | None:
        if not self.api_key:
            return None
        header = ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            return ApiError(401, "This server needs an API key: send 'Authorization: Bearer <key>'.",
                            code="invalid_api_key")
        if not hmac.compare_digest(token.encode("utf-8", "replace"), self.api_key.encode("utf-8")):
            return ApiError(401, "The API key is wrong.", code="invalid_api_key")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.on_request is None:
            await self._gate(scope, receive, send)
            return
        client = scope.get("client") or ("", 0)
        record = RequestRecord(started=time.time(), method=scope.get("method", ""), path=scope.get("path", ""),
                               client=f"{client[0]}:{client[1]}" if client[0] else "")
        began = time.monotonic()
        error_body_bytes = bytearray()

        async def noted(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
            elif message["type"] == "http.response.body" and record.status >= 400 and len(error_body_bytes) < 4096:
                error_body_bytes.extend(message.get("body", b""))
            await send(message)

        state = scope.setdefault("state", {})
        try:
            await self._gate(scope, receive, noted)
        finally:
            record.duration_s = time.monotonic() - began
            record.model = str(state.get("record_model", ""))
            record.stream = bool(state.get("record_stream", False))
            stats = state.get("record_stats")
            if stats is not None:
                record.prompt_tokens, record.completion_tokens = stats.prompt_tokens, stats.tokens
                record.tokens_per_s, record.ttft_ms = stats.tokens_per_s, stats.ttft_ms
            if error_body_bytes:
                try:
                    record.message = str(json.loads(bytes(error_body_bytes))["error"]["message"])
                except (ValueError, KeyError, TypeError):
                    record.message = ""
            if not record.status:
                record.status = 499  # the client went away before any answer
            try:
                self.on_request(record)
            except Exception:  # a failing log must not break the server
                pass

    async def _gate(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal.response()(scope, receive, send)
            return
        too_big = ApiError(413, f"The request body is larger than the {self.max_bytes:,}-byte limit.",
                           code="request_too_large")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = 0
                if size > self.max_bytes:
                    await _drain(receive, size)
                    await too_big.response()(scope, receive, send)
                    return
        seen = 0

        async def limited() -> AsgiMessage:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooBig()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooBig:
            await _drain(receive, 0)
            await too_big.response()(scope, receive, send)


async def _drain(receive: Receive, size: int) -> None:
    """Read (and drop) a refused body of reasonable size, so the client is not cut off mid-upload and
    gets to read the 413 rather than a broken pipe."""
    if size > _DRAIN_MAX:
        return
    seen = 0
    while seen <= _DRAIN_MAX:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class _TooBig(Exception):
    pass


def _validation_sentence(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "The request body is not valid."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    if first.get("type") == "missing":
        return f"The request body lacks '{loc}'." if loc else "The request needs a JSON body."
    if not loc:
        return f"The request body must be a JSON object ({first.get('msg', 'invalid')})."
    return f"'{loc}' is not valid: {first.get('msg', 'invalid value')}."


def create_app(workspace: Workspace, options: ServerOptions | None = None) -> ASGIApp:
    options = options or ServerOptions()
    api = Api(workspace, options)
    app = FastAPI(title="Local LLM Studio API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.api = api

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return ApiError(400, _validation_sentence(exc)).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: "There is no such endpoint: see /v1/models, /v1/chat/completions, /v1/completions.",
                   405: "This endpoint does not take that method."}.get(exc.status_code, str(exc.detail))
        return ApiError(exc.status_code, message, code="not_found" if exc.status_code == 404 else None).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return ApiError(500, f"The server failed to answer: {type(exc).__name__}: {exc}".splitlines()[0],
                        "server_error").response()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        served = api.model_id()
        base = {"id": served, "object": "model", "created": 0, "owned_by": "local"}
        return {"object": "list", "data": [base, *(a.model_object(served) for a in await api.adapters())]}

    @app.get("/v1/models/{name}")
    async def model(name: str) -> dict[str, Any]:
        served = await api.resolve(name)
        if served.adapters is None:
            return {"id": served.id, "object": "model", "created": 0, "owned_by": "local"}
        adapter = next(a for a in await api.adapters() if a.id == served.id)
        return adapter.model_object(api.model_id())

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> Any:
        served = await api.resolve(body.model)
        max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
        job = api.job(body, served, max_tokens=max_tokens, default_max=api.n_ctx())
        return await _answer(api, job, served.id, request, chat=True, stream=body.stream,
                             include_usage=bool(body.stream_options and body.stream_options.include_usage))

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Any:
        served = await api.resolve(body.model)
        job = api.job(body, served, max_tokens=body.max_tokens, default_max=16)
        return await _answer(api, job, served.id, request, chat=False, stream=body.stream,
                             include_usage=bool(body.stream_options and body.stream_options.include_usage))

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest, request: Request) -> Any:
        served = await api.resolve(body.model)
        texts, tokens = _embedding_inputs(body)
        info = api.engine.model_info
        n_embd = int(getattr(info, "n_embd", 0) or 0)
        if body.dimensions is not None and n_embd and body.dimensions != n_embd:
            raise ApiError(400, f"dimensions {body.dimensions} cannot be given: this model's embeddings have "
                                f"{n_embd} dimensions (leave dimensions out).", param="dimensions")
        request.state.record_model = served.id
        slot = EngineSlot(api.workspace, options.queue_timeout_s, served.adapters)
        try:
            await slot.acquire()
        except WorkerError as exc:
            raise _engine_error(exc) from None
        try:
            result = await _until_hang_up(request, api.engine.embed(texts, tokens=tokens))
        except WorkerError as exc:
            raise _engine_error(exc) from None
        finally:
            with anyio.CancelScope(shield=True):
                await slot.release()
        if body.dimensions is not None and body.dimensions != result["n_embd"]:
            raise ApiError(400, f"dimensions {body.dimensions} cannot be given: this model's embeddings have "
                                f"{result['n_embd']} dimensions (leave dimensions out).", param="dimensions")
        if body.encoding_format == "base64":
            vectors: list[Any] = list(result["vectors_b64"])
        else:
            vectors = embedding_vectors(result)
        request.state.record_stats = GenerationStats(prompt_tokens=result["prompt_tokens"])
        return {"object": "list", "model": served.id,
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": result["prompt_tokens"], "total_tokens": result["prompt_tokens"]}}

    return Gate(app, options.max_body_bytes, options.api_key, options.on_request)


def _embedding_inputs(body: EmbeddingRequest) -> tuple[list[str] | None, list[list[int]] | None]:
    """The texts or token-id lists of an embeddings request; 400 with a sentence when there are none,
    one is empty, or there are too many."""
    given = body.input
    if isinstance(given, str):
        texts: list[str] | None = [given]
        tokens: list[list[int]] | None = None
    elif not given:
        raise ApiError(400, "input is empty: give a string, a list of strings, or token ids.", param="input")
    elif isinstance(given[0], str):
        texts, tokens = [str(t) for t in given], None
    elif isinstance(given[0], int):
        texts, tokens = None, [[int(t) for t in given]]
    else:
        texts, tokens = None, [[int(t) for t in ids] for ids in given]  # type: ignore[union-attr]
    items: list[Any] = texts if texts is not None else tokens or []
    if len(items) > MAX_EMBEDDING_INPUTS:
        raise ApiError(400, f"input has {len(items):,} items; at most {MAX_EMBEDDING_INPUTS:,} are embedded per "
                            "request.", param="input")
    empty = next((i for i, item in enumerate(items) if not item), None)
    if empty is not None:
        which = f"input[{empty}]" if len(items) > 1 or not isinstance(given, str) else "input"
        raise ApiError(400, f"{which} is empty: every input needs some text or at least one token.", param="input")
    return texts, tokens


async def _until_hang_up(request: Request, work: Any) -> Any:
    """Await `work`, cancelling it (which stops the engine) when the client hangs up first."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=_DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.gather(task, return_exceptions=True)
                raise ApiError(499, "The client went away before the answer.", code="client_closed")
    finally:
        if not task.done():
            task.cancel()


async def _answer(api: Api, job: _Job, served: str, request: Request, *, chat: bool, stream: bool,
                  include_usage: bool) -> Any:
    try:
        slot, generation, _ = await api.start(job)
    except WorkerError as exc:
        raise _engine_error(exc) from None
    request.state.record_model, request.state.record_stream = served, stream
    created = int(time.time())
    ident = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
    kind = "chat.completion" if chat else "text_completion"
    if not stream:
        async def hang_up_watch() -> None:  # a client that gave up frees the engine for the next one
            while True:
                await asyncio.sleep(_DISCONNECT_POLL_S)
                if await request.is_disconnected():
                    await generation.cancel()
                    return

        watcher = asyncio.ensure_future(hang_up_watch())
        done = False
        try:
            async for _ in generation:
                pass
            done = True
        except WorkerError as exc:
            done = True
            raise _engine_error(exc) from None
        finally:
            watcher.cancel()
            with anyio.CancelScope(shield=True):
                if not done:  # cancelled (server stop) or hung up: end the reply before the next user
                    try:
                        await generation.stop()
                    except Exception:
                        pass
                await slot.release()
        stats = generation.stats
        request.state.record_stats = stats
        choice: dict[str, Any] = ({"index": 0, "message": _message(generation.text, stats, job.split_thinking),
                                   "logprobs": None, "finish_reason": _finish(stats)} if chat else
                                  {"index": 0, "text": generation.text, "logprobs": None,
                                   "finish_reason": _finish(stats)})
        return {"id": ident, "object": kind, "created": created, "model": served, "choices": [choice],
                "usage": _usage(stats)}

    chunk_kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(delta_text: str | None, finish: str | None, first: bool = False,
              key: str = "content") -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else \
                ({key: delta_text} if delta_text is not None else {})
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": delta_text or "", "logprobs": None, "finish_reason": finish}
        return {"id": ident, "object": chunk_kind, "created": created, "model": served, "choices": [choice]}

    response: _Stream

    # A chat reply's thinking streams as delta.reasoning_content, its answer as delta.content; a tag
    # cut across tokens is held back until it is whole (SplitStream), so neither ever shows it.
    splitter: SplitStream | None = None

    def pieces(text: str, end: bool = False) -> list[bytes]:
        nonlocal splitter
        if not (chat and job.split_thinking):
            return [_event(chunk(text, None))] if text else []
        if splitter is None:  # the prompt's event, before the first token, said whether <think> is open
            splitter = SplitStream(generation.stats.thinking_open)
        thinking, answer = splitter.feed(text)
        if end:
            more = splitter.finish()
            thinking, answer = thinking + more[0], answer + more[1]
        return ([_event(chunk(thinking, None, key="reasoning_content"))] if thinking else []) + \
            ([_event(chunk(answer, None))] if answer else [])

    async def events() -> AsyncIterator[bytes]:
        if chat:
            yield _event(chunk(None, None, first=True))
        pending = ""
        try:
            async for event, value in generation:
                if event == "token" and value:
                    pending += value
                    if generation.backlog:  # more has arrived already: one chunk for all of it
                        continue
                    for data in pieces(pending):
                        yield data
                    pending = ""
        except WorkerError as exc:
            response.finished = True
            for data in pieces(pending, end=True):
                yield data
            error = _engine_error(exc)
            yield _event(error_body(error.message, error.type, error.code))
            yield _event("[DONE]")
            return
        response.finished = True
        for data in pieces(pending, end=True):
            yield data
        stats = generation.stats
        request.state.record_stats = stats
        yield _event(chunk(None, _finish(stats)))
        if include_usage:
            yield _event({"id": ident, "object": chunk_kind, "created": created, "model": served, "choices": [],
                          "usage": _usage(stats)})
        yield _event("[DONE]")

    response = _Stream(events(), slot, generation)
    return response
