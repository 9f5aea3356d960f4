"""Small file-system helpers shared by everything that writes the user's files atomically."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable where the platform allows it (POSIX); best effort.
    Windows cannot open folders, and NTFS journals the rename anyway."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
