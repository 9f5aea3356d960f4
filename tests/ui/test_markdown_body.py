"""Long replies re-render only the segment still growing, and look the same as one block."""

import pytest

from studio.ui.widgets.markdown_body import MarkdownBody, split_segments

PARA = "Paris has many museums, and this sentence is long enough to fill a line or two. " * 3


def test_segments_join_back_to_the_exact_text():
    text = "\n\n".join([f"## Part {i}\n\n{PARA}\n\n- a\n\n- b\n\n```python\nx = 1\n\ny = 2\n```" for i in range(20)])
    segments = split_segments(text, target=300)
    assert len(segments) > 5
    assert "\n".join(segments) == text


def test_no_cut_inside_code_fences_lists_or_quotes():
    code = "```python\n" + "\n\n".join(f"line_{i} = {i}" for i in range(200)) + "\n```"
    listing = "\n\n".join(f"- item {i} " + "words " * 20 for i in range(50))
    quote = "\n\n".join("> quoted " + "words " * 20 for _ in range(30))
    for text in (code, listing, quote):
        assert split_segments(text, target=100) == [text]


def test_streaming_rerenders_only_the_tail(qtbot):
    body = MarkdownBody()
    qtbot.addWidget(body)
    text = "\n\n".join(f"Paragraph {i}. {PARA}" for i in range(40))
    body.set_markdown(text, dark=False)
    labels = [label for label in body._labels if not label.isHidden()]
    assert len(labels) > 3
    before = [label.text() for label in labels[:-1]]
    calls = []
    for label in labels[:-1]:
        label.setText = lambda *a, _calls=calls: _calls.append(a)  # a finished segment must not be touched
    body.set_markdown(text + " more words", dark=False)
    assert calls == []
    assert [label.text() for label in labels[:-1]] == before
    assert "more words" in body.text()
