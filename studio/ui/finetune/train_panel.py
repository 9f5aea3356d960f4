"""Fine-tune › Train: Start / Cancel / Resume, the live loss curve, speed, ETA, memory and the log.

The trainer runs in its own worker process (TrainerClient); this panel only shows its events.
Step events arrive at most ~10 times a second and the curve redraws at most 10 times a second,
so a fast run never stalls the window.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from studio.ui.finetune.charts import LossChart
from studio.ui.widgets.banner import Banner
from studio.ui.theme import styled

LOG_LINES = 2000


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TrainPanel(QWidget):
    start_requested = Signal()
    cancel_requested = Signal()
    resume_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("TrainPanel")
        self.running = False
        self.last_result: dict = {}
        self.banner = Banner(self)

        buttons = QHBoxLayout()
        self.start_button = QPushButton(self.tr("Start training"), self)
        self.start_button.setObjectName("StartTraining")
        self.start_button.clicked.connect(self.start_requested)
        self.cancel_button = QPushButton(self.tr("Cancel"), self)
        self.cancel_button.setToolTip(self.tr("Stop the run; the adapter learned so far is saved"))
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.resume_button = QPushButton(self.tr("Resume"), self)
        self.resume_button.setToolTip(self.tr("Continue the last run from its last checkpoint"))
        self.resume_button.clicked.connect(self.resume_requested)
        self.stage = QLabel(self.tr("Not started."), self)
        styled(self.stage, "TrainStage")
        self.progress = QProgressBar(self)
        self.progress.setObjectName("TrainProgress")
        self.progress.setRange(0, 1000)
        self.progress.setMinimumWidth(220)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.resume_button)
        buttons.addSpacing(12)
        buttons.addWidget(self.stage, 1)
        buttons.addWidget(self.progress)

        stats = QGridLayout()
        stats.setHorizontalSpacing(24)
        self.step_label = QLabel(self)
        self.speed_label = QLabel(self)
        self.eta_label = QLabel(self)
        self.memory_label = QLabel(self)
        self.loss_label = QLabel(self)
        for i, label in enumerate((self.step_label, self.loss_label, self.speed_label, self.eta_label,
                                   self.memory_label)):
            label.setObjectName("TrainStat")
            stats.addWidget(label, 0, i)
        stats.setColumnStretch(5, 1)
        self.run_label = QLabel(self)
        styled(self.run_label, "Hint")
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.chart = LossChart(self)
        self.chart.setMinimumHeight(220)
        chart_box = QGroupBox(self.tr("Loss"), self)
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.addWidget(self.chart)
        self.log = QPlainTextEdit(self)
        self.log.setObjectName("TrainLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        log_box = QGroupBox(self.tr("Log"), self)
        log_layout = QVBoxLayout(log_box)
        log_layout.addWidget(self.log)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(chart_box)
        split.addWidget(log_box)
        split.setSizes([420, 160])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.banner)
        layout.addLayout(buttons)
        layout.addLayout(stats)
        layout.addWidget(self.run_label)
        layout.addWidget(split, 1)

        self._pending_log: list[str] = []
        self.last_checkpoint_step = 0
        self._log_timer = QTimer(self)  # log lines are appended in batches, like the curve's points
        self._log_timer.setSingleShot(True)
        self._log_timer.setInterval(150)
        self._log_timer.timeout.connect(self._flush_log)
        self._resumable = False
        self.set_running(False)
        self._clear_stats()
        self.progress.hide()  # until a run starts

    # -- state ------------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.running = running
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(not running and self._resumable)

    def set_resumable(self, resumable: bool) -> None:
        self._resumable = resumable
        self.resume_button.setEnabled(not self.running and resumable)

    def begin(self, run_dir: str, *, resume: bool, history: list[dict] | None = None) -> None:
        """A run starts (or resumes): clear the view, or show the resumed run's curve so far."""
        self.banner.hide()
        self.last_result = {}
        self.chart.clear_points()
        self.log.clear()
        self._pending_log.clear()
        self._clear_stats()
        for record in history or []:
            if record.get("type") == "step" and record.get("loss") is not None:
                self.chart.add_train(record["step"], record["loss"])
            elif record.get("type") == "eval" and record.get("val_loss") is not None:
                self.chart.add_val(record["step"], record["val_loss"])
        self.chart.flush()
        self.run_label.setText(self.tr("Run folder: {path}").format(path=run_dir))
        self.stage.setText(self.tr("Resuming…") if resume else self.tr("Starting…"))
        self.progress.setRange(0, 0)
        self.progress.show()
        self.set_running(True)

    def _clear_stats(self) -> None:
        self.step_label.setText(self.tr("Step —"))
        self.loss_label.setText(self.tr("Loss —"))
        self.speed_label.setText(self.tr("— tokens/s"))
        self.eta_label.setText(self.tr("ETA —"))
        self.memory_label.setText(self.tr("Memory —"))

    # -- trainer events ---------------------------------------------------------------------
    def on_status(self, stage: str = "", fraction: float = 0.0, **_: object) -> None:
        names = {"loading model": self.tr("Loading the base model…"),
                 "dequantizing": self.tr("Dequantizing the GGUF model for training (once; cached after)…"),
                 "tokenizing": self.tr("Tokenizing the dataset…"), "training": self.tr("Training…"),
                 "exporting": self.tr("Saving the adapter (PEFT and GGUF)…")}
        self.stage.setText(names.get(stage, stage))
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(max(0.0, min(1.0, float(fraction or 0))) * 1000))

    def on_step(self, step: int = 0, total_steps: int = 0, epoch: float = 0.0, loss: float | None = None,
                tokens_per_s: float | None = None, eta_s: float | None = None, rss_mb: float | None = None,
                **_: object) -> None:
        if loss is not None:
            self.chart.add_train(step, loss)
            self.loss_label.setText(self.tr("Loss {loss}").format(loss=f"{float(loss):.4f}"))
        self.step_label.setText(self.tr("Step {step} / {total} · epoch {epoch}").format(
            step=step, total=total_steps, epoch=f"{float(epoch or 0):.2f}"))
        if tokens_per_s is not None:
            self.speed_label.setText(self.tr("{n} tokens/s").format(n=f"{float(tokens_per_s):,.0f}"))
        self.eta_label.setText(self.tr("ETA {time}").format(time=format_duration(eta_s)))
        if rss_mb is not None:
            self.memory_label.setText(self.tr("Memory {mb} MB").format(mb=f"{float(rss_mb):,.0f}"))
        if total_steps:
            self.stage.setText(self.tr("Training…"))
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * step / max(1, total_steps)))

    def on_eval(self, step: int = 0, val_loss: float | None = None, **_: object) -> None:
        if val_loss is not None:
            self.chart.add_val(step, val_loss)

    def on_checkpoint(self, step: int = 0, path: str = "", **_: object) -> None:
        self.last_checkpoint_step = step  # the runner's own log line already says it

    def on_log(self, line: str = "", **_: object) -> None:
        self._pending_log.append(str(line))
        if not self._log_timer.isActive():
            self._log_timer.start()

    def _flush_log(self) -> None:
        if not self._pending_log:
            return
        at_end = self.log.verticalScrollBar().value() >= self.log.verticalScrollBar().maximum() - 4
        cursor = QTextCursor(self.log.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        text = "\n".join(self._pending_log)
        cursor.insertText(("\n" if not self.log.document().isEmpty() else "") + text)
        self._pending_log.clear()
        if at_end:
            self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())

    def finish(self, result: dict) -> None:
        """The run ended: say how, with what to do next."""
        self._flush_log()
        self.chart.flush()
        self.last_result = dict(result)
        self.set_running(False)
        self.progress.setRange(0, 1000)
        state = result.get("state", "")
        step, total = result.get("step") or 0, result.get("total_steps") or 0
        losses = []
        if result.get("train_loss") is not None:
            losses.append(self.tr("train loss {loss}").format(loss=f"{float(result['train_loss']):.4f}"))
        if result.get("val_loss") is not None:
            losses.append(self.tr("validation loss {loss}").format(loss=f"{float(result['val_loss']):.4f}"))
        summary = ", ".join(losses)
        if result.get("already_complete"):
            self.progress.setValue(1000)
            self.stage.setText(str(result.get("message") or self.tr("This run is already complete.")))
        elif result.get("resume_failed"):  # the earlier run is untouched: not a failed run
            self.stage.setText(self.tr("Could not resume; the run is unchanged ({state}).").format(
                state=result.get("run_state") or state))
            text = self.tr("Resume failed: {reason}").format(reason=result.get("error") or self.tr("unknown error"))
            if result.get("suggestion"):
                text += "\n" + str(result["suggestion"])
            self.banner.show_message(text, "warning", details=str(result.get("log_tail") or ""))
        elif state == "completed":
            self.progress.setValue(1000)
            self.stage.setText(self.tr("Completed: {step} steps. {losses}").format(step=step, losses=summary))
        elif state == "cancelled":
            adapter = result.get("gguf_adapter") or result.get("adapter_dir")
            text = self.tr("Cancelled at step {step} of {total}.").format(step=step, total=total)
            if adapter:
                text += " " + self.tr("The adapter learned so far is saved; Resume continues from here.")
            self.stage.setText(text)
        elif state == "failed":
            self.stage.setText(self.tr("Failed at step {step}.").format(step=step))
            text = self.tr("Training failed: {reason}").format(reason=result.get("error") or self.tr("unknown error"))
            if result.get("suggestion"):
                text += "\n" + str(result["suggestion"])
            self.banner.show_message(text, "error", details=str(result.get("log_tail") or ""))
        else:
            self.stage.setText(state)
        if result.get("gguf_error"):
            self.banner.show_message(self.tr("The adapter was saved, but not as GGUF: {reason}").format(
                reason=result["gguf_error"]), "warning")
        self.set_resumable(bool(result.get("resumable", state in ("cancelled", "failed"))))


__all__ = ["TrainPanel", "format_duration"]
