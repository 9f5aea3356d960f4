"""Aligning a tokenizer's tokens with the text they came from: `Span` (a run of tokens that spells
whole characters) and `_layout()`, which turns a text's bytes and its tokens' pieces into spans
that always spell the text, even when a token holds part of a character, a special token
swallowed whitespace, or the tokenizer added tokens the text does not hold. Split out of
studio.core.inspect.tokens, which imports (and so re-exports) `Span`, `_layout` and `_no_gc`.
Plain Python: no torch, no Qt, no llama_cpp.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from itertools import accumulate

_SPECIAL_TOKEN_KINDS = frozenset(("control", "user_defined"))
_LOOKAHEAD = 64        # bytes a special token may strip around itself (lstrip/rstrip attributes)
_RESYNC_TOKENS = 32    # how far ahead to look for a token that lines up with the text again
_RESYNC_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Span:
    tok_start: int
    tok_end: int
    text: str
    char_start: int
    char_end: int
    kind: str  # "normal" | "merged" | "special" | "added"

    @property
    def n_tokens(self) -> int:
        return self.tok_end - self.tok_start


# --- aligning tokens with the text -------------------------------------------------------------

def _token_ends(data: bytes, pieces: Sequence[bytes], kinds: Sequence[str], added: set[int]) -> list[int]:
    """Where each token ends in `data` (bytes). Tokens tile the text in order, so ends are enough.
    Tokens in `added` take no bytes; special tokens the text does not hold are added to it.
    Surprises (a prefix space the text lacks, whitespace a special token swallowed, normalised
    text) fold into neighbouring tokens instead of failing: a token without bytes joins the span
    of the next one."""
    n, end, pos, i = len(pieces), len(data), 0, 0
    ends = [0] * n
    while i < n:
        if i in added:
            ends[i] = pos
            i += 1
            continue
        piece, kind = pieces[i], kinds[i]
        size = len(piece)
        if data.startswith(piece, pos) and (size or kind not in _SPECIAL_TOKEN_KINDS):
            pos += size
        elif kind in _SPECIAL_TOKEN_KINDS:
            q = data.find(piece, pos, pos + _LOOKAHEAD + size) if size else -1
            if q >= 0 and not data[pos:q].strip():    # it stripped the whitespace before it
                pos = q + size
            else:                                     # not in the text: the tokenizer put it there
                added.add(i)
        elif piece[:1] == b" " and data.startswith(piece[1:], pos):  # SentencePiece's prefix space
            pos += size - 1
        else:
            q = data.find(piece, pos, pos + _LOOKAHEAD + size) if size else -1
            if q > pos and not data[pos:q].strip():   # whitespace that no token claimed
                pos = q + size
            else:
                k, q = _resync(data, pieces, added, i, pos)
                if k < 0:  # nothing lines up again: the rest of the text is one span
                    last = n
                    while last - 1 > i and last - 1 in added:
                        last -= 1
                    ends[i:last] = [pos] * (last - i)
                    pos = ends[last - 1] = end
                    i = last
                    continue
                if k == i:  # this token appears further on; the bytes before it are its own
                    pos = q + size
                else:       # tokens i..k-1 spell what lies before token k
                    ends[i:k] = [pos] * (k - i)
                    pos = ends[k - 1] = q
                    i = k
                    continue
        ends[i] = pos
        i += 1
    if pos < end:  # text that no token claimed (whitespace stripped at the end): the last token's
        for t in range(n - 1, -1, -1):
            if t not in added:
                ends[t:] = [end] * (n - t)
                break
    return ends


def _resync(data: bytes, pieces: Sequence[bytes], added: set[int], i: int, pos: int) -> tuple[int, int]:
    """The first token k >= i whose piece (and the next two) match the text from some byte q >= pos:
    (k, q), or (-1, -1)."""
    n = len(pieces)
    for k in range(i, min(n, i + _RESYNC_TOKENS)):
        piece = pieces[k]
        if k in added or not piece:
            continue
        stop = pos + _RESYNC_BYTES + len(piece)
        q = data.find(piece, pos + (k == i), stop)  # token i is already known not to fit at pos
        while q >= 0:
            at, ok = q + len(piece), True
            for j in range(k + 1, min(n, k + 3)):
                if j in added:
                    break
                if not data.startswith(pieces[j], at):
                    ok = False
                    break
                at += len(pieces[j])
            if ok:
                return k, q
            q = data.find(piece, q + 1, stop)
    return -1, -1


# A Span's frozen __init__ goes through object.__setattr__ six times; setting the slots directly
# builds the same object in half the time, which matters for 100k-token texts.
_SPAN_NEW = object.__new__
_SPAN_SET = tuple(Span.__dict__[f.name].__set__ for f in fields(Span))


def _spans(data: bytes, pieces: Sequence[bytes], kinds: Sequence[str], ends: Sequence[int],
           added: set[int]) -> list[Span]:
    """Group tokens until they end on a character boundary: one span per group."""
    spans: list[Span] = []
    append = spans.append
    new, s0, s1, s2, s3, s4, s5 = _SPAN_NEW, *_SPAN_SET
    size = len(data)
    special = _SPECIAL_TOKEN_KINDS
    chars = start_t = start_b = 0   # the open group: first token, first byte
    for t, b1 in enumerate(ends):
        if added and t in added:
            if start_t < t and ends[t - 1] == start_b and spans and spans[-1].kind != "added":
                _fold_back(spans, t)    # tokens without bytes (a prefix space) before an added EOS
                start_t = t
            if start_t == t:
                append(Span(t, t + 1, "", chars, chars, "added"))
                start_t = t + 1
            continue                    # inside a part-character group: it joins the group
        if b1 > start_b and (b1 >= size or (data[b1] & 0xC0) != 0x80):
            if (t > start_t and ends[t - 1] == start_b and kinds[t] in special and spans
                    and spans[-1].kind != "added"):
                _fold_back(spans, t)  # a prefix space before a special token: keep the special one alone
                start_t = t
            piece_text = data[start_b:b1].decode("utf-8")
            span = new(Span)
            s0(span, start_t)
            s1(span, t + 1)
            s2(span, piece_text)
            s3(span, chars)
            chars += len(piece_text)
            s4(span, chars)
            s5(span, "merged" if t > start_t else "special" if kinds[t] in special else "normal")
            append(span)
            start_t, start_b = t + 1, b1
    n = len(ends)
    if start_t < n:  # tokens with no bytes at the end: they join the last span
        if spans and spans[-1].kind != "added":
            _fold_back(spans, n)
        else:
            append(Span(start_t, n, "", chars, chars, "merged" if n - start_t > 1 else "normal"))
    if start_b < size:  # no token holds any of the text: a span without tokens, after an added BOS
        at = 1 if spans and spans[0].kind == "added" else 0
        tok = spans[at - 1].tok_end if at else 0
        rest = data[start_b:].decode("utf-8")
        spans.insert(at, Span(tok, tok, rest, 0, len(rest), "normal"))
    return spans


def _fold_back(spans: list[Span], t_end: int) -> None:
    last = spans[-1]
    spans[-1] = Span(last.tok_start, t_end, last.text, last.char_start, last.char_end, "merged")


def _layout(data: bytes, pieces: list[bytes], kinds: list[str], added: set[int]) -> list[Span]:
    """Spans for tokens of `data`. When the pieces spell the text byte for byte (byte-level BPE,
    the usual case) the ends are plain running sums; otherwise they are aligned token by token."""
    if not added and b"".join(pieces) == data:
        ends = list(accumulate(map(len, pieces)))
    else:
        added = set(added)
        ends = _token_ends(data, pieces, kinds, added)
    return _spans(data, pieces, kinds, ends, added)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Tens of thousands of new spans would set off full collections that find no garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
