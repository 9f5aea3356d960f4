"""Prompt rendering: messages → the exact prompt text the model reads, and its tokens; and the
`render_prompt` engine op.

Kept apart from worker.py (which is near its size limit); the Engine mixes it in. `render_prompt`
renders with the same template and tokenizer as `generate`, so a Retrieval panel can show the prompt
exactly as the model received it and count it the way the engine will.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, cast

from studio.core.engine import thinking
from studio.core.workers.protocol import Request, WorkerError, operation

if TYPE_CHECKING:
    from studio.core.engine.worker import Engine


@dataclass
class RenderParams:
    messages: list[dict[str, str]]
    thinking: bool | None = None  # False: thinking off (the template's switch, else an empty think block)


class RenderResult(TypedDict):
    prompt: str
    tokens: int
    n_ctx: int


class RenderOps:
    # The Engine's, which mixes these in (rendering needs its formatter and model).
    formatter: Any
    thinking_switch: bool
    bos_text: str

    def render(self, messages: list[dict[str, str]], think: bool | None = None) -> str:
        """The prompt for `messages`. `think` False turns thinking off: through the template's own
        enable_thinking where it has one, else by starting the reply with an empty think block."""
        assert self.formatter is not None
        switch: dict[str, Any] = {thinking.SWITCH_VARIABLE: think} if think is not None and self.thinking_switch else {}
        prompt: str | None = None
        try:
            prompt = self.formatter(messages=cast(Any, messages), **switch).prompt
        except Exception as exc:  # SecurityError, raise_exception() in the template, ...
            first_error = exc
        # Some templates (Gemma's) refuse a system turn: fold it into the first user message.
        if prompt is None and len(messages) > 1 and messages[0]["role"] == "system" and messages[1]["role"] == "user":
            folded = [{"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"},
                      *messages[2:]]
            try:
                prompt = self.formatter(messages=cast(Any, folded), **switch).prompt
            except Exception:
                pass
        if prompt is None:
            raise WorkerError("template", f"the chat template could not render this conversation: {first_error}")
        return thinking.without_thinking(prompt) if think is False and not self.thinking_switch else prompt

    def prompt_tokens(self, messages: list[dict[str, str]], think: bool | None = None) -> list[int]:
        llm = cast("Engine", self)._require_model()
        prompt = self.render(messages, think)
        # Follow the model's own add_bos flag, and never double a BOS the template already wrote.
        add_bos = bool(llm._model.add_bos_token()) and not (self.bos_text and prompt.startswith(self.bos_text))
        return llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    @operation(RenderParams)
    def render_prompt(self: Engine, req: Request[RenderParams]) -> RenderResult:
        llm = self._require_model()
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in req.params.messages]
        # prompt_tokens renders again, but the tokens are then exactly the ones generate feeds.
        return {"prompt": self.render(messages, req.params.thinking),
                "tokens": len(self.prompt_tokens(messages, req.params.thinking)), "n_ctx": llm.n_ctx()}


def render_result(raw: dict[str, Any]) -> RenderResult:
    return {"prompt": str(raw.get("prompt", "")), "tokens": int(raw.get("tokens", 0)), "n_ctx": int(raw.get("n_ctx", 0))}
