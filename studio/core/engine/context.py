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


def _exchanges(messages: Sequence[ChatMessage], pinned: set[int]) -> list[list[int]]:
    """Droppable messages grouped oldest first: a user turn goes together with its reply."""
    groups: list[list[int]] = []
    index = 0
    while index < len(messages):
        if index in pinned:
            index += 1
            continue
        group = [index]
        nxt = index + 1
        if messages[index].get("role") == "user" and nxt < len(messages) and nxt not in pinned \
                and messages[nxt].get("role") == "assistant":
            group.append(nxt)
        groups.append(group)
        index = group[-1] + 1
    return groups


def fit_messages(messages: Sequence[ChatMessage], n_ctx: int, reserve: int,
                 count_tokens: Callable[[list[ChatMessage]], int]) -> FitResult:
    """Drop the fewest oldest exchanges so the prompt fits in n_ctx - reserve tokens.

    Dropping more never makes a prompt longer, so the cut is found by binary search: a few
    renders even for a conversation of thousands of messages."""
    budget = n_ctx - reserve
    pinned = {i for i, m in enumerate(messages) if m.get("role") == "system"}
    if messages:
        pinned.add(len(messages) - 1)
    groups = _exchanges(messages, pinned)

    def attempt(k: int) -> tuple[list[int], list[ChatMessage], int]:
        dropped = sorted(i for group in groups[:k] for i in group)
        skip = set(dropped)
        kept = [m for i, m in enumerate(messages) if i not in skip]
        return dropped, kept, count_tokens(kept)

    dropped, kept, tokens = attempt(0)
    if tokens <= budget:
        return FitResult(kept, dropped, tokens)
    low, high = 1, len(groups)
    best: tuple[list[int], list[ChatMessage], int] | None = None
    if groups:
        everything = attempt(high)
        if everything[2] <= budget:
            best = everything
            while low < high:  # smallest k that fits, in [low, high]
                mid = (low + high) // 2
                trial = attempt(mid)
                if trial[2] <= budget:
                    best, high = trial, mid
                else:
                    low = mid + 1
    if best is None:
        smallest = everything[2] if groups else tokens
        raise ContextOverflow(
            f"the prompt needs {smallest} tokens but only {max(budget, 0)} of the {n_ctx}-token context "
            f"are free after reserving {reserve} for the reply: shorten the message or system prompt, "
            "lower max tokens, or raise the context length")
    return FitResult(best[1], best[0], best[2])
