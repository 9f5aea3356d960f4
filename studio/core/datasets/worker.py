"""The dataset worker: `python -m studio.core.datasets.worker`.

Scanning a big dataset takes a while (rendering and tokenizing every example), so it runs here, off
the UI process. Op "scan" (ScanParams): events "preview" (rows, as soon as they are ready) and
"progress" (fraction, stage); the result is DatasetReport.to_dict().
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from studio.core.datasets.client import ScanParams
from studio.core.datasets.records import DatasetError
from studio.core.datasets.report import ScanCancelled, scan_dataset
from studio.core.workers.protocol import Cancelled, Request, Worker, WorkerError, operation


class DatasetWorker(Worker):
    name = "dataset"

    @operation(ScanParams)
    def scan(self, req: Request[ScanParams]) -> dict[str, Any]:
        if not req.params.paths:
            raise WorkerError("bad_request", "scan needs at least one dataset file")
        try:
            report = scan_dataset(**asdict(req.params), progress=req.progress, cancelled=lambda: req.cancelled,
                                  on_preview=lambda rows: req.emit("preview", rows=rows))
        except ScanCancelled:
            raise Cancelled() from None
        except DatasetError as exc:
            raise WorkerError("dataset", str(exc)) from None
        except ValueError as exc:  # a bad mapping or format name from the caller
            raise WorkerError("bad_request", str(exc)) from None
        return report.to_dict()


if __name__ == "__main__":
    DatasetWorker().main()
