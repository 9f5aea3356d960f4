"""The one worker protocol: JSON lines over stdin/stdout, shared by engine, trainer, analyser and datasets."""

from studio.core.workers.protocol import PROTOCOL_VERSION, WorkerCancelled, WorkerError

__all__ = ["PROTOCOL_VERSION", "WorkerCancelled", "WorkerError"]
