"""A minimal evented-model helper: core objects emit named events, the UI subscribes.

Callbacks run synchronously on the emitting thread (the asyncio loop thread, which under qasync is
the Qt main thread), so UI code can touch widgets directly.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Callable

log = logging.getLogger(__name__)

Callback = Callable[..., Any]


class Emitter:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callback]] = defaultdict(list)

    def subscribe(self, event: str, callback: Callback) -> Callable[[], None]:
        """Call `callback(**payload)` on each `event`; returns an unsubscribe function."""
        self._subscribers[event].append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers[event]:
                self._subscribers[event].remove(callback)

        return unsubscribe

    def emit(self, event: str, **payload: Any) -> None:
        for callback in list(self._subscribers.get(event, ())):
            try:
                callback(**payload)
            except Exception:  # a broken subscriber must not break the model
                log.exception("subscriber of %r failed", event)
