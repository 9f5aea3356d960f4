"""The engine worker's typed requests (studio.core.engine.client sends them, .worker reads them).

Apart from the client because a dataclass costs ~0.7 ms to create (Python generates and compiles its
methods): the window imports the client at start-up, and a request is first made after it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadParams:
    path: str
    n_ctx: int = 4096
    n_gpu_layers: int = 0
    n_threads: int | None = None   # None: studio.core.hardware decides
    n_batch: int = 512
    flash_attn: bool = False
    lora: list[dict[str, Any]] = field(default_factory=list)  # [{"path", "scale"}]


@dataclass
class GenerateParams:
    messages: list[dict[str, str]]
    sampling: dict[str, Any]       # SamplingParams.to_dict() without n_ctx
    grammar: str | None = None     # GBNF text constraining the reply (e.g. JSON for a schema)
    stop: list[str] | None = None  # extra stop strings, on top of the model's own
    prompt: str | None = None      # raw text to continue instead of the chat-templated messages
    lookup: bool = True            # prompt-lookup drafting where it is exact (EngineSettings.prompt_lookup)
    thinking: bool | None = None   # False: thinking off (render.RenderOps.render); None: as the template decides


@dataclass
class TokenizeParams:
    text: str
    add_special: bool = True
    parse_special: bool = True


@dataclass
class SetLoraParams:
    adapters: list[dict[str, Any]]


@dataclass
class PerplexityParams:
    texts: list[str]
    max_tokens_per_text: int | None = None


@dataclass
class NextLogitsParams:
    text: str | None = None        # one of text, messages, tokens
    messages: list[dict[str, str]] | None = None
    tokens: list[int] | None = None
    top_k: int = 10
    ids: list[int] | None = None
    full: bool = False
    base: bool = False             # the model without its adapters (the "before" of a fine-tune)


@dataclass
class AttentionParams:
    text: str | None = None        # the text, or token ids
    tokens: list[int] | None = None
    chat: bool = False             # wrap the text as a user turn with the model's chat template
    max_tokens: int = 512          # longer prompts are cut (truncated_from says from how many)
    layers: list[int] | None = None  # None: every layer
    out_dir: str = ""              # where the worker writes the attention .npz
    n_ubatch: int | None = None    # llama.cpp's micro-batch for the capture context (None: 512)
    base: bool = False             # the model without its adapters (the "before" of a fine-tune)


@dataclass
class LensParams:
    text: str | None = None        # the text, or token ids
    tokens: list[int] | None = None
    chat: bool = False             # wrap the text as a user turn with the model's chat template
    top_k: int = 5
    max_tokens: int = 2048
    positions: int | None = 16     # the last N positions get top-1 rows (None: every position)
    n_ubatch: int | None = None
    base: bool = False


@dataclass
class EmbedParams:
    texts: list[str] | None = None          # the texts, or token ids (one list per text)
    tokens: list[list[int]] | None = None
