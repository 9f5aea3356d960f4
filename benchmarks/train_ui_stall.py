"""The UI's longest event-loop stall while a real LoRA run streams metrics into Fine-tune › Train,
next to two baselines measured in the same run, with a 2 ms Qt heartbeat timer:

  (a) idle:    the window on Fine-tune › Train, nothing training;
  (b) hidden:  the trainer worker training, the Chat tab in front (the cost of CPU contention alone:
               step events still reach the hidden panel, nothing about them is painted);
  (c) visible: the same run with Fine-tune › Train in front, labels and the loss curve updating,
               from the click on Start on: the run's start-up (spawning the trainer worker, loading
               the model, tokenizing, up to the first step event) counts too, as the user sees it.

After the first step event, (b) and (c) alternate in short windows until the run ends, so drift in
the machine's load hits both; the first moments after each tab switch are not counted. The
start-up alone is reported as well.
Real main window, real engine worker with the starter model loaded, real trainer worker.
Goal: longest stall in (c) <= 16 ms.

    .venv/bin/python benchmarks/train_ui_stall.py [--steps 40] [--nice N] [--compare-nice]

--nice N sets STUDIO_TRAINER_NICE (the trainer worker's niceness, default 10) for the run;
--compare-nice runs the whole measurement twice, at nice 0 and nice 10, each in a fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import starter_model
from ui_stall import Heartbeat

REPO = Path(__file__).resolve().parents[1]
QA = [("What colour is the sky?", "Blue."), ("What is 2 plus 2?", "Four."), ("Name a fruit.", "An apple."),
      ("天空是什么颜色？", "蓝色。"), ("What do bees make?", "Honey."), ("Capital of Italy?", "Rome."),
      ("What is ice?", "Frozen water."), ("一加一等于几？", "二。"), ("Opposite of hot?", "Cold."),
      ("What do cows drink?", "Water."), ("How many legs has a cat?", "Four."), ("Say hello.", "Hello!")]
SETTLE_S = 0.3  # after a tab switch: its one-off relayout is not "metrics streaming"


class BenchError(RuntimeError):
    pass


class CpuHeartbeat(Heartbeat):
    """Also the GUI thread's CPU time in each gap: a long gap with little CPU was spent waiting
    for a core (the trainer had them), one with as much CPU as wall time was the window's own work."""

    def start(self) -> None:
        self.cpu: list[float] = []
        self._cpu_last = time.thread_time()
        super().start()

    def _tick(self) -> None:
        now = time.thread_time()
        self.cpu.append((now - self._cpu_last) * 1000)
        self._cpu_last = now
        super()._tick()


def stall(gaps: list[tuple[float, float]], interval: float) -> tuple[float, float, float]:
    """(longest stall, p99, GUI-thread CPU ms in the longest gap) over (gap, cpu) pairs, in ms;
    stall and p99 as ui_stall.Heartbeat.stop computes them."""
    if not gaps:
        return float("nan"), float("nan"), float("nan")
    gaps = sorted(gaps)
    p99 = gaps[max(int(len(gaps) * 0.99) - 1, 0)][0]
    return max(gaps[-1][0] - interval, 0.0), max(p99 - interval, 0.0), gaps[-1][1]


def prepare_env(nice: int | None) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("STUDIO_CACHE_DIR", str(REPO / "test-artifacts" / "cache"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    home = Path(tempfile.mkdtemp(prefix="studio-bench-train-ui-"))
    os.environ["STUDIO_HOME"] = str(home)
    os.environ["STUDIO_MODELS_DIR"] = str(home / "models")
    if nice is not None:
        os.environ["STUDIO_TRAINER_NICE"] = str(nice)  # read by the trainer worker at start-up
    source = starter_model()
    (home / "models").mkdir(parents=True)
    link = home / "models" / source.name
    link.symlink_to(source.resolve())
    # Dequantize (once, cached) in a throwaway process, so the GUI process never imports torch.
    subprocess.run([sys.executable, "-c", "import sys; from studio.core.training.base_model import "
                    "ensure_dequantized; ensure_dequantized(sys.argv[1])", str(link)], cwd=REPO, check=True)
    return link


def measure(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(REPO))
    model = prepare_env(args.nice)
    import qasync
    from PySide6.QtWidgets import QApplication

    from studio.core.chat.store import ChatStore
    from studio.core.engine.client import EngineClient
    from studio.core.models.library import ModelLibrary
    from studio.core.settings import load_settings
    from studio.ui.main_window import MainWindow
    from studio.ui.theme import apply_theme

    from PySide6.QtCore import qInstallMessageHandler

    def quiet(_mode, _context, message: str) -> None:  # the offscreen plugin's per-resize notice
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(quiet)
    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    home = Path(os.environ["STUDIO_HOME"])
    settings = load_settings()
    window = MainWindow(settings, ChatStore(home / "chats.sqlite3"), EngineClient(settings.engine), ModelLibrary())
    window.resize(1200, 800)
    window.show()
    beat = CpuHeartbeat()
    result: dict = {}

    async def until(predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {timeout:.0f} s waiting for {predicate.__name__}")
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        try:
            await window.startup()  # lists the models, loads the starter in the engine worker
            if not window.engine.ready:
                raise BenchError(f"the engine did not load the starter: {window.banner.text()}")
            data = home / "tiny_qa.jsonl"
            data.write_text("".join(json.dumps({"instruction": q, "output": a}, ensure_ascii=False) + "\n"
                                    for q, a in QA), encoding="utf-8")
            window.open_datasets([str(data)])
            view = window.finetune
            view.config_panel.set_model_path(str(model))
            view.config_panel.set_values({"max_seq_len": 64, "batch_size": 2, "grad_accum": 1, "lora_r": 8,
                                          "lora_alpha": 16, "learning_rate": 1e-3, "max_steps": args.steps,
                                          "eval_every": 10, "save_every": args.steps})
            panel = view.data_panel
            await until(lambda: not panel.scanning and panel.report is not None, 60)
            if view._validate():
                raise BenchError(f"config problems: {view._validate()}")
            train = view.train_panel
            view.sections.setCurrentWidget(train)
            await asyncio.sleep(SETTLE_S)

            # (a) idle, Train section in front
            beat.start()
            await asyncio.sleep(args.idle)
            beat.stop()
            gaps = {"idle": list(zip(beat.gaps, beat.cpu)), "hidden": [], "visible": []}

            steps: list[tuple[float, int, str]] = []  # (time, tokens so far, condition)
            condition = "startup"
            view.trainer.subscribe("step", lambda tokens=0, **_: steps.append((time.perf_counter(), tokens, condition)))
            redraws = {"hidden": 0, "visible": 0}
            load = os.getloadavg()[0]  # something else busy on the machine skews every number
            started = time.perf_counter()
            beat.start()  # Train is in front: the start-up is part of what the user watches
            train.start_button.click()
            await until(lambda: steps or not view.training and time.perf_counter() - started > 5, args.timeout)
            beat.stop()
            first_step_s = time.perf_counter() - started
            gaps["startup"] = list(zip(beat.gaps, beat.cpu))
            gaps["visible"].extend(gaps["startup"])
            order = ("hidden", "visible")
            i = 0
            while view.training:
                condition = "switching"
                want = order[i % 2]
                window.tabs.setCurrentWidget(window.chat if want == "hidden" else window.finetune_host)
                await asyncio.sleep(SETTLE_S)
                condition = want
                before = train.chart.redraws
                beat.start()
                end = time.monotonic() + args.window
                while view.training and time.monotonic() < end:
                    await asyncio.sleep(0.05)
                if time.perf_counter() - started > args.timeout and view.training:
                    view.cancel_run()
                    await until(lambda: not view.training, 60)
                    raise BenchError(f"the run took over {args.timeout:.0f} s (load average "
                                     f"{os.getloadavg()[0]:.1f}): is something else using the CPU?")
                beat.stop()
                gaps[want].extend(zip(beat.gaps, beat.cpu))
                redraws[want] += train.chart.redraws - before
                i += 1
            outcome = train.last_result
            if outcome.get("state") != "completed":
                raise BenchError(f"the run did not complete: {outcome}")

            def rate(cond: str | None) -> float:
                # tokens/s between consecutive step events that both fell in `cond` (None: all of them)
                tok = sec = 0.0
                for (t0, k0, c0), (t1, k1, c1) in zip(steps, steps[1:]):
                    if cond is None or c0 == c1 == cond:
                        tok, sec = tok + (k1 - k0), sec + (t1 - t0)
                return tok / sec if sec else float("nan")

            result.update(
                nice=os.environ.get("STUDIO_TRAINER_NICE", "10 (default)"), steps=outcome.get("step"), load=load,
                first_step_s=first_step_s, run_s=time.perf_counter() - started,
                step_events=len(steps), events={c: sum(1 for s in steps if s[2] == c) for c in order},
                redraws=redraws, tokens_per_s=rate(None), tokens_per_s_by={c: rate(c) for c in order},
                ticks={c: len(g) for c, g in gaps.items()},
                **{c: stall(g, beat.interval) for c, g in gaps.items()})
        finally:
            await window.shutdown()
            loop.stop()

    task = asyncio.ensure_future(scenario())
    with loop:
        loop.run_forever()
    if task.done() and not task.cancelled() and task.exception():
        raise SystemExit(f"train_ui_stall: {task.exception()}")
    if not result:
        raise SystemExit("the scenario did not finish")
    return result


def report(r: dict) -> None:
    print(f"trainer nice {r['nice']}: {r['steps']} steps, first step event after {r['first_step_s']:.1f} s, "
          f"run {r['run_s']:.1f} s, {r['tokens_per_s']:.0f} tokens/s "
          f"(hidden {r['tokens_per_s_by']['hidden']:.0f}, visible {r['tokens_per_s_by']['visible']:.0f}); "
          f"{r['step_events']} step events (hidden {r['events']['hidden']}, visible {r['events']['visible']}), "
          f"curve redraws while visible {r['redraws']['visible']}; load average at start {r['load']:.1f} "
          f"on {os.cpu_count()} CPUs")
    names = {"idle": "(a) idle, no training      ", "hidden": "(b) training, tab hidden   ",
             "visible": "(c) training, Train visible", "startup": "    of (c): the start-up   "}
    for cond, name in names.items():
        worst, p99, cpu = r[cond]
        goal = "  (goal <= 16 ms)" if cond == "visible" else ""
        print(f"  {name}: longest stall {worst:6.1f} ms (GUI thread busy {cpu:5.1f} ms of it), "
              f"p99 {p99:5.1f} ms over {r['ticks'][cond]} ticks{goal}")
    c = r["visible"][0]
    print(f"  RATIO longest stall (c)/(a) = {c / max(r['idle'][0], 0.1):.2f}   "
          f"(c)/(b) = {c / max(r['hidden'][0], 0.1):.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--idle", type=float, default=4.0, help="seconds of the idle baseline")
    parser.add_argument("--window", type=float, default=1.5, help="seconds per hidden/visible window")
    parser.add_argument("--timeout", type=float, default=150, help="give up on a run slower than this")
    parser.add_argument("--nice", type=int, default=None, help="STUDIO_TRAINER_NICE for this run")
    parser.add_argument("--compare-nice", action="store_true", help="run at nice 0 and nice 10")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.compare_nice:
        result = measure(args)
        if args.json:
            print("RESULT " + json.dumps(result), flush=True)
        else:
            report(result)
        return 0
    results = []
    for nice in (0, 10):
        command = [sys.executable, __file__, "--json", "--nice", str(nice), "--steps", str(args.steps),
                   "--idle", str(args.idle), "--window", str(args.window), "--timeout", str(args.timeout)]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            print(f"nice {nice} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}", file=sys.stderr)
            return 1
        results.append(json.loads(lines[-1][7:]))
        report(results[-1])
    c0, c10 = results[0]["visible"][0], results[1]["visible"][0]
    print(f"RATIO longest stall while visible, nice 0 / nice 10 = {c0 / max(c10, 0.1):.2f}; "
          f"tokens/s nice 0 / nice 10 = {results[0]['tokens_per_s'] / results[1]['tokens_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
