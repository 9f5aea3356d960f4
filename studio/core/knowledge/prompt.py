"""Retrieved chunks → the chat messages the model receives, and citations in its reply → chunks.

`build_prompt()` numbers the sources [1], [2]… in fused-rank order and puts as many as fit the
context budget (context size minus room for the reply), measured by the caller's token counter on
the messages themselves — pass the engine's template-aware counter to get the model's own count.
A chunk that does not fit is left out and said so (a later, shorter one may still fit). Each
Candidate's `in_prompt` is set, so a Retrieval panel shows what went in.

`parse_citations()` finds [1], [1, 3], [1][2] and 【1】 in a reply and maps each to its source's
file and page or line range; numbers that name no source are returned apart, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Generator, Sequence

from studio.core.knowledge.retrieval import Candidate
from studio.core.knowledge.store import KnowledgeError

Messages = list[dict[str, str]]
CountMessages = Callable[[Messages], int]

DEFAULT_SYSTEM = ("Answer the question using the numbered sources. Cite the sources you use with their "
                  "numbers in square brackets, like [1] or [2][3]. If the sources do not contain the answer, "
                  "say so.")
_CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]")


def approx_tokens(text: str) -> int:
    """A rough count for when no tokenizer is at hand: one per CJK character, one per ~4 other
    characters (BPE vocabularies of chat models land near both)."""
    cjk = len(_CJK.findall(text))
    return cjk + (len(text) - cjk + 3) // 4


def approx_count(messages: Messages) -> int:
    return sum(approx_tokens(m["content"]) + 4 for m in messages)  # ~4 for each message's role markers


@dataclass
class Source:
    number: int
    candidate: Candidate

    def label(self) -> str:
        return f"{Path(self.candidate.path).name}, {self.candidate.location}"

    def to_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {"number": self.number, "chunk_id": c.chunk_id, "path": c.path, "location": c.location,
                "unit": c.unit, "start": c.start, "end": c.end}


@dataclass
class BuiltPrompt:
    messages: Messages
    sources: list[Source]
    left_out: list[Candidate]  # retrieved but did not fit
    tokens: int  # of `messages`, by the counter given
    budget: int  # what the prompt may use: context minus the reply's reserve

    def note(self) -> str:
        """One sentence for the user when chunks were left out ("" when all fitted)."""
        if not self.left_out:
            return ""
        names = ", ".join(f"{Path(c.path).name} ({c.location})" for c in self.left_out)
        return (f"{len(self.left_out)} retrieved passage{'' if len(self.left_out) == 1 else 's'} did not fit the "
                f"context and {'was' if len(self.left_out) == 1 else 'were'} left out: {names}")

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "sources": [s.to_dict() for s in self.sources],
                "left_out": [c.chunk_id for c in self.left_out], "tokens": self.tokens, "budget": self.budget,
                "note": self.note()}


def _user_message(question: str, sources: Sequence[Source]) -> str:
    parts = ["Sources:"]
    for s in sources:
        heading = f" — {s.candidate.heading}" if s.candidate.heading else ""
        parts.append(f"[{s.number}] {s.label()}{heading}\n{s.candidate.text}")
    parts.append(f"Question: {question}")
    return "\n\n".join(parts)


def _plan(question: str, candidates: Sequence[Candidate], context_tokens: int, system_prompt: str,
          reply_tokens: int, history: Messages | None) -> Generator[Messages, int, BuiltPrompt]:
    """The fitting itself, as a generator that yields messages to count and is sent their count,
    so one algorithm serves a plain counter and an async one (the engine's tokenizer)."""
    budget = context_tokens - reply_tokens
    prefix: Messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + list(history or [])

    def messages(sources: Sequence[Source]) -> Messages:
        return prefix + [{"role": "user", "content": _user_message(question, sources) if sources
                          else f"Question: {question}"}]

    bare = yield messages([])
    if bare > budget:
        raise KnowledgeError("context_overflow", f"the question and system prompt take {bare:,} tokens, more than the "
                                                 f"{budget:,} the context leaves after {reply_tokens:,} for the "
                                                 "reply; shorten them or load the model with a larger context")
    chosen: list[Source] = []
    left_out: list[Candidate] = []
    tokens = bare
    for candidate in candidates:
        trial = chosen + [Source(len(chosen) + 1, candidate)]
        n = yield messages(trial)
        if n <= budget:
            chosen, tokens = trial, n
            candidate.in_prompt = True
        else:
            left_out.append(candidate)
            candidate.in_prompt = False
    return BuiltPrompt(messages(chosen), chosen, left_out, tokens, budget)


def build_prompt(question: str, candidates: Sequence[Candidate], *, context_tokens: int,
                 system_prompt: str = DEFAULT_SYSTEM, reply_tokens: int = 512,
                 count: CountMessages = approx_count, history: Messages | None = None) -> BuiltPrompt:
    """The messages for `question` with as many of `candidates` (best first) as fit."""
    plan = _plan(question, candidates, context_tokens, system_prompt, reply_tokens, history)
    try:
        asked = next(plan)
        while True:
            asked = plan.send(count(asked))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def build_prompt_async(question: str, candidates: Sequence[Candidate], *, context_tokens: int,
                             count: Callable[[Messages], Awaitable[int]], system_prompt: str = DEFAULT_SYSTEM,
                             reply_tokens: int = 512, history: Messages | None = None) -> BuiltPrompt:
    """build_prompt with an async counter, e.g. the engine rendering its chat template and tokenizing."""
    plan = _plan(question, candidates, context_tokens, system_prompt, reply_tokens, history)
    try:
        asked = next(plan)
        while True:
            asked = plan.send(await count(asked))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


@dataclass
class Citation:
    number: int
    start: int  # the marker's span in the reply
    end: int
    source: Source


@dataclass
class Citations:
    found: list[Citation] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)  # numbers that name no source

    @property
    def sources(self) -> list[Source]:
        """The cited sources, each once, in order of first citation."""
        seen: dict[int, Source] = {}
        for c in self.found:
            seen.setdefault(c.number, c.source)
        return list(seen.values())


_MARKER = re.compile(r"[\[【]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】]")


def parse_citations(reply: str, sources: Sequence[Source]) -> Citations:
    by_number = {s.number: s for s in sources}
    result = Citations()
    for match in _MARKER.finditer(reply):
        for raw in re.split(r"[,，、]", match.group(1)):
            number = int(raw.strip())
            source = by_number.get(number)
            if source is None:
                if number not in result.unknown:
                    result.unknown.append(number)
            else:
                result.found.append(Citation(number, match.start(), match.end(), source))
    return result
