"""The Server switch and panel over the window's real engine: switched on from the status bar, asked
by the official `openai` client from another thread (as a real client would), its log showing each
request; a wrong key is a 401 row; switching off frees the port; the chat says when the engine is
busy answering the API."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from PySide6.QtCore import Qt

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


@pytest.fixture()
def panel(window, qtbot, monkeypatch):
    monkeypatch.setenv("STUDIO_SECRETS", "file")  # never the machine's keyring from a test
    dock = window.server_dock
    assert dock.button.isVisible() and dock.button.text() == "○ Server off"
    assert dock.panel is None  # nothing of the server is built before it is wanted
    qtbot.mouseClick(dock.button, Qt.MouseButton.LeftButton)
    assert dock.isVisible() and dock.panel is not None
    yield dock.panel


def _switch_on(panel, qtbot, run, port: int) -> None:
    panel.port.setValue(port)
    qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
    run.until(lambda: panel.controller.running, timeout=15)
    url = f"http://127.0.0.1:{port}/v1"
    assert panel.button.text() == f"● Serving at {url}"
    assert panel.url.text() == url and panel.switch.isChecked()


def _model(window) -> str:
    return window.engine.model_info.path.rsplit("/", 1)[-1].removesuffix(".gguf")


def _rows(panel) -> list[dict[str, str]]:
    model = panel.log_model
    return [{c: model.text(record, c) for c in model.COLUMNS} for record in model.rows]


def test_switch_on_log_requests_401_and_switch_off(window, panel, qtbot, run, screenshot_dir):
    port = _free_port()
    assert not panel.allow_remote.isEnabled()  # no key yet: other computers cannot be let in
    assert "API key first" in panel.remote_hint.text()
    panel.generate.click()
    key = panel.key.text()
    assert key.startswith("sk-local-") and panel.key.echoMode() == panel.key.EchoMode.Password
    assert panel.allow_remote.isEnabled() and "file only you can read" in panel.key_where.text()
    assert panel.controller.api_key() == key
    assert f"Bearer {key}" in panel.curl_example(reveal=True) and key not in panel.example.toPlainText()
    _switch_on(panel, qtbot, run, port)

    client = openai.OpenAI(base_url=panel.url.text(), api_key=key, max_retries=0, timeout=60)
    reply = run(asyncio.to_thread(lambda: client.chat.completions.create(
        model=_model(window), max_tokens=12, temperature=0, seed=1,
        messages=[{"role": "user", "content": "Name a colour."}])), timeout=60)
    run(asyncio.to_thread(lambda: list(client.chat.completions.create(
        model=_model(window), max_tokens=16, stream=True,
        messages=[{"role": "user", "content": "Name three fruits."}]))), timeout=60)
    wrong = openai.OpenAI(base_url=panel.url.text(), api_key="sk-wrong", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError):
        run(asyncio.to_thread(lambda: wrong.models.list()), timeout=30)
    with pytest.raises(openai.NotFoundError):
        run(asyncio.to_thread(lambda: client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])), timeout=30)
    run.until(lambda: panel.log_model.rowCount() == 4, timeout=10)

    rows = _rows(panel)
    first = rows[0]
    assert first["endpoint"] == "POST /v1/chat/completions" and first["status"] == "200"
    assert first["tokens"] == f"{reply.usage.prompt_tokens} + {reply.usage.completion_tokens}"
    assert float(first["speed"]) > 0 and first["ttft"].endswith(" ms") and first["client"] == "127.0.0.1"
    assert first["model"] == _model(window) and not first["message"]
    assert rows[1]["endpoint"] == "POST /v1/chat/completions (stream)" and rows[1]["status"] == "200"
    assert (rows[2]["status"], rows[2]["endpoint"], rows[2]["message"]) == \
        ("401", "GET /v1/models", "The API key is wrong.")
    assert rows[3]["status"] == "404" and "gpt-4o" in rows[3]["message"]
    assert panel.counters.text().startswith("4 requests") and "2 errors" in panel.counters.text()
    assert panel.message.isHidden()  # request errors are rows, not messages

    window.resize(1280, 860)
    panel.show_key.click()  # the screenshot shows the curl example as it is copied
    qtbot.wait(350)
    window.grab().save(str(screenshot_dir / "server_panel.png"))
    panel.show_key.click()

    qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
    run.until(lambda: not panel.controller.running and panel.switch.isEnabled(), timeout=15)
    assert panel.button.text() == "○ Server off" and not panel.switch.isChecked()
    assert _port_is_free(port)
    assert window.workspace.holder == ""


def test_a_port_in_use_is_one_sentence_in_the_panel(window, panel, qtbot, run, screenshot_dir):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        panel.port.setValue(port)
        qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
        run.until(lambda: panel.message.isVisible() and panel.switch.isEnabled(), timeout=15)
    assert panel.message.text() == (f"Port {port} is already in use by another program: pick another port, or "
                                    "stop the program that uses it.")
    assert not panel.switch.isChecked() and panel.button.text() == "⚠ Server off"
    assert panel.button.toolTip() == panel.message.text()  # seen even with the panel closed
    window.grab().save(str(screenshot_dir / "server_panel_port_in_use.png"))
    assert window.settings.server.port == port  # the port is remembered; the key is not in the settings


def test_the_log_stays_responsive_under_a_flood(window, panel, qtbot, run):
    from studio.core.server.app import RequestRecord

    port = _free_port()
    _switch_on(panel, qtbot, run, port)
    # real refused requests (no engine needed) from several threads at once
    panel.key.setText("sk-flood")
    panel._store_key()
    qtbot.mouseClick(panel.restart_button, Qt.MouseButton.LeftButton)
    run.until(lambda: panel.controller.running and not panel.restart_row.isVisible(), timeout=15)

    def knock(n: int) -> None:
        import urllib.error
        import urllib.request

        for _ in range(n):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10).read()
            except urllib.error.HTTPError:
                pass

    threads = [threading.Thread(target=knock, args=(40,)) for _ in range(4)]
    ticks: list[float] = []
    from PySide6.QtCore import QTimer
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    for t in threads:
        t.start()
    run.until(lambda: not any(t.is_alive() for t in threads), timeout=60)
    # and a burst far beyond the cap, as fast as the loop can take it
    for n in range(3000):
        panel.controller._on_record(RequestRecord(started=time.time(), method="POST", path="/v1/completions",
                                                  client="10.0.0.9:5000", status=200, prompt_tokens=n,
                                                  completion_tokens=3, tokens_per_s=50.0, ttft_ms=20.0))
    run.until(lambda: panel.controller.counters.requests == 3160, timeout=10)
    qtbot.wait(400)
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert panel.log_model.rowCount() == 500 and len(panel.controller.records) == 500
    assert _rows(panel)[-1]["tokens"] == "2999 + 3"
    assert max(gaps) < 0.5, f"the window froze for {max(gaps) * 1000:.0f} ms"
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert panel.log_model.rowCount() == 0 and panel.counters.text().startswith("0 requests")


def test_the_chat_waits_quietly_while_the_engine_answers_the_api(window, panel, qtbot, run, screenshot_dir):
    from studio.core.chat.session import SessionState

    note = window.chat.serving_note
    assert note.isHidden()
    port = _free_port()
    _switch_on(panel, qtbot, run, port)
    first_token = threading.Event()
    outcome: dict = {}

    def long_stream() -> None:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=60)
        pieces = []
        for chunk in client.chat.completions.create(
                model=_model(window), max_tokens=200, stream=True, temperature=0, seed=1,
                messages=[{"role": "user", "content": "Tell a long story about a lighthouse."}]):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                first_token.set()
        outcome["text"] = "".join(pieces)

    streaming = threading.Thread(target=long_stream)
    streaming.start()
    run.until(first_token.is_set, timeout=30)
    assert window.workspace.holder == "server"
    run.until(note.isVisible, timeout=5)
    assert note.text().startswith("The engine is answering an API request;")
    assert "answering" in panel.button.text()

    # a message sent now waits its turn behind the request: a quiet line, no banner, Stop stays possible
    session = window.chat.session
    window.chat.composer.setPlainText("What is a lighthouse for?")
    window.chat.send()
    run.until(lambda: session.state == SessionState.WAITING, timeout=5)
    run.until(lambda: note.text() == "The engine is answering an API request — your message goes next.", timeout=5)
    assert window.chat.state_label.text() == "● waiting for the engine"
    assert window.chat.trimmed_banner.isHidden() and window.chat.error_banner.isHidden()
    assert window.chat.stop_button.isEnabled() and not window.chat.send_button.isEnabled()
    window.resize(1200, 800)
    qtbot.wait(100)
    window.grab().save(str(screenshot_dir / "chat_busy_serving.png"))

    def answered() -> bool:
        return not window.chat.busy and len(session.messages) >= 2 and session.messages[-1].role == "assistant" \
            and bool(session.messages[-1].content)

    run.until(answered, timeout=90)  # the request ends, then the chat's reply is written
    run.until(lambda: not streaming.is_alive(), timeout=15)
    assert outcome.get("text")
    assert window.workspace.holder == "" and note.isHidden()
    qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
    run.until(lambda: not panel.controller.running, timeout=15)
    assert _port_is_free(port)


def test_the_server_starts_with_the_app_when_asked(window, qtbot, run, monkeypatch):
    from studio.core.settings import load_settings

    monkeypatch.setenv("STUDIO_SECRETS", "file")
    dock = window.server_dock
    port = _free_port()
    window.settings.server.port = port
    window.settings.server.auto_start = True
    dock.start_if_wanted()  # what startup() does once the model is loaded
    run.until(lambda: dock.panel is not None and dock.panel.controller.running, timeout=15)
    assert dock.button.text() == f"● Serving at http://127.0.0.1:{port}/v1" and dock.isHidden()
    assert dock.panel.auto_start.isChecked() and dock.panel.port.value() == port
    dock.panel.auto_start.setChecked(False)  # remembered in the settings file at once
    assert load_settings().server.auto_start is False
    run(window.server_dock.shutdown(), timeout=20)
    assert _port_is_free(port) and not dock.panel.controller.running


def test_the_panel_in_simplified_chinese(qtbot, run, studio_home, tmp_path, screenshot_dir, monkeypatch):
    from PySide6.QtWidgets import QApplication

    from studio.core.server.app import RequestRecord
    from studio.ui.i18n import install_translators
    from tests.ui.conftest import make_window

    monkeypatch.setenv("STUDIO_SECRETS", "file")
    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    assert translators, "studio_zh_CN.qm did not load"
    win = make_window(tmp_path)
    try:
        win.resize(1280, 820)
        win.show()
        qtbot.waitExposed(win)
        dock = win.server_dock
        assert dock.button.text() == "○ 服务器已关闭"
        qtbot.mouseClick(dock.button, Qt.MouseButton.LeftButton)
        panel = dock.panel
        assert dock.windowTitle() == "API 服务器" and panel.allow_remote.text() == "允许网络上的其他计算机连接"
        assert panel.log_model.headerData(5, Qt.Orientation.Horizontal) == "词元"
        now = time.time()
        for n, (status, message) in enumerate(((200, ""), (200, ""), (401, "The API key is wrong."))):
            panel.controller._on_record(RequestRecord(
                started=now + n, method="POST", path="/v1/chat/completions", client="192.168.1.20:50000",
                status=status, stream=n == 1, model="SmolLM2-135M-Instruct.Q4_1" if status == 200 else "",
                prompt_tokens=31 if status == 200 else 0, completion_tokens=24 if status == 200 else 0,
                tokens_per_s=48.5, ttft_ms=120.0, message=message))
        run.until(lambda: panel.log_model.rowCount() == 3, timeout=5)
        assert _rows(panel)[1]["endpoint"] == "POST /v1/chat/completions（流式）"
        assert panel.counters.text() == "3 个请求 · 110 个词元 · 1 个错误"
        qtbot.wait(100)
        win.grab().save(str(screenshot_dir / "server_panel_zh_CN.png"))
    finally:
        for translator in translators:
            app.removeTranslator(translator)
        run(win.shutdown(), 30)
        win.close()
        win.deleteLater()
