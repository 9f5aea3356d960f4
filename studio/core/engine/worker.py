"""The llama.cpp engine worker: `python -m studio.core.engine.worker`.

One process owns one `Llama`; the UI and CLI only talk to it through the JSON-lines protocol.
Prompts are rendered with the model's own chat template in llama-cpp-python's sandboxed Jinja
formatter, and replies are produced token by token so cancellation lands between tokens.
"""

from __future__ import annotations

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


class Engine:
    def __init__(self) -> None:
        self.llm: llama_cpp.Llama | None = None
        self.formatter: llama_chat_format.Jinja2ChatFormatter | None = None
        self.info: dict[str, Any] = {}
        self.bos_text = ""

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
            pending += decoder.decode(b"", final=True)
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
        "tokenize": engine.tokenize,
        "system_info": engine.system_info, "ping": engine.ping,
    }, name="engine")


if __name__ == "__main__":
    main()
