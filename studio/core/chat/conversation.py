"""Plain data of a conversation; the store persists it, the session mutates it, the UI shows it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from studio.core.engine.sampling import SamplingParams


# New chats start with this; tiny models answer far better with a plain system prompt than with
# the one their template injects when none is given.
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


class MessageStatus(str, Enum):
    COMPLETE = "complete"
    STREAMING = "streaming"      # being written right now
    INTERRUPTED = "interrupted"  # the app or worker died while streaming; partial text kept
    STOPPED = "stopped"          # the user pressed Stop; partial text kept
    ERROR = "error"              # generation failed; `error` in stats says why


@dataclass
class Message:
    id: int
    conversation_id: int
    role: str  # "system" | "user" | "assistant"
    content: str
    status: MessageStatus = MessageStatus.COMPLETE
    created_at: float = 0.0
    # tokens, tokens_per_s, ttft_ms, prompt_tokens, n_ctx, finish_reason, error, model
    stats: dict[str, Any] = field(default_factory=dict)
    # The message this one follows (None: a first message); messages sharing a parent are alternatives.
    parent_id: int | None = None


@dataclass
class Conversation:
    id: int
    title: str
    system_prompt: str = ""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    model: str = ""  # path of the model last used in this conversation
    created_at: float = 0.0
    updated_at: float = 0.0
    # Options that are not sampling, e.g. "thinking": False, "output_format": {...}; unknown keys are kept.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SearchHit:
    conversation_id: int
    conversation_title: str
    message_id: int
    role: str
    snippet: str  # matched terms wrapped in [ and ]
    part: str = ""  # "thinking": the terms were found in a reply's thinking, and the snippet is from it
