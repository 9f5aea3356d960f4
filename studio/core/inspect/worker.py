"""Analyser worker: `python -m studio.core.inspect.worker`. Torch lives here, never in the GUI.

Ops (see studio.core.inspect.client for the shapes):
  "warm" {} (imports torch and transformers ahead of time); "load" {source}; "attention" {source, text|tokens, chat, max_tokens, out_dir};
  "logit_lens" {source, text|tokens, chat, top_k, max_tokens, positions}; "next" {source, text|tokens, chat, top_k}.
Events: "progress" {fraction, stage}, "loaded" {facts} whenever an op (re)loads the model.
A cancel lands between decoder layers (or GGUF tensors while dequantizing).
"""

from __future__ import annotations

import os
import time
from typing import Any

from studio.core.inspect.client import AttentionParams, LensParams, NextParams, PromptParams, SourceParams
from studio.core.workers.protocol import Request, Worker, WorkerError, operation


_analyser: Any = None  # one per process, made on first use (torch is imported then)


def _get_analyser() -> Any:
    global _analyser
    if _analyser is None:
        from studio.core.inspect.analysis import missing_packages, missing_packages_message

        missing = missing_packages()
        if missing:  # e.g. the app bundle without the [train] extra
            raise WorkerError("missing_packages", missing_packages_message(missing))
        from studio.core.inspect.analysis import Analyser

        _analyser = Analyser()
    return _analyser


class AnalyserWorker(Worker):
    name = "analyser"

    def _ensure_loaded(self, request: Request[Any]) -> dict[str, Any]:
        """The request's model warm (emitting "loaded" if it had to load it); its facts."""
        facts, loaded_now = _get_analyser().ensure_loaded(str(request.params.source or ""), request.progress,
                                                               request.check_cancelled)
        if loaded_now:
            request.emit("loaded", facts=facts)
        request.check_cancelled()  # a cancel during a cached load lands here (the model stays warm)
        return dict(facts)

    def _prompt(self, request: Request[Any], *, truncate: bool) -> Any:
        """The analyser with the model warm, and the request's prompt. An empty box needs no model."""
        params: PromptParams = request.params
        if params.tokens is None and not params.text:
            raise WorkerError("empty", "nothing to analyse: the text is empty")
        self._ensure_loaded(request)
        max_tokens = int(getattr(params, "max_tokens", 0) or 512) if truncate else None
        return _get_analyser().prompt(text=None if params.tokens is not None else str(params.text),
                                     tokens=params.tokens, chat=bool(params.chat), max_tokens=max_tokens)

    @operation(SourceParams)
    def load(self, request: Request[SourceParams]) -> dict[str, Any]:
        return self._ensure_loaded(request)

    @operation()
    def warm(self, request: Request[Any]) -> dict[str, Any]:
        """Start-up work before anyone asks: torch and transformers' loaders imported (about 2 s), so
        the first analysis pays only for the model. The UI sends it when the user opens a section
        that will need the analyser."""
        started = time.perf_counter()
        _get_analyser()
        import transformers  # noqa: F401  (the import is the point)
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

        return {"seconds": round(time.perf_counter() - started, 3)}

    @operation(AttentionParams)
    def attention(self, request: Request[AttentionParams]) -> dict[str, Any]:
        if not request.params.out_dir:
            raise WorkerError("bad_request", "attention needs an out_dir for its result file")
        prompt = self._prompt(request, truncate=True)
        return _get_analyser().attention(prompt, request.params.out_dir, request.progress, request.check_cancelled)

    @operation(LensParams)
    def logit_lens(self, request: Request[LensParams]) -> dict[str, Any]:
        prompt = self._prompt(request, truncate=True)
        return _get_analyser().logit_lens(prompt, int(request.params.top_k or 5), request.progress,
                                         request.check_cancelled, positions=request.params.positions or None)

    @operation(NextParams)
    def next(self, request: Request[NextParams]) -> dict[str, Any]:
        prompt = self._prompt(request, truncate=False)
        return _get_analyser().next_token(prompt, int(request.params.top_k or 10), request.progress,
                                         request.check_cancelled)


def main() -> None:
    # Idle OpenMP threads sleep instead of spinning: spinning threads steal the very cores a busy
    # desktop (or the chat engine) needs, and stall torch's own barrier when cores are short.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    AnalyserWorker().main()


if __name__ == "__main__":
    main()
