"""A reply's thinking as the chat keeps, shows, sends, searches and exports it.

A reply is stored raw (content holds its <think> block); it is split wherever it is used. Stats keep
thinking_open (the prompt pre-opened the block, so the reply starts inside it), thinking_tokens and
thinking_ms. Later prompts carry only the answer, the way Qwen3's and DeepSeek-R1's templates drop
earlier turns' thinking themselves (templates that do not know thinking would otherwise show it to the
model). The per-conversation switch is options["thinking"] (absent: on).
"""

from __future__ import annotations

import re
import time
from typing import Any

from studio.core.chat.conversation import Conversation, Message, MessageStatus
from studio.core.engine.thinking import Split, ThinkTracker, split

OPTION_KEY = "thinking"


def thinking_on(conversation: Conversation | None) -> bool:
    """The conversation's switch: on unless turned off."""
    return conversation is None or conversation.options.get(OPTION_KEY) is not False


def generate_args(conversation: Conversation) -> dict[str, Any]:
    """The engine's generate() arguments for the switch (nothing while thinking is on), local or remote."""
    return {} if thinking_on(conversation) else {"thinking": False}


def split_reply(content: str, stats: dict[str, Any] | None = None, streaming: bool = False) -> Split:
    return split(content, opened=bool((stats or {}).get("thinking_open")), streaming=streaming)


def split_message(message: Message) -> Split:
    if message.role != "assistant":
        return Split(None, message.content, False)
    return split_reply(message.content, message.stats, message.status == MessageStatus.STREAMING)


def prompt_content(message: Message) -> str:
    """What a message contributes to a later prompt: an assistant reply's answer, without thinking
    ("" for a reply stopped mid-thought, which is then left out like an empty one)."""
    if message.role != "assistant":
        return message.content
    parts = split_reply(message.content, message.stats)
    return parts.answer if parts.thinking is not None else message.content


def search_text(content: str, terms: list[str]) -> tuple[str, str]:
    """The part of an assistant reply a search hit is shown from: ("thinking", its thinking) when the
    terms are found there rather than in the answer, else ("", the answer); tags never show."""
    parts = split(content)
    if parts.thinking is None:
        return "", content

    def found(text: str) -> int:
        return sum(1 for term in terms if re.search(re.escape(term), text, re.IGNORECASE))
    if found(parts.thinking) > found(parts.answer):
        return "thinking", parts.thinking
    return "", parts.answer


class LiveThinking:
    """A reply's thinking while it streams: its token count (one per streamed piece) and time so far,
    shown before the engine's exact numbers arrive with the finished reply (a remote engine sends none)."""

    def __init__(self, opened: bool = False) -> None:
        self.opened = opened
        self.tracker = ThinkTracker(opened)
        self.started = 0.0
        self.ended = 0.0

    def feed(self, delta: str) -> bool:
        """Take the next piece; True when the thinking's numbers changed."""
        if not self.started:
            self.started = time.perf_counter()
        if self.ended:
            return False
        self.tracker.feed(delta)
        if self.tracker.closed:
            self.ended = time.perf_counter()
        return self.tracker.seen

    def stats(self) -> dict[str, Any]:
        """thinking_open, thinking_tokens, thinking_ms so far ({} when the reply has not thought)."""
        if not self.tracker.seen:
            return {}
        elapsed = (self.ended or time.perf_counter()) - self.started
        return {"thinking_open": self.opened, "thinking_tokens": self.tracker.thinking_chunks,
                "thinking_ms": round(elapsed * 1000, 1)}


def export_parts(message: Message) -> dict[str, Any]:
    """A reply's thinking and answer as their own fields of a JSON export ({} without thinking);
    "content" keeps the raw reply, so a re-import loses nothing."""
    parts = split_message(message)
    if parts.thinking is None:
        return {}
    return {"thinking": parts.thinking, "answer": parts.answer, "thinking_closed": parts.closed}


def markdown_lines(message: Message) -> list[str]:
    """A message's text for a Markdown export; a reply's thinking comes first as a collapsed
    <details> section (GitHub and most viewers fold it; plain text still reads in order)."""
    parts = split_message(message)
    if parts.thinking is None:
        return [message.content.rstrip("\n"), ""] if message.content else []
    seconds = float(message.stats.get("thinking_ms") or 0) / 1000
    tokens = int(message.stats.get("thinking_tokens") or 0)
    summary = "Thinking" + (f" ({seconds:.1f} s, {tokens} tokens)" if tokens else "")
    if not parts.closed:
        summary += ", cut off"
    lines = [f"<details><summary>{summary}</summary>", "", parts.thinking, "", "</details>", ""]
    return lines + ([parts.answer.rstrip("\n"), ""] if parts.answer else [])
