"""The Arena: two engines answer the same conversation side by side, the user picks the better answer,
and the conversation continues with it.

A contestant is a local GGUF model (optionally with LoRA adapters) or a remote engine's model. Who runs
where is decided per round by `plan()`:
- a local contestant whose model the app's engine holds answers there (the engine lease "arena", its
  adapters swapped for the round and put back after);
- another local model gets an engine worker of the arena's own when it fits in free memory next to
  what is loaded (studio.core.models.fit's estimate); it stays loaded between rounds and ends with
  close();
- when it does not fit, the app's engine loads it for its turn and then loads the chat's model back;
- a remote model streams from its server.
Both sides on the app's engine (the same model with and without an adapter, or not enough memory for
two models) answer one after the other; otherwise both stream at once. The plan's note says which
and why.

Events (Emitter): plan(plan) when a round starts; state(busy); side(side, reply) when a side's status
changes (loading, prompt, streaming, done, stopped, error); delta(side, text) per streamed piece;
round_done(round); picked(message, vote); notice(message) (e.g. the chat's model could not be put
back).

`pick(winner)` ("a", "b" or "tie") writes the round's question and the kept answer into the
conversation (its stats name the engine that wrote it and the arena result) and saves the vote
(studio.core.chat.arena_votes); `summary()` tallies the votes per pair.

A reasoning model's reply stays raw (its <think> block in the text, thinking_open/_tokens/_ms in its
stats, counted live while it streams), so the kept answer is split by the chat like any reply;
`Reply.parts()` splits it for the screen, and later rounds' prompts carry only earlier answers.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core import hardware
from studio.core.chat import arena_votes
from studio.core.chat.arena_votes import PairSummary, Vote
from studio.core.chat.conversation import (
    DEFAULT_SYSTEM_PROMPT,
    Conversation,
    Message,
    MessageStatus,
)
from studio.core.chat.store import ChatStore, title_from_text
from studio.core.chat.thinking import LiveThinking, prompt_content, split_reply
from studio.core.engine.client import EngineClient, Generation
from studio.core.engine.remote import RemoteEngine, RemoteGeneration
from studio.core.engine.sampling import SamplingParams
from studio.core.engine.thinking import Split
from studio.core.errors import StudioError
from studio.core.events import Emitter
from studio.core.limits import check_text
from studio.core.models.fit import FITS_SHARE, ModelShape, estimate
from studio.core.models.gguf_info import format_size
from studio.core.workers.protocol import WorkerError
from studio.core.workspace import EngineBusy, WaitCancelled, Workspace, normalized_path

SIDES = ("a", "b")
TIE = "tie"
WAITS_BEHIND = ("server",)  # like a chat reply: behind an API request, refused behind anyone else

# Runners: where a side answers.
MAIN = "main"      # the app's engine (the chat's)
OWN = "own"        # an engine worker of the arena's own
REMOTE = "remote"  # a remote server


class ArenaError(StudioError):
    pass


@dataclass(frozen=True)
class Contestant:
    """A local model file with its adapters, or a remote engine's model (the arena closes that engine)."""
    path: str = ""
    adapters: tuple[tuple[str, float], ...] = ()
    remote: RemoteEngine | None = field(default=None, compare=False, hash=False)

    @classmethod
    def local(cls, path: str | os.PathLike[str], adapters: list[dict[str, Any]] | None = None) -> Contestant:
        return cls(str(path), tuple((str(a["path"]), float(a.get("scale", 1.0))) for a in adapters or ()))

    @classmethod
    def of_remote(cls, engine: RemoteEngine) -> Contestant:
        return cls(remote=engine)

    @property
    def is_remote(self) -> bool:
        return self.remote is not None

    @property
    def adapter_list(self) -> list[dict[str, Any]]:
        return [{"path": p, "scale": s} for p, s in self.adapters]

    @property
    def key(self) -> str:
        """Stable across runs: what votes are counted by."""
        if self.remote is not None:
            return self.remote.label
        tail = "".join(f"+{normalized_path(p)}@{s:g}" for p, s in self.adapters)
        return f"local:{normalized_path(self.path)}{tail}"

    @property
    def label(self) -> str:
        """What people read: the model file's name, its adapters', or the remote label."""
        if self.remote is not None:
            return self.remote.label
        name = Path(self.path).stem
        if not self.adapters:
            return name
        return name + " + " + ", ".join(_adapter_name(p) + (f" ×{s:g}" if s != 1.0 else "") for p, s in self.adapters)


def _adapter_name(path: str) -> str:
    p = Path(path)
    return p.parent.name if p.stem in ("adapter", "adapter_model") and p.parent.name else p.stem


@dataclass
class Plan:
    mode: str                 # "parallel" | "sequential"
    reason: str               # "remote" | "fits" | "same_model" | "memory"
    detail: str               # why, in one clause (English: the CLI's and the log's; screens build theirs)
    runners: dict[str, str]   # side → MAIN | OWN | REMOTE
    # What a screen needs to say the same in its own language: the model or server the reason names
    # ("" for both), and the memory still needed and free, in bytes (fits / memory).
    name: str = ""
    need: int = 0
    free: int = 0

    @property
    def parallel(self) -> bool:
        return self.mode == "parallel"

    @property
    def note(self) -> str:
        """The sentence the screen shows: both at once or one after the other, and why."""
        return f"{'Both at once' if self.parallel else 'One after the other'}: {self.detail}"


@dataclass
class Reply:
    side: str
    contestant: Contestant
    text: str = ""
    status: str = "waiting"   # waiting, loading, prompt, streaming, done, stopped, error
    stats: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def usable(self) -> bool:
        return self.status in ("done", "stopped") and bool(self.text.strip())

    def parts(self) -> Split:
        """A reasoning model's thinking and answer (the text stays raw, as the chat stores it); a tag
        cut off at the end while it streams shows in neither."""
        return split_reply(self.text, self.stats, streaming=self.status == "streaming")


@dataclass
class Round:
    prompt: str
    history: list[dict[str, str]]
    plan: Plan
    replies: dict[str, Reply]
    finished: bool = False
    picked: str = ""            # "a", "b", "tie" once voted
    kept: str = ""              # the side whose answer joined the conversation
    message: Message | None = None
    started_at: float = field(default_factory=time.time)


def model_need(path: str, n_ctx: int) -> int:
    """Bytes a model needs loaded at n_ctx (fit.estimate); the file size when its header is unreadable
    (the load then says what is wrong)."""
    from studio.core.models.gguf_info import read_gguf_info
    try:
        info = read_gguf_info(path)
        return estimate(ModelShape.from_metadata(info.metadata), info.file_size, n_ctx).total
    except (StudioError, ValueError, OSError):
        try:
            return os.path.getsize(path)
        except OSError:
            return 0


class Arena(Emitter):
    def __init__(self, store: ChatStore, workspace: Workspace, a: Contestant, b: Contestant, *,
                 conversation_id: int | None = None, free_ram: Callable[[], int] = hardware.free_ram) -> None:
        super().__init__()
        self.store = store
        self.workspace = workspace
        self.contestants = {"a": a, "b": b}
        self.conversation: Conversation | None = None
        self.round: Round | None = None
        self._free_ram = free_ram
        self._workers: dict[str, EngineClient] = {}   # normalized model path → the arena's own worker
        self._generations: dict[str, Generation | RemoteGeneration] = {}
        self._loading: set[EngineClient] = set()  # engines loading a contestant's model now (Stop cancels)
        self._stop = asyncio.Event()
        self._busy = False
        self._ended: asyncio.Event | None = None
        self._check_pair(a, b)
        self.open(conversation_id)

    # -- setup ------------------------------------------------------------------------------
    @staticmethod
    def _check_pair(a: Contestant, b: Contestant) -> None:
        if a.key == b.key:
            raise ArenaError("same_contestant", "Both sides are the same model with the same adapters: pick two "
                                                "different contestants.")
        for c in (a, b):
            if c.remote is not None and not c.remote.model:
                raise ArenaError("no_model", f"No model is chosen on {c.remote.base_url}: pick one of its models.")
            if c.remote is None and not c.path:
                raise ArenaError("no_model", "Pick a model for each side.")

    def open(self, conversation_id: int | None) -> None:
        """Compare answers to this conversation (None: a new one is made when an answer is picked)."""
        self._require_idle()
        self.conversation = self.store.get_conversation(conversation_id) if conversation_id is not None else None
        self.round = None

    async def set_contestants(self, a: Contestant, b: Contestant) -> None:
        """Change who answers; workers and remote engines no longer needed are closed."""
        self._require_idle()
        self._check_pair(a, b)
        old = list(self.contestants.values())
        self.contestants = {"a": a, "b": b}
        self.round = None
        wanted = {normalized_path(c.path) for c in (a, b) if not c.is_remote}
        for path in [p for p in self._workers if p not in wanted]:
            await self._workers.pop(path).close()
        for c in old:
            if c.remote is not None and all(c.remote is not n.remote for n in (a, b)):
                await c.remote.close()

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def sampling(self) -> SamplingParams:
        return self.conversation.sampling if self.conversation else SamplingParams()

    def pair(self) -> tuple[str, str, str]:
        return arena_votes.pair_key(self.contestants["a"].key, self.contestants["b"].key)

    # -- the plan ---------------------------------------------------------------------------
    def plan(self) -> Plan:
        """Where each side answers this round, and whether both stream at once."""
        a = self.contestants["a"]
        runners = {s: REMOTE for s, c in self.contestants.items() if c.is_remote}
        local = {s: c for s, c in self.contestants.items() if not c.is_remote}
        if not local:
            return Plan("parallel", "remote", "both answer from remote servers.", runners)
        paths = {normalized_path(c.path) for c in local.values()}
        if len(local) == 2 and len(paths) == 1:
            runners.update({s: MAIN for s in local})
            return Plan("sequential", "same_model",
                        f"the same model ({Path(a.path).stem}) writes both answers on one "
                        "engine, its adapters swapped in between.", runners, name=Path(a.path).stem)
        loaded = normalized_path(self.workspace.model_path) if self.workspace.engine.ready else ""
        n_ctx = self.sampling.n_ctx
        # Models not loaded anywhere yet, and what they need.
        extra = {s: c for s, c in local.items() if normalized_path(c.path) != loaded
                 and normalized_path(c.path) not in self._workers}
        need = sum(model_need(c.path, n_ctx) for c in extra.values())
        free = self._free_ram()
        if not loaded and len(local) == 1:  # the app's engine is free to take it
            runners.update({s: MAIN for s in local})
        elif need <= free * FITS_SHARE:
            runners.update({s: MAIN if normalized_path(c.path) == loaded else OWN for s, c in local.items()})
        else:
            runners.update({s: MAIN for s in local})
            if len(local) == 2:
                name = next(iter(extra.values())).label if len(extra) == 1 else ""
                return Plan("sequential", "memory",
                            f"not enough memory for two models ({name or 'the two models'} needs about "
                            f"{format_size(need)}, {format_size(free)} is free), so the engine loads each in "
                            "turn.", runners, name=name, need=need, free=free)
        if len(local) == 1:
            remote = next(c for c in self.contestants.values() if c.is_remote)
            return Plan("parallel", "remote", f"{remote.label} answers from its server.", runners, name=remote.label)
        return Plan("parallel", "fits", f"both models fit in memory (about {format_size(need)} more "
                                        f"needed, {format_size(free)} free).", runners, need=need, free=free)

    # -- a round ----------------------------------------------------------------------------
    def history(self) -> list[dict[str, str]]:
        """The conversation's turns as a reply would see them (failed and empty replies left out, runs
        of one role merged, as the chat sends them)."""
        conversation = self.conversation
        system = conversation.system_prompt if conversation else DEFAULT_SYSTEM_PROMPT
        turns = [{"role": "system", "content": system}] if system else []
        if conversation is None:
            return turns
        for m in self.store.messages(conversation.id):
            content = prompt_content(m)  # a reply's thinking stays out of later prompts, as in the chat
            if m.role not in ("user", "assistant") or not content or m.status == MessageStatus.ERROR:
                continue
            if turns and turns[-1]["role"] == m.role:
                turns[-1] = {"role": m.role, "content": f"{turns[-1]['content']}\n\n{content}"}
            else:
                turns.append({"role": m.role, "content": content})
        return turns

    async def ask(self, text: str) -> Round:
        """Both contestants answer `text` after the conversation so far. A round not picked is dropped
        by the next ask."""
        text = check_text(text, "the message").strip()
        if not text:
            raise ValueError("the message is empty")
        self._require_idle()
        plan = self.plan()
        history = [*self.history(), {"role": "user", "content": text}]
        current = Round(text, history, plan, {s: Reply(s, self.contestants[s]) for s in SIDES})
        self.round = current
        self._stop = asyncio.Event()
        self._ended = asyncio.Event()
        self._set_busy(True)
        self.emit("plan", plan=plan)
        try:
            main = [s for s in SIDES if plan.runners[s] == MAIN]
            jobs = [self._answer_elsewhere(current, s) for s in SIDES if s not in main]
            if main:
                jobs.append(self._answer_on_main(current, main))
            await asyncio.gather(*jobs)
        finally:
            current.finished = True
            self._generations.clear()
            self._ended.set()
            self._set_busy(False)
            self.emit("round_done", round=current)
        return current

    async def stop(self) -> None:
        """Stop both answers now (what they got to stays); returns when the round has ended."""
        if not self._busy:
            return
        self._stop.set()
        await asyncio.gather(*(g.cancel() for g in list(self._generations.values())),
                             *(engine.cancel_load() for engine in list(self._loading)), return_exceptions=True)
        if self._ended is not None:
            await self._ended.wait()

    async def _answer_on_main(self, current: Round, sides: list[str]) -> None:
        """The sides the app's engine answers, one after the other, under its lease; the chat's model
        and adapters are put back afterwards."""
        engine = self.workspace.engine

        def matches(side: str) -> bool:
            c = current.replies[side].contestant
            return self.workspace.same_model(c.path) and _same(engine.lora, c.adapter_list)

        order = sorted(sides, key=lambda s: not matches(s))  # what is loaded now goes first: one swap fewer
        try:
            async with self.workspace.lease("arena", wait=WAITS_BEHIND, cancel=self._stop):
                before = engine.model_info.path if engine.ready and engine.model_info else ""
                before_ctx = engine.model_info.n_ctx if engine.model_info else None
                before_lora = engine.lora
                try:
                    for side in order:
                        reply = current.replies[side]
                        if self._stop.is_set():
                            self._set_side(reply, "stopped")
                            continue
                        if await self._prepare(reply, engine):
                            await self._stream(current, reply, engine)
                finally:
                    await self._put_back(engine, before, before_ctx, before_lora)
        except (WaitCancelled, EngineBusy) as exc:
            for side in sides:
                reply = current.replies[side]
                if isinstance(exc, WaitCancelled):
                    self._set_side(reply, "stopped")
                else:
                    reply.error = exc.message
                    self._set_side(reply, "error")

    async def _prepare(self, reply: Reply, engine: EngineClient) -> bool:
        """The engine with the side's model and adapters; False (the side failed or was stopped) when
        they cannot be had."""
        c = reply.contestant
        info = engine.model_info
        loaded = engine.ready and info is not None and normalized_path(info.path) == normalized_path(c.path)
        self._loading.add(engine)
        try:
            if not loaded:
                self._set_side(reply, "loading")
                await engine.load(c.path, n_ctx=self.sampling.n_ctx, lora=c.adapter_list)
            elif not _same(engine.lora, c.adapter_list):
                self._set_side(reply, "loading")
                await engine.set_lora(c.adapter_list)
        except WorkerError as exc:
            if self._stop.is_set():
                self._set_side(reply, "stopped")
            else:
                reply.error = exc.message
                self._set_side(reply, "error")
            return False
        finally:
            self._loading.discard(engine)
        return True

    async def _put_back(self, engine: EngineClient, path: str, n_ctx: int | None,
                        lora: list[dict[str, Any]]) -> None:
        if not path:
            return
        try:
            if not (engine.ready and self.workspace.same_model(path)):
                await engine.load(path, n_ctx=n_ctx, lora=lora)
            elif not _same(engine.lora, lora):
                await engine.set_lora(lora)
        except WorkerError as exc:
            self.emit("notice", message=f"The chat's model could not be put back after the arena round: "
                                        f"{exc.message}")

    async def _answer_elsewhere(self, current: Round, side: str) -> None:
        reply = current.replies[side]
        c = reply.contestant
        if c.remote is not None:
            await self._stream(current, reply, c.remote)
            return
        path = normalized_path(c.path)
        worker = self._workers.get(path)
        if worker is None:
            worker = self._workers[path] = EngineClient(settings=self.workspace.engine.settings)
        if await self._prepare(reply, worker):
            await self._stream(current, reply, worker)

    async def _stream(self, current: Round, reply: Reply, engine: EngineClient | RemoteEngine) -> None:
        if self._stop.is_set():
            self._set_side(reply, "stopped")
            return
        self._set_side(reply, "prompt")
        started = time.perf_counter()
        live: LiveThinking | None = None  # a reasoning model's thinking: its count and time while it streams
        try:
            generation = await engine.generate(current.history, self.sampling)
            self._generations[reply.side] = generation
            if self._stop.is_set():
                await generation.cancel()
            async for kind, value in generation:
                if kind != "token" or self._stop.is_set():
                    continue
                live = live or LiveThinking(generation.stats.thinking_open)
                if live.feed(value):
                    reply.stats = {**reply.stats, **live.stats()}
                if reply.status != "streaming":
                    self._set_side(reply, "streaming")
                reply.text += value
                self.emit("delta", side=reply.side, text=value)
            stats = generation.stats
            # the engine's exact thinking numbers win; a remote engine sends none, so the live ones stay
            reply.stats = {**(live.stats() if live else {}), **stats.to_dict(), **_identity(engine, reply.contestant),
                           "wall_ms": round((time.perf_counter() - started) * 1000, 1)}
            self._set_side(reply, "stopped" if stats.stopped or self._stop.is_set() else "done")
        except WorkerError as exc:
            reply.stats = {**reply.stats, **_identity(engine, reply.contestant)}
            if self._stop.is_set() and exc.kind != "worker_crashed":
                self._set_side(reply, "stopped")
            else:
                reply.error = exc.message
                self._set_side(reply, "error")
        finally:
            self._generations.pop(reply.side, None)

    # -- the vote ---------------------------------------------------------------------------
    def pick(self, winner: str, *, keep: str | None = None) -> Message:
        """Vote for "a", "b" or "tie" and continue the conversation with the winner's answer (a tie
        keeps `keep`'s, by default the first usable one). Returns the assistant message written."""
        current = self.round
        if current is None or not current.finished:
            raise ArenaError("no_round", "Ask something first and wait for both answers.")
        if current.picked:
            raise ArenaError("voted", "This round has been voted on already: ask the next question.")
        if winner not in (*SIDES, TIE):
            raise ValueError(f"winner must be 'a', 'b' or 'tie', not {winner!r}")
        kept = winner if winner != TIE else (keep or next((s for s in SIDES if current.replies[s].usable), "a"))
        reply = current.replies[kept]
        if not reply.usable:
            why = reply.error or "it is empty"
            raise ArenaError("unusable", f"Answer {kept.upper()} cannot continue the conversation ({why}): pick "
                                         "the other one or ask again.")
        other = current.replies["b" if kept == "a" else "a"]
        pair, first, _second = arena_votes.pair_key(current.replies["a"].contestant.key,
                                                    current.replies["b"].contestant.key)
        conversation = self.conversation or self._new_conversation(current.prompt)
        self.store.add_message(conversation.id, "user", current.prompt)
        stats = {**reply.stats, "arena": {"result": "tie" if winner == TIE else "won",
                                          "against": other.contestant.label, "pair": pair}}
        status = MessageStatus.STOPPED if reply.status == "stopped" else MessageStatus.COMPLETE
        message = self.store.add_message(conversation.id, "assistant", reply.text, status=status, stats=stats)
        labels = {r.contestant.key: r.contestant.label for r in current.replies.values()}
        by_key = {r.contestant.key: r for r in current.replies.values()}
        second_key = next(k for k in by_key if k != first)
        vote = arena_votes.save_vote(self.store, Vote(
            pair, labels[first], labels[second_key],
            "" if winner == TIE else current.replies[winner].contestant.key, current.prompt,
            {k: {"label": r.contestant.label, "side": r.side, "text": r.text, "stats": r.stats,
                 "status": r.status, "error": r.error} for k, r in by_key.items()},
            conversation.id, message.id))
        self.conversation = self.store.get_conversation(conversation.id)
        current.picked, current.kept, current.message = winner, kept, message
        self.emit("picked", message=message, vote=vote)
        return message

    def _new_conversation(self, prompt: str) -> Conversation:
        return self.store.create_conversation(title=title_from_text(prompt) or "Arena",
                                              system_prompt=DEFAULT_SYSTEM_PROMPT, sampling=self.sampling)

    def summary(self) -> list[PairSummary]:
        return arena_votes.summary(self.store)

    # -- lifecycle --------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop a round in flight and end the arena's own workers and remote connections."""
        await self.stop()
        workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            await worker.close()
        for c in self.contestants.values():
            if c.remote is not None:
                await c.remote.close()

    @property
    def workers(self) -> int:
        """How many engine workers of its own the arena runs now."""
        return sum(1 for w in self._workers.values() if w.worker.running)

    def _set_side(self, reply: Reply, status: str) -> None:
        reply.status = status
        self.emit("side", side=reply.side, reply=reply)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.emit("state", busy=busy)

    def _require_idle(self) -> None:
        if self._busy:
            raise ArenaError("busy", "The arena is still answering: stop it first.")


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    def norm(items: list[dict[str, Any]]) -> list[tuple[str, float]]:
        return [(normalized_path(x.get("path")), float(x.get("scale", 1.0))) for x in items]
    return norm(a) == norm(b)


def _identity(engine: EngineClient | RemoteEngine, contestant: Contestant) -> dict[str, Any]:
    """Which engine and model wrote an answer, kept in its stats (as the chat keeps them)."""
    if isinstance(engine, RemoteEngine):
        return {"model": engine.model, "engine": engine.label, "engine_url": engine.base_url,
                "contestant": contestant.label}
    info = engine.model_info
    return {"model": info.name if info else Path(contestant.path).stem, "model_path": contestant.path,
            "adapters": contestant.adapter_list, "contestant": contestant.label}


__all__ = ["MAIN", "OWN", "REMOTE", "SIDES", "TIE", "Arena", "ArenaError", "Contestant", "Plan", "Reply", "Round",
           "model_need"]
