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

from studio.core.engine.sampling import PRESETS, SamplingParams


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


# -- Fine-tune screen helpers ---------------------------------------------------------------------

@pytest.fixture()
def bare_window(qtbot, run, studio_home, tmp_path, starter_model):
    """A shown MainWindow whose library lists the starter model, with no model loaded (the Fine-tune
    screen does not need one for data and config work)."""
    win = make_window(tmp_path)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    run(win.refresh_models(), timeout=30)
    yield win
    run(win.shutdown(), timeout=60)
    win.close()
    win.deleteLater()


def write_jsonl(path: Path, records: list) -> Path:
    import json

    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def drag_enter_event(x: int, y: int, mime):
    """A copy-action drag-enter event; PySide6 6.11 wants a QPoint here, 6.12 a QPointF."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent

    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    try:
        return QDragEnterEvent(QPoint(x, y), *args)
    except TypeError:
        return QDragEnterEvent(QPointF(x, y), *args)


def open_finetune(win, paths: list[Path]):
    """Drop dataset files on the window, as a user would; returns the Fine-tune view."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = drag_enter_event(300, 300, mime)
    win.dragEnterEvent(enter)
    assert enter.isAccepted() and win.drop_overlay.isVisible()
    assert "Fine-tune" in win.drop_overlay.text
    win.dropEvent(QDropEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier))
    assert not win.drop_overlay.isVisible()
    return win.finetune


def wait_scan(run, view, timeout: float = 60.0) -> dict:
    """Wait for the Data panel's scan of the current files to finish; returns its report."""
    panel = view.data_panel
    run.until(lambda: not panel.scanning and panel.report is not None, timeout)
    return panel.report


def make_lora_gguf(path: Path, *, in_dim: int = 576, rank: int = 4, seed: int = 0) -> Path:
    """A small random LoRA adapter in GGUF for the starter model (hidden size 576); another
    in_dim makes one that does not fit it."""
    import numpy as np

    from studio.core.training.export_gguf import LoraWeights, write_lora_gguf

    rng = np.random.default_rng(seed)
    pairs = {f"blk.{i}.attn_q.weight": (rng.normal(0, 0.02, (rank, in_dim)).astype(np.float32),
                                        rng.normal(0, 0.02, (576, rank)).astype(np.float32)) for i in range(2)}
    return write_lora_gguf(LoraWeights("llama", float(rank * 2), pairs), path, name=path.stem)


# -- Event-loop stalls, by the wall clock ---------------------------------------------------------

import time
from itertools import pairwise


class StreamGaps:
    """The Qt main loop's gaps (wall clock) while a session's reply streams.

    A 10 ms QTimer stamps perf_counter; gaps that end between the reply's first token and its final
    state are kept. Wall time counts sleeps and blocking I/O, which thread CPU time does not. The
    median ignores one-off scheduler hiccups on a busy machine; a GUI thread that blocks on every
    render tick (the 40 ms Markdown timer) moves it, since then most ticks wait for the block."""

    TICK_MS = 10

    def __init__(self, session) -> None:
        from PySide6.QtCore import QTimer

        from studio.core.chat.conversation import MessageStatus

        self._streaming = MessageStatus.STREAMING
        self._ticks: list[float] = []
        self.first_token: float | None = None
        self.finished: float | None = None
        self._timer = QTimer()
        self._timer.setInterval(self.TICK_MS)
        self._timer.timeout.connect(lambda: self._ticks.append(time.perf_counter()))
        self._unsubscribe = session.subscribe("message_updated", self._on_update)
        self._timer.start()

    def _on_update(self, message, delta) -> None:
        if message.role != "assistant":
            return
        now = time.perf_counter()
        if message.status == self._streaming:
            if delta and self.first_token is None:
                self.first_token = now
        elif self.first_token is not None and self.finished is None:
            self.finished = now

    def stop(self) -> list[float]:
        """Stop measuring; the gaps (seconds) seen while the reply streamed."""
        self._timer.stop()
        self._unsubscribe()
        assert self.first_token is not None, "no token streamed"
        end = self.finished or time.perf_counter()
        ticks = self._ticks
        return [b - a for a, b in pairwise(ticks) if self.first_token <= b <= end]

    @staticmethod
    def blocked_share(gaps: list[float]) -> float:
        """The share of the streaming time the loop could not answer: each gap's excess over two ticks."""
        slack = 2 * StreamGaps.TICK_MS / 1000
        return sum(max(0.0, gap - slack) for gap in gaps) / sum(gaps)

    @staticmethod
    def summary(gaps: list[float]) -> str:
        ordered = sorted(gaps)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return (f"{len(gaps)} loop gaps while streaming: median {pick(0.5):.1f} ms, "
                f"p90 {pick(0.9):.1f} ms, longest {ordered[-1] * 1000:.1f} ms, "
                f"blocked {StreamGaps.blocked_share(gaps):.0%} of the time")

    @staticmethod
    def assert_smooth(gaps: list[float], blocked: float = 0.25) -> None:
        """The window stayed responsive while the reply streamed: under `blocked` of the time lost to
        stalls. A one-off hiccup costs a few percent; blocking on every 40 ms render tick costs far more."""
        assert len(gaps) >= 8, f"too few ticks while streaming to judge: {StreamGaps.summary(gaps)}"
        share = StreamGaps.blocked_share(gaps)
        assert share < blocked, f"the window stalled while streaming: {StreamGaps.summary(gaps)}"
