"""Start the desktop app: QApplication + qasync loop + core objects + the main window.

Start-up is kept short: nothing heavy is imported before the window shows (no torch, no llama.cpp
in this process, no gguf/numpy); the model library is built and the model loaded afterwards, in
the background. Set STUDIO_STARTUP_REPORT=1 to print the time to the first shown window, and
STUDIO_EXIT_AFTER_SHOW=1 to quit right after it (for start-up benchmarks).
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import asyncio  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtGui import QIcon  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from studio import APP_ID, APP_NAME  # noqa: E402
from studio.ui.resources import resource  # noqa: E402


def run_app(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setOrganizationDomain("local-llm-studio.invalid")
    app.setDesktopFileName(APP_ID)
    icon_path = resource("icons", "local-llm-studio.svg")
    if icon_path.is_file():
        app.setWindowIcon(QIcon(str(icon_path)))

    import qasync

    from studio.core import paths
    from studio.core.chat.store_recovery import open_chat_store
    from studio.core.engine.client import EngineClient
    from studio.core.settings import load_settings_checked
    from studio.ui.i18n import install_translators
    from studio.ui.main_window import MainWindow
    from studio.ui.tasks import spawn
    from studio.ui.theme import apply_theme

    apply_theme(app)
    settings, settings_report = load_settings_checked()  # bad fields fall back, the file is copied first
    app._studio_translators = install_translators(app, settings.language)  # keep them alive

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    store = open_chat_store(paths.chat_db_path)  # never raises: a damaged file is set aside, the banner says so
    engine = EngineClient(settings.engine)
    window = MainWindow(settings, store, engine, library=None)
    window.show_settings_notice(settings_report.notice)
    window.show()

    report = os.environ.get("STUDIO_STARTUP_REPORT")
    exit_after_show = os.environ.get("STUDIO_EXIT_AFTER_SHOW")

    def shown() -> None:
        if report or exit_after_show:
            print(f"startup: window shown after {(time.perf_counter() - _T0) * 1000:.0f} ms", file=sys.stderr)
        if exit_after_show:
            window.close()
            return
        # The model library (gguf/numpy) and the model itself come after the window shows.
        spawn(start_then_open(), on_error=window._unexpected)

    # Files given on the command line (the desktop entry passes %F) open like dropped ones.
    from studio.ui.finetune import DATASET_SUFFIXES

    opened = [a for a in argv[1:] if a.lower().endswith(".gguf")]
    datasets = [os.path.abspath(a) for a in argv[1:] if a.lower().endswith(DATASET_SUFFIXES)]

    async def start_then_open() -> None:
        await window.startup()
        for path in opened:
            await window.import_and_load(os.path.abspath(path))
        if datasets:
            window.open_datasets(datasets)

    QTimer.singleShot(0, shown)
    with loop:
        loop.run_forever()
    return 0


def main() -> int:
    return run_app()


if __name__ == "__main__":
    sys.exit(main())
