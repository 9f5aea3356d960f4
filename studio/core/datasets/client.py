"""Asyncio client of the dataset worker (works under qasync, in the CLI and in tests).

One scan at a time: starting a new scan (the user changed the mapping or added a file) cancels the
one in flight, whose caller then gets {"cancelled": True}.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable

from studio.core.datasets.records import ColumnMapping
from studio.core.workers.client import Call, WorkerClient

DATASET_MODULE = "studio.core.datasets.worker"


class DatasetClient:
    def __init__(self, *, env: dict[str, str] | None = None) -> None:
        self._worker = WorkerClient(DATASET_MODULE, name="dataset", env=env)
        self._call: Call | None = None

    @property
    def busy(self) -> bool:
        return self._call is not None and not self._call.finished

    def log_tail(self, lines: int = 40) -> str:
        return self._worker.log_tail(lines)

    async def scan(self, paths: Iterable[str | os.PathLike[str]], *,
                   on_progress: Callable[[float, str], Any] | None = None,
                   on_preview: Callable[[list[dict[str, Any]]], Any] | None = None,
                   **kw: Any) -> dict[str, Any]:
        """DatasetReport.to_dict(), or {"cancelled": True}. Raises WorkerError (message for people)."""
        await self.cancel()
        if isinstance(kw.get("mapping"), ColumnMapping):
            kw["mapping"] = kw["mapping"].to_dict()
        for key in ("model",):
            if kw.get(key) is not None:
                kw[key] = str(kw[key])
        if kw.get("val_paths"):
            kw["val_paths"] = [str(p) for p in kw["val_paths"]]
        call = await self._worker.request("scan", paths=[str(p) for p in paths], **kw)
        self._call = call

        def on_event(event: dict[str, Any]) -> None:
            kind = event.get("event")
            if kind == "progress" and on_progress is not None:
                on_progress(float(event.get("fraction", 0.0)), str(event.get("stage", "")))
            elif kind == "preview" and on_preview is not None:
                on_preview(event.get("rows") or [])

        try:
            return await call.wait(on_event)
        finally:
            if self._call is call:
                self._call = None

    async def cancel(self) -> None:
        if self._call is not None and not self._call.finished:
            await self._call.cancel()

    async def close(self) -> None:
        await self.cancel()
        await self._worker.close()
