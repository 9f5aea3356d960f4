"""Attention maps, the logit lens and the next-token distribution in torch.

Only the analyser worker (studio.core.inspect.worker) uses this module, and torch/transformers are
imported inside the functions: importing studio.core.* elsewhere must stay light (the architecture
test imports every core module and checks torch stays out).

One model stays warm; an operation naming another source replaces it. GGUF sources are tokenized
by llama.cpp (studio.core.inspect.tokens) so the ids match the Tokens and Next token views exactly;
Hugging Face folders use their own tokenizer.
"""

from __future__ import annotations

import gc
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from studio.core.errors import StudioError
from studio.core.inspect.tokens import visible

Progress = Callable[[float, str], None]
Check = Callable[[], None]  # raises (the protocol's Cancelled) when the request was cancelled

ANALYSIS_PACKAGES = ("torch", "transformers", "safetensors")
# transformers' GGUF loader names some architectures differently from llama.cpp.
_GGUF_ARCH_ALIASES = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe", "gpt-oss": "gpt_oss",
                      "minimax-m2": "minimax_m2", "t5encoder": "t5"}
_NOT_ARCHITECTURES = {"general", "tokenizer"}
_NORM_NAMES = ("norm", "final_layernorm", "final_layer_norm", "ln_f", "norm_f")
# Past this, the attention tensors alone would crowd out a desktop's memory.
MAX_ATTENTION_BYTES = 6 << 30


class AnalysisError(StudioError):
    """Something the analyser cannot do, with a sentence saying why."""


def memory_shortfall(n_params: int, available_bytes: int, *, loaded_bytes: int = 0) -> str | None:
    """A sentence when float32 weights (4 bytes a parameter, plus a quarter for activations) would
    not fit in the memory that is free, counting the warm model that would be freed first; else None.
    Refusing up front beats the worker being killed halfway through a 30 GB load."""
    need = int(n_params * 4 * 1.25)
    free = available_bytes + loaded_bytes
    if n_params <= 0 or need <= free:
        return None
    return (f"Attention and the logit lens load the model in torch at full precision, which needs about "
            f"{need / 2**30:.1f} GB of memory; {free / 2**30:.1f} GB is free. Try a smaller model; Tokens and "
            f"Next token still work with llama.cpp.")


def missing_packages() -> list[str]:
    from studio.core.training.base_model import missing_packages as missing_of

    return missing_of(ANALYSIS_PACKAGES)


def missing_packages_message(missing: list[str]) -> str:
    from studio.core.training.base_model import INSTALL_TRAIN_EXTRA

    return (f"Attention and the logit lens need {', '.join(missing)}, which this installation lacks. "
            f"{INSTALL_TRAIN_EXTRA} Tokens and Next token still work with llama.cpp.")


def gguf_supported_architectures() -> list[str]:
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return [a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in _NOT_ARCHITECTURES]


def unsupported_message(architecture: str, supported: list[str]) -> str:
    shown = ", ".join(supported[:8]) + (", …" if len(supported) > 8 else "")
    return (f"Attention and the logit lens need a model transformers can load; {architecture} is not supported "
            f"(supported: {shown}). Tokens and Next token still work with llama.cpp.")


def check_architecture(source: Any) -> str:
    """The source's architecture, or AnalysisError("unsupported_architecture") before any loading."""
    from studio.core.training.base_model import BaseModelError, describe_source

    try:
        facts = describe_source(source.path)
    except BaseModelError as exc:
        raise AnalysisError(exc.kind, exc.message) from None
    arch = facts.architecture
    if source.kind == "gguf":
        supported = gguf_supported_architectures()
        if arch not in supported and _GGUF_ARCH_ALIASES.get(arch) not in supported:
            raise AnalysisError("unsupported_architecture", unsupported_message(arch, supported))
        return arch
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:  # describe_source falls back to "llama" when model_type is missing; read it ourselves
        model_type = json.loads((source.path / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        model_type = None
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        # Causal language models only: the lens needs an lm_head, attention a causal decoder.
        preferred = [a for a in gguf_supported_architectures() if a in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES]
        raise AnalysisError("unsupported_architecture",
                            unsupported_message(str(model_type or "a config.json without a model_type"), preferred))
    return arch


def analysis_threads() -> int:
    """STUDIO_ANALYSER_THREADS, else the engine's rule (physical cores minus one): torch's threads
    wait on each other after every op, and on 2 busy cores two threads ran a 256-token forward in
    4-7 s against 0.8-1.3 s for one (measured here)."""
    configured = os.environ.get("STUDIO_ANALYSER_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    from studio.core.hardware import generation_threads

    return generation_threads()


@dataclass
class Prompt:
    ids: list[int]
    labels: list[str]
    truncated_from: int | None = None


class Analyser:
    """The warm model and the three analyses. Methods take `progress(fraction, stage)` and a
    `check()` that raises when the request was cancelled; both are called between layers."""

    def __init__(self) -> None:
        self.model: Any = None
        self.hf_tokenizer: Any = None
        self.source: Any = None  # studio.core.training.base_model.BaseModelSource
        self.facts: dict[str, Any] | None = None
        self._key: tuple[str, int] | None = None
        self._vocab: Any = None  # llama.cpp Tokenizer for GGUF sources
        self._pieces: dict[int, str] = {}
        self._layers: list[Any] = []
        import torch

        torch.set_num_threads(analysis_threads())

    # -- model ---------------------------------------------------------------------------------
    def ensure_loaded(self, source: str, progress: Progress, check: Check) -> tuple[dict[str, Any], bool]:
        """(facts, loaded_now): the model for `source`, reusing the warm one when it is the same file."""
        from studio.core.training.base_model import BaseModelError, is_cached, load_base_model, resolve_source

        if not source:
            raise AnalysisError("no_model", "choose a model first")
        try:
            src = resolve_source(source)
        except BaseModelError as exc:
            raise AnalysisError(exc.kind, exc.message) from None
        key = (str(src.path), src.path.stat().st_mtime_ns)
        if self._key == key and self.model is not None:
            return self.facts or {}, False
        architecture = check_architecture(src)
        self._check_memory(src)
        cached = is_cached(src.path)
        # Free the old model first: two in memory at once is what runs a laptop out of RAM.
        self.model = self.hf_tokenizer = self.facts = self._key = self._vocab = None
        self._pieces, self._layers = {}, []
        gc.collect()
        started = time.perf_counter()
        progress(0.0, "load" if cached else "dequantize")

        def report(fraction: float, _stage: str) -> None:
            check()  # lands between GGUF tensors while dequantizing
            if not cached:
                progress(0.9 * min(1.0, fraction), "dequantize" if fraction < 1.0 else "load")

        try:
            model, tokenizer = load_base_model(src.path, report, attn_implementation="eager")
        except BaseModelError as exc:
            check()  # a cancel inside transformers' loader comes back wrapped; say "cancelled", not "failed"
            raise AnalysisError("unsupported_architecture" if exc.kind == "unsupported" else exc.kind,
                                exc.message) from None
        model.eval()
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        self.model, self.hf_tokenizer, self.source, self._key = model, tokenizer, src, key
        self._layers = self._decoder_layers(int(config.num_hidden_layers))
        self.facts = {"source": str(src.path), "architecture": architecture,
                      "n_layers": int(config.num_hidden_layers), "n_heads": int(config.num_attention_heads),
                      "n_vocab": int(model.get_output_embeddings().weight.shape[0]),
                      "load_seconds": round(time.perf_counter() - started, 3), "cached": cached}
        progress(1.0, "load")
        # No check() here: the model is warm now whatever happens; the caller announces it first.
        return self.facts, True

    def _check_memory(self, src: Any) -> None:
        import psutil

        from studio.core.training.base_model import BaseModelError, describe_source

        try:
            n_params = describe_source(src.path).n_params
        except BaseModelError:
            return  # the loader itself will say what is wrong with the file
        loaded = sum(p.numel() * p.element_size() for p in self.model.parameters()) if self.model is not None else 0
        problem = memory_shortfall(n_params, psutil.virtual_memory().available, loaded_bytes=loaded)
        if problem:
            raise AnalysisError("out_of_memory", problem)

    def _decoder_layers(self, n_layers: int) -> list[Any]:
        """The decoder blocks, found by shape rather than name (llama: model.layers, gpt2: h)."""
        import torch

        for module in self.model.modules():
            if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers:
                return list(module)
        return []

    def _final_norm(self) -> Any:
        base = self.model.base_model
        for name in _NORM_NAMES:
            module = getattr(base, name, None)
            if module is not None:
                return module
        return lambda hidden: hidden  # no final norm known: the lens reads the raw residual stream

    # -- prompts -------------------------------------------------------------------------------
    def prompt(self, *, text: str | None = None, tokens: list[int] | None = None, chat: bool = False,
               max_tokens: int | None = None) -> Prompt:
        assert self.model is not None and self.source is not None
        n_vocab = int(self.facts["n_vocab"]) if self.facts else 0
        if tokens is not None:
            ids = [int(t) for t in tokens]
            if not ids:
                raise AnalysisError("empty", "nothing to analyse: the text is empty")
            bad = [t for t in ids if not 0 <= t < n_vocab]
            if bad:
                raise AnalysisError("bad_request", f"token id {bad[0]} is not in this model's vocabulary "
                                                   f"(0..{n_vocab - 1})")
            labels = [visible(self.piece(t)) for t in ids]
        else:
            if not text:
                raise AnalysisError("empty", "nothing to analyse: the text is empty")
            ids, labels = self._tokenize(text, chat)
            if not ids:
                raise AnalysisError("empty", "nothing to analyse: the text makes no tokens")
        truncated_from = None
        if max_tokens is not None and max_tokens > 0 and len(ids) > max_tokens:
            truncated_from = len(ids)
            ids, labels = ids[:max_tokens], labels[:max_tokens]
        return Prompt(ids, labels, truncated_from)

    def _tokenize(self, text: str, chat: bool) -> tuple[list[int], list[str]]:
        if self.source.kind == "gguf":
            vocab = self._llama_vocab()
            tokenized = vocab.tokenize(vocab.chat_text(text) if chat else text)
            return list(tokenized.ids), list(tokenized.labels())
        tok = self.hf_tokenizer
        if chat:
            rendered = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                               tokenize=False)
            ids = tok(rendered, add_special_tokens=False)["input_ids"]
        else:
            ids = tok(text)["input_ids"]
        ids = [int(i) for i in ids]
        return ids, [visible(self.piece(i)) for i in ids]

    def _llama_vocab(self) -> Any:
        if self._vocab is None:
            from studio.core.inspect.tokens import open_tokenizer

            self._vocab = open_tokenizer(self.source.path)
        return self._vocab

    def piece(self, token_id: int) -> str:
        """What a token looks like: llama.cpp's piece for GGUF sources, the HF tokenizer's otherwise."""
        cached = self._pieces.get(token_id)
        if cached is None:
            if self.source.kind == "gguf":
                cached = self._llama_vocab().piece(token_id).decode("utf-8", "replace")
            else:
                cached = self.hf_tokenizer.decode([token_id])
            self._pieces[token_id] = cached
        return cached

    # -- analyses ------------------------------------------------------------------------------
    def _forward(self, module: Any, ids: list[int], progress: Progress, check: Check, stage: str,
                 span: float, **kwargs: Any) -> Any:
        """One forward pass with a hook before each decoder layer: progress over [0, span), cancel there."""
        import torch

        layers = self._layers
        total = max(1, len(layers))

        def before(index: int) -> Callable[..., None]:
            def hook(*_args: Any) -> None:
                check()
                progress(span * index / total, stage)
            return hook

        handles = [layer.register_forward_pre_hook(before(i)) for i, layer in enumerate(layers)]
        try:
            with torch.inference_mode():
                return module(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False, **kwargs)
        finally:
            for handle in handles:
                handle.remove()

    def attention(self, prompt: Prompt, out_dir: str | os.PathLike[str], progress: Progress,
                  check: Check) -> dict[str, Any]:
        """Run the prompt, write weights [layers, heads, T, T] float32 + ids + labels to an .npz."""
        import numpy as np

        assert self.facts is not None, "ensure_loaded() comes first"
        n_layers, n_heads, n = int(self.facts["n_layers"]), int(self.facts["n_heads"]), len(prompt.ids)
        need = n_layers * n_heads * n * n * 4 * 2  # torch's tensors plus our array
        if need > MAX_ATTENTION_BYTES:
            raise AnalysisError("too_long", f"attention for {n} tokens would need about {need / (1 << 30):.1f} GB "
                                            "of memory; use fewer tokens (lower the token limit)")
        # The base model (no lm_head): attention maps need no vocabulary-sized logits.
        out = self._forward(self.model.base_model, prompt.ids, progress, check, "forward", 0.9,
                            output_attentions=True)
        attentions = out.attentions
        if not attentions or attentions[0] is None:
            raise AnalysisError("no_attention", f"{self.facts['architecture']}: this model does not report "
                                                "attention weights")
        check()
        n_heads = int(attentions[0].shape[1])
        weights = np.empty((len(attentions), n_heads, n, n), dtype=np.float32)
        for index, layer in enumerate(attentions):
            weights[index] = layer[0].float().numpy()
        del out, attentions
        progress(0.95, "write")
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"attention-{os.getpid()}-{time.time_ns()}.npz"
        partial = path.with_name(path.name + ".partial")
        try:
            with open(partial, "wb") as handle:  # a file object: np.savez would append ".npz" to a name
                np.savez(handle, weights=weights, ids=np.asarray(prompt.ids, dtype=np.int64),
                         tokens=np.asarray(prompt.labels, dtype=np.str_))
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise AnalysisError("write", f"could not write the attention file in {folder}: "
                                         f"{exc.strerror or exc}") from None
        progress(1.0, "write")
        return {"path": str(path), "n_tokens": n, "n_layers": int(weights.shape[0]), "n_heads": n_heads,
                "ids": prompt.ids, "labels": prompt.labels, "truncated_from": prompt.truncated_from}

    def logit_lens(self, prompt: Prompt, top_k: int, progress: Progress, check: Check,
                   positions: int | None = None) -> dict[str, Any]:
        """Final norm + lm_head on every hidden state: the top-1 token per position and the top_k at the
        last position, per layer. The last entry is the model's own output (HF already normed it).
        `positions` limits the top-1 rows to the last N positions (first_position says where they
        start): the vocabulary-sized projection is most of the cost, and a view shows a few columns."""
        import torch

        assert self.facts is not None, "ensure_loaded() comes first"
        top_k = max(1, min(int(top_k), int(self.facts["n_vocab"])))
        first = max(0, len(prompt.ids) - int(positions)) if positions else 0
        out = self._forward(self.model, prompt.ids, progress, check, "forward", 0.3, output_hidden_states=True)
        hidden = out.hidden_states
        norm, head = self._final_norm(), self.model.get_output_embeddings()
        entries = len(hidden)
        top1: list[list[dict[str, Any]]] = []
        last: list[list[dict[str, Any]]] = []
        with torch.inference_mode():
            for index in range(entries):
                check()
                progress(0.3 + 0.7 * index / entries, "lens")
                if index == entries - 1:
                    logits = out.logits[0, first:]
                else:
                    logits = head(norm(hidden[index][0, first:]))
                logits = logits.float()
                # Probabilities of the few tokens we report only: no [T, vocab] softmax copy.
                norm_const = torch.logsumexp(logits, dim=-1)
                best_l, best_i = logits.max(dim=-1)
                best_p = torch.exp(best_l - norm_const)
                top1.append([self._token(int(i), float(p)) for i, p in zip(best_i.tolist(), best_p.tolist())])
                k_l, k_i = logits[-1].topk(top_k)
                k_p = torch.exp(k_l - norm_const[-1])
                last.append([self._token(int(i), float(p)) for i, p in zip(k_i.tolist(), k_p.tolist())])
                del logits
        progress(1.0, "lens")
        names = ["embeddings"] + [f"layer {i}" for i in range(1, entries)]
        return {"ids": prompt.ids, "labels": prompt.labels, "layer_names": names, "top1": top1, "last": last,
                "final": last[-1], "first_position": first, "truncated_from": prompt.truncated_from}

    def next_token(self, prompt: Prompt, top_k: int, progress: Progress, check: Check) -> dict[str, Any]:
        import inspect

        import torch

        kwargs: dict[str, Any] = {}
        if "logits_to_keep" in inspect.signature(self.model.forward).parameters:
            kwargs["logits_to_keep"] = 1  # only the last position's vocabulary-sized row
        out = self._forward(self.model, prompt.ids, progress, check, "forward", 1.0, **kwargs)
        with torch.inference_mode():
            logprobs = torch.log_softmax(out.logits[0, -1].double(), dim=-1)
            top_k = max(1, min(int(top_k), logprobs.shape[0]))
            values, indices = logprobs.topk(top_k)
        tokens = [{"id": int(i), "piece": self.piece(int(i)), "logprob": float(v)}
                  for i, v in zip(indices.tolist(), values.tolist())]
        return {"tokens": tokens, "n_prompt_tokens": len(prompt.ids)}

    def _token(self, token_id: int, prob: float) -> dict[str, Any]:
        return {"id": token_id, "piece": self.piece(token_id), "prob": prob}

