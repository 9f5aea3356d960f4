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
import tempfile
import time
from dataclasses import asdict
from typing import Any

from studio.core import hardware
from studio.core.engine.context import ContextOverflow, fit_messages
from studio.core.engine.client import (AttentionFile, AttentionParams, EmbedParams, EmbedResult, GenerateParams, GenerateResult, LensParams,
                                       LensResult, LoadParams, ModelInfo, NextLogitsParams, NextLogitsResult, PerplexityParams, PerplexityResult, SetLoraParams,
                                       TokenizeParams, TokenizeResult)
from studio.core.engine.llama import capture_log, clear_log, detect_backend, flush_decoder, recent_log, token_piece
from studio.core.engine.render import RenderOps
from studio.core.engine import thinking
from studio.core.engine.lora import check_adapter_file, normalize_adapters, translate_lora_error
from studio.core.engine import structured
from studio.core.workers.protocol import Cancelled, Request, Worker, WorkerError, operation

import llama_cpp  # noqa: E402  (after our imports so a missing build reports cleanly below)
from llama_cpp import llama_chat_format
from llama_cpp import llama_cpp as llama_c
from studio.core.engine import lookup  # noqa: E402  (imports llama_cpp)
import numpy as np  # llama_cpp depends on it already


class Engine(RenderOps, Worker):
    name = "engine"

    def __init__(self) -> None:
        self.llm: llama_cpp.Llama | None = None
        self.formatter: llama_chat_format.Jinja2ChatFormatter | None = None
        self.info: ModelInfo | None = None
        self.bos_text = ""
        self.stop_strings: list[str] = []
        self.thinking_switch = False  # the template reads enable_thinking
        # LoRA adapters live as long as the model: initialised once per file, keyed by path.
        self.adapters: dict[str, tuple[tuple[int, int], Any]] = {}
        self.output_head: Any = None   # the lens's final norm + output matrix reader, for the loaded model
        self.embedder: Any = None      # the embeddings context on the loaded model (embed.Embedder), made on first use

    # -- load -------------------------------------------------------------------------------
    @operation(LoadParams)
    def load(self, req: Request[LoadParams]) -> dict[str, Any]:
        from studio.core.models.gguf_info import read_gguf_info

        params = req.params
        req.progress(0.0, "checking file")
        gguf = read_gguf_info(params.path)
        # Adapter files are checked before the current model is dropped, like the model file.
        wanted_lora = normalize_adapters(params.lora)
        for entry in wanted_lora:
            check_adapter_file(entry["path"], gguf.architecture)
        req.check_cancelled()

        self.unload()
        started = time.perf_counter()
        llm = self._open(req)
        req.progress(0.97, "preparing chat template")
        self.llm = llm
        template_source, template_note = self._make_formatter(gguf.chat_template)
        backend, offload, _ = detect_backend()
        n_layers = int(llama_c.llama_model_n_layer(llm._model.model))
        n_gpu_layers = params.n_gpu_layers or 0
        self.info = ModelInfo(
            path=params.path,
            # The file name, as the picker and library show it; general.name is often a training tag.
            name=os.path.splitext(os.path.basename(params.path))[0], general_name=gguf.name or "",
            architecture=gguf.architecture, n_ctx=int(llm.n_ctx()), n_ctx_train=int(llm._model.n_ctx_train()),
            n_layers=n_layers, n_gpu_layers=min(n_layers, n_gpu_layers) if n_gpu_layers >= 0 else n_layers,
            n_threads=params.n_threads or hardware.generation_threads(),
            template_source=template_source, template_note=template_note, thinking_switch=self.thinking_switch,
            backend=backend if (offload and n_gpu_layers != 0) else "CPU", available_backend=backend,
            gpu_offload_supported=offload, load_ms=round((time.perf_counter() - started) * 1000, 1), lora=[],
            n_embd=int(llama_c.llama_model_n_embd(llm._model.model)))
        if wanted_lora:
            req.progress(0.98, "attaching adapters")
            try:
                self._apply_lora(wanted_lora)
            except Exception:
                self.unload()  # a half-set-up model would chat without the adapter the user asked for
                raise
        return asdict(self.info)

    def _open(self, req: Request[LoadParams]) -> llama_cpp.Llama:
        """llama.cpp's model and context, reporting progress; a cancel aborts the weights' load."""
        from studio.core.models.llama_errors import translate_llama_error

        params = req.params

        @llama_c.llama_progress_callback
        def on_progress(fraction: float, _user: ctypes.c_void_p) -> bool:
            req.progress(0.05 + 0.9 * float(fraction), "loading weights")
            return not req.cancelled  # False makes llama.cpp abort the load

        default_params = llama_c.llama_model_default_params

        def params_with_progress() -> Any:  # Llama() has no progress hook of its own
            model_params = default_params()
            model_params.progress_callback = on_progress
            return model_params

        clear_log()
        llama_c.llama_model_default_params = params_with_progress
        try:
            llm = llama_cpp.Llama(
                model_path=params.path, n_ctx=params.n_ctx or 4096, n_gpu_layers=params.n_gpu_layers or 0,
                n_threads=params.n_threads or hardware.generation_threads(),
                n_threads_batch=params.n_threads or hardware.prompt_threads(), n_batch=params.n_batch or 512,
                flash_attn=bool(params.flash_attn), verbose=False)
        except Exception as exc:
            if req.cancelled:
                raise Cancelled() from exc
            err = translate_llama_error(recent_log(), params.path)
            raise WorkerError(err.kind, err.message) from exc
        finally:
            llama_c.llama_model_default_params = default_params
        if req.cancelled:  # Cancel landed after the weights, while the context was being built
            llm.close()
            raise Cancelled()
        return llm

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
        self.thinking_switch = thinking.has_switch(template)
        self.stop_strings = [s for s in {eos, "<|im_end|>" if source == "fallback" else ""} if s]
        return source, note

    @operation()
    def unload(self, req: Request[Any] | None = None) -> dict[str, Any]:
        if self.embedder is not None:  # its context uses the model and the adapters: freed first
            self.embedder.close()
            self.embedder = None
        if self.llm is not None:
            if self.adapters:
                llama_c.llama_set_adapters_lora(self.llm._ctx.ctx, None, 0, None)
                for _key, adapter in self.adapters.values():
                    llama_c.llama_adapter_lora_free(adapter)
            self.adapters.clear()
            self.llm.close()
        self.llm = None
        self.formatter = None
        self.info = None
        self.output_head = None
        return {}

    # -- prompt -----------------------------------------------------------------------------
    def _require_model(self) -> llama_cpp.Llama:
        if self.llm is None:
            raise WorkerError("no_model", "no model is loaded in the engine")
        return self.llm

    # -- generate ---------------------------------------------------------------------------
    @operation(GenerateParams)
    def generate(self, req: Request[GenerateParams]) -> GenerateResult:
        llm = self._require_model()
        received = time.perf_counter()
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in req.params.messages]
        s = req.params.sampling or {}
        max_tokens = int(s.get("max_tokens", 512))
        n_ctx = llm.n_ctx()
        reserve = min(max_tokens if max_tokens > 0 else n_ctx // 4, n_ctx // 2)
        cache: dict[int, list[int]] = {}

        def count(kept: list[dict[str, str]]) -> int:
            req.check_cancelled()
            cache[len(kept)] = self.prompt_tokens(kept, req.params.thinking)
            return len(cache[len(kept)])

        if req.params.grammar and req.params.thinking is None and req.params.prompt is None:
            req.params.thinking = thinking.under_grammar(self.thinking_switch, self.render(messages))
        opened = False
        if req.params.prompt is not None:  # a raw continuation: no template, nothing to trim
            tokens = self._text_tokens(req.params.prompt)
            if len(tokens) >= n_ctx:
                raise WorkerError("context_overflow", f"the prompt is {len(tokens):,} tokens; the context holds "
                                                      f"{n_ctx:,}")
        else:
            try:
                fit = fit_messages(messages, n_ctx, reserve, count)
            except ContextOverflow as exc:
                raise WorkerError("context_overflow", str(exc)) from exc
            if fit.dropped:
                req.emit("trimmed", dropped=fit.dropped)
            tokens = cache[len(fit.messages)]
            opened = thinking.opens_thinking(self.render(fit.messages, req.params.thinking))
        req.emit("prompt", prompt_tokens=len(tokens), thinking_open=opened)
        tracker, thought_at = thinking.ThinkTracker(opened), 0.0  # thinking's tokens and end, as it streams
        stops = [*self.stop_strings, *(str(x) for x in (req.params.stop or []) if x)]
        grammar = None
        if req.params.grammar:
            # Parsed here first: a grammar llama.cpp rejects would reach the sampler chain as null (a segfault).
            problem = structured.grammar_problem(req.params.grammar, llm._model.vocab)
            if problem:
                raise WorkerError("bad_grammar", problem)
            grammar = llama_cpp.LlamaGrammar.from_string(req.params.grammar, verbose=False)
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
        drafts = lookup.LookupStats()  # prompt-lookup drafting: same tokens, fewer decode steps
        for token in lookup.stream(llm, tokens, req.params.lookup, drafts, top_k=int(s.get("top_k", 40)),
                                   top_p=float(s.get("top_p", 0.95)), min_p=float(s.get("min_p", 0.05)),
                                   temp=temperature, repeat_penalty=float(s.get("repeat_penalty", 1.1)),
                                   grammar=grammar):
            if first_at is None:
                first_at = time.perf_counter()
            if llama_c.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            produced += 1
            piece = decoder.decode(token_piece(vocab, token, False))
            pending += piece
            tracker.feed(piece)
            if tracker.closed and not thought_at:
                thought_at = time.perf_counter()
            emit, pending, hit_stop_string = self._split_stop(pending, stops)
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
            "cancelled": finish == "cancelled",  # the protocol's rule: the reply so far, flagged
            "drafted": drafts.drafted, "accepted": drafts.accepted, "lookup_gave_up": drafts.gave_up,
            "thinking_open": opened, "thinking_tokens": tracker.thinking_chunks if tracker.seen else 0,
            "thinking_ms": round(((thought_at or done) - first_at) * 1000, 1) if tracker.seen else 0.0,
        }

    def _split_stop(self, pending: str, stops: list[str] | None = None) -> tuple[str, str, bool]:
        """Hold back text that could be the start of a stop string; cut at a full one."""
        stops = self.stop_strings if stops is None else stops
        for stop in stops:
            at = pending.find(stop)
            if at >= 0:
                return pending[:at], "", True
        hold = 0
        for stop in stops:
            for size in range(min(len(stop) - 1, len(pending)), 0, -1):
                if pending.endswith(stop[:size]):
                    hold = max(hold, size)
                    break
        return (pending[:-hold], pending[-hold:], False) if hold else (pending, "", False)

    # -- LoRA adapters ----------------------------------------------------------------------
    @operation(SetLoraParams)
    def set_lora(self, req: Request[SetLoraParams]) -> dict[str, Any]:
        self._require_model()
        self._apply_lora(req.params.adapters or [])
        assert self.info is not None
        return asdict(self.info)

    def _apply_lora(self, wanted: Any) -> None:
        """Make exactly `wanted` ([{path, scale}], [] = none) the active adapters."""
        llm = self._require_model()
        adapters = normalize_adapters(wanted)
        seen = set()
        for entry in adapters:
            if entry["path"] in seen:
                raise WorkerError("bad_request", f"{os.path.basename(entry['path'])} is attached twice; "
                                                 "use one entry with the combined scale")
            seen.add(entry["path"])
        self._set_context_adapters(adapters)
        self._forget_prompt_cache()  # the cached prompt was computed with the old weights
        lookup.forget(llm)  # batch exactness is measured per set of weights
        assert self.info is not None
        self.info.lora = [{"path": e["path"], "scale": e["scale"],
                              "name": os.path.splitext(os.path.basename(e["path"]))[0]} for e in adapters]

    def _set_context_adapters(self, adapters: list[dict[str, Any]]) -> None:
        """Set exactly these adapters ([{path, scale}]) on the generation context."""
        llm = self._require_model()
        pointers = [self._adapter(entry["path"]) for entry in adapters]
        count = len(pointers)
        array = (llama_c.llama_adapter_lora_p_ctypes * count)(*pointers) if count else None
        scales = (ctypes.c_float * count)(*[e["scale"] for e in adapters]) if count else None
        if llama_c.llama_set_adapters_lora(llm._ctx.ctx, array, count, scales) != 0:
            raise WorkerError("lora_failed", "llama.cpp refused to set the adapters on this model")

    def _adapter(self, path: str) -> Any:
        """The llama.cpp adapter for a file, initialised once (again if the file changed on disk)."""
        llm = self._require_model()
        check_adapter_file(path, self.info.architecture if self.info else None)
        stat = os.stat(path)
        key = (stat.st_size, stat.st_mtime_ns)
        cached = self.adapters.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        clear_log()
        adapter = llama_c.llama_adapter_lora_init(llm._model.model, path.encode("utf-8"))
        if not adapter:
            raise WorkerError("lora_mismatch", translate_lora_error(recent_log(), path))
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

    @operation(PerplexityParams)
    def perplexity(self, req: Request[PerplexityParams]) -> PerplexityResult:
        """Mean next-token negative log-likelihood over texts, with the adapters as currently set."""
        llm = self._require_model()
        texts = [str(t) for t in req.params.texts or []]
        if not texts:
            raise WorkerError("bad_request", "perplexity needs at least one text")
        limit = min(int(req.params.max_tokens_per_text or llm.n_ctx()), llm.n_ctx())
        encoded = []
        for text in texts:
            ids = self._text_tokens(text)
            encoded.append((ids[:limit], len(ids) > limit))
        total = sum(max(0, len(ids) - 1) for ids, _ in encoded) or 1
        n_batch = max(1, int(llm.n_batch))
        done = 0
        per_text, nll_sum, counted = [], 0.0, 0
        req.progress(0.0, "scoring", tokens=0, total_tokens=total)
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
                    req.progress(done / total, "scoring", tokens=done, total_tokens=total)
                per_text.append({"index": index, "tokens": scored, "truncated": truncated,
                                 "nll": text_nll / scored if scored else None,
                                 "ppl": float(np.exp(text_nll / scored)) if scored else None})
                nll_sum += text_nll
                counted += scored
        finally:
            self._forget_prompt_cache()
        req.progress(1.0, "scoring", tokens=done, total_tokens=total)
        if not counted:
            raise WorkerError("bad_request", "the texts are too short to measure (each needs at least two tokens)")
        mean = nll_sum / counted
        return {"ppl": float(np.exp(mean)), "nll": mean, "tokens": counted, "per_text": per_text,
                "lora": self._lora()}

    @operation(NextLogitsParams)
    def next_logits(self, req: Request[NextLogitsParams]) -> NextLogitsResult:
        """The next-token distribution after a text, a conversation (rendered with the model's
        template, ready for the reply) or token ids: the top_k tokens and any ids asked for.
        With `full`, the whole logits vector comes too (base64 float32 little-endian), so the
        client can reshape it (temperature, top-p) without asking again."""
        llm = self._require_model()
        params = req.params
        if params.tokens is not None:
            tokens = [int(t) for t in params.tokens]
        elif params.messages is not None:
            tokens = self.prompt_tokens([{"role": str(m["role"]), "content": str(m["content"])}
                                         for m in params.messages])
        else:
            tokens = self._text_tokens(str(params.text or ""))
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
        if params.base:
            self._set_context_adapters([])
        try:
            for start in range(0, len(tokens), n_batch):
                req.check_cancelled()
                logits = self._decode(tokens[start:start + n_batch], start, False)
            raw = np.array(logits[-1], dtype="<f4")  # a copy: llama.cpp reuses its buffer
        finally:
            if params.base:
                self._set_context_adapters(self._lora())
            self._forget_prompt_cache()
        logits = raw.astype(np.float64)
        peak = logits.max()
        logprobs = logits - (peak + np.log(np.exp(logits - peak).sum()))
        top_k = max(1, min(int(params.top_k), len(logits)))
        top = np.argpartition(-logprobs, top_k - 1)[:top_k]
        top = top[np.lexsort((top, -logprobs[top]))]  # best first; equal logits by id, as a stable sort would
        vocab = llm._model.vocab

        def describe(token: int) -> dict[str, Any]:
            piece = token_piece(vocab, int(token), True)
            return {"id": int(token), "piece": piece.decode("utf-8", "replace"), "piece_hex": piece.hex(),
                    "logprob": float(logprobs[token]), "logit": float(logits[token])}

        result: NextLogitsResult = {"tokens": [describe(t) for t in top], "n_vocab": int(len(logits)),
                                    "n_prompt_tokens": len(tokens), "prompt_ids": tokens,
                                    "lora": [] if params.base else self._lora()}
        if params.ids:
            result["requested"] = [describe(int(t)) for t in params.ids if 0 <= int(t) < len(logits)]
        if params.full:
            result["logits_b64"] = base64.b64encode(raw.tobytes()).decode("ascii")
        return result

    # -- attention from llama.cpp itself ------------------------------------------------------
    @operation(AttentionParams)
    def attention(self, req: Request[AttentionParams]) -> AttentionFile:
        """Attention of every (or the chosen) layer over a prompt, read through llama.cpp's eval
        callback on a separate context sharing the loaded weights and adapters; written to an .npz
        shaped like the torch analyser's (weights float16 [layers, heads, T, T], ids, tokens)."""
        from studio.core.engine.capture import AttentionCapture, CaptureCancelled

        llm = self._require_model()
        params = req.params
        started = time.perf_counter()
        ids, truncated_from = self._inspect_ids(params)
        model = llm._model.model
        n_layers = int(llama_c.llama_model_n_layer(model))
        n_heads = int(llama_c.llama_model_n_head(model))
        n = len(ids)
        n_wanted = len(set(params.layers)) if params.layers else n_layers
        need = n_wanted * n_heads * n * n * 6  # float32 while capturing, float16 kept
        if need > ATTENTION_LIMIT_BYTES:
            raise WorkerError("too_long", f"attention for {n} tokens would need about {need / (1 << 30):.1f} GB "
                                          "of memory; use fewer tokens or fewer layers")
        req.progress(0.0, "attention")
        adapters = self._capture_adapters(params.base)
        try:
            with AttentionCapture(model, n_tokens=n, n_layers=n_layers, n_heads=n_heads, layers=params.layers,
                                  n_threads=int(llm.context_params.n_threads_batch),  # prompt threads
                                  n_ubatch=int(params.n_ubatch or 512), cancelled=lambda: req.cancelled,
                                  progress=lambda f: req.progress(0.95 * f, "attention"),
                                  adapters=adapters) as capture:
                weights = capture.run(ids)
                layers = capture.layers
        except CaptureCancelled:
            raise Cancelled() from None
        req.check_cancelled()
        req.progress(0.95, "write")
        vocab = llm._model.vocab
        labels = [_label(token_piece(vocab, t, True)) for t in ids]
        folder = params.out_dir or os.path.join(tempfile.gettempdir(), "studio-engine-attention")
        path = os.path.join(folder, f"attention-{os.getpid()}-{time.time_ns()}.npz")
        partial = path + ".partial"
        try:
            os.makedirs(folder, exist_ok=True)
            with open(partial, "wb") as handle:  # a file object: np.savez would append ".npz" to a name
                np.savez(handle, weights=weights, ids=np.asarray(ids, dtype=np.int64),
                         tokens=np.asarray(labels, dtype=np.str_))
            os.replace(partial, path)
        except OSError as exc:
            if os.path.exists(partial):
                os.unlink(partial)
            raise WorkerError("write", f"could not write the attention file in {folder}: "
                                       f"{exc.strerror or exc}") from None
        req.progress(1.0, "write")
        return {"path": path, "n_tokens": n, "n_layers": len(layers), "n_heads": n_heads, "layers": layers,
                "ids": ids, "labels": labels, "truncated_from": truncated_from,
                "seconds": round(time.perf_counter() - started, 3), "lora": [] if params.base else self._lora()}

    def _inspect_ids(self, params: AttentionParams | LensParams) -> tuple[list[int], int | None]:
        """The prompt's token ids (cut at max_tokens) and the length they were cut from, if cut."""
        llm = self._require_model()
        if params.tokens is not None:
            ids = [int(t) for t in params.tokens]
        elif params.chat:
            ids = self.prompt_tokens([{"role": "user", "content": str(params.text or "")}])
        else:
            ids = self._text_tokens(str(params.text or "")) if params.text else []
        if not ids:
            raise WorkerError("empty", "nothing to analyse: the text is empty")
        n_vocab = int(llm.n_vocab())
        bad = [t for t in ids if not 0 <= t < n_vocab]
        if bad:  # llama.cpp aborts the whole process on an out-of-range id
            raise WorkerError("bad_request", f"token id {bad[0]} is not in this model's vocabulary (0..{n_vocab - 1})")
        if params.max_tokens and 0 < params.max_tokens < len(ids):
            return ids[:params.max_tokens], len(ids)
        return ids, None

    def _capture_adapters(self, base: bool) -> list[tuple[Any, float]]:
        """The attached adapters for a capture context; none for the base model."""
        return [] if base else [(self._adapter(entry["path"]), float(entry["scale"])) for entry in self._lora()]

    # -- the logit lens from llama.cpp itself -------------------------------------------------
    @operation(LensParams)
    def logit_lens(self, req: Request[LensParams]) -> LensResult:
        """Each layer's output (and the input embeddings) at the last positions, read through the
        eval callback and decoded with the model's final norm and output matrix (from the GGUF)."""
        from studio.core.engine.capture import CaptureCancelled, CaptureError
        from studio.core.engine.lens import HiddenCapture, OutputHead, top_of

        llm = self._require_model()
        assert self.info is not None
        params = req.params
        started = time.perf_counter()
        ids, truncated_from = self._inspect_ids(params)
        n = len(ids)
        first = max(0, n - int(params.positions)) if params.positions else 0
        model = llm._model.model
        n_layers = int(llama_c.llama_model_n_layer(model))
        n_embd = int(llama_c.llama_model_n_embd(model))
        n_vocab = int(llm.n_vocab())
        req.progress(0.0, "forward")
        try:
            if self.output_head is None or self.output_head.path != self.info.path:
                self.output_head = OutputHead(self.info.path)
            head = self.output_head
            if head.n_vocab != n_vocab or head.n_embd != n_embd:
                raise WorkerError("no_lens", f"the model's output matrix is {head.n_vocab}×{head.n_embd}, not "
                                             f"{n_vocab}×{n_embd}; this architecture has no logit lens here")
            with HiddenCapture(model, n_tokens=n, n_layers=n_layers, n_embd=n_embd, first=first,
                               n_threads=int(llm.context_params.n_threads_batch),
                               n_ubatch=int(params.n_ubatch or 512), cancelled=lambda: req.cancelled,
                               progress=lambda f: req.progress(0.5 * f, "forward"),
                               adapters=self._capture_adapters(params.base)) as capture:
                hidden, engine_logits = capture.run(ids, n_vocab)
            top = head.decode(hidden, params.top_k, cancelled=lambda: req.cancelled,
                              progress=lambda f: req.progress(0.5 + 0.5 * f, "lens"))
        except CaptureCancelled:
            raise Cancelled() from None
        except CaptureError as exc:
            raise WorkerError(exc.kind, exc.message) from None
        vocab = llm._model.vocab
        pieces: dict[int, str] = {}

        def token(token_id: int, logprob: float) -> dict[str, Any]:
            if token_id not in pieces:
                pieces[token_id] = token_piece(vocab, token_id, True).decode("utf-8", "replace")
            return {"id": int(token_id), "piece": pieces[token_id], "prob": float(np.exp(logprob))}

        top1 = [[token(int(i), float(lp)) for i, lp in zip(ids_row, lp_row)]
                for ids_row, lp_row in zip(top.best_ids, top.best_logprobs)]
        last = [[token(int(i), float(lp)) for i, lp in zip(ids_row, lp_row)]
                for ids_row, lp_row in zip(top.last_ids, top.last_logprobs)]
        # The output entry is llama.cpp's own distribution (as the torch lens uses the model's logits);
        # the decoded last layer says how faithful the decoding of the other layers is.
        decoded = {t["id"]: t["prob"] for t in last[-1]}
        engine_top = [top_of(row, params.top_k) for row in engine_logits]
        top1[-1] = [token(int(i[0]), float(lp[0])) for i, lp in engine_top]
        last[-1] = [token(int(i), float(lp)) for i, lp in zip(*engine_top[-1])]
        error = max(abs(decoded.get(t["id"], 0.0) - t["prob"]) for t in last[-1])
        labels = [_label(token_piece(vocab, t, True)) for t in ids]
        req.progress(1.0, "lens")
        return {"ids": ids, "labels": labels, "layer_names": ["embeddings"] + [f"layer {i}" for i in range(1, n_layers + 1)],
                "top1": top1, "last": last, "final": last[-1], "first_position": first,
                "truncated_from": truncated_from, "max_prob_error": float(error),
                "seconds": round(time.perf_counter() - started, 3),
                "lora": [] if params.base else self._lora(), "base": bool(params.base)}

    # -- embeddings ---------------------------------------------------------------------------
    @operation(EmbedParams)
    def embed(self, req: Request[EmbedParams]) -> EmbedResult:
        """One normalized vector per text (or token-id list), pooled over its tokens, from the
        embeddings context (made on first use, larger when a longer text comes) with the adapters
        attached now."""
        from studio.core.engine.embed import EmbedCancelled, EmbedError, Embedder, context_size

        llm = self._require_model()
        started = time.perf_counter()
        params = req.params
        if params.tokens is not None:
            sequences = [[int(t) for t in ids] for ids in params.tokens]
        else:
            sequences = []
            for text in params.texts or []:
                req.check_cancelled()
                sequences.append(self._text_tokens(str(text)) if text else [])
        if not sequences:
            raise WorkerError("bad_request", "there is nothing to embed: give at least one text")
        n_ctx, n_vocab = int(llm.n_ctx()), int(llm.n_vocab())
        for index, ids in enumerate(sequences):
            which = f"text {index}" if len(sequences) > 1 else "the text"
            if not ids:
                raise WorkerError("bad_request", f"{which} is empty; every input needs at least one token")
            if len(ids) > n_ctx:
                raise WorkerError("context_overflow", f"{which} is {len(ids):,} tokens, more than the model's "
                                                      f"context of {n_ctx:,}; shorten it or split it")
            bad = next((t for t in ids if not 0 <= t < n_vocab), None)
            if bad is not None:  # llama.cpp aborts the whole process on an out-of-range id
                raise WorkerError("bad_request", f"token id {bad} in {which} is not in this model's vocabulary "
                                                 f"(0..{n_vocab - 1})")
        size = context_size(max(len(ids) for ids in sequences), n_ctx)
        try:
            if self.embedder is None or self.embedder.n_ctx < size:
                if self.embedder is not None:
                    self.embedder.close()
                    self.embedder = None
                self.embedder = Embedder(llm._model.model, n_ctx=size,
                                         n_threads=int(llm.context_params.n_threads_batch))
            self.embedder.set_adapters(self._capture_adapters(False))
            total = len(sequences)
            vectors = self.embedder.embed(sequences, cancelled=lambda: req.cancelled,
                                          progress=lambda done: req.progress(done / total, "embedding"))
        except EmbedCancelled:
            raise Cancelled() from None
        except EmbedError as exc:
            raise WorkerError(exc.kind, exc.message) from None
        little = vectors.astype("<f4", copy=False)
        return {"vectors_b64": [base64.b64encode(row.tobytes()).decode("ascii") for row in little],
                "n_embd": int(vectors.shape[1]), "tokens": [len(ids) for ids in sequences],
                "prompt_tokens": sum(len(ids) for ids in sequences), "pooling": self.embedder.pooling,
                "seconds": round(time.perf_counter() - started, 3), "lora": self._lora()}

    # -- small ops --------------------------------------------------------------------------
    def _lora(self) -> list[dict[str, Any]]:
        return list(self.info.lora) if self.info else []

    @operation(TokenizeParams)
    def tokenize(self, req: Request[TokenizeParams]) -> TokenizeResult:
        llm = self._require_model()
        ids = llm.tokenize(str(req.params.text).encode("utf-8"), add_bos=bool(req.params.add_special),
                           special=bool(req.params.parse_special))
        pieces = [token_piece(llm._model.vocab, t, True) for t in ids]
        return {"ids": ids, "pieces_hex": [p.hex() for p in pieces]}

    @operation()
    def system_info(self, req: Request[Any]) -> dict[str, Any]:
        backend, offload, report = detect_backend()
        return {"backend": backend, "gpu_offload_supported": offload, "report": report,
                "llama_cpp_version": getattr(llama_cpp, "__version__", "?"),
                "physical_cores": hardware.physical_cores(), "default_threads": hardware.generation_threads()}

    @operation()
    def ping(self, req: Request[Any]) -> dict[str, Any]:
        if req.params.get("crash"):  # lets tests simulate a hard crash inside the worker
            os._exit(int(req.params["crash"]))
        return {"pid": os.getpid(), "loaded": self.llm is not None}


ATTENTION_LIMIT_BYTES = 6 << 30  # the maps held in memory while capturing (float32, then float16)
_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})


def _label(piece: bytes) -> str:
    """A token's label as the analyser shows it: whitespace made visible, bytes that are not
    UTF-8 on their own as <0xNN>, an empty piece as ∅."""
    try:
        return piece.decode("utf-8").translate(_VISIBLE) if piece else "∅"
    except UnicodeDecodeError:
        return "".join(f"<0x{b:02X}>" for b in piece)


def main() -> None:
    capture_log()
    Engine().main()


if __name__ == "__main__":
    main()
