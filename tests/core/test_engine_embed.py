"""The engine's embed op over the real starter model: normalized vectors of the model's size, the same
vector for a text whether it is embedded alone or in a batch, long texts refused with a sentence, a
cancel that stops a long decode at once; and how the server names the adapters it serves."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

from studio.core.engine.client import EngineClient, embedding_vectors
from studio.core.workers.protocol import WorkerError


@pytest.fixture(scope="module")
def engine(loop, starter_model):
    client = EngineClient()
    loop.run_until_complete(client.load(str(starter_model), n_ctx=1024))
    yield client
    loop.run_until_complete(client.close())


@pytest.mark.slow
def test_vectors_are_normalized_and_do_not_depend_on_the_batch(engine, loop):
    texts = ["Paris is the capital of France.", "Berlin is the capital of Germany.",
             "def add(a, b): return a + b", "word " * 600]
    together = loop.run_until_complete(engine.embed(texts))
    assert together["n_embd"] == engine.model_info.n_embd == 576 and together["pooling"] == "mean"
    assert together["tokens"][3] > 600 and together["prompt_tokens"] == sum(together["tokens"])
    vectors = np.array(embedding_vectors(together))
    assert vectors.shape == (4, 576) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for index, text in enumerate(texts):
        alone = np.array(embedding_vectors(loop.run_until_complete(engine.embed([text])))[0])
        assert float(alone @ vectors[index]) > 0.999, index
    capitals, code = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert capitals > code
    ids = loop.run_until_complete(engine.tokenize(texts[0]))["ids"]
    by_ids = np.array(embedding_vectors(loop.run_until_complete(engine.embed(tokens=[ids])))[0])
    assert float(by_ids @ vectors[0]) > 0.999


@pytest.mark.slow
def test_refusals_are_sentences_and_a_cancel_stops_a_long_decode(engine, loop):
    for texts, tokens, kind, words in [(["word " * 1100], None, "context_overflow", "more than the model's context"),
                                       (["fine", ""], None, "bad_request", "text 1 is empty"),
                                       ([], None, "bad_request", "nothing to embed"),
                                       (None, [[1, 2, 10**9]], "bad_request", "vocabulary")]:
        with pytest.raises(WorkerError) as refused:
            loop.run_until_complete(engine.embed(texts, tokens=tokens))
        assert refused.value.kind == kind and words in refused.value.message

    long_batch = ["many words " * 450] * 8

    async def whole() -> float:  # the decode left to run, measured on this machine at its current load
        started = time.monotonic()
        await engine.embed(long_batch)
        return time.monotonic() - started

    async def cancelled() -> float:
        task = asyncio.ensure_future(engine.embed(long_batch))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        started = time.monotonic()
        assert (await engine.embed(["quick"]))["tokens"] == [1]
        return time.monotonic() - started

    pid = engine.pid
    full = loop.run_until_complete(whole())
    # The decode in flight was aborted, not waited out: the next request does not wait for its rest.
    assert loop.run_until_complete(cancelled()) < max(2.0, 0.5 * full)
    assert engine.pid == pid                            # ... and the worker was not ended for it


def test_served_adapter_names(tmp_path, monkeypatch):
    from studio.core.server.adapters import served_adapters

    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    from studio.core.training.runs import runs_root

    model = tmp_path / "base.gguf"
    model.write_bytes(b"GGUF")
    for name, base in (("run-a", model), ("run-other", tmp_path / "other.gguf")):
        folder = runs_root() / name
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"base_model": str(base)}))
        (folder / "adapter.gguf").write_bytes(b"GGUF")
    given = [{"path": str(runs_root() / "run-a" / "adapter.gguf"), "scale": 0.5},   # the run's: listed once
             {"path": str(tmp_path / "z" / "base.gguf"), "scale": 1.0},             # named like the base
             {"path": str(tmp_path / "x" / "style.gguf"), "scale": 0.8}]
    attached = [{"path": str(tmp_path / "y" / "style.gguf"), "scale": 1.0}]
    found = served_adapters(str(model), "base", given, attached)
    assert [(a.id, a.scale, a.source) for a in found] == [("run-a", 1.0, "run"), ("base-2", 1.0, "server"),
                                                          ("style", 0.8, "server"), ("style-2", 1.0, "attached")]
    assert found[2].wanted() == [{"path": str(tmp_path / "x" / "style.gguf"), "scale": 0.8}]
    assert found[0].model_object("base")["parent"] == "base"
