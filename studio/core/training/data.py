"""A run's examples, split exactly as the runner splits them (torch-free, so the UI can call it too).

The evaluation screen scores perplexity on the same validation examples the run held out; one
function for both keeps them from drifting apart.
"""

from __future__ import annotations

from typing import Any

from studio.core.training.config import RunConfig

# Fewer examples than this are all used for training: a split would leave nothing to learn from.
MIN_EXAMPLES_FOR_SPLIT = 10


def split_run_data(config: RunConfig, problems: list[Any] | None = None) -> tuple[list[Any], list[Any]]:
    """(training examples, validation examples) for a run config."""
    from studio.core.datasets import ColumnMapping, load_examples, split_examples

    mapping = ColumnMapping.from_dict(config.mapping) if config.mapping else None
    examples = load_examples(config.data, format=config.format, mapping=mapping, problems=problems)
    if config.val_data:
        return examples, load_examples(config.val_data, format=config.format, mapping=mapping)
    if config.val_ratio > 0 and len(examples) >= MIN_EXAMPLES_FOR_SPLIT:
        return split_examples(examples, val_ratio=config.val_ratio, seed=config.seed)
    return examples, []


def validation_texts(config: RunConfig, limit: int) -> tuple[list[str], list[str]]:
    """(validation examples rendered with the base model's template, their first user prompts)."""
    from studio.core.datasets import ChatRenderer
    from studio.core.datasets.render import RenderError

    _train, val = split_run_data(config)
    renderer = ChatRenderer.from_model(config.base_model)
    texts: list[str] = []
    prompts: list[str] = []
    for example in val[:limit]:
        try:
            texts.append(renderer.render(example).text)
        except RenderError:  # the runner skips these too
            continue
        if example.messages:
            prompt = next((m["content"] for m in example.messages if m["role"] == "user"), "")
            if prompt:
                prompts.append(prompt)
    return texts, prompts
