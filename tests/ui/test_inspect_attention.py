"""Inspect › Attention on the real starter model, offscreen: from llama.cpp itself for the GGUF file
(the engine, through the inspector and the workspace lease), from the torch analyser for the
same model as a Hugging Face folder.

One inspector (one engine, one analyser) serves the module so the models stay warm between tests;
each test builds its own view. The heatmap helpers are also checked on synthetic weights, without
a model.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPalette
from PySide6.QtWidgets import QApplication

from studio.ui.inspect.heatmap import (HeatmapGrid, colour_table, full_label, is_continuation, pool_max,
                                      prepare_grid, to_indices)
from studio.ui.theme import is_dark

PROMPT = "猫坐在垫子上，因为它很累。它睡着了。"


def causal_weights(layers: int, heads: int, tokens: int, seed: int = 0) -> np.ndarray:
    """Softmax over random scores with a causal mask: shaped like the analyser's weights."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0, 2, (layers, heads, tokens, tokens)).astype(np.float32)
    scores[..., np.triu(np.ones((tokens, tokens), bool), 1)] = -np.inf
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)).astype(np.float32)


def colours() -> np.ndarray:
    """The 0xRRGGBB the heatmaps paint per colour index: 0 = background (Base), 255 = weight 1."""
    return colour_table(is_dark(), QApplication.palette().color(QPalette.ColorRole.Base)) & 0xFFFFFF


def pixel(image: QImage, point: QPoint) -> int:
    return image.pixel(point) & 0xFFFFFF


def shades(weight: float) -> set[int]:
    """The colours a weight may paint as: its index, or a neighbour (a 1e-5 difference between two
    forward passes can round to the next of 254 steps). Exact zeros only ever paint background."""
    index = int(to_indices(np.array([weight], np.float32))[0])
    table = colours()
    if index == 0:
        return {int(table[0])}
    return {int(table[i]) for i in range(max(1, index - 1), min(255, index + 1) + 1)}


def grid_corners(grid, layer: int, head: int) -> dict[str, int]:
    """The corner pixels of one thumbnail (scrolled into view). The top left shows the first weight
    at any size; the others show the corner weights when each token gets at least a pixel, or the
    weights there are a constant block."""
    grid.ensure_visible(layer)
    image = grid.viewport().grab().toImage()
    rect = grid.cell_rect(layer, head)
    return {"top_left": pixel(image, rect.topLeft()), "top_right": pixel(image, rect.topRight()),
            "bottom_left": pixel(image, rect.bottomLeft()), "bottom_right": pixel(image, rect.bottomRight())}


def move(widget, pos: QPoint) -> None:
    """A hover, delivered as the mouse-move event Qt would send (mouse tracking is on)."""
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


# -- synthetic weights: the heatmap widgets alone -----------------------------------------------

def test_colour_indices_keep_exact_zeros_as_background():
    w = causal_weights(1, 1, 6)[0, 0]
    idx = to_indices(w)
    assert (idx[np.triu_indices(6, 1)] == 0).all()          # the causal triangle is background
    assert (idx[np.tril_indices(6)] >= 1).all()              # any attention at all gets a colour
    assert to_indices(np.array([1.0]))[0] == 255
    assert to_indices(np.array([1e-4]), "log")[0] == 1


def test_byte_token_labels_are_named_after_their_character():
    labels = ["猫", "…2", "…3", "坐", "<|im_end|>"]
    assert [full_label(labels, i) for i in range(5)] == ["猫", "猫…2", "猫…3", "坐", "<|im_end|>"]
    assert is_continuation("…2") and not is_continuation("…") and not is_continuation("…a")


def test_pooling_keeps_thin_structure_and_shapes():
    t = 200
    w = np.zeros((2, 3, t, t), np.float32)
    w[..., np.arange(1, t), np.arange(t - 1)] = 1.0          # a previous-token head: one-pixel diagonal
    pooled = pool_max(w, 64)
    assert pooled.shape == (2, 3, 64, 64)
    assert (np.diag(pooled[0, 0]) == 1.0).all()              # max-pooling keeps the diagonal at full strength
    thumbs = prepare_grid(causal_weights(4, 3, 20))
    assert thumbs.heads.shape == (4, 3, 20, 20) and thumbs.layer_means_small.shape == (4, 20, 20)
    assert thumbs.layer_means.shape == (4, 20, 20) and thumbs.mean.shape == (20, 20)


def test_grid_paints_30x9_thumbnails_of_256_tokens_fast(qtbot):
    weights = causal_weights(30, 9, 256)
    # A constant lower-left block per head, which any resampling keeps: each cell's own colour.
    marks = (np.arange(30 * 9, dtype=np.float32).reshape(30, 9) + 1) / 300
    weights[:, :, 128:, :64] = marks[:, :, None, None]
    start = time.perf_counter()
    thumbs = prepare_grid(weights)
    prepare_s = time.perf_counter() - start
    grid = HeatmapGrid()
    qtbot.addWidget(grid)
    grid.resize(560, 700)
    grid.show()
    qtbot.waitExposed(grid)
    grid.set_thumbs(thumbs)
    start = time.perf_counter()
    grid.viewport().grab()                                    # first paint builds the images
    first_ms = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(5):
        grid.viewport().grab()                                # grab() paints even if not yet exposed
        times.append(grid.paint_ms)
    print(f"\nT=256 grid: prepare {prepare_s * 1000:.0f} ms, first paint {first_ms:.1f} ms, "
          f"repaint {min(times):.2f} ms")
    assert first_ms < 100 and min(times) < 20
    # Cell hit-testing: the centre of each cell maps back to it, the mean column to head -1.
    for layer, head in ((0, 0), (2, 8), (5, -1)):
        assert grid.cell_at(grid.cell_rect(layer, head).center()) == (layer, head)
    # What is painted: token 0 attends only to itself (weight 1: the ramp's end), the causal corner
    # is background, and the bottom left is that head's own mark (the mean column: the heads' mean).
    table = colours()
    for layer, head in ((1, 0), (13, 4), (29, 8), (17, -1)):
        corners = grid_corners(grid, layer, head)
        mark = marks[layer, head] if head >= 0 else marks[layer].mean()
        assert corners["top_left"] == table[255] and corners["top_right"] == table[0], (layer, head)
        assert corners["bottom_left"] == table[to_indices(np.array([mark]))[0]], (layer, head, mark)


class _Refuses:
    """Stands in for the inspector's answer about an architecture it cannot read (no such GGUF is
    at hand here); the real workers' sentences are pinned by the core tests."""

    def __init__(self, error):
        self.error = error

    def adapters(self, model):
        return []

    def plan_attention(self, model, text, **_kw):
        from studio.core.inspect.inspector import JobEstimate

        return JobEstimate("attention", "llama.cpp", 2, 1000, "a test")

    @staticmethod
    def refusal(estimate):
        return None

    async def attention(self, source, **_params):
        raise self.error

    async def cancel(self):
        pass


def test_unsupported_architecture_note_is_the_workers_sentence(qtbot, run):
    from studio.core.workers.protocol import WorkerError
    from studio.ui.inspect.attention_view import AttentionView

    sentence = ("Attention and the logit lens need a model transformers can load; rwkv is not supported "
                "(supported: llama, mistral, qwen2, …). Tokens and Next token still work with llama.cpp.")
    view = AttentionView(_Refuses(WorkerError("unsupported_architecture", sentence)))
    qtbot.addWidget(view)
    view.set_model("/models/rwkv.gguf")
    view.editor.setPlainText("你好")
    assert run(view.compute()) is False
    assert view.note.isVisibleTo(view) and view.note.text() == sentence
    assert not view.busy and view.compute_button.isEnabled() and not view.cancel_button.isEnabled()
    assert not view.export_png_button.isEnabled()


def test_empty_prompt_and_no_model_say_what_to_do(qtbot, run):
    from studio.ui.inspect.attention_view import AttentionView

    view = AttentionView(_Refuses(AssertionError("must not be called")))
    qtbot.addWidget(view)
    assert run(view.compute()) is False and "model" in view.note.text()
    view.set_model("/models/x.gguf")
    view.editor.setPlainText("   \n")
    assert run(view.compute()) is False and "prompt" in view.note.text()


# -- the real analyser on the starter model ----------------------------------------------------

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
            task.exception()        # retrieved: a failed close is not worth a warning at exit
    finally:
        asyncio.events._set_running_loop(None)


@pytest.fixture(scope="module")
def analyser(qloop, tmp_path_factory, starter_model, dequantized_starter):
    """The inspector the Inspect screen builds: the engine for GGUF files, torch for folders."""
    from studio.core.engine.client import EngineClient
    from studio.core.inspect.client import AnalyserClient
    from studio.core.inspect.inspector import Inspector
    from studio.core.workspace import Workspace

    client = AnalyserClient(results_dir=tmp_path_factory.mktemp("attention-results"))
    engine = EngineClient()
    inspector = Inspector(Workspace(engine), client, results_dir=tmp_path_factory.mktemp("engine-results"))
    yield inspector
    _finish_outside_a_test(qloop, inspector.close())
    _finish_outside_a_test(qloop, client.close())
    _finish_outside_a_test(qloop, engine.close())


def make_view(qtbot, analyser, model, width: int = 1280, height: int = 860):
    from studio.ui.inspect.attention_view import AttentionView

    view = AttentionView(analyser)
    qtbot.addWidget(view)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    view.set_model(str(model))
    return view


def compute(run, view, text: str = PROMPT, timeout: float = 120.0):
    view.editor.setPlainText(text)
    assert run(view.compute(), timeout=timeout) is True, view.note.text()
    return view.result


@pytest.mark.slow
@pytest.mark.parametrize("source", ["gguf", "folder"])
def test_compute_on_a_chinese_prompt_shows_every_layer_and_head(qtbot, run, analyser, starter_model,
                                                               dequantized_starter, screenshot_dir, source):
    """The GGUF goes through llama.cpp (its maps agree with transformers' to a correlation of
    0.995, quantized as they are); the folder through torch (transformers' own, to 1e-4)."""
    from studio.ui.tasks import spawn
    from tests.core.test_engine_attention import correlations
    from tests.core.test_inspect_analysis import reference_forward

    model = starter_model if source == "gguf" else dequantized_starter
    view = make_view(qtbot, analyser, model)
    view.editor.setPlainText(PROMPT)
    task = spawn(view.compute())
    run.until(lambda: view.busy, 10)
    assert view.progress.isVisible() and view.cancel_button.isEnabled() and not view.compute_button.isEnabled()
    assert view.stage.text()
    run.until(task.done, 120)
    assert task.result() is True, view.note.text()
    assert not view.progress.isVisible() and not view.cancel_button.isEnabled()

    result = view.result
    t = result.n_tokens
    assert result.weights.shape == (30, 9, t, t) and t > 8
    assert view.thumbs.n_layers == 30 and view.thumbs.n_heads == 9
    assert view.grid.thumbs is view.thumbs
    assert view.zoom.matrix.shape == (t, t) and view.zoom.labels == list(result.labels)
    assert len(view.zoom.labels) == t
    if source == "gguf":  # the Tokens view's labels: a character split over two tokens is one label
        assert any("猫" in label for label in view.zoom.labels)
    np.testing.assert_array_equal(view.zoom.matrix, result.weights[0, 0])
    assert [view.token_strip.labels[i] for i in (0, -1)] == [result.labels[0] or "∅", result.labels[-1] or "∅"]
    assert view.export_png_button.isEnabled() and view.export_npz_button.isEnabled()
    assert not view.note.isVisibleTo(view)       # nothing to say about a short prompt
    print(f"\nattention {view.timings['analyse']:.2f} s, thumbnails {view.timings['thumbnails'] * 1000:.0f} ms, "
          f"T={t}")

    # The weights shown are transformers' own (output_attentions on the same ids), layer by layer ...
    reference, _lens = reference_forward(dequantized_starter, result.ids, lens_positions=1)
    if source == "folder":
        np.testing.assert_allclose(result.weights, reference, atol=1e-4)
    else:  # ... or llama.cpp's on the quantized model, which agree with them
        assert min(correlations(result.weights, reference)) >= 0.995
        reference = result.weights   # the pixels below show what llama.cpp computed
    # ... and so are the grid's cells: the last token's weight on itself, at each thumbnail's bottom
    # right (no pooling at this length), differs by layer and head; the causal corner is empty.
    assert view.grid.cell >= t  # whole pixels per weight: the last pixel shows the last weight
    for layer, head in ((1, 3), (14, 0), (29, 8), (22, -1)):
        corners = grid_corners(view.grid, layer, head)
        last = reference[layer, head, -1, -1] if head >= 0 else reference[layer, :, -1, -1].mean()
        assert corners["bottom_right"] in shades(last), (layer, head, last)
        assert corners["top_right"] == colours()[0]
    # The zoom paints every cell in its weight's colour, the causal triangle as background, and the
    # heaviest key of each query darkest (lightest on a dark theme) in its row.
    view.select(5, 2)
    np.testing.assert_allclose(view.zoom.matrix, reference[5, 2], atol=1e-4)
    image = view.zoom.grab().toImage()
    painted = np.array([[pixel(image, view.zoom.cell_center(r, c)) for c in range(t)] for r in range(t)])
    for r in range(t):
        for c in range(t):
            assert painted[r, c] in shades(reference[5, 2, r, c]), (r, c, reference[5, 2, r, c])
    assert (painted[np.triu_indices(t, 1)] == colours()[0]).all()
    lightness = np.vectorize(lambda rgb: QColor(int(rgb)).lightness())(painted)
    for r in range(1, t):
        row, heaviest = lightness[r, :r + 1], lightness[r, int(view.zoom.matrix[r].argmax())]
        assert heaviest == (row.max() if is_dark() else row.min()), (r, row)

    # The picture: a mid-depth head, a query highlighted, as a user would leave it.
    view.select(5, 2)
    view.highlight_query(t - 2)
    qtbot.wait(50)
    view.grab().save(str(screenshot_dir / f"inspect_attention_{source}.png"))


@pytest.mark.slow
def test_clicking_a_thumbnail_zooms_on_that_head(qtbot, run, analyser, starter_model):
    view = make_view(qtbot, analyser, starter_model)
    result = compute(run, view)
    grid = view.grid
    grid.ensure_visible(7)
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.cell_rect(7, 4).center())
    assert (view.layer, view.head, view.aggregate) == (7, 4, "head")
    assert grid.selected == (7, 4)
    np.testing.assert_array_equal(view.zoom.matrix, result.weights[7, 4])
    assert view.zoom_title.text() == "Layer 8 · head 5"
    # The mean column zooms on that layer's mean over heads.
    grid.ensure_visible(2)
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.cell_rect(2, -1).center())
    assert (view.layer, view.aggregate) == (2, "layer")
    assert view.aggregate_combo.currentData() == "layer"
    np.testing.assert_allclose(view.zoom.matrix, result.layer_mean(2), atol=1e-6)
    # Arrow keys walk the grid.
    qtbot.keyClick(grid, Qt.Key.Key_Down)
    assert (view.layer, view.aggregate) == (3, "layer")
    qtbot.keyClick(grid, Qt.Key.Key_Left)
    assert (view.layer, view.head, view.aggregate) == (3, 8, "head")


@pytest.mark.slow
def test_aggregates_switch_between_head_layer_mean_and_overall_mean(qtbot, run, analyser, starter_model):
    view = make_view(qtbot, analyser, starter_model)
    result = compute(run, view)
    view.select(4, 1)
    np.testing.assert_array_equal(view.zoom.matrix, result.weights[4, 1])
    view.aggregate_combo.setCurrentIndex(view.aggregate_combo.findData("layer"))
    assert view.aggregate == "layer" and view.grid.aggregate == "layer"
    np.testing.assert_allclose(view.zoom.matrix, result.layer_mean(4), atol=1e-6)
    assert view.zoom_title.text() == "Layer 5 · mean over heads"
    view.aggregate_combo.setCurrentIndex(view.aggregate_combo.findData("all"))
    np.testing.assert_allclose(view.zoom.matrix, result.mean(), atol=1e-6)
    np.testing.assert_allclose(view.zoom.matrix.sum(axis=1), 1.0, atol=1e-4)   # still a distribution per query
    assert view.zoom_title.text() == "Mean over all layers and heads"
    view.aggregate_combo.setCurrentIndex(view.aggregate_combo.findData("head"))
    np.testing.assert_array_equal(view.zoom.matrix, result.weights[4, 1])
    # The colour scale changes colours only.
    view.scale_combo.setCurrentIndex(view.scale_combo.findData("sqrt"))
    assert view.zoom.scale == view.grid.scale == view.token_strip.scale == "sqrt"
    np.testing.assert_array_equal(view.zoom.matrix, result.weights[4, 1])


@pytest.mark.slow
def test_hovering_a_token_highlights_what_it_attends_to(qtbot, run, analyser, starter_model):
    view = make_view(qtbot, analyser, starter_model)
    result = compute(run, view)
    t = result.n_tokens
    strip, zoom = view.token_strip, view.zoom
    view.select(3, 6)
    q = t - 3
    move(strip.viewport(), strip.chip_rect(q).center())
    assert strip.query == q and zoom.marked_row == q
    np.testing.assert_array_equal(strip.highlighted_weights(), result.weights[3, 6, q])
    assert (strip.highlighted_weights()[q + 1:] == 0).all()       # nothing attends to the future
    # Same for an aggregate: the row of what the zoom shows.
    view.set_aggregate("layer")
    move(strip.viewport(), strip.chip_rect(q - 1).center())
    np.testing.assert_allclose(strip.highlighted_weights(), result.layer_mean(3)[q - 1], atol=1e-6)
    move(strip.viewport(), QPoint(strip.viewport().width() - 2, strip.viewport().height() - 2))
    assert strip.query == -1 and strip.highlighted_weights() is None

    # Hovering a cell of the zoom: the tooltip names both tokens and the weight; the row lights the strip.
    view.set_aggregate("head")
    row = t - 1
    col = next(i for i in range(1, row) if not result.labels[i].startswith("…"))
    move(zoom, zoom.cell_center(row, col))
    assert zoom.hovered == (row, col)
    weight = float(result.weights[3, 6, row, col])
    labels = result.labels
    assert not labels[col].startswith("…")
    query = labels[row] if not labels[row].startswith("…") else None
    if query is None:    # "…2": the later byte tokens of one character are named after it ("猫…2")
        first = max(i for i in range(row) if not labels[i].startswith("…"))
        query = labels[first] + labels[row]
    assert zoom.tooltip_text(row, col) == f"query '{query}' → key '{labels[col]}': {weight:.3f}"
    np.testing.assert_array_equal(strip.highlighted_weights(), result.weights[3, 6, row])
    # A click on a chip keeps its highlight after the pointer leaves.
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=strip.chip_rect(1).center())
    QApplication.sendEvent(zoom, QEvent(QEvent.Type.Leave))
    assert strip.query == 1
    np.testing.assert_array_equal(strip.highlighted_weights(), result.weights[3, 6, 1])


@pytest.mark.slow
def test_export_png_and_npz(qtbot, run, analyser, starter_model, tmp_path):
    view = make_view(qtbot, analyser, starter_model)
    result = compute(run, view)
    t = result.n_tokens
    view.select(2, 3)
    png = view.export_png(tmp_path / "head")
    assert png.suffix == ".png" and png.is_file()
    image = QImage(str(png))
    assert not image.isNull()
    assert t * 3 < image.width() < 4000 and t * 3 < image.height() < 4000
    assert image.width() > 200 and image.height() > 200
    npz = view.export_npz(tmp_path / "weights.npz")
    with np.load(npz, allow_pickle=False) as data:
        assert data["weights"].shape == (30, 9, t, t) and data["weights"].dtype == np.float32
        np.testing.assert_array_equal(data["weights"], result.weights)
        assert list(data["ids"]) == list(result.ids)


@pytest.mark.slow
def test_long_prompts_are_cut_with_a_note(qtbot, run, analyser, starter_model):
    view = make_view(qtbot, analyser, starter_model)
    view.max_tokens = 24                     # the 512-token cap, scaled down to keep the test quick
    result = compute(run, view, "大语言模型把文本切成词元。" * 6)
    assert result.n_tokens == 24 and result.truncated_from > 24
    assert view.thumbs.size == 24 and view.zoom.matrix.shape == (24, 24)
    assert view.note.isVisibleTo(view)
    assert view.note.text().startswith(f"Showing the first 24 of {result.truncated_from} tokens")


@pytest.mark.slow
def test_chat_toggle_shows_the_prompt_as_the_model_sees_it(qtbot, run, analyser, starter_model):
    view = make_view(qtbot, analyser, starter_model)
    plain = compute(run, view, "你好").labels
    view.chat_toggle.setChecked(True)
    chat = compute(run, view, "你好").labels
    assert len(chat) > len(plain) and "<|im_start|>" in chat and "<|im_start|>" not in plain
    assert view.zoom.matrix.shape == (len(chat), len(chat)) and view.token_strip.labels[0] == chat[0]


@pytest.mark.slow
def test_cancel_during_compute_returns_to_idle_with_a_note(qtbot, run, analyser, starter_model):
    from studio.ui.tasks import spawn

    view = make_view(qtbot, analyser, starter_model)
    view.editor.setPlainText("注意力权重显示每个词元看向哪些词元。" * 40)   # a long prompt: a longer pass
    task = spawn(view.compute())
    run.until(lambda: view.busy, 10)
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    assert view.stage.text() == "Cancelling…" and not view.cancel_button.isEnabled()
    run.until(task.done, 60)
    assert task.result() is False
    assert not view.busy and view.compute_button.isEnabled() and not view.progress.isVisible()
    assert view.note.isVisibleTo(view) and view.note.text().startswith("Cancelled")
    assert view.result is None and not view.export_npz_button.isEnabled()
    # The analyser is fine afterwards.
    result = compute(run, view, "你好，世界")
    assert result.n_layers == 30 and not view.note.isVisibleTo(view)
