"""The Fine-tune screen. Only this module is imported at start-up (for drag-and-drop of datasets);
the screen itself (studio.ui.finetune.view, pyqtgraph) is built the first time it is shown."""

from __future__ import annotations

DATASET_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt")


def dataset_paths(urls) -> list[str]:
    """Local dataset files among dropped URLs, in the order they were dropped."""
    found = []
    for url in urls:
        if url.isLocalFile() and url.toLocalFile().lower().endswith(DATASET_SUFFIXES):
            found.append(url.toLocalFile())
    return found


__all__ = ["DATASET_SUFFIXES", "dataset_paths"]
