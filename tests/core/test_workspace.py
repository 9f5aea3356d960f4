"""The workspace: one engine user at a time, model loads with their events, adapter swaps that always
restore; and the chat session holding the lease while it replies (real engine, starter model)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from studio.core.engine.client import ModelInfo
from studio.core.events import Emitter
from studio.core.workers.protocol import WorkerError
from studio.core.workspace import EngineBusy, Workspace, normalized_path


def _info(path: str, lora: list | None = None) -> ModelInfo:
    return ModelInfo(path=path, name=Path(path).stem, architecture="llama", n_ctx=512, n_ctx_train=512, n_layers=2,
                     n_gpu_layers=0, n_threads=1, template_source="gguf", template_note="", backend="CPU",
                     gpu_offload_supported=False, load_ms=1.0, lora=list(lora or []))


class _Engine(Emitter):
    """The slice of EngineClient the workspace uses; `refuse` makes set_lora/load fail like the worker."""

    def __init__(self) -> None:
        super().__init__()
        self.model_info: ModelInfo | None = None
        self.ready = False
        self.lora: list[dict] = []
        self.loads: list[tuple[str, int | None]] = []
        self.refuse: set[str] = set()

    async def load(self, path, *, n_ctx=None, settings=None, lora=None):
        await asyncio.sleep(0)
        if "load" in self.refuse:
            raise WorkerError("model_load", "not a model")
        self.loads.append((path, n_ctx))
        if self.model_info is None or normalized_path(self.model_info.path) != normalized_path(path):
            self.lora = []
        self.model_info, self.ready = _info(path, self.lora), True
        self.emit("loaded", info=self.model_info)
        return self.model_info

    async def set_lora(self, adapters):
        await asyncio.sleep(0)
        if "lora" in self.refuse:
            raise WorkerError("lora_mismatch", "this adapter does not fit")
        self.lora = [dict(a) for a in adapters]
        self.emit("lora", adapters=self.lora)

    async def perplexity(self, texts, on_progress=None):
        on_progress(0.5, "scoring")
        return {"ppl": 4.0 if self.lora else 9.0, "tokens": len(texts), "lora": self.lora}

    async def cancel_perplexity(self):
        pass

    async def generate(self, messages, sampling):
        return _Answer("tuned" if self.lora else "base", sampling)


class _Answer:
    """A generation that streams which side answered, one piece per token."""

    def __init__(self, side: str, sampling) -> None:
        self.pieces = [side, " ", f"T={sampling.temperature}"]
        self.cancelled = False

    async def __aiter__(self):
        for piece in self.pieces:
            await asyncio.sleep(0)
            if self.cancelled:
                return
            yield "token", piece

    async def cancel(self):
        self.cancelled = True


def _recorder(workspace: Workspace, *events: str) -> list:
    seen: list = []
    for name in events:
        workspace.subscribe(name, lambda name=name, **payload: seen.append((name, payload)))
    return seen


def test_one_lease_at_a_time_with_a_sentence_naming_the_holder():
    workspace = Workspace(_Engine())
    seen = _recorder(workspace, "lease_changed")

    async def scenario():
        async with workspace.lease("chat") as lease:
            assert workspace.holder == "chat"
            with pytest.raises(EngineBusy) as refused:
                async with workspace.lease("evaluation"):
                    pass
            assert refused.value.holder == "chat" and refused.value.kind == "engine_busy"
            assert "busy writing a chat reply" in str(refused.value)
            workspace.check_free(lease)           # the holder itself may go on
        assert workspace.holder == ""
        with pytest.raises(RuntimeError):
            async with workspace.lease("next_token"):
                raise RuntimeError("boom")
        assert workspace.holder == ""             # released on errors too

    asyncio.run(scenario())
    assert [p["holder"] for _, p in seen] == ["chat", "", "next_token", ""]


def test_loads_use_the_chat_context_and_report_refusals_and_failures(tmp_path):
    engine = _Engine()
    workspace = Workspace(engine)
    workspace.context_length = lambda: 1024
    seen = _recorder(workspace, "loading", "load_failed", "model_changed")
    model = tmp_path / "a.gguf"
    model.write_bytes(b"GGUF")
    alias = tmp_path / "alias.gguf"
    os.symlink(model, alias)

    async def scenario():
        assert (await workspace.load_model(str(model))).path == str(model)
        assert workspace.same_model(str(alias)) and workspace.has_model(str(alias))
        assert await workspace.use_model(str(alias)) is engine.model_info      # the same file: no load
        async with workspace.lease("chat"):
            assert await workspace.load_model(str(tmp_path / "b.gguf")) is None
        engine.refuse.add("load")
        assert await workspace.load_model(str(tmp_path / "c.gguf")) is None

    asyncio.run(scenario())
    assert engine.loads == [(str(model), 1024)]
    names = [name for name, _ in seen]
    assert names == ["loading", "model_changed", "loading", "load_failed", "loading", "load_failed", "loading"]
    assert isinstance(seen[3][1]["error"], EngineBusy) and seen[3][1]["error"].holder == "chat"
    assert isinstance(seen[5][1]["error"], WorkerError) and workspace.same_model(str(model))
    assert workspace.current_path() == str(model) and workspace.loading_path == ""


@pytest.mark.parametrize("ending", ["error", "cancel"])
def test_adapter_swap_restores_the_previous_adapters(tmp_path, ending):
    engine = _Engine()
    workspace = Workspace(engine)
    chat_adapter = [{"path": "chat.gguf", "scale": 0.5}]

    async def swapped_then_interrupted():
        await workspace.load_model(str(tmp_path / "m.gguf"))
        await engine.set_lora(chat_adapter)
        async with workspace.adapters_swapped([]) as swap:
            assert engine.lora == []
            await swap.set([{"path": "tuned.gguf", "scale": 1.0}])
            if ending == "error":
                raise ValueError("evaluation broke")
            await asyncio.sleep(3600)

    async def scenario():
        task = asyncio.ensure_future(swapped_then_interrupted())
        await asyncio.sleep(0.05)
        if ending == "cancel":
            task.cancel()
        with pytest.raises(ValueError if ending == "error" else asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert engine.lora == chat_adapter


def test_a_failed_restore_is_reported_not_raised(tmp_path):
    engine = _Engine()
    workspace = Workspace(engine)
    seen = _recorder(workspace, "restore_failed")

    async def scenario():
        await workspace.load_model(str(tmp_path / "m.gguf"))
        async with workspace.adapters_swapped([{"path": "tuned.gguf", "scale": 1.0}]):
            engine.refuse.add("lora")

    asyncio.run(scenario())
    assert [name for name, _ in seen] == ["restore_failed"] and "does not fit" in seen[0][1]["error"].message


@pytest.mark.slow
def test_the_chat_holds_the_lease_while_replying_and_waits_for_nobody(harness):
    session, _store, engine, loop = harness
    workspace = session.workspace
    holders: list[str] = []
    workspace.subscribe("lease_changed", lambda holder: holders.append(holder))

    async def evaluation_during_reply():
        reply = asyncio.ensure_future(session.send("Count to five."))
        while workspace.holder != "chat":
            await asyncio.sleep(0.01)
        with pytest.raises(EngineBusy):
            async with workspace.lease("evaluation"):
                pass
        return await reply

    assert loop.run_until_complete(evaluation_during_reply()).content
    assert holders == ["chat", ""]
    before = list(session.messages)

    async def send_during_evaluation():
        async with workspace.lease("evaluation"):
            with pytest.raises(EngineBusy, match="evaluating an adapter"):
                await session.send("Hello?")

    loop.run_until_complete(send_during_evaluation())
    assert session.messages == before          # nothing was stored for the refused message


def test_evaluation_holds_the_lease_swaps_per_side_and_gives_the_chat_its_adapter_back(tmp_path):
    from studio.core.evaluation import AdapterEvaluation

    engine = _Engine()
    workspace = Workspace(engine)
    evaluation = AdapterEvaluation(workspace)
    chat_adapter = [{"path": "chat.gguf", "scale": 0.5}]
    base_model = str(tmp_path / "base.gguf")
    progress: list = []
    holders: list = []

    async def scenario():
        await workspace.load_model(base_model)
        await engine.set_lora(chat_adapter)
        workspace.subscribe("lease_changed", lambda holder: holders.append(holder))
        ppl = await evaluation.perplexity(base_model, "tuned.gguf", ["a", "b"],
                                          on_progress=lambda side, f, stage: progress.append((side, f, stage)))
        assert engine.lora == chat_adapter
        answers = await evaluation.compare(base_model, "tuned.gguf", ["q1", "q2"], 8)
        assert engine.lora == chat_adapter
        async with workspace.lease("chat"):
            with pytest.raises(EngineBusy):
                await evaluation.perplexity(base_model, "tuned.gguf", ["a"])
        return ppl, answers

    ppl, answers = asyncio.run(scenario())
    assert ppl.base["ppl"] == 9.0 and ppl.tuned["ppl"] == 4.0 and ppl.tuned["lora"][0]["path"] == "tuned.gguf"
    assert progress == [("base", 0.25, "scoring"), ("tuned", 0.75, "scoring")]
    assert answers.answers == [["base T=0.0", "tuned T=0.0"]] * 2 and not answers.stopped
    assert holders == ["evaluation", "", "evaluation", "", "chat", ""]
    assert engine.loads == [(base_model, None)]      # the base model was there: no second load


def test_a_stopped_comparison_ends_early_and_restores(tmp_path):
    from studio.core.evaluation import AdapterEvaluation

    engine = _Engine()
    workspace = Workspace(engine)
    evaluation = AdapterEvaluation(workspace)

    async def scenario():
        await workspace.load_model(str(tmp_path / "base.gguf"))
        return await evaluation.compare(str(tmp_path / "base.gguf"), "tuned.gguf", ["q1", "q2"], 8,
                                        on_token=lambda row, column, text: asyncio.ensure_future(evaluation.stop()))

    outcome = asyncio.run(scenario())
    assert outcome.stopped and outcome.answers[1] == ["", ""] and engine.lora == []
    assert not evaluation.running and workspace.holder == ""
