"""The Find models dialog against the local stand-in hub (tests/hub_standin.py): search, files with
memory verdicts, a download with progress that is cancelled and resumed, files found on this computer
added to the library, and the offline sentence. Screenshots go to the screenshot folder."""

from __future__ import annotations

import hashlib

import pytest

from studio.core.models import fit
from studio.core.models.fit import Budget, ModelShape, estimate
from studio.core.models.gguf_info import read_gguf_info
from studio.core.models.library import ModelLibrary
from studio.core.settings import AppSettings, load_settings
from tests.core.test_find_models import fake_hf_cache
from tests.core.test_gguf_info import write_gguf
from tests.hub_standin import STARTER_FILE, STARTER_REPO, populated


@pytest.fixture()
def hub(starter_model, tmp_path, monkeypatch):
    tiny = write_gguf(tmp_path / "tiny-src.gguf", rows=256, cols=256).read_bytes()
    server = populated(starter_model, tiny).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield server
    server.stop()


@pytest.fixture()
def budget(starter_model, monkeypatch) -> Budget:
    """Free memory pinned so the three starter quants show "fits", "fits", "tight" at 4,096 tokens."""
    shape = ModelShape.from_metadata(read_gguf_info(starter_model).metadata)
    f16 = estimate(shape, 271_069_856, 4096).total
    pinned = Budget(ram=int(f16 / 0.9))
    monkeypatch.setattr(fit.Budget, "now", classmethod(lambda cls: pinned))
    return pinned


@pytest.fixture()
def dialog(qtbot, qloop, hub, tmp_path, monkeypatch, studio_home):
    from studio.ui.find_models import FindModelsDialog

    home = tmp_path / "user"
    monkeypatch.setenv("HOME", str(home))  # LM Studio's folders are found under the home folder
    monkeypatch.setenv("HF_HOME", str(home / ".cache" / "huggingface"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    settings = AppSettings()
    library = ModelLibrary(tmp_path / "models", tmp_path / "models.json")
    saved: list[AppSettings] = []
    dlg = FindModelsDialog(None, settings=settings, save_settings=lambda: saved.append(settings),
                           library=library, dest_dir=tmp_path / "models", n_ctx=4096)
    dlg.saved = saved
    qtbot.addWidget(dlg)
    dlg.resize(1180, 660)
    dlg.show()
    qtbot.waitExposed(dlg)
    yield dlg
    dlg.cancel()


def search(dlg, qtbot, text: str, rows: int) -> None:
    dlg.query.setText(text)
    dlg.search_button.click()
    qtbot.waitUntil(lambda: dlg.results.topLevelItemCount() == rows, timeout=15_000)


def choose_repo(dlg, qtbot, repo: str) -> None:
    items = [dlg.results.topLevelItem(i) for i in range(dlg.results.topLevelItemCount())]
    dlg.results.setCurrentItem(next(i for i in items if i.text(0).startswith(repo)))
    qtbot.waitUntil(lambda: bool(dlg.files.topLevelItemCount() and dlg.files.topLevelItem(0).text(4)),
                    timeout=30_000)


def column(tree, col: int) -> list[str]:
    return [tree.topLevelItem(i).text(col) for i in range(tree.topLevelItemCount())]


def test_search_files_verdicts_download_cancel_and_resume(dialog, qtbot, hub, budget, starter_model,
                                                         tmp_path, screenshot_dir):
    search(dialog, qtbot, "smollm", 3)
    assert column(dialog.results, 0) == ["bartowski/SmolLM2-1.7B-Instruct-GGUF", STARTER_REPO,
                                         "unsloth/SmolLM3-3B-GGUF"]
    assert column(dialog.results, 1)[1] == "52,000"
    dialog.sort.setCurrentIndex(dialog.sort.findData("recent"))
    dialog.sort.activated.emit(dialog.sort.currentIndex())
    qtbot.waitUntil(lambda: column(dialog.results, 0)[:1] == ["unsloth/SmolLM3-3B-GGUF"], timeout=15_000)

    choose_repo(dialog, qtbot, STARTER_REPO)
    assert column(dialog.files, 1) == ["Q4_1", "Q8_0", "F16"]
    assert column(dialog.files, 4) == ["fits", "fits", "tight"]
    assert "98.4 MB" in column(dialog.files, 2)[0]
    assert dialog.verdict.text().startswith("SmolLM2-135M-Instruct.Q4_1.gguf: Needs about")
    assert "at 4,096 tokens" in dialog.verdict.text() and "of RAM is free" in dialog.verdict.text()
    dialog.grab().save(str(screenshot_dir / "find_models_results.png"))

    dialog.context.setCurrentIndex(dialog.context.findData(131072))  # no refetch: the shape is known
    assert column(dialog.files, 4) == ["will not fit"] * 3
    assert "trained for 8,192 tokens" in dialog.verdict.text()
    dialog.files.setCurrentItem(dialog.files.topLevelItem(2))
    assert "trained for 8,192 tokens" in dialog.verdict.text()
    qtbot.wait(100)
    dialog.grab().save(str(screenshot_dir / "find_models_will_not_fit.png"))
    dialog.context.setCurrentIndex(dialog.context.findData(4096))
    dialog.files.setCurrentItem(dialog.files.topLevelItem(0))

    # Download, slowly: progress and speed show; Cancel keeps the part.
    hub.mode = "slow"
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() > 20 and bool(dialog.speed.text()), timeout=30_000)
    assert dialog.downloading and dialog.cancel_button.isVisible() and "/s" in dialog.speed.text()
    dialog.grab().save(str(screenshot_dir / "find_models_downloading.png"))
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.downloading, timeout=15_000)
    assert "Download cancelled" in dialog.status.label.text()
    part = tmp_path / "models" / f"{STARTER_FILE}.part"
    have = part.stat().st_size
    assert have > 0

    # Download again: it resumes from the part and the checksum passes.
    hub.mode = "normal"
    with qtbot.waitSignal(dialog.downloaded, timeout=60_000) as done:
        dialog.download_button.click()
        assert "Resuming" in dialog.status.label.text()
    path = tmp_path / "models" / STARTER_FILE
    assert done.args == [str(path)]
    assert any(r.get("range") == f"bytes={have}-" for r in hub.requests)
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(starter_model.read_bytes()).digest()
    assert "checksum verified" in dialog.status.label.text()


def test_found_on_this_computer_adds_in_place(dialog, qtbot, starter_model, tmp_path, screenshot_dir):
    home = tmp_path / "user"
    lms = home / ".lmstudio" / "models" / "lmstudio-community" / "SmolLM2-135M-Instruct-GGUF"
    lms.mkdir(parents=True)
    (lms / STARTER_FILE).symlink_to(starter_model.resolve())
    tiny = write_gguf(tmp_path / "Tiny.gguf", rows=64, cols=64)
    snapshot = fake_hf_cache(home / ".cache" / "huggingface" / "hub", tiny)
    (lms / "old-Q4_0.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")

    dialog.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: dialog.local.topLevelItemCount() == 3, timeout=15_000)
    assert sorted(column(dialog.local, 0)) == sorted([STARTER_FILE, "Tiny-Q8_0.gguf", "old-Q4_0.gguf"])
    rows = {dialog.local.topLevelItem(i).text(0): dialog.local.topLevelItem(i) for i in range(3)}
    assert rows["Tiny-Q8_0.gguf"].text(1) == "Hugging Face cache · bartowski/Tiny-GGUF"
    assert rows["old-Q4_0.gguf"].text(4) == "Unusable"
    assert rows["old-Q4_0.gguf"].toolTip(4).startswith("truncated")
    dialog.local.setCurrentItem(rows["old-Q4_0.gguf"])
    assert not dialog.add_button.isEnabled()
    dialog.local.setCurrentItem(rows["Tiny-Q8_0.gguf"])
    assert dialog.add_button.isEnabled()
    dialog.grab().save(str(screenshot_dir / "find_models_on_this_computer.png"))
    with qtbot.waitSignal(dialog.added, timeout=15_000) as added:
        dialog.add_button.click()
    assert added.args == [str(snapshot)]
    qtbot.waitUntil(lambda: "In library" in column(dialog.local, 4), timeout=15_000)
    assert [e.name for e in dialog.library.list()] == ["Tiny-Q8_0"]
    assert "is now in your model list" in dialog.local_status.label.text()


def test_offline_mirror_and_source_are_saved(dialog, qtbot, monkeypatch):
    dialog.endpoint.setText("http://127.0.0.1:9")  # nothing listens there
    dialog.query.setText("llama")
    dialog.search_button.click()
    qtbot.waitUntil(lambda: "could not reach" in dialog.status.label.text(), timeout=15_000)
    assert dialog.status.level == "error"
    assert dialog.status.label.text().endswith("set a mirror (HF_ENDPOINT) in Settings")
    assert dialog.settings.hub_endpoint == "http://127.0.0.1:9" and dialog.saved
    dialog.source.setCurrentIndex(dialog.source.findData("modelscope"))
    dialog.source.activated.emit(dialog.source.currentIndex())
    assert dialog.settings.hub_source == "modelscope" and not dialog.endpoint.isVisible()


def test_offline_sentence_in_chinese(qtbot, qloop, tmp_path, monkeypatch, studio_home):
    """Behind a firewall the hub's failure is the first thing a user reads: in the UI's language, with
    the host and the mirror to set."""
    from PySide6.QtWidgets import QApplication

    from studio.ui.find_models import FindModelsDialog
    from studio.ui.i18n import install_translators

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    try:
        dlg = FindModelsDialog(None, settings=AppSettings(), library=ModelLibrary(tmp_path / "m", tmp_path / "r.json"),
                               dest_dir=tmp_path / "m", n_ctx=4096)
        qtbot.addWidget(dlg)
        dlg.show()
        dlg.query.setText("qwen")
        dlg.search_button.click()
        qtbot.waitUntil(lambda: dlg.status.level == "error", timeout=15_000)
        said = dlg.status.label.text()
        assert said.startswith("无法连接 127.0.0.1:9（") and said.endswith("或设置镜像（HF_ENDPOINT）"), said
    finally:
        for translator in translators:
            app.removeTranslator(translator)


def test_the_picker_opens_find_models(window, qtbot, run):
    from studio.ui.widgets.model_picker import FIND_MODELS

    index = window.model_picker.findData(FIND_MODELS)
    assert index >= 0
    window.model_picker.activated.emit(index)
    qtbot.waitUntil(lambda: getattr(window, "find_dialog", None) is not None, timeout=5_000)
    dialog = window.find_dialog
    assert dialog.isVisible() and dialog.library is window.library
    assert window.open_find_models() is dialog  # one at a time
    dialog.reject()
    assert window.open_find_models() is dialog and dialog.isVisible()  # kept, reopens as it was
    dialog.reject()
    assert load_settings().hub_source == "huggingface"


def test_the_dialog_in_simplified_chinese(qtbot, qloop, hub, budget, tmp_path, screenshot_dir):
    from PySide6.QtWidgets import QApplication

    from studio.ui.find_models import FindModelsDialog
    from studio.ui.i18n import install_translators

    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    assert translators, "studio_zh_CN.qm did not load"
    try:
        dlg = FindModelsDialog(None, settings=AppSettings(), library=ModelLibrary(tmp_path / "m", tmp_path / "r.json"),
                               dest_dir=tmp_path / "m", n_ctx=4096)
        qtbot.addWidget(dlg)
        dlg.resize(1180, 660)
        dlg.show()
        qtbot.waitExposed(dlg)
        assert dlg.windowTitle() == "查找模型" and dlg.tabs.tabText(1) == "本机已有的模型"
        search(dlg, qtbot, "smollm2", 2)
        choose_repo(dlg, qtbot, STARTER_REPO)
        assert column(dlg.files, 4) == ["可以运行", "可以运行", "内存紧张"]
        assert "在 4,096 个词元的上下文下约需" in dlg.verdict.text()
        qtbot.wait(100)
        dlg.grab().save(str(screenshot_dir / "find_models_zh_CN.png"))
    finally:
        for translator in translators:
            app.removeTranslator(translator)


def test_the_plain_hub_dialog_uses_the_mirror_setting(qtbot, qloop, hub, tmp_path, monkeypatch):
    from studio.ui.model_dialogs import HubDownloadDialog

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the setting must win over this
    dlg = HubDownloadDialog(None, repo=STARTER_REPO, filename=STARTER_FILE, dest_dir=tmp_path / "m",
                            endpoint=hub.url)
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.downloaded, timeout=60_000) as done:
        dlg.download_button.click()
    assert done.args == [str(tmp_path / "m" / STARTER_FILE)]
