"""The chat settings' Adapters group: attach a GGUF LoRA adapter to the loaded model, scale it,
detach it, and see a banner when an adapter does not fit the model (real engine worker)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog

from tests.ui.conftest import make_lora_gguf

pytestmark = pytest.mark.slow


def test_attach_scale_detach_and_a_misfit_adapter(qtbot, run, window, tmp_path, monkeypatch, screenshot_dir):
    win = window
    chat = win.chat
    box = chat.settings_panel.adapters_box
    assert box.isEnabled() and not box.rows and box.empty_label.isVisibleTo(win)
    good = make_lora_gguf(tmp_path / "style.gguf")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(good), "")))
    box.attach_button.click()
    run.until(lambda: len(box.rows) == 1, 30)
    assert [a["path"] for a in win.engine.model_info.lora] == [str(good)]
    assert chat.adapter_label.isVisibleTo(win) and "style.gguf ×1" in chat.adapter_label.text()
    # scale: the spin box change reaches the engine after a short pause
    label, spin, detach = box.rows[0]
    spin.setValue(0.5)
    run.until(lambda: win.engine.model_info.lora and abs(win.engine.model_info.lora[0]["scale"] - 0.5) < 1e-6, 30)
    assert "×0.5" in chat.adapter_label.text()
    win.grab().save(str(screenshot_dir / "chat_adapter_attached.png"))
    # an adapter for another model shape is refused with a sentence; the good one stays attached
    misfit = make_lora_gguf(tmp_path / "other-model.gguf", in_dim=100)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(misfit), "")))
    box.attach_button.click()
    run.until(lambda: chat.error_banner.isVisible(), 30)
    text = chat.error_banner.text()
    assert "other-model.gguf" in text and "Traceback" not in text, text
    assert [a["path"] for a in win.engine.model_info.lora] == [str(good)]
    assert len(box.rows) == 1
    # detach
    box.rows[0][2].click()
    run.until(lambda: not box.rows, 30)
    assert win.engine.model_info.lora == [] and not chat.adapter_label.isVisible()
