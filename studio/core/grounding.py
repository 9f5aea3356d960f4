"""Chat with documents: retrieval for a conversation's question, the prompt built from what was
found, and the record a Retrieval panel shows.

Sits above both chat and knowledge (neither imports the other): ChatSession calls a `Ground`
hook when the conversation has collections attached, and `KnowledgeGrounder` is that hook. For the
local engine the prompt is counted and shown exactly as the model reads it (the engine renders its
own chat template and tokenizes); a remote server applies its template itself, so there the
messages are shown as sent and the count is an estimate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import fields
from typing import Any

from studio.core.chat.conversation import Conversation
from studio.core.chat.session import Grounding
from studio.core.engine.client import EngineClient
from studio.core.engine.remote import RemoteEngine
from studio.core.knowledge.prompt import (
    DEFAULT_SYSTEM,
    BuiltPrompt,
    Messages,
    approx_count,
    build_prompt_async,
    parse_citations,
)
from studio.core.knowledge.retrieval import Candidate
from studio.core.knowledge.store import KnowledgeError
from studio.core.settings import KnowledgeSettings
from studio.core.workers.protocol import WorkerError

# (collections, question, mode=, top_k=, min_similarity=) → Retrieval.to_dict(); KnowledgeClient.query
# and KnowledgeLibrary.query both fit.
Query = Callable[..., Awaitable[dict[str, Any]]]

REMOTE_TEMPLATE_NOTE = ("The remote server applies its own chat template: these are the messages as sent, and the "
                        "token count is an estimate.")
_CANDIDATE_FIELDS = {f.name for f in fields(Candidate)}


def candidate_from_dict(data: dict[str, Any]) -> Candidate:
    return Candidate(**{k: v for k, v in data.items() if k in _CANDIDATE_FIELDS})


def reply_reserve(max_tokens: int, n_ctx: int) -> int:
    """Room kept for the reply, as the engine keeps it when it fits a conversation."""
    return min(max_tokens if max_tokens > 0 else n_ctx // 4, n_ctx // 2)


def messages_as_text(messages: Messages) -> str:
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


class KnowledgeGrounder:
    """The ChatSession `ground` hook: retrieve from the attached collections for the last user turn,
    fit the best chunks into the context as numbered sources, and keep the whole record."""

    def __init__(self, query: Query, *, settings: KnowledgeSettings | None = None,
                 instructions: str = DEFAULT_SYSTEM) -> None:
        self.query = query
        self.settings = settings or KnowledgeSettings()
        self.instructions = instructions

    async def __call__(self, conversation: Conversation, collections: list[str], history: list[dict[str, str]],
                       engine: EngineClient | RemoteEngine) -> Grounding:
        turns = [dict(m) for m in history]
        system = turns.pop(0)["content"] if turns and turns[0]["role"] == "system" else ""
        question = turns[-1]["content"] if turns and turns[-1]["role"] == "user" else ""
        record: dict[str, Any] = {"question": question, "collections": list(collections), "error": "",
                                  "settings": {"mode": self.settings.mode, "top_k": self.settings.top_k,
                                               "min_similarity": self.settings.min_similarity}}
        if not question:
            return self._without(history, record, "there is no question to search for")
        try:
            retrieval = await self.query(list(collections), question, mode=self.settings.mode,
                                         top_k=self.settings.top_k, min_similarity=self.settings.min_similarity)
        except (WorkerError, KnowledgeError) as exc:
            return self._without(history, record, f"searching {', '.join(collections)} failed: {exc}")
        candidates = [candidate_from_dict(c) for c in retrieval.get("candidates", [])]
        hits = [c for c in candidates if c.selected]
        system_prompt = f"{system}\n\n{self.instructions}" if system else self.instructions
        try:
            if isinstance(engine, RemoteEngine):
                built, prompt, n_ctx = await self._fit_remote(conversation, question, hits, system_prompt, turns[:-1])
            else:
                built, prompt, n_ctx = await self._fit_local(conversation, question, hits, system_prompt, turns[:-1],
                                                             engine)
        except (WorkerError, KnowledgeError) as exc:
            return self._without(history, record, f"the prompt with your documents could not be built: {exc}")
        sources = built.sources
        record.update({
            "retrieval": {**retrieval, "candidates": [c.to_dict() for c in candidates]},
            "sources": [s.to_dict() for s in sources], "messages": built.messages, "prompt": prompt,
            "tokens": built.tokens, "budget": built.budget, "n_ctx": n_ctx,
            "left_out": [c.to_dict() for c in built.left_out], "note": built.note(),
            "template": "remote" if isinstance(engine, RemoteEngine) else "engine",
            "template_note": REMOTE_TEMPLATE_NOTE if isinstance(engine, RemoteEngine) else ""})
        if not sources:
            record["note"] = (record["note"] + " " if record["note"] else "") + \
                "No passage was found for this question: the reply is answered without your documents."

        def cite(reply: str) -> dict[str, Any]:
            found = parse_citations(reply, sources)
            return {"found": [{"number": c.number, "span": [c.start, c.end], "source": c.source.to_dict()}
                              for c in found.found],
                    "unknown": found.unknown}
        return Grounding(built.messages, record, cite)

    @staticmethod
    def _without(history: list[dict[str, str]], record: dict[str, Any], why: str) -> Grounding:
        record["error"] = f"Retrieval did not run: {why}. This reply is answered without your documents."
        return Grounding([dict(m) for m in history], record)

    async def _fit_local(self, conversation: Conversation, question: str, hits: Sequence[Candidate], system_prompt: str,
                         prior: Messages, engine: EngineClient) -> tuple[BuiltPrompt, str, int]:
        info = await engine.ensure_loaded(conversation.sampling.n_ctx)
        rendered: dict[str, tuple[str, int]] = {}

        async def count(messages: Messages) -> int:
            result = await engine.render_prompt(messages)
            rendered[repr(messages)] = (result["prompt"], result["tokens"])
            return result["tokens"]

        built = await build_prompt_async(question, hits, context_tokens=info.n_ctx, count=count,
                                         system_prompt=system_prompt, history=prior,
                                         reply_tokens=reply_reserve(conversation.sampling.max_tokens, info.n_ctx))
        prompt, tokens = rendered.get(repr(built.messages)) or ("", 0)
        if not prompt:  # the fitting never counted these exact messages (cannot happen today): render them
            result = await engine.render_prompt(built.messages)
            prompt, tokens = result["prompt"], result["tokens"]
        built.tokens = tokens
        return built, prompt, info.n_ctx

    async def _fit_remote(self, conversation: Conversation, question: str, hits: Sequence[Candidate],
                          system_prompt: str, prior: Messages) -> tuple[BuiltPrompt, str, int]:
        n_ctx = conversation.sampling.n_ctx

        async def count(messages: Messages) -> int:
            return approx_count(messages)

        built = await build_prompt_async(question, hits, context_tokens=n_ctx, count=count,
                                         system_prompt=system_prompt, history=prior,
                                         reply_tokens=reply_reserve(conversation.sampling.max_tokens, n_ctx))
        return built, messages_as_text(built.messages), n_ctx
