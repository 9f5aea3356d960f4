"""A tiny worker for protocol tests: echoes, streams, sleeps, misbehaves on request."""

import os
import sys
import time
from dataclasses import dataclass

from studio.core.workers.protocol import Request, Worker, WorkerError, operation


@dataclass
class CountParams:
    n: int = 10
    delay: float = 0.0


@dataclass
class ProgressParams:
    steps: int = 100
    delay: float = 0.0


class EchoWorker(Worker):
    name = "echo"

    @operation()
    def echo(self, req: Request):
        print("library noise on stdout must not corrupt the protocol")
        return {"echo": req.params.get("text"), "pid": os.getpid()}

    @operation(CountParams)
    def count(self, req: Request[CountParams]):
        for i in range(req.params.n):
            req.check_cancelled()
            req.emit("tick", i=i)
            time.sleep(req.params.delay)
        return {"counted": req.params.n}

    @operation(ProgressParams)
    def progress(self, req: Request[ProgressParams]):
        for i in range(req.params.steps + 1):
            req.progress(i / req.params.steps, "first half" if i < req.params.steps // 2 else "second half")
            time.sleep(req.params.delay)
        return {}

    @operation()
    def fail(self, req: Request):
        raise WorkerError("bad_input", "this input is not acceptable: " + str(req.params.get("why")))

    @operation()
    def die(self, req: Request):
        sys.stderr.write("about to die: last words\n")
        sys.stderr.flush()
        os._exit(3)


if __name__ == "__main__":
    EchoWorker().main()
