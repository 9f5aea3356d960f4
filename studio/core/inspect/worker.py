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
from typing import Any, Callable

from studio.core.errors import StudioError
from studio.core.workers.protocol import Request, WorkerError, serve

PROGRESS_INTERVAL = 0.05  # seconds; the UI needs no more than ~20 updates a second

_analyser: Any = None


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


def _progress(request: Request) -> Callable[[float, str], None]:
    last = {"at": 0.0, "stage": ""}

    def report(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if stage == last["stage"] and fraction < 1.0 and now - last["at"] < PROGRESS_INTERVAL:
            return
        last["at"], last["stage"] = now, stage
        request.emit("progress", fraction=round(float(fraction), 4), stage=stage)
    return report


def _prepare(request: Request) -> tuple[Any, Callable[[float, str], None]]:
    """The analyser with the request's model warm (emitting "loaded" if it had to load it)."""
    analyser = _get_analyser()
    progress = _progress(request)
    facts, loaded_now = analyser.ensure_loaded(str(request.params.get("source") or ""), progress,
                                               request.check_cancelled)
    if loaded_now:
        request.emit("loaded", facts=facts)
    request.check_cancelled()
    return analyser, progress


def _prompt(analyser: Any, request: Request, *, truncate: bool) -> Any:
    params = request.params
    text, tokens = params.get("text"), params.get("tokens")
    max_tokens = int(params.get("max_tokens") or 512) if truncate else None
    return analyser.prompt(text=None if tokens is not None else str(text), tokens=tokens,
                           chat=bool(params.get("chat")), max_tokens=max_tokens)


def _studio_errors(handler: Callable[[Request], dict[str, Any]]) -> Callable[[Request], dict[str, Any]]:
    """Core errors (bad model, tokenizer trouble) become protocol errors with the same kind and sentence."""
    def wrapped(request: Request) -> dict[str, Any]:
        try:
            return handler(request)
        except StudioError as exc:
            raise WorkerError(exc.kind, exc.message) from None
    return wrapped


@_studio_errors
def handle_load(request: Request) -> dict[str, Any]:
    analyser = _get_analyser()
    facts, loaded_now = analyser.ensure_loaded(str(request.params.get("source") or ""), _progress(request),
                                               request.check_cancelled)
    if loaded_now:
        request.emit("loaded", facts=facts)
    request.check_cancelled()  # a cancel during a cached load lands here (the model stays warm)
    return dict(facts)


def handle_warm(request: Request) -> dict[str, Any]:
    """Start-up work before anyone asks: torch and transformers' loaders imported (about 2 s), so
    the first analysis pays only for the model. The UI sends it when the user opens a section
    that will need the analyser."""
    started = time.perf_counter()
    _get_analyser()
    import transformers  # noqa: F401  (the import is the point)
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    return {"seconds": round(time.perf_counter() - started, 3)}


@_studio_errors
def handle_attention(request: Request) -> dict[str, Any]:
    out_dir = request.params.get("out_dir")
    if not out_dir:
        raise WorkerError("bad_request", "attention needs an out_dir for its result file")
    _prompt_check(request)
    analyser, progress = _prepare(request)
    prompt = _prompt(analyser, request, truncate=True)
    return analyser.attention(prompt, out_dir, progress, request.check_cancelled)


@_studio_errors
def handle_logit_lens(request: Request) -> dict[str, Any]:
    _prompt_check(request)
    analyser, progress = _prepare(request)
    prompt = _prompt(analyser, request, truncate=True)
    positions = request.params.get("positions")
    return analyser.logit_lens(prompt, int(request.params.get("top_k") or 5), progress, request.check_cancelled,
                               positions=int(positions) if positions else None)


@_studio_errors
def handle_next(request: Request) -> dict[str, Any]:
    _prompt_check(request)
    analyser, progress = _prepare(request)
    prompt = _prompt(analyser, request, truncate=False)
    return analyser.next_token(prompt, int(request.params.get("top_k") or 10), progress, request.check_cancelled)


def _prompt_check(request: Request) -> None:
    # Before any loading: an empty box needs no model.
    if request.params.get("tokens") is None and not request.params.get("text"):
        raise WorkerError("empty", "nothing to analyse: the text is empty")


def main() -> None:
    # Idle OpenMP threads sleep instead of spinning: spinning threads steal the very cores a busy
    # desktop (or the chat engine) needs, and stall torch's own barrier when cores are short.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    serve({"warm": handle_warm, "load": handle_load, "attention": handle_attention, "logit_lens": handle_logit_lens,
           "next": handle_next}, name="analyser")


if __name__ == "__main__":
    main()
