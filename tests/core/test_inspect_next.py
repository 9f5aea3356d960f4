"""Next-token distributions: the reshaping maths on synthetic logits, then step-by-step generation
on the real llama.cpp engine with the starter model."""

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from studio.core.chat.conversation import DEFAULT_SYSTEM_PROMPT
from studio.core.engine.sampling import PRESETS
from studio.core.engine.client import EngineClient
from studio.core.inspect.next_token import Distribution, StepSession, compare
from studio.core.settings import EngineSettings


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def entropy(p):
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


@pytest.fixture()
def dist():
    rng = np.random.default_rng(7)
    return Distribution(rng.normal(size=5000).astype(np.float32) * 2.5,
                        {i: f"t{i}".encode() for i in range(5000)})


# -- the maths ---------------------------------------------------------------------------------
def test_temperature_one_is_softmax_and_sums_to_one(dist):
    p = dist.probs()
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(p, softmax(dist.logits.astype(np.float64)), atol=1e-12)
    for setting in [dict(temperature=0.3), dict(temperature=1.7, top_p=0.8), dict(top_k=7), dict(min_p=0.1),
                    dict(temperature=0.0)]:
        assert dist.probs(**setting).sum() == pytest.approx(1.0, abs=1e-9)


def test_temperature_sharpens_and_flattens(dist):
    top = dist.top_id
    cold, base, hot = dist.probs(0.5), dist.probs(1.0), dist.probs(1.8)
    assert cold[top] > base[top] > hot[top]
    assert dist.entropy_bits(0.5) < dist.entropy_bits(1.0) < dist.entropy_bits(1.8)
    assert dist.entropy_bits(1.0) == pytest.approx(entropy(base))
    np.testing.assert_allclose(cold, softmax(dist.logits.astype(np.float64) / 0.5), atol=1e-12)


def test_temperature_zero_is_greedy_one_hot(dist):
    p = dist.probs(temperature=0.0, top_p=0.5, top_k=3)
    assert p[int(np.argmax(dist.logits))] == 1.0 and np.count_nonzero(p) == 1
    assert dist.entropy_bits(0.0) == 0.0
    assert all(dist.sample(np.random.default_rng(s), temperature=0.0) == dist.top_id for s in range(5))


def test_top_p_keeps_smallest_prefix_and_renormalises(dist):
    base = dist.probs()
    order = np.argsort(-base, kind="stable")
    cumulative = np.cumsum(base[order])
    for p in (0.05, 0.3, 0.9, 0.999):
        kept = int(np.searchsorted(cumulative, p)) + 1   # smallest prefix with mass >= p
        assert cumulative[kept - 1] >= p and (kept == 1 or cumulative[kept - 2] < p)
        got = dist.probs(top_p=p)
        assert set(np.flatnonzero(got)) == set(order[:kept])
        np.testing.assert_allclose(got[order[:kept]], base[order[:kept]] / base[order[:kept]].sum(), atol=1e-12)
    # truncation comes before temperature (the engine's sampler order): same kept set at any temperature
    assert set(np.flatnonzero(dist.probs(0.4, top_p=0.9))) == set(np.flatnonzero(dist.probs(1.0, top_p=0.9)))


def test_top_k_and_min_p(dist):
    base = dist.probs()
    order = np.argsort(-base, kind="stable")
    got = dist.probs(top_k=5)
    assert set(np.flatnonzero(got)) == set(order[:5])
    np.testing.assert_allclose(got[order[:5]], base[order[:5]] / base[order[:5]].sum(), atol=1e-12)
    got = dist.probs(min_p=0.2)
    assert set(np.flatnonzero(got)) == set(np.flatnonzero(base >= 0.2 * base.max()))
    assert np.count_nonzero(dist.probs(top_k=50, top_p=0.5)) <= 50


def test_candidates_order_is_stable_and_flags_kept(dist):
    plain = dist.candidates(20)
    assert [c.rank for c in plain] == list(range(20))
    assert [c.logit for c in plain] == sorted((c.logit for c in plain), reverse=True)
    for setting in [dict(temperature=0.2), dict(temperature=2.0, top_k=4), dict(top_p=0.1)]:
        shaped = dist.candidates(20, **setting)
        assert [c.id for c in shaped] == [c.id for c in plain]
        assert [c.base_prob for c in shaped] == [c.base_prob for c in plain]
        kept = [c.kept for c in shaped]
        assert kept == sorted(kept, reverse=True)  # a prefix
        assert all((c.prob > 0) == c.kept for c in shaped)
    four = dist.candidates(10, top_k=4)
    assert sum(c.kept for c in four) == 4 and four[0].piece == f"t{four[0].id}"
    assert sum(c.prob for c in four) == pytest.approx(1.0)
    # equal logits: lower id first, every time
    ties = Distribution(np.array([0.0, 1.0, 1.0, 1.0, -1.0], dtype=np.float32))
    assert [c.id for c in ties.candidates(5)] == [1, 2, 3, 0, 4]


def test_sample_is_seeded_and_follows_the_shaped_distribution():
    logits = np.log(np.array([0.5, 0.25, 0.15, 0.07, 0.03]))
    d = Distribution(np.concatenate([logits, np.full(95, -30.0)]).astype(np.float32))
    draws = [d.sample(np.random.default_rng(42)) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same token
    rng = np.random.default_rng(0)
    seq_a = [d.sample(rng, top_k=3) for _ in range(4000)]
    rng = np.random.default_rng(0)
    assert seq_a == [d.sample(rng, top_k=3) for _ in range(4000)]
    assert set(seq_a) <= {0, 1, 2}
    counts = np.bincount(seq_a, minlength=3)[:3] / len(seq_a)
    np.testing.assert_allclose(counts, np.array([0.5, 0.25, 0.15]) / 0.9, atol=0.03)
    hot = [d.sample(rng, temperature=2.0, top_p=0.8) for _ in range(4000)]
    expected = d.probs(2.0, top_p=0.8)
    assert set(hot) == set(np.flatnonzero(expected))
    np.testing.assert_allclose(np.bincount(hot, minlength=100) / len(hot), expected, atol=0.03)


def test_from_engine_reads_logits_and_pieces():
    import base64
    logits = np.array([0.5, 2.0, -1.0, 2.0], dtype="<f4")
    result = {"logits_b64": base64.b64encode(logits.tobytes()).decode(), "n_prompt_tokens": 3, "prompt_ids": [1, 2, 3],
              "tokens": [{"id": 1, "piece": "a", "piece_hex": "61", "logprob": -0.7}],
              "requested": [{"id": 2, "piece": "\ufffd", "piece_hex": "e4"}]}
    d = Distribution.from_engine(result)
    assert d.logits.dtype == np.float32 and d.logits.tolist() == logits.tolist()
    assert d.pieces == {1: b"a", 2: b"\xe4"} and d.n_prompt_tokens == 3 and d.prompt_ids == [1, 2, 3]
    assert d.top_id == 1 and d.candidates(2)[1].id == 3 and d.candidates(2)[1].piece_bytes == b""
    # no full logits (the torch op): the listed tokens only
    sparse = Distribution.from_engine({"tokens": [{"id": 5, "piece": "x", "logprob": -0.1},
                                                  {"id": 2, "piece": "y", "logprob": -2.5}], "n_vocab": 10})
    assert sparse.n_vocab == 10 and sparse.top_id == 5 and np.count_nonzero(sparse.probs()) == 2



def test_compare_pairs_the_union_of_both_tops():
    base_logits = np.array([3.0, 2.0, 1.0, 0.0, -1.0, -5.0], dtype=np.float32)
    adapted_logits = np.array([1.0, 3.0, 0.5, 0.0, -1.0, 4.0], dtype=np.float32)   # 5 jumps from last to first
    base = Distribution(base_logits, {0: b"a", 1: b"b", 2: b"c", 5: b"f"})
    adapted = Distribution(adapted_logits, {1: b"b", 5: b"f", 0: b"a"})
    rows = compare(adapted, base, 2)
    assert [r.id for r in rows] == [5, 1, 0]                        # union of {5, 1} and {0, 1}
    p_base, p_adapted = softmax(base_logits.astype(np.float64)), softmax(adapted_logits.astype(np.float64))
    for r in rows:
        assert r.base_prob == pytest.approx(p_base[r.id], abs=1e-12)
        assert r.adapted_prob == pytest.approx(p_adapted[r.id], abs=1e-12)
        assert r.delta == pytest.approx(r.adapted_prob - r.base_prob, abs=1e-15)
    top = rows[0]
    assert top.piece == "f" and top.rank == 0 and top.base_rank == 5 and top.delta > 0.5   # base ranks it last
    assert [r.adapted_prob for r in rows] == sorted((r.adapted_prob for r in rows), reverse=True)
    # The same reshaping on both sides.
    shaped = compare(adapted, base, 2, temperature=0.5, top_k=2)
    assert {r.id: r.base_prob for r in shaped} == pytest.approx(
        {i: base.probs(temperature=0.5, top_k=2)[i] for i in (5, 1, 0)})
    assert {r.id: r.adapted_prob for r in shaped} == pytest.approx(
        {i: adapted.probs(temperature=0.5, top_k=2)[i] for i in (5, 1, 0)})
    assert [r.kept for r in shaped] == [True, True, False]
    assert compare(adapted, adapted, 3)[0].delta == 0.0
    with pytest.raises(ValueError, match="vocabularies"):
        compare(adapted, Distribution(np.zeros(4, dtype=np.float32)))


class _Scripted:
    """An engine answering next_logits from logits that depend on the ids and on base=True."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    async def next_logits(self, text=None, *, messages=None, tokens=None, top_k=10, ids=None, full=False,
                          base=False):
        import base64
        self.calls.append({"tokens": tokens, "base": base, "full": full})
        prompt = list(tokens) if tokens is not None else [7, 8]
        logits = np.zeros(16, dtype="<f4")
        logits[(len(prompt) + (3 if base else 0)) % 16] = 5.0
        return {"logits_b64": base64.b64encode(logits.tobytes()).decode(), "prompt_ids": prompt,
                "tokens": [{"id": i, "piece_hex": f"{65 + i:02x}", "logprob": 0.0} for i in range(16)]}


def test_step_session_fetches_the_base_alongside_and_keeps_it_for_undo():
    async def go():
        engine = _Scripted()
        session = StepSession(engine, "hi", compare=True)
        first = await session.start()
        assert session.base is not None and session.base.top_id == (2 + 3) and first.top_id == 2
        assert engine.calls[-1] == {"tokens": [7, 8], "base": True, "full": True}
        first_base = session.base
        await session.choose(4)
        assert engine.calls[-1] == {"tokens": [7, 8, 4], "base": True, "full": True}
        assert session.base.top_id == 6 and session.ids == [7, 8, 4]
        n = len(engine.calls)
        assert await session.undo() is first and session.base is first_base and len(engine.calls) == n
        # Off: no base requests; turned on later, fetch_base asks once for the step in hand.
        session.compare = False
        await session.choose(4)
        assert session.base is None and len(engine.calls) == n + 1
        assert (await session.fetch_base()).top_id == 6 and engine.calls[-1]["tokens"] == [7, 8, 4]
        assert await session.fetch_base() is session.base and len(engine.calls) == n + 2
        await session.undo()
        assert session.base is first_base          # kept from when it was fetched

    asyncio.run(go())

# -- on the real engine ----------------------------------------------------------------------
def with_engine(model, body):
    async def go():
        engine = EngineClient(EngineSettings(n_threads=1))
        try:
            await engine.load(str(model), n_ctx=512)
            return await body(engine)
        finally:
            await engine.close()
    return asyncio.run(go())


def test_engine_full_logits_match_its_own_logprobs(starter_model):
    async def body(engine):
        return await engine.next_logits("The capital of France is", top_k=5, full=True)

    result = with_engine(starter_model, body)
    d = Distribution.from_engine(result)
    assert d.n_vocab == result["n_vocab"] == 49152
    assert d.prompt_ids == result["prompt_ids"] and len(d.prompt_ids) == result["n_prompt_tokens"]
    p = d.probs()
    for token in result["tokens"]:
        assert p[token["id"]] == pytest.approx(np.exp(token["logprob"]), abs=1e-4)
        assert bytes.fromhex(token["piece_hex"]).decode("utf-8", "replace") == token["piece"]
    assert [c.id for c in d.candidates(5)] == [t["id"] for t in result["tokens"]]
    assert d.candidates(1)[0].piece == " Paris"


def test_step_session_follows_greedy_generation_and_undoes(starter_model):
    question = "What is the capital of France?"
    messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": question}]
    steps = 6

    async def body(engine):
        text, _ = await engine.complete(messages, replace(PRESETS["Precise"], max_tokens=steps, n_ctx=512))
        session = StepSession(engine, question, chat=True, system=DEFAULT_SYSTEM_PROMPT, top_n=20)
        first = await session.start()
        im_start = (await engine.tokenize("<|im_start|>", add_special=False))["ids"]
        distributions = [first]
        for _ in range(steps):
            distributions.append(await session.choose(session.distribution.top_id))
        greedy_text = session.generated_text
        chosen = session.chosen
        restored = await session.undo()
        after_undo = (session.generated_text, len(session.chosen))
        again = await session.choose(chosen[-1][0])
        while await session.undo() is not None:
            pass
        return (text, first, im_start, distributions, greedy_text, chosen, restored, after_undo, again,
                session.distribution, session.prompt_ids)

    (text, first, im_start, distributions, greedy_text, chosen, restored, after_undo, again, back_at_start,
     prompt_ids) = with_engine(starter_model, body)
    print("greedy:", repr(text), "| stepped:", repr(greedy_text))
    assert len(im_start) == 1 and im_start[0] in prompt_ids  # the chat template was used
    assert first.candidates(1)[0].piece and text.startswith(first.candidates(1)[0].piece)
    assert greedy_text == text
    assert [c[0] for c in chosen] == [d.top_id for d in distributions[:-1]]
    assert all(0 < c[2] <= 1 and c[2] == pytest.approx(d.probs()[c[0]]) for c, d in zip(chosen, distributions))
    # undo gives back the distribution the last token was chosen from, exactly
    assert restored is distributions[-2]
    assert np.array_equal(restored.probs(0.7, top_p=0.9), distributions[-2].probs(0.7, top_p=0.9))
    assert after_undo == (greedy_text[:len(greedy_text) - len(chosen[-1][1].decode())], steps - 1)
    # choosing the same token again gives the same distribution (the engine is deterministic)
    np.testing.assert_allclose(again.logits, distributions[-1].logits, atol=1e-4)
    assert back_at_start is first


def test_step_session_holds_back_split_characters(starter_model):
    reply = "你好，世界！我是助手。"

    async def body(engine):
        ids = (await engine.tokenize(reply, add_special=False, parse_special=False))["ids"]
        session = StepSession(engine, "Chinese:", top_n=5)
        await session.start()
        texts, pending = [], []
        for token in ids:  # mostly outside the top 5: their pieces come from the engine on the way
            await session.choose(token)
            texts.append(session.generated_text)
            pending.append(session.pending_bytes)
        return ids, texts, pending, session.chosen

    ids, texts, pending, chosen = with_engine(starter_model, body)
    assert len(ids) > len(reply) / 2
    assert all("\ufffd" not in t for t in texts)
    assert all(reply.startswith(t) for t in texts)
    assert texts[-1] == reply and pending[-1] == b""
    assert any(pending), "the starter splits some CJK characters across tokens"
    assert b"".join(c[1] for c in chosen).decode("utf-8") == reply


def test_plain_text_session_uses_no_template(starter_model):
    async def body(engine):
        session = StepSession(engine, "The capital of France is")
        d = await session.start()
        plain = await engine.next_logits("The capital of France is", top_k=1)
        im_start = (await engine.tokenize("<|im_start|>", add_special=False))["ids"][0]
        return d, session.prompt_ids, plain, im_start

    d, prompt_ids, plain, im_start = with_engine(starter_model, body)
    assert prompt_ids == plain["prompt_ids"] and im_start not in prompt_ids
    assert d.top_id == plain["tokens"][0]["id"]
