"""The `render_prompt` engine op: messages → the exact prompt text the model reads, and its tokens.

Kept apart from worker.py (which is near its size limit); the Engine mixes it in. It renders with
the same template and tokenizer as `generate`, so a Retrieval panel can show the prompt exactly as
the model received it and count it the way the engine will.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from studio.core.workers.protocol import Request, operation

if TYPE_CHECKING:
    from studio.core.engine.worker import Engine


@dataclass
class RenderParams:
    messages: list[dict[str, str]]


class RenderResult(TypedDict):
    prompt: str
    tokens: int
    n_ctx: int


class RenderOps:
    @operation(RenderParams)
    def render_prompt(self: Engine, req: Request[RenderParams]) -> RenderResult:
        llm = self._require_model()
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in req.params.messages]
        # prompt_tokens renders again, but the tokens are then exactly the ones generate feeds.
        return {"prompt": self.render(messages), "tokens": len(self.prompt_tokens(messages)), "n_ctx": llm.n_ctx()}


def render_result(raw: dict[str, Any]) -> RenderResult:
    return {"prompt": str(raw.get("prompt", "")), "tokens": int(raw.get("tokens", 0)), "n_ctx": int(raw.get("n_ctx", 0))}
