"""What the window looks like: screenshots (CJK, Markdown, dark, 简体中文) and streaming smoothness."""

from __future__ import annotations

import re
import time

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.session import SessionState
from studio.ui.i18n import install_translators
from tests.ui.conftest import StreamGaps, make_window, set_sampling, wait_scan

pytestmark = pytest.mark.slow

MARKDOWN_REPLY = """Sure — here is a tiny **Python** example:

```python
def fib(n: int) -> int:
    \"\"\"Return the n-th Fibonacci number.\"\"\"
    return n if n < 2 else fib(n - 1) + fib(n - 2)
```

- works for `n >= 0`
- 中文也可以正常显示：斐波那契数列

| n | fib(n) |
|---|--------|
| 10 | 55 |
"""


def send(qtbot, win, text: str) -> None:
    before = len(win.chat.messages.widgets)
    win.chat.composer.setPlainText(text)
    qtbot.keyClick(win.chat.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(win.chat.messages.widgets) >= before + 2, timeout=10_000)


def test_cjk_conversation_screenshot_and_smooth_streaming(qtbot, run, window, screenshot_dir):
    win = window
    chat = win.chat
    assert QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese), \
        "no CJK font installed: Chinese would render as boxes (apt-get install fonts-noto-cjk)"
    set_sampling(win, max_tokens=40, temperature=0.3, seed=7)

    # The GUI thread's CPU cost per streaming callback (a busy machine cannot inflate it) ...
    costs: list[float] = []
    for name in ("update_message", "flush"):
        original = getattr(chat.messages, name)

        def timed(*args, _original=original, **kwargs):
            started = time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                costs.append(time.thread_time() - started)

        setattr(chat.messages, name, timed)
    chat.messages._timer.timeout.disconnect()
    chat.messages._timer.timeout.connect(chat.messages.flush)
    # ... and the loop's wall-clock gaps, which also see sleeps and blocking I/O that CPU time misses.
    stream_gaps = StreamGaps(chat.session)
    mid_stream = []

    def grab_mid_stream(message, delta):  # one picture while the reply is still being written
        if not mid_stream and message.status == MessageStatus.STREAMING and len(message.content) > 30:
            chat.messages.flush()
            mid_stream.append(win.grab())

    chat.session.subscribe("message_updated", grab_mid_stream)
    send(qtbot, win, "用一句话介绍巴黎")
    run.until(lambda: chat.session.state == SessionState.IDLE
              and chat.session.messages[-1].status != MessageStatus.STREAMING, 90)
    gaps = stream_gaps.stop()
    reply = chat.session.messages[-1]
    assert reply.status == MessageStatus.COMPLETE and reply.content.strip()
    print(f"GUI callbacks: {len(costs)}, slowest {max(costs) * 1000:.2f} ms CPU; {StreamGaps.summary(gaps)}")
    assert costs and max(costs) < 0.016, f"slowest GUI callback {max(costs) * 1000:.1f} ms"
    StreamGaps.assert_smooth(gaps)
    qtbot.wait(100)
    win.grab().save(str(screenshot_dir / "chat_cjk.png"))
    if mid_stream:
        mid_stream[0].save(str(screenshot_dir / "chat_cjk_streaming.png"))


def test_markdown_and_dark_screenshots(qtbot, run, window, screenshot_dir):
    win = window
    store = win.store
    cid = store.create_conversation(title="Markdown demo").id
    store.add_message(cid, "user", "Show me a Fibonacci function, please.")
    store.add_message(cid, "assistant", MARKDOWN_REPLY,
                      stats={"tokens": 96, "tokens_per_s": 41.7, "ttft_ms": 120, "n_ctx": 2048,
                             "context_used": 180})
    store.add_message(cid, "user", "And a longer one?")
    store.add_message(cid, "assistant", "Here is the start of it: iterate with two", status=MessageStatus.STOPPED,
                      stats={"tokens": 9, "tokens_per_s": 40.0, "ttft_ms": 110})
    win.chat.open_conversation(cid)
    qtbot.wait(150)
    body = win.chat.messages.widgets[store.messages(cid)[1].id].body.text()
    assert "<pre" in body and "color:" in body
    win.grab().save(str(screenshot_dir / "chat_markdown.png"))

    app = QApplication.instance()
    light = app.palette()
    dark = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, "#202124"), (QPalette.ColorRole.WindowText, "#e8eaed"),
                         (QPalette.ColorRole.Base, "#17181a"), (QPalette.ColorRole.AlternateBase, "#2a2c30"),
                         (QPalette.ColorRole.Text, "#e8eaed"), (QPalette.ColorRole.Button, "#2d2f33"),
                         (QPalette.ColorRole.ButtonText, "#e8eaed"), (QPalette.ColorRole.Highlight, "#4c8bf5"),
                         (QPalette.ColorRole.Mid, "#55585e"), (QPalette.ColorRole.Midlight, "#3a3d42"),
                         (QPalette.ColorRole.PlaceholderText, "#9aa0a6")):
        dark.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        dark.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f75"))
    try:
        app.setPalette(dark)
        win.banner.show_message("A dark-mode banner: the palette drives every colour.", "error")
        qtbot.wait(150)
        code_html = win.chat.messages.widgets[store.messages(cid)[1].id].body.text()
        assert "#272822" in code_html  # the dark code theme follows the palette
        win.grab().save(str(screenshot_dir / "chat_dark.png"))
    finally:
        app.setPalette(light)
        win.banner.hide()


def test_simplified_chinese_ui(qtbot, run, studio_home, tmp_path, screenshot_dir):
    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    assert translators, "studio_zh_CN.qm did not load"
    win = make_window(tmp_path)
    try:
        win.resize(1200, 780)
        win.show()
        qtbot.waitExposed(win)
        chat = win.chat
        assert chat.send_button.text() == "发送"
        assert chat.stop_button.text() == "停止"
        assert chat.sidebar.new_button.text() == "新对话"
        assert win.tabs.tabText(0) == "对话"
        assert "Ctrl+Enter" in chat.composer.placeholderText() and "发送" in chat.composer.placeholderText()
        assert QCoreApplication.translate("MessageWidget", "Regenerate") == "重新生成"
        # The stored default title and what "Auto" threads decided read in Chinese too (they came
        # from the core in English before).
        assert chat.sidebar.list.item(0).text() == "新对话"
        assert chat.settings_panel.threads_auto.toolTip().startswith("自动：")
        store = win.store
        cid = chat.session.conversation.id
        store.add_message(cid, "user", "你好！请介绍一下你自己。")
        store.add_message(cid, "assistant", "你好！我是一个在本地运行的小型语言模型。",
                          stats={"tokens": 18, "tokens_per_s": 35.2, "ttft_ms": 95})
        chat.session.open(cid)
        widgets = list(chat.messages.widgets.values())
        assert widgets[1].stats_label.text() == "18 个词元 · 35.2 词元/秒 · 首词元 95 毫秒"
        win.set_language("zh_CN")
        assert win.settings.language == "zh_CN" and "下次启动" in win.banner.text()
        qtbot.wait(100)
        win.grab().save(str(screenshot_dir / "main_zh_CN.png"))
    finally:
        for translator in translators:
            app.removeTranslator(translator)
        run(win.shutdown(), 30)
        win.close()


def test_style_sheet_rules_reach_named_widgets_and_follow_the_palette(qtbot):
    """The studio sheet's rules go to the widgets styled by name (not to the whole window), and their
    palette() colours follow a switch between light and dark."""
    from PySide6.QtWidgets import QFrame, QVBoxLayout, QWidget

    from studio.ui.theme import styled

    host = QWidget()
    qtbot.addWidget(host)
    host.resize(200, 120)
    column = QVBoxLayout(host)
    bubble, plain = QFrame(host), QFrame(host)
    styled(bubble, "MessageBubble")
    bubble.setProperty("role", "user")
    column.addWidget(bubble)
    column.addWidget(plain)
    host.show()
    qtbot.waitExposed(host)

    def centre_colour(widget) -> str:
        image = widget.grab().toImage()
        return image.pixelColor(image.width() // 2, image.height() // 2).name()

    app = QApplication.instance()
    light = app.palette()
    assert centre_colour(bubble) == light.color(QPalette.ColorRole.AlternateBase).name()
    assert plain.styleSheet() == ""  # an unnamed widget gets no sheet (and no style-sheet style)
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.AlternateBase, QColor("#2a2c30"))
    try:
        app.setPalette(dark)
        qtbot.waitUntil(lambda: centre_colour(bubble) == "#2a2c30", timeout=2000)
    finally:
        app.setPalette(light)
    qtbot.waitUntil(lambda: centre_colour(bubble) == light.color(QPalette.ColorRole.AlternateBase).name(), timeout=2000)


# Names and terms the Chinese UI keeps in English on purpose: products, formats, commands, code names,
# and the technical terms the Chinese primers use untranslated.
_KEPT_IN_ENGLISH = {"Flash Attention", "Hugging Face", "JSON Schema", "llama.cpp", "logit lens", "Logit lens",
                    "GGUF LoRA", "accelerate launch", "studio train CONFIG", "numpy .npz",
                    "jsonl .json .csv .tsv .txt", "The capital of France is"}
_ENGLISH_RUN = re.compile(r"[A-Za-z]{3,}(?:[ ,.'-]+[A-Za-z]{2,})+")


def _shown_texts(widget) -> list[str]:
    from PySide6.QtWidgets import (QAbstractButton, QComboBox, QGroupBox, QLabel, QLineEdit, QPlainTextEdit,
                                   QTabWidget, QTextEdit)
    texts = [widget.toolTip()]
    if isinstance(widget, (QLabel, QAbstractButton)):
        texts.append(widget.text())
    if isinstance(widget, QGroupBox):
        texts.append(widget.title())
    if isinstance(widget, QTabWidget):
        texts += [widget.tabText(i) for i in range(widget.count())]
    if isinstance(widget, QComboBox):
        texts += [widget.itemText(i) for i in range(widget.count())]
    if isinstance(widget, (QLineEdit, QPlainTextEdit, QTextEdit)):
        texts.append(widget.placeholderText())
    return texts


def test_chinese_window_shows_no_english_sentences(qtbot, run, studio_home, tmp_path, starter_model):
    """Every tab and sub-tab of the Chinese window, with the starter loaded: English there means a
    string the UI forgot to translate or one that came from the core (core text is English)."""
    from PySide6.QtWidgets import QTabWidget, QWidget

    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    win = make_window(tmp_path)
    leaks: dict[str, str] = {}
    try:
        win.resize(1300, 860)
        win.show()
        qtbot.waitExposed(win)
        run(win.startup(), timeout=90)
        # A dataset with a broken line, so Fine-tune shows its verdict, formats and counts too.
        data = tmp_path / "chat.jsonl"
        record = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
        data.write_text(record * 12 + "{broken\n", encoding="utf-8")
        win.open_datasets([str(data)])
        wait_scan(run, win.finetune)

        def collect(where: str) -> None:
            for widget in win.findChildren(QWidget):
                if not widget.isVisible():
                    continue
                for text in _shown_texts(widget):
                    words = " ".join(w for w in re.sub(r"<[^>]+>", " ", text).split() if "/" not in w and "_" not in w)
                    for run_ in _ENGLISH_RUN.findall(words):
                        if run_ not in _KEPT_IN_ENGLISH:
                            leaks.setdefault(run_, f"{type(widget).__name__} {widget.objectName()} in {where}")

        for i in range(win.tabs.count()):
            win.tabs.setCurrentIndex(i)
            qtbot.wait(300)
            collect(win.tabs.tabText(i))
            for inner in win.tabs.widget(i).findChildren(QTabWidget):
                for j in range(inner.count()):
                    inner.setCurrentIndex(j)
                    qtbot.wait(200)
                    collect(f"{win.tabs.tabText(i)} › {inner.tabText(j)}")
    finally:
        for translator in translators:
            app.removeTranslator(translator)
        run(win.shutdown(), 30)
        win.close()
    assert not leaks, f"English in the Chinese window: {leaks}"
