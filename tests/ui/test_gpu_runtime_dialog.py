"""The GPU runtime dialog against the local stand-in server (tests/gpu_standin.py): download with
progress and speed, cancel and resume, the no-network sentence, and what it says without a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.core.engine import gpu_runtime
from studio.core.engine.gpu_runtime import GpuInfo
from studio.ui.gpu_runtime_dialog import GpuRuntimeDialog, open_gpu_runtime_dialog
from tests.gpu_standin import closed_port, serve

GPU = GpuInfo("NVIDIA GeForce RTX 4070", "550.54.14", "12.4", 12282)
TRAINING = "faketorch-1.0-py3-none-any.whl"


@pytest.fixture()
def standin():
    state = serve()
    yield state
    state.stop()


def make_dialog(qtbot, manifest, root: Path, gpu=GPU) -> GpuRuntimeDialog:
    dialog = GpuRuntimeDialog(None, None, manifest=manifest, gpu=gpu, root=root)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_downloads_with_progress_and_switches_on(qtbot, run, tmp_path, standin, screenshot_dir):
    standin.delay = 0.005
    root = tmp_path / "gpu-runtime"
    dialog = make_dialog(qtbot, standin.manifest(), root)
    assert "RTX 4070" in dialog.gpu_label.text() and "CUDA 12.4" in dialog.gpu_label.text()
    assert "to download, about" in dialog.estimate_label.text() and "on disk" in dialog.estimate_label.text()
    assert dialog.training.isVisible() and dialog.download_button.text() == "Download"
    assert not dialog.use_gpu.isVisible()
    values: list[int] = []
    dialog.progress.valueChanged.connect(values.append)
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    run.until(lambda: "/s" in dialog.speed_label.text() and dialog.progress.value() > 0, 30)
    assert "MB" in dialog.speed_label.text() or "kB" in dialog.speed_label.text()
    dialog.grab().save(str(screenshot_dir / "gpu_runtime_downloading.png"))
    run.until(lambda: dialog.use_gpu.isVisible() and not dialog.running, 60)
    assert values and values == sorted(values) and values[-1] == 1000 and len(set(values)) > 2
    assert gpu_runtime.status(root).installed and gpu_runtime.is_enabled(root)
    assert dialog.use_gpu.isChecked() and "installed and on" in dialog.status.text()
    assert "Installed (llama_cpp_python 0.0.0, faketorch 1.0" in dialog.state_label.text()
    dialog.grab().save(str(screenshot_dir / "gpu_runtime_installed.png"))
    dialog.use_gpu.setChecked(False)
    assert not gpu_runtime.is_enabled(root) and "off" in dialog.status.text()
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert not root.exists() and not dialog.use_gpu.isVisible() and dialog.download_button.text() == "Download"


def test_cancel_then_resume(qtbot, run, tmp_path, standin):
    standin.delay = 0.02  # the 3 MB wheel takes about a second
    root = tmp_path / "gpu-runtime"
    dialog = make_dialog(qtbot, standin.manifest(), root)
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    run.until(lambda: "faketorch" in dialog.speed_label.text(), 30)
    assert dialog.cancel_button.isEnabled()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    run.until(lambda: not dialog.running, 30)
    assert "cancelled" in dialog.status.text() and dialog.status.level == "info"
    assert dialog.download_button.text() == "Resume" and "downloaded so far" in dialog.state_label.text()
    assert not gpu_runtime.status(root).installed
    standin.delay = 0.0
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    run.until(lambda: gpu_runtime.status(root).installed and not dialog.running, 60)
    assert standin.ranges and standin.ranges[0].startswith(f"{TRAINING} bytes=")


def test_no_network_shows_the_sentence(qtbot, run, tmp_path, standin):
    data = standin.manifest_data()
    port = closed_port()
    for entry in data["files"]:
        entry["url"] = f"http://127.0.0.1:{port}/{entry['name']}"
    dialog = make_dialog(qtbot, gpu_runtime.load_manifest(data), tmp_path / "gpu-runtime")
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    run.until(lambda: dialog.status.level == "error", 30)
    text = dialog.status.text()
    assert f"could not reach 127.0.0.1:{port}" in text and "check the connection" in text
    assert "the CPU runtime keeps working" in text and "Traceback" not in text
    assert dialog.download_button.isEnabled() and not dialog.progress.isVisible()


def test_without_an_nvidia_gpu_the_cpu_runtime_is_in_use(qtbot, run, tmp_path, standin, monkeypatch):
    dialog = make_dialog(qtbot, standin.manifest(), tmp_path / "gpu-runtime", gpu=None)
    assert dialog.gpu_label.text() == "No NVIDIA GPU found — the CPU runtime is in use."
    assert not dialog.download_button.isEnabled()
    # the real entry point asks the driver in a thread; here there is none
    monkeypatch.setattr(gpu_runtime, "detect_nvidia", lambda: None)
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    opened = open_gpu_runtime_dialog(None, None)
    qtbot.addWidget(opened)
    run.until(lambda: "No NVIDIA GPU" in opened.gpu_label.text(), 10)
    assert not opened.download_button.isEnabled() and opened.estimate_label.text()
    opened.reject()
