"""The error of an unusable model file, shared by the GGUF reader and the chat-template check (each
raises it; neither needs the other to)."""

from __future__ import annotations

from studio.core.errors import StudioError


class ModelFileError(StudioError):
    """A model file that cannot be used; `message` says why and what to do."""


__all__ = ["ModelFileError"]
