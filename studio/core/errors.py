"""The one shape of a user-facing core error: a machine-readable `kind` and a sentence for people."""

from __future__ import annotations


class StudioError(Exception):
    """`kind` lets callers branch (e.g. "truncated", "lora_mismatch"); `message` says what is wrong
    and what to do, and is what str() shows; `values`, where given, are the facts in the message, so
    a screen can say it in its own language."""

    def __init__(self, kind: str, message: str, values: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.values = dict(values or {})

    def __str__(self) -> str:
        return self.message


def user_message(exc: BaseException) -> str:
    """The sentence to show for any error: a StudioError's own message (without decorations such as a
    dataset error's file:line prefix), else what str() says."""
    return exc.message if isinstance(exc, StudioError) else str(exc)
