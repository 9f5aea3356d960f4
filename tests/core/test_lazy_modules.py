"""studio.core.lazy_modules: the core modules the window is built from import asyncio on first use."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import studio.core.engine.client, studio.core.workers.client, studio.core.workspace, studio.core.chat.session
import studio.core.engine.remote
from studio.core.engine.client import EngineClient
from studio.core.lazy_modules import asyncio as lazy
client = EngineClient()  # what the window builds before it shows
print("BEFORE", "asyncio" in sys.modules, lazy.loaded)
import asyncio
print("SAME", lazy.Queue is asyncio.Queue, lazy.loaded)
async def main():
    await lazy.sleep(0)
    return "ran"
print("RUN", asyncio.run(main()))
"""


def test_asyncio_loads_on_first_use_and_is_the_real_module():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "BEFORE False False" in proc.stdout, proc.stdout  # building the engine client imported nothing
    assert "SAME True True" in proc.stdout
    assert "RUN ran" in proc.stdout
