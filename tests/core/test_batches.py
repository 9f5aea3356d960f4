"""Packing and masking on known token ids: a character tokenizer (one token per character, id =
code point) and a tiny chat renderer, so every expected target can be read off the text."""

from __future__ import annotations

from studio.core.datasets import Example, Rendered
from studio.core.training.batches import IGNORE, collate, pack_samples, tokenize_examples

EOS = 1


class CharTokenizer:
    eos_token_id = EOS

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
        return {"input_ids": [ord(c) for c in text], "offset_mapping": [(i, i + 1) for i in range(len(text))]}


class TagRenderer:
    """`<u>question|<a>answer|`: the answer and its `|` end marker are the trained span."""

    def render(self, example):
        if example.messages is None:
            return Rendered(example.text, ((0, len(example.text)),))
        text, spans = "", []
        for message in example.messages:
            tag = "<a>" if message["role"] == "assistant" else "<u>"
            start = len(text) + len(tag)
            text += f"{tag}{message['content']}|"
            if message["role"] == "assistant":
                spans.append((start, len(text)))
        return Rendered(text, tuple(spans))


def chat(question, answer):
    return Example(({"role": "user", "content": question}, {"role": "assistant", "content": answer}), None, "x", 1)


def plain(text):
    return Example(None, text, "x", 1)


def pack(examples, max_seq_len, response_only=True):
    samples, truncated, dropped = tokenize_examples(examples, TagRenderer(), CharTokenizer(), max_seq_len=max_seq_len,
                                                    response_only=response_only)
    assert (truncated, dropped) == (0, 0)
    return samples, pack_samples(samples, max_seq_len, seed=3)


def pieces_of(row):
    bounds = list(row.starts) + [len(row.ids)]
    return [row.ids[a:b] for a, b in zip(bounds, bounds[1:])]


def own_targets(ids, trained):
    """What a piece alone should teach: position t predicts token t+1 where t+1 is trained, and
    its last position predicts nothing (the next piece belongs to another example)."""
    return [ids[t + 1] if trained[t + 1] else IGNORE for t in range(len(ids) - 1)] + [IGNORE]


def test_plain_text_pieces_never_predict_the_next_pieces_first_token():
    texts = ["ab", "cde", "fghi"]  # every token trained, the first one included
    _, rows = pack([plain(t) for t in texts], max_seq_len=64)
    [row] = rows
    pieces = pieces_of(row)
    assert sorted(pieces) == sorted([ord(c) for c in t] + [EOS] for t in texts)
    batch = collate(rows, pad_id=0, packed=True)
    targets = batch["targets"][0].tolist()
    expected = [x for ids in pieces for x in own_targets(ids, [True] * len(ids))]
    for start in row.starts[1:]:
        assert targets[start - 1] == IGNORE, f"the piece before {start} learns {chr(targets[start - 1])!r}"
    assert targets == expected
    assert int(batch["n_targets"]) == sum(len(t) for t in texts)  # each text's tokens after the first, plus EOS
    positions = batch["position_ids"][0].tolist()
    assert [positions[s] for s in row.starts] == [0, 0, 0]  # each piece restarts its positions


def test_response_only_masking_holds_in_every_piece_of_every_row():
    pairs = [("sky?", "Blue."), ("2+2?", "Four."), ("Fruit?", "A pear."), ("Hi", "Hello!"), ("Ice?", "Cold water.")]
    examples = [chat(q, a) for q, a in pairs] + [plain("just text")]
    samples, rows = pack(examples, max_seq_len=40)
    assert len(rows) >= 2 and all(len(r.ids) <= 40 for r in rows)
    renderer = TagRenderer()
    expected_by_ids = {}
    for example in examples:
        rendered = renderer.render(example)
        ids = [ord(c) for c in rendered.text] + ([EOS] if example.messages is None else [])
        trained = [any(a <= i < b for a, b in rendered.train_spans) for i in range(len(rendered.text))]
        expected_by_ids[tuple(ids)] = own_targets(ids, trained + [True] * (len(ids) - len(trained)))
    batch = collate(rows, pad_id=0, packed=True)
    seen = []
    for r, row in enumerate(rows):
        targets = batch["targets"][r].tolist()
        bounds = list(row.starts) + [len(row.ids)]
        for a, b in zip(bounds, bounds[1:]):
            ids = tuple(row.ids[a:b])
            seen.append(ids)
            assert targets[a:b] == expected_by_ids[ids], "".join(map(chr, ids))
        assert set(targets[len(row.ids):]) <= {IGNORE}  # padding teaches nothing
        # what is learnt, as text: only the replies and their end markers
        learnt = "".join(chr(t) for t in targets if t not in (IGNORE, EOS))
        assert "?" not in learnt and "<u>" not in learnt and "<a>" not in learnt
    assert sorted(seen) == sorted(expected_by_ids)  # every example exactly once
