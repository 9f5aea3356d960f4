"""UI test fixtures: one qasync loop for the session, a real MainWindow with the real engine worker,
the real starter model and a real SQLite file in tmp_path.

The loop is created in qasync's "already running" mode, so anything that processes Qt events
(qtbot.waitUntil, qtbot.wait) also runs asyncio callbacks; `run(coro)` awaits a coroutine that way.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if "STUDIO_HOME" not in os.environ:  # normally set by tests/conftest.py
    import tempfile
    os.environ["STUDIO_HOME"] = tempfile.mkdtemp(prefix="studio-ui-home-")
os.environ.setdefault("STUDIO_SCREENSHOT_DIR",
                      str(Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"))

from studio.core.chat.sampling import PRESETS, SamplingParams  # noqa: E402


@pytest.fixture(scope="session")
def qloop(qapp):
    import qasync

    qapp.setApplicationName("Local LLM Studio Tests")
    qapp.setOrganizationName("Local LLM Studio Tests")
    from studio.ui.theme import apply_theme
    apply_theme(qapp)
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.events._set_running_loop(None)
    try:
        loop.stop()
        loop.close()
    except RuntimeError:
        pass


class Runner:
    """Await coroutines from synchronous tests while Qt (and so asyncio) keeps running."""

    def __init__(self, qtbot, loop) -> None:
        self.qtbot = qtbot
        self.loop = loop

    def __call__(self, coro, timeout: float = 60.0):
        task = asyncio.ensure_future(coro)
        self.qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        return task.result()

    def until(self, predicate, timeout: float = 60.0) -> None:
        self.qtbot.waitUntil(lambda: bool(predicate()), timeout=int(timeout * 1000))


@pytest.fixture()
def run(qtbot, qloop) -> Runner:
    return Runner(qtbot, qloop)


@pytest.fixture(autouse=True)
def _loop_only_during_ui_tests(qloop):
    """qasync marks its loop as running for good; scope that to each UI test so plain-asyncio tests
    that run after the UI tests (asyncio.run) still work."""
    asyncio.events._set_running_loop(qloop)
    asyncio.set_event_loop(qloop)
    yield
    asyncio.events._set_running_loop(None)


def make_window(tmp_path: Path, library=None):
    from studio.core.chat.store import ChatStore
    from studio.core.engine.client import EngineClient
    from studio.core.models.library import ModelLibrary
    from studio.core.settings import load_settings
    from studio.ui.main_window import MainWindow

    settings = load_settings()
    store = ChatStore(tmp_path / "chats.sqlite3")
    engine = EngineClient(settings.engine)
    return MainWindow(settings, store, engine, library or ModelLibrary())


@pytest.fixture()
def window(qtbot, run, studio_home, tmp_path, starter_model):
    """A shown MainWindow with the starter model loaded and a fresh conversation."""
    win = make_window(tmp_path)  # not qtbot.addWidget: pytest-qt would delete it before shutdown()
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    # Short replies keep the suite fast; 2048 matches the core tests (same greedy output).
    set_sampling(win, max_tokens=16, n_ctx=2048)
    run(win.startup(), timeout=90)
    assert win.engine.ready, win.banner.text()
    assert win.engine.model_info.n_ctx == 2048
    yield win
    run(win.shutdown(), timeout=30)
    win.close()
    win.deleteLater()


def set_sampling(win, preset: str | None = None, **changes) -> SamplingParams:
    """Set the open conversation's sampling through the settings panel, as a user would."""
    panel = win.chat.settings_panel
    if preset:
        panel.apply_preset(preset)
    current = panel.sampling()
    wanted = SamplingParams(**{**current.to_dict(), **changes})
    panel._show_sampling(wanted)
    panel._changed()
    panel.flush()
    assert win.chat.session.conversation.sampling == wanted
    return wanted


__all__ = ["PRESETS", "make_window", "set_sampling"]
