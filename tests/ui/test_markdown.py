"""The Markdown renderer is a pure, memoised function (no Qt needed)."""

from __future__ import annotations

import time

from studio.ui.widgets.markdown import highlight_code, render_markdown, render_plain

SAMPLE = """Here is **bold**, *italic* and `inline code`.

```python
def greet(name):
    return f"hello {name}"  # a comment
```

| a | b |
|---|---|
| 1 | 2 |
"""


def test_code_blocks_are_highlighted_with_inline_styles():
    html = render_markdown(SAMPLE)
    assert "<strong>bold</strong>" in html and "<em>italic</em>" in html
    assert "inline code</code>" in html
    assert 'style="color:' in html  # pygments colours, inline (Qt has no stylesheet for classes)
    assert "class=" not in html.split("<table", 1)[1]
    assert ">python</div>" in html  # the language is shown above the block
    assert "<table" in html and "<td>1</td>" in html


def test_raw_html_from_the_model_is_escaped():
    html = render_markdown("<script>alert(1)</script> <b>x</b>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert render_plain("a < b\nc") == "a &lt; b<br>c"


def test_unknown_language_and_unclosed_fence_while_streaming():
    assert "&lt;tag&gt;" in highlight_code("<tag>", "no-such-language")
    html = render_markdown("Start:\n```js\nconst x = 1;")  # the reply is still streaming
    assert "const" in html and "x" in html


def test_dark_and_light_differ_and_results_are_cached():
    assert render_markdown(SAMPLE, True) != render_markdown(SAMPLE, False)
    text = SAMPLE * 20
    render_markdown(text)
    started = time.perf_counter()
    for _ in range(100):
        render_markdown(text)
    assert time.perf_counter() - started < 0.05  # a cache hit, not a re-render
