"""How a model's tokenizer splits a text: token ids, each token's bytes, and spans of whole
characters that a person can read.

The vocabulary comes from llama.cpp with only the vocabulary loaded (no weights), so the ids are
exactly the ones the engine feeds the model. A token's bytes need not be whole characters: byte-level
BPE splits one CJK glyph or emoji over two or three tokens, and SentencePiece falls back to
<0xE4>-style byte tokens. Such runs become one "merged" span, so the spans always spell the text.

No torch and no Qt here; llama_cpp is imported when a tokenizer is opened. This module holds
TokenizedText, Tokenizer and its cache (`open_tokenizer`); `Span` and the token/text alignment live
in studio.core.inspect.alignment, `read_text_file` in studio.core.inspect.textfile and
`TokenizerError` in studio.core.inspect.errors.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import re
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.inspect.errors import TokenizerError
from studio.core.inspect.alignment import Span, _layout, _no_gc
from studio.core.inspect.textfile import read_text_file as read_text_file  # re-exported for studio.cli.inspect

KINDS = ("normal", "byte", "control", "user_defined", "unknown")
SPAN_KINDS = ("normal", "merged", "special", "added")
_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})
_SURROGATES = re.compile("[\ud800-\udfff]")


def visible(text: str) -> str:
    """Whitespace made visible for labels: space ␣, newline ↵, tab ⇥, carriage return ␍."""
    return text.translate(_VISIBLE)


def _piece_label(piece: bytes) -> str:
    try:
        return visible(piece.decode("utf-8")) if piece else "∅"
    except UnicodeDecodeError:
        return "".join(f"<0x{b:02X}>" for b in piece)


@dataclass(eq=False)
class TokenizedText:
    text: str
    ids: list[int]
    pieces: list[bytes]   # raw bytes of each token (special tokens: their text)
    kinds: list[str]      # per token: "normal" | "byte" | "control" | "user_defined" | "unknown"
    spans: list[Span]
    model_name: str = ""
    _tok_starts: list[int] | None = field(default=None, init=False, repr=False)
    _char_index: tuple[list[int], list[int]] | None = field(default=None, init=False, repr=False)

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def n_chars(self) -> int:
        return len(self.text)

    @property
    def chars_per_token(self) -> float:
        return len(self.text) / len(self.ids) if self.ids else 0.0

    def span_of_token(self, index: int) -> int:
        """Index into `spans` of the span holding token `index`."""
        if not 0 <= index < len(self.ids):
            raise IndexError(f"token {index} is outside 0..{len(self.ids) - 1}")
        if self._tok_starts is None:
            self._tok_starts = [s.tok_start for s in self.spans]
        return bisect_right(self._tok_starts, index) - 1

    def span_at_char(self, char_index: int) -> int | None:
        """Index into `spans` of the span covering character `char_index`; None outside the text."""
        if not 0 <= char_index < len(self.text):
            return None
        if self._char_index is None:
            which = [i for i, s in enumerate(self.spans) if s.kind != "added" and s.char_end > s.char_start]
            self._char_index = ([self.spans[i].char_start for i in which], which)
        starts, which = self._char_index
        k = bisect_right(starts, char_index) - 1
        return which[k] if k >= 0 else None

    def ids_text(self) -> str:
        return "[" + ", ".join(map(str, self.ids)) + "]"

    def labels(self) -> list[str]:
        """One short label per token (heatmap axes): the piece with whitespace visible; a merged
        span labels its first token with the span's text and the others "…2", "…3", …"""
        out: list[str] = []
        pieces = self.pieces
        for span in self.spans:
            if span.kind == "merged":
                out.append(visible(span.text) or _piece_label(pieces[span.tok_start]))
                out.extend(f"…{k}" for k in range(2, span.tok_end - span.tok_start + 1))
            else:
                out.extend(_piece_label(pieces[t]) for t in range(span.tok_start, span.tok_end))
        return out


# --- the tokenizer ------------------------------------------------------------------------------

def _bad_file_message(path: Path) -> str:
    """The GGUF reader's sentence for a file llama.cpp refused, when it has one."""
    from studio.core.models.gguf_info import ModelFileError, read_gguf_info

    try:
        read_gguf_info(path)
    except ModelFileError as exc:
        return exc.message
    except Exception:  # noqa: BLE001 - any other failure: the caller's generic sentence
        return ""
    return ""


class Tokenizer:
    """One GGUF file's vocabulary. Pieces and kinds are looked up once per id and kept."""

    def __init__(self, gguf_path: str | os.PathLike[str]) -> None:
        self.path = Path(gguf_path).expanduser()
        self.name = self.path.stem
        path = self.path
        if not path.exists():
            raise TokenizerError("model_file", f"The model file {path.name} does not exist; choose another model.")
        if path.is_dir():
            raise TokenizerError("model_file", f"{path.name} is a folder; the token view needs a .gguf file.")
        try:
            with open(path, "rb") as fh:
                magic = fh.read(4)
        except OSError as exc:
            raise TokenizerError("model_file", f"The model file {path.name} cannot be read: "
                                               f"{exc.strerror or exc}.") from None
        if magic != b"GGUF":
            detail = _bad_file_message(path) or "it does not start with the GGUF signature"
            raise TokenizerError("model_file", f"{path.name} is not a GGUF model file ({detail}).")
        import llama_cpp
        from llama_cpp import llama_cpp as llama_c

        try:  # llama.cpp warns on stderr about a context that a vocabulary never uses
            with contextlib.redirect_stderr(io.StringIO()):
                self._llm: Any = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            detail = _bad_file_message(path) or str(exc)
            raise TokenizerError("vocab", f"llama.cpp could not read the vocabulary of {path.name}: "
                                          f"{detail.rstrip('.')}.") from None
        self._c = llama_c
        self._vocab = self._llm._model.vocab
        self.n_vocab = int(llama_c.llama_vocab_n_tokens(self._vocab))
        self.add_bos = bool(llama_c.llama_vocab_get_add_bos(self._vocab))
        self.add_eos = bool(llama_c.llama_vocab_get_add_eos(self._vocab))
        self.bos_id = int(llama_c.llama_vocab_bos(self._vocab))
        self.eos_id = int(llama_c.llama_vocab_eos(self._vocab))
        self._lock = threading.Lock()
        self._pieces: dict[int, bytes] = {}
        self._kinds: dict[int, str] = {}
        self._buf = ctypes.create_string_buffer(256)
        self.bos_text = self._text_of(self.bos_id)
        self.eos_text = self._text_of(self.eos_id)
        self._formatter: Any = None
        self.template_source = ""

    def _text_of(self, token: int) -> str:
        return self.piece(token).decode("utf-8", "replace") if 0 <= token < self.n_vocab else ""

    # -- per-id facts, cached ----------------------------------------------------------------------
    def _fill(self, missing: Sequence[int]) -> None:
        c, vocab = self._c, self._vocab
        with self._lock:
            for token in missing:
                if token in self._pieces:
                    continue
                buf = self._buf
                n = c.llama_token_to_piece(vocab, token, buf, len(buf), 0, True)
                if n < 0:
                    self._buf = buf = ctypes.create_string_buffer(-n)
                    n = c.llama_token_to_piece(vocab, token, buf, len(buf), 0, True)
                piece = buf.raw[:max(n, 0)]
                attr = int(c.llama_vocab_get_attr(vocab, token))
                if attr & c.LLAMA_TOKEN_ATTR_CONTROL:
                    kind = "control"
                elif attr & c.LLAMA_TOKEN_ATTR_USER_DEFINED:
                    kind = "user_defined"
                elif attr & c.LLAMA_TOKEN_ATTR_UNKNOWN:
                    kind = "unknown"
                elif attr & c.LLAMA_TOKEN_ATTR_BYTE:
                    kind = "byte"
                else:
                    try:
                        piece.decode("utf-8")
                        kind = "normal"
                    except UnicodeDecodeError:  # a part of a character (byte-level BPE)
                        kind = "byte"
                self._kinds[token] = kind
                self._pieces[token] = piece  # last: a piece present means its kind is too (no lock on reads)

    def _check_id(self, token_id: int) -> int:
        token = int(token_id)
        if not 0 <= token < self.n_vocab:
            raise TokenizerError("vocab", f"Token id {token} is outside this vocabulary (0 to {self.n_vocab - 1}).")
        return token

    def piece(self, token_id: int) -> bytes:
        """The bytes one token stands for (special tokens as their text)."""
        token = self._check_id(token_id)
        if token not in self._pieces:
            self._fill((token,))
        return self._pieces[token]

    def kind(self, token_id: int) -> str:
        token = self._check_id(token_id)
        if token not in self._kinds:
            self._fill((token,))
        return self._kinds[token]

    # -- tokenizing --------------------------------------------------------------------------------
    def _ids(self, data: bytes, add_special: bool, parse_special: bool) -> list[int]:
        n_max = len(data) + 16
        arr = (self._c.llama_token * n_max)()
        n = self._c.llama_tokenize(self._vocab, data, len(data), arr, n_max, add_special, parse_special)
        if n < 0:
            n_max = -n
            arr = (self._c.llama_token * n_max)()
            n = self._c.llama_tokenize(self._vocab, data, len(data), arr, n_max, add_special, parse_special)
        if n < 0:
            raise TokenizerError("vocab", f"llama.cpp could not tokenize this text with {self.path.name}.")
        return arr[:n]

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> TokenizedText:
        """`add_special` lets the tokenizer add what the model expects (BOS/EOS); `parse_special`
        reads special-token text like <|im_start|> as that one token. A text that already begins
        with the BOS text (a rendered chat template) gets no second BOS, as in the engine."""
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from a broken paste: shown as U+FFFD
            text = _SURROGATES.sub("\ufffd", text)
            data = text.encode("utf-8")
        skip_bos = (add_special and parse_special and self.add_bos and bool(self.bos_text)
                    and text.startswith(self.bos_text))
        ids = self._ids(data, add_special and not skip_bos, parse_special)
        if skip_bos and self.add_eos and self.eos_id >= 0:
            ids.append(self.eos_id)
        cache = self._pieces
        missing = set(ids) - cache.keys()
        if missing:
            self._fill(sorted(missing))
        pieces = list(map(cache.__getitem__, ids))
        kinds = list(map(self._kinds.__getitem__, ids))
        added = self._added(ids, add_special and not skip_bos, skip_bos)
        with _no_gc():
            spans = _layout(data, pieces, kinds, added)
        return TokenizedText(text, ids, pieces, kinds, spans, self.name)

    def _added(self, ids: list[int], add_special: bool, appended_eos: bool) -> set[int]:
        """Indexes of the tokens the tokenizer added (not in the text). Others it added show up in
        alignment as control tokens the text does not hold."""
        added: set[int] = set()
        if not ids:
            return added
        if add_special and self.add_bos and ids[0] == self.bos_id:
            added.add(0)
        if (add_special or appended_eos) and self.add_eos and ids[-1] == self.eos_id and len(ids) - 1 not in added:
            added.add(len(ids) - 1)
        return added

    def detokenize(self, ids: Sequence[int]) -> bytes:
        """The bytes of `ids` as llama.cpp joins them (special tokens as their text)."""
        ids = [self._check_id(t) for t in ids]
        if not ids:
            return b""
        arr = (self._c.llama_token * len(ids))(*ids)
        size = max(64, sum(len(self.piece(t)) for t in ids) + 16)
        buf = ctypes.create_string_buffer(size)
        n = self._c.llama_detokenize(self._vocab, arr, len(ids), buf, size, False, True)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._c.llama_detokenize(self._vocab, arr, len(ids), buf, -n, False, True)
        return buf.raw[:max(n, 0)]

    # -- chat template -----------------------------------------------------------------------------
    def _chat_formatter(self) -> Any:
        if self._formatter is None:
            from llama_cpp import llama_chat_format

            template = self._llm.metadata.get("tokenizer.chat_template") or ""
            eos = self.eos_text
            if template:
                self.template_source = "gguf"
            else:
                template = llama_chat_format.CHATML_CHAT_TEMPLATE
                eos = eos or llama_chat_format.CHATML_EOS_TOKEN
                self.template_source = "fallback"
            try:
                self._formatter = llama_chat_format.Jinja2ChatFormatter(
                    template=template, eos_token=eos, bos_token=self.bos_text, add_generation_prompt=True)
            except Exception as exc:  # noqa: BLE001 - a template that does not even parse
                raise TokenizerError("template", f"The chat template of {self.path.name} cannot be read: "
                                                 f"{exc}.") from None
        return self._formatter

    def chat_text(self, text: str, *, system: str | None = None) -> str:
        """The text as the model sees it in a chat: its template around one user message, the
        generation prompt after it, and the BOS text when the model expects one."""
        formatter = self._chat_formatter()
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
        try:
            prompt = formatter(messages=messages).prompt
        except Exception as exc:  # noqa: BLE001 - raise_exception() in the template, sandbox refusals
            if not system:
                raise TokenizerError("template", f"The chat template of {self.path.name} cannot render this "
                                                 f"text: {exc}.") from None
            try:  # templates like Gemma's refuse a system turn: fold it into the user message
                prompt = formatter(messages=[{"role": "user", "content": f"{system}\n\n{text}"}]).prompt
            except Exception:  # noqa: BLE001
                raise TokenizerError("template", f"The chat template of {self.path.name} cannot render this "
                                                 f"text: {exc}.") from None
        if self.add_bos and self.bos_text and not prompt.startswith(self.bos_text):
            prompt = self.bos_text + prompt
        return prompt

    def close(self) -> None:
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            llm.close()

    def __repr__(self) -> str:
        return f"Tokenizer({str(self.path)!r}, n_vocab={self.n_vocab})"


# --- cache ----------------------------------------------------------------------------------------

_CACHE: OrderedDict[tuple[str, int, int], Tokenizer] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def open_tokenizer(path: str | os.PathLike[str]) -> Tokenizer:
    """A Tokenizer for `path`, reused while the file is unchanged (the last 4 files are kept)."""
    resolved = Path(path).expanduser()
    try:
        resolved = resolved.resolve()
        stat = resolved.stat()
        key = (str(resolved), stat.st_mtime_ns, stat.st_size)
    except OSError:
        return Tokenizer(resolved)  # raises the sentence for a missing file
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    tokenizer = Tokenizer(Path(path).expanduser())  # named as the caller names it (a link's name)
    with _CACHE_LOCK:
        for old in [k for k in _CACHE if k[0] == key[0]]:  # the file changed: forget the old vocabulary
            del _CACHE[old]
        _CACHE[key] = tokenizer
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)  # dropped, not closed: a caller may still be using it
    return tokenizer
