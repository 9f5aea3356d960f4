"""Keyword-side text segmentation: the same function for documents and queries.

FTS5's unicode61 tokenizer keeps a run of Chinese characters as one token (so 长城 inside
万里长城 never matches), and its trigram tokenizer cannot match two-character words. So every run
of CJK characters is written out as its single characters plus its character pairs, space
separated, before FTS5 sees it: 万里长城 → 万 里 长 城 万里 里长 长城. A query segmented the
same way matches any shared word of one or two characters, and BM25 weighs the rare pairs above
common single characters. Measured on benchmarks/retrieval_quality.py, this beats characters
alone (too many chance matches) and pairs alone (one-character words such as 水 never match).
Latin text passes through (unicode61 folds case and accents; the porter stemmer is on).
"""

from __future__ import annotations

import re

# CJK ideographs (incl. extension A and compatibility), kana and hangul syllables.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[{_CJK}]+|[^\W_]+", re.UNICODE)


def _cjk_terms(run: str) -> list[str]:
    chars = list(run)
    return chars + [run[i: i + 2] for i in range(len(run) - 1)]


def segment(text: str) -> str:
    """The text as FTS5 should index it (CJK runs expanded into characters and pairs)."""
    return _CJK_RUN.sub(lambda m: " " + " ".join(_cjk_terms(m.group(0))) + " ", text)


def query_terms(text: str) -> list[str]:
    """The distinct search terms of a query, in order: lower-cased words and CJK characters/pairs."""
    terms: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        if _CJK_RUN.fullmatch(word):
            terms.extend(_cjk_terms(word))
        else:
            terms.append(word.lower())
    return list(dict.fromkeys(terms))


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression: every term quoted (no operator can sneak in) and OR-ed, so BM25
    ranks by how many and how rare the shared terms are. Empty when the text has no terms."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in query_terms(text))
