"""Inspect › Next token on the real starter model: the real llama.cpp engine worker for the bars, the
steps and the logit lens (read from llama.cpp itself through the inspector), offscreen.

One EngineClient serves the module (loading is the slow part); each test builds its own view.
The painted widgets are also checked alone on synthetic data.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from studio.ui.inspect.bars import BarChart, BarRow, group_chosen, visible_piece, visible_text
from studio.ui.inspect.lens_view import LensCell, LensGrid

PROMPT = "The capital of France is"
CHINESE = "用一句话介绍北京。"


# -- the painted widgets alone -------------------------------------------------------------------

def test_pieces_show_whitespace_and_split_characters():
    assert visible_piece(b" Paris") == "␣Paris"
    assert visible_piece(b"\n\t") == "↵⇥"
    assert visible_piece("猫".encode()) == "猫"
    assert visible_piece("猫".encode()[:2]) == "‹e7›‹8c›"             # part of a character: its bytes
    assert visible_piece(b"", "<|im_end|>") == "<|im_end|>" and visible_piece(b"") == "∅"
    assert visible_text("a\x00b") == "a␀b"
    # A character split over tokens becomes one chip; a whole token stays alone.
    cat = "猫".encode()
    chips = group_chosen([(1, b" the", 0.5), (2, cat[:1], 0.2), (3, cat[1:], 0.9), (4, "好".encode(), 0.4)])
    assert [c.text for c in chips] == ["␣the", "猫", "好"]
    assert [len(c.tokens) for c in chips] == [1, 2, 1] and all(c.complete for c in chips)
    tail = group_chosen([(2, cat[:2], 0.2)])
    assert len(tail) == 1 and not tail[0].complete


def test_bar_chart_click_and_lens_grid_hit_testing(qtbot):
    bars = BarChart()
    qtbot.addWidget(bars)
    bars.resize(500, 300)
    bars.show()
    rows = [BarRow(id=10 + i, label=f"tok{i}", prob=p, base_prob=p, kept=i < 3, rank=i)
            for i, p in enumerate([0.5, 0.3, 0.1, 0.05, 0.05])]
    bars.set_rows(rows)
    with qtbot.waitSignal(bars.token_clicked) as blocker:
        QTest.mouseClick(bars, Qt.MouseButton.LeftButton, pos=bars.row_rect(3).center())
    assert blocker.args == [13]
    assert "cannot be sampled" in bars.tooltip(3) and "13" in bars.tooltip(3)
    bars.grab()

    grid = LensGrid()
    qtbot.addWidget(grid)
    grid.resize(900, 400)
    cells = [[LensCell(r * 10 + c, f"t{r}{c}", (c + 1) / 5) for c in range(4)] for r in range(3)]
    tops = [[LensCell(r * 10 + k, f"k{k}", 0.2) for k in range(5)] for r in range(3)]
    grid.set_data(["layer 2", "layer 1", "embeddings"], ["a", "b", "c", "d"], cells, tops)
    assert grid.cell_at(grid.cell_rect("pos", 2, 3).center()) == ("pos", 2, 3)
    assert grid.cell_at(grid.cell_rect("last", 0, 4).center()) == ("last", 0, 4)
    assert grid.minimumSizeHint().height() >= 3 * grid.cell_height()
    grid.grab()



def test_bar_chart_compares_two_sides_and_goes_back(qtbot):
    bars = BarChart()
    qtbot.addWidget(bars)
    bars.resize(520, 300)
    bars.show()
    plain = [BarRow(id=i, label=f"tok{i}", prob=p, base_prob=p, kept=True, rank=i) for i, p in enumerate([0.6, 0.4])]
    bars.set_rows(plain)
    plain_top, plain_height = bars._top(), bars.row_height()
    bars.set_legend(("Base model", "With adapter"))
    bars.set_rows([BarRow(id=0, label="a", prob=0.6, base_prob=0.6, kept=True, rank=0, before=0.477),
                   BarRow(id=1, label="b", prob=0.1, base_prob=0.1, kept=False, rank=1, before=0.14)])
    assert bars.comparing and bars._top() > plain_top                    # room for the legend
    assert bars.points(0.123) == "+12.3 pts" and bars.points(-0.04) == "\u22124.0 pts"
    assert bars.points(0.0001) == "0.0 pts"
    tip = bars.tooltip(0)
    assert "Base model: 47.7%" in tip and "With adapter: 60.0%" in tip and "Change: +12.3 pts" in tip
    assert "cannot be sampled" in bars.tooltip(1)
    with qtbot.waitSignal(bars.token_clicked) as blocker:
        QTest.mouseClick(bars, Qt.MouseButton.LeftButton, pos=bars.row_rect(1).center())
    assert blocker.args == [1]
    bars.grab()
    bars.set_legend(None)
    bars.set_rows(plain)
    assert not bars.comparing and bars._top() == plain_top and bars.row_height() == plain_height

# -- the real engine and analyser ----------------------------------------------------------------

def _finish_outside_a_test(loop, coro, timeout: float = 30.0) -> None:
    """Module teardown runs outside any test (no `run` fixture): drive Qt, and so asyncio, by hand."""
    asyncio.events._set_running_loop(loop)
    try:
        task = asyncio.ensure_future(coro)
        deadline = time.monotonic() + timeout
        while not task.done() and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.005)
        if task.done() and not task.cancelled():
            task.exception()
    finally:
        asyncio.events._set_running_loop(None)


@pytest.fixture(scope="module")
def engine(qloop, starter_model):
    from studio.core.engine.client import EngineClient

    client = EngineClient()
    yield client
    _finish_outside_a_test(qloop, client.close())


@pytest.fixture(scope="module")
def analyser(qloop, engine, tmp_path_factory):
    """The inspector the Inspect screen builds; for the GGUF starter it runs the lens on the engine."""
    from studio.core.inspect.inspector import Inspector
    from studio.core.workspace import Workspace

    inspector = Inspector(Workspace(engine), results_dir=tmp_path_factory.mktemp("lens-results"))
    yield inspector
    _finish_outside_a_test(qloop, inspector.close())


class _Counting:
    """Counts next_logits requests on the real engine (to prove the sliders never ask again)."""

    def __init__(self, engine, monkeypatch) -> None:
        self.calls = 0
        real = engine.next_logits

        async def next_logits(*args, **kwargs):
            self.calls += 1
            return await real(*args, **kwargs)

        monkeypatch.setattr(engine, "next_logits", next_logits)


def make_view(qtbot, engine, analyser, model, *, workspace=None, width: int = 1280, height: int = 900):
    from studio.core.workspace import Workspace
    from studio.ui.inspect.next_view import NextTokenView

    from studio.core.inspect.inspector import Inspector

    if workspace is not None and hasattr(analyser, "workspace"):
        analyser.workspace = workspace   # one workspace for the view and its inspector, as in the app
    workspace = workspace or getattr(analyser, "workspace", None) or Workspace(engine)
    view = NextTokenView(workspace, analyser if analyser is not None else Inspector(workspace))
    qtbot.addWidget(view)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    view.set_model(str(model))
    return view


def predict(run, view, text: str = PROMPT, chat: bool = False) -> None:
    view.editor.setPlainText(text)
    view.chat_toggle.setChecked(chat)
    assert run(view.refresh(), timeout=90) is True, view.note.text()


def probs(view) -> list[float]:
    return [row.prob for row in view.bars.rows]


@pytest.mark.slow
def test_bars_show_the_engines_top_and_the_sliders_reshape_without_asking_again(qtbot, run, engine, starter_model,
                                                                                monkeypatch):
    view = make_view(qtbot, engine, None, starter_model)
    predict(run, view)
    expected = run(engine.next_logits(PROMPT, top_k=5))
    rows = view.bars.rows
    assert rows[0].id == expected["tokens"][0]["id"]
    assert rows[0].label == visible_piece(bytes.fromhex(expected["tokens"][0]["piece_hex"]))
    assert abs(rows[0].prob - np.exp(expected["tokens"][0]["logprob"])) < 1e-4
    assert all(r.kept for r in rows) and "bits" in view.entropy_label.text()
    assert [r.prob for r in rows] == sorted((r.prob for r in rows), reverse=True)

    counter = _Counting(engine, monkeypatch)
    before = probs(view)
    view.set_temperature(0.5)                       # sharper: the top gains, the rest lose
    sharp = probs(view)
    assert sharp[0] > before[0] and sharp[-1] < before[-1]
    assert view.temperature_value.text() == "0.50"
    view.set_temperature(1.7)
    assert probs(view)[0] < before[0]
    view.set_temperature(0.0)                       # greedy: all on the top token
    assert view.bars.rows[0].prob == 1.0 and all(r.prob == 0.0 for r in view.bars.rows[1:])
    assert view.entropy_label.text().startswith("Entropy 0.00")
    view.set_temperature(1.0)
    assert np.allclose(probs(view), before)

    view.set_top_p(0.5)                             # the tail is cut: greyed, its base probability kept
    cut = [r for r in view.bars.rows if not r.kept]
    assert cut and view.bars.rows[0].kept and not view.bars.rows[-1].kept
    assert all(r.prob == 0.0 and r.base_prob > 0 for r in cut)
    assert sum(r.prob for r in view.bars.rows if r.kept) == pytest.approx(1.0, abs=1e-6)   # all kept ones are shown
    view.set_top_p(1.0)
    view.top_k_spin.setValue(2)
    assert [r.kept for r in view.bars.rows[:3]] == [True, True, False]
    view.top_k_spin.setValue(0)
    assert counter.calls == 0                       # every change above came from the one distribution
    view.bars.grab()


@pytest.mark.slow
def test_click_take_top_undo_and_reset(qtbot, run, engine, starter_model, monkeypatch):
    view = make_view(qtbot, engine, None, starter_model)
    predict(run, view)
    first = view.distribution
    clicked = view.bars.rows[1]                     # not the top: the user's own pick
    QTest.mouseClick(view.bars, Qt.MouseButton.LeftButton, pos=view.bars.row_rect(1).center())
    run.until(lambda: len(view.session.chosen) == 1 and not view.busy, 30)
    assert view.session.chosen[0][0] == clicked.id
    assert view.distribution is not first and view.distribution.top_id != -1
    assert view.continuation.chips[0].text == clicked.label
    assert "when chosen" in view.continuation.chips[0].tooltip
    second = view.distribution

    assert run(view.take_top()) is True
    assert view.session.chosen[-1][0] == second.top_id and len(view.session.chosen) == 2
    assert view.undo_button.isEnabled() and view.reset_button.isEnabled()

    counter = _Counting(engine, monkeypatch)
    assert run(view.undo()) is True
    assert view.distribution is second and len(view.session.chosen) == 1
    assert run(view.reset()) is True
    assert view.distribution is first and view.session.chosen == [] and view.continuation.chips == []
    assert counter.calls == 0                       # undo and reset reuse the kept distributions
    assert not view.undo_button.isEnabled()

    # Take sampled: seeded, so the same seed draws the same token again.
    view.set_temperature(1.5)
    drawn = run(view.take_sampled())
    assert drawn is not None and view.session.chosen[-1][0] == drawn and "Drew" in view.drawn_label.text()
    assert run(view.reset()) is True
    assert run(view.take_sampled()) == drawn


@pytest.mark.slow
def test_chinese_chat_steps_screenshot(qtbot, run, engine, starter_model, screenshot_dir):
    view = make_view(qtbot, engine, None, starter_model, width=1200, height=760)
    predict(run, view, CHINESE, chat=True)
    assert len(view.session.prompt_ids) > 10              # the chat template wraps the message
    assert view.continuation.reply_marker
    for _ in range(3):
        assert run(view.take_top(), timeout=30) is True
    view.set_temperature(0.8)
    view.set_top_p(0.9)
    assert run(view.take_sampled(), timeout=30) is not None
    assert len(view.session.chosen) == 4 and view.continuation.chips
    assert any("\u4e00" <= ch <= "\u9fff" for ch in view.continuation.text)   # the reply is Chinese too
    view.top_k_spin.setValue(8)                     # the screenshot shows cut bars as well
    assert [r.kept for r in view.bars.rows].count(True) <= 8 and not view.bars.rows[-1].kept
    qtbot.wait(50)
    path = screenshot_dir / "inspect_next.png"
    assert view.grab().save(str(path))
    assert CHINESE in view.continuation.prompt


@pytest.mark.slow
def test_bad_input_is_an_inline_note(qtbot, run, engine, starter_model):
    from studio.core.inspect.inspector import Inspector
    from studio.core.workspace import Workspace
    from studio.ui.inspect.next_view import NextTokenView

    workspace = Workspace(engine)
    view = NextTokenView(workspace, Inspector(workspace))
    qtbot.addWidget(view)
    view.editor.setPlainText(PROMPT)
    assert run(view.refresh()) is False and "model" in view.note.text()     # no model picked
    view.set_model(str(starter_model))
    view.editor.setPlainText("  \n")
    assert run(view.refresh()) is False and "prompt" in view.note.text()
    assert run(view.choose(5)) is False and run(view.take_sampled()) is None
    view.editor.setPlainText("word " * 5000)                                  # more than the 4096 context
    assert run(view.refresh(), timeout=60) is False
    assert "context" in view.note.text() and view.note.isVisibleTo(view)
    assert view.predict_button.isEnabled() and not view.busy


def _recording_workspace(engine):
    """The app's workspace, recording that the view asked it to load the model."""
    from studio.core.workspace import Workspace

    class Recording(Workspace):
        def __init__(self, engine) -> None:
            super().__init__(engine)
            self.loaded: list[str] = []

        async def load_model(self, path, **kwargs):
            self.loaded.append(path)
            return await super().load_model(path, **kwargs)

    return Recording(engine)


@pytest.mark.slow
def test_the_model_is_loaded_through_the_host(qtbot, run, starter_model):
    from studio.core.engine.client import EngineClient

    engine = EngineClient()
    try:
        host = _recording_workspace(engine)
        view = make_view(qtbot, engine, None, starter_model, workspace=host)
        predict(run, view)
        assert host.loaded == [str(starter_model)]
        predict(run, view, "Hello")                 # the model is there now: no second load
        assert host.loaded == [str(starter_model)]
    finally:
        run(engine.close(), timeout=30)


class _FakeInspector:
    """The inspector's planning side, for fakes that stand in for its lens."""

    def adapters(self, model):
        return []

    def plan_lens(self, model, text, **_kw):
        from studio.core.inspect.inspector import JobEstimate

        return JobEstimate("lens", "llama.cpp", 2, 1000, "a test")

    @staticmethod
    def refusal(estimate):
        return None


class _Refuses(_FakeInspector):
    def __init__(self, error):
        self.error = error

    async def logit_lens(self, source, **_params):
        raise self.error

    async def cancel(self):
        pass


class _Blocks(_FakeInspector):
    """A lens that runs until cancelled, as a slow first load would."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def logit_lens(self, source, on_progress=None, **_params):
        from studio.core.workers.protocol import WorkerError

        on_progress(0.25, "load")
        await self.cancelled.wait()
        raise WorkerError("cancelled", "the logit lens was cancelled")

    async def cancel(self):
        self.cancelled.set()


def test_lens_progress_and_cancel(qtbot, run):
    from studio.core.engine.client import EngineClient
    from studio.core.workspace import Workspace
    from studio.ui.inspect.next_view import NextTokenView
    from studio.ui.tasks import spawn

    view = NextTokenView(Workspace(EngineClient()), _Blocks())
    qtbot.addWidget(view)
    view.show()
    view.set_model("/models/x.gguf")
    view.editor.setPlainText("你好")
    task = spawn(view.compute_lens())
    run.until(lambda: view.lens_busy and view.lens_progress.value() == 250, 10)
    assert view.lens_progress.isVisible() and view.lens_cancel_button.isEnabled()
    assert not view.lens_button.isEnabled() and view.lens_stage.text()
    view.lens_cancel_button.click()
    run.until(task.done, 10)
    assert task.result() is False and "Cancelled" in view.lens_note.text()
    assert not view.lens_busy and view.lens_button.isEnabled() and not view.lens_progress.isVisible()


@pytest.mark.slow
def test_unsupported_architecture_keeps_the_bars(qtbot, run, engine, starter_model):
    from studio.core.workers.protocol import WorkerError

    sentence = ("Attention and the logit lens need a model transformers can load; rwkv is not supported "
                "(supported: llama, mistral, qwen2, …). Tokens and Next token still work with llama.cpp.")
    view = make_view(qtbot, engine, _Refuses(WorkerError("unsupported_architecture", sentence)), starter_model)
    predict(run, view)
    assert run(view.compute_lens()) is False
    assert view.lens_note.isVisibleTo(view) and view.lens_note.text() == sentence
    assert view.bars.rows and not view.lens_busy and view.lens_button.isEnabled()
    assert run(view.take_top()) is True


@pytest.mark.slow
def test_logit_lens_last_layer_matches_the_bars(qtbot, run, engine, analyser, starter_model, screenshot_dir):
    view = make_view(qtbot, engine, analyser, starter_model, width=1280, height=1160)
    text = "巴黎是法国的首都。The capital of France is"
    predict(run, view, text)
    assert view.settings()["temperature"] == 1.0
    assert run(view.compute_lens(), timeout=120) is True, view.lens_note.text()
    result = view.lens_result
    n_layers = engine.model_info.n_layers
    grid = view.lens_grid
    assert grid.n_rows == n_layers + 1 == len(result["layer_names"])
    assert grid.row_labels[-1] == "embeddings" and "output" in grid.row_labels[0]
    # The top row (the last layer) at the last position: the model's own prediction, as in the bars.
    assert result["top1"][-1][-1]["id"] == view.bars.rows[0].id
    assert grid.cells[0][-1].id == view.bars.rows[0].id and grid.cells[0][-1].match
    assert [c.id for c in grid.last_cells[0]][:1] == [view.bars.rows[0].id]
    assert grid.n_positions == min(16, len(result["labels"])) and len(grid.last_cells[0]) == 5
    # The lens ran on exactly the engine's token ids.
    assert result["ids"] == view.session.prompt_ids
    assert view.lens_note.isVisibleTo(view) and "top token" in view.lens_note.text()
    assert not view.lens_progress.isVisible() and not view.lens_cancel_button.isEnabled()
    view.split.setSizes([400, 700])
    qtbot.wait(50)
    assert view.lens_area.verticalScrollBar().maximum() == 0      # the whole grid is in the picture
    path = screenshot_dir / "inspect_logit_lens.png"
    assert view.grab().save(str(path))


@pytest.fixture(scope="module")
def random_adapter(starter_model, dequantized_starter, tmp_path_factory):
    """A random q/k/v/o LoRA adapter for the starter, stronger than the core tests' so the screenshot
    shows the two sides apart: untrained, it only has to move the prediction."""
    from tests.lora_fixtures import random_lora_gguf

    return random_lora_gguf(dequantized_starter, starter_model, tmp_path_factory.mktemp("adapter"), std=0.2)


def _engine_probs(run, engine, ids: list[int], wanted: list[int], *, base: bool = False) -> dict[int, float]:
    result = run(engine.next_logits(tokens=ids, top_k=1, ids=wanted, base=base))
    return {t["id"]: float(np.exp(t["logprob"])) for t in result["requested"]}


@pytest.mark.slow
def test_compare_with_the_base_model_pairs_the_bars(qtbot, run, engine, analyser, starter_model, random_adapter,
                                                    screenshot_dir, monkeypatch):
    view = make_view(qtbot, engine, analyser, starter_model, width=1280, height=900)
    predict(run, view)
    plain = [(r.id, r.prob) for r in view.bars.rows]
    assert not view.compare_toggle.isVisibleTo(view)          # no adapters: nothing to compare with
    workspace = view.workspace
    run(workspace.engine.set_lora([{"path": str(random_adapter), "scale": 1.0}]), timeout=60)
    try:
        view.refresh_adapters()                               # what the Inspect screen does on adapters_changed
        assert view.compare_toggle.isVisibleTo(view) and "adapter" in view.compare_toggle.toolTip()
        predict(run, view)                                    # with the adapter, still the plain chart
        assert view.bars.legend is None and all(r.before is None for r in view.bars.rows)

        # Turned on after Predict: the base side is fetched for the step in hand.
        view.compare_toggle.setChecked(True)
        run.until(lambda: view.bars.comparing and not view.busy, 60)

        def check() -> None:
            rows = view.bars.rows
            ids = view.session.ids
            wanted = [r.id for r in rows]
            base = _engine_probs(run, engine, ids, wanted, base=True)
            adapted = _engine_probs(run, engine, ids, wanted)
            for r in rows:
                assert r.before == pytest.approx(base[r.id], abs=1e-4)
                assert r.prob == pytest.approx(adapted[r.id], abs=1e-4)
                assert view.bars.points(r.prob - r.before) in view.bars.tooltip(rows.index(r))
            assert [r.prob for r in rows] == sorted((r.prob for r in rows), reverse=True)
            assert 8 <= len(rows) <= 16
            # Both sides' top 8 are there, even a token the other side ranks low.
            base_top = run(engine.next_logits(tokens=ids, top_k=8, base=True))["tokens"]
            adapted_top = run(engine.next_logits(tokens=ids, top_k=8))["tokens"]
            assert {t["id"] for t in base_top} | {t["id"] for t in adapted_top} == set(wanted)
            assert max(abs(r.prob - r.before) for r in rows) > 0.01        # the adapter moves the prediction

        check()
        assert "adapter" in view.bars.legend[1]
        tip = view.bars.tooltip(0)
        assert "Base model" in tip and "With adapter" in tip and "pts" in tip
        assert view.bars.points(0.123) == "+12.3 pts" and view.bars.points(-0.04) == "\u22124.0 pts"

        # Each step now asks for both sides; undo goes back to both without asking.
        counter = _Counting(engine, monkeypatch)
        assert run(view.take_top(), timeout=60) is True
        assert counter.calls == 2 and view.bars.comparing
        check()
        counter.calls = 0
        assert run(view.take_top(), timeout=60) is True
        assert run(view.undo()) is True and counter.calls == 2 and view.bars.comparing
        # The sliders reshape both sides alike, without asking.
        view.set_temperature(0.7)
        rows = view.bars.rows
        base_d, adapted_d = view.session.base, view.session.distribution
        for r in rows:
            assert r.before == pytest.approx(base_d.probs(temperature=0.7)[r.id], abs=1e-9)
            assert r.prob == pytest.approx(adapted_d.probs(temperature=0.7)[r.id], abs=1e-9)
        view.set_temperature(1.0)
        assert counter.calls == 2

        # A prompt predicted with the box on: both sides at once.
        predict(run, view)
        assert view.bars.comparing and counter.calls == 4
        check()
        qtbot.wait(50)
        path = screenshot_dir / "inspect_next_compare.png"
        assert view.grab().save(str(path))

        # Off: today's chart, exactly.
        view.compare_toggle.setChecked(False)
        assert view.bars.legend is None and not view.bars.comparing
        assert len(view.bars.rows) == 15 and all(r.before is None for r in view.bars.rows)
    finally:
        run(workspace.engine.set_lora([]), timeout=60)
    view.refresh_adapters()
    assert not view.compare_toggle.isVisibleTo(view) and not view.compare_toggle.isChecked()
    predict(run, view)
    assert [r.id for r in view.bars.rows] == [i for i, _ in plain]      # as before the adapter
    assert [r.prob for r in view.bars.rows] == pytest.approx([p for _, p in plain], abs=1e-6)
