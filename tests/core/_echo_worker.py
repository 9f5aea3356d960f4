"""A tiny worker for protocol tests: echoes, streams, sleeps, misbehaves on request."""

import os
import sys
import time

from studio.core.workers.protocol import Request, WorkerError, serve


def echo(req: Request):
    print("library noise on stdout must not corrupt the protocol")
    return {"echo": req.params.get("text"), "pid": os.getpid()}


def count(req: Request):
    for i in range(int(req.params.get("n", 10))):
        req.check_cancelled()
        req.emit("tick", i=i)
        time.sleep(float(req.params.get("delay", 0.0)))
    return {"counted": int(req.params.get("n", 10))}


def fail(req: Request):
    raise WorkerError("bad_input", "this input is not acceptable: " + str(req.params.get("why")))


def die(req: Request):
    sys.stderr.write("about to die: last words\n")
    sys.stderr.flush()
    os._exit(3)


if __name__ == "__main__":
    serve({"echo": echo, "count": count, "fail": fail, "die": die}, name="echo")
