"""Who else has the chat database open: a process identity (pid, start time, host) that survives
pid reuse, read from /proc on Linux (psutil elsewhere: its import costs the window's cold start)."""

from __future__ import annotations

import os
import sys


def host_name() -> str:
    """This machine's name, as socket.gethostname() gives it (os.uname() where it exists: importing
    socket costs the window's cold start ~5 ms)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def linux_start_time(pid: int) -> float | None:
    """A process's start (seconds since the epoch) from /proc, computed as psutil does, so tokens
    written by either way compare equal; None off Linux or for a process that is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        ticks = int(stat[stat.rindex(b")") + 2:].split()[19])  # field 22: starttime
        with open("/proc/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_identity() -> tuple[int, float, str]:
    pid = os.getpid()
    started = linux_start_time(pid) if sys.platform.startswith("linux") else None
    if started is None:
        import psutil  # here, not at import: psutil costs the window's cold start on Linux

        started = psutil.Process(pid).create_time()
    return pid, started, host_name()


def writer_alive(token: str, pid: int, started: float, host: str, open_here: set[str]) -> bool:
    """Is the store that registered `token` still open? Unknowable for another host: assume it is."""
    if host != host_name():
        return True
    if pid == os.getpid():
        return token in open_here
    if sys.platform.startswith("linux") and os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{int(pid)}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError, TypeError):
            return False  # no such process
        begun = linux_start_time(int(pid))
        if begun is None:
            return False
        try:
            return abs(begun - float(started)) < 1.0 and state != b"Z"
        except (ValueError, TypeError):
            return True
    import psutil

    try:
        process = psutil.Process(int(pid))
        return abs(process.create_time() - float(started)) < 1.0 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except (psutil.AccessDenied, ValueError, TypeError):
        return True
