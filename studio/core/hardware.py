"""How many CPU threads each kind of work gets: decided here, once, for the engine, the analyser,
the trainer and what the settings show as "Auto"."""

from __future__ import annotations

import functools
import os


@functools.lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores (hyper-threads share one core's FPUs, so they add little to matrix work)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            pairs = set()
            physical = ""
            for line in handle:
                if line.startswith("physical id"):
                    physical = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    pairs.add((physical, line.split(":")[1].strip()))
        if pairs:
            return len(pairs)
    except OSError:
        pass
    try:  # macOS, Windows
        import psutil

        cores = psutil.cpu_count(logical=False)
        if cores:
            return int(cores)
    except Exception:
        pass
    return max(1, os.cpu_count() or 2)


def generation_threads() -> int:
    """Physical cores minus one, at least one. llama.cpp's threads meet at a barrier after every
    op, so one descheduled thread stalls them all: on 2 busy cores two threads ran at 1.5-3 tok/s
    against 60 tok/s for one (measured here). The spare core keeps the chat window rendering.
    The analyser's torch forward passes follow the same rule for the same reason."""
    return max(1, physical_cores() - 1)


def prompt_threads() -> int:
    """Prompt reading is a short burst while the window waits, so it gets every physical core."""
    return physical_cores()


def training_threads() -> int:
    """Training runs for minutes at low priority (the trainer worker nices itself), so it takes
    every physical core; the window and a chat get the CPU back the moment they need it."""
    return physical_cores()


def free_ram() -> int:
    """Bytes of memory available to a new process now (page cache counts as free, as the kernel
    gives it back on demand)."""
    import psutil

    return int(psutil.virtual_memory().available)


def free_vram(timeout: float = 3.0) -> tuple[int, str] | None:
    """(free bytes, GPU name) of the first NVIDIA GPU from nvidia-smi, or None without one. Never
    raises: no driver, a hanging tool or odd output all mean "no GPU memory to count on"."""
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=memory.free,name", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=timeout, check=False).stdout
        free, name = (part.strip() for part in out.splitlines()[0].split(",", 1))
        return int(free) * 1024 * 1024, name
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
