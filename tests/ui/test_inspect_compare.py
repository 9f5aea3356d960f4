"""Before and after a fine-tune, in Inspect: the adapter picker lists the runs trained on the picked
model and attaches one in the engine; Attention then shows adapted − base on a diverging scale and
the logit lens says at which layer the adapted model parts from the base model. Real engine, real
starter, a real (random, untrained) adapter exported as a run's adapter.gguf."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PySide6.QtGui import QColor

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is Paris. The capital of Italy is"


@pytest.fixture()
def trained_run(studio_home, starter_model, dequantized_starter, tmp_path):
    """A finished training run on the starter whose adapter.gguf is the random adapter."""
    from studio.core.training.runs import runs_root
    from tests.lora_fixtures import random_lora_gguf

    adapter = random_lora_gguf(dequantized_starter, starter_model, tmp_path)
    run = runs_root() / "20261203-120000-starter-demo"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"base_model": str(starter_model), "data": []}), encoding="utf-8")
    (run / "status.json").write_text(json.dumps({"state": "completed", "step": 10, "total_steps": 10}),
                                     encoding="utf-8")
    shutil.copyfile(adapter, run / "adapter.gguf")
    return run


def test_pick_a_trained_adapter_then_compare_attention_and_the_lens(qtbot, run, trained_run, starter_model,
                                                                  screenshot_dir):
    from studio.core.engine.client import EngineClient
    from studio.core.workspace import Workspace
    from studio.ui.inspect.view import InspectView

    engine = EngineClient()
    view = InspectView(Workspace(engine))
    qtbot.addWidget(view)
    view.resize(1280, 900)
    view.show()
    try:
        view.set_model(str(starter_model))
        combo = view.adapter_combo
        run.until(lambda: combo.count() == 2, timeout=20)
        assert combo.itemText(1) == trained_run.name and combo.isEnabled()
        assert not view.attention_view.compare_toggle.isVisibleTo(view)

        # Picking the run's adapter attaches it in the engine (the chat sees it too).
        assert run(view.use_adapter(combo.itemData(1)), timeout=90) is True
        assert [a["path"] for a in engine.lora] == [str(trained_run / "adapter.gguf")]
        assert combo.currentIndex() == 1
        attention = view.attention_view
        assert attention.compare_toggle.isVisibleTo(view) and trained_run.name[:8] in attention.compare_toggle.text() \
            or "adapter" in attention.compare_toggle.text()

        # Attention: adapted − base, both from llama.cpp on the same ids.
        view.sections.setCurrentWidget(attention)
        attention.editor.setPlainText(PROMPT)
        attention.compare_toggle.setChecked(True)
        assert run(attention.compute(), timeout=120) is True, attention.note.text()
        both = attention.comparison
        assert both is not None and both.base.ids == both.tuned.ids == attention.result.ids
        np.testing.assert_allclose(attention.result.weights, both.tuned.weights.astype(np.float32) - both.base.weights,
                                   atol=1e-6)
        assert np.abs(attention.result.weights).max() > 0.05          # the adapter moved attention
        assert not np.triu(attention.result.weights, k=1).any()       # nothing changes in the future
        assert attention.grid.span and attention.zoom.span
        assert "largest change" in attention.note.text()
        # The zoom paints more attention red and less attention blue.
        attention.set_aggregate("head")
        matrix = attention.zoom.matrix
        qtbot.wait(50)
        image = attention.zoom.grab().toImage()
        up = np.unravel_index(int(matrix.argmax()), matrix.shape)
        down = np.unravel_index(int(matrix.argmin()), matrix.shape)
        if matrix[up] > 0.02:
            colour = QColor(image.pixel(attention.zoom.cell_center(*up)))
            assert colour.red() > colour.blue(), (up, colour.name())
        if matrix[down] < -0.02:
            colour = QColor(image.pixel(attention.zoom.cell_center(*down)))
            assert colour.blue() > colour.red(), (down, colour.name())
        attention.grab().save(str(screenshot_dir / "inspect_attention_adapter_change.png"))

        # The logit lens: the adapted model's, with where it parts from the base model.
        nxt = view.next_view
        view.sections.setCurrentWidget(nxt)
        nxt.editor.setPlainText(PROMPT)
        assert nxt.lens.compare_toggle.isVisibleTo(view)
        nxt.lens.compare_toggle.setChecked(True)
        assert run(nxt.compute_lens(), timeout=120) is True, nxt.lens.note.text()
        comparison = nxt.lens.comparison
        base_next = run(engine.next_logits(PROMPT, top_k=5, base=True), timeout=30)
        tuned_next = run(engine.next_logits(PROMPT, top_k=5), timeout=30)
        assert [t["id"] for t in comparison.base["final"]] == [t["id"] for t in base_next["tokens"]]
        assert [t["id"] for t in comparison.tuned["final"]] == [t["id"] for t in tuned_next["tokens"]]
        note = nxt.lens.note.text()
        if comparison.base["final"][0]["id"] == comparison.tuned["final"][0]["id"]:
            assert comparison.parting.parts_at is None and "still predicts" in note
        else:
            assert comparison.parting.parts_at is not None and "stay apart up to the output" in note
        assert "base model:" in nxt.lens.grid.cells[0][-1].tooltip
        nxt.grab().save(str(screenshot_dir / "inspect_lens_adapter_parting.png"))

        # Back to none: the comparisons go away with the adapter.
        combo.setCurrentIndex(0)
        assert run(view.use_adapter(None), timeout=60) is True
        assert engine.lora == [] and not attention.compare_toggle.isVisibleTo(view)
        assert not nxt.lens.compare_toggle.isVisibleTo(view)
    finally:
        run(view.shutdown(), timeout=30)
        run(engine.close(), timeout=30)
