"""Running core coroutines from widgets (the Anki "background op" shape on asyncio/qasync).

`spawn(coro, on_error=...)` schedules a coroutine on the running (qasync) loop, keeps a reference
until it finishes, and routes an unexpected exception to `on_error` (or the log) instead of a
traceback dialog. `in_thread(fn, ...)` runs blocking core code (file copies, downloads) off the
event loop; `threadsafe(fn)` wraps a progress callback so a worker thread can call it safely.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

if TYPE_CHECKING:
    import asyncio
else:  # imported when first used, after the window shows (see studio.core.lazy_modules)
    from studio.core.lazy_modules import asyncio

log = logging.getLogger(__name__)
T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Awaitable[T], *, on_error: Callable[[BaseException], Any] | None = None,
          name: str | None = None) -> asyncio.Task[T]:
    task = asyncio.ensure_future(coro)
    if name:
        task.set_name(name)
    _running.add(task)

    def finished(t: asyncio.Task[T]) -> None:
        _running.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is None:
            return
        if on_error is not None:
            try:
                on_error(exc)
                return
            except Exception:  # pragma: no cover - an error handler must not hide the error
                log.exception("error handler failed")
        log.error("background task failed", exc_info=exc)

    task.add_done_callback(finished)
    return task


def running_tasks() -> set[asyncio.Task[Any]]:
    return set(_running)


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))


def threadsafe(fn: Callable[..., Any]) -> Callable[..., None]:
    """Wrap `fn` so calling it from any thread runs it on the loop's (the GUI) thread."""
    loop = asyncio.get_running_loop()

    def call(*args: Any, **kwargs: Any) -> None:
        if loop.is_closed():
            return
        loop.call_soon_threadsafe(functools.partial(fn, *args, **kwargs))

    return call
