"""Examples as the model sees them: rendered with the base model's own chat template, with the
character spans that carry the loss, and counted with the model's own tokenizer.

Templates render only in llama-cpp-python's sandboxed `Jinja2ChatFormatter` (a chat template is
code from a downloaded file). llama_cpp is imported lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, cast

from studio.core.datasets.records import DatasetError, Example
from studio.core.errors import StudioError

CHATML_NOTE = ("the model has no chat template, so examples are rendered in ChatML "
               "(<|im_start|>role … <|im_end|>)")
NO_MODEL_NOTE = "no base model chosen: the preview uses ChatML; choose a model to see its own template and token counts"
_END_MARKERS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "</s>", "<|endoftext|>")


class RenderError(StudioError, ValueError):
    """The chat template refused an example (e.g. roles that do not alternate). Still a ValueError
    for callers that catch template trouble with other bad values."""

    def __init__(self, message: str) -> None:
        super().__init__("template", message)


@dataclass(frozen=True)
class Rendered:
    text: str
    train_spans: tuple[tuple[int, int], ...]  # [start, end) character ranges that carry the loss

    def trained_text(self) -> str:
        return "".join(self.text[a:b] for a, b in self.train_spans)


def _fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]] | None:
    """Templates like Gemma's refuse a system turn: fold it into the first user message (as the engine does)."""
    if len(messages) > 1 and messages[0]["role"] == "system" and messages[1]["role"] == "user":
        return [{"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}, *messages[2:]]
    return None


def _token_text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


class ChatRenderer:
    """Renders examples with one chat template. `source` is "gguf", "hf" or "fallback"; `note` says
    where the template came from, in words for the user."""

    def __init__(self, template: str | None = None, *, bos_token: str = "", eos_token: str = "",
                 source: str = "", note: str = "") -> None:
        from llama_cpp import llama_chat_format

        if not template:
            template = llama_chat_format.CHATML_CHAT_TEMPLATE
            eos_token = eos_token or llama_chat_format.CHATML_EOS_TOKEN
            source = source or "fallback"
            note = note or CHATML_NOTE
        self.template = template
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.source = source or "custom"
        self.note = note
        make = llama_chat_format.Jinja2ChatFormatter
        self._plain = make(template=template, eos_token=eos_token, bos_token=bos_token, add_generation_prompt=False)
        self._prompted = make(template=template, eos_token=eos_token, bos_token=bos_token, add_generation_prompt=True)

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_model(cls, source: str | os.PathLike[str] | None) -> "ChatRenderer":
        """The template of a .gguf file or a Hugging Face folder; ChatML (with a note) when it has none."""
        if source is None or str(source) == "":
            return cls(note=NO_MODEL_NOTE)
        path = Path(source).expanduser()
        if path.is_dir():
            return cls._from_hf(path)
        if path.is_file():
            return cls._from_gguf(path)
        raise DatasetError(path, 0, "no such model file or folder")

    @classmethod
    def _from_gguf(cls, path: Path) -> "ChatRenderer":
        from studio.core.models.gguf_info import ModelFileError, read_gguf_info, read_token_strings

        try:
            info = read_gguf_info(path)
        except ModelFileError as exc:
            raise DatasetError(path, 0, exc.message) from None
        ids = [i for i in (info.bos_token_id, info.eos_token_id) if i is not None]
        tokens = read_token_strings(path, ids) if ids else {}
        bos = tokens.get(info.bos_token_id, "") if info.bos_token_id is not None else ""
        eos = tokens.get(info.eos_token_id, "") if info.eos_token_id is not None else ""
        if info.chat_template:
            return cls(info.chat_template, bos_token=bos, eos_token=eos, source="gguf",
                       note="chat template from the model file")
        return cls(None, bos_token=bos, source="fallback")

    @classmethod
    def _from_hf(cls, folder: Path) -> "ChatRenderer":
        from studio.core.models.gguf_info import ModelFileError
        from studio.core.models.templates import check_chat_template

        config: dict[str, Any] = {}
        config_path = folder / "tokenizer_config.json"
        if config_path.is_file():
            try:
                config = json.loads(config_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DatasetError(config_path, 0, f"cannot be read as JSON: {exc}") from None
        if not isinstance(config, dict):
            raise DatasetError(config_path, 0, "should hold a JSON object")
        template, origin = config.get("chat_template"), "tokenizer_config.json"
        if not template and (folder / "chat_template.jinja").is_file():  # newer transformers save it apart
            try:
                template, origin = (folder / "chat_template.jinja").read_text(encoding="utf-8"), "chat_template.jinja"
            except (OSError, ValueError) as exc:
                raise DatasetError(folder / "chat_template.jinja", 0, f"cannot be read as UTF-8 text: {exc}") from None
        if not template and (folder / "chat_template.json").is_file():
            try:
                template = json.loads((folder / "chat_template.json").read_text(encoding="utf-8")).get("chat_template")
            except (OSError, ValueError, AttributeError, RecursionError):
                template = None
            origin = "chat_template.json"
        if isinstance(template, list):  # named templates: the default one is for chat
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default") or next(iter(named.values()), None)
        template = template if isinstance(template, str) and template.strip() else None
        bos, eos = _token_text(config.get("bos_token")), _token_text(config.get("eos_token"))
        if template is None:
            return cls(None, bos_token=bos, source="fallback")
        try:
            check_chat_template(template)
        except ModelFileError as exc:
            raise DatasetError(folder, 0, exc.message) from None
        return cls(template, bos_token=bos, eos_token=eos, source="hf",
                   note=f"chat template from the model's {origin}")

    # -- rendering ---------------------------------------------------------------------------------
    def _format(self, messages: Sequence[dict[str, str]], *, prompt: bool) -> str:
        formatter = self._prompted if prompt else self._plain
        try:
            return formatter(messages=cast(Any, list(messages))).prompt  # llama-cpp types each role's dict
        except Exception as exc:  # noqa: BLE001 - template errors, raise_exception(), sandbox refusals
            raise RenderError(f"the chat template cannot render this example: {exc}") from None

    def _messages(self, example: Example) -> tuple[list[dict[str, str]], str]:
        messages = [dict(m) for m in example.messages or ()]
        try:
            return messages, self._format(messages, prompt=False)
        except RenderError:
            folded = _fold_system(messages)
            if folded is None:
                raise
            try:
                return folded, self._format(folded, prompt=False)
            except RenderError:
                pass
            raise

    def render_text(self, example: Example) -> str:
        """The full text only (cheaper than `render`; for token counts)."""
        if example.messages is None:
            return example.text or ""
        return self._messages(example)[1]

    def render(self, example: Example) -> Rendered:
        if example.messages is None:
            text = example.text or ""
            return Rendered(text, ((0, len(text)),) if text else ())
        messages, full = self._messages(example)
        spans: list[tuple[int, int]] = []
        cursor = 0
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            # The reply is what rendering one more turn adds after the generation prompt.
            before = self._format(messages[:i], prompt=True)
            upto = self._format(messages[: i + 1], prompt=False)
            end = len(upto.rstrip())
            if upto.startswith(before) and full.startswith(upto) and cursor <= len(before) < end:
                span = (len(before), end)
            else:  # the template rewrites earlier turns (e.g. drops old reasoning): find the reply itself
                span = self._find_reply(full, message["content"], cursor)
            spans.append(span)
            cursor = span[1]
        return Rendered(full, tuple(spans))

    def _find_reply(self, full: str, content: str, cursor: int) -> tuple[int, int]:
        body = content.strip()
        start = full.find(body, cursor)
        if start < 0:
            raise RenderError("the chat template changes the assistant reply, so the trained part cannot be located")
        end = start + len(body)
        rest = full[end:]
        for marker in ((self.eos_token,) if self.eos_token else ()) + _END_MARKERS:
            if rest.lstrip(" \n").startswith(marker):
                end += len(rest) - len(rest.lstrip(" \n")) + len(marker)
                break
        return start, end


def token_label_mask(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[bool]:
    """True for each token (given by its character offsets) that overlaps a trained span. A token
    straddling a span edge counts as trained, so no character of a reply goes unlearned; tokens with
    empty offsets (a BOS the tokenizer added) are never trained."""
    merged: list[list[int]] = []
    for a, b in sorted((int(a), int(b)) for a, b in spans if b > a):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    starts = [a for a, _ in merged]
    mask = []
    for s, e in offsets:
        if e <= s:
            mask.append(False)
            continue
        i = bisect_right(starts, s) - 1
        mask.append((i >= 0 and merged[i][1] > s) or (i + 1 < len(merged) and merged[i + 1][0] < e))
    return mask


# --- tokenizers ------------------------------------------------------------------------------------

class VocabTokenizer:
    """The tokenizer of a GGUF file via llama.cpp with only the vocabulary loaded (no weights).
    Counting asks llama.cpp for the length without copying tokens out."""

    def __init__(self, gguf_path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        import llama_cpp
        from llama_cpp import llama_cpp as llama_c

        path = Path(gguf_path).expanduser()
        if not path.is_file():
            raise DatasetError(path, 0, "no such model file")
        captured = io.StringIO()
        try:  # llama.cpp logs a context warning on stderr that means nothing for a vocabulary
            with contextlib.redirect_stderr(captured):
                self._llm: Any = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise DatasetError(path, 0, f"llama.cpp could not read its vocabulary ({exc})") from None
        self._c = llama_c
        self._vocab = self._llm._model.vocab
        self.name = path.name
        self.add_bos = bool(self._llm._model.add_bos_token())
        bos = self._llm.token_bos()
        self.bos_text = self._llm.detokenize([bos], special=True).decode("utf-8", "replace") if bos >= 0 else ""
        self._threads = max(1, min(4, threads or (os.cpu_count() or 1)))

    def _args(self, text: str) -> tuple[bytes, bool]:
        # Follow the model's add_bos flag, and never double a BOS that the template already wrote.
        return text.encode("utf-8"), self.add_bos and not (self.bos_text and text.startswith(self.bos_text))

    def _count(self, text: str) -> int:
        data, add_bos = self._args(text)
        n = self._c.llama_tokenize(self._vocab, data, len(data), None, 0, add_bos, True)
        return -n if n < 0 else n

    def count(self, texts: Sequence[str]) -> list[int]:
        if self._threads > 1 and len(texts) >= 64:  # llama_tokenize runs without the GIL
            with ThreadPoolExecutor(self._threads) as pool:
                return list(pool.map(self._count, texts, chunksize=32))
        return [self._count(t) for t in texts]

    def tokenize(self, text: str) -> list[int]:
        data, add_bos = self._args(text)
        return self._llm.tokenize(data, add_bos=add_bos, special=True)

    def piece(self, token: int) -> bytes:
        """The bytes one token stands for (special tokens as their text)."""
        import ctypes

        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._c.llama_token_to_piece(self._vocab, token, buf, size, 0, True)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and each token's [start, end) character range in `text` (a BOS added by the
        tokenizer gets an empty range). Lets llama.cpp tokens meet `token_label_mask`."""
        ids = self.tokenize(text)
        data = text.encode("utf-8")
        char_at = [0] * (len(data) + 1)  # byte offset -> index of the character it belongs to
        pos = 0
        for i, ch in enumerate(text):
            width = len(ch.encode("utf-8"))
            for k in range(width):
                char_at[pos + k] = i
            pos += width
        char_at[len(data)] = len(text)
        spans: list[tuple[int, int]] = []
        pos = 0
        for n, token in enumerate(ids):
            if n == 0 and token == self._llm.token_bos() and not data.startswith(self.piece(token)):
                spans.append((0, 0))
                continue
            end = min(len(data), pos + len(self.piece(token)))
            start_char = char_at[pos]
            end_char = char_at[end] if end == len(data) or char_at[end - 1] != char_at[end] else char_at[end] + 1
            spans.append((start_char, max(start_char, end_char)))
            pos = end
        return ids, spans

    def close(self) -> None:
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            llm.close()

    def __enter__(self) -> "VocabTokenizer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HFTokenizer:
    """A Hugging Face folder's fast tokenizer (tokenizer.json) via the `tokenizers` library: no torch."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        folder = Path(folder).expanduser()
        file = folder / "tokenizer.json"
        if not file.is_file():
            raise DatasetError(folder, 0, "has no tokenizer.json, so tokens cannot be counted")
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise DatasetError(folder, 0, "counting tokens of a Hugging Face folder needs the 'tokenizers' "
                                          "package (it comes with the [train] extra)") from None
        try:
            self._tok = Tokenizer.from_file(str(file))
        except Exception as exc:  # noqa: BLE001 - the tokenizers library raises its own untyped errors
            raise DatasetError(file, 0, f"the tokenizer cannot be loaded ({exc})") from None
        self.name = folder.name
        config: Any = {}
        try:
            config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            pass
        config = config if isinstance(config, dict) else {}
        self.bos_text = _token_text(config.get("bos_token"))
        self.add_bos = bool(config.get("add_bos_token")) and bool(self.bos_text)

    def count(self, texts: Sequence[str]) -> list[int]:
        encoded = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) + (1 if self.add_bos and not t.startswith(self.bos_text) else 0)
                for t, e in zip(texts, encoded)]

    def tokenize(self, text: str) -> list[int]:
        ids = self._tok.encode(text, add_special_tokens=False).ids
        if self.add_bos and not text.startswith(self.bos_text):
            bos = self._tok.token_to_id(self.bos_text)
            ids = ids if bos is None else [bos, *ids]
        return ids

    def close(self) -> None:
        pass


def load_tokenizer(source: str | os.PathLike[str]) -> "VocabTokenizer | HFTokenizer":
    path = Path(source).expanduser()
    return HFTokenizer(path) if path.is_dir() else VocabTokenizer(path)
