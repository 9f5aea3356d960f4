"""The OpenAI request bodies the server reads (pydantic), and the error body it answers with.

Unknown fields are ignored (clients send `user`, `logprobs: false`, … freely); wrong types are a 400
with one sentence, never a traceback.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Body):
    type: str = "text"
    text: str = ""


class Message(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[TextPart], None] = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if part.type == "text")


class JsonSchemaFormat(_Body):
    name: str = "response"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Body):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(_Body):
    include_usage: bool = False


class _Sampling(_Body):
    model: str
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: Union[str, list[str], None] = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    # llama.cpp's own knobs, as llama-cpp-python's server also takes them
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = None
    response_format: ResponseFormat | None = None
    # Reasoning models, with llama.cpp server's names: "none" answers the raw reply (its <think> block
    # in content); otherwise the thinking goes apart, in reasoning_content, as DeepSeek and vLLM send it.
    reasoning_format: Literal["auto", "deepseek", "none"] = "auto"
    # {"enable_thinking": false} turns thinking off (vLLM's and llama.cpp's way); other keys are ignored
    chat_template_kwargs: dict[str, Any] | None = None
    enable_thinking: bool | None = None  # the same switch as a top-level field (as some clients send it)


class CompletionRequest(_Sampling):
    prompt: Union[str, list[str]]
    max_tokens: int | None = 16  # OpenAI's default for completions
    response_format: ResponseFormat | None = None


class EmbeddingRequest(_Body):
    model: str
    input: Union[str, list[str], list[int], list[list[int]]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": param}}
