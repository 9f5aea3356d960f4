"""Reasoning models' <think>…</think> convention (Qwen3, DeepSeek-R1, QwQ, …), as text.

A reply may open with a think block; only one at the very start counts, so a reply that talks
about the tags later is left alone. Some templates pre-open the block in the generation prompt:
the reply then starts inside thinking and only a `</think>` appears (a `</think>` with no opening
tag before it means the same). A reply stopped mid-thought has no `</think>` at all.

The switch: a template that references `enable_thinking` gets it as a render variable (its own
way to turn thinking off). A template without it gets the reply started with an empty think block
instead, as Qwen3's own template does when thinking is off, so a model that thinks skips it.

Kept in the engine layer because the worker counts thinking tokens while it generates; the chat
layer builds on it (studio.core.chat.thinking).
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN = "<think>"
CLOSE = "</think>"
SWITCH_VARIABLE = "enable_thinking"
EMPTY_BLOCK = f"{OPEN}\n\n{CLOSE}\n\n"  # what Qwen3's template writes after the prompt when thinking is off


def has_switch(template: str | None) -> bool:
    """Whether a chat template has its own thinking switch (reads `enable_thinking`)."""
    return bool(template) and SWITCH_VARIABLE in (template or "")


def opens_thinking(prompt: str) -> bool:
    """Whether a rendered prompt ends inside an opened think block (the reply starts thinking)."""
    return prompt.rstrip().endswith(OPEN)


def without_thinking(prompt: str) -> str:
    """The prompt with an empty think block after it: the reply goes straight to the answer."""
    if opens_thinking(prompt):  # the template opened it already: close it
        return prompt.rstrip() + f"\n\n{CLOSE}\n\n"
    return prompt + EMPTY_BLOCK


def under_grammar(thinking_switch: bool, prompt: str) -> bool | None:
    """The switch for a reply under a grammar (structured output), given the prompt as thinking would
    leave it. A grammar holds from the first token, so a model cannot think under it: a template with its
    own switch gets it turned off, and one that pre-opens <think> gets the block closed (else the JSON
    would be read as thinking). Other prompts stay as they are (None): the grammar alone keeps a think
    block out, and a model that does not think never sees an empty one."""
    return False if thinking_switch or opens_thinking(prompt) else None


@dataclass(frozen=True)
class Split:
    thinking: str | None  # None: the reply has no thinking
    answer: str
    closed: bool          # the thinking ended with </think> (False: cut off mid-thought, or still thinking)


def _partial_suffix(text: str, tag: str) -> int:
    """How many characters at the end of text could be the start of tag (split across chunks)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def split(text: str, opened: bool = False, streaming: bool = False) -> Split:
    """A whole reply's thinking and answer. `opened`: the prompt pre-opened the think block.
    `streaming`: the text is still growing, so a tag cut off at its end is held back from both parts."""
    body = text.lstrip()
    if not opened and body.startswith(OPEN):
        opened, body = True, body[len(OPEN):]
    elif not opened:
        if streaming and body and OPEN.startswith(body):
            return Split(None, "", False)  # maybe the start of "<think>": show nothing yet
        at = text.find(CLOSE)
        if at < 0 or OPEN in text[:at]:
            return Split(None, text, False)
        body = text  # a lone </think>: the template opened the block without saying so
    at = body.find(CLOSE)
    if at < 0:
        if streaming:
            body = body[:len(body) - _partial_suffix(body, CLOSE)]
        return Split(body.strip(), "", False)
    return Split(body[:at].strip(), body[at + len(CLOSE):].lstrip(), True)


class ThinkTracker:
    """Follows a streamed reply chunk by chunk (tags may be split across chunks): whether it is inside
    thinking now, and how many chunks (tokens) fell in the thinking."""

    def __init__(self, opened: bool = False) -> None:
        self.inside = opened
        self.seen = opened       # the reply has (or had) a think block
        self.closed = False
        self.thinking_chunks = 0
        self._start = ""         # the reply's text while it could still open with <think>
        self._tail = ""          # the end of the thinking so far, to find a </think> split across chunks
        self._decided = opened

    def feed(self, chunk: str) -> bool:
        """Take the next chunk; True when it belongs to the thinking (the tags count as thinking)."""
        if not chunk:
            return self.inside
        if not self._decided:
            self._start += chunk
            body = self._start.lstrip()
            if body.startswith(OPEN):
                self._decided = self.inside = self.seen = True
                chunk = body[len(OPEN):]
            elif body and not OPEN.startswith(body):
                self._decided, self.thinking_chunks = True, 0
                return False
            else:
                self.thinking_chunks += 1  # whitespace or part of the opening tag
                return True
        if not self.inside:
            return False
        self.thinking_chunks += 1
        window = self._tail + chunk
        if CLOSE in window:
            self.inside, self.closed = False, True
        else:
            self._tail = window[-(len(CLOSE) - 1):]
        return True


class SplitStream:
    """A streamed reply handed out as new thinking and new answer text, chunk by chunk, the way an
    OpenAI-style server sends `reasoning_content` apart from `content`. Each chunk re-reads the reply
    so far with split(streaming=True), so a tag cut across chunks is held back until it is whole and
    never shows in either part; the pieces add up to split()'s parts of the whole reply.

    Once answer text has gone out with no think block before it, the reply is plain: later text is
    answer as it comes (what was sent cannot be taken back, so a stray </think> later stays in it)."""

    def __init__(self, opened: bool = False) -> None:
        self.opened = opened
        self.text = ""
        self._thinking_sent = 0  # characters of split()'s thinking handed out so far
        self._answer_sent = 0    # characters of its answer (of the raw text, once plain)
        self._plain = False

    def feed(self, chunk: str) -> tuple[str, str]:
        """Take the next chunk; returns (new thinking, new answer), either may be ""."""
        self.text += chunk
        return self._pieces(split(self.text, self.opened, streaming=True), final=False)

    def finish(self) -> tuple[str, str]:
        """The end of the reply: whatever was held back as maybe the start of a tag."""
        return self._pieces(split(self.text, self.opened), final=True)

    def _pieces(self, parts: Split, final: bool) -> tuple[str, str]:
        if self._plain or (parts.thinking is None and not self._thinking_sent):
            if not self._plain and not final and not parts.answer.strip():
                return "", ""  # only whitespace so far: a think block may still open
            self._plain = True
            piece, self._answer_sent = self.text[self._answer_sent:], len(self.text)
            return "", piece
        thinking, answer = parts.thinking or "", parts.answer
        new_thinking, new_answer = thinking[self._thinking_sent:], answer[self._answer_sent:]
        self._thinking_sent = max(self._thinking_sent, len(thinking))
        self._answer_sent = max(self._answer_sent, len(answer))
        return new_thinking, new_answer
