"""The llama.cpp engine worker: `python -m studio.core.engine.worker`.

One process owns one `Llama`; the UI and CLI only talk to it through the JSON-lines protocol.
Prompts are rendered with the model's own chat template in llama-cpp-python's sandboxed Jinja
formatter, and replies are produced token by token so cancellation lands between tokens.
"""

from __future__ import annotations

import base64
import codecs
import ctypes
import os
import sys
import time
from collections import deque
from typing import Any

from studio.core.chat.context import ContextOverflow, fit_messages
from studio.core.workers.protocol import Cancelled, Request, WorkerError, serve

import llama_cpp  # noqa: E402  (after our imports so a missing build reports cleanly below)
from llama_cpp import llama_chat_format
from llama_cpp import llama_cpp as llama_c
import numpy as np  # llama_cpp depends on it already

_LOG: deque[str] = deque(maxlen=400)


@llama_c.llama_log_callback
def _log_callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    line = text.decode("utf-8", "replace")
    _LOG.append(line.rstrip("\n"))
    if level in (3, 4):  # ggml's WARN and ERROR reach the client's log tail
        sys.stderr.write(line)


llama_c.llama_log_set(_log_callback, ctypes.c_void_p(0))


def physical_cores() -> int:
    """llama.cpp runs best on physical cores; its Python default (cpu_count // 2) starves small machines."""
    count = os.cpu_count() or 2
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            pairs = set()
            physical = ""
            for line in handle:
                if line.startswith("physical id"):
                    physical = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    pairs.add((physical, line.split(":")[1].strip()))
        if pairs:
            return len(pairs)
    except OSError:
        pass
    return max(1, count)


def default_threads() -> int:
    """Physical cores minus one, at least one. llama.cpp's threads meet at a barrier after every
    op, so one descheduled thread stalls them all: on 2 busy cores two threads ran at 1.5-3 tok/s
    against 60 tok/s for one (measured here). The spare core keeps the chat window rendering.
    Prompt reading is a short burst while the window waits, so it gets every physical core."""
    return max(1, physical_cores() - 1)


def detect_backend() -> tuple[str, bool, str]:
    """The backend llama.cpp reports (CPU, CUDA, Metal, Vulkan, ...), GPU offload support, raw report."""
    report = llama_c.llama_print_system_info().decode("utf-8", "replace")
    names = []
    for part in report.split("|"):
        if " : " in part:
            name = part.split(" : ")[0].strip()
            if name and name not in names:
                names.append(name)
    gpu = [n for n in names if n.upper() != "CPU"]
    offload = bool(llama_c.llama_supports_gpu_offload())
    pretty = {"CUDA": "CUDA", "METAL": "Metal", "VULKAN": "Vulkan", "HIP": "ROCm", "SYCL": "SYCL"}
    backend = pretty.get(gpu[0].upper(), gpu[0]) if gpu else "CPU"
    return backend, offload, report.strip()


_PIECE_BUFFER = ctypes.create_string_buffer(64)


def token_piece(vocab: Any, token: int, special: bool) -> bytes:
    """The exact bytes of one token. llama-cpp-python's own helpers use a 32-byte buffer and
    return nothing for longer pieces (runs of '-' or indentation), which would drop text."""
    global _PIECE_BUFFER
    n = llama_c.llama_token_to_piece(vocab, token, _PIECE_BUFFER, len(_PIECE_BUFFER), 0, special)
    if n < 0:
        _PIECE_BUFFER = ctypes.create_string_buffer(-n)
        n = llama_c.llama_token_to_piece(vocab, token, _PIECE_BUFFER, len(_PIECE_BUFFER), 0, special)
    return _PIECE_BUFFER.raw[:max(n, 0)]


def flush_decoder(decoder: codecs.IncrementalDecoder) -> str:
    """What is left in the UTF-8 decoder at the end of a reply. A reply cut by max tokens can end
    inside a character (one of the three bytes of a CJK glyph); those bytes are dropped rather
    than shown as U+FFFD."""
    buffered, _flags = decoder.getstate()
    if buffered:
        decoder.reset()
        return ""
    return decoder.decode(b"", final=True)


class Engine:
    def __init__(self) -> None:
        self.llm: llama_cpp.Llama | None = None
        self.formatter: llama_chat_format.Jinja2ChatFormatter | None = None
        self.info: dict[str, Any] = {}
        self.bos_text = ""
        # LoRA adapters live as long as the model: initialised once per file, keyed by path.
        self.adapters: dict[str, tuple[tuple[int, int], Any]] = {}

    # -- load -------------------------------------------------------------------------------
    def load(self, req: Request) -> dict[str, Any]:
        from studio.core.models.gguf_info import ModelFileError, read_gguf_info
        from studio.core.models.llama_errors import translate_llama_error

        path = str(req.params["path"])
        req.emit("progress", fraction=0.0, stage="checking file")
        try:
            gguf = read_gguf_info(path)
        except ModelFileError as exc:
            raise WorkerError(exc.kind, exc.message) from exc
        # Adapter files are checked before the current model is dropped, like the model file.
        from studio.core.engine.lora import LoraError, check_adapter_file, normalize_adapters
        try:
            wanted_lora = normalize_adapters(req.params.get("lora"))
            for entry in wanted_lora:
                check_adapter_file(entry["path"], gguf.architecture)
        except LoraError as exc:
            raise WorkerError(exc.kind, exc.message) from exc
        req.check_cancelled()

        n_threads = int(req.params.get("n_threads") or default_threads())
        n_gpu_layers = int(req.params.get("n_gpu_layers") or 0)
        last_emit = [0.0]

        @llama_c.llama_progress_callback
        def on_progress(fraction: float, _user: ctypes.c_void_p) -> bool:
            now = time.monotonic()
            if now - last_emit[0] > 0.05 or fraction >= 1.0:
                last_emit[0] = now
                req.emit("progress", fraction=round(0.05 + 0.9 * float(fraction), 3), stage="loading weights")
            return not req.cancelled  # False makes llama.cpp abort the load

        self.unload()
        _LOG.clear()
        started = time.perf_counter()
        default_params = llama_c.llama_model_default_params

        def params_with_progress():  # Llama() has no progress hook of its own
            params = default_params()
            params.progress_callback = on_progress
            return params

        llama_c.llama_model_default_params = params_with_progress
        try:
            llm = llama_cpp.Llama(
                model_path=path, n_ctx=int(req.params.get("n_ctx") or 4096), n_gpu_layers=n_gpu_layers,
                n_threads=n_threads, n_threads_batch=int(req.params.get("n_threads") or physical_cores()), n_batch=int(req.params.get("n_batch") or 512),
                flash_attn=bool(req.params.get("flash_attn")), verbose=False,
            )
        except Exception as exc:
            if req.cancelled:
                raise Cancelled() from exc
            err = translate_llama_error("\n".join(_LOG), path)
            raise WorkerError(err.kind, err.message) from exc
        finally:
            llama_c.llama_model_default_params = default_params
        if req.cancelled:  # Cancel landed after the weights, while the context was being built
            llm.close()
            raise Cancelled()
        req.emit("progress", fraction=0.97, stage="preparing chat template")
        self.llm = llm
        template_source, template_note = self._make_formatter(gguf.chat_template)
        backend, offload, _ = detect_backend()
        n_layers = int(llama_c.llama_model_n_layer(llm._model.model))
        self.info = {
            "path": path,
            # The file name, as the picker and library show it; general.name is often a training tag.
            "name": os.path.splitext(os.path.basename(path))[0],
            "general_name": gguf.name or "",
            "architecture": gguf.architecture,
            "n_ctx": int(llm.n_ctx()),
            "n_ctx_train": int(llm._model.n_ctx_train()),
            "n_layers": n_layers,
            "n_gpu_layers": min(n_layers, n_gpu_layers) if n_gpu_layers >= 0 else n_layers,
            "n_threads": n_threads,
            "template_source": template_source,
            "template_note": template_note,
            "backend": backend if (offload and n_gpu_layers != 0) else "CPU",
            "available_backend": backend,
            "gpu_offload_supported": offload,
            "load_ms": round((time.perf_counter() - started) * 1000, 1),
            "lora": [],
        }
        if wanted_lora:
            req.emit("progress", fraction=0.98, stage="attaching adapters")
            try:
                self._apply_lora(wanted_lora)
            except WorkerError:
                self.unload()  # a half-set-up model would chat without the adapter the user asked for
                raise
        return self.info

    def _make_formatter(self, template: str | None) -> tuple[str, str]:
        assert self.llm is not None
        eos_id = self.llm.token_eos()
        bos_id = self.llm.token_bos()
        eos = self.llm.detokenize([eos_id], special=True).decode("utf-8", "replace") if eos_id >= 0 else ""
        self.bos_text = self.llm.detokenize([bos_id], special=True).decode("utf-8", "replace") if bos_id >= 0 else ""
        if template:
            source, note = "gguf", "chat template from the model file"
        else:
            template = llama_chat_format.CHATML_CHAT_TEMPLATE
            eos = eos or llama_chat_format.CHATML_EOS_TOKEN
            source = "fallback"
            note = "this model has no chat template; using ChatML (<|im_start|>role … <|im_end|>)"
        self.formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=self.bos_text, add_generation_prompt=True)
        self.stop_strings = [s for s in {eos, "<|im_end|>" if source == "fallback" else ""} if s]
        return source, note

    def unload(self, req: Request | None = None) -> dict[str, Any]:
        if self.llm is not None:
            if self.adapters:
                llama_c.llama_set_adapters_lora(self.llm._ctx.ctx, None, 0, None)
                for _key, adapter in self.adapters.values():
                    llama_c.llama_adapter_lora_free(adapter)
            self.adapters.clear()
            self.llm.close()
        self.llm = None
        self.formatter = None
        self.info = {}
        return {}

    # -- prompt -----------------------------------------------------------------------------
    def _require_model(self) -> llama_cpp.Llama:
        if self.llm is None:
            raise WorkerError("no_model", "no model is loaded in the engine")
        return self.llm

    def render(self, messages: list[dict[str, str]]) -> str:
        assert self.formatter is not None
        try:
            return self.formatter(messages=messages).prompt
        except Exception as exc:  # SecurityError, raise_exception() in the template, ...
            first_error = exc
        # Some templates (Gemma's) refuse a system turn: fold it into the first user message.
        if len(messages) > 1 and messages[0]["role"] == "system" and messages[1]["role"] == "user":
            folded = [{"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"},
                      *messages[2:]]
            try:
                return self.formatter(messages=folded).prompt
            except Exception:
                pass
        raise WorkerError("template", f"the chat template could not render this conversation: {first_error}")

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        llm = self._require_model()
        prompt = self.render(messages)
        # Follow the model's own add_bos flag, and never double a BOS the template already wrote.
        add_bos = bool(llm._model.add_bos_token()) and not (self.bos_text and prompt.startswith(self.bos_text))
        return llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    # -- generate ---------------------------------------------------------------------------
    def generate(self, req: Request) -> dict[str, Any]:
        llm = self._require_model()
        received = time.perf_counter()
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in req.params["messages"]]
        s = req.params.get("sampling") or {}
        max_tokens = int(s.get("max_tokens", 512))
        n_ctx = llm.n_ctx()
        reserve = min(max_tokens if max_tokens > 0 else n_ctx // 4, n_ctx // 2)
        cache: dict[int, list[int]] = {}

        def count(kept: list[dict[str, str]]) -> int:
            req.check_cancelled()
            cache[len(kept)] = self.prompt_tokens(kept)
            return len(cache[len(kept)])

        try:
            fit = fit_messages(messages, n_ctx, reserve, count)
        except ContextOverflow as exc:
            raise WorkerError("context_overflow", str(exc)) from exc
        if fit.dropped:
            req.emit("trimmed", dropped=fit.dropped)
        tokens = cache[len(fit.messages)]
        req.emit("prompt", prompt_tokens=len(tokens))
        limit = min(max_tokens if max_tokens > 0 else n_ctx, n_ctx - len(tokens))

        req.check_cancelled()  # Stop pressed while the request waited or the prompt was fitted
        seed = int(s.get("seed", -1))
        llm.set_seed(seed if seed >= 0 else int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF)
        temperature = float(s.get("temperature", 0.7))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = llm._model.vocab
        text, pending, produced = "", "", 0
        first_at: float | None = None
        finish = "length"
        hit_stop_string = False
        for token in llm.generate(tokens, top_k=int(s.get("top_k", 40)), top_p=float(s.get("top_p", 0.95)),
                                  min_p=float(s.get("min_p", 0.05)), temp=temperature,
                                  repeat_penalty=float(s.get("repeat_penalty", 1.1))):
            if first_at is None:
                first_at = time.perf_counter()
            if llama_c.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            produced += 1
            pending += decoder.decode(token_piece(vocab, token, False))
            emit, pending, hit_stop_string = self._split_stop(pending)
            if emit:
                text += emit
                req.emit("token", text=emit)
            if hit_stop_string:
                finish = "stop"
                break
            if req.cancelled:
                finish = "cancelled"
                break
            if produced >= limit:
                break
        if not hit_stop_string:  # text held back as a possible stop string is real text after all
            pending += flush_decoder(decoder)
            if pending:
                text += pending
                req.emit("token", text=pending)
        done = time.perf_counter()
        first_at = first_at or done
        gen_s = done - first_at
        return {
            "text": text,
            "tokens": produced,
            "prompt_tokens": len(tokens),
            "ttft_ms": round((first_at - received) * 1000, 1),
            "tokens_per_s": round((produced - 1) / gen_s, 2) if produced > 1 and gen_s > 0 else 0.0,
            "n_ctx": n_ctx,
            "finish_reason": finish,
            "stopped": finish == "cancelled",
        }

    def _split_stop(self, pending: str) -> tuple[str, str, bool]:
        """Hold back text that could be the start of a stop string; cut at a full one."""
        for stop in self.stop_strings:
            at = pending.find(stop)
            if at >= 0:
                return pending[:at], "", True
        hold = 0
        for stop in self.stop_strings:
            for size in range(min(len(stop) - 1, len(pending)), 0, -1):
                if pending.endswith(stop[:size]):
                    hold = max(hold, size)
                    break
        return (pending[:-hold], pending[-hold:], False) if hold else (pending, "", False)

    # -- LoRA adapters ----------------------------------------------------------------------
    def set_lora(self, req: Request) -> dict[str, Any]:
        self._require_model()
        self._apply_lora(req.params.get("adapters") or [])
        return self.info

    def _apply_lora(self, wanted: Any) -> None:
        """Make exactly `wanted` ([{path, scale}], [] = none) the active adapters."""
        from studio.core.engine.lora import LoraError, normalize_adapters

        llm = self._require_model()
        try:
            adapters = normalize_adapters(wanted)
        except LoraError as exc:
            raise WorkerError(exc.kind, exc.message) from exc
        seen = set()
        for entry in adapters:
            if entry["path"] in seen:
                raise WorkerError("bad_request", f"{os.path.basename(entry['path'])} is attached twice; "
                                                 "use one entry with the combined scale")
            seen.add(entry["path"])
        pointers = [self._adapter(entry["path"]) for entry in adapters]
        count = len(pointers)
        array = (llama_c.llama_adapter_lora_p_ctypes * count)(*pointers) if count else None
        scales = (ctypes.c_float * count)(*[e["scale"] for e in adapters]) if count else None
        if llama_c.llama_set_adapters_lora(llm._ctx.ctx, array, count, scales) != 0:
            raise WorkerError("lora_failed", "llama.cpp refused to set the adapters on this model")
        self._forget_prompt_cache()  # the cached prompt was computed with the old weights
        self.info["lora"] = [{"path": e["path"], "scale": e["scale"],
                              "name": os.path.splitext(os.path.basename(e["path"]))[0]} for e in adapters]

    def _adapter(self, path: str) -> Any:
        """The llama.cpp adapter for a file, initialised once (again if the file changed on disk)."""
        from studio.core.engine.lora import LoraError, check_adapter_file, translate_lora_error

        llm = self._require_model()
        try:
            check_adapter_file(path, self.info.get("architecture"))
            stat = os.stat(path)
        except LoraError as exc:
            raise WorkerError(exc.kind, exc.message) from exc
        key = (stat.st_size, stat.st_mtime_ns)
        cached = self.adapters.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        _LOG.clear()
        adapter = llama_c.llama_adapter_lora_init(llm._model.model, path.encode("utf-8"))
        if not adapter:
            raise WorkerError("lora_mismatch", translate_lora_error("\n".join(_LOG), path))
        if cached is not None:  # the file was re-exported; the old copy may still be active, free it at unload
            self.adapters[f"{path}#stale-{len(self.adapters)}"] = cached
        self.adapters[path] = (key, adapter)
        return adapter

    def _forget_prompt_cache(self) -> None:
        """Drop the KV cache and llama-cpp-python's record of it, so the next generate re-reads."""
        llm = self._require_model()
        llama_c.llama_memory_clear(llama_c.llama_get_memory(llm._ctx.ctx), True)
        llm.n_tokens = 0

    # -- logits: perplexity and next-token view -------------------------------------------
    def _text_tokens(self, text: str) -> list[int]:
        llm = self._require_model()
        add_bos = bool(llm._model.add_bos_token()) and not (self.bos_text and text.startswith(self.bos_text))
        return llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _decode(self, tokens: list[int], start: int, all_logits: bool) -> Any:
        """Decode tokens at positions start.. and return their logits (rows, n_vocab) or the last row."""
        llm = self._require_model()
        llm._batch.set_batch(batch=tokens, n_past=start, logits_all=all_logits)
        try:
            llm._ctx.decode(llm._batch)
        except RuntimeError as exc:
            raise WorkerError("decode_failed", f"llama.cpp could not evaluate the text ({exc})") from exc
        rows = len(tokens) if all_logits else 1
        pointer = llama_c.llama_get_logits(llm._ctx.ctx) if all_logits else llama_c.llama_get_logits_ith(llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(rows, llm.n_vocab()))

    def perplexity(self, req: Request) -> dict[str, Any]:
        """Mean next-token negative log-likelihood over texts, with the adapters as currently set."""
        llm = self._require_model()
        texts = [str(t) for t in req.params.get("texts") or []]
        if not texts:
            raise WorkerError("bad_request", "perplexity needs at least one text")
        limit = min(int(req.params.get("max_tokens_per_text") or llm.n_ctx()), llm.n_ctx())
        encoded = []
        for text in texts:
            ids = self._text_tokens(text)
            encoded.append((ids[:limit], len(ids) > limit))
        total = sum(max(0, len(ids) - 1) for ids, _ in encoded) or 1
        n_batch = max(1, int(llm.n_batch))
        done, last_emit = 0, 0.0
        per_text, nll_sum, counted = [], 0.0, 0
        req.emit("progress", fraction=0.0, tokens=0, total_tokens=total)
        try:
            for index, (ids, truncated) in enumerate(encoded):
                self._forget_prompt_cache()
                text_nll, scored = 0.0, 0
                for start in range(0, max(0, len(ids) - 1), n_batch):
                    req.check_cancelled()
                    chunk = ids[start:start + n_batch]
                    logits = self._decode(chunk, start, True).astype(np.float64)
                    targets = np.asarray(ids[start + 1:start + len(chunk) + 1])
                    rows = logits[:len(targets)]
                    peak = rows.max(axis=1)
                    log_z = peak + np.log(np.exp(rows - peak[:, None]).sum(axis=1))
                    text_nll += float((log_z - rows[np.arange(len(targets)), targets]).sum())
                    scored += len(targets)
                    done += len(targets)
                    now = time.monotonic()
                    if now - last_emit > 0.1:
                        last_emit = now
                        req.emit("progress", fraction=round(done / total, 4), tokens=done, total_tokens=total)
                per_text.append({"index": index, "tokens": scored, "truncated": truncated,
                                 "nll": text_nll / scored if scored else None,
                                 "ppl": float(np.exp(text_nll / scored)) if scored else None})
                nll_sum += text_nll
                counted += scored
        finally:
            self._forget_prompt_cache()
        req.emit("progress", fraction=1.0, tokens=done, total_tokens=total)
        if not counted:
            raise WorkerError("bad_request", "the texts are too short to measure (each needs at least two tokens)")
        mean = nll_sum / counted
        return {"ppl": float(np.exp(mean)), "nll": mean, "tokens": counted, "per_text": per_text,
                "lora": self.info.get("lora", [])}

    def next_logits(self, req: Request) -> dict[str, Any]:
        """The next-token distribution after a text, a conversation (rendered with the model's
        template, ready for the reply) or token ids: the top_k tokens and any ids asked for.
        With `full`, the whole logits vector comes too (base64 float32 little-endian), so the
        client can reshape it (temperature, top-p) without asking again."""
        llm = self._require_model()
        if req.params.get("tokens") is not None:
            tokens = [int(t) for t in req.params["tokens"]]
        elif req.params.get("messages") is not None:
            tokens = self.prompt_tokens([{"role": str(m["role"]), "content": str(m["content"])}
                                         for m in req.params["messages"]])
        else:
            tokens = self._text_tokens(str(req.params.get("text", "")))
        if not tokens:
            raise WorkerError("bad_request", "next_logits needs a non-empty text")
        if len(tokens) > llm.n_ctx():
            raise WorkerError("context_overflow", f"the text has {len(tokens)} tokens, more than the context "
                                                  f"({llm.n_ctx()}); load the model with a longer context")
        n_vocab = int(llm.n_vocab())
        bad = [t for t in tokens if not 0 <= t < n_vocab]
        if bad:  # llama.cpp aborts the whole process on an out-of-range id
            raise WorkerError("bad_request", f"token id {bad[0]} is not in this model's vocabulary (0..{n_vocab - 1})")
        n_batch = max(1, int(llm.n_batch))
        self._forget_prompt_cache()
        try:
            for start in range(0, len(tokens), n_batch):
                req.check_cancelled()
                logits = self._decode(tokens[start:start + n_batch], start, False)
            raw = np.array(logits[-1], dtype="<f4")  # a copy: llama.cpp reuses its buffer
        finally:
            self._forget_prompt_cache()
        logits = raw.astype(np.float64)
        peak = logits.max()
        logprobs = logits - (peak + np.log(np.exp(logits - peak).sum()))
        top_k = max(1, min(int(req.params.get("top_k", 10)), len(logits)))
        top = np.argpartition(-logprobs, top_k - 1)[:top_k]
        top = top[np.lexsort((top, -logprobs[top]))]  # best first; equal logits by id, as a stable sort would
        vocab = llm._model.vocab

        def describe(token: int) -> dict[str, Any]:
            piece = token_piece(vocab, int(token), True)
            return {"id": int(token), "piece": piece.decode("utf-8", "replace"), "piece_hex": piece.hex(),
                    "logprob": float(logprobs[token]), "logit": float(logits[token])}

        result: dict[str, Any] = {"tokens": [describe(t) for t in top], "n_vocab": int(len(logits)),
                                  "n_prompt_tokens": len(tokens), "prompt_ids": tokens,
                                  "lora": self.info.get("lora", [])}
        if req.params.get("ids"):
            result["requested"] = [describe(int(t)) for t in req.params["ids"] if 0 <= int(t) < len(logits)]
        if req.params.get("full"):
            result["logits_b64"] = base64.b64encode(raw.tobytes()).decode("ascii")
        return result

    # -- small ops --------------------------------------------------------------------------
    def tokenize(self, req: Request) -> dict[str, Any]:
        llm = self._require_model()
        ids = llm.tokenize(str(req.params["text"]).encode("utf-8"), add_bos=bool(req.params.get("add_special", True)),
                           special=bool(req.params.get("parse_special", True)))
        pieces = [token_piece(llm._model.vocab, t, True) for t in ids]
        return {"ids": ids, "pieces_hex": [p.hex() for p in pieces]}

    def system_info(self, req: Request) -> dict[str, Any]:
        backend, offload, report = detect_backend()
        return {"backend": backend, "gpu_offload_supported": offload, "report": report,
                "llama_cpp_version": getattr(llama_cpp, "__version__", "?"), "physical_cores": physical_cores(),
                "default_threads": default_threads()}

    def ping(self, req: Request) -> dict[str, Any]:
        if req.params.get("crash"):  # lets tests simulate a hard crash inside the worker
            os._exit(int(req.params["crash"]))
        return {"pid": os.getpid(), "loaded": self.llm is not None}


def main() -> None:
    engine = Engine()
    serve({
        "load": engine.load, "unload": engine.unload, "generate": engine.generate,
        "tokenize": engine.tokenize, "set_lora": engine.set_lora, "perplexity": engine.perplexity,
        "next_logits": engine.next_logits,
        "system_info": engine.system_info, "ping": engine.ping,
    }, name="engine")


if __name__ == "__main__":
    main()
