"""The one table of ranges for every number a user can set (CLI, UI, settings file, API server).

Each entry says what a value means at its edges, so the README, the spin boxes and the error
messages all say the same thing. `check()` is for input a person just typed (out of range is an
error); `clamp()` is for values stored earlier (out of range is pulled back in, never a crash).
Text checks live here too: a prompt that is not valid Unicode is bad input like an out-of-range
number, and every front end must refuse it the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from studio.core.errors import StudioError

# llama.cpp's seed is a uint32; -1 asks for a fresh random one.
SEED_MAX = 2**32 - 1
# The largest context a released GGUF model advertises today; llama.cpp itself allocates whatever
# it is asked for, so without this bound a typo becomes an out-of-memory crash.
N_CTX_MAX = 1_048_576


@dataclass(frozen=True)
class Limit:
    name: str
    minimum: float
    maximum: float
    integer: bool
    meaning: str
    above_minimum: bool = False  # the minimum itself is not allowed (top_p 0 would keep nothing)

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not float(value).is_integer():
            return False
        if not math.isfinite(value):
            return False
        low_ok = value > self.minimum if self.above_minimum else value >= self.minimum
        return low_ok and value <= self.maximum

    def describe(self) -> str:
        low, high = _number(self.minimum), _number(self.maximum)
        if self.above_minimum:
            return f"above {low} and at most {high}"
        kind = "a whole number " if self.integer else ""
        return f"{kind}between {low} and {high}"

    def clamp(self, value: Any) -> int | float:
        """The nearest allowed value. Something that is not a number at all is a ValueError, so the
        caller can fall back to its default."""
        if isinstance(value, bool):
            raise ValueError(f"{self.name}: {value!r} is not a number")
        number = float(value)
        if math.isnan(number):
            raise ValueError(f"{self.name}: NaN is not a number")
        number = min(max(number, self.minimum), self.maximum)
        if self.above_minimum and number <= self.minimum:
            number = self.minimum + (0.01 if not self.integer else 1)
        return int(round(number)) if self.integer else number


class OutOfRange(StudioError):
    """A number outside its documented range; `message` names the setting, the range and the value."""

    def __init__(self, limit: Limit, value: Any, label: str) -> None:
        super().__init__("out_of_range", f"{label} must be {limit.describe()} (got {_shown(value)})")
        self.limit = limit
        self.value = value


class BadText(StudioError):
    """Text that is not valid Unicode (undecodable bytes, lone surrogates)."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_text", message)


_TABLE = [
    Limit("temperature", 0, 2, False,
          "0 always picks the most likely token (greedy); higher values make replies more varied. "
          "The same range as the OpenAI API."),
    Limit("top_p", 0, 1, False,
          "Sample only from the most likely tokens that together hold this much probability; 1 = off.",
          above_minimum=True),
    Limit("top_k", 0, 1000, True,
          "Sample only from this many most likely tokens; 0 = off (all tokens)."),
    Limit("min_p", 0, 1, False,
          "Drop tokens less likely than this fraction of the most likely one; 0 = off."),
    Limit("repeat_penalty", 0.5, 2, False,
          "1 = off; above 1 discourages repeating recent tokens, below 1 encourages it."),
    Limit("max_tokens", 1, N_CTX_MAX, True,
          "The longest reply in tokens; a reply also stops when the context is full."),
    Limit("seed", -1, SEED_MAX, True,
          "-1 = a fresh random seed for every reply; any other value repeats the same reply."),
    Limit("n_ctx", 256, N_CTX_MAX, True,
          "Context length in tokens (prompt, history and reply together). More needs more memory; "
          "below 256 there is no room for a chat template and a reply."),
    Limit("n_gpu_layers", -1, 999, True,
          "Layers offloaded to the GPU: 0 = CPU only, -1 = all. A number above the model's layer "
          "count also means all (as in llama.cpp, where 999 is the usual way to say it); the CLI "
          "says so when that happens."),
    Limit("n_threads", 1, 1024, True,
          "CPU threads for generation; leave unset (Auto) to use the physical cores minus one."),
    Limit("n_batch", 16, 8192, True,
          "Prompt tokens processed per step; larger is faster on a GPU and needs more memory."),
    Limit("lora_scale", 0, 2, False,
          "How strongly a LoRA adapter changes the model: 1 = as trained, 0 = off."),
    Limit("candidates", 1, 1000, True,
          "How many next-token candidates `studio next` shows."),
    Limit("attention_tokens", 1, 4096, True,
          "`studio attention` cuts longer texts to this many tokens; the saved weights grow with "
          "its square (layers x heads x tokens x tokens)."),
]

LIMITS: dict[str, Limit] = {limit.name: limit for limit in _TABLE}


def limit(name: str) -> Limit:
    return LIMITS[name]


def check(name: str, value: Any, label: str | None = None) -> Any:
    """`value` unchanged if it is inside `name`'s range, else OutOfRange. `label` is how the user
    named it ("--top-p"); the table name is used when there is none."""
    entry = LIMITS[name]
    if not entry.contains(value):
        raise OutOfRange(entry, value, label or name)
    return value


def check_text(value: str | bytes, what: str = "the text") -> str:
    """`value` as a str that is valid Unicode, or BadText naming the first bad byte or character.

    Bytes are decoded as UTF-8 (stdin); a str may carry lone surrogates, which is how Python hands
    over command-line bytes that were not UTF-8 (U+DC80..U+DCFF stand for bytes 0x80..0xFF)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadText(f"{what} is not valid UTF-8 text (byte 0x{value[exc.start]:02x} at byte "
                          f"{exc.start}); save it as UTF-8 and try again") from None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = ord(value[exc.start])
        if 0xDC80 <= char <= 0xDCFF:
            at = len(value[:exc.start].encode("utf-8", "surrogateescape"))
            raise BadText(f"{what} is not valid UTF-8 text (byte 0x{char - 0xDC00:02x} at byte {at}); "
                          f"save it as UTF-8 and try again") from None
        raise BadText(f"{what} is not valid Unicode text (a lone surrogate U+{char:04X} at character "
                      f"{exc.start})") from None
    return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value))
    return str(value)


__all__ = ["LIMITS", "Limit", "OutOfRange", "BadText", "N_CTX_MAX", "SEED_MAX", "check", "check_text", "limit"]
