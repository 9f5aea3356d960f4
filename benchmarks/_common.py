"""Shared helpers for the benchmark scripts (not a test: timings here are noisy)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import platformdirs

STARTER = "SmolLM2-135M-Instruct.Q4_1.gguf"


def starter_model() -> Path:
    explicit = os.environ.get("STUDIO_STARTER_MODEL")
    if explicit:
        return Path(explicit)
    path = Path(platformdirs.user_data_dir("local-llm-studio", appauthor=False)) / "models" / STARTER
    if not path.exists():
        from studio.core.models.starter import provision_starter
        return provision_starter(path.parent)
    return path


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
