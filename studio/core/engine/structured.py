"""Structured output: a reply constrained to JSON, to a JSON schema, or to a GBNF grammar.

One place turns what the user gave (a conversation's output format, `studio chat --json-schema`, an
API request's response_format) into the GBNF text the engine samples with, and checks a finished
reply: it parses, matches the schema, and was not cut at the token limit.

llama.cpp parses a grammar only when a sampler is made from it, and a grammar it rejects makes
llama-cpp-python hand a null sampler to the chain: a segfault. So a grammar is parsed first, with
llama.cpp's own parser, in the engine worker before it generates and, for a check on entry, in a
short-lived process of its own (`check_grammar`) so the app never runs the parser itself.

A reasoning model cannot think under a grammar (it holds from the first token, and a think block is
not JSON): with one, the engine worker turns thinking off where the template has a switch or pre-opens
<think> (thinking.under_grammar), so the reply is the JSON alone, with no <think> block to split off.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

from studio.core.errors import StudioError

KINDS = ("json", "json_schema", "gbnf")
OPTION_KEY = "output_format"   # Conversation.options[OPTION_KEY] = {"kind": ..., "text": ...}
# Below this many tokens even a small JSON object is often cut before it closes.
LOW_MAX_TOKENS = 128
CHECK_TIMEOUT_S = 30.0


class OutputFormatError(StudioError):
    """What is wrong with a schema or grammar, as one sentence (kind "bad_schema" or "bad_grammar")."""


@dataclass(frozen=True)
class OutputFormat:
    kind: str                           # one of KINDS
    text: str = ""                      # the schema (JSON text) or the grammar (GBNF) as the user gave it
    grammar: str = ""                   # the GBNF the engine samples with
    schema: dict[str, Any] | None = None
    unenforced: tuple[str, ...] = ()    # schema keywords the grammar cannot hold; checked after the reply only

    @property
    def is_json(self) -> bool:
        return self.kind in ("json", "json_schema")

    def to_option(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}


def json_error(exc: json.JSONDecodeError) -> str:
    return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"


def load_schema(text: str) -> dict[str, Any]:
    """A JSON schema from its text, checked against its meta-schema."""
    import jsonschema

    if not text.strip():
        raise OutputFormatError("bad_schema", "the JSON schema is empty: paste or load one")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutputFormatError("bad_schema", f"the JSON schema is not valid JSON: {json_error(exc)}") from None
    if not isinstance(schema, dict):
        raise OutputFormatError("bad_schema", "the JSON schema must be a JSON object, like "
                                              '{"type": "object", "properties": {…}}')
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise OutputFormatError("bad_schema", f"the JSON schema is not a valid schema: {exc.message}"
                                              + (f" (at {where})" if where else "")) from None
    return schema


def schema_grammar(schema: dict[str, Any]) -> str:
    """The GBNF that makes llama.cpp write only JSON matching `schema`."""
    from llama_cpp import llama_grammar

    try:
        grammar = str(llama_grammar.json_schema_to_gbnf(json.dumps(schema)))
    except Exception as exc:  # noqa: BLE001 - unsupported keywords, bad $refs, ...
        raise OutputFormatError("bad_schema", f"the JSON schema cannot be turned into a grammar: {exc}") from None
    # This converter lets a string hold raw control characters (a newline), which JSON forbids:
    # 2 of 100 sampled replies did not parse. Strings take escapes for those instead.
    return grammar.replace(_LOOSE_CHAR, _STRICT_CHAR)


_LOOSE_CHAR = r'char ::= [^"\\] |'
_STRICT_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'


# Keywords llama.cpp's schema converter leaves out of the grammar (numeric ranges among them): a reply
# can break them, and only the check after the reply catches it.
_NOT_IN_GRAMMAR = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems",
                   "not", "if", "minProperties", "maxProperties", "contains", "patternProperties",
                   "dependentRequired", "dependentSchemas", "propertyNames")


def unenforced_keywords(schema: Any) -> tuple[str, ...]:
    """The keywords anywhere in `schema` that the grammar does not enforce, in first-seen order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _NOT_IN_GRAMMAR and key not in found:
                    found.append(key)
                if key in ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas"):
                    for sub in value.values() if isinstance(value, dict) else ():
                        walk(sub)
                elif key != "enum" and key != "const":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return tuple(found)


def unenforced_note(fmt: OutputFormat) -> str | None:
    if not fmt.unenforced:
        return None
    return (f"{', '.join(fmt.unenforced)} cannot be enforced while the reply is written, only checked after it: "
            "a reply can still break them")


def json_grammar() -> str:
    from llama_cpp import llama_grammar

    return str(llama_grammar.JSON_GBNF)


def build(kind: str, text: str = "", *, check: bool = True) -> OutputFormat:
    """An output format from what the user gave; OutputFormatError says what is wrong with it.
    `check` parses a GBNF grammar with llama.cpp (in a separate process)."""
    if kind == "json":
        return OutputFormat("json", "", json_grammar())
    if kind == "json_schema":
        schema = load_schema(text)
        return OutputFormat("json_schema", text, schema_grammar(schema), schema, unenforced_keywords(schema))
    if kind == "gbnf":
        if not text.strip():
            raise OutputFormatError("bad_grammar", "the grammar is empty: paste or load a GBNF grammar")
        if check:
            check_grammar(text)
        return OutputFormat("gbnf", text, text)
    raise OutputFormatError("bad_request", f"unknown output format {kind!r}; use one of {', '.join(KINDS)}")


def from_options(options: dict[str, Any]) -> OutputFormat | None:
    """A conversation's output format (None: free text). A stored one that no longer builds raises."""
    stored = options.get(OPTION_KEY)
    if not isinstance(stored, dict) or stored.get("kind") not in KINDS:
        return None
    return build(str(stored["kind"]), str(stored.get("text") or ""), check=False)  # the worker parses GBNF


def response_format(fmt: OutputFormat) -> dict[str, Any]:
    """The OpenAI response_format asking a remote engine for the same; GBNF has none."""
    if fmt.kind == "json":
        return {"type": "json_object"}
    if fmt.kind == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "reply", "schema": fmt.schema, "strict": True}}
    raise OutputFormatError("bad_grammar", "a GBNF grammar works with the local engine only: remote engines "
                                           "take JSON or a JSON schema")


def max_tokens_note(max_tokens: int) -> str | None:
    """A warning when the token limit is likely to cut a JSON reply before it closes."""
    if 0 < max_tokens < LOW_MAX_TOKENS:
        return (f"Max tokens is {max_tokens}: a reply cut at the limit is not valid JSON. Raise it, or bound "
                "the schema's strings and arrays (maxLength, maxItems).")
    return None


def check_reply(fmt: OutputFormat, text: str, *, finish_reason: str = "stop", stopped: bool = False) -> dict[str, Any]:
    """{"kind", "valid", "reason"} for a finished reply: whether it parses and matches the schema."""
    outcome: dict[str, Any] = {"kind": fmt.kind, "valid": False, "reason": None}
    if fmt.kind == "gbnf":
        # The grammar only lets the model end where the grammar is complete.
        if stopped:
            outcome["reason"] = "stopped before the grammar was complete"
        elif finish_reason == "length":
            outcome["reason"] = "stopped at the token limit before the grammar was complete — raise Max tokens"
        else:
            outcome["valid"] = True
        return outcome
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if stopped:
            outcome["reason"] = "stopped before the JSON closed"
        elif finish_reason == "length":
            outcome["reason"] = "stopped at the token limit before the JSON closed — raise Max tokens"
        else:
            outcome["reason"] = f"not valid JSON: {json_error(exc)}"
        return outcome
    if fmt.schema is not None:
        import jsonschema

        error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(fmt.schema)(fmt.schema)
                                                 .iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            outcome["reason"] = f"does not match the schema: {error.message}" + (f" (at {where})" if where else "")
            return outcome
    outcome["valid"] = True
    return outcome


def pretty(text: str) -> str | None:
    """The reply as indented JSON, or None when it does not parse."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (json.JSONDecodeError, ValueError):
        return None


# -- parsing a grammar with llama.cpp ------------------------------------------------------------
_stderr_lock = threading.Lock()


def grammar_problem(text: str, vocab: Any = None) -> str | None:
    """What llama.cpp's parser says is wrong with a GBNF grammar (None: it parses). Runs the parser
    in this process: the engine worker's check before it samples, and check_grammar's child."""
    import llama_cpp.llama_cpp as llama_c

    data = text.encode("utf-8")
    with _stderr_lock, tempfile.TemporaryFile() as log:
        # llama.cpp writes why to stderr (fprintf and its log): catch file descriptor 2 meanwhile.
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            sampler = llama_c.llama_sampler_init_grammar(vocab, data, b"root")
            if sampler:
                llama_c.llama_sampler_free(sampler)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        if sampler:
            return None
        log.seek(0)
        said = log.read().decode("utf-8", "replace")
    return "the grammar could not be parsed: " + _reason(said)


def _reason(said: str) -> str:
    for line in said.splitlines():
        line = line.strip()
        if "error parsing grammar:" in line:
            reason = line.split("error parsing grammar:", 1)[1].strip()
            return reason + " the end of the grammar" if reason.endswith(" at") else reason
    for line in said.splitlines():
        line = line.strip()
        if line and "failed to parse grammar" not in line and not line.startswith("llama_"):
            return line.removeprefix("unsupported grammar, ")
    return "llama.cpp refused it"


def check_grammar(text: str) -> None:
    """Raise OutputFormatError when llama.cpp cannot parse the GBNF grammar; the parser runs in a
    child process, so even a parser crash only costs the child."""
    import subprocess

    from studio.core.workers.client import worker_command

    try:
        done = subprocess.run([*worker_command(__name__), "--check-grammar"], input=text.encode("utf-8"), check=False,
                              capture_output=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise OutputFormatError("bad_grammar", f"the grammar could not be checked: llama.cpp's parser took over "
                                               f"{CHECK_TIMEOUT_S:g} s") from None
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise OutputFormatError("bad_grammar", "the grammar could not be checked: llama.cpp's parser ended "
                                               f"without an answer (exit status {done.returncode})") from None
    if answer.get("problem"):
        raise OutputFormatError("bad_grammar", str(answer["problem"]))


def _main() -> int:
    if sys.argv[1:] != ["--check-grammar"]:
        print("usage: python -m studio.core.engine.structured --check-grammar < grammar.gbnf", file=sys.stderr)
        return 2
    text = sys.stdin.buffer.read().decode("utf-8", "replace")
    print(json.dumps({"problem": grammar_problem(text)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
