"""The starter model's input embeddings, read from its GGUF: shape, the rows themselves, neighbours
that make sense, a PCA map, the estimate, the cache and cancelling."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from studio.core.inspect import embeddings as emb
from studio.core.inspect.embeddings import EmbeddingError


@pytest.fixture(scope="module")
def starter_emb(starter_model):
    return emb.load(starter_model)


def test_estimate_comes_from_the_header(starter_model):
    est = emb.estimate(starter_model)
    assert (est.rows, est.dim) == (49152, 576)
    assert est.memory_bytes == 49152 * 576 * 4
    assert est.ggml_type == "Q8_0"
    assert "49,152 × 576 floats = 113 MB" in est.sentence()


def test_matrix_shape_finite_and_cached(starter_model, starter_emb):
    assert starter_emb.shape == (49152, 576)
    assert starter_emb.unit.dtype == np.float32
    assert np.isfinite(starter_emb.unit).all()
    assert emb.load(starter_model) is starter_emb
    assert emb.cached(starter_model) is starter_emb


def test_rows_match_the_torch_dequantized_model(starter_emb, dequantized_starter):
    """transformers' own GGUF loading (the attention worker's model) gives the same embedding rows."""
    from safetensors import safe_open

    with safe_open(str(dequantized_starter / "model.safetensors"), "np") as f:
        reference = f.get_tensor("model.embed_tokens.weight")
    for token in (0, 1, 4197, 15731, 49151):
        np.testing.assert_allclose(starter_emb.row(token), reference[token], rtol=1e-5, atol=1e-6)


def test_a_token_is_its_own_nearest_neighbour(starter_emb):
    result = starter_emb.nearest(" king", 10)
    assert result.token_ids == [4197] and not result.averaged
    first = result.neighbours[0]
    assert first.id == 4197 and first.cosine == pytest.approx(1.0, abs=1e-5)
    assert [n.cosine for n in result.neighbours] == sorted((n.cosine for n in result.neighbours), reverse=True)
    # by id, too
    assert starter_emb.nearest("#4197", 3).neighbours[0].id == 4197
    assert starter_emb.nearest(4197, 3).neighbours[0].id == 4197


def test_neighbours_are_meaningful(starter_emb):
    pieces = [n.piece for n in starter_emb.nearest(" king", 10).neighbours]
    assert "␣queen" in pieces and "␣kings" in pieces
    fruit = [n.piece for n in starter_emb.nearest(" banana", 10).neighbours]
    assert {"␣bananas", "␣mango", "␣pineapple"} <= set(fruit)

    def cos(a: str, b: str) -> float:
        va, vb = (starter_emb.vector(starter_emb.tokens_of(w)) for w in (a, b))
        return float(va @ vb)

    assert cos(" king", " queen") > cos(" king", " banana") + 0.3
    assert cos(" man", " woman") > cos(" man", " banana")


def test_a_multi_token_word_is_averaged(starter_emb):
    result = starter_emb.nearest("国王", 5)
    assert result.averaged and len(result.token_ids) > 1
    assert len(result.token_pieces) == len(result.token_ids)
    assert all(-1.0 <= n.cosine <= 1.0 + 1e-6 for n in result.neighbours)


def test_pca_map(starter_emb):
    words = ["国王", "王后", "男人", "女人", " king", " queen"]
    result = starter_emb.pca_map(words)
    assert result.points.shape == (6, 2)
    assert np.isfinite(result.points).all()
    assert all(0 < e <= 1 for e in result.explained)
    assert 0 < result.explained_total <= 1 + 1e-9
    assert result.explained[0] >= result.explained[1]
    # two words: one axis holds everything
    two = starter_emb.pca_map([" king", " banana"])
    assert two.explained[0] == pytest.approx(1.0) and two.explained[1] == pytest.approx(0.0, abs=1e-9)


def test_bad_words_say_why(starter_emb):
    with pytest.raises(EmbeddingError, match="Type a word"):
        starter_emb.nearest("   ")
    with pytest.raises(EmbeddingError, match="outside"):
        starter_emb.nearest("#999999")
    with pytest.raises(EmbeddingError, match="at least two"):
        starter_emb.pca_map([" king"])


def test_cancel_and_missing_file(tmp_path, starter_model):
    cancel = threading.Event()
    cancel.set()
    other = tmp_path / "other.gguf"
    other.write_bytes(starter_model.read_bytes())  # a different file: not in the cache
    with pytest.raises(EmbeddingError) as info:
        emb.load(other, cancel=cancel)
    assert info.value.kind == "cancelled"
    seen: list[float] = []
    loaded = emb.load(other, progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert loaded.shape == (49152, 576)
    with pytest.raises(EmbeddingError, match="does not exist"):
        emb.load(tmp_path / "missing.gguf")
    with pytest.raises(EmbeddingError):
        emb.estimate(tmp_path / "missing.gguf")
