"""Context fitting: oldest turns go first, the system prompt and the newest message stay."""

import pytest

from studio.core.engine.context import ContextOverflow, fit_messages


def words(messages):
    return sum(len(m["content"].split()) + 1 for m in messages)


def conversation(turns):
    msgs = [{"role": "system", "content": "be brief"}]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"question {i} " + "word " * 10})
        msgs.append({"role": "assistant", "content": f"answer {i} " + "word " * 10})
    msgs.append({"role": "user", "content": "last question"})
    return msgs


def test_everything_fits_nothing_dropped():
    msgs = conversation(2)
    fit = fit_messages(msgs, n_ctx=1000, reserve=100, count_tokens=words)
    assert fit.dropped == [] and fit.messages == msgs


def test_oldest_exchanges_dropped_first_system_and_last_kept():
    msgs = conversation(5)
    fit = fit_messages(msgs, n_ctx=60, reserve=10, count_tokens=words)
    assert fit.messages[0]["role"] == "system"
    assert fit.messages[-1]["content"] == "last question"
    assert fit.dropped == sorted(fit.dropped) and fit.dropped[:2] == [1, 2]  # question 0 with its answer
    assert fit.prompt_tokens <= 50
    kept_questions = [m["content"].split()[1] for m in fit.messages if m["role"] == "user"][:-1]
    assert kept_questions == sorted(kept_questions) and "0" not in kept_questions


def test_overflow_when_even_the_last_message_does_not_fit():
    msgs = [{"role": "user", "content": "word " * 500}]
    with pytest.raises(ContextOverflow, match="needs"):
        fit_messages(msgs, n_ctx=100, reserve=10, count_tokens=words)


def test_long_history_needs_only_a_few_renders():
    msgs = conversation(400)  # 802 messages
    calls = []

    def counting(kept):
        calls.append(len(kept))
        return words(kept)

    fit = fit_messages(msgs, n_ctx=300, reserve=20, count_tokens=counting)
    assert fit.prompt_tokens <= 280
    assert len(calls) <= 12  # binary search, not one render per dropped exchange
    # the fewest exchanges were dropped: one more would have fitted too, one fewer would not
    kept_pairs = sum(1 for m in fit.messages if m["role"] == "assistant")
    assert words(fit.messages) + 26 > 280 or kept_pairs == 400  # an exchange is 26 "tokens"
