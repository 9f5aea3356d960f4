"""Prompt-lookup drafting in the real engine worker with the real starter model."""

import asyncio
import json
from dataclasses import replace

import pytest
from llama_cpp import llama_grammar

from studio.core.engine import lookup
from studio.core.engine.client import EngineClient
from studio.core.engine.sampling import PRESETS
from studio.core.settings import EngineSettings

pytestmark = pytest.mark.slow
# One generation thread: lookup is exact for greedy replies only then (see lookup.usable), on any machine.
ON = EngineSettings(n_threads=1, prompt_lookup=True, flash_attn=True)  # lookup drafts only with flash attention
OFF = EngineSettings(n_threads=1, prompt_lookup=False, flash_attn=True)  # same attention, no drafts
GREEDY = replace(PRESETS["Precise"], max_tokens=160)

CODE = "\n".join(f"def scale_{i}(values):\n    total = 0\n    for v in values:\n        total += v * {i}\n"
                 f"    return total\n" for i in range(10))


def edit_request() -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Here is a Python file:\n```python\n{CODE}```\n"
                                        "Rename the variable `total` to `acc` and return the whole file."}]


def with_engines(starter_model, body, *settings: EngineSettings):
    async def go():
        engines = [EngineClient(s) for s in settings]
        try:
            for engine in engines:
                await engine.load(str(starter_model), n_ctx=2048)
            await body(*engines)
        finally:
            for engine in engines:
                await engine.close()
    asyncio.run(go())


def test_greedy_reply_is_identical_with_and_without_lookup(starter_model):
    async def body(on, off):
        text_on, stats_on = await on.complete(edit_request(), GREEDY)
        text_off, stats_off = await off.complete(edit_request(), GREEDY)
        assert text_on == text_off
        assert stats_on.tokens == stats_off.tokens
        # How much it drafts depends on the clock (a busy second core makes batches not pay), so whether
        # kept drafts change nothing is tested with drafting forced, below.
        assert stats_on.drafted > 0 and stats_on.drafted >= stats_on.accepted
        assert stats_off.drafted == 0 and stats_off.accepted == 0  # the setting off: no drafting
    with_engines(starter_model, body, ON, OFF)


def test_kept_drafts_leave_a_greedy_reply_unchanged(starter_model):
    import llama_cpp
    import llama_cpp.llama_cpp as llama_c

    class EveryMatch(lookup.LookupStats):
        def plan(self, ngram: int, available: int) -> int:
            return min(4, available)  # draft at every match, whatever the clock says

    llm = llama_cpp.Llama(str(starter_model), n_ctx=2048, n_threads=1, n_threads_batch=2, flash_attn=True,
                          verbose=False)
    chatml = f"<|im_start|>user\n{edit_request()[0]['content']}<|im_end|>\n<|im_start|>assistant\n"
    ids = llm.tokenize(chatml.encode(), special=True)
    greedy = dict(top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)

    def reply(tokens) -> list[int]:
        out = []
        for token in tokens:
            if llama_c.llama_vocab_is_eog(llm._model.vocab, token) or len(out) == 160:
                break
            out.append(token)
        return out

    stats = EveryMatch()
    try:
        drafted = reply(lookup.stream(llm, ids, True, stats, **greedy))
        llama_c.llama_memory_clear(llama_c.llama_get_memory(llm._ctx.ctx), True)  # a full read of the prompt again
        llm.reset()
        plain = reply(llm.generate(ids, **greedy))
    finally:
        llm.close()  # now, not in __del__ at interpreter exit, when llama.cpp's bindings are gone
    assert stats.accepted > 20 and not stats.inexact
    assert drafted == plain


def test_open_ended_reply_drafts_little(starter_model):
    async def body(on):
        story = [{"role": "user", "content": "Write a long story about a fox who learns to sail."}]
        _, stats = await on.complete(story, replace(GREEDY, max_tokens=240))
        # A story's repeated n-grams seldom continue as before: drafting holds back at most of them.
        assert stats.lookup_gave_up
        assert stats.drafted < stats.tokens // 4
    with_engines(starter_model, body, ON)


def test_draft_length_follows_what_is_kept_and_what_batches_cost():
    stats = lookup.LookupStats(plain_s=0.02, plain_n=2)
    assert 0 < stats.plan(4, 16) <= 2        # nothing learnt yet: short drafts
    copying = replace(stats, kept_chance={4: 0.95})
    assert copying.plan(4, 16) >= 4          # a copy in progress: longer drafts pay
    assert copying.plan(4, 3) == 3           # never more than the match offers
    assert replace(stats, kept_chance={4: 0.2}).plan(4, 16) == 0  # seldom kept: plain steps
    hiccup = replace(copying)
    hiccup.note(4, [1] * 4, [1] * 4, [1] * 5, seconds=0.01 * 20)  # one batch that a busy moment slowed
    assert not hiccup.stalled and hiccup.plan(4, 16) >= 4
    slow = replace(copying)
    for _ in range(6):  # batches that cost 1.5 steps a token (busy cores): nothing pays
        slow.note(4, [1] * 8, [1] * 8, [1] * 9, seconds=0.01 * 1.5 * 9)
    assert slow.stalled and slow.plan(4, 16) == 0


def test_grammar_reply_stays_valid_with_lookup(starter_model):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "city": {"type": "string"}},
              "required": ["name", "city"]}
    grammar = str(llama_grammar.json_schema_to_gbnf(json.dumps(schema)))
    record = json.dumps({"name": "Ada Lovelace", "city": "London"})
    messages = [{"role": "user", "content": f"Copy this JSON exactly: {record}"}]

    async def body(on, off):
        replies = []
        for engine in (on, off):
            generation = await engine.generate(messages, GREEDY, grammar=grammar)
            async for _ in generation:
                pass
            replies.append((generation.text, generation.stats))
        data = json.loads(replies[0][0])
        assert set(data) >= {"name", "city"}
        assert replies[0][0] == replies[1][0]
    with_engines(starter_model, body, ON, OFF)


def test_cancel_mid_reply_with_lookup(starter_model):
    async def body(on):
        generation = await on.generate(edit_request(), replace(GREEDY, max_tokens=400))
        async for _ in generation:
            if len(generation.text) > 60:
                await generation.cancel()
        assert generation.stats.stopped and generation.stats.finish_reason == "cancelled"
        assert generation.stats.tokens < 400
        text, _ = await on.complete(edit_request(), GREEDY)  # the engine carries on afterwards
        assert text
    with_engines(starter_model, body, ON)


def test_prompt_lookup_setting_is_validated():
    assert EngineSettings().prompt_lookup is True
    assert EngineSettings.from_dict({"prompt_lookup": False}).prompt_lookup is False
    assert EngineSettings.from_dict({"prompt_lookup": "no"}).prompt_lookup is True  # dropped, default kept


def test_ngram_index_drafts_what_followed_the_latest_match():
    index = lookup.NgramIndex([1, 2, 3, 4, 5, 9, 2, 3])
    assert index.draft(3) == [4, 5, 9]   # [2, 3] seen before, followed by 4 5 9
    index.append(7)
    assert index.draft(3) == []          # [3, 7] and [2, 3, 7] are new


@pytest.fixture(scope="module")
def k_quant_starter(starter_model, tmp_path_factory):
    """The starter requantized to Q4_K_M: on the CPU its verify batches take other kernels than its
    one-token steps, so their logits differ in the last bits."""
    import ctypes

    import llama_cpp
    out = tmp_path_factory.mktemp("kquant") / "starter.Q4_K_M.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.allow_requantize = True
    assert llama_cpp.llama_model_quantize(str(starter_model).encode(), str(out).encode(), ctypes.byref(params)) == 0
    return out


def test_greedy_reply_is_plain_where_batches_round_differently(k_quant_starter):
    async def body(on, off):
        text_on, stats_on = await on.complete(edit_request(), GREEDY)
        text_off, _ = await off.complete(edit_request(), GREEDY)
        assert text_on == text_off
        # Measured on the model, not assumed: no draft is verified, so no reply can differ.
        assert stats_on.drafted == 0 and stats_on.lookup_gave_up
    with_engines(k_quant_starter, body, ON, OFF)


def test_cli_drafts_with_flash_attention_and_reports_it(starter_model):
    import subprocess
    import sys

    def chat(*extra):
        result = subprocess.run([sys.executable, "-m", "studio", "chat", "--model", str(starter_model), "--prompt",
                                 edit_request()[0]["content"], "--temperature", "0", "--max-tokens", "120",
                                 "--threads", "1", "--json", *extra], capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    drafted, plain, no_flash = chat("--flash-attn"), chat("--flash-attn", "--no-prompt-lookup"), chat()
    assert drafted["reply"] == plain["reply"]
    assert drafted["drafted"] > 0 and plain["drafted"] == 0 and plain["accepted"] == 0
    assert no_flash["drafted"] == 0  # drafts are checked exactly only with flash attention


def test_benchmark_ceiling_drafts_exactly_the_runs_that_pay():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import grounded_tasks
    finally:
        sys.path.pop(0)
    costs = {2: 1.1, 4: 1.8, 8: 3.2, 16: 6.2}
    assert grounded_tasks.batch_steps(costs, 1) == 1.0
    assert grounded_tasks.batch_steps(costs, 3) == pytest.approx(1.45)
    assert grounded_tasks.batch_steps(costs, 17) == pytest.approx(6.575)
    prompt = list(range(100, 130))
    # A reply that copies 20 prompt tokens after a 2-token cue: 21 tokens in one batch of 21.
    copied = [7, 100, 101, *range(102, 122)]
    assert grounded_tasks.ceiling(prompt, copied, costs) > 2.0
    # Nothing repeats: every step plain, so exactly 1.
    assert grounded_tasks.ceiling(prompt, list(range(1, 40)), costs) == 1.0
    # Batches dearer than the tokens they yield are never worth it: plain steps again.
    assert grounded_tasks.ceiling(prompt, copied, {2: 3.0, 4: 6.0, 8: 12.0, 16: 24.0}) == 1.0
