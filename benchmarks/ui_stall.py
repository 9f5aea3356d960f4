"""Two UI numbers, each next to a baseline measured in the same run:

1. The longest Qt event-loop stall while a reply streams at full speed into the chat screen,
   measured with a 2 ms heartbeat timer; baseline: the same heartbeat with the window idle.
   The median over --stall-runs replies (each after its own idle baseline). Goal: longest stall ≤ 16 ms.
2. Cold start of `python -m studio` to a shown, usable window, timed from process start (the parent
   stamps the exec and the moment the "window shown" line arrives, so interpreter start-up and
   every import count); baseline: a bare PySide6 QMainWindow started the same way. Median of
   --starts. Goal ≤ 1.0 s (torch/transformers are never imported).

    QT_QPA_PLATFORM=offscreen python benchmarks/ui_stall.py [--tokens 300] [--starts 5] [--stall-runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time

from _common import median, starter_model

# Long enough that the reply runs to max_tokens: the cost of re-rendering grows with its length.
PROMPT = ("Write a long travel guide to Paris in Markdown: a heading for every district, bullet lists of "
          "sights, a table of museum opening hours, and a Python code block that plans a walking route.")

BARE_WINDOW = (
    "import time; t=time.perf_counter()\n"
    "from PySide6.QtWidgets import QApplication, QMainWindow\n"
    "from PySide6.QtCore import QTimer\n"
    "app=QApplication([]); w=QMainWindow(); w.resize(1200, 800); w.show()\n"
    "def shown():\n"
    "    import sys; print(f'startup: window shown after {(time.perf_counter()-t)*1000:.0f} ms', file=sys.stderr); w.close()\n"
    "QTimer.singleShot(0, shown); app.exec()\n"
)


def cold_start(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(ms from exec to the "window shown" line, ms the process itself reports: its clock starts
    only once the interpreter runs its first line, after some imports)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], env={**env, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    shown_ms, reported, tail = None, None, []
    assert proc.stderr is not None
    for line in proc.stderr:
        tail.append(line)
        match = re.search(r"window shown after (\d+) ms", line)
        if match and shown_ms is None:
            shown_ms = (time.perf_counter() - started) * 1000
            reported = float(match.group(1))
    proc.wait(timeout=120)
    if shown_ms is None or reported is None:
        raise SystemExit(f"no start-up report from {args}:\n{''.join(tail)[-2000:]}")
    return shown_ms, reported


class Heartbeat:
    def __init__(self, interval_ms: int = 2) -> None:
        from PySide6.QtCore import QTimer

        self.interval = interval_ms
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> tuple[float, float]:
        self.timer.stop()
        gaps = sorted(self.gaps)
        worst = max(gaps[-1] - self.interval, 0.0)
        p99 = max(gaps[int(len(gaps) * 0.99) - 1] - self.interval, 0.0) if gaps else 0.0
        return worst, p99


def measure_stall(max_tokens: int, runs: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["STUDIO_HOME"] = tempfile.mkdtemp(prefix="studio-bench-")
    import qasync
    from PySide6.QtWidgets import QApplication

    from studio.core.engine.sampling import SamplingParams
    from studio.core.chat.store import ChatStore
    from studio.core.engine.client import EngineClient
    from studio.core.models.library import ModelLibrary
    from studio.core.settings import load_settings
    from studio.ui.main_window import MainWindow
    from studio.ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    model = str(starter_model())
    os.environ["STUDIO_MODELS_DIR"] = os.path.dirname(model)
    settings = load_settings()
    window = MainWindow(settings, ChatStore(os.path.join(os.environ["STUDIO_HOME"], "chats.sqlite3")),
                        EngineClient(settings.engine), ModelLibrary())
    window.resize(1200, 800)
    window.show()

    async def scenario() -> None:
        await window.startup()
        await window.load_model(model)
        chat = window.chat
        beat = Heartbeat()
        idle, streaming = [], []
        for run in range(runs):
            chat.new_chat()  # each reply starts from an empty conversation
            chat.session.update_settings(sampling=SamplingParams(temperature=0.8, max_tokens=max_tokens, seed=7,
                                                                 n_ctx=2048))
            # Baseline: the idle window for about as long as a reply takes.
            beat.start()
            await asyncio.sleep(3.0)
            idle.append(beat.stop())
            # Streaming at full speed, markdown and all.
            beat.start()
            started = time.perf_counter()
            reply = await chat.session.send(PROMPT)
            elapsed = time.perf_counter() - started
            await asyncio.sleep(0.2)  # the last throttled re-render
            streaming.append(beat.stop())
            print(f"run {run + 1}: streamed {reply.stats.get('tokens', 0)} tokens in {elapsed:.2f} s "
                  f"({reply.stats.get('tokens_per_s', 0):.1f} tok/s), {len(reply.content)} chars; longest stall "
                  f"idle {idle[-1][0]:.1f} ms, streaming {streaming[-1][0]:.1f} ms")
        idle_worst, idle_p99 = median([w for w, _ in idle]), median([p for _, p in idle])
        stream_worst, stream_p99 = median([w for w, _ in streaming]), median([p for _, p in streaming])
        print(f"median of {runs} runs:")
        print(f"idle window      : longest stall {idle_worst:6.1f} ms, p99 {idle_p99:5.1f} ms")
        print(f"while streaming  : longest stall {stream_worst:6.1f} ms, p99 {stream_p99:5.1f} ms  (goal <= 16 ms)")
        print(f"RATIO longest stall streaming/idle = {stream_worst / max(idle_worst, 0.1):.2f}")
        await window.shutdown()
        loop.stop()

    asyncio.ensure_future(scenario())
    with loop:
        loop.run_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--stall-runs", type=int, default=3)
    parser.add_argument("--only", choices=("stall", "startup"))
    args = parser.parse_args()
    if args.only != "stall":
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                   STUDIO_HOME=tempfile.mkdtemp(prefix="studio-bench-start-"),
                   STUDIO_EXIT_AFTER_SHOW="1", STUDIO_STARTUP_REPORT="1")
        bare, studio = [], []
        for _ in range(args.starts):  # alternate so machine noise hits both
            bare.append(cold_start(["-c", BARE_WINDOW], env))
            studio.append(cold_start(["-m", "studio"], env))
        b_shown, s_shown = median([b[0] for b in bare]), median([s[0] for s in studio])
        b_own, s_own = median([b[1] for b in bare]), median([s[1] for s in studio])
        print(f"median of {args.starts} cold starts, from process start to the shown window:")
        print(f"bare PySide6 window : shown after {b_shown:6.0f} ms  (its own clock: {b_own:4.0f} ms)")
        print(f"studio main window  : shown after {s_shown:6.0f} ms  (its own clock: {s_own:4.0f} ms)  (goal <= 1000 ms)")
        print(f"RATIO cold start studio/bare (from process start) = {s_shown / b_shown:.2f}")
    if args.only != "startup":
        measure_stall(args.tokens, args.stall_runs)

if __name__ == "__main__":
    main()
