"""Cold start of the BUILT desktop bundle to a usable window, against a bare PySide6 window started
the same way (same executable, bootloader, unpacking and Python start-up: STUDIO_BARE_WINDOW=1 makes
the bundle's entry point show a plain QWidget instead of the app; see packaging/bundle_main.py).

Each start is timed from exec to the moment the "window shown" line arrives (the app prints it when
its main window is on screen: STUDIO_EXIT_AFTER_SHOW=1 then closes it). The two sides take turns,
--starts rounds; the page cache is dropped before every start when that is allowed (root,
/proc/sys/vm/drop_caches writable), so both are truly cold — else the runs are warm and the output
says so. Each app start gets a fresh STUDIO_HOME (the first launch: the bundled starter is linked in,
the chat database and settings are created); with --launched-before every app start reuses one home
that a launch before the rounds set up, as on any later day.
Goal: app / bare ≤ 1.5 (median).

    QT_QPA_PLATFORM=offscreen python benchmarks/bundle_start.py [--bundle dist/local-llm-studio] [--starts 5] [--warm]
        [--launched-before] [--app-env STUDIO_NO_PREFETCH=1]   (the app's background read-ahead off, to see what it buys)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.5


def drop_caches() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


LOOP_AFTER_SHOW: list[float] = []  # ms from the shown window to the app's running asyncio loop
STAGES: list[dict[str, float]] = []  # the app's own breakdown of each start (STUDIO_EXIT_AFTER_SHOW prints it)
BARE_STAGES: list[dict[str, float]] = []


def start_once(exe: Path, env: dict[str, str], timeout: float = 120) -> float:
    """ms from exec to the "window shown" line; the process then exits by itself."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(exe)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    shown_ms = None
    assert proc.stderr is not None
    deadline = started + timeout
    for line in proc.stderr:
        if re.search(r"window shown after \d+ ms", line):
            shown_ms = (time.perf_counter() - started) * 1000
            break
        if time.perf_counter() > deadline:
            break
    try:
        rest = proc.stderr.read()
        found = re.search(r"startup: stages (.*)", rest)
        if found:
            stages = {k: float(v) for k, v in (item.split("=") for item in found.group(1).split())}
            (BARE_STAGES if env.get("STUDIO_BARE_WINDOW") == "1" else STAGES).append(stages)
        loop = re.search(r"asyncio loop running after (\d+) ms", rest)
        shown_line = re.search(r"window shown after (\d+) ms", line)
        if loop and shown_line:
            LOOP_AFTER_SHOW.append(float(loop.group(1)) - float(shown_line.group(1)))
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if shown_ms is None:
        raise SystemExit(f"{exe} never reported a shown window (exit {proc.returncode})")
    return shown_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    default = root / "dist" / "local-llm-studio"
    if (root / "build" / "bundle-path").is_file():
        default = Path((root / "build" / "bundle-path").read_text().strip())
    parser.add_argument("--bundle", type=Path, default=default, help="the built bundle folder")
    parser.add_argument("--starts", type=int, default=5, help="rounds (one app and one bare start each)")
    parser.add_argument("--warm", action="store_true", help="do not drop the page cache between starts")
    parser.add_argument("--launched-before", action="store_true",
                        help="the app's starts share one home set up by an earlier launch (not the first launch)")
    parser.add_argument("--app-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the app's starts only, e.g. STUDIO_NO_PREFETCH=1 (repeatable)")
    args = parser.parse_args()

    exe = args.bundle / ("local-llm-studio.exe" if sys.platform == "win32" else "local-llm-studio")
    if not exe.is_file():
        raise SystemExit(f"no bundle at {args.bundle}; build it: bash packaging/build_bundle.sh")
    cold = not args.warm and drop_caches()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    base_env.setdefault("QT_QPA_PLATFORM", "offscreen")
    app_env = dict(item.split("=", 1) for item in args.app_env)
    work = Path(tempfile.mkdtemp(prefix="studio-bundle-start-"))
    app_ms: list[float] = []
    bare_ms: list[float] = []
    try:
        start_once(exe, {**base_env, "STUDIO_BARE_WINDOW": "1"})  # not counted: the first touch of the files
        BARE_STAGES.clear()
        if args.launched_before:  # not counted: the first launch creates the home the rounds reuse
            start_once(exe, {**base_env, **app_env, "STUDIO_HOME": str(work / "home"), "STUDIO_EXIT_AFTER_SHOW": "1"})
            STAGES.clear()
            LOOP_AFTER_SHOW.clear()
        for round_ in range(args.starts):
            for side in (("app", "bare") if round_ % 2 == 0 else ("bare", "app")):
                if cold:
                    drop_caches()
                if side == "app":
                    home = work / ("home" if args.launched_before else f"home-{round_}")
                    env = {**base_env, **app_env, "STUDIO_HOME": str(home), "STUDIO_EXIT_AFTER_SHOW": "1"}
                    app_ms.append(start_once(exe, env))
                else:
                    bare_ms.append(start_once(exe, {**base_env, "STUDIO_BARE_WINDOW": "1"}))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    app, bare = statistics.median(app_ms), statistics.median(bare_ms)
    ratio = app / bare
    state = "cold (page cache dropped before every start)" if cold else "warm (page cache kept)"
    print(f"bundle: {args.bundle}")
    launch = "the app launched before (one home, reused)" if args.launched_before else "each app start a first launch"
    print(f"starts: {args.starts} each, {state}; {launch}" + (f"; app env {app_env}" if app_env else ""))
    print(f"app  to usable window: median {app:.0f} ms  ({', '.join(f'{v:.0f}' for v in app_ms)})")
    print(f"bare PySide6 window:   median {bare:.0f} ms  ({', '.join(f'{v:.0f}' for v in bare_ms)})")
    print(f"ratio app/bare: {ratio:.2f}  (goal <= {GOAL}: {'met' if ratio <= GOAL else 'NOT met'})")
    paired = statistics.median(a / b for a, b in zip(app_ms, bare_ms))  # same round: same machine load
    print(f"(median of the per-round ratios, less sensitive to load that changes during the run: {paired:.2f})")
    # The ratio hides what both sides share (bootloader, Python, runtime hooks): less of that makes the
    # app faster and the ratio larger, so the app's own time is printed too.
    print(f"the app's own time over the bare window: {statistics.median(a - b for a, b in zip(app_ms, bare_ms)):.0f} ms "
          "(median of the per-round differences)")
    if LOOP_AFTER_SHOW:  # the window is on screen first; asyncio (and ssl, socket...) is imported right after
        print(f"the app's asyncio loop runs {statistics.median(LOOP_AFTER_SHOW):.0f} ms after its window shows (median)")
    for label, runs in (("app", STAGES), ("bare", BARE_STAGES)):  # where the time went, median ms per stage
        if runs:
            print(f"{label} stages (median ms): " + "  ".join(
                f"{n} {statistics.median(s.get(n, 0.0) for s in runs):.0f}" for n in runs[0]))


if __name__ == "__main__":
    main()
