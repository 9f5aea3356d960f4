"""Sampling settings of a conversation and the presets offered for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from studio.core import limits


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

    def validate(self) -> "SamplingParams":
        """Self, or limits.OutOfRange naming the first field outside its documented range.
        For values a person just gave (CLI, API); stored values go through from_dict instead."""
        for name, value in self.to_dict().items():
            limits.check(name, value)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SamplingParams":
        """Tolerant of old, partial or damaged dicts: unknown keys are ignored, missing or unreadable
        ones take defaults, and numbers outside their range are pulled back in, so a conversation
        saved by an older version (or edited by hand) still opens."""
        if not isinstance(data, dict) or not data:
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        clean: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known or value is None:
                continue
            try:
                number = limits.limit(key).clamp(value)
            except (TypeError, ValueError, OverflowError):
                continue
            clean[key] = int(number) if known[key] in ("int", int) else float(number)
        return replace(cls(), **clean)


PRESETS: dict[str, SamplingParams] = {
    "Balanced": SamplingParams(),
    "Precise": SamplingParams(temperature=0.0, top_p=1.0, top_k=1, min_p=0.0, repeat_penalty=1.0, seed=0),
    "Creative": SamplingParams(temperature=1.0, top_p=0.98, top_k=100, min_p=0.02, repeat_penalty=1.05),
    "Code": SamplingParams(temperature=0.2, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.0, max_tokens=1024),
}
