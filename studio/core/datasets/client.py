"""Asyncio client of the dataset worker (works under qasync, in the CLI and in tests), and the scan
request the two share.

One scan at a time: starting a new scan (the user changed the mapping or added a file) cancels the
one in flight, whose caller then gets {"cancelled": True}.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from studio.core.datasets.records import ColumnMapping
from studio.core.workers.client import ServiceClient
from studio.core.workers.protocol import WorkerCancelled, from_params

DATASET_MODULE = "studio.core.datasets.worker"


@dataclass
class ScanParams:
    """scan_dataset's keyword arguments, as JSON (its defaults)."""
    paths: list[str]
    format: str | None = None
    mapping: dict[str, Any] | None = None
    model: str | None = None
    max_seq_len: int = 512
    val_paths: list[str] | None = None
    val_ratio: float = 0.1
    preview: int = 100


class DatasetClient(ServiceClient):
    def __init__(self, *, env: dict[str, str] | None = None) -> None:
        super().__init__(DATASET_MODULE, name="dataset", env=env)

    async def scan(self, paths: Iterable[str | os.PathLike[str]], *,
                   on_progress: Callable[[float, str], Any] | None = None,
                   on_preview: Callable[[list[dict[str, Any]]], Any] | None = None,
                   **kw: Any) -> dict[str, Any]:
        """DatasetReport.to_dict(), or {"cancelled": True}. Raises WorkerError (message for people)."""
        await self.cancel()
        if isinstance(kw.get("mapping"), ColumnMapping):
            kw["mapping"] = kw["mapping"].to_dict()
        if kw.get("model") is not None:
            kw["model"] = str(kw["model"])
        if kw.get("val_paths"):
            kw["val_paths"] = [str(p) for p in kw["val_paths"]]
        params = from_params(ScanParams, "scan", {"paths": [str(p) for p in paths], **kw})

        def on_event(event: dict[str, Any]) -> None:
            if event.get("event") == "preview" and on_preview is not None:
                on_preview(event.get("rows") or [])
        try:
            return await self._run("scan", params, on_progress=on_progress, on_event=on_event)
        except WorkerCancelled:
            return {"cancelled": True}
