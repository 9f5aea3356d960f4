"""A worker that says where a module would be imported from (for the GPU runtime tests).

`python -m tests.core._runtime_probe_worker --once NAME` prints the same JSON once and exits (the
frozen bundle's `--run-worker` path is tested with it)."""

import importlib
import importlib.util
import json
import os
import sys

from studio.core.workers.protocol import Request, Worker, operation


def probe(name: str) -> dict:
    spec = importlib.util.find_spec(name)
    mark = None
    if name == "fakecuda_probe" and spec is not None:
        mark = importlib.import_module(name).MARK
    return {"origin": spec.origin if spec else None, "mark": mark, "sys_path": sys.path[:6],
            "ld_library_path": os.environ.get("LD_LIBRARY_PATH", ""),
            "runtime": os.environ.get("STUDIO_RUNTIME_PATH", "")}


class ProbeWorker(Worker):
    name = "probe"

    @operation()
    def probe(self, req: Request):
        return probe(req.params["module"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--once"]:
        print(json.dumps(probe(sys.argv[2])))
    else:
        ProbeWorker().main()
