"""Markdown → HTML for chat bubbles, in the subset of HTML/CSS that Qt's rich text understands.

`render_markdown` is a pure function of its arguments and is memoised, so re-rendering a message
whose text did not change costs a dict lookup. Fenced code blocks are highlighted with pygments
(inline styles, no CSS classes: QLabel/QTextDocument have no stylesheet for them) and each block is
memoised separately, so while a reply streams only the block being written is highlighted again.
Raw HTML in the model's text is escaped, never interpreted.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: markdown-it costs ~0.1 s of start-up time
    import html

    from markdown_it import MarkdownIt
else:  # html on first use too: not needed before the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import html

_LIGHT = {"style": "default", "code_bg": "#f3f3f3", "code_border": "#d8d8d8", "inline_bg": "#ececec",
          "label": "#777777"}
_DARK = {"style": "monokai", "code_bg": "#272822", "code_border": "#444444", "inline_bg": "#3a3a3a",
         "label": "#a0a0a0"}

_MONO = "'DejaVu Sans Mono', 'Menlo', 'Consolas', 'Noto Sans Mono CJK SC', monospace"


@lru_cache(maxsize=512)
def highlight_code(code: str, language: str, dark: bool = False) -> str:
    """HTML spans with inline colours for `code`; plain escaped text when the language is unknown."""
    theme = _DARK if dark else _LIGHT
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound
    except ImportError:  # pragma: no cover - pygments is a hard dependency
        return html.escape(code)
    try:
        lexer = get_lexer_by_name(language.strip().lower(), stripnl=False, ensurenl=False) if language else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return html.escape(code)
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style=theme["style"])
    return highlight(code, lexer, formatter)


def _code_block(code: str, language: str, dark: bool) -> str:
    theme = _DARK if dark else _LIGHT
    body = highlight_code(code.rstrip("\n"), language, dark)
    fg = "#f8f8f2" if dark else "#1f1f1f"
    label = (f'<div style="color:{theme["label"]}; font-size:small;">{html.escape(language)}</div>'
             if language else "")
    return (f'<table width="100%" cellspacing="0" cellpadding="8" border="0" '
            f'style="background-color:{theme["code_bg"]}; margin-top:4px; margin-bottom:4px; '
            f'border: 1px solid {theme["code_border"]};">'
            f'<tr><td>{label}<pre style="font-family:{_MONO}; color:{fg}; margin:0; white-space:pre-wrap;">{body}</pre>'
            f'</td></tr></table>\n')


def _build(dark: bool) -> "MarkdownIt":
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])
    theme = _DARK if dark else _LIGHT

    def fence(self: Any, tokens: list, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        language = (token.info or "").strip().split(" ")[0]
        return _code_block(token.content, language, dark)

    def code_block(self: Any, tokens: list, idx: int, options: Any, env: Any) -> str:
        return _code_block(tokens[idx].content, "", dark)

    def code_inline(self: Any, tokens: list, idx: int, options: Any, env: Any) -> str:
        return (f'<code style="font-family:{_MONO}; background-color:{theme["inline_bg"]};">'
                f"{html.escape(tokens[idx].content)}</code>")

    md.add_render_rule("fence", fence)
    md.add_render_rule("code_block", code_block)
    md.add_render_rule("code_inline", code_inline)
    return md


_RENDERERS: dict[bool, "MarkdownIt"] = {}


@lru_cache(maxsize=256)
def render_markdown(text: str, dark: bool = False) -> str:
    """Render chat Markdown to Qt rich-text HTML. Pure and memoised."""
    md = _RENDERERS.get(dark)
    if md is None:
        md = _RENDERERS[dark] = _build(dark)
    body = md.render(text)
    # Qt puts large default margins on tables; nothing else needs adjusting.
    return body.replace("<table>", '<table border="1" cellspacing="0" cellpadding="4" '
                                   'style="border-collapse:collapse;">')


def render_plain(text: str) -> str:
    """User messages: escaped text with line breaks kept (no Markdown interpretation)."""
    return html.escape(text).replace("\n", "<br>")
