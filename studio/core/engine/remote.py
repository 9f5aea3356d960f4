"""Remote engines: any OpenAI-compatible server (vLLM, llama-server, Ollama, LM Studio, another
studio) at a base URL with an optional key, used by the chat like the local engine.

`RemoteEngine.generate` returns a `RemoteGeneration` with the local `Generation`'s shape: iterate for
("token", text); `text` and `stats` (time to first token and tokens/s measured here, token counts
from the server's usage when it sends one, else one token per streamed chunk); `cancel()` ends the
stream at once. Every failure is a `RemoteEngineError` (a WorkerError, so the chat session handles
it like an engine error) whose message is one specific sentence.

Thinking off (`generate(..., thinking=False)`) goes as `chat_template_kwargs: {"enable_thinking": false}`
(llama.cpp's server, vLLM, SGLang and the studio's own read it), and only then, so servers that refuse
unknown fields keep working. A server that answers 400/422 to it is asked again without it, once; the
engine remembers it and emits notice(message), one sentence saying the server has no thinking switch.

`RemoteRegistry` keeps the engines (name, base URL, the SecretStore name of the key, last models)
in the settings; the keys themselves go to the SecretStore, never the settings file.

HTTP and SSE go through the official `openai` client: typed errors per status, streaming with
usage, and it is the client these servers are tested against.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable
from urllib.parse import urlsplit

from studio.core.engine.client import GenerationStats
from studio.core.engine.sampling import SamplingParams
from studio.core.engine.thinking import CLOSE, OPEN
from studio.core.events import Emitter
from studio.core.secrets import SecretStore
from studio.core.settings import AppSettings, save_settings
from studio.core.workers.protocol import WorkerError

if TYPE_CHECKING:
    import asyncio
else:  # imported when first used, after the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import asyncio

PREFIX = "remote:"            # conversation/model labels: remote:<engine name>/<model>
KEY_PREFIX = "remote-engine:"  # SecretStore names of the keys
DEFAULT_TIMEOUT_S = 60.0
LIST_TIMEOUT_S = 10.0
CANCEL_GRACE_S = 1.0
THINKING_OFF = {"chat_template_kwargs": {"enable_thinking": False}}  # the request body's switch


class RemoteEngineError(WorkerError):
    """kind: unreachable, timeout, unauthorized, forbidden, not_found, rate_limited, server_error,
    bad_request, bad_url, bad_response, no_models."""

    def __init__(self, kind: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"remote_{kind}", message)
        self.retry_after = retry_after


def normalize_base_url(text: str) -> str:
    """'host:8080' or 'http://host:8080' → 'http://host:8080/v1'; a URL with a path keeps it
    (Ollama's /v1, a proxy's /api/v1). Raises RemoteEngineError for what is not an http(s) URL."""
    url = text.strip()
    if not url:
        raise RemoteEngineError("bad_url", "Enter the server's base URL, for example http://127.0.0.1:8080/v1.")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteEngineError("bad_url", f"“{text.strip()}” is not an http:// or https:// address.")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise RemoteEngineError("bad_url", f"“{text.strip()}” has a port that is not a number.") from None
    path = parts.path.rstrip("/")
    for tail in ("/chat/completions", "/models"):  # a pasted endpoint instead of the base
        if path.endswith(tail):
            path = path[: -len(tail)]
    return f"{parts.scheme}://{parts.netloc}{path or '/v1'}"


def _server_message(exc: Any) -> str:
    """The server's own words from an error body ({"error": {"message"}}, {"detail"}, text)."""
    body = getattr(exc, "body", None)
    for _ in range(3):
        if isinstance(body, dict):
            for key in ("message", "detail", "error"):
                if isinstance(body.get(key), str) and body[key].strip():
                    return str(body[key]).strip()
            body = body.get("error") if isinstance(body.get("error"), dict) else body.get("detail")
        elif isinstance(body, str) and body.strip():
            return body.strip()[:300]
    try:
        text = exc.response.text.strip()
    except Exception:
        text = ""
    return text[:300] or str(getattr(exc, "message", "") or exc)


def _connection_reason(exc: BaseException) -> str:
    seen: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(seen) < 6:
        seen.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    text = " ".join(seen).lower()
    if "refused" in text:
        return "connection refused — is the server running?"
    if re.search(r"name or service not known|nodename nor servname|getaddrinfo|name resolution|no address", text):
        return "the host name could not be resolved — check the address."
    if "ssl" in text or "certificate" in text:
        return "the secure connection failed (TLS/certificate) — check http:// vs https://."
    if "unreachable" in text:
        return "the network is unreachable."
    detail = seen[-1] if seen else type(exc).__name__
    return f"{detail} — is the server running?"


def describe_error(exc: BaseException, url: str, *, model: str = "", has_key: bool = False,
                   timeout_s: float = DEFAULT_TIMEOUT_S, listing: bool = False) -> RemoteEngineError:
    """One specific sentence for what went wrong talking to `url`."""
    import openai

    if isinstance(exc, RemoteEngineError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return RemoteEngineError("timeout", f"{url} did not answer within {timeout_s:g} s — the server may be busy "
                                            "or still loading the model; try again later.")
    if isinstance(exc, openai.APIConnectionError):
        return RemoteEngineError("unreachable", f"Could not reach {url}: {_connection_reason(exc)}")
    if isinstance(exc, openai.AuthenticationError):
        if has_key:
            return RemoteEngineError("unauthorized", f"{url} answered 401 Unauthorized: the key was refused. "
                                                     "Check the API key.")
        return RemoteEngineError("unauthorized", f"{url} answered 401 Unauthorized: it needs an API key. "
                                                 "Add the key and connect again.")
    if isinstance(exc, openai.PermissionDeniedError):
        return RemoteEngineError("forbidden", f"{url} answered 403 Forbidden: {_server_message(exc)}")
    if isinstance(exc, openai.NotFoundError):
        if listing:
            return RemoteEngineError("not_found", f"{url} has no /models endpoint (404 Not Found): check the base "
                                                  "URL; OpenAI-compatible servers usually end in /v1.")
        return RemoteEngineError("not_found", f"{url} answered 404 Not Found for the model “{model}”: "
                                              f"{_server_message(exc).rstrip('.')}. Pick one of the models it "
                                              "lists, or check the base URL.")
    if isinstance(exc, openai.RateLimitError):
        retry = _retry_after(exc)
        when = f"try again in {retry:g} s." if retry is not None else "wait a moment and try again."
        return RemoteEngineError("rate_limited", f"{url} is limiting requests (429 Too Many Requests): {when}",
                                 retry_after=retry)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status >= 500:
            return RemoteEngineError("server_error", f"{url} failed with an internal error ({status}): "
                                                     f"{_server_message(exc)}")
        return RemoteEngineError("bad_request", f"{url} refused the request ({status}): {_server_message(exc)}")
    if isinstance(exc, openai.APIError):  # a reply that is not the OpenAI shape
        return RemoteEngineError("bad_response", f"{url} sent an answer that is not OpenAI-compatible: "
                                                 f"{getattr(exc, 'message', exc)}")
    return RemoteEngineError("bad_response", f"Talking to {url} failed: {type(exc).__name__}: {exc}")


def _retry_after(exc: Any) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None  # an HTTP date: rare enough to say "a moment"


class RemoteGeneration:
    """One streamed reply from a remote engine (the local Generation's interface)."""

    def __init__(self, engine: "RemoteEngine", messages: list[dict[str, str]], sampling: SamplingParams,
                 stop: list[str] | None = None, response_format: dict[str, Any] | None = None,
                 thinking: bool | None = None) -> None:
        self.engine = engine
        self._response_format = response_format
        self._thinking = thinking
        self._reasoning = False  # inside a reasoning block the server sent apart from the content
        self.text = ""
        self.stats = GenerationStats()
        self._messages = messages
        self._sampling = sampling
        self._stop = stop
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._cancel_requested = False

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pump())

    async def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        self._start()
        while True:
            kind, value = await self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield kind, value

    async def _pump(self) -> None:
        """Runs the request as a task, so cancel() can end it even while it waits for bytes."""
        engine = self.engine
        started = time.perf_counter()
        first = last = 0.0
        chunks = 0
        usage: Any = None
        try:
            stream = await engine._create_stream(self._messages, self._sampling, self._stop, self._response_format,
                                                 thinking=self._thinking)
            try:
                async for chunk in stream:
                    if getattr(chunk, "usage", None):
                        usage = chunk.usage
                    for choice in chunk.choices or ():
                        piece = self._text(choice.delta) if choice.delta else None
                        if piece:
                            now = time.perf_counter()
                            first = first or now
                            last = now
                            chunks += 1
                            self.text += piece
                            self._queue.put_nowait(("token", piece))
                        if choice.finish_reason:
                            self.stats.finish_reason = str(choice.finish_reason)
            finally:
                await stream.close()
        except asyncio.CancelledError:
            self.stats.finish_reason = "cancelled"
        except BaseException as exc:  # every failure becomes one sentence for the chat
            if not self._cancel_requested:
                self._queue.put_nowait(("error", describe_error(
                    exc, engine.base_url, model=engine.model, has_key=bool(engine.api_key),
                    timeout_s=engine.timeout_s)))
        finally:
            completion = getattr(usage, "completion_tokens", None)
            self.stats.tokens = int(completion) if isinstance(completion, int) and completion > 0 else chunks
            prompt = getattr(usage, "prompt_tokens", None)
            self.stats.prompt_tokens = int(prompt) if isinstance(prompt, int) else 0
            if first:
                self.stats.ttft_ms = round((first - started) * 1000, 1)
                # Decode speed: the tokens after the first over the time after it (the first one
                # also carries the prompt's processing, which TTFT already shows).
                if self.stats.tokens > 1 and last > first:
                    self.stats.tokens_per_s = round((self.stats.tokens - 1) / (last - first), 2)
            self.stats.stopped = self._cancel_requested
            self._queue.put_nowait(("end", None))

    def _text(self, delta: Any) -> str:
        """A delta's text. Servers that parse reasoning send the thinking apart (`reasoning_content`:
        DeepSeek, llama.cpp, vLLM; `reasoning`: OpenRouter); a leading block of it becomes the reply's
        <think>…</think>, as a local reasoning model writes it."""
        content = getattr(delta, "content", None) or ""
        reasoning = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
        text = ""
        if isinstance(reasoning, str) and reasoning and (self._reasoning or not self.text):
            text = ("" if self._reasoning else OPEN) + reasoning
            self._reasoning = True
        if content and self._reasoning:
            text, self._reasoning = text + CLOSE, False
        return text + content if isinstance(content, str) else text

    async def cancel(self) -> None:
        """End the stream now: the request task is cancelled, which closes the connection (the
        server sees the client hang up and stops generating)."""
        self._cancel_requested = True
        task = self._task
        if task is None:
            self._queue.put_nowait(("end", None))
            self.stats.stopped = True
            return
        if not task.done():
            task.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(task), CANCEL_GRACE_S)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass


class RemoteEngine(Emitter):
    """One OpenAI-compatible server and the model the chat uses on it. Events: notice(message) (the
    server refused the thinking switch; the reply was asked for without it)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, name: str = "", model: str = "",
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__()
        self.base_url = normalize_base_url(base_url)
        self.api_key = api_key or None
        self.name = name or host_name(self.base_url)
        self.model = model
        self.timeout_s = float(timeout_s)
        self.thinking_switch: bool | None = None  # False once the server refused enable_thinking
        self._client: Any = None

    @property
    def label(self) -> str:
        """What the conversation and each reply record as their model: remote:<name>/<model>."""
        return f"{PREFIX}{self.name}/{self.model}"

    def _openai(self) -> Any:
        if self._client is None:
            import openai
            # No retries: the user should see a 429 or a refused connection at once, in our words.
            # A placeholder key keeps the client from refusing to start; keyless servers ignore it.
            self._client = openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key or "no-key",
                                              max_retries=0, timeout=self.timeout_s)
        return self._client

    def needs_load(self, n_ctx: int | None = None) -> bool:
        return False  # the server holds its models; nothing loads here

    async def list_models(self, timeout_s: float | None = LIST_TIMEOUT_S) -> list[str]:
        """The model ids GET /v1/models lists, sorted as the server sends them."""
        timeout = float(timeout_s or self.timeout_s)
        try:
            page = await self._openai().models.list(timeout=timeout)
            models = [str(m.id) for m in page.data]
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise describe_error(exc, self.base_url, has_key=bool(self.api_key), timeout_s=timeout,
                                 listing=True) from None
        return models

    async def generate(self, messages: list[dict[str, str]], sampling: SamplingParams | None = None, *,
                       stop: list[str] | None = None, response_format: dict[str, Any] | None = None,
                       thinking: bool | None = None) -> RemoteGeneration:
        """A reply to `messages`; it streams (and fails, with a sentence) while iterated. `response_format`
        is OpenAI's ({"type": "json_object"} or {"type": "json_schema", ...}), for a structured reply.
        `thinking` False asks the server's template to answer without thinking; None leaves it to the server."""
        if not self.model:
            raise RemoteEngineError("no_models", f"No model is chosen on {self.base_url}: pick one of its models.")
        generation = RemoteGeneration(self, list(messages), sampling or SamplingParams(), stop, response_format,
                                      thinking)
        generation._start()
        return generation

    async def _create_stream(self, messages: list[dict[str, str]], sampling: SamplingParams,
                             stop: list[str] | None, response_format: dict[str, Any] | None = None, *,
                             thinking: bool | None = None) -> Any:
        import openai

        params: dict[str, Any] = {"temperature": sampling.temperature, "top_p": sampling.top_p,
                                  "max_tokens": sampling.max_tokens}
        if sampling.seed >= 0:
            params["seed"] = sampling.seed
        if stop:
            params["stop"] = list(stop)
        if response_format:
            params["response_format"] = response_format
        switch = thinking is False and self.thinking_switch is not False
        if switch:  # only when asked: a server that refuses unknown fields never sees it otherwise
            params["extra_body"] = THINKING_OFF
        elif thinking is False:
            self._note_no_thinking_switch()  # refused before: each such reply says so again
        usage: dict[str, Any] = {"stream_options": {"include_usage": True}}
        client = self._openai()
        while True:
            try:
                stream = await client.chat.completions.create(model=self.model, messages=messages, stream=True,
                                                              **usage, **params)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                said = _server_message(exc)
                if usage and ("stream_options" in said or "include_usage" in said):
                    usage = {}  # a few servers refuse stream_options: tokens are then counted here
                elif switch and "extra_body" in params:
                    del params["extra_body"]  # once: a server without the switch may refuse the field
                else:
                    raise
                continue
            if switch and "extra_body" not in params:  # answered only without the switch
                self.thinking_switch = False
                self._note_no_thinking_switch()
            return stream

    def _note_no_thinking_switch(self) -> None:
        self.emit("notice", message=f"{self.base_url} has no thinking switch (it refused enable_thinking), so "
                                    "its model thinks or not as the server decides.")

    async def complete(self, messages: list[dict[str, str]],
                       sampling: SamplingParams | None = None) -> tuple[str, GenerationStats]:
        generation = await self.generate(messages, sampling)
        async for _ in generation:
            pass
        return generation.text, generation.stats

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def host_name(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def parse_label(label: str) -> tuple[str, str] | None:
    """(engine name, model) of a 'remote:<name>/<model>' label, else None."""
    if not label.startswith(PREFIX) or "/" not in label[len(PREFIX):]:
        return None
    name, _, model = label[len(PREFIX):].partition("/")
    return name, model


# -- the registry ----------------------------------------------------------------------------------
@dataclass
class RemoteEngineEntry:
    name: str
    base_url: str
    key_ref: str = ""                                  # SecretStore name of the key ("" = no key)
    models: list[str] = field(default_factory=list)    # as last listed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RemoteEngineEntry":
        return cls(name=str(data["name"]), base_url=str(data["base_url"]), key_ref=str(data.get("key_ref") or ""),
                   models=[str(m) for m in data.get("models") or []])


class RemoteRegistry(Emitter):
    """The remote engines in the settings (settings.remote_engines) with their keys in `secrets`.
    Events: changed()."""

    def __init__(self, settings: AppSettings, secrets: SecretStore | None = None,
                 save: Callable[[AppSettings], None] | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.secrets = secrets or SecretStore()
        self._save = save or (lambda s: save_settings(s))

    def entries(self) -> list[RemoteEngineEntry]:
        out = []
        for data in self.settings.remote_engines:
            try:
                out.append(RemoteEngineEntry.from_dict(data))
            except (KeyError, TypeError):
                continue
        return out

    def get(self, name: str) -> RemoteEngineEntry | None:
        return next((e for e in self.entries() if e.name == name), None)

    def key_of(self, entry: RemoteEngineEntry) -> str | None:
        return self.secrets.get(entry.key_ref) if entry.key_ref else None

    def where_keys_go(self) -> str:
        return self.secrets.where()

    def put(self, name: str, base_url: str, api_key: str | None = None, *, models: list[str] | None = None,
            replacing: str = "") -> str:
        """Add or (with `replacing`, its old name) change an engine. `api_key` None keeps the key it
        has, "" removes it. Returns where the key went, in words ("" when there is none)."""
        name = name.strip()
        if not name or "/" in name:
            raise RemoteEngineError("bad_url", "Give the engine a name without “/”.")
        base_url = normalize_base_url(base_url)
        old = self.get(replacing or name)
        if self.get(name) is not None and name != (replacing or name):
            raise RemoteEngineError("bad_url", f"There is already a remote engine called “{name}”.")
        key_ref = KEY_PREFIX + name
        where = ""
        if api_key is None and old is not None and old.key_ref:
            key = self.secrets.get(old.key_ref)
            if key and old.key_ref != key_ref:
                where = self.secrets.set(key_ref, key)
                self.secrets.delete(old.key_ref)
            elif key:
                where = self.secrets.where()
            else:
                key_ref = ""
        elif api_key:
            where = self.secrets.set(key_ref, api_key)
            if old is not None and old.key_ref and old.key_ref != key_ref:
                self.secrets.delete(old.key_ref)
        else:
            if old is not None and old.key_ref:
                self.secrets.delete(old.key_ref)
            key_ref = ""
        entry = RemoteEngineEntry(name, base_url, key_ref,
                                  list(models) if models is not None else (old.models if old else []))
        kept = [e for e in self.entries() if e.name not in (name, replacing)]
        self.settings.remote_engines = [e.to_dict() for e in kept] + [entry.to_dict()]
        self._save(self.settings)
        self.emit("changed")
        return where

    def remove(self, name: str) -> None:
        entry = self.get(name)
        if entry is None:
            return
        if entry.key_ref:
            self.secrets.delete(entry.key_ref)
        self.settings.remote_engines = [e.to_dict() for e in self.entries() if e.name != name]
        self._save(self.settings)
        self.emit("changed")

    def set_models(self, name: str, models: list[str]) -> None:
        """Remember what the engine listed, so the picker shows it before the next listing."""
        entries = self.entries()
        for entry in entries:
            if entry.name == name and entry.models != models:
                entry.models = list(models)
                self.settings.remote_engines = [e.to_dict() for e in entries]
                self._save(self.settings)
                self.emit("changed")
                return

    def engine(self, name: str, model: str = "", *, timeout_s: float = DEFAULT_TIMEOUT_S) -> RemoteEngine:
        entry = self.get(name)
        if entry is None:
            raise RemoteEngineError("not_found", f"There is no remote engine called “{name}” any more.")
        return RemoteEngine(entry.base_url, self.key_of(entry), name=entry.name, model=model, timeout_s=timeout_s)

    def unique_name(self, base_url: str) -> str:
        """A name for a new engine: its host:port, numbered if taken."""
        try:
            base = host_name(normalize_base_url(base_url))
        except RemoteEngineError:
            base = "remote"
        names = {e.name for e in self.entries()}
        name, n = base, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        return name
