"""Keyword-side text segmentation: one scheme for documents and queries.

FTS5's unicode61 tokenizer keeps a run of Chinese characters as one token (so 长城 inside
万里长城 never matches), and its trigram tokenizer cannot match two-character words. So documents
are indexed with every run of CJK characters written out as its single characters plus its
character pairs, space separated: 万里长城 → 万 里 长 城 万里 里长 长城. A query is cut the same
way but searches the pairs only (a one-character run searches that character): single characters
such as 年 or 多 match nearly every Chinese chunk and, fused with the vector side, pushed
cross-language hits out of the top 5. Measured on benchmarks/retrieval_quality.py: with the 72
questions it first had and equal fusion weights, hybrid recall@5 was 0.90 with characters + pairs
in the query and 0.99 with pairs only; with 87 questions and today's fusion (retrieval.py) pairs
give 0.989 / MRR 0.875, characters + pairs 0.977 / 0.866, characters only 0.977 / 0.867.
Question words and function words (STOPWORDS, CJK_STOP) are dropped from queries for the same
reason. Latin text passes through (unicode61 folds case and accents; the porter stemmer is on).
"""

from __future__ import annotations

import re

# CJK ideographs (incl. extension A and compatibility), kana and hangul syllables.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[{_CJK}]+|[^\W_]+", re.UNICODE)


# Question words and function words carry no topic: in a query they match nearly every chunk of
# the language and crowd out the real matches (and, fused, the vector side's cross-language hits).
# Dropped from queries only; documents keep every term, so an all-stopword query still matches.
STOPWORDS = frozenset("""
a an the is are was were be been being am do does did of to in on at by for with from as and or but not no
it its this that these those there here what which who whom whose when where why how much many can could
should would will shall may might must i you he she we they me my your our their about into than then so
if any some all each per s t
""".split())
CJK_STOP = frozenset("""
的 了 是 在 和 与 吗 呢 吧 啊 么 什么 多少 哪里 哪些 哪个 哪 几 怎样 怎么 如何 为什么 有 有多 什 么 多 少 个 些 谁 一 这 那
""".split())


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
            pairs = [word[i: i + 2] for i in range(len(word) - 1)] or [word]
            terms.extend(t for t in pairs if t not in CJK_STOP and not all(c in CJK_STOP for c in t))
        elif word.lower() not in STOPWORDS:
            terms.append(word.lower())
    if not terms:  # only stopwords ("what is it?"): search them rather than nothing
        return list(dict.fromkeys(w.group(0).lower() for w in _WORD.finditer(text)))
    return list(dict.fromkeys(terms))


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression: every term quoted (no operator can sneak in) and OR-ed, so BM25
    ranks by how many and how rare the shared terms are. Empty when the text has no terms."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in query_terms(text))
