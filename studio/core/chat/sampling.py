"""Sampling settings of a conversation and the presets offered for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    seed: int = -1  # -1: a fresh random seed per reply
    n_ctx: int = 4096

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SamplingParams":
        """Tolerant of old or partial dicts: unknown keys are ignored, missing ones take defaults."""
        if not data:
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        clean: dict[str, Any] = {}
        for key, value in data.items():
            if key in known and value is not None:
                clean[key] = int(value) if known[key] in ("int", int) else float(value)
        return replace(cls(), **clean)


PRESETS: dict[str, SamplingParams] = {
    "Balanced": SamplingParams(),
    "Precise": SamplingParams(temperature=0.0, top_p=1.0, top_k=1, min_p=0.0, repeat_penalty=1.0, seed=0),
    "Creative": SamplingParams(temperature=1.0, top_p=0.98, top_k=100, min_p=0.02, repeat_penalty=1.05),
    "Code": SamplingParams(temperature=0.2, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.0, max_tokens=1024),
}
