"""Chat-template safety: a template renders only in llama-cpp-python's sandboxed Jinja, and one
that reaches for Python internals is refused before it ever renders."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, cast

from studio.core.models.errors import ModelFileError

# --- chat templates ----------------------------------------------------------------------------

# Names that only matter to a template trying to escape (SSTI payloads reach os/builtins via these).
_FORBIDDEN_NAMES = frozenset({
    "os", "sys", "subprocess", "builtins", "importlib", "eval", "exec", "compile", "open",
    "getattr", "setattr", "delattr", "globals", "locals", "vars", "input", "breakpoint",
    "lipsum", "cycler", "joiner", "config", "request",
})
_INTERNALS = re.compile(r"__(?:class|globals|builtins|subclasses|init|mro|bases?|import|dict|"
                        r"code|func|self|getattribute|reduce(?:_ex)?|loader|spec)__")
_SAMPLE_CHAT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
    {"role": "assistant", "content": "Hi, how can I help?"},
    {"role": "user", "content": "Tell me a joke."},
]
_LOOP_BUDGET = 100_000  # range() items per render; a 4-message chat needs a handful


class _LoopBudget:
    def __init__(self) -> None:
        self.left = _LOOP_BUDGET

    def range(self, *args: int) -> range:
        r = range(*args)
        self.left -= len(r)
        if self.left < 0:
            raise ModelFileError("template_unsafe", "chat template refused as unsafe: it loops "
                                 f"more than {_LOOP_BUDGET:,} times on a 4-message chat")
        return r


def _unsafe(reason: str) -> ModelFileError:
    return ModelFileError("template_unsafe", f"chat template refused as unsafe: it reaches for "
                          f"'{reason}'; this file may be malicious, do not use it")


def _environment() -> Any:
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):  # HF's {% generation %} marker, as llama_cpp allows
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            parser.stream.skip(1)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    return ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                         extensions=[Generation, jinja2.ext.loopcontrols])


def _static_refusals(ast: Any, env: Any) -> list[str]:
    from jinja2 import nodes

    def const(node: Any) -> Any:  # '__cla' ~ 'ss__' folds to '__class__', as the compiler would
        try:
            return node.as_const(nodes.EvalContext(env))
        except Exception:  # noqa: BLE001 - not a constant
            return None

    found: list[str] = []
    for node in ast.find_all((nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Const)):
        if isinstance(node, nodes.Name) and (node.name in _FORBIDDEN_NAMES
                                             or node.name.startswith("__")):
            found.append(node.name)
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            found.append(node.attr)
        arg = node.arg if isinstance(node, nodes.Getitem) else (
            node.args[0] if isinstance(node, nodes.Filter) and node.name == "attr" and node.args
            else None)
        value = const(arg) if arg is not None else None
        if isinstance(value, str) and value.startswith("_"):
            found.append(value)
        if isinstance(node, nodes.Const) and isinstance(node.value, str):
            found += _INTERNALS.findall(node.value)
    return list(dict.fromkeys(found))


def check_chat_template(template: str) -> None:
    """Refuse chat templates that try to leave the Jinja sandbox; also make sure they render."""
    from jinja2.exceptions import SecurityError, TemplateSyntaxError

    env = _environment()
    try:
        ast = env.parse(template)
    except TemplateSyntaxError as exc:
        raise ModelFileError("corrupt", f"chat template does not render: syntax error on line "
                             f"{exc.lineno}: {exc.message}") from None
    reasons = sorted(_static_refusals(ast, env), key=template.find)  # in reading order
    if reasons:
        raise _unsafe("', '".join(reasons))

    def refuse(obj: Any, attribute: str) -> Any:  # the sandbox would quietly yield Undefined
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object")

    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    except ImportError:  # same sandbox, settings and helpers, without llama.cpp in this process
        env.unsafe_undefined = refuse
        env.filters["tojson"] = lambda x, indent=None, **_: json.dumps(x, ensure_ascii=False,
                                                                       indent=indent)
        tpl = env.from_string(template)

        def render(messages: list[dict[str, str]], budget: _LoopBudget) -> str:
            def raise_exception(message: str) -> None:
                raise ValueError(message)

            return tpl.render(messages=messages, bos_token="<s>", eos_token="</s>",
                              add_generation_prompt=True, raise_exception=raise_exception,
                              strftime_now=lambda f: datetime.now().strftime(f),
                              range=budget.range)
    else:
        formatter = Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token="<s>")
        inner = getattr(getattr(formatter, "_environment", None), "environment", None)
        if inner is not None:  # recompile so constant folding meets `refuse` too
            inner.unsafe_undefined = refuse
            formatter._environment = inner.from_string(template)

        def render(messages: list[dict[str, str]], budget: _LoopBudget) -> str:
            return formatter(messages=cast(Any, messages), range=budget.range).prompt  # typed per role upstream

    # Some templates (Gemma) refuse a system turn; a user/assistant chat must still work.
    error: Exception | None = None
    for messages in (_SAMPLE_CHAT, _SAMPLE_CHAT[1:]):
        try:
            render(messages, _LoopBudget())
            return
        except SecurityError as exc:
            found = re.search(r"attribute '([^']+)'", str(exc))
            raise _unsafe(found.group(1) if found else str(exc)) from None
        except ModelFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - any render failure means "unusable"
            error = exc
    raise ModelFileError("corrupt", f"chat template does not render: {error}") from None
