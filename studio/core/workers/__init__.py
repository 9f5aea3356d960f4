"""The one worker protocol: JSON lines over stdin/stdout, shared by engine, trainer and analyser."""

from studio.core.workers.protocol import PROTOCOL_VERSION, WorkerError

__all__ = ["PROTOCOL_VERSION", "WorkerError"]
