"""Fine-tune › Train, Runs and Evaluate with a real short LoRA run of the starter model (real trainer
worker, real engine worker): the loss curve fills while the window stays responsive, the run lands
in the history, "Chat with this adapter" attaches it, and base vs tuned are compared."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.session import SessionState
from tests.ui.conftest import open_finetune, set_sampling, wait_scan, write_jsonl

pytestmark = pytest.mark.slow

QA = [("What colour is the sky?", "Blue."), ("What is 2 plus 2?", "Four."), ("Name a fruit.", "An apple."),
      ("天空是什么颜色？", "蓝色。"), ("What do bees make?", "Honey."), ("Capital of Italy?", "Rome."),
      ("What is ice?", "Frozen water."), ("一加一等于几？", "二。"), ("Opposite of hot?", "Cold."),
      ("What do cows drink?", "Water."), ("How many legs has a cat?", "Four."), ("Say hello.", "Hello!")]


def dataset(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "tiny_qa.jsonl", [{"instruction": q, "output": a} for q, a in QA])


def configure(view, starter_model, **values) -> None:
    view.config_panel.set_model_path(str(starter_model))
    view.config_panel.set_values({"max_seq_len": 64, "batch_size": 2, "grad_accum": 1, "lora_r": 8,
                                  "lora_alpha": 16, "learning_rate": 1e-3, **values})
    assert not view._validate(), view._validate()


class StallMeter:
    """Wall-clock gaps between 10 ms timer ticks (a blocked GUI thread shows up as a long gap, unlike
    with CPU time), and the wall-clock time of each metrics callback."""

    def __init__(self, panel) -> None:
        self.gaps: list[float] = []
        self.costs: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        for name in ("on_step", "on_eval", "on_log", "on_status"):
            self._time(panel, name)
        self._time(panel.chart, "flush")

    def _time(self, owner, name: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.costs.append(time.perf_counter() - started)

        setattr(owner, name, timed)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def percentile(self, q: float) -> float:
        ordered = sorted(self.gaps)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_real_run_streams_loss_lands_in_history_and_chats_with_the_adapter(
        qtbot, run, window, tmp_path, starter_model, screenshot_dir):
    win = window
    view = open_finetune(win, [dataset(tmp_path)])
    configure(view, starter_model, max_steps=6, eval_every=2, save_every=3)
    wait_scan(run, view)
    panel = view.train_panel
    # the engine subscriptions were made when the view was built; rebuild them around the timed handlers
    for unsubscribe in view._unsubscribe:
        unsubscribe()
    meter = StallMeter(panel)
    view._unsubscribe = [view.trainer.subscribe(name, getattr(panel, f"on_{name}"))
                         for name in ("status", "step", "eval", "checkpoint", "log")]
    started = time.perf_counter()
    meter.start()
    panel.start_button.click()
    run.until(lambda: panel.running, 10)
    assert view.sections.currentWidget() is panel and not panel.start_button.isEnabled()
    # the chat keeps working while the run trains (its own worker process)
    set_sampling(win, max_tokens=8)
    win.chat.composer.setPlainText("Say hi.")
    win.chat.send()
    run.until(lambda: win.chat.session.state == SessionState.IDLE and len(win.chat.session.messages) == 2
              and win.chat.session.messages[-1].status == MessageStatus.COMPLETE, 120)
    run.until(lambda: panel.chart.n_points >= 3, 240)
    # the curve draws the buffered points within a redraw interval
    run.until(lambda: len(panel.chart.train_curve.getData()[0] if panel.chart.train_curve.getData()[0] is not None
                          else []) >= 3, 2)
    assert "Step" in panel.step_label.text() and "tokens/s" in panel.speed_label.text()
    assert "MB" in panel.memory_label.text() and "ETA" in panel.eta_label.text()
    qtbot.wait(150)
    win.grab().save(str(screenshot_dir / "finetune_training.png"))
    run.until(lambda: not view.training, 240)
    meter.timer.stop()
    elapsed = time.perf_counter() - started
    result = panel.last_result
    assert result["state"] == "completed", result
    assert result["step"] == 6 and Path(result["gguf_adapter"]).is_file()
    assert panel.chart.n_points == 6 and panel.chart.val_x, "train and validation points"
    assert panel.chart.redraws <= 6 + len(panel.chart.val_x) + 2  # batched redraws
    assert "Completed" in panel.stage.text()
    assert "adapter" in panel.log.toPlainText().lower()
    worst_cost, worst_gap, p99 = max(meter.costs) * 1000, max(meter.gaps) * 1000, meter.percentile(0.99) * 1000
    print(f"run {elapsed:.1f} s; metrics callback max {worst_cost:.1f} ms (wall) over {len(meter.costs)} calls; "
          f"gaps between 10 ms ticks: max {worst_gap:.0f} ms, 99th percentile {p99:.0f} ms over {len(meter.gaps)}")
    # Bounds for 2 busy cores shared with the trainer: preemption costs tens of ms, a GUI thread
    # blocked on the worker, a model load or a file read costs far more.
    assert worst_cost < 100, f"a metrics callback took {worst_cost:.0f} ms"
    assert p99 < 150 and worst_gap < 600, f"the window froze: ticks 99th percentile {p99:.0f} ms, max {worst_gap:.0f} ms"
    # the run is in the history with its final metrics
    runs = view.runs_panel
    run.until(lambda: runs.tree.topLevelItemCount() >= 1, 10)
    item = runs.tree.topLevelItem(0)
    assert item.text(1) == "completed" and item.text(2) == "6 / 6" and item.text(3) != "—"
    assert runs.selected().path == result["run_dir"]
    assert runs.chat_button.isEnabled() and runs.export_button.isEnabled() and not runs.resume_button.isEnabled()
    # Evaluate: perplexity base vs tuned, then the same prompts answered by both
    evalp = view.eval_panel
    view.sections.setCurrentWidget(evalp)
    assert evalp.selected().path == result["run_dir"]
    evalp.ppl_button.click()
    run.until(lambda: evalp.tuned_ppl.text() != "—" and not evalp.busy, 120)
    base_ppl, tuned_ppl = float(evalp.base_ppl.text()), float(evalp.tuned_ppl.text())
    print(f"validation perplexity: base {base_ppl:.3f}, tuned {tuned_ppl:.3f}")
    assert 1 < tuned_ppl < base_ppl  # the short answers it learned make held-out replies likelier
    assert evalp.change_ppl.text().endswith("%")
    assert win.engine.lora == []  # the chat's adapters (none) are back
    evalp.set_prompts(["What colour is the sky?", "天空是什么颜色？"])
    evalp.max_tokens.setValue(12)
    evalp.compare_button.click()
    run.until(lambda: not evalp.busy and evalp.answers.rowCount() == 2 and evalp.answer(1, 2), 120)
    answers = [(evalp.answer(row, 1), evalp.answer(row, 2)) for row in range(2)]
    print("base | tuned answers:", answers)
    assert all(base and tuned for base, tuned in answers), answers
    assert all(base.strip() != tuned.strip() for base, tuned in answers), "the adapter changed no answer"
    assert "Done" in evalp.cmp_status.text()
    qtbot.wait(150)
    win.grab().save(str(screenshot_dir / "finetune_evaluate.png"))
    # Chat with this adapter: the Chat tab, the base model, the adapter attached, a new conversation
    view.sections.setCurrentWidget(runs)
    before = win.chat.session.conversation.id
    runs.chat_button.click()
    run.until(lambda: win.engine.lora and win.engine.lora[0]["path"] == result["gguf_adapter"], 60)
    assert win.tabs.currentWidget() is win.chat
    assert win.chat.session.conversation.id != before
    assert os.path.realpath(win.engine.model_info.path) == os.path.realpath(str(starter_model))
    assert "adapter.gguf" in win.chat.adapter_label.text() and win.chat.adapter_label.isVisible()
    assert len(win.chat.settings_panel.adapters_box.rows) == 1
    set_sampling(win, max_tokens=10, temperature=0.0)
    win.chat.composer.setPlainText("What colour is the sky?")
    win.chat.send()
    run.until(lambda: win.chat.session.state == SessionState.IDLE and len(win.chat.session.messages) == 2
              and win.chat.session.messages[-1].status == MessageStatus.COMPLETE, 60)
    assert win.chat.session.messages[-1].content.strip()


def test_cancel_mid_run_keeps_an_adapter_and_resume_continues(qtbot, run, window, tmp_path, starter_model):
    win = window
    view = open_finetune(win, [dataset(tmp_path)])
    configure(view, starter_model, max_steps=40, eval_every=20, save_every=20)
    wait_scan(run, view)
    panel = view.train_panel
    panel.start_button.click()
    run.until(lambda: panel.chart.n_points >= 2, 240)
    panel.cancel_button.click()
    assert "Cancelling" in panel.stage.text()
    run.until(lambda: not view.training, 120)
    result = panel.last_result
    assert result["state"] == "cancelled", result
    stopped_at = result["step"]
    assert 2 <= stopped_at < 40 and Path(result["gguf_adapter"]).is_file()
    assert "Cancelled at step" in panel.stage.text() and panel.resume_button.isEnabled()
    runs = view.runs_panel
    run.until(lambda: runs.tree.topLevelItemCount() >= 1 and runs.tree.topLevelItem(0).text(1) == "cancelled", 10)
    assert runs.resume_button.isEnabled() and runs.chat_button.isEnabled()
    # Resume continues the step count from the checkpoint, with the curve so far
    panel.resume_button.click()
    run.until(lambda: panel.running, 10)
    assert panel.chart.n_points >= stopped_at  # the history was reloaded
    run.until(lambda: panel.chart.train_x and panel.chart.train_x[-1] > stopped_at, 240)
    panel.cancel_button.click()
    run.until(lambda: not view.training, 120)
    assert panel.last_result["state"] == "cancelled"
    assert panel.last_result["step"] > stopped_at
