"""The token view's error, shared by the tokenizer and the text-file reader (each raises it; neither
needs the other to)."""

from __future__ import annotations

from studio.core.errors import StudioError


class TokenizerError(StudioError):
    """A model file whose vocabulary cannot be used, a template that cannot render, a file that
    cannot be read. kind: "model_file", "vocab", "template", "file"."""


__all__ = ["TokenizerError"]
