"""Training throughput: the studio's runner vs transformers' Trainer + peft, same run.

Every side trains the dequantized starter (SmolLM2-135M) with the same LoRA config on the same
examples (rendered and tokenized by the same code, loss on the replies only), the same batch size,
the same number of optimizer steps. Two baselines, both padding each batch to its longest example
(the usual DataCollatorForSeq2Seq setup), neither packing:
  plain Trainer:    random batches;
  grouped Trainer:  its length-grouped sampler (group_by_length), the best-configured Trainer: the
                    studio groups lengths too, so that alone must not count as the studio's speed.
Each side runs in its own subprocess so peak RSS is its own, and the sides take turns over
--rounds rounds (the order rotating each round) so drift in the machine's load hits all of them;
each side's number is its median over the rounds. Tokens are real (non-padding) tokens; the first
step (warm-up) is not timed.

    .venv/bin/python benchmarks/train_throughput.py [--steps 20] [--batch-size 8] [--examples 400] [--rounds 3]

Goal: tokens/s ratio to the best baseline >= 1.5x at <= 1.0x its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = ("the of and to in is was for on that with as by at from it an be this which or are his not but had "
         "have you they were one all their there been has when who will more no if out so said what up its "
         "about into than them can only other new some could time these two may then do first any my now "
         "such like our over man me even most made after also did many before must through back years where "
         "much your way well down should because each just those people how too little state good very make "
         "world still own see men work long get here between both life being under never day same another "
         "know while last might us great old year off come since against go came right used take three").split()


def make_dataset(path: Path, n: int, seed: int = 0) -> None:
    """Chat examples with a realistic spread of prompt and reply lengths (tens to hundreds of tokens)."""
    rng = random.Random(seed)

    def sentence(lo: int, hi: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."

    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(n):
            prompt = " ".join(sentence(4, 16) for _ in range(rng.choice((1, 1, 2, 3, 6))))
            reply = " ".join(sentence(4, 16) for _ in range(rng.choice((1, 1, 2, 4))))
            handle.write(json.dumps({"messages": [{"role": "user", "content": prompt},
                                                  {"role": "assistant", "content": reply}]}) + "\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_s() -> float:
    # CPU time as well as wall time: on a shared machine it is the steadier measure.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summary(marks: list[tuple[float, float, int]]) -> dict:
    (t0, c0, tok0), (t1, c1, tok1) = marks[0], marks[-1]
    return {"tokens": tok1 - tok0, "seconds": t1 - t0, "cpu_seconds": c1 - c0,
            "tokens_per_s": (tok1 - tok0) / (t1 - t0), "tokens_per_cpu_s": (tok1 - tok0) / (c1 - c0),
            "peak_rss_mb": peak_rss_mb()}


SIDES = ("plain", "grouped", "ours")
LABELS = {"plain": "plain Trainer+peft (random batches)", "grouped": "Trainer+peft, group_by_length",
          "ours": "studio runner"}


# --------------------------------------------------------------------------------------------
def run_ours(args: argparse.Namespace) -> dict:
    from studio.core.training.config import RunConfig
    from studio.core.training.runner import train

    out = Path(args.workdir) / "ours"
    config = RunConfig(base_model=args.model, data=[args.data], val_ratio=0.0, output_dir=str(out),
                       max_steps=args.steps, batch_size=args.batch_size, max_seq_len=args.max_seq_len,
                       lora_r=16, lora_alpha=32, lora_dropout=0.0, learning_rate=2e-4, packing=args.packing,
                       save_every=10_000, eval_every=10_000)
    steps: list[tuple[float, float, int]] = []

    def emit(event: str, **data) -> None:
        if event == "step":
            steps.append((time.perf_counter(), cpu_s(), data["tokens"]))

    train(config, str(out), emit=emit)
    return summary(steps)


def run_baseline(args: argparse.Namespace) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    from studio.core.datasets import ChatRenderer, load_examples
    from studio.core.training.base_model import load_base_model
    from studio.core.training.config import target_modules_for
    from studio.core.training.runner import tokenize_examples

    model, tokenizer = load_base_model(args.model, attn_implementation="sdpa")
    examples = load_examples([args.data])
    samples, _, _ = tokenize_examples(examples, ChatRenderer.from_model(args.model), tokenizer,
                                      max_seq_len=args.max_seq_len, response_only=True)
    rows = [{"input_ids": s.ids, "attention_mask": [1] * len(s.ids), "labels": s.labels} for s in samples]
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, bias="none",
                                             target_modules=target_modules_for("llama"), task_type="CAUSAL_LM"))
    pad = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)
    counted: list[int] = []

    def collate(features):
        counted.append(sum(len(f["input_ids"]) for f in features))  # real tokens, before padding
        return pad(features)

    marks: list[tuple[float, float, int]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            marks.append((time.perf_counter(), cpu_s(), sum(counted[:state.global_step])))

    grouping = {}
    if args.side == "grouped":  # transformers 5 spells group_by_length=True as a sampling strategy
        fields = TrainingArguments.__dataclass_fields__
        grouping = ({"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in fields
                    else {"group_by_length": True})
    training_args = TrainingArguments(
        output_dir=str(Path(args.workdir) / args.side), per_device_train_batch_size=args.batch_size, **grouping,
        max_steps=args.steps, learning_rate=2e-4, lr_scheduler_type="cosine", warmup_steps=max(1, round(0.03 * args.steps)),
        logging_steps=10_000, save_strategy="no", report_to=[], use_cpu=True, seed=42,
        dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True)
    trainer = Trainer(model=model, args=training_args, train_dataset=rows, data_collator=collate,
                      callbacks=[Clock()])
    torch.manual_seed(42)
    trainer.train()
    return summary(marks)


# --------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--packing", action="store_true", help="also pack sequences in our runner")
    parser.add_argument("--model", default=None, help="GGUF or HF folder (default: the starter model)")
    parser.add_argument("--rounds", type=int, default=3, help="turns each side takes (median reported)")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:  # a child: run one side, print one JSON line
        result = run_ours(args) if args.side == "ours" else run_baseline(args)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    if args.model is None:
        import platformdirs

        from studio.core.models.starter import provision_starter
        starter = Path(platformdirs.user_data_dir("local-llm-studio", appauthor=False)) / "models" / \
            "SmolLM2-135M-Instruct.Q4_1.gguf"
        if not starter.is_file():
            starter = provision_starter(starter.parent)
        args.model = str(starter)
    from studio.core.training.base_model import ensure_dequantized
    if args.model.endswith(".gguf"):
        ensure_dequantized(args.model)  # not part of either side's time

    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as workdir:
        data = Path(workdir) / "chat.jsonl"
        make_dataset(data, args.examples)
        for round_ in range(args.rounds):
            order = SIDES[round_ % len(SIDES):] + SIDES[:round_ % len(SIDES)]
            for side in order:
                command = [sys.executable, __file__, "--side", side, "--data", str(data), "--workdir", workdir,
                           "--model", args.model, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                           "--max-seq-len", str(args.max_seq_len)] + (["--packing"] if args.packing else [])
                proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=dict(os.environ))
                lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
                if proc.returncode != 0 or not lines:
                    print(f"{side} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
                    return 1
                runs[side].append(json.loads(lines[-1][7:]))
            print(f"round {round_ + 1}/{args.rounds} ({', '.join(order)}): " + "  ".join(
                f"{side} {runs[side][-1]['tokens_per_s']:.0f}" for side in SIDES) + " tok/s", flush=True)

    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[side])

    print(f"steps={args.steps} batch={args.batch_size} examples={args.examples} max_seq_len={args.max_seq_len} "
          f"packing={args.packing} rounds={args.rounds} threads={os.cpu_count()}")
    for side in SIDES:
        print(f"  {LABELS[side]:44s} {med(side, 'tokens_per_s'):7.1f} tok/s  {med(side, 'tokens_per_cpu_s'):7.1f} "
              f"tok/cpu-s  (median of {len(runs[side])}; {runs[side][0]['tokens']} tokens per run)  "
              f"peak RSS {max(r['peak_rss_mb'] for r in runs[side]):.0f} MB")
    ours_rss = max(r["peak_rss_mb"] for r in runs["ours"])
    for side in ("plain", "grouped"):
        print(f"ratio to {LABELS[side]}: {med('ours', 'tokens_per_s') / med(side, 'tokens_per_s'):.2f}x wall, "
              f"{med('ours', 'tokens_per_cpu_s') / med(side, 'tokens_per_cpu_s'):.2f}x per CPU-second, "
              f"peak RSS {ours_rss / max(r['peak_rss_mb'] for r in runs[side]):.2f}x")
    best = max(("plain", "grouped"), key=lambda side: med(side, "tokens_per_s"))
    print(f"CLAIM throughput ratio to the best baseline ({LABELS[best]}): "
          f"{med('ours', 'tokens_per_s') / med(best, 'tokens_per_s'):.2f}x wall (goal >= 1.5x), "
          f"{med('ours', 'tokens_per_cpu_s') / med(best, 'tokens_per_cpu_s'):.2f}x per CPU-second; "
          f"peak RSS ratio {ours_rss / max(r['peak_rss_mb'] for r in runs[best]):.2f}x (goal <= 1.0x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
