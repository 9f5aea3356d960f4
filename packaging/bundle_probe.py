"""A scripted look at the BUILT bundle's window, for packaging/smoke_bundle.sh (shipped in the bundle).

    <bundle>/studio --run-worker bundle_probe OUT_DIR

Runs the real app (studio.ui.app.run_app) and, once the window's own start-up is done, checks that
a model is loaded (on a fresh STUDIO_HOME: the starter the bundle carries), sends one chat message
through the Chat screen and waits for the reply, shows a text in Inspect › Tokens, then saves a PNG
of each screen (chat.png, finetune.png, inspect.png) into OUT_DIR and prints one JSON line:
{"ok": ..., "model": ..., "reply": ..., "tokens": ..., "shots": [...], "error": ...}. Exit 0 when ok.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

TIMEOUT_S = 120


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "bundle-probe").resolve()
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"ok": False, "model": None, "reply": None, "tokens": None, "shots": [], "error": None}

    # What the bundle's entry point (packaging/bundle_main.py) does before the app: this module
    # runs as a worker, which skips it.
    from studio.core.models.starter import place_bundled_starter

    place_bundled_starter()
    from studio.ui import main_window

    original_startup = main_window.MainWindow.startup

    async def settle(seconds: float) -> None:  # qasync runs Qt's events while this sleeps
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await asyncio.sleep(0.05)

    async def shoot(window, host, name: str) -> None:
        window.tabs.setCurrentWidget(host)
        await settle(1.0)
        path = out / f"{name}.png"
        if window.grab().save(str(path)):
            report["shots"].append(str(path))

    async def probe(window) -> None:
        await original_startup(window)
        info = window.engine.model_info if window.engine.ready else None
        if info is None:
            raise RuntimeError("the window finished starting with no model loaded")
        report["model"] = info.path
        reply = await window.chat.session.send("Say hello in five words.")
        report["reply"] = reply.content
        if not reply.content.strip():
            raise RuntimeError("the chat reply is empty")
        await shoot(window, window.chat, "chat")
        window.ensure_finetune()
        await shoot(window, window.finetune_host, "finetune")
        inspect = window.ensure_inspect()
        inspect.show_tokens("The owl said hello to the moon.", info.path)
        for _ in range(100):  # the tokens come from the engine worker
            await settle(0.1)
            tokenized = inspect.tokens_view.tokenized
            if tokenized is not None and tokenized.ids:
                report["tokens"] = len(tokenized.ids)
                break
        await shoot(window, window.inspect_host, "inspect")

    async def startup(window) -> None:
        try:
            await asyncio.wait_for(probe(window), TIMEOUT_S)
            report["ok"] = bool(report["model"] and report["tokens"]) and len(report["shots"]) == 3
        except BaseException as exc:  # noqa: BLE001 - reported, then the window closes
            report["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            print(json.dumps(report), flush=True)
            window.close()

    main_window.MainWindow.startup = startup
    from studio.ui.app import run_app

    run_app([sys.argv[0]])
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
