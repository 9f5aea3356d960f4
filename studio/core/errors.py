"""The one shape of a user-facing core error: a machine-readable `kind` and a sentence for people."""

from __future__ import annotations


class StudioError(Exception):
    """`kind` lets callers branch (e.g. "truncated", "lora_mismatch"); `message` says what is wrong
    and what to do, and is what str() shows."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message
