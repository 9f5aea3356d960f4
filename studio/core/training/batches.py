"""Examples to batches: render, tokenize, mask the prompt, pack, order and pad (torch only in collate).

Kept apart from the loop in runner.py so the data path can be read, tested and benchmarked alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

IGNORE = -100


class RunCancelled(Exception):
    """Cancelled before training started (nothing worth saving yet)."""


@dataclass
class Sample:
    ids: list[int]
    labels: list[int]        # ids[t] where token t is a training target, else IGNORE
    starts: list[int] = field(default_factory=lambda: [0])   # where each packed piece begins

    @property
    def n_targets(self) -> int:
        # Token t is predicted from position t-1, so the first token is never a target.
        return sum(1 for x in self.labels[1:] if x != IGNORE)


def tokenize_examples(examples: list[Any], renderer: Any, tokenizer: Any, *, max_seq_len: int,
                      response_only: bool, cancelled: Callable[[], bool] = lambda: False,
                      progress: Callable[[float], None] | None = None) -> tuple[list[Sample], int, int]:
    """Samples plus (truncated, dropped) counts. Labels come from the fast tokenizer's char
    offsets matched against the rendered text's train spans (assistant replies + end marker)."""
    from studio.core.datasets import token_label_mask
    from studio.core.datasets.render import RenderError

    samples: list[Sample] = []
    truncated = dropped = 0
    eos = tokenizer.eos_token_id
    for index, example in enumerate(examples):
        if index % 256 == 0:
            if cancelled():
                raise RunCancelled()
            if progress:
                progress(index / max(1, len(examples)))
        try:
            rendered = renderer.render(example)
        except RenderError:  # the template refuses this conversation; the data check names it
            dropped += 1
            continue
        enc = tokenizer(rendered.text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        if getattr(example, "messages", None) is not None and response_only:
            keep = token_label_mask([tuple(o) for o in enc["offset_mapping"]], rendered.train_spans)
        else:
            keep = [True] * len(ids)
            if getattr(example, "messages", None) is None and eos is not None and (not ids or ids[-1] != eos):
                ids.append(eos)  # plain text: learn where a document ends
                keep.append(True)
        if len(ids) > max_seq_len:
            truncated += 1
            ids, keep = ids[:max_seq_len], keep[:max_seq_len]
        labels = [tok if k else IGNORE for tok, k in zip(ids, keep)]
        sample = Sample(ids, labels)
        if len(ids) < 2 or sample.n_targets == 0:
            dropped += 1  # nothing to learn within max_seq_len
            continue
        samples.append(sample)
    return samples, truncated, dropped


def pack_samples(samples: list[Sample], max_seq_len: int, seed: int) -> list[Sample]:
    """Concatenate samples into rows of up to max_seq_len tokens. Each piece keeps its own
    position ids (see `positions`), which makes transformers mask attention across pieces."""
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    rows: list[Sample] = []
    current = Sample([], [], [])
    for i in order:
        s = samples[i]
        if current.ids and len(current.ids) + len(s.ids) > max_seq_len:
            rows.append(current)
            current = Sample([], [], [])
        current.starts.append(len(current.ids))
        current.ids.extend(s.ids)
        # The first token of each piece must not be predicted from the previous piece's last token.
        current.labels.extend([IGNORE] + s.labels[1:])
    if current.ids:
        rows.append(current)
    return rows


def epoch_plan(lengths: list[int], batch_size: int, seed: int, epoch: int, *, group_by_length: bool = True) -> list[list[int]]:
    """The batches of one epoch, as index lists: deterministic in (seed, epoch), so a resumed run
    sees exactly the data order it would have seen. Examples of similar length share a batch
    (shuffled within windows of 64 batches) so padding costs almost nothing."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group_by_length and batch_size > 1:
        window = batch_size * 64
        order = [i for w in range(0, len(order), window)
                 for i in sorted(order[w:w + window], key=lambda j: -lengths[j])]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(samples: list[Sample], pad_id: int, packed: bool) -> dict[str, Any]:
    """Right-pad to the longest sample. With causal attention a real token never sees the pads
    after it, so no attention mask is needed; targets are shifted here (position t -> token t+1)."""
    import torch

    width = max(len(s.ids) for s in samples)
    ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    targets = torch.full((len(samples), width), IGNORE, dtype=torch.long)
    positions = torch.zeros((len(samples), width), dtype=torch.long) if packed else None
    n_tokens = 0
    for row, s in enumerate(samples):
        n = len(s.ids)
        n_tokens += n
        ids[row, :n] = torch.tensor(s.ids)
        targets[row, :n - 1] = torch.tensor(s.labels[1:])
        if positions is not None:
            starts = list(s.starts) + [n]
            for a, b in zip(starts, starts[1:]):
                positions[row, a:b] = torch.arange(b - a)
            positions[row, n:] = torch.arange(width - n)  # the padding is a piece of its own
    batch = {"input_ids": ids, "targets": targets, "n_tokens": torch.tensor(n_tokens),
             "n_targets": (targets != IGNORE).sum()}
    if positions is not None:
        batch["position_ids"] = positions
    return batch
