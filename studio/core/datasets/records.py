"""Canonical examples and the record shapes they come from (Alpaca, ShareGPT, OpenAI chat,
prompt/completion, plain text), plus the column-mapping guess for tables and odd field names.

Every converter either returns the canonical content or raises `RecordProblem` with a sentence
that the caller prefixes with file and line.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from studio.core.errors import StudioError

FORMATS = ("alpaca", "sharegpt", "openai", "prompt_completion", "text")
FORMAT_TITLES = {
    "alpaca": "Alpaca (instruction/input/output)",
    "sharegpt": "ShareGPT (conversations with from/value)",
    "openai": "OpenAI chat (messages with role/content)",
    "prompt_completion": "prompt/completion",
    "text": "plain text",
}
# The field whose presence marks a record's shape; used to spot mixed formats within one file.
_MARKERS = (("openai", "messages"), ("sharegpt", "conversations"), ("alpaca", "instruction"),
            ("prompt_completion", "completion"), ("text", "text"))
_ROLES = {
    "system": "system", "developer": "system",
    "user": "user", "human": "user",
    "assistant": "assistant", "gpt": "assistant", "model": "assistant", "bot": "assistant",
    "chatgpt": "assistant",
}


class DatasetError(StudioError):
    """A whole file is unusable (empty, binary, undecodable, unrecognised). `message` is the bare
    sentence; str() puts the file name (and line) in front of it."""

    def __init__(self, path: str | Path, line: int, message: str, kind: str = "dataset") -> None:
        self.path = str(path)
        self.line = line
        super().__init__(kind, message)

    def __str__(self) -> str:
        where = Path(self.path).name
        return f"{where}:{self.line}: {self.message}" if self.line else f"{where}: {self.message}"


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str
    severity: str = "error"  # "error": the record is skipped; "warning": it is kept

    def __str__(self) -> str:
        where = Path(self.path).name
        return f"{where}:{self.line}: {self.message}" if self.line else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": str(self)}


@dataclass(frozen=True)
class Example:
    messages: tuple[dict, ...] | None
    text: str | None
    path: str
    line: int

    def key(self) -> tuple:
        """What the example says, without where it came from."""
        if self.messages is None:
            return ("text", self.text)
        return ("messages", tuple((m["role"], m["content"]) for m in self.messages))

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(m["role"] for m in self.messages) if self.messages else ()


@dataclass
class ColumnMapping:
    """Which source column (or JSON field) feeds which canonical field."""

    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    system: str | None = None
    prompt: str | None = None
    completion: str | None = None
    text: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_dict(cls, data: "Mapping[str, Any] | ColumnMapping | None") -> "ColumnMapping | None":
        if data is None or isinstance(data, ColumnMapping):
            return data
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown mapping field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**{k: (str(v) if v not in (None, "") else None) for k, v in data.items()})

    def implied_format(self) -> str | None:
        if self.prompt and self.completion:
            return "prompt_completion"
        if self.instruction and self.output:
            return "alpaca"
        if self.text:
            return "text"
        return None

    def used(self) -> list[str]:
        return [v for v in asdict(self).values() if v]


class RecordProblem(Exception):
    """One record cannot become an example; the message is a sentence without file/line."""


# --- record shape ------------------------------------------------------------------------------

def record_shape(record: Mapping[str, Any]) -> str | None:
    """The format a record's own fields announce, or None for unfamiliar field names."""
    for fmt, marker in _MARKERS:
        if marker in record:
            if fmt == "prompt_completion" and "prompt" not in record:
                continue
            return fmt
    if "prompt" in record:  # a prompt whose completion is missing is still prompt/completion
        return "prompt_completion"
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _checked(text: str, what: str) -> str:
    # JSON's \ud800 escapes decode to lone surrogates, which no tokenizer can encode as UTF-8.
    bad = _SURROGATE.search(text)
    if bad:
        raise RecordProblem(f"{what} holds an invalid character (a lone UTF-16 surrogate \\u{ord(bad.group()):04x} "
                            f"at character {bad.start() + 1})")
    return text


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return _checked(value, what)
    if isinstance(value, bool) or value is None:
        raise RecordProblem(f"{what} is {'empty (null)' if value is None else 'true/false'}, expected text")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordProblem(f"{what} is {value} (not a number), expected text")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and value and all(isinstance(p, dict) for p in value):
        # OpenAI content parts: keep the text parts, refuse images and audio.
        texts = []
        for i, part in enumerate(value, 1):
            kind = part.get("type", "text")
            if kind != "text":
                kinds = sorted({str(p.get("type")) for p in value if p.get("type", "text") != "text"})
                raise RecordProblem(f"{what} holds {', '.join(kinds)} parts; only text can be trained")
            if not isinstance(part.get("text"), str):
                raise RecordProblem(f"{what}: text part {i} has no 'text' string")
            texts.append(part["text"])
        return _checked("".join(texts), what)
    if isinstance(value, list) and value and all(isinstance(p, str) for p in value):
        return _checked("".join(value), what)  # a list of strings: pieces of one text
    if isinstance(value, list) and not value:
        raise RecordProblem(f"{what} is an empty list, expected text")
    raise RecordProblem(f"{what} is a {type(value).__name__ if not isinstance(value, dict) else 'JSON object'}, expected text")


def _field(record: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    if name not in record or (record[name] is None and not required):
        if required:
            raise RecordProblem(f"missing field '{name}'")
        return ""
    return _text(record[name], f"field '{name}'")


def _list_field(record: Mapping[str, Any], name: str) -> Any:
    if name not in record:
        raise RecordProblem(f"missing field '{name}'")
    return record[name]


def _finish(messages: list[dict[str, str]]) -> tuple[dict, ...]:
    # An empty system prompt says nothing; other empty turns are real mistakes.
    messages = [m for m in messages if m["role"] != "system" or m["content"].strip()]
    if not messages:
        raise RecordProblem("empty example: no messages")
    for i, m in enumerate(messages, 1):
        if not m["content"].strip():
            raise RecordProblem(f"empty example: message {i} ({m['role']}) has no text")
    if not any(m["role"] == "assistant" for m in messages):
        raise RecordProblem("no assistant reply to learn from")
    return tuple(messages)


def _turns(items: Any, container: str, role_key: str, text_key: str) -> list[dict[str, str]]:
    if not isinstance(items, list):
        raise RecordProblem(f"field '{container}' should be a list of messages")
    out = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise RecordProblem(f"message {i} in '{container}' is not an object")
        rk = role_key if role_key in item else ("role" if "role" in item else "from")
        tk = text_key if text_key in item else ("content" if "content" in item else "value")
        if rk not in item:
            raise RecordProblem(f"message {i} in '{container}' has no '{role_key}' field")
        raw_role = item[rk]
        role = _ROLES.get(str(raw_role).strip().lower()) if isinstance(raw_role, str) else None
        if role is None:
            raise RecordProblem(f"unknown role {raw_role!r} in message {i} (expected system, user or "
                                "assistant; ShareGPT's human and gpt work too)")
        if tk not in item:
            raise RecordProblem(f"message {i} ({role}) has no '{text_key}' field")
        out.append({"role": role, "content": _text(item[tk], f"message {i} ({role})")})
    return out


def _as_messages(value: Any, what: str, default_role: str) -> list[dict[str, str]]:
    if isinstance(value, list) and any(isinstance(v, dict) and ("role" in v or "from" in v) for v in value):
        return _turns(value, what, "role", "content")
    return [{"role": default_role, "content": _text(value, f"field '{what}'")}]


def convert(record: Mapping[str, Any], fmt: str, mapping: ColumnMapping | None = None) -> tuple[tuple[dict, ...] | None, str | None]:
    """Turn one record into (messages, text). Raises RecordProblem."""
    m = mapping or ColumnMapping()
    if fmt == "openai":
        return _finish(_turns(_list_field(record, "messages"), "messages", "role", "content")), None
    if fmt == "sharegpt":
        return _finish(_turns(_list_field(record, "conversations"), "conversations", "from", "value")), None
    if fmt == "alpaca":
        instruction = _field(record, m.instruction or "instruction")
        extra = _field(record, m.input or "input", required=False) if (m.input or "input" in record) else ""
        output = _field(record, m.output or "output")
        system = _field(record, m.system or "system", required=False) if (m.system or "system" in record) else ""
        if not instruction.strip() and not extra.strip():
            raise RecordProblem(f"empty example: field '{m.instruction or 'instruction'}' is empty")
        if not output.strip():
            raise RecordProblem(f"empty example: field '{m.output or 'output'}' is empty")
        user = f"{instruction}\n\n{extra}" if instruction.strip() and extra.strip() else (instruction if instruction.strip() else extra)
        msgs = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}, {"role": "assistant", "content": output}]
        return _finish(msgs), None
    if fmt == "prompt_completion":
        pk, ck = m.prompt or "prompt", m.completion or "completion"
        for key in (pk, ck):
            if key not in record:
                raise RecordProblem(f"missing field '{key}'")
        system = _field(record, m.system or "system", required=False) if (m.system or "system" in record) else ""
        msgs = ([{"role": "system", "content": system}] if system else []) + \
            _as_messages(record[pk], pk, "user") + _as_messages(record[ck], ck, "assistant")
        return _finish(msgs), None
    if fmt == "text":
        key = m.text or "text"
        text = _field(record, key)
        if not text.strip():
            raise RecordProblem(f"empty example: field '{key}' is empty")
        return None, text
    raise RecordProblem(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


# --- column mapping guess ----------------------------------------------------------------------

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "system": ("system", "system_prompt", "sys", "系统", "系统提示", "系统提示词"),
    "instruction": ("instruction", "instructions", "question", "query", "user", "human", "ask",
                    "q", "prompt", "input_text", "指令", "问题", "提问", "问", "用户"),
    "input": ("input", "context", "输入", "上下文"),
    "output": ("output", "answer", "response", "reply", "assistant", "gpt", "target", "completion",
               "a", "输出", "回答", "答案", "答", "回复"),
    "prompt": ("prompt",),
    "completion": ("completion",),
    "text": ("text", "content", "document", "body", "passage", "文本", "内容", "正文"),
}


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def guess_mapping(columns: list[str]) -> tuple[str | None, ColumnMapping | None, str]:
    """(format, mapping, note) for records with these field names; format None when nothing fits."""
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(_norm(col), col)

    def pick(role: str, taken: set[str]) -> str | None:
        for syn in _SYNONYMS[role]:
            col = by_norm.get(syn)
            if col is not None and col not in taken:
                return col
        return None

    taken: set[str] = set()
    system = pick("system", taken)
    if system:
        taken.add(system)
    prompt, completion = pick("prompt", taken), pick("completion", taken)
    if prompt and completion:
        mapping = ColumnMapping(prompt=prompt, completion=completion, system=system)
        return "prompt_completion", mapping, f"prompt/completion from columns '{prompt}' and '{completion}'"
    output = pick("output", taken)
    if output:
        taken.add(output)
    instruction = pick("instruction", taken)
    if instruction:
        taken.add(instruction)
    extra = pick("input", taken)
    if output and not instruction and extra:  # input/output tables: the input is the question
        instruction, extra = extra, None
    if instruction and output:
        mapping = ColumnMapping(instruction=instruction, input=extra, output=output, system=system)
        used = ", ".join(f"'{c}'" for c in (instruction, extra) if c)
        return "alpaca", mapping, f"prompt from {used}, reply from '{output}'"
    text = pick("text", set())
    if text:
        return "text", ColumnMapping(text=text), f"plain text from column '{text}'"
    if len(columns) == 2:
        mapping = ColumnMapping(instruction=columns[0], output=columns[1])
        return "alpaca", mapping, (f"guessed: '{columns[0]}' is the prompt and '{columns[1]}' the reply; "
                                   "change the column mapping if that is wrong")
    if len(columns) == 1:
        return "text", ColumnMapping(text=columns[0]), f"plain text from the only column '{columns[0]}'"
    return None, None, ("could not tell which field holds the prompt and which the reply "
                        f"(fields: {', '.join(repr(c) for c in columns[:12])}); choose a column mapping")
