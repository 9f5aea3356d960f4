"""The Fine-tune screen: Data → Configure → Train → Runs → Evaluate.

It owns the two background clients of this screen (DatasetClient for scans, TrainerClient for
runs; each drives its own worker process, so the chat keeps working while a run trains) and
wires the panels to them. The panels only show things; every piece of data work is a core call.
Evaluation runs on the app's engine through the workspace (studio.core.evaluation);
"Chat with this adapter" is a signal the window answers.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QTabWidget, QVBoxLayout, QWidget

from studio.core.training.config import ConfigError, RunConfig
from studio.core.training.data import validation_texts
from studio.core.evaluation import AdapterEvaluation
from studio.core.workers.protocol import WorkerError
from studio.core.workspace import EngineBusy, Workspace
from studio.core.errors import user_message
from studio.ui.finetune.config_panel import ConfigPanel
from studio.ui.finetune.data_panel import DataPanel
from studio.ui.finetune.eval_panel import MAX_PPL_TEXTS, EvalPanel
from studio.ui.finetune.runs_panel import RunsPanel
from studio.ui.finetune.train_panel import TrainPanel
from studio.ui.tasks import in_thread, spawn, threadsafe


class FinetuneView(QWidget):
    chat_with_adapter_requested = Signal(str, str)   # base model, GGUF adapter

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from studio.core.datasets.client import DatasetClient
        from studio.core.training.client import TrainerClient

        self.setObjectName("FinetuneView")
        self.workspace = workspace
        self.evaluation = AdapterEvaluation(workspace)
        self.datasets = DatasetClient()
        self.trainer = TrainerClient()
        self._train_task: asyncio.Task | None = None
        self._eval_task: asyncio.Task | None = None
        self.run_dir = ""          # the run this screen last started or resumed

        self.data_panel = DataPanel(self.datasets, self)
        self.config_panel = ConfigPanel(self)
        self.train_panel = TrainPanel(self)
        self.runs_panel = RunsPanel(self)
        self.eval_panel = EvalPanel(self)
        self.sections = QTabWidget(self)
        self.sections.setObjectName("FinetuneSections")
        self.sections.addTab(self.data_panel, self.tr("1 · Data"))
        self.sections.addTab(self.config_panel, self.tr("2 · Configure"))
        self.sections.addTab(self.train_panel, self.tr("3 · Train"))
        self.sections.addTab(self.runs_panel, self.tr("Runs"))
        self.sections.addTab(self.eval_panel, self.tr("Evaluate"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.sections)

        self.config_panel.model_changed.connect(self.data_panel.set_model)
        self.config_panel.max_seq_len_changed.connect(self.data_panel.set_max_seq_len)
        self.config_panel.changed.connect(self._validate)
        self.config_panel.save_requested.connect(self.save_config_dialog)
        self.config_panel.load_requested.connect(self.load_config_dialog)
        self.data_panel.changed.connect(self._validate)
        self.data_panel.set_model(self.config_panel.model_path())
        self.data_panel.set_max_seq_len(self.config_panel.max_seq_len.value())
        self.train_panel.start_requested.connect(lambda: self._spawn_train(self.start_run()))
        self.train_panel.cancel_requested.connect(self.cancel_run)
        self.train_panel.resume_requested.connect(self._resume_last)
        self.runs_panel.refresh_requested.connect(lambda: spawn(self.refresh_runs(), on_error=self._unexpected))
        self.runs_panel.resume_requested.connect(lambda run: self._spawn_train(self.resume_run(run.path)))
        self.runs_panel.chat_requested.connect(self.chat_with_run)
        self.runs_panel.export_requested.connect(lambda run: spawn(self.export_run(run), on_error=self._unexpected))
        self.runs_panel.merge_requested.connect(lambda run: spawn(self.merge_run(run), on_error=self._unexpected))
        self.runs_panel.delete_requested.connect(lambda run: spawn(self.delete_run(run), on_error=self._unexpected))
        self.runs_panel.show_requested.connect(lambda run: spawn(self.show_run(run.path), on_error=self._unexpected))
        self.eval_panel.perplexity_requested.connect(self._start_perplexity)
        self.eval_panel.compare_requested.connect(self._start_compare)
        self.eval_panel.stop_requested.connect(self.stop_eval)
        self.eval_panel.prompts_wanted.connect(lambda run: spawn(self.fill_prompts(run), on_error=self._unexpected))
        self._unsubscribe = [
            self.trainer.subscribe("status", self.train_panel.on_status),
            self.trainer.subscribe("step", self.train_panel.on_step),
            self.trainer.subscribe("eval", self.train_panel.on_eval),
            self.trainer.subscribe("checkpoint", self.train_panel.on_checkpoint),
            self.trainer.subscribe("log", self.train_panel.on_log),
            workspace.subscribe("restore_failed", self._on_restore_failed),
        ]
        spawn(self.refresh_runs(), on_error=self._unexpected)

    def drop_targets(self) -> list[QWidget]:
        """Text fields that would take a dropped file's path: the window routes file drops on them."""
        return [self.eval_panel.prompts.viewport(), self.config_panel.target_modules]

    # -- from the window --------------------------------------------------------------------
    def set_models(self, entries: list, chat_model: str) -> None:
        self.config_panel.set_models(entries, chat_model)

    def add_datasets(self, paths: list[str]) -> None:
        self.sections.setCurrentWidget(self.data_panel)
        self.data_panel.add_paths(paths)

    @property
    def training(self) -> bool:
        return self.trainer.running or (self._train_task is not None and not self._train_task.done())

    async def shutdown(self) -> None:
        """Stop what this screen started: a scan, an evaluation, a run (resumable from its checkpoint)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self.stop_eval()
        try:
            await asyncio.wait_for(self.trainer.close(), 15)
        except (asyncio.TimeoutError, WorkerError):
            self.trainer.kill()
        try:
            await asyncio.wait_for(self.datasets.close(), 5)
        except (asyncio.TimeoutError, WorkerError):
            pass

    # -- config -----------------------------------------------------------------------------
    def config(self) -> RunConfig:
        """The RunConfig the screen shows (Configure fields + the Data panel's files and split)."""
        values = {**self.config_panel.values(), **self.data_panel.data_settings()}
        if values.get("mapping"):
            values["mapping"] = {k: v for k, v in values["mapping"].items() if v}
        return RunConfig.from_dict(values)

    def set_config(self, config: RunConfig) -> None:
        data = config.to_dict()
        self.config_panel.set_values({k: v for k, v in data.items() if k not in (
            "data", "val_data", "val_ratio", "format", "mapping", "output_dir", "version", "logging_every")})
        self.data_panel.set_data_settings(config.data, config.val_data, config.val_ratio, config.format,
                                          config.mapping)
        self._validate()

    def _validate(self, *_args) -> list[str]:
        try:
            problems = self.config().validate()
        except (ConfigError, ValueError) as exc:
            problems = [str(exc)]
        self.config_panel.show_problems(problems)
        return problems

    def save_config_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Save run config"), str(Path.home() / "run-config.json"),
                                              self.tr("Run config (*.json)"))
        if path:
            self.save_config(path if path.lower().endswith(".json") else path + ".json")

    def save_config(self, path: str) -> bool:
        try:
            written = self.config().save(path)
        except (ConfigError, ValueError) as exc:
            self.config_panel.show_problems([str(exc)])
            return False
        except OSError as exc:
            self._banner(self.tr("Could not save the config: {reason}").format(reason=exc.strerror or exc), "error")
            return False
        self._banner(self.tr("Saved to {path}. Run it headless with: studio train {path}").format(path=written), "info")
        return True

    def load_config_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Load run config"), str(Path.home()),
                                              self.tr("Run config (*.json);;All files (*)"))
        if path:
            self.load_config(path)

    def load_config(self, path: str) -> bool:
        try:
            config = RunConfig.load(path)
        except ConfigError as exc:
            self._banner(self.tr("Could not load the config: {reason}").format(reason=str(exc)), "error")
            return False
        self.set_config(config)
        self._banner(self.tr("Loaded {path}.").format(path=path), "info")
        return True

    def _banner(self, text: str, level: str, details: str = "") -> None:
        """Messages appear on the section the user is looking at."""
        panel = self.sections.currentWidget()
        banner = getattr(panel, "banner", None) or self.train_panel.banner
        banner.show_message(text, level, details=details)

    # -- training ---------------------------------------------------------------------------
    def _spawn_train(self, coro) -> None:
        if self.training:
            coro.close()
            self._banner(self.tr("A run is already training: cancel it first, or wait for it to finish."), "warning")
            return
        self._train_task = spawn(coro, on_error=self._train_failed)

    async def start_run(self) -> dict | None:
        problems = self._validate()
        if problems:
            self.sections.setCurrentWidget(self.config_panel)
            self.config_panel.show_problems(problems)
            return None
        config = self.config().resolved()
        return await self._train(config, resume=False)

    async def resume_run(self, run_path: str) -> dict | None:
        from studio.core.training.runs import RunDir

        run = RunDir(run_path)
        try:
            config = await in_thread(RunConfig.load, run.config_path)
        except ConfigError as exc:
            self._banner(self.tr("This run cannot be resumed: {reason}").format(reason=str(exc)), "error")
            return None
        config.output_dir = str(run.path)
        return await self._train(config, resume=True)

    def _resume_last(self) -> None:
        if self.run_dir:
            self._spawn_train(self.resume_run(self.run_dir))

    async def _train(self, config: RunConfig, *, resume: bool) -> dict | None:
        from studio.core.training.runs import RunDir

        self.run_dir = config.output_dir
        history = await in_thread(RunDir(config.output_dir).read_metrics) if resume else []
        self.sections.setCurrentWidget(self.train_panel)
        self.train_panel.begin(config.output_dir, resume=resume, history=history)
        self.runs_panel.set_busy_path(config.output_dir)
        spawn(self.refresh_runs(), on_error=self._unexpected)
        try:
            result = await self.trainer.start(config, resume=resume)
        except WorkerError as exc:
            result = {"state": "failed", "error": exc.message, "log_tail": exc.log_tail,
                      "resumable": False, "run_dir": config.output_dir}
        finally:
            self.runs_panel.set_busy_path("")
        self.train_panel.finish(result)
        await self.refresh_runs()
        self.runs_panel.select_path(config.output_dir)
        self.eval_panel.select_path(config.output_dir)
        return result

    def _train_failed(self, exc: BaseException) -> None:
        self.runs_panel.set_busy_path("")
        self.train_panel.finish({"state": "failed", "error": user_message(exc),
                                 "log_tail": f"{type(exc).__name__}: {exc}", "resumable": False})

    def cancel_run(self) -> None:
        if self.trainer.running:
            self.train_panel.stage.setText(self.tr("Cancelling: saving the adapter learned so far…"))
            self.train_panel.cancel_button.setEnabled(False)
            spawn(self.trainer.cancel(), on_error=self._unexpected)

    async def show_run(self, run_path: str) -> None:
        """Show a finished run's curve and log in Train (while nothing trains)."""
        from studio.core.training.runs import RunDir, summarize

        if self.training:
            return
        run = RunDir(run_path)
        history = await in_thread(run.read_metrics)
        summary = await in_thread(summarize, run)
        self.train_panel.begin(run_path, resume=True, history=history)
        self.train_panel.on_log(line=await in_thread(run.log_tail, 200))
        self.train_panel.finish({**summary.to_dict(), "resumable": summary.resumable})
        self.run_dir = run_path
        self.sections.setCurrentWidget(self.train_panel)

    # -- runs -------------------------------------------------------------------------------
    async def refresh_runs(self) -> list:
        from studio.core.training.runs import list_runs

        runs = await in_thread(list_runs)
        self.runs_panel.set_runs(runs)
        self.eval_panel.set_runs(runs)
        last = next((r for r in runs if self.run_dir and os.path.realpath(r.path) == os.path.realpath(self.run_dir)),
                    None)
        if last is not None and not self.train_panel.running:
            self.train_panel.set_resumable(last.resumable)
        return runs

    def chat_with_run(self, run) -> None:
        if run.gguf_adapter:
            self.chat_with_adapter_requested.emit(run.base_model, run.gguf_adapter)

    async def export_run(self, run, out_path: str | None = None) -> Path | None:
        from studio.core.training.export_gguf import export_lora_gguf

        if out_path is None:
            out_path, _ = QFileDialog.getSaveFileName(self, self.tr("Export GGUF adapter"),
                                                      str(Path(run.path) / "adapter.gguf"),
                                                      self.tr("GGUF adapters (*.gguf)"))
            if not out_path:
                return None
        self.runs_panel.set_progress(0.0, self.tr("Exporting the GGUF adapter…"))
        self.runs_panel.progress.setRange(0, 0)
        try:
            written = await in_thread(export_lora_gguf, run.adapter_dir, out_path, base_model=run.base_model or None)
        except Exception as exc:  # ExportError and file errors: said in a sentence
            self.runs_panel.banner.show_message(self.tr("The GGUF export failed: {reason}").format(
                reason=user_message(exc)), "error", details=f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.runs_panel.progress.setRange(0, 1000)
            self.runs_panel.set_progress(None)
        self.runs_panel.banner.show_message(self.tr("GGUF adapter written to {path}").format(path=written), "info")
        await self.refresh_runs()
        return Path(written)

    async def merge_run(self, run, out_path: str | None = None) -> Path | None:
        try:
            from studio.core.training.merge import merge_lora_into_gguf
        except ImportError:
            self.runs_panel.banner.show_message(self.tr("Merging is not available in this build."), "warning")
            return None
        if out_path is None:
            suggested = Path(run.base_model).with_name(f"{Path(run.base_model).stem}-{run.name}.gguf")
            out_path, _ = QFileDialog.getSaveFileName(self, self.tr("Merge into a standalone GGUF"), str(suggested),
                                                      self.tr("GGUF models (*.gguf)"))
            if not out_path:
                return None
        self.runs_panel.set_progress(0.0, self.tr("Merging the adapter into {name}…").format(
            name=Path(out_path).name))
        report = threadsafe(lambda fraction, *_: self.runs_panel.set_progress(fraction, self.runs_panel.progress_label
                                                                               .text()))
        try:
            written = await in_thread(merge_lora_into_gguf, run.base_model, run.gguf_adapter, out_path,
                                      progress=report)
        except Exception as exc:
            self.runs_panel.banner.show_message(self.tr("The merge failed: {reason}").format(
                reason=user_message(exc)), "error", details=f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.runs_panel.set_progress(None)
        self.runs_panel.banner.show_message(
            self.tr("Merged model written to {path}. Add it with “Add model file…” to chat with it.").format(
                path=written), "info")
        return Path(written)

    async def delete_run(self, run, *, confirm: bool = True) -> bool:
        if confirm:
            answer = QMessageBox.question(
                self, self.tr("Delete run"),
                self.tr("Delete the run “{name}” with its checkpoints and adapters? This cannot be undone.").format(
                    name=run.name),
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        from studio.core.training.runs import RunInUse, delete_run

        try:
            await in_thread(delete_run, run.path, attached_adapters=[str(a.get("path")) for a in self.workspace.adapters])
        except RunInUse as exc:
            self.runs_panel.banner.show_message(self.tr("Not deleted: {reason}").format(reason=exc), "warning")
            return False
        except OSError as exc:
            self.runs_panel.banner.show_message(self.tr("Could not delete the run: {reason}").format(
                reason=exc.strerror or exc), "error")
            return False
        await self.refresh_runs()
        return True

    # -- evaluate ---------------------------------------------------------------------------
    def _eval_ready(self, run) -> bool:
        if self.evaluation.running or (self._eval_task is not None and not self._eval_task.done()):
            return False
        if self.workspace.holder == "chat":
            self.eval_panel.banner.show_message(self.tr("A chat reply is being written: wait for it or stop it "
                                                        "first."), "warning")
            return False
        if not run.base_model.lower().endswith(".gguf"):
            self.eval_panel.banner.show_message(self.tr("This run was trained from a Hugging Face folder; the "
                                                        "engine needs its GGUF to evaluate."), "warning")
            return False
        return True

    def _start_perplexity(self, run) -> None:
        if self._eval_ready(run):
            self._eval_task = spawn(self.perplexity(run), on_error=self._eval_failed)

    def _start_compare(self, run, prompts: list, max_tokens: int) -> None:
        if self._eval_ready(run):
            self._eval_task = spawn(self.compare(run, prompts, max_tokens), on_error=self._eval_failed)

    async def fill_prompts(self, run) -> None:
        config = await in_thread(RunConfig.load, Path(run.path) / "config.json")
        _texts, prompts = await in_thread(validation_texts, config, 5)
        self.eval_panel.set_prompts(prompts[:5])

    async def perplexity(self, run) -> tuple[dict, dict] | None:
        panel = self.eval_panel
        panel.banner.hide()
        panel.set_busy(True)
        labels = {"base": self.tr("base"), "tuned": self.tr("tuned")}
        try:
            config = await in_thread(RunConfig.load, Path(run.path) / "config.json")
            panel.set_ppl_progress(0.0, self.tr("Reading the validation set…"))
            texts, _prompts = await in_thread(validation_texts, config, MAX_PPL_TEXTS)
            if not texts:
                panel.banner.show_message(self.tr("This run has no validation examples to score."), "warning")
                return None
            outcome = await self.evaluation.perplexity(
                run.base_model, run.gguf_adapter, texts,
                on_progress=lambda side, fraction, stage: panel.set_ppl_progress(fraction, f"{labels[side]}: {stage}"),
                on_result=lambda so_far: panel.show_perplexity(so_far.base, so_far.tuned, len(texts)))
            if outcome is None:
                return None
            if outcome.cancelled:
                panel.set_ppl_progress(0.0, self.tr("Cancelled"))
                return None
            panel.set_ppl_progress(1.0, self.tr("Done"))
            return outcome.base, outcome.tuned
        except EngineBusy as exc:
            panel.banner.show_message(str(exc), "warning")
            return None
        except WorkerError as exc:
            panel.banner.show_message(self.tr("Perplexity could not be computed: {reason}").format(
                reason=exc.message), "error", details=exc.log_tail)
            return None
        finally:
            panel.set_busy(False)

    async def compare(self, run, prompts: list[str], max_tokens: int) -> list[tuple[str, str]] | None:
        """Answer each prompt with the base model, then with the adapter (greedy, so it is comparable)."""
        panel = self.eval_panel
        panel.banner.hide()
        panel.set_busy(True)
        panel.start_answers(prompts)

        def answering(side: str, row: int) -> None:
            panel.cmp_status.setText(self.tr("{which}: answering {n} of {total}…").format(
                which=self.tr("Base") if side == "base" else self.tr("Tuned"), n=row + 1, total=len(prompts)))

        try:
            outcome = await self.evaluation.compare(run.base_model, run.gguf_adapter, prompts, max_tokens,
                                                    on_answering=answering, on_token=panel.append_answer)
            if outcome is None:
                return None
            if outcome.stopped:
                panel.cmp_status.setText(self.tr("Stopped."))
                return None
            panel.flush()
            panel.cmp_status.setText(self.tr("Done: greedy answers, same prompts, adapter off then on."))
            return [(panel.answer(r, 1), panel.answer(r, 2)) for r in range(len(prompts))]
        except EngineBusy as exc:
            panel.banner.show_message(str(exc), "warning")
            return None
        except WorkerError as exc:
            panel.banner.show_message(self.tr("The comparison failed: {reason}").format(reason=exc.message),
                                      "error", details=exc.log_tail)
            return None
        finally:
            panel.flush()
            panel.set_busy(False)

    def _on_restore_failed(self, error: WorkerError) -> None:
        """The evaluation changed the adapters on the chat's engine and could not put them back."""
        self.eval_panel.banner.show_message(self.tr("Could not put back the chat's adapters: {reason}").format(
            reason=error.message), "warning")

    def stop_eval(self) -> None:
        if self.evaluation.running:
            spawn(self.evaluation.stop())

    def _eval_failed(self, exc: BaseException) -> None:
        self.eval_panel.set_busy(False)
        self.eval_panel.banner.show_message(self.tr("The evaluation failed: {reason}").format(
            reason=user_message(exc)), "error", details=f"{type(exc).__name__}: {exc}")

    def _unexpected(self, exc: BaseException) -> None:
        self._banner(self.tr("Something went wrong: {reason}").format(reason=user_message(exc)),
                     "error", details=f"{type(exc).__name__}: {exc}")


__all__ = ["FinetuneView"]
