"""Fitting a conversation into the model's context window.

When the rendered prompt plus room for the reply exceeds n_ctx, the oldest turns go first; the
system prompt and the newest user message always stay. The caller tells the user what was dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

ChatMessage = dict  # {"role": ..., "content": ...}


@dataclass
class FitResult:
    messages: list[ChatMessage]
    dropped: list[int]  # indices into the input list, oldest first
    prompt_tokens: int


class ContextOverflow(Exception):
    """Even the system prompt and the last message alone do not fit."""


def fit_messages(messages: Sequence[ChatMessage], n_ctx: int, reserve: int,
                 count_tokens: Callable[[list[ChatMessage]], int]) -> FitResult:
    budget = n_ctx - reserve
    indexed = list(enumerate(messages))
    pinned = {i for i, m in indexed if m.get("role") == "system"}
    if indexed:
        pinned.add(indexed[-1][0])
    dropped: list[int] = []
    kept = indexed
    while True:
        tokens = count_tokens([m for _, m in kept])
        if tokens <= budget:
            return FitResult([m for _, m in kept], dropped, tokens)
        droppable = [i for i, _ in kept if i not in pinned]
        if not droppable:
            raise ContextOverflow(
                f"the prompt needs {tokens} tokens but only {max(budget, 0)} of the {n_ctx}-token context "
                f"are free after reserving {reserve} for the reply: shorten the message or system prompt, "
                "lower max tokens, or raise the context length")
        # Drop a whole exchange (the oldest message and, if it is a user turn, its reply).
        first = droppable[0]
        group = [first]
        nxt = next((i for i, _ in kept if i > first), None)
        if messages[first].get("role") == "user" and nxt is not None and nxt not in pinned \
                and messages[nxt].get("role") == "assistant":
            group.append(nxt)
        dropped.extend(group)
        kept = [(i, m) for i, m in kept if i not in group]
