"""The training loop: LoRA (peft) on the torch base model, written to be read in one sitting.

    train(config, run_dir, resume=..., emit=..., cancelled=...)
      1. load the base model (dequantizing a GGUF once), wrap it with LoRA
      2. render every example with the base model's chat template, tokenize, mask the prompt
      3. loop: forward -> loss on the labelled tokens only -> backward -> (accumulate) -> AdamW step
         with warmup + cosine/linear/constant LR; evaluate, checkpoint, report as it goes
      4. save the adapter (PEFT safetensors) and export it as a GGUF LoRA for llama.cpp

Works unchanged on several processes (torchrun, or accelerate launch with packaging/accelerate.yaml):
each takes every N-th batch, a step's loss is divided by the targets of all processes together (so N
processes take the step one process would take with all their batches), and only the main process
writes files while the others wait at a barrier.

torch/transformers/peft are imported inside functions so that importing this module stays cheap
(the GUI imports studio.core without torch).

Speed on CPU comes from not computing what is thrown away: batches are grouped by length (little
padding, and right padding needs no attention mask, so SDPA takes its causal fast path), and the
49k-wide output layer + cross-entropy run only at positions that carry loss (with response-only
masking that is a fraction of the tokens).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from studio.core.errors import StudioError
from studio.core.training.batches import (IGNORE, RunCancelled, Sample, collate, epoch_plan, pack_samples,
                                          tokenize_examples)
from studio.core.training.checkpoints import (CheckpointDamaged, apply_checkpoint, fsync_tree, read_checkpoint,
                                              save_checkpoint)
from studio.core.training.config import RunConfig, target_modules_for
from studio.core.training.runs import RunDir, suggestion_for

Emit = Callable[..., None]
MAX_GRAD_NORM = 1.0


class TrainingError(StudioError):
    """The run cannot go on; `suggestion` says what to change before resuming."""

    def __init__(self, kind: str, message: str, suggestion: str = "") -> None:
        super().__init__(kind, message)
        self.suggestion = suggestion


# --------------------------------------------------------------------------------------------
# model: base + LoRA, and a loss that only computes logits where there are targets
# --------------------------------------------------------------------------------------------

def build_lora_model(model: Any, config: RunConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    targets = config.target_modules or target_modules_for(getattr(model.config, "model_type", "llama"))
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in present]
    if len(missing) == len(targets):
        raise TrainingError("config", f"none of the target modules {', '.join(targets)} exist in this "
                                      f"{model.config.model_type} model; leave target_modules unset to pick them")
    targets = [t for t in targets if t in present]
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")
    model.config.use_cache = False
    return get_peft_model(model, lora)


def make_loss_module(peft_model: Any) -> Any:
    """A module whose forward returns the summed cross-entropy over the target positions.

    Running the decoder, then the output layer only on rows that have a target, skips most of the
    [tokens x vocab] logits work. It is one nn.Module so DDP (accelerate) sees every call."""
    import torch
    import torch.nn.functional as F

    class ResponseLoss(torch.nn.Module):
        def __init__(self, peft: Any) -> None:
            super().__init__()
            self.peft = peft
            causal = peft.get_base_model()
            self.decoder = causal.get_decoder()
            self.head = causal.get_output_embeddings()
            self.softcap = getattr(causal.config, "final_logit_softcapping", None)
            self.logit_scale = getattr(causal, "logit_scale", None)

        def forward(self, input_ids: Any, targets: Any, position_ids: Any = None) -> Any:
            hidden = self.decoder(input_ids=input_ids, position_ids=position_ids, use_cache=False).last_hidden_state
            keep = targets != IGNORE
            logits = self.head(hidden[keep])
            if isinstance(self.logit_scale, (int, float)):
                logits = logits * self.logit_scale
            if self.softcap:
                logits = torch.tanh(logits / self.softcap) * self.softcap
            return F.cross_entropy(logits.float(), targets[keep], reduction="sum")

    return ResponseLoss(peft_model)


def lr_at(step: int, total: int, config: RunConfig) -> float:
    """Linear warmup, then cosine / linear decay to 0, or constant."""
    warmup = math.ceil(config.warmup_ratio * total)
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    if config.lr_scheduler == "constant":
        return config.learning_rate
    progress = (step - warmup) / max(1, total - warmup)
    if config.lr_scheduler == "linear":
        return config.learning_rate * max(0.0, 1.0 - progress)
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# --------------------------------------------------------------------------------------------
# the run: train() owns the run folder's status; _train() is the loop
# --------------------------------------------------------------------------------------------

def train(config: RunConfig, run_dir: str | os.PathLike[str], *, resume: bool = False,
          emit: Emit | None = None, cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Train one run to completion, cancellation or failure; returns the result dict.

    Under torchrun / accelerate launch every process calls this; only the main one writes."""
    emit = emit or (lambda _event, **_data: None)
    cancelled = cancelled or (lambda: False)
    run = RunDir(run_dir)
    procs = _Processes.start()
    if procs.is_main:
        run.create()

    def log(line: str) -> None:
        if procs.is_main:
            run.append_log(time.strftime("%H:%M:%S ") + line)
            emit("log", line=line)

    def status(stage: str, fraction: float) -> None:
        if procs.is_main:
            emit("status", stage=stage, fraction=round(fraction, 4))

    started = time.time()
    prior_state, done = None, None
    if resume:
        _check_resumable(config, run)
        prior_state = run.backup_state() or run.effective_state()  # a stale backup knows the older truth
        done = _already_complete(config, run, prior_state)
    procs.barrier()  # every process has read the run before the main one changes it
    if done is not None:  # nothing to train: change nothing, least of all a good run's status
        if procs.is_main:
            emit("log", line=done["message"])
        return done
    if procs.is_main:
        if resume:
            run.back_up_for_resume()  # until training changes the run, a failure puts this back
        config.save(run.config_path)
        run.write_status(state="running", stage="starting", pid=os.getpid(), pid_started=_process_started(),
                         started=run.read_status().get("started", started) if resume else started,
                         ended=None, error="", suggestion="", resume_error=None, resume_suggestion=None)
    try:
        return _train(config, run, resume=resume, prior_state=prior_state, emit=emit, cancelled=cancelled, log=log,
                      status=status, procs=procs)
    except RunCancelled:
        if procs.is_main:
            _record_early_cancel(run, prior_state, log)
        return {"state": "cancelled", "step": 0, "total_steps": 0, "run_dir": str(run.path), "adapter_dir": None,
                "gguf_adapter": None, "train_loss": None, "val_loss": None}
    except BaseException as exc:
        error, suggestion = _describe_failure(exc)
        if procs.is_main:
            _record_failure(run, prior_state, error, suggestion, log)
        if isinstance(exc, (TrainingError, KeyboardInterrupt, SystemExit)):
            raise
        raise TrainingError(_failure_kind(exc), error, suggestion) from exc


def _train(config: RunConfig, run: RunDir, *, resume: bool, prior_state: str | None, emit: Emit,
           cancelled: Callable[[], bool], log: Callable[[str], None], status: Callable[[str, float], None],
           procs: _Processes) -> dict[str, Any]:
    import torch

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    _use_physical_cores(torch, procs)
    peft_model, tokenizer = _load_model(config, log, status, cancelled, procs)
    data = _prepare_data(config, tokenizer, log, status, cancelled, procs.world)
    loss_model = make_loss_module(peft_model)
    params = [p for p in loss_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    progress = _Progress(run, emit, procs.is_main, data.total, config.logging_every)
    if resume:
        _resume(run, peft_model, optimizer, progress, prior_state, log=log, emit=emit, procs=procs)
    loss_model, optimizer = procs.prepare(loss_model, optimizer)
    eval_every, save_every = config.eval_interval(data.total), config.save_interval(data.total)

    status("training", progress.step / data.total)
    progress.start()
    loss_model.train()
    stopped = False
    while progress.step < data.total and not stopped:
        plan = epoch_plan(data.lengths, config.batch_size, config.seed, progress.epoch)
        if progress.position >= len(plan):  # a checkpoint taken on the last batch of an epoch
            progress.next_epoch()
            continue
        loader = procs.loader(_loader(plan[progress.position:], data.rows, data.pad_id, config.packing))
        for group in _accumulation_groups(loader, config.grad_accum):
            if progress.step >= data.total:
                break
            optimizer.zero_grad(set_to_none=True)
            lr = lr_at(progress.step, data.total, config)
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr
            outcome = _forward_backward(loss_model, group, procs, cancelled)
            if outcome is None:
                optimizer.zero_grad(set_to_none=True)  # a half-accumulated step is dropped
                stopped = True
                break
            loss, n_tokens = outcome
            if not math.isfinite(loss):
                raise TrainingError("nan", f"the loss became {loss} at step {progress.step + 1}",
                                    "Lower the learning rate (e.g. 1e-4) and start again or resume.")
            grad_norm = procs.clip_grad_norm(params, MAX_GRAD_NORM)
            optimizer.step()
            progress.stepped(loss, n_tokens, len(group) * procs.world, lr, grad_norm, len(plan))
            with progress.paused():  # evaluation and checkpoints do not count against tokens/s
                if progress.step % eval_every == 0 or progress.step == data.total:
                    progress.evaluated(_evaluate(procs.unwrap(loss_model), data.val_samples, config.batch_size,
                                                 data.pad_id, procs))
                if progress.step % save_every == 0 and progress.step < data.total:
                    _checkpoint(run, procs.unwrap(loss_model).peft, optimizer, progress, "scheduled", log, emit, procs)
        else:
            progress.next_epoch()
    return _finish(run, config, procs.unwrap(loss_model).peft, optimizer, progress, stopped,
                   log=log, emit=emit, status=status, procs=procs)


# --------------------------------------------------------------------------------------------
# the pieces the loop calls
# --------------------------------------------------------------------------------------------

class _Processes:
    """This process alone, or one of several under torchrun / accelerate launch (DDP).

    The loop calls these few operations the same way either way; with one process they do nothing
    or the plain torch thing."""

    def __init__(self, accelerator: Any) -> None:
        import torch

        self.accelerator = accelerator
        self.world: int = accelerator.num_processes if accelerator else 1
        self.rank: int = accelerator.process_index if accelerator else 0
        self.is_main: bool = accelerator is None or accelerator.is_main_process
        self.device: Any = accelerator.device if accelerator else torch.device("cpu")

    @classmethod
    def start(cls) -> _Processes:
        """accelerate when it is installed, else plain torch on one process."""
        try:
            import torch
            from accelerate import Accelerator
        except ImportError:
            return cls(None)
        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
        # Without cpu=True accelerate ignores torchrun's ranks on a machine with no GPU: every
        # process would think it is the only one, and all of them would write the run's files.
        cpu = torch.accelerator.current_accelerator() is None
        return cls(Accelerator(mixed_precision=precision, cpu=cpu))

    def barrier(self) -> None:
        if self.world > 1:
            self.accelerator.wait_for_everyone()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over all processes."""
        if self.world == 1:
            return values
        import torch
        summed = self.accelerator.reduce(torch.tensor(values, dtype=torch.float64, device=self.device),
                                         reduction="sum")
        return [float(v) for v in summed]

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on one: they must stop at the same batch."""
        return flag if self.world == 1 else self.sum([float(flag)])[0] > 0

    def prepare(self, model: Any, optimizer: Any) -> tuple[Any, Any]:
        return tuple(self.accelerator.prepare(model, optimizer)) if self.accelerator else (model, optimizer)

    def loader(self, loader: Any) -> Any:
        """With several processes each gets every world-th batch (accelerate's shards)."""
        return self.accelerator.prepare_data_loader(loader) if self.accelerator else loader

    def unwrap(self, model: Any) -> Any:
        return self.accelerator.unwrap_model(model) if self.accelerator else model

    def backward(self, loss: Any) -> None:
        if self.accelerator:
            self.accelerator.backward(loss)
        else:
            loss.backward()

    def no_sync(self, model: Any, sync: bool) -> Any:
        """Skip DDP's gradient all-reduce on all but the last micro-batch of a step."""
        return self.accelerator.no_sync(model) if self.world > 1 and not sync else contextlib.nullcontext()

    def clip_grad_norm(self, params: list[Any], max_norm: float) -> float:
        import torch
        if self.accelerator:
            return float(self.accelerator.clip_grad_norm_(params, max_norm))
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))


class _Progress:
    """Where the run is (step, epoch, batch of the epoch) and what it reports: step and eval
    records, status, and tokens/s over the steps since the last report."""

    def __init__(self, run: RunDir, emit: Emit, is_main: bool, total: int, logging_every: int) -> None:
        self.run, self.emit, self.is_main = run, emit, is_main
        self.total, self.logging_every = total, logging_every
        self.step = self.epoch = self.position = self.tokens_seen = 0
        self.elapsed_before = 0.0
        self.recent_losses: list[float] = []
        self.last_val: float | None = None
        self.t_start = self.t_window = self.last_status_write = 0.0
        self.tokens_window = self.steps_window = 0

    def restore(self, state: dict[str, Any]) -> None:
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.tokens_seen, self.elapsed_before = state.get("tokens_seen", 0), state.get("elapsed_s", 0.0)

    def restore_losses(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            if record.get("type") == "step":
                self.recent_losses = (self.recent_losses + [record["loss"]])[-10:]
            elif record.get("type") == "eval":
                self.last_val = record.get("val_loss")

    def start(self) -> None:
        if self.is_main:
            self.run.write_status(stage="training", step=self.step, total_steps=self.total)
        self.t_start = self.t_window = time.perf_counter()

    def next_epoch(self) -> None:
        self.epoch, self.position = self.epoch + 1, 0

    @property
    def train_loss(self) -> float | None:
        return _mean(self.recent_losses)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside does not count against tokens/s."""
        paused_at = time.perf_counter()
        yield
        self.t_window += time.perf_counter() - paused_at

    def stepped(self, loss: float, tokens: int, batches: int, lr: float, grad_norm: float, epoch_batches: int) -> None:
        self.step += 1
        self.steps_window += 1
        self.tokens_window += tokens
        self.position += batches
        self.recent_losses = (self.recent_losses + [loss])[-10:]
        if self.step % self.logging_every == 0 or self.step == self.total:
            self._report_step(loss, lr, grad_norm, epoch_batches)

    def _report_step(self, loss: float, lr: float, grad_norm: float, epoch_batches: int) -> None:
        now = time.perf_counter()
        rate = self.tokens_window / max(1e-9, now - self.t_window)
        step_time = (now - self.t_window) / max(1, self.steps_window)
        self.tokens_seen += self.tokens_window
        self.t_window, self.tokens_window, self.steps_window = now, 0, 0
        epoch_f = self.epoch + min(1.0, self.position / max(1, epoch_batches))
        record = {"type": "step", "step": self.step, "total_steps": self.total, "epoch": round(epoch_f, 4),
                  "loss": round(loss, 5), "lr": lr, "tokens_per_s": round(rate, 1),
                  "eta_s": round(step_time * (self.total - self.step), 1), "rss_mb": round(_rss_mb(), 1),
                  "grad_norm": round(grad_norm, 4), "tokens": self.tokens_seen, "time": time.time()}
        if not self.is_main:
            return
        self.run.append_metric(record)
        self.emit("step", **{k: v for k, v in record.items() if k not in ("type", "time")})
        if now - self.last_status_write > 2.0 or self.step == self.total:
            self.last_status_write = now
            self.run.write_status(step=self.step, total_steps=self.total, train_loss=self.train_loss)

    def evaluated(self, val: float | None) -> None:
        if val is None:
            return
        self.last_val = val
        if self.is_main:
            self.run.append_metric({"type": "eval", "step": self.step, "val_loss": round(val, 5), "time": time.time()})
            self.emit("eval", step=self.step, val_loss=round(val, 5))
            self.run.write_status(val_loss=round(val, 5))

    def checkpoint_state(self, reason: str) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "position": self.position, "total_steps": self.total,
                "tokens_seen": self.tokens_seen, "elapsed_s": self.elapsed_before + (time.perf_counter() - self.t_start),
                "reason": reason}


@dataclass
class _TrainingData:
    rows: list[Sample]           # what batches are drawn from (packed rows when packing)
    lengths: list[int]
    val_samples: list[Sample]
    total: int                   # optimizer steps in the run
    pad_id: int


def _load_model(config: RunConfig, log: Callable[[str], None], status: Callable[[str, float], None],
                cancelled: Callable[[], bool], procs: _Processes) -> tuple[Any, Any]:
    """The base model wrapped with LoRA, and its tokenizer."""
    import torch

    from studio.core.training.base_model import is_cached, load_base_model

    stage = "loading model" if is_cached(config.base_model) else "dequantizing"
    status(stage, 0.0)
    model, tokenizer = load_base_model(config.base_model, lambda f, _text: status(stage, f * 0.9),
                                       attn_implementation="sdpa")
    if cancelled():
        raise RunCancelled()
    n_params = sum(p.numel() for p in model.parameters())
    peft_model = build_lora_model(model, config)
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    processes = f"; {procs.world} processes ({procs.device.type})" if procs.world > 1 else ""
    log(f"model {Path(config.base_model).name}: {n_params / 1e6:.0f}M parameters, LoRA r={config.lora_r} "
        f"trains {trainable / 1e6:.2f}M; torch {torch.__version__}, {torch.get_num_threads()} threads{processes}")
    return peft_model, tokenizer


def _prepare_data(config: RunConfig, tokenizer: Any, log: Callable[[str], None],
                  status: Callable[[str, float], None], cancelled: Callable[[], bool], world: int) -> _TrainingData:
    """Tokenized, masked (and packed) rows, and the number of steps they make."""
    status("tokenizing", 0.0)
    train_ex, val_ex, renderer = _load_examples(config, log)
    samples, truncated, dropped = tokenize_examples(
        train_ex, renderer, tokenizer, max_seq_len=config.max_seq_len, response_only=config.response_only,
        cancelled=cancelled, progress=lambda f: status("tokenizing", f))
    val_samples, _, _ = tokenize_examples(val_ex, renderer, tokenizer, max_seq_len=config.max_seq_len,
                                          response_only=config.response_only, cancelled=cancelled)
    if not samples:
        raise TrainingError("data", f"no training example has a response within {config.max_seq_len} tokens",
                            "Raise the maximum sequence length, or check that the data has assistant replies.")
    if truncated or dropped:
        log(f"{truncated} examples were cut to {config.max_seq_len} tokens; {dropped} were skipped "
            "(no response within that length, or the chat template refused them)")
    rows = pack_samples(samples, config.max_seq_len, config.seed) if config.packing else samples
    total = config.total_steps(math.ceil(len(rows) / config.batch_size), world)
    log(f"{len(samples)} training and {len(val_samples)} validation examples"
        f"{f' packed into {len(rows)} rows' if config.packing else ''}; {total} steps of "
        f"{config.batch_size}x{config.grad_accum}{f'x{world}' if world > 1 else ''} sequences")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    return _TrainingData(rows, [len(r.ids) for r in rows], val_samples, total, pad_id)


def _load_examples(config: RunConfig, log: Callable[[str], None]) -> tuple[list[Any], list[Any], Any]:
    from studio.core.datasets import ChatRenderer
    from studio.core.training.data import split_run_data

    problems: list[Any] = []
    train_ex, val_ex = split_run_data(config, problems)
    for problem in problems[:20]:
        log(f"data: {problem}")
    if len(problems) > 20:
        log(f"data: ... and {len(problems) - 20} more problems (those examples are skipped)")
    if not train_ex:
        raise TrainingError("data", "the training data has no usable examples"
                            + (f" ({len(problems)} problems, first: {problems[0]})" if problems else ""))
    return train_ex, val_ex, ChatRenderer.from_model(config.base_model)



def _use_physical_cores(torch: Any, procs: _Processes) -> None:
    """On CPU, the trainer's share of the physical cores (studio.core.hardware), split between
    the processes of this machine; an explicit OMP_NUM_THREADS (torchrun sets 1) wins."""
    from studio.core.hardware import training_threads

    if os.environ.get("OMP_NUM_THREADS") or procs.device.type != "cpu":
        return
    torch.set_num_threads(max(1, training_threads() // procs.world))


def _loader(plan: list[list[int]], rows: list[Sample], pad_id: int, packed: bool) -> Any:
    import torch

    dataset: Any = rows  # a list is all a DataLoader with a batch sampler needs
    return torch.utils.data.DataLoader(dataset, batch_sampler=plan,
                                       collate_fn=lambda items: collate(items, pad_id, packed))


def _accumulation_groups(batches: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """The micro-batches of each optimizer step; the last group of an epoch may be shorter."""
    group: list[dict[str, Any]] = []
    for batch in batches:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _forward_backward(loss_model: Any, group: list[dict[str, Any]], procs: _Processes,
                      cancelled: Callable[[], bool]) -> tuple[float, int] | None:
    """Accumulate one step's gradients; returns (loss, tokens) over all processes, None if cancelled.

    The loss is divided by the step's targets over all processes and scaled by their number (DDP
    averages gradients), so N processes take the same step as one process given all their batches."""
    n_targets, n_tokens = procs.sum([sum(float(b["n_targets"]) for b in group),
                                     sum(float(b["n_tokens"]) for b in group)])
    step_loss = 0.0
    for i, batch in enumerate(group):
        if procs.any(cancelled()):
            return None
        with procs.no_sync(loss_model, sync=i == len(group) - 1):
            loss = loss_model(batch["input_ids"].to(procs.device), batch["targets"].to(procs.device),
                              batch["position_ids"].to(procs.device) if "position_ids" in batch else None)
            loss = loss / max(1.0, n_targets)
            procs.backward(loss * procs.world if procs.world > 1 else loss)
        step_loss += float(loss.detach())
    return procs.sum([step_loss])[0], int(n_tokens)


def _evaluate(model: Any, val_samples: list[Sample], batch_size: int, pad_id: int, procs: _Processes) -> float | None:
    """Mean loss per target token on the validation samples, each process taking every world-th
    batch. `model` is the unwrapped module: DDP's forward would need every process to call it
    the same number of times."""
    import torch

    if not val_samples:
        return None
    plan = epoch_plan([len(s.ids) for s in val_samples], batch_size, 0, 0)
    total_loss = total_targets = 0.0
    model.eval()
    with torch.no_grad():
        for indices in plan[procs.rank::procs.world]:
            batch = collate([val_samples[i] for i in indices], pad_id, False)
            total_loss += float(model(batch["input_ids"].to(procs.device), batch["targets"].to(procs.device)))
            total_targets += int(batch["n_targets"])
    model.train()
    total_loss, total_targets = procs.sum([total_loss, total_targets])
    return total_loss / max(1.0, total_targets)


def _checkpoint(run: RunDir, peft_model: Any, optimizer: Any, progress: _Progress, reason: str,
                log: Callable[[str], None], emit: Emit, procs: _Processes) -> None:
    """The main process writes; the others wait at the barrier until the checkpoint is whole."""
    if procs.is_main:
        folder = save_checkpoint(run.checkpoints_dir / f"step-{progress.step}", peft_model, optimizer,
                                 progress.checkpoint_state(reason))
        for _old_step, old in run.checkpoints()[:-2]:  # keep the last two: disk adds up fast
            shutil.rmtree(old, ignore_errors=True)
        emit("checkpoint", step=progress.step, path=str(folder))
        log(f"checkpoint at step {progress.step} ({reason})")
    procs.barrier()


def _finish(run: RunDir, config: RunConfig, peft_model: Any, optimizer: Any, progress: _Progress, stopped: bool, *,
            log: Callable[[str], None], emit: Emit, status: Callable[[str, float], None],
            procs: _Processes) -> dict[str, Any]:
    """The last checkpoint, the adapter and its GGUF copy (main process only), the final status."""
    state = "cancelled" if stopped else "completed"
    if stopped:
        log(f"cancelled at step {progress.step}: saving the adapter")
    # A cancelled run resumes exactly here; a finished one can be extended with a larger max_steps.
    _checkpoint(run, peft_model, optimizer, progress, "cancelled" if stopped else "final", log, emit, procs)
    val = progress.last_val
    result: dict[str, Any] = {
        "state": state, "step": progress.step, "total_steps": progress.total, "run_dir": str(run.path),
        "adapter_dir": None, "gguf_adapter": None, "train_loss": progress.train_loss,
        "val_loss": round(val, 5) if val is not None else None}
    if procs.is_main:
        status("exporting", 0.0)
        _replace_adapter(run, peft_model)
        result["adapter_dir"] = str(run.adapter_dir)
        log(f"adapter saved to {run.adapter_dir}")
        gguf, gguf_error = _export_gguf(run, config, log)
        result["gguf_adapter"] = gguf
        status("exporting", 1.0)
        run.write_status(state=state, stage=state, step=progress.step, total_steps=progress.total,
                         train_loss=result["train_loss"], val_loss=result["val_loss"],
                         adapter_dir=result["adapter_dir"], gguf_adapter=gguf, gguf_error=gguf_error,
                         ended=time.time(), resumable=stopped, error="", suggestion="")
        run.discard_resume_backup()  # an extended completed run succeeded: its new state is the truth
        if gguf_error:
            result["gguf_error"] = gguf_error
    procs.barrier()
    return result


# --------------------------------------------------------------------------------------------
# resume
# --------------------------------------------------------------------------------------------

def _resume(run: RunDir, peft_model: Any, optimizer: Any, progress: _Progress, prior_state: str | None, *,
            log: Callable[[str], None], emit: Emit, procs: _Processes) -> None:
    """Load the newest whole checkpoint into the model, optimizer and progress; every process reads it."""
    checkpoint, state = _resume_point(run, peft_model, optimizer, log=log, emit=emit, procs=procs)
    if checkpoint is not None and state is not None:
        progress.restore(state)
        log(f"resumed from {checkpoint.name}: step {progress.step}, epoch {progress.epoch}, "
            f"batch {progress.position}")
    if not procs.is_main:
        return
    if prior_state != "completed":
        run.discard_resume_backup()  # training starts changing the run: from here a failure is its own
    if checkpoint is not None:
        if any(int(r.get("step", 0)) > progress.step for r in run.read_metrics()):
            run.truncate_metrics(progress.step)  # steps after the checkpoint are trained again
        progress.restore_losses(run.read_metrics())


def _already_complete(config: RunConfig, run: RunDir, prior_state: str | None) -> dict[str, Any] | None:
    """The result of resuming a completed run that asks for no more steps than it already did."""
    if prior_state != "completed":
        return None
    status = run.read_status()
    step, total = int(status.get("step") or 0), int(status.get("total_steps") or 0)
    try:
        saved = json.loads(run.config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    same_length = all(saved.get(k) == getattr(config, k) for k in ("max_steps", "epochs"))
    if not same_length and not (0 < config.max_steps <= step):
        return None  # a longer run was asked for: extend it
    adapter_dir = str(run.adapter_dir) if run.adapter_dir.is_dir() else None
    gguf = str(run.gguf_adapter) if run.gguf_adapter.is_file() else None
    adapter = gguf or adapter_dir or "missing"
    return {"state": "completed", "already_complete": True, "step": step, "total_steps": total,
            "run_dir": str(run.path), "adapter_dir": adapter_dir,
            "gguf_adapter": gguf, "train_loss": status.get("train_loss"),
            "val_loss": status.get("val_loss"),
            "message": f"{run.path.name} is already complete (step {step}/{total}): nothing to resume; its adapter "
                       f"is {adapter}. To train it further, resume with a larger maximum number of steps."}


def _resume_point(run: RunDir, peft_model: Any, optimizer: Any, *, log: Callable[[str], None], emit: Emit,
                  procs: _Processes) -> tuple[Path | None, dict[str, Any] | None]:
    """Load the newest checkpoint that reads back whole; damaged newer ones are set aside, not deleted."""
    candidates = run.checkpoint_dirs()
    if not candidates:
        log("no checkpoint to resume from: starting at step 0")
        return None, None
    skipped: list[tuple[Path, str]] = []
    for _step, folder in reversed(candidates):
        try:
            loaded = read_checkpoint(folder, peft_model, optimizer)
        except CheckpointDamaged as exc:
            skipped.append((folder, str(exc)))
            continue
        state = apply_checkpoint(loaded, peft_model, optimizer)
        procs.barrier()  # every process has read the checkpoints before the main one renames one
        for bad, problem in skipped if procs.is_main else []:
            try:
                kept = run.set_aside(bad)
            except OSError as exc:  # leaving it named step-N would let the next save replace it
                raise TrainingError("checkpoint", f"checkpoint {bad.name} is damaged ({problem}) and could not be "
                                                  f"set aside ({exc.strerror or exc})",
                                    f"Move {bad} out of the checkpoints folder, then resume.") from None
            where = kept.relative_to(run.path).as_posix()
            line = f"checkpoint {bad.name} is damaged ({problem}); resuming from {folder.name} (kept as {where})"
            log(line)
            emit("checkpoint_skipped", checkpoint=bad.name, problem=problem, kept_as=str(kept),
                 resumed_from=folder.name, message=line)
        return folder, state
    listing = "; ".join(f"{folder.name}: {problem}" for folder, problem in skipped)
    has_adapter = (run.adapter_dir / "adapter_config.json").is_file()
    keep = (f" The adapter this run saved last is still at {run.adapter_dir}"
            + (f" (and {run.gguf_adapter})" if run.gguf_adapter.is_file() else "") + "." if has_adapter else "")
    raise TrainingError("checkpoint", f"no checkpoint of {run.path.name} can be resumed from ({listing})",
                        "Resuming again will fail the same way. Start a new run with the same settings in a new "
                        "folder (without resume); this run's files are left as they are." + keep)


# Settings that shape the adapter or the data order: a checkpoint only fits the run that made it.
_FIXED_ON_RESUME = ("base_model", "lora_r", "lora_alpha", "target_modules", "data", "max_seq_len", "batch_size",
                    "grad_accum", "packing", "response_only", "seed", "val_ratio", "val_data")


def _check_resumable(config: RunConfig, run: RunDir) -> None:
    try:
        saved = json.loads(run.config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    changed = [k for k in _FIXED_ON_RESUME if k in saved and saved[k] != getattr(config, k)]
    if changed:
        raise TrainingError("config", f"cannot resume {run.path.name} with a different {', '.join(changed)}: "
                                      "the checkpoint belongs to the original settings",
                            "Start a new run instead, or resume with the run's own config.json.")



# --------------------------------------------------------------------------------------------
# outcomes
# --------------------------------------------------------------------------------------------

def _record_early_cancel(run: RunDir, prior_state: str | None, log: Callable[[str], None]) -> None:
    if run.resume_backup_dir.is_dir():
        run.restore_resume_backup(None, None)
        log(f"resume cancelled before training started; the run is left as it was ({prior_state})")
    else:
        run.write_status(state="cancelled", stage="cancelled", ended=time.time())
        log("cancelled before training started")


def _record_failure(run: RunDir, prior_state: str | None, error: str, suggestion: str,
                    log: Callable[[str], None]) -> None:
    if run.resume_backup_dir.is_dir():
        # The resume failed before it changed anything that matters (or it was extending a
        # completed run): the run keeps its state, metrics and config, and only learns why.
        run.restore_resume_backup(error, suggestion)
        log(f"resume failed: {error}; the run is left as it was ({prior_state})")
    else:
        log("failed: " + error)
        run.write_status(state="failed", stage="failed", error=error, suggestion=suggestion,
                         log_tail=run.log_tail(), ended=time.time(), resumable=run.last_checkpoint() is not None)


def _replace_adapter(run: RunDir, peft_model: Any) -> None:
    """Write the new adapter beside the old one and swap: a crash keeps one whole adapter."""
    fresh, old = run.path / "adapter.partial", run.path / "adapter.old"
    shutil.rmtree(fresh, ignore_errors=True)
    peft_model.save_pretrained(str(fresh), safe_serialization=True)
    fsync_tree(fresh)
    shutil.rmtree(old, ignore_errors=True)
    if run.adapter_dir.exists():
        os.replace(run.adapter_dir, old)
    os.replace(fresh, run.adapter_dir)
    shutil.rmtree(old, ignore_errors=True)


def _export_gguf(run: RunDir, config: RunConfig, log: Callable[[str], None]) -> tuple[str | None, str]:
    """The GGUF copy is a convenience: if it fails, the PEFT adapter is still the result."""
    try:
        from studio.core.training.export_gguf import export_lora_gguf
    except ImportError as exc:
        message = f"GGUF export is not available ({exc})"
        log(message)
        return None, message
    try:
        path = export_lora_gguf(run.adapter_dir, run.gguf_adapter, base_model=config.base_model)
        log(f"GGUF adapter written to {path}")
        return str(path), ""
    except Exception as exc:
        message = f"the GGUF export failed ({type(exc).__name__}: {str(exc)[:300]}); the PEFT adapter is saved"
        log(message)
        return None, message




def _process_started() -> float | None:
    try:
        import psutil
        return psutil.Process().create_time()
    except Exception:
        return None


def _failure_kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError) or "memory" in str(exc).lower():
        return "out_of_memory"
    return getattr(exc, "kind", None) or "internal"


def _describe_failure(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, TrainingError):
        return exc.message, exc.suggestion or suggestion_for(exc.message)
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, MemoryError) or "out of memory" in text.lower() or "can't allocate memory" in text.lower():
        text = f"out of memory ({text})"
    elif getattr(exc, "message", None):  # BaseModelError, DatasetError
        text = str(exc.message)  # type: ignore[attr-defined]
    else:
        text = f"{type(exc).__name__}: {text}"
    return text, suggestion_for(text)


def _rss_mb() -> float:
    try:
        import psutil
        return psutil.Process().memory_info().rss / 1e6
    except Exception:
        return 0.0

def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 5) if values else None

