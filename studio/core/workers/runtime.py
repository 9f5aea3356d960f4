"""Which extra runtime a worker process imports first: the GPU runtime, when it is on.

The GPU runtime (studio.core.engine.gpu_runtime) is the CUDA builds of llama-cpp-python and torch,
unpacked into `<data>/gpu-runtime/site-packages`. Only worker processes import from it, never the
window: `with_runtime(env)` adds, for a worker about to start,

- STUDIO_RUNTIME_PATH = that site-packages (a frozen bundle's `--run-worker` puts it first on
  sys.path, see studio.cli), and the same folder first on PYTHONPATH (a source install);
- the CUDA libraries that came as wheels (`nvidia/*/lib`, `nvidia/*/bin`) first on LD_LIBRARY_PATH
  (Linux) or PATH (Windows), so llama.cpp's CUDA build finds libcudart and libcublas.

It does so only when the runtime is installed (its marker file is there), the user turned it on
(an `enabled` file beside it) and the machine has an NVIDIA driver; otherwise the worker runs the
CPU build exactly as before. A STUDIO_RUNTIME_PATH already in the environment (set by hand or by a
caller) is honoured as it is. Decided at each worker start, so switching the runtime on or off
takes effect the next time a worker starts. Cheap: a few `stat` calls, no subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, MutableMapping

from studio.core import paths

RUNTIME_ENV = "STUDIO_RUNTIME_PATH"
DIRNAME = "gpu-runtime"
SITE = "site-packages"
MARKER = "runtime.json"
ENABLED = "enabled"
MARKER_FORMAT = 1


def default_root() -> Path:
    return paths.data_dir() / DIRNAME


def site_dir(root: Path) -> Path:
    return Path(root) / SITE


def read_marker(root: Path) -> dict[str, Any] | None:
    """The installed runtime's marker (format, cuda, packages), or None when there is no complete
    runtime in `root` (never installed, removed, or an install that did not finish)."""
    try:
        data = json.loads((Path(root) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT or not site_dir(root).is_dir():
        return None
    return data


def is_enabled(root: Path) -> bool:
    return (Path(root) / ENABLED).is_file()


def driver_present() -> bool:
    """An NVIDIA driver is installed (cheap check; gpu_runtime.detect_nvidia asks the driver itself)."""
    if os.path.exists("/proc/driver/nvidia/version"):
        return True
    if sys.platform == "win32":
        system = os.environ.get("SystemRoot", r"C:\Windows")
        if os.path.exists(os.path.join(system, "System32", "nvcuda.dll")):
            return True
    return shutil.which("nvidia-smi") is not None


def library_dirs(site: Path) -> list[Path]:
    """Folders of CUDA libraries shipped as wheels (nvidia-cublas-cu12 & co.) inside the runtime."""
    sub = "bin" if sys.platform == "win32" else "lib"
    try:
        return sorted(p for p in (Path(site) / "nvidia").glob(f"*/{sub}") if p.is_dir())
    except OSError:
        return []


def active_site(env: MutableMapping[str, str] | None = None, root: Path | None = None) -> Path | None:
    """The runtime's site-packages a worker should import first, or None for the CPU runtime."""
    env = os.environ if env is None else env
    explicit = env.get(RUNTIME_ENV)
    if explicit:
        return Path(explicit)
    try:
        root = Path(root) if root is not None else default_root()
    except OSError:  # no data folder: certainly no runtime in it
        return None
    if not is_enabled(root) or read_marker(root) is None or not driver_present():
        return None
    return site_dir(root)


def _prepend(env: MutableMapping[str, str], name: str, entries: list[str]) -> None:
    current = [p for p in env.get(name, "").split(os.pathsep) if p]
    env[name] = os.pathsep.join([*entries, *(p for p in current if p not in entries)])


def with_runtime(env: MutableMapping[str, str], root: Path | None = None) -> MutableMapping[str, str]:
    """Add the GPU runtime's paths to a worker's environment `env` (in place) when it is active."""
    site = active_site(env, root)
    if site is None:
        return env
    env[RUNTIME_ENV] = str(site)
    _prepend(env, "PYTHONPATH", [str(site)])
    libs = [str(p) for p in library_dirs(site)]
    if libs:
        _prepend(env, "PATH" if sys.platform == "win32" else "LD_LIBRARY_PATH", libs)
    return env
