"""The dataset worker: `python -m studio.core.datasets.worker`.

Scanning a big dataset takes a while (rendering and tokenizing every example), so it runs here, off
the UI process. Op "scan": params are scan_dataset's keyword arguments plus `paths`; events
"preview" (rows, as soon as they are ready) and "progress" (fraction, stage); the result is
DatasetReport.to_dict().
"""

from __future__ import annotations

import inspect
from typing import Any

from studio.core.datasets.records import DatasetError
from studio.core.datasets.report import ScanCancelled, scan_dataset
from studio.core.workers.protocol import Cancelled, Request, WorkerError, serve

_SCAN_PARAMS = {name for name in inspect.signature(scan_dataset).parameters
                if name not in ("progress", "cancelled", "on_preview")}


def scan(req: Request) -> dict[str, Any]:
    params = dict(req.params)
    unknown = sorted(set(params) - _SCAN_PARAMS)
    if unknown:
        raise WorkerError("bad_request", f"scan does not take {', '.join(unknown)}")
    if not params.get("paths"):
        raise WorkerError("bad_request", "scan needs at least one dataset file")
    try:
        report = scan_dataset(
            **params,
            progress=lambda fraction, stage: req.emit("progress", fraction=round(fraction, 4), stage=stage),
            cancelled=lambda: req.cancelled,
            on_preview=lambda rows: req.emit("preview", rows=rows),
        )
    except ScanCancelled:
        raise Cancelled() from None
    except DatasetError as exc:
        raise WorkerError("dataset", str(exc)) from None
    except ValueError as exc:  # a bad mapping or format name from the caller
        raise WorkerError("bad_request", str(exc)) from None
    return report.to_dict()


def main() -> None:
    serve({"scan": scan}, name="dataset")


if __name__ == "__main__":
    main()
