"""The llama.cpp engine worker with the real starter model (no Qt)."""

import asyncio
import time
from dataclasses import replace

import pytest

from studio.core.chat.conversation import DEFAULT_SYSTEM_PROMPT
from studio.core.engine.sampling import PRESETS, SamplingParams
from studio.core.engine.client import EngineClient, EngineState
from studio.core.workers.protocol import WorkerError

pytestmark = pytest.mark.slow
PRECISE = PRESETS["Precise"]


def with_engine(body):
    """Run `await body(engine)` with a fresh engine client, closing its worker afterwards."""
    async def go():
        engine = EngineClient()
        try:
            await body(engine)
        finally:
            await engine.close()
    asyncio.run(go())


def ask(text):
    return [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": text}]


def test_load_reports_model_backend_and_template(starter_model):
    async def body(engine):
        progress = []
        engine.subscribe("load_progress", lambda fraction, stage: progress.append(fraction))
        info = await engine.load(str(starter_model), n_ctx=2048)
        assert info.architecture == "llama"
        assert info.n_ctx == 2048 and info.n_ctx_train >= 2048
        assert info.n_layers == 30
        assert info.template_source == "gguf"
        assert info.backend == "CPU"
        assert engine.state == EngineState.READY
        assert progress[0] == 0.0 and progress[-1] == 1.0 and len(progress) >= 3
    with_engine(body)


def test_capital_of_france_at_temperature_zero(starter_model):
    async def body(engine):
        await engine.load(str(starter_model), n_ctx=2048)
        text, stats = await engine.complete(ask("What is the capital of France? Answer in English."), PRECISE)
        assert "Paris" in text
        assert stats.tokens > 0 and stats.prompt_tokens > 0
        assert stats.tokens_per_s > 0 and stats.ttft_ms > 0
        assert stats.finish_reason == "stop"
        again, _ = await engine.complete(ask("What is the capital of France? Answer in English."), PRECISE)
        assert again == text  # temperature 0 + fixed seed is deterministic
    with_engine(body)


def test_stop_halts_generation_within_100ms(starter_model):
    async def body(engine):
        await engine.load(str(starter_model), n_ctx=2048)
        sampling = SamplingParams(temperature=0.8, max_tokens=2000, seed=1)
        generation = await engine.generate(ask("Write a very long story about a dragon."), sampling)
        tokens_after_cancel = 0
        cancelled_at = None
        async for kind, _value in generation:
            if kind != "token":
                continue
            if cancelled_at is None and len(generation.text) > 40:
                cancelled_at = time.perf_counter()
                await generation.cancel()
            elif cancelled_at is not None:
                tokens_after_cancel += 1
        elapsed = time.perf_counter() - cancelled_at
        assert elapsed < 0.1, f"stop took {elapsed * 1000:.0f} ms"
        assert tokens_after_cancel <= 2
        assert generation.stats.stopped and generation.stats.finish_reason == "cancelled"
        assert len(generation.text) > 40
    with_engine(body)


def test_killed_worker_is_reported_and_next_request_reloads(starter_model):
    async def body(engine):
        crashes = []
        engine.subscribe("crashed", lambda message, log_tail: crashes.append(message))
        await engine.load(str(starter_model), n_ctx=2048)
        generation = await engine.generate(ask("Count from one to one hundred."),
                                           SamplingParams(max_tokens=500, seed=3))
        with pytest.raises(WorkerError) as info:
            async for kind, _ in generation:
                if kind == "token" and len(generation.text) > 10:
                    engine.worker.kill()
        assert info.value.kind == "worker_crashed"
        assert "SIGKILL" in info.value.message
        assert crashes and engine.state == EngineState.ERROR
        text, _ = await engine.complete(ask("What is the capital of France? Answer in English."), PRECISE)
        assert "Paris" in text
        assert engine.state == EngineState.READY
    with_engine(body)


def test_context_overflow_drops_oldest_turns_and_says_so(starter_model):
    async def body(engine):
        await engine.load(str(starter_model), n_ctx=256)
        history = [{"role": "system", "content": "You are terse."}]
        for i in range(12):
            history += [{"role": "user", "content": f"Tell me fact number {i} about the sea, in detail."},
                        {"role": "assistant", "content": f"Fact {i}: the sea is large and salty and deep."}]
        history.append({"role": "user", "content": "Thanks!"})
        generation = await engine.generate(history, SamplingParams(max_tokens=32, seed=0, n_ctx=256))
        trimmed = None
        async for kind, value in generation:
            if kind == "trimmed":
                trimmed = value
        assert trimmed and trimmed[0] == 1  # the first user turn, never the system prompt (0)
        assert 0 not in trimmed and len(history) - 1 not in trimmed
        assert generation.stats.prompt_tokens + 32 <= 256
        assert generation.stats.dropped == len(trimmed)
    with_engine(body)


def test_tokenize_matches_llama_cpp(starter_model):
    import llama_cpp

    text = "Hello 世界! 🙂 tokens"
    llm = llama_cpp.Llama(str(starter_model), vocab_only=True, verbose=False)
    expected = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    async def body(engine):
        await engine.load(str(starter_model), n_ctx=512)
        result = await engine.tokenize(text)
        assert result["ids"] == expected
        assert b"".join(bytes.fromhex(h) for h in result["pieces_hex"]).decode("utf-8").endswith(text)
    with_engine(body)


def test_bad_file_keeps_previous_model_usable(starter_model, tmp_path):
    bogus = tmp_path / "notes.gguf"
    bogus.write_text("just some notes, not a model\n")

    async def body(engine):
        await engine.load(str(starter_model), n_ctx=1024)
        with pytest.raises(WorkerError) as info:
            await engine.load(str(bogus))
        assert info.value.kind == "not_gguf"
        assert "not a GGUF file" in info.value.message
        text, _ = await engine.complete(ask("What is the capital of France? Answer in English."), PRECISE)
        assert "Paris" in text
    with_engine(body)


def test_cancelled_model_switch_keeps_chatting(starter_model):
    """Cancel a reload halfway: the old model may already be gone in the worker, yet the next
    request must work (it reloads), never 'no model is loaded'."""
    async def body(engine):
        await engine.load(str(starter_model), n_ctx=1024)
        def cancel_once(fraction, stage):
            if stage == "loading weights":
                unsubscribe()
                asyncio.ensure_future(engine.cancel_load())

        unsubscribe = engine.subscribe("load_progress", cancel_once)
        with pytest.raises(WorkerError) as info:
            await engine.load(str(starter_model), n_ctx=2048)
        assert info.value.kind == "cancelled"
        text, _ = await engine.complete(ask("What is the capital of France? Answer in English."), replace(PRECISE, n_ctx=1024))
        assert "Paris" in text
    with_engine(body)


def test_cancel_while_the_worker_is_still_starting_cancels_the_load(starter_model):
    """The first load starts the worker (importing llama.cpp takes a while): a Cancel pressed then
    must not be lost, or the model would load anyway."""
    async def body(engine):
        loading = asyncio.ensure_future(engine.load(str(starter_model), n_ctx=1024))
        while engine.state != EngineState.LOADING:
            await asyncio.sleep(0)
        assert engine.worker.pid is None or engine._load_call is None  # the call is not there yet
        await engine.cancel_load()
        with pytest.raises(WorkerError) as info:
            await loading
        assert info.value.kind == "cancelled"
        assert not engine.ready and engine.state == EngineState.NO_MODEL
        await engine.load(str(starter_model), n_ctx=1024)  # a later load is not cancelled
        assert engine.ready
    with_engine(body)


def test_context_length_rounded_up_by_llama_cpp_does_not_reload_each_time(starter_model):
    async def body(engine):
        loads = []
        engine.subscribe("loaded", lambda info: loads.append(info.n_ctx))
        sampling = SamplingParams(max_tokens=4, seed=0, n_ctx=3000)
        await engine.load(str(starter_model), n_ctx=3000)
        await engine.complete(ask("Hi"), sampling)
        await engine.complete(ask("Hello"), sampling)
        assert len(loads) == 1 and loads[0] >= 3000  # llama.cpp may round 3000 up to 3072
        assert not engine.needs_load(3000) and engine.needs_load(2048)
    with_engine(body)


def test_tokens_longer_than_32_bytes_survive(starter_model):
    """llama-cpp-python's detokenize drops pieces over 32 bytes (e.g. a 64-dash rule)."""
    text = "-" * 64 + "\n" + " " * 40 + "indented"
    async def body(engine):
        await engine.load(str(starter_model), n_ctx=512)
        result = await engine.tokenize(text, add_special=False)
        pieces = b"".join(bytes.fromhex(h) for h in result["pieces_hex"])
        assert pieces.decode("utf-8") == text
    with_engine(body)


def test_a_reply_cut_inside_a_character_drops_the_partial_bytes():
    """max_tokens can stop between the bytes of one CJK glyph; the reply must not end in U+FFFD."""
    import codecs

    from studio.core.engine.llama import flush_decoder

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode("咕咕".encode("utf-8") + "！".encode("utf-8")[:2])
    assert text == "咕咕"
    assert flush_decoder(decoder) == ""
    complete = codecs.getincrementaldecoder("utf-8")(errors="replace")
    assert complete.decode("猫头鹰".encode("utf-8")) + flush_decoder(complete) == "猫头鹰"
