"""The per-conversation controller: turns user actions into engine requests and store writes.

State machine: idle → (waiting) → loading → prompt → generating → (stopping) → idle, or → error.
Every streamed token is written to the store at once, so killing the app loses nothing.
Nothing is overwritten either: a regenerated reply or an edited message is a new alternative beside
the old one (a branch, see chat/branches.py); `messages` is the branch shown.
Events (Emitter): state(state), reset(conversation, messages), message_added(message),
message_updated(message, delta), messages_removed(ids) (no longer shown; kept as another branch),
trimmed(ids, note), context(used, n_ctx), error(kind, message, log_tail), branches(positions)
({message id: (n, count)}: that shown message is alternative n of count), branch_switched(index,
messages) (the shown messages from `index` on changed), collections(names), retrieval(message, record) (the reply's retrieval
record, when knowledge is attached and `ground` is set), notice(message) (e.g. Stop had to restart an engine that did not answer, or
a remote server has no thinking switch; also kept in `last_notice` until the next reply).
A reply holds the workspace's engine lease ("chat"); while another user holds it (an evaluation),
send/regenerate/edit raise EngineBusy before changing anything. Behind an API request (the server
holds the engine) the reply waits its turn in the workspace's queue instead: state "waiting"
(SessionState.WAITING, also `session.waiting`) and a notice ("Waiting: the engine is answering an API
request …") until it starts; it counts as busy, and Stop ends the wait and keeps the reply as stopped
(empty). The workspace's queue_changed(waiting, holder) tells who else waits.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from studio.core.chat.conversation import DEFAULT_SYSTEM_PROMPT, Conversation, Message, MessageStatus
from studio.core.engine.sampling import SamplingParams
from studio.core.chat.store import ChatStore, ChatStoreError
from studio.core.chat.thinking import OPTION_KEY as THINKING_KEY, LiveThinking, generate_args, prompt_content
from studio.core.engine import client as engine_client
from studio.core.engine.client import EngineClient, Generation
from studio.core.engine.remote import PREFIX as REMOTE_PREFIX, RemoteEngine, RemoteGeneration
from studio.core.engine import structured
from studio.core.events import Emitter
from studio.core.limits import check_text
from studio.core.workers import client as worker_client
from studio.core.workers.protocol import WorkerError
from studio.core.workspace import USES, Lease, WaitCancelled, Workspace

if TYPE_CHECKING:
    import asyncio
else:  # imported when first used, after the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import asyncio

# Holders a reply waits behind (in the workspace's FIFO queue); behind anyone else it is refused at once.
WAITS_BEHIND = ("server",)


class SessionState(str, Enum):
    IDLE = "idle"
    WAITING = "waiting"        # queued for the engine behind an API request
    LOADING = "loading"
    PROMPT = "prompt"          # the engine is reading the prompt
    GENERATING = "generating"
    STOPPING = "stopping"
    ERROR = "error"


class SessionBusy(RuntimeError):
    pass


@dataclass
class Grounding:
    """What a grounder made of one question: the turns to send instead, and the record kept with
    the reply (a Retrieval panel shows it; the chat layer treats it as plain JSON)."""
    messages: list[dict[str, str]]
    record: dict[str, Any]
    cite: Callable[[str], dict[str, Any]] | None = None  # the finished reply → its citations, for the record


# (conversation, attached collections, the turns as they would be sent, the answering engine) → Grounding.
# Set ChatSession.ground to one (studio.core.grounding builds it): chat itself never imports knowledge.
Ground = Callable[[Conversation, list[str], list[dict[str, str]], "EngineClient | RemoteEngine"], Awaitable[Grounding]]


class ChatSession(Emitter):
    def __init__(self, store: ChatStore, engine: EngineClient, workspace: Workspace | None = None) -> None:
        super().__init__()
        self.store = store
        self.engine = engine
        self.workspace = workspace or Workspace(engine)
        self.conversation: Conversation | None = None
        self.messages: list[Message] = []
        self.branches: dict[int, tuple[int, int]] = {}  # shown message id -> (alternative n, of count)
        self.state = SessionState.IDLE
        self.last_error: tuple[str, str] | None = None
        self.last_notice: str | None = None
        self._generation: Generation | RemoteGeneration | None = None
        # A remote engine's model answers instead of the local engine (no lease needed then).
        self.remote: RemoteEngine | None = None
        self._stop_requested = False
        self._reply_task: asyncio.Task | None = None
        self._reply_ended: asyncio.Event | None = None  # set when the reply in flight has finished
        self._stop_waiting: asyncio.Event | None = None  # set by Stop while the reply waits its turn
        self.ground: Ground | None = None  # retrieval for conversations with knowledge attached

    # -- conversations ----------------------------------------------------------------------
    def open(self, conversation_id: int) -> Conversation:
        """Read first, switch after: a conversation that cannot be read leaves the session where it was."""
        self._require_idle()
        conversation = self.store.get_conversation(conversation_id)
        messages = self.store.messages(conversation_id)
        self.conversation, self.messages = conversation, messages
        self.emit("reset", conversation=conversation, messages=list(messages))
        self._refresh_branches()
        return conversation

    def new_conversation(self, *, system_prompt: str | None = None, sampling: SamplingParams | None = None) -> Conversation:
        self._require_idle()
        base = self.conversation
        if system_prompt is None:
            system_prompt = base.system_prompt if base else DEFAULT_SYSTEM_PROMPT
        model = self.remote.label if self.remote else (self.engine.model_info.path if self.engine.model_info else "")
        self.conversation = self.store.create_conversation(
            system_prompt=system_prompt, model=model,
            sampling=sampling or (base.sampling if base else SamplingParams()))
        self.messages = []
        self.emit("reset", conversation=self.conversation, messages=[])
        self._refresh_branches()
        return self.conversation

    def use_remote(self, remote: RemoteEngine | None) -> None:
        """Answer with `remote`'s model from now on; None: the local engine again."""
        self._require_idle()
        self.remote = remote
        self.emit("engine_changed", remote=remote)

    def update_settings(self, *, system_prompt: str | None = None, sampling: SamplingParams | None = None,
                        title: str | None = None) -> None:
        conversation = self._require_conversation()
        self.conversation = self.store.update_conversation(
            conversation.id, system_prompt=system_prompt, sampling=sampling, title=title)

    @property
    def output_format(self) -> structured.OutputFormat | None:
        """The open conversation's output format (None: free text); a stored one that no longer
        builds raises OutputFormatError."""
        return structured.from_options(self.conversation.options) if self.conversation else None

    def set_output_format(self, fmt: structured.OutputFormat | None) -> None:
        """Constrain this conversation's replies to `fmt` (built and checked by structured.build);
        None: free text. Kept in the conversation's options (other keys untouched)."""
        self._require_idle()
        conversation = self.conversation or self.new_conversation()
        current = self.store.get_conversation(conversation.id).options
        options = {k: v for k, v in current.items() if k != structured.OPTION_KEY}
        if fmt is not None:
            options[structured.OPTION_KEY] = fmt.to_option()
        self.conversation = self.store.update_conversation(conversation.id, options=options)

    def set_thinking(self, on: bool) -> None:
        """Let a reasoning model think in this conversation's replies, or not (options["thinking"];
        other options untouched). Off: the template's enable_thinking, else an empty think block; a
        remote engine gets enable_thinking false. A reply already under way keeps the setting it started with."""
        conversation = self.conversation or self.new_conversation()
        options = {k: v for k, v in self.store.get_conversation(conversation.id).options.items() if k != THINKING_KEY}
        if not on:
            options[THINKING_KEY] = False
        self.conversation = self.store.update_conversation(conversation.id, options=options)

    @property
    def collections(self) -> list[str]:
        """The knowledge collections attached to the open conversation."""
        return self.store.collections(self.conversation.id) if self.conversation else []

    def attach(self, collections: list[str]) -> list[str]:
        """Attach exactly these collections to the conversation (a new one if none is open); [] detaches.
        Emits collections(names)."""
        self._require_idle()
        conversation = self.conversation or self.new_conversation()
        names = self.store.set_collections(conversation.id, collections)
        self.emit("collections", names=names)
        return names

    def retrieval(self, message_id: int) -> dict[str, Any] | None:
        """The retrieval record kept with a reply (None: it was not built on retrieved text)."""
        return self.store.retrieval(message_id)

    def close_if_deleted(self, conversation_id: int) -> None:
        if self.conversation and self.conversation.id == conversation_id:
            self.conversation = None
            self.messages = []
            self.emit("reset", conversation=None, messages=[])
            self._refresh_branches()

    # -- branches ---------------------------------------------------------------------------
    def switch_branch(self, message_id: int) -> bool:
        """Show the branch through `message_id` (an alternative, or a search hit off the shown branch);
        below it, the alternatives shown there last. Emits branch_switched; False if it was shown."""
        self._require_idle()
        conversation = self._require_conversation()
        if self.store.get_message(message_id).conversation_id != conversation.id:
            raise ValueError("that message belongs to another conversation")
        if not self.store.switch_branch(message_id):
            return False
        messages = self.store.messages(conversation.id)
        index = 0
        while index < min(len(messages), len(self.messages)) and messages[index].id == self.messages[index].id:
            index += 1
        self.messages = messages
        self._refresh_branches()  # first: the rebuilt messages show their places at once
        self.emit("branch_switched", index=index, messages=list(messages))
        return True

    def switch_sibling(self, message_id: int, step: int) -> bool:
        """Show the alternative `step` places after (negative: before) this message; False at either end."""
        self._require_idle()
        ids = [m.id for m in self.store.siblings(message_id)]
        target = ids.index(message_id) + step if message_id in ids else -1
        return 0 <= target < len(ids) and self.switch_branch(ids[target])

    def _leaf(self) -> int | None:
        """Where the next message goes: after the last one shown."""
        return self.messages[-1].id if self.messages else None

    def _refresh_branches(self) -> None:
        try:
            self.branches = self.store.branch_positions(self.conversation.id) if self.conversation else {}
        except ChatStoreError:  # positions are only shown: a store that cannot say leaves them out
            self.branches = {}
        self.emit("branches", positions=dict(self.branches))

    # -- actions ----------------------------------------------------------------------------
    async def send(self, text: str) -> Message:
        """Add a user message and stream the reply; returns the assistant message."""
        text = check_text(text, "the message").strip()  # before the store: SQLite cannot hold it either
        if not text:
            raise ValueError("the message is empty")
        self._require_idle()
        self._check_engine_free()
        conversation = self.conversation or self.new_conversation()
        self._append(self.store.add_message(conversation.id, "user", text, parent_id=self._leaf()))
        return await self._reply()

    def _check_engine_free(self) -> None:
        """EngineBusy before anything changes, unless a remote engine answers (no local lease then)."""
        if self.remote is None:
            self.workspace.check_free(wait=WAITS_BEHIND)

    async def regenerate(self) -> Message:
        """A fresh reply beside the last one, which is kept as an alternative."""
        self._require_idle()
        self._check_engine_free()
        if not self.messages:
            raise ValueError("nothing to regenerate yet")
        last = self.messages[-1]
        if last.role == "assistant":
            self._hide_from(last.id)
        return await self._reply()

    async def edit_and_resend(self, message_id: int, text: str) -> Message:
        """A new version of a user message, answered again; the old one and everything after it stay
        as another branch."""
        self._require_idle()
        self._check_engine_free()
        target = next((m for m in self.messages if m.id == message_id), None)
        if target is None or target.role != "user":
            raise ValueError("only your own messages can be edited")
        check_text(text, "the message")
        if not text.strip():
            raise ValueError("the message is empty")
        self._hide_from(message_id)
        self._append(self.store.add_message(self._require_conversation().id, "user", text.strip(),
                                            parent_id=target.parent_id))
        return await self._reply()

    async def stop(self) -> None:
        """Stop the reply now; the partial text stays. Later tokens are ignored at once.
        Returns when the reply has ended: an engine that does not answer within
        CANCEL_TIMEOUT_S is ended (the reply is kept as stopped, with a notice) instead of
        leaving the chat in "stopping" for good."""
        if self.state == SessionState.WAITING and self._stop_waiting is not None:
            self._set_state(SessionState.STOPPING)
            self._stop_waiting.set()
        elif self.state in (SessionState.PROMPT, SessionState.GENERATING, SessionState.LOADING):
            self._stop_requested = True
            self._set_state(SessionState.STOPPING)
            if self._generation is not None:
                await self._generation.cancel()
            elif self.state == SessionState.STOPPING:
                await self.engine.cancel_load()
        await self._wait_for_reply_end()

    async def _wait_for_reply_end(self) -> None:
        ended = self._reply_ended
        if ended is None or self._reply_task is asyncio.current_task():
            return  # no reply in flight, or called from the reply itself (waiting would deadlock)
        # The cancel watchdog bounds this; the cap only guards a stop that raced a load's start.
        cap = engine_client.CANCEL_TIMEOUT_S + 2 * worker_client.TERMINATE_GRACE_S + 2.0
        try:
            await asyncio.wait_for(ended.wait(), cap)
        except asyncio.TimeoutError:
            pass

    # -- internals --------------------------------------------------------------------------
    async def _reply(self) -> Message:
        if self.remote is not None:  # the local engine is not used, so it is not leased
            return await self._write_reply()
        try:
            async with self._engine_turn():
                return await self._write_reply()
        except WaitCancelled:  # stopped before its turn: an empty reply, kept as stopped
            reply = self.store.add_message(self._require_conversation().id, "assistant", "",
                                           status=MessageStatus.STOPPED, parent_id=self._leaf())
            self._append(reply)
            self._reply_task = self._reply_ended = None
            self._set_state(SessionState.IDLE)
            return reply

    @property
    def waiting(self) -> bool:
        """Whether the reply waits its turn for the engine (an API request holds it)."""
        return self.state == SessionState.WAITING

    @asynccontextmanager
    async def _engine_turn(self) -> AsyncIterator[Lease]:
        """The engine lease for one reply: at once when the engine is free, after the queue when an
        API request holds it (state WAITING, a notice; Stop ends the wait with WaitCancelled)."""
        holder = self.workspace.holder
        if not holder or holder not in WAITS_BEHIND:
            async with self.workspace.lease("chat") as lease:  # free, or EngineBusy at once
                yield lease
            return
        self._stop_waiting = stop = asyncio.Event()
        self._reply_ended = waited = asyncio.Event()  # Stop returns once the wait has ended
        self._reply_task = asyncio.current_task()
        self._set_state(SessionState.WAITING)
        self.last_notice = f"Waiting: the engine is {USES.get(holder, holder)}; the reply starts when it is done."
        self.emit("notice", message=self.last_notice)
        try:
            async with self.workspace.lease("chat", wait=WAITS_BEHIND, cancel=stop) as lease:
                self._stop_waiting = None
                waited.set()
                self._set_state(SessionState.PROMPT)
                yield lease
        finally:
            self._stop_waiting = None
            waited.set()

    async def _write_reply(self) -> Message:
        conversation = self._require_conversation()
        history, sources = self._prompt_messages(conversation)
        reply = self.store.add_message(conversation.id, "assistant", "", status=MessageStatus.STREAMING,
                                       parent_id=self._leaf())
        self._append(reply)
        self._stop_requested = False
        self.last_error = None
        self.last_notice = None
        self._reply_task = asyncio.current_task()
        self._reply_ended = asyncio.Event()
        engine: EngineClient | RemoteEngine = self.remote or self.engine
        unsubscribe = engine.subscribe("unresponsive", self._note_unresponsive)
        unsubscribe_notice = engine.subscribe("notice", self._note_unresponsive)  # a remote's word on the request
        started = time.perf_counter()
        grounding: Grounding | None = None
        live: LiveThinking | None = None
        try:
            if engine.needs_load(conversation.sampling.n_ctx):
                self._set_state(SessionState.LOADING)
            grounding = await self._ground(conversation, history, engine, reply)
            if grounding is not None:
                history = grounding.messages
            fmt = self._reply_format()
            self._generation = await self._generate(engine, history, conversation, fmt)
            self._set_state(SessionState.STOPPING if self._stop_requested else SessionState.PROMPT)
            if self._stop_requested:
                await self._generation.cancel()
            async for kind, value in self._generation:
                if kind == "token":
                    if self._stop_requested:
                        continue
                    if self.state == SessionState.PROMPT:
                        self._set_state(SessionState.GENERATING)
                    reply.content += value
                    live = live or LiveThinking(self._generation.stats.thinking_open)
                    if live.feed(value):  # thinking's count and time so far, shown while it thinks
                        reply.stats = {**reply.stats, **live.stats()}
                        self.store.update_message(reply.id, content=reply.content, stats=reply.stats)
                    else:
                        self.store.update_message(reply.id, content=reply.content)
                    self.emit("message_updated", message=reply, delta=value)
                elif kind == "trimmed":
                    self._note_trimmed([mid for i in value if 0 <= i < len(sources) for mid in sources[i]])
            stats = self._generation.stats
            reply.stats = {**(live.stats() if live else {}), **stats.to_dict(), **self._engine_stats(engine),
                           "wall_ms": round((time.perf_counter() - started) * 1000, 1)}
            reply.status = MessageStatus.STOPPED if (stats.stopped or self._stop_requested) else MessageStatus.COMPLETE
            if fmt is not None:  # parsed and validated here: the note on the message says whether it held
                reply.stats["structured"] = structured.check_reply(
                    fmt, reply.content, finish_reason=stats.finish_reason,
                    stopped=reply.status == MessageStatus.STOPPED)
            self.store.update_message(reply.id, content=reply.content, status=reply.status, stats=reply.stats)
            if grounding is not None and grounding.cite is not None:
                cited = grounding.cite(prompt_content(reply))  # a [n] only thought about is not a citation
                self._keep_retrieval(reply, {**grounding.record, "citations": cited})
            self._note_answering_model(conversation, engine)
            self.emit("message_updated", message=reply, delta="")
            self.emit("context", used=stats.context_used, n_ctx=stats.n_ctx)
            self._set_state(SessionState.IDLE)
        except WorkerError as exc:
            if isinstance(engine, RemoteEngine):  # which engine failed stays with the reply
                reply.stats = {**reply.stats, **self._engine_stats(engine)}
            self._fail(reply, exc)
        except BaseException as exc:  # a store error, a cancelled task: never leave the chat stuck
            if self._generation is not None:
                try:
                    await asyncio.shield(self._generation.cancel())
                except BaseException:
                    pass
            self._fail(reply, WorkerError("internal", f"the reply could not continue: {type(exc).__name__}: {exc}"))
            if not isinstance(exc, Exception):
                raise
        finally:
            unsubscribe()
            unsubscribe_notice()
            self._generation = None
            self._stop_requested = False
            self._reply_ended.set()
            self._reply_task = self._reply_ended = None
        return reply

    def _reply_format(self) -> structured.OutputFormat | None:
        try:
            return self.output_format
        except structured.OutputFormatError as exc:  # a stored format that no longer builds
            raise WorkerError(exc.kind, f"The conversation's output format cannot be used: {exc}") from None

    @staticmethod
    async def _generate(engine: EngineClient | RemoteEngine, history: list[dict[str, str]],
                        conversation: Conversation, fmt: structured.OutputFormat | None) -> Generation | RemoteGeneration:
        if isinstance(engine, RemoteEngine):  # thinking off goes to the server as enable_thinking
            if fmt is None:
                return await engine.generate(history, conversation.sampling, **generate_args(conversation))
            try:
                response_format = structured.response_format(fmt)
            except structured.OutputFormatError as exc:
                raise WorkerError(exc.kind, str(exc)) from None
            return await engine.generate(history, conversation.sampling, response_format=response_format,
                                         **generate_args(conversation))
        return await engine.generate(history, conversation.sampling, grammar=fmt.grammar if fmt else None,
                                     **generate_args(conversation))

    async def _ground(self, conversation: Conversation, history: list[dict[str, str]],
                      engine: EngineClient | RemoteEngine, reply: Message) -> Grounding | None:
        """Retrieve for the question when collections are attached; the record is kept with the
        reply before it streams, so a reply cut short still shows what it was given."""
        collections = self.store.collections(conversation.id) if self.ground is not None else []
        if not collections or self.ground is None:
            return None
        if self.state == SessionState.IDLE:
            self._set_state(SessionState.PROMPT)  # busy from here: a second send is refused
        grounding = await self.ground(conversation, collections, history, engine)
        self._keep_retrieval(reply, grounding.record)
        return grounding

    def _keep_retrieval(self, reply: Message, record: dict[str, Any]) -> None:
        self.store.set_retrieval(reply.id, record)
        self.emit("retrieval", message=reply, record=record)

    def _note_answering_model(self, conversation: Conversation, engine: EngineClient | RemoteEngine) -> None:
        """The conversation records the engine that answered last: a remote's label, or the local
        model's path once the local engine answers after a remote one."""
        if isinstance(engine, RemoteEngine):
            answered = engine.label
        elif conversation.model.startswith(REMOTE_PREFIX) and engine.model_info is not None:
            answered = engine.model_info.path
        else:
            return
        if conversation.model != answered:
            self.conversation = self.store.update_conversation(conversation.id, model=answered)

    def _engine_stats(self, engine: EngineClient | RemoteEngine) -> dict[str, str]:
        """Which engine and model wrote a reply, kept in its stats."""
        if isinstance(engine, RemoteEngine):
            return {"model": engine.model, "engine": engine.label, "engine_url": engine.base_url}
        return {"model": engine.model_info.name if engine.model_info else ""}

    def _note_unresponsive(self, message: str) -> None:
        self.last_notice = message
        self.emit("notice", message=message)

    def _fail(self, reply: Message, exc: WorkerError) -> None:
        if exc.kind == "cancelled" or (self._stop_requested and exc.kind != "worker_crashed"):
            reply.status = MessageStatus.STOPPED
        else:
            reply.status = MessageStatus.INTERRUPTED if reply.content else MessageStatus.ERROR
            reply.stats = {**reply.stats, "error": exc.message, "error_kind": exc.kind}
        try:
            self.store.update_message(reply.id, content=reply.content, status=reply.status, stats=reply.stats)
        except Exception:  # the store itself failed; the reopened store marks it interrupted
            pass
        self.emit("message_updated", message=reply, delta="")
        if reply.status == MessageStatus.STOPPED:
            self._set_state(SessionState.IDLE)
            return
        self.last_error = (exc.kind, exc.message)
        self._set_state(SessionState.ERROR)
        self.emit("error", kind=exc.kind, message=exc.message, log_tail=exc.log_tail)

    def _note_trimmed(self, ids: list[int]) -> None:
        if not ids:
            return
        n = len(ids)
        note = (f"The conversation is longer than the context window: the {n} oldest message"
                f"{'s were' if n != 1 else ' was'} left out of the prompt (the system prompt is kept). "
                "Raise the context length in the settings to keep more.")
        self.emit("trimmed", ids=ids, note=note)

    @staticmethod
    def _in_prompt(message: Message) -> bool:
        return message.role in ("user", "assistant") and bool(message.content) and message.status != MessageStatus.ERROR

    def _prompt_messages(self, conversation: Conversation) -> tuple[list[dict[str, str]], list[list[int]]]:
        """The turns the model sees, and which stored messages each one came from.

        A reply that failed or was stopped empty leaves two user turns in a row, which strict
        templates ("roles must alternate") refuse: such runs are merged into one turn."""
        history = [{"role": "system", "content": conversation.system_prompt}] if conversation.system_prompt else []
        sources: list[list[int]] = [[] for _ in history]
        for m in self.messages:
            content = prompt_content(m)  # a reply's thinking stays out of later prompts
            if not self._in_prompt(m) or not content:
                continue
            if history and history[-1]["role"] == m.role:
                history[-1] = {"role": m.role, "content": f"{history[-1]['content']}\n\n{content}"}
                sources[-1].append(m.id)
            else:
                history.append({"role": m.role, "content": content})
                sources.append([m.id])
        return history, sources

    def _append(self, message: Message) -> None:
        self.messages.append(message)
        self.emit("message_added", message=message)
        try:
            self.branches[message.id] = self.store.branch_position(message.id)
        except (ChatStoreError, LookupError):  # only shown: never let it stop a reply
            return
        self.emit("branches", positions=dict(self.branches))

    def _hide_from(self, message_id: int) -> None:
        """Stop showing this message and those after it; the store keeps them as another branch."""
        index = next(i for i, m in enumerate(self.messages) if m.id == message_id)
        hidden = [m.id for m in self.messages[index:]]
        del self.messages[index:]
        self.emit("messages_removed", ids=hidden)

    def _set_state(self, state: SessionState) -> None:
        if state != self.state:
            self.state = state
            self.emit("state", state=state)

    def _require_idle(self) -> None:
        if self.state in (SessionState.WAITING, SessionState.LOADING, SessionState.PROMPT, SessionState.GENERATING,
                          SessionState.STOPPING):
            raise SessionBusy("a reply is still being generated: stop it first")

    def _require_conversation(self) -> Conversation:
        if self.conversation is None:
            raise ValueError("no conversation is open")
        return self.conversation
