"""Inspect › Tokens with the real starter model's tokenizer (llama.cpp vocab_only), offscreen."""

from __future__ import annotations

import itertools
import time

from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QGuiApplication, QHelpEvent, QMouseEvent
from PySide6.QtWidgets import QToolTip

from studio.core.models.library import ModelEntry
from studio.ui.inspect.token_text import SPECIAL, TokenText, measure_render
from studio.ui.inspect.tokens_view import TokensView

MIXED = ("大语言模型把文本切成词元，每个汉字常常被拆成好几个字节词元。你好，世界！\n"
         "English words are usually one token each, emoji are not: 😀 ❤ ☕.\n"
         "\tTabs, newlines and numbers 1234567 show up too.")


def make_view(qtbot, model, width=1100, height=700) -> TokensView:
    view = TokensView()
    qtbot.addWidget(view)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    view.set_model(str(model))
    return view


def settle(run, view, timeout=30.0) -> None:
    run.until(lambda: not view.busy, timeout)


def type_text(qtbot, editor, text: str) -> None:
    """Type as a user would: ASCII as key presses, CJK and emoji as input-method commits (QTest's
    keyClicks only knows ASCII keys)."""
    from PySide6.QtGui import QInputMethodEvent

    for char in text:
        if char.isascii():
            qtbot.keyClicks(editor, char)
        else:
            event = QInputMethodEvent()
            event.setCommitString(char)
            QGuiApplication.sendEvent(editor, event)


def entry(path, name=None) -> ModelEntry:
    return ModelEntry(name=name or path.stem, path=path, size=path.stat().st_size, architecture="llama",
                      quantization="Q4_1", parameter_count=0, is_starter=True, error=None)


def llama_ids(model, text: str, *, add_special: bool = True) -> list[int]:
    """llama.cpp's own answer (add_bos=True lets the vocabulary decide whether a BOS goes first)."""
    import llama_cpp

    llm = llama_cpp.Llama(str(model), vocab_only=True, verbose=False)
    try:
        return list(llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=True))
    finally:
        llm.close()


def test_empty_text_shows_a_hint(qtbot, run, starter_model):
    view = make_view(qtbot, starter_model)
    settle(run, view)
    assert view.tokenized is None
    assert "Type or paste" in view.token_text._hint
    assert not view.copy_ids_button.isEnabled()
    view.token_text.grab()   # paints the hint, no tokens


def test_a_broken_model_file_is_a_sentence_not_a_crash(qtbot, run, starter_model, tmp_path):
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"this is not a gguf file")
    view = make_view(qtbot, bad)
    view.editor.setPlainText("hello")
    settle(run, view)
    assert view.tokenized is None
    assert view.banner.isVisible() and "not-a-model.gguf" in view.banner.text()
    assert "not-a-model.gguf" in view.token_text._hint
    view.set_model(str(starter_model))   # picking a good model recovers
    settle(run, view)
    assert view.tokenized is not None and not view.banner.isVisible()


def test_typing_cjk_and_emoji_gives_llama_cpp_ids_and_byte_tooltips(qtbot, run, starter_model):
    view = make_view(qtbot, starter_model)
    text = "你好，世界 😀 hello"
    type_text(qtbot, view.editor, text)
    assert view.busy   # debounced while typing
    settle(run, view)
    tt = view.tokenized
    assert tt is not None and tt.text == text
    assert tt.ids == llama_ids(starter_model, text)
    assert "".join(s.text for s in tt.spans if s.kind != "added") == text
    assert str(tt.n_tokens) in view.stats_label.text() and "characters per token" in view.stats_label.text()

    # 你 is E4 BD A0 in UTF-8; SmolLM2's byte-level BPE splits it, the display merges it back.
    index = next(i for i, s in enumerate(tt.spans) if s.text == "你")
    span = tt.spans[index]
    assert span.kind == "merged" and span.tok_end - span.tok_start >= 2
    tip = view.token_text.tooltip_text(index)
    n = span.tok_end - span.tok_start
    assert tip.startswith(f"你 = {n} tokens:")
    assert "<0xE4>" in tip and "E4 BD A0" in tip
    assert ", ".join(str(i) for i in tt.ids[span.tok_start:span.tok_end]) in tip

    # A real hover: the tooltip event at the span's chip shows the same text.
    rect = view.token_text.span_rects(index)[0]
    pos = rect.center().toPoint()
    viewport = view.token_text.viewport()
    move = QMouseEvent(QEvent.Type.MouseMove, rect.center(), viewport.mapToGlobal(rect.center()),
                       Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QGuiApplication.sendEvent(viewport, move)
    assert view.token_text.hovered == index
    QGuiApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, pos, viewport.mapToGlobal(pos)))
    assert QToolTip.text() == tip
    QToolTip.hideText()

    # Click selects; the detail line repeats ids and bytes; arrows move along the spans.
    view.token_text.select_span(index)
    assert "E4 BD A0" in view.detail_label.text()
    view.token_text.setFocus()
    qtbot.keyClick(view.token_text, Qt.Key.Key_Right)
    assert view.token_text.selected == index + 1


def test_chat_toggle_shows_special_tokens_as_chips(qtbot, run, starter_model):
    view = make_view(qtbot, starter_model)
    view.editor.setPlainText("Hi there")
    settle(run, view)
    plain = view.tokenized
    assert not any(s.kind == "special" for s in plain.spans)
    view.chat_toggle.setChecked(True)
    settle(run, view)
    tt = view.tokenized
    assert tt.n_tokens > plain.n_tokens and "Hi there" in tt.text
    specials = [i for i, s in enumerate(tt.spans) if s.kind == "special"]
    starts = [i for i in specials if tt.spans[i].text == "<|im_start|>"]
    assert starts, [tt.spans[i].text for i in specials]
    # Drawn as one outlined chip, not as characters.
    widget = view.token_text
    fragment = widget._prepared.span_first[starts[0]]
    assert widget._prepared.kinds[fragment] == SPECIAL
    assert widget._prepared.texts[fragment] == "<|im_start|>"
    assert "Special token" in widget.tooltip_text(starts[0])
    assert tt.ids == llama_ids(starter_model, tt.text)


def test_compare_mode_and_copy_ids(qtbot, run, starter_model, screenshot_dir):
    view = make_view(qtbot, starter_model)
    view.set_models([entry(starter_model, "SmolLM2 (starter)")], str(starter_model))
    view.editor.setPlainText(MIXED)
    settle(run, view)
    assert not view.compare_pane.isVisible()

    view.copy_ids_button.click()
    assert QGuiApplication.clipboard().text() == view.tokenized.ids_text()
    assert QGuiApplication.clipboard().text().startswith("[")

    view.compare_toggle.setChecked(True)
    settle(run, view)
    assert view.compare_pane.isVisible() and view.compare_text.isVisible()
    a, b = view.tokenized, view.compare_tokenized
    assert a is not None and b is not None and b.ids == a.ids
    assert f"{a.n_tokens:,} tokens" in view.stats_label.text()
    assert f"{b.n_tokens:,} tokens" in view.compare_stats_label.text()
    assert view.ratio_label.text().startswith("1.00×") and "1.00×" in view.ratio_label.toolTip()
    view.grab().save(str(screenshot_dir / "inspect_tokens_compare.png"))

    view.compare_toggle.setChecked(False)
    settle(run, view)
    assert view.compare_tokenized is None and not view.compare_pane.isVisible()


def test_loading_an_invalid_utf8_file_shows_a_note(qtbot, run, starter_model, tmp_path):
    view = make_view(qtbot, starter_model)
    bad = tmp_path / "broken.txt"
    bad.write_bytes("héllo wörld ".encode() + b"\xff\xfe\x80 tail " + "你好".encode()[:-1])
    run(view.load_file(bad))
    settle(run, view)
    assert view.banner.isVisible() and view.file_note
    assert "broken.txt" in view.banner.text()
    assert view.tokenized is not None and "tail" in view.tokenized.text
    good = tmp_path / "good.txt"
    good.write_text("plain text", encoding="utf-8")
    run(view.load_file(good))
    settle(run, view)
    assert not view.banner.isVisible() and view.tokenized.text == "plain text"


def _document(n_tokens_wanted: int) -> str:
    paragraph = ("Tokenizers split text into pieces the model knows. 大语言模型按词元读文本，"
                 "汉字常被拆成字节。 Numbers like 3.14159 and code `x = f(y)` split too 😀.\n")
    return paragraph * max(1, n_tokens_wanted // 60)


class StallMeter:
    """The longest the GUI thread went without running its event loop, by wall clock: a 10 ms
    timer's largest gap between ticks (from start to the first tick and the last tick to stop too)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def __enter__(self):
        self.ticks.append(time.perf_counter())
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.stop()
        self.ticks.append(time.perf_counter())

    @property
    def longest(self) -> float:
        return max(b - a for a, b in itertools.pairwise(self.ticks))


def test_100k_token_document_tokenizes_lays_out_and_paints(qtbot, run, starter_model):
    view = make_view(qtbot, starter_model)
    text = _document(100_000)
    start = time.perf_counter()
    view.editor.setPlainText(text)
    paste = time.perf_counter() - start
    with StallMeter() as stall:
        run(view.refresh(), timeout=60)
        view.token_text.grab()
    tt = view.tokenized
    assert tt is not None and tt.n_tokens >= 90_000
    timings = dict(view.timings)
    # The same GUI-side path the benchmark times: set_tokenized + grab on a fresh widget.
    widget = TokenText()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    render = measure_render(widget, tt)
    print(f"\n100k doc: {tt.n_tokens} tokens, {tt.n_chars} chars; editor paste {paste:.3f}s; "
          f"tokenize {timings['tokenize']:.3f}s, prepare {timings['prepare']:.3f}s, "
          f"apply (GUI thread) {timings['apply']:.3f}s, longest event-loop stall {stall.longest:.3f}s; "
          "render: " + ", ".join(f"{k} {v:.3f}s" for k, v in render.items()))
    # The claim is <= 1 s shown, with the window live throughout; 2-3x margins for a busy machine.
    assert timings["total"] < 3 and render["total"] < 1
    assert stall.longest < 0.5
    # Hover hit-testing deep in the document is a binary search, not a scan.
    widget.scroll_to_span(len(tt.spans) // 2)
    start = time.perf_counter()
    for y in range(10, 590, 7):
        widget.span_at(QPoint(300, y))
    assert time.perf_counter() - start < 0.5
    assert widget.span_at(QPoint(30, 30)) is not None
    # A narrower window rewraps (after the resize settles) and keeps the reader's place.
    widget.show()
    widget.scroll_to_span(len(tt.spans) // 2)
    first, lines = widget._first_visible_span(), widget.n_lines()
    widget.resize(600, 600)
    widget._relayout_now()
    assert widget.n_lines() > lines
    assert first - 200 <= widget._first_visible_span() <= first


def test_a_1mb_paste_keeps_the_window_responsive(qtbot, run, starter_model):
    view = make_view(qtbot, starter_model)
    text = _document(1 << 20)[: 1 << 20]
    with StallMeter() as stall:
        view.editor.setPlainText(text)
        settle(run, view, timeout=90)
    tt = view.tokenized
    assert tt is not None and tt.n_chars == len(text)
    print(f"\n1 MB paste: {tt.n_tokens} tokens; tokenize {view.timings['tokenize']:.3f}s, "
          f"GUI-thread apply {view.timings['apply']:.3f}s, longest event-loop stall {stall.longest:.3f}s")
    # Six times the claim's 100k tokens (3 s of tokenizing here, off the GUI thread): the window
    # still answers within 1.5 s at worst (0.4-0.6 s measured on 2 busy cores).
    assert view.timings["apply"] < 1.5 and stall.longest < 1.5


def test_screenshot_mixed_text(qtbot, run, starter_model, screenshot_dir):
    view = make_view(qtbot, starter_model)
    view.editor.setPlainText(MIXED)
    settle(run, view)
    tt = view.tokenized
    merged = next(i for i, s in enumerate(tt.spans) if s.kind == "merged")
    view.token_text.select_span(merged)
    view.token_text._set_hovered(merged + 3)
    assert tt.n_tokens > 40
    path = screenshot_dir / "inspect_tokens.png"
    assert view.grab().save(str(path))

    view.chat_toggle.setChecked(True)
    settle(run, view)
    view.grab().save(str(screenshot_dir / "inspect_tokens_chat.png"))
