"""Entry point of the PyInstaller bundle (packaging/studio.spec); `python -m studio` in a source tree.

Before the usual CLI/GUI entry (studio.cli.main) it does two bundle-only things:
  * places the starter model shipped inside the bundle into the user's models folder (a hard link,
    symlink or copy; one stat when it is already there), so the first launch has a model offline;
  * STUDIO_BARE_WINDOW=1 shows a plain QWidget and exits once it is on screen: the baseline of
    benchmarks/bundle_start.py, through the same bootloader, unpacking and Python start-up as the app.
  * (the app only) asks the OS to read ahead, in the background, the files inside the bundle that the
    app needs before its window shows and a bare window does not (SQLite for the chat store, the
    image/icon plugins, the style sheet, the app's own Python modules in the archive; then asyncio with
    OpenSSL and QtNetwork, needed just after the window shows): on a cold start the disk reads them
    while Python and Qt start, instead of one page fault at a time later.
    (Started after Qt's libraries had loaded instead, it bought less: measured both ways. On a VM whose
    disk is fast or cached by the host it measures within the noise: 3 runs of 11 rounds each way.)
    STUDIO_NO_PREFETCH=1 turns it off (to measure it); =archive or =files turns off that part only.
    The files come from a list the build writes (PREFETCH_LIST, from the patterns in _PREFETCH): the
    thread runs while the window's modules load and holds the GIL for its Python work, and matching the
    patterns against the bundle's folders took 10-13 ms of it.
STUDIO_PROFILE_STARTUP=FILE writes a cProfile of the whole run to FILE (with STUDIO_EXIT_AFTER_SHOW=1:
of the start-up), since the built bundle ignores -X importtime and the PYTHON* variables.
Worker processes (`<exe> --run-worker <module>`) skip all three.

`<exe> [-u] -m MODULE ARGS` is read as `<exe> --run-worker MODULE ARGS`: that is how torchrun and
accelerate start their processes (`sys.executable -u -m ...`), so multi-process CPU training works
from the bundle too: `studio --run-worker torch.distributed.run --standalone --nproc_per_node 2
-m studio.core.training.run run.json`.
"""

import os
import sys


def _process_age_ms() -> float | None:
    """How long this process has run (Linux, ±10 ms): the bootloader and Python's own start-up."""
    import time

    try:
        with open("/proc/self/stat") as fh:
            started = int(fh.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return (time.clock_gettime(time.CLOCK_BOOTTIME) - started) * 1000
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _bare_window() -> int:
    import time

    before = _process_age_ms()
    t0 = time.perf_counter()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    qt = time.perf_counter()
    app = QApplication(sys.argv[:1])
    window = QWidget()
    window.resize(1100, 720)
    window.show()

    def shown() -> None:
        now = time.perf_counter()
        if sys.stderr:  # None in a windowed Windows program
            print(f"startup: window shown after {(now - t0) * 1000:.0f} ms", file=sys.stderr)
            # the same stage names as the app's report (studio.ui.app), for benchmarks/bundle_start.py
            python = f"python={before:.0f} " if before is not None else ""
            print(f"startup: stages {python}qt={(qt - t0) * 1000:.0f} shown={(now - qt) * 1000:.0f}", file=sys.stderr)
        window.close()
        app.quit()

    QTimer.singleShot(0, shown)
    return app.exec()


# Bundle-relative globs, in the order the app first needs them (see the docstring).
_PREFETCH = (
    "python3*/lib-dynload/_json.*", "python3*/lib-dynload/_sha256.*", "python3*/lib-dynload/_sqlite3.*",
    "libsqlite3.so.*", "python3*/lib-dynload/_datetime.*", "resources/styles/*.qss", "resources/icons/*.svg",
    "python3*/lib-dynload/resource.*", "PySide6/Qt/plugins/iconengines/*", "libQt6Svg.so.*",
    "PySide6/Qt/plugins/imageformats/*",
    # Just after the window shows: the asyncio loop (asyncio imports ssl: OpenSSL) and the
    # single-instance server (QtNetwork pulls in Kerberos).
    "python3*/lib-dynload/_asyncio.*", "python3*/lib-dynload/_contextvars.*", "python3*/lib-dynload/_ssl.*",
    "libssl.so.*", "libcrypto.so.*", "python3*/lib-dynload/_socket.*", "python3*/lib-dynload/select.*",
    "PySide6/QtNetwork.abi3.so", "PySide6/Qt/lib/libQt6Network.so.6", "libgssapi_krb5.so.*", "libkrb5.so.*",
    "libk5crypto.so.*", "libkrb5support.so.*", "libcom_err.so.*", "libkeyutils.so.*",
)


# The build resolves _PREFETCH into this list (paths relative to the bundle's folder, one per line).
PREFETCH_LIST = "prefetch-files.txt"


def resolve_prefetch(base: str) -> list[str]:
    """The files _PREFETCH names under base, relative to it, in _PREFETCH's order."""
    import glob

    return [os.path.relpath(path, base) for pattern in _PREFETCH for path in sorted(glob.glob(os.path.join(base, pattern)))]


def _prefetch_files(base: str) -> list[str]:
    try:
        with open(os.path.join(base, PREFETCH_LIST), encoding="utf-8") as fh:
            return [os.path.join(base, line) for line in fh.read().splitlines() if line]
    except OSError:  # a bundle built without the list: match the patterns here
        return [os.path.join(base, path) for path in resolve_prefetch(base)]


# Top-level names of the Python modules the app imports before its window shows and a bare window
# does not (measured on the built bundle: sys.modules at show, minus a bare window's), then asyncio's,
# needed right after. They sit in the PYZ archive that PyInstaller appends to the executable, sorted
# by name, so each is one short range.
_PREFETCH_MODULES = frozenset(("studio", "platformdirs", "json", "sqlite3", "html", "shlex", "filecmp",
                               "asyncio", "qasync", "concurrent", "ssl", "socket", "selectors"))


def _archive_ranges() -> tuple[str | None, list[list[int]]]:
    """(the archive's file, [offset, length] ranges of _PREFETCH_MODULES' entries, neighbours merged)."""
    try:
        import pyimod02_importers  # PyInstaller's importer: the PYZ table of contents

        archive = pyimod02_importers.pyz_archive
        toc, start, filename = archive.toc, archive._start_offset, archive._filename
    except (ImportError, AttributeError):  # another PyInstaller layout: just skip this part
        return None, []
    spans = sorted((start + offset, length) for name, (_kind, offset, length) in toc.items()
                   if name.partition(".")[0] in _PREFETCH_MODULES)
    merged: list[list[int]] = []
    for offset, length in spans:
        if merged and offset <= merged[-1][0] + merged[-1][1] + (64 << 10):
            merged[-1][1] = max(merged[-1][1], offset + length - merged[-1][0])
        else:
            merged.append([offset, length])
    return filename, merged


def _prefetch_in_background() -> None:
    base = getattr(sys, "_MEIPASS", None)
    off = os.environ.get("STUDIO_NO_PREFETCH", "")  # "1": none; "archive" / "files": that part only
    if not base or off == "1":
        return
    import threading

    def read_ahead() -> None:
        archive, ranges = _archive_ranges() if off != "archive" else (None, [])
        if archive and ranges and hasattr(os, "posix_fadvise"):
            try:
                fd = os.open(archive, os.O_RDONLY)
                try:
                    for offset, length in ranges:
                        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)
                finally:
                    os.close(fd)
            except OSError:
                pass
        for path in _prefetch_files(base) if off != "files" else ():
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                try:
                    if hasattr(os, "posix_fadvise"):  # the kernel reads it; nothing is copied here
                        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                    else:
                        while os.read(fd, 1 << 20):
                            pass
                finally:
                    os.close(fd)
            except OSError:
                pass

    threading.Thread(target=read_ahead, name="studio-prefetch", daemon=True).start()


def _python_style_module_call() -> None:
    """`<exe> -u -m mod args` (how launchers re-run "python") → `<exe> --run-worker mod args`."""
    args = sys.argv[1:]
    while args[:1] in (["-u"], ["-B"], ["-E"], ["-s"]):
        args = args[1:]
    if args[:1] == ["-m"] and len(args) >= 2:
        sys.argv = [sys.argv[0], "--run-worker", *args[1:]]


def main() -> int:
    if getattr(sys, "frozen", False):
        _python_style_module_call()
    worker = sys.argv[1:2] == ["--run-worker"]
    if not worker and os.environ.get("STUDIO_BARE_WINDOW") == "1":
        return _bare_window()
    if not worker:
        from studio.cli import opens_app_directly

        if opens_app_directly(sys.argv[1:]):  # not for `studio chat …` and the other commands
            _prefetch_in_background()
        try:
            from studio.core.models.starter import place_bundled_starter

            place_bundled_starter()
        except Exception as exc:  # noqa: BLE001 - never stop the app from starting; the panel offers a download
            if sys.stderr:
                print(f"note: could not place the bundled starter model: {exc}", file=sys.stderr)
    from studio.cli import main as studio_main

    return studio_main()


def _profiled_main(path: str) -> int:
    """STUDIO_PROFILE_STARTUP=FILE: cProfile the whole run (with STUDIO_EXIT_AFTER_SHOW: start-up) to
    FILE, for `python -m pstats FILE`. The built bundle ignores -X importtime and PYTHON* variables."""
    import cProfile

    profile = cProfile.Profile()
    try:
        return profile.runcall(main)
    finally:
        profile.dump_stats(path)


if __name__ == "__main__":
    _profile_to = os.environ.get("STUDIO_PROFILE_STARTUP")
    sys.exit(_profiled_main(_profile_to) if _profile_to else main())
