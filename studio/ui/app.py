"""Start the desktop app: QApplication + core objects + the main window, then the qasync loop.

Start-up is kept short: nothing heavy is imported before the window shows (no torch, no llama.cpp
in this process, no gguf/numpy, not even asyncio: the modules the window is built from import it on
first use, see studio.core.lazy_modules); once the window is on screen, the asyncio loop joins Qt's
running event loop (qasync, already_running) before any input is handled, and the model library is
built and the model loaded in the background.

Set STUDIO_STARTUP_REPORT=1 to print the time to the first shown window (and where it went: Qt
imported, instance claimed, app modules imported, store opened, window built), and
STUDIO_EXIT_AFTER_SHOW=1 to quit right after it (for start-up benchmarks); both also print when the
asyncio loop runs.

One app at a time per data folder (studio.ui.single_instance): a second launch hands its file
arguments to the running window and exits 0, before it opens the chat database or starts an engine.
STUDIO_TEST_REPORT_OPEN=1 prints `OPEN ["/abs/path", ...]` each time files reach the window.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()
_STAGES: list[tuple[str, float]] = []


def _stage(name: str) -> None:
    _STAGES.append((name, time.perf_counter()))


def _before_t0_ms() -> float | None:
    """How long the process ran before this module loaded (interpreter, bootloader); Linux only, ±10 ms."""
    try:
        with open("/proc/self/stat") as fh:
            started = int(fh.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return (time.clock_gettime(time.CLOCK_BOOTTIME) - started - (time.perf_counter() - _T0)) * 1000
    except (OSError, ValueError, IndexError, AttributeError):
        return None

import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from PySide6.QtCore import QCoreApplication, QTimer  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def _skip_pyside_source_scan() -> None:
    """In the frozen bundle, answer PySide's per-module check at once.

    After PySide loads, its import hook asks of every newly imported module whether the module's
    source names PySide6 (for the `from __feature__ import snake_case` switch), by reading the source
    through inspect. A bundle's modules have no source files, so after a search of the archive and
    the disk the answer is always "no": about 160 searches, ~10 ms, before the window shows. The
    answer is the same given at once."""
    if not getattr(sys, "frozen", False):
        return
    feature = sys.modules.get("shibokensupport.feature")
    if feature is not None and callable(getattr(feature, "_mod_uses_pyside", None)):
        feature._mod_uses_pyside = lambda module: False


_skip_pyside_source_scan()

from studio import APP_ID, APP_NAME  # noqa: E402
from studio.ui.resources import window_icon  # noqa: E402

_stage("qt")


def run_app(argv: list[str] | None = None) -> int:
    # No cyclic garbage collection until the window shows (shown() below turns it back on): start-up
    # creates tens of thousands of objects that live as long as the app (modules, classes, enums), and
    # the collector's 30-odd passes over them took 6-9 ms before the window showed, measured in the
    # bundle. A pass after the show finds what little start-up left behind.
    gc.disable()
    try:
        return _run_app(argv)
    finally:
        gc.enable()


def _run_app(argv: list[str] | None) -> int:
    argv = list(sys.argv if argv is None else argv)
    created = QApplication.instance() is None
    # Fusion from the command line rather than setStyle("Fusion"): that call hands Python the style
    # object, whose 11 enums PySide builds (~6 ms) before the window could show.
    app = QApplication.instance() or QApplication([*argv[:1], "-style", "Fusion", *argv[1:]])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setOrganizationDomain("local-llm-studio.invalid")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(window_icon())  # a missing icon is reported, not skipped

    from studio.core import paths
    from studio.ui.single_instance import Handoff, claim

    # Files given on the command line (the desktop entry passes %F) open like dropped ones; Qt has
    # taken its own options (-platform …) out of app.arguments().
    args = app.arguments()[1:] if created else argv[1:]
    files = [os.path.abspath(a) for a in args if a and not a.startswith("-")]
    try:
        handoff, instance = claim(paths.data_dir(), files, listen_later=True)  # listens once the window shows
    except OSError:  # no data folder: the chat store falls back to memory and says so; nothing to share
        handoff, instance = Handoff.FAILED, None
    _stage("instance")
    if handoff is Handoff.DELIVERED:  # the running window has them; this launch opens nothing
        return 0
    if handoff is Handoff.NO_ANSWER:
        return _say_not_answering(app)

    from studio.core.chat.store_recovery import open_chat_store
    from studio.core.engine.client import EngineClient
    from studio.core.settings import load_settings_checked
    from studio.ui.i18n import install_translators
    from studio.ui.main_window import MainWindow
    from studio.ui.tasks import spawn
    from studio.ui.theme import apply_theme

    _stage("modules")
    apply_theme(app, style_set=created)
    settings, settings_report = load_settings_checked()  # bad fields fall back, the file is copied first
    app._studio_translators = install_translators(app, settings.language)  # keep them alive

    store = open_chat_store(paths.chat_db_path)  # never raises: a damaged file is set aside, the banner says so
    _stage("store")
    engine = EngineClient(settings.engine)
    window = MainWindow(settings, store, engine, library=None)
    window.show_settings_notice(settings_report.notice)
    _stage("window")
    window.show()

    report = os.environ.get("STUDIO_STARTUP_REPORT")
    exit_after_show = os.environ.get("STUDIO_EXIT_AFTER_SHOW")
    report_open = os.environ.get("STUDIO_TEST_REPORT_OPEN")

    loop = None

    def shown() -> None:
        nonlocal loop
        if report or exit_after_show:
            _stage("shown")
            print(f"startup: window shown after {(time.perf_counter() - _T0) * 1000:.0f} ms", file=sys.stderr)
            before = _before_t0_ms()
            steps = [("python", before)] if before is not None else []
            steps += [(name, (at - prev) * 1000) for (name, at), prev in
                      zip(_STAGES, [_T0] + [at for _, at in _STAGES])]
            print("startup: stages " + " ".join(f"{name}={ms:.0f}" for name, ms in steps), file=sys.stderr)
        # The asyncio loop joins Qt's running one now that the window is on screen: importing asyncio
        # and qasync is the first thing done in the event loop, before any input is handled.
        import asyncio

        import qasync

        loop = qasync.QEventLoop(app, already_running=True)
        asyncio.set_event_loop(loop)
        gc.enable()
        if report or exit_after_show:
            print(f"startup: asyncio loop running after {(time.perf_counter() - _T0) * 1000:.0f} ms", file=sys.stderr)
        if instance is not None and not instance.listen():  # from now on later launches reach this window
            print("note: could not listen for later launches; opening a file again starts a second window",
                  file=sys.stderr)
        if exit_after_show:
            window.close()
            return
        # The model library (gguf/numpy) and the model itself come after the window shows.
        spawn(start_then_open(), on_error=window._unexpected)

    # Files from the command line and from later launches wait until start-up has picked the model.
    pending: list[str] = list(files)
    started = False

    def open_files(paths_: list[str]) -> None:
        if report_open:
            print("OPEN " + json.dumps(paths_), flush=True)
        window.open_files(paths_)

    def handed(paths_: list[str], activate: bool) -> None:
        if started and paths_:
            open_files(paths_)
            return
        pending.extend(paths_)
        if activate:
            window.bring_to_front()

    if instance is not None:
        instance.open_requested.connect(handed)
        app.aboutToQuit.connect(instance.close)

    async def start_then_open() -> None:
        nonlocal started
        await window.startup()
        started = True
        if pending:
            files_, pending[:] = list(pending), []
            open_files(files_)

    QTimer.singleShot(0, shown)
    try:
        app.exec()
    finally:
        if loop is not None:
            loop.stop()
            loop.close()
        if instance is not None:
            instance.close()
    return 0


def _say_not_answering(app: QApplication) -> int:
    """A window runs for this data folder but does not answer: say so instead of opening its database."""
    try:
        from studio.core.settings import load_settings_checked
        from studio.ui.i18n import install_translators

        settings, _ = load_settings_checked()
        app._studio_translators = install_translators(app, settings.language)
    except Exception:  # noqa: BLE001 - the sentence still comes, in English
        pass
    text = QCoreApplication.translate(
        "SingleInstance",
        "{app} is already running but does not answer. Wait for it or close it, then open the file again.",
    ).format(app=APP_NAME)
    print(f"studio: {text}", file=sys.stderr)
    if QGuiApplication.platformName() not in ("offscreen", "minimal") and not sys.stderr.isatty():
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.warning(None, APP_NAME, text)  # started from a file manager: nobody reads stderr
    return 1


def main() -> int:
    return run_app()


if __name__ == "__main__":
    sys.exit(main())
