"""Blocks → chunks by structure, sized in tokens of the embedding model.

A chunk never crosses a heading: blocks under one heading path are packed paragraph by paragraph
up to `size` tokens. A paragraph too big for one chunk is cut at sentence ends (. ! ? and the
Chinese 。！？；, plus line ends), a sentence too big at token counts. Each new chunk of the same
section starts with up to `overlap` tokens of whole sentences from the end of the previous one, so
a fact split across the seam is whole in one of them. The heading path is kept apart from the text
(shown, embedded and indexed with it, but not counted twice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from studio.core.knowledge.extract import Block

CountTokens = Callable[[str], int]

DEFAULT_SIZE = 160
DEFAULT_OVERLAP = 32

# A sentence ends after . ! ? (followed by space) or after Chinese full stops, wherever they are.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|(?<=[。！？；])[”’」』）]*|\n+")


@dataclass
class Chunk:
    text: str
    heading: str  # the heading path, " › " joined ("" at top level)
    start: int  # page, paragraph or line where it starts (see Extracted.unit)
    end: int
    n_tokens: int

    def embed_text(self) -> str:
        """What the embedding model and the keyword index see: the heading gives the chunk its topic."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _hard_split(text: str, size: int, count: CountTokens) -> list[str]:
    """A sentence longer than a chunk: cut at word boundaries (or characters, for CJK) by tokens."""
    words = re.findall(r"\S+\s*", text) if " " in text.strip() else list(text)
    pieces: list[str] = []
    current = ""
    for word in words:
        if current and count(current + word) > size:
            pieces.append(current.strip())
            current = ""
        current += word
    if current.strip():
        pieces.append(current.strip())
    return pieces


@dataclass
class _Piece:
    text: str
    start: int
    end: int
    tokens: int
    joiner: str  # what goes before it when it follows another piece in a chunk


def chunk_blocks(blocks: Iterable[Block], *, count: CountTokens, size: int = DEFAULT_SIZE,
                 overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    if size < 8:
        raise ValueError("the chunk size must be at least 8 tokens")
    if not 0 <= overlap < size // 2:
        raise ValueError("the chunk overlap must be at least 0 and under half the chunk size")
    chunks: list[Chunk] = []
    section: list[_Piece] = []
    section_heading = ""

    def close_section() -> None:
        if section:
            chunks.extend(_pack(section, section_heading, size, overlap, count))
        section.clear()

    for block in blocks:
        if block.kind == "heading":
            close_section()
            section_heading = " › ".join([*block.headings, block.text])
            continue
        heading = " › ".join(block.headings)
        if heading != section_heading:
            close_section()
            section_heading = heading
        tokens = count(block.text)
        if tokens <= size:
            section.append(_Piece(block.text, block.start, block.end, tokens, "\n\n"))
            continue
        joiner = "\n\n"
        for sentence in (sentences(block.text) if block.kind != "code" else block.text.splitlines()):
            n = count(sentence)
            for part in (_hard_split(sentence, size, count) if n > size else [sentence]):
                section.append(_Piece(part, block.start, block.end, count(part) if n > size else n, joiner))
                joiner = "\n" if block.kind == "code" else (" " if part[-1:].isascii() else "")
    close_section()
    return chunks


def _pack(pieces: list[_Piece], heading: str, size: int, overlap: int, count: CountTokens) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[_Piece] = []
    used = 0
    fresh = 0  # pieces in `current` that are not overlap carried from the previous chunk

    def emit() -> None:
        text = "".join((p.joiner if i else "") + p.text for i, p in enumerate(current))
        chunks.append(Chunk(text, heading, min(p.start for p in current), max(p.end for p in current),
                            count(text)))

    for piece in pieces:
        if current and used + piece.tokens > size and fresh:
            emit()
            carried: list[_Piece] = []
            kept = 0
            for prev in reversed(current):  # whole sentences from the end, up to `overlap` tokens
                if kept + prev.tokens > overlap or prev.tokens + piece.tokens > size:
                    break
                carried.insert(0, prev)
                kept += prev.tokens
            current, used, fresh = carried, kept, 0
        current.append(piece)
        used += piece.tokens
        fresh += 1
    if current and fresh:
        emit()
    return chunks
