"""`studio chat`: one reply from a model, streamed to stdout (or one JSON object with --json).
A reasoning model's thinking streams to stderr, so stdout carries the answer alone (--json gives both
parts; --no-thinking turns thinking off where the model's template allows; with --engine it is sent as
chat_template_kwargs.enable_thinking false).
With --engine URL the reply comes from an OpenAI-compatible server instead of a local model.
With --json-schema FILE (or --grammar FILE) the reply is constrained to that schema (grammar), printed
as indented JSON and checked; a reply that does not hold exits 1 with the reason.
With --docs COLLECTION the question is answered from that knowledge collection: the sources found are
listed on stderr with their scores, the reply cites them as [1], [2]…, and --json adds the retrieval
record (every candidate, the prompt as the model read it, its token count) and the citations."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from studio.cli import exits
from studio.cli.exits import CliError
from studio.cli.inputs import check_numbers, checked_text, stdin_bytes
from studio.cli.resolve import resolve_model
from studio.core.engine import thinking  # small and dependency-free: no llama.cpp here

COMMANDS = ("chat",)
ENGINE_KEY_ENV = "STUDIO_ENGINE_API_KEY"  # the --engine key, kept out of shell history and `ps`

# Every numeric `studio chat` option and its entry in studio.core.limits.
_CHAT_NUMBERS = {"max_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
                 "seed": "seed", "ctx": "n_ctx", "n_gpu_layers": "n_gpu_layers", "threads": "n_threads"}


def register(subparsers: Any) -> None:
    chat = subparsers.add_parser("chat", help="one reply from a model, streamed to stdout")
    chat.add_argument("--model", default=None,
                      help="a .gguf path or a library name (default: the starter model); with --engine, one of "
                           "the server's models (default: its only one)")
    chat.add_argument("--engine", default=None, metavar="URL",
                      help="an OpenAI-compatible server's base URL (vLLM, llama-server, Ollama, LM Studio, "
                           "studio serve) to talk to instead of a local model")
    chat.add_argument("--api-key", default=None,
                      help=f"the --engine server's API key (default: ${ENGINE_KEY_ENV}, if set)")
    chat.add_argument("--prompt", required=True, help="the user message ('-' reads stdin)")
    chat.add_argument("--system", default=None, help="system prompt (default: 'You are a helpful assistant.'; '' for none)")
    chat.add_argument("--max-tokens", type=int, default=256)
    chat.add_argument("--temperature", type=float, default=0.7)
    chat.add_argument("--top-p", type=float, default=0.95)
    chat.add_argument("--top-k", type=int, default=40)
    chat.add_argument("--seed", type=int, default=-1)
    chat.add_argument("--ctx", type=int, default=4096, help="context length (tokens)")
    chat.add_argument("--n-gpu-layers", type=int, default=0, help="layers to offload to the GPU (-1 = all)")
    chat.add_argument("--threads", type=int, default=None)
    chat.add_argument("--flash-attn", action="store_true",
                      help="flash attention (faster prompts; prompt lookup drafts only with it)")
    chat.add_argument("--no-prompt-lookup", action="store_true",
                      help="no prompt-lookup drafting (with --flash-attn it drafts where that pays; the reply "
                           "is the same either way)")
    chat.add_argument("--json", action="store_true", help="print one JSON object with the reply and its stats")
    chat.add_argument("--no-thinking", action="store_true",
                      help="a reasoning model answers without thinking (its template's switch, else an empty "
                           "think block; with --engine, sent as enable_thinking false for the server's template)")
    chat.add_argument("--docs", action="append", default=[], metavar="COLLECTION",
                      help="answer from this knowledge collection (see `studio docs`); repeatable")
    chat.add_argument("--lora", action="append", default=[], metavar="ADAPTER[:SCALE]",
                      help="attach a GGUF LoRA adapter, optionally scaled (default 1.0); repeatable")
    shape = chat.add_mutually_exclusive_group()
    shape.add_argument("--json-schema", default=None, metavar="FILE",
                       help="constrain the reply to JSON matching this JSON schema; the reply is printed as "
                            "indented JSON and checked against the schema (exit 1 when it does not hold)")
    shape.add_argument("--grammar", default=None, metavar="FILE",
                       help="constrain the reply to this GBNF grammar (local models only)")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_chat(args))


async def _chat(args: argparse.Namespace) -> int:
    from studio.core.chat.conversation import DEFAULT_SYSTEM_PROMPT
    from studio.core.engine.sampling import SamplingParams
    from studio.core.engine.client import EngineClient
    from studio.core.settings import EngineSettings
    from studio.core.workers.protocol import WorkerError

    check_numbers(args, _CHAT_NUMBERS)
    prompt = checked_text(stdin_bytes() if args.prompt == "-" else args.prompt, "the prompt")
    if args.system is None:
        args.system = DEFAULT_SYSTEM_PROMPT
    args.system = checked_text(args.system, "the system prompt (--system)")
    if not prompt.strip():
        raise CliError("usage", "the prompt is empty")
    fmt = _output_format(args)
    if args.engine is not None:
        return await _remote_chat(args, prompt, fmt)
    if args.api_key is not None:
        raise CliError("usage", "--api-key goes with --engine URL")
    lora = [_lora_arg(text) for text in args.lora]
    model = resolve_model(args.model or "starter")
    _note_gpu_layers(model, args.n_gpu_layers)
    engine = EngineClient(EngineSettings(n_gpu_layers=args.n_gpu_layers, n_threads=args.threads,
                                         flash_attn=args.flash_attn, prompt_lookup=not args.no_prompt_lookup))
    sampling = SamplingParams(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                              max_tokens=args.max_tokens, seed=args.seed, n_ctx=args.ctx)
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + \
        [{"role": "user", "content": prompt}]
    try:
        info = await engine.load(model, n_ctx=args.ctx, lora=lora)
        if args.n_gpu_layers and not info.gpu_offload_supported:
            print("note: this llama.cpp build has no GPU support: --n-gpu-layers is ignored and the model "
                  "runs on the CPU", file=sys.stderr)
        if info.template_source == "fallback":
            print(f"note: {info.template_note}", file=sys.stderr)
        grounding = await _ground(args, messages, sampling, engine) if args.docs else None
        if grounding is not None:
            messages = grounding.messages
        generation = await engine.generate(messages, sampling, grammar=fmt.grammar if fmt else None,
                                           thinking=False if args.no_thinking else None)
        printer = _ReplyPrinter(lambda: generation.stats.thinking_open)
        async for kind, value in generation:
            if kind == "token" and not args.json and fmt is None:
                printer.feed(value)
            elif kind == "trimmed":
                print(f"note: {len(value)} oldest messages did not fit the context and were left out", file=sys.stderr)
    except WorkerError as exc:
        raise CliError.from_error(exc) from exc
    finally:
        await engine.close()
    stats = generation.stats
    checked = _check_reply(fmt, generation.text, stats)
    if args.json:
        print(json.dumps({
            "model": info.name, "model_path": model, "reply": generation.text,
            **_thinking_fields(generation.text, stats.thinking_open, stats.thinking_tokens, stats.thinking_ms),
            "tokens": stats.tokens, "prompt_tokens": stats.prompt_tokens,
            "tokens_per_s": stats.tokens_per_s, "ttft_ms": stats.ttft_ms,
            "finish_reason": stats.finish_reason, "backend": info.backend,
            "drafted": stats.drafted, "accepted": stats.accepted,
            "lora": [{"path": a["path"], "scale": a["scale"]} for a in info.lora],
            **({"retrieval": grounding.record, "citations": grounding.cite(generation.text) if grounding.cite else {}}
               if grounding is not None else {}),
            **({"structured": checked} if checked is not None else {}),
        }, ensure_ascii=False))
    elif fmt is not None:
        _print_structured(fmt, generation.text)
    else:
        printer.finish()
        if grounding is not None and grounding.cite is not None:
            _print_citations(grounding.cite(generation.text))
    return _structured_exit(checked)


def _output_format(args: argparse.Namespace) -> Any:
    """The --json-schema / --grammar constraint (None: free text); bad files are usage errors."""
    from studio.core.engine import structured

    path = args.json_schema or args.grammar
    if path is None:
        return None
    option = "--json-schema" if args.json_schema else "--grammar"
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError("usage", f"no such file for {option}: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError("usage", f"{option} {path} could not be read: {exc}") from None
    try:
        fmt = structured.build("json_schema" if args.json_schema else "gbnf", text)
    except structured.OutputFormatError as exc:
        raise CliError("usage", f"{option} {path}: {exc}") from None
    for note in (structured.max_tokens_note(args.max_tokens), structured.unenforced_note(fmt)):
        if note:
            print(f"note: {note}", file=sys.stderr)
    return fmt


def _check_reply(fmt: Any, text: str, stats: Any) -> dict[str, Any] | None:
    from studio.core.engine import structured

    if fmt is None:
        return None
    return structured.check_reply(fmt, text, finish_reason=stats.finish_reason, stopped=stats.stopped)


def _print_structured(fmt: Any, text: str) -> None:
    """The reply as indented JSON when it parses (a grammar's reply as it came otherwise)."""
    from studio.core.engine import structured

    print(structured.pretty(text) if fmt.is_json and structured.pretty(text) is not None else text)


def _structured_exit(checked: dict[str, Any] | None) -> int:
    if checked is None or checked["valid"]:
        return exits.OK
    print(f"studio: the reply is not what was asked for: {checked['reason']}", file=sys.stderr)
    return exits.FAILED


async def _ground(args: argparse.Namespace, messages: list[dict[str, str]], sampling: Any, engine: Any) -> Any:
    """Retrieve from the --docs collections and fit the sources into the prompt; the sources go to
    stderr. A failed search is an error here (the app answers without documents instead)."""
    from studio.core.chat.conversation import Conversation
    from studio.core.grounding import KnowledgeGrounder
    from studio.core.knowledge.client import KnowledgeClient
    from studio.core.settings import load_settings
    from studio.core.workers.protocol import WorkerError

    client = KnowledgeClient()
    failure: list[WorkerError] = []

    async def query(collections: list[str], text: str, **kw: Any) -> dict[str, Any]:
        try:
            return await client.query(collections, text, **kw)
        except WorkerError as exc:
            failure.append(exc)
            raise

    grounder = KnowledgeGrounder(query, settings=load_settings().knowledge)
    try:
        grounding = await grounder(Conversation(0, "", args.system, sampling), list(args.docs), messages, engine)
    finally:
        await client.close()
    if failure:
        raise CliError.from_error(failure[0])
    record = grounding.record
    if record["error"]:
        raise CliError("knowledge", record["error"])
    for source in record["sources"]:
        c = next(c for c in record["retrieval"]["candidates"] if c["chunk_id"] == source["chunk_id"])
        keyword = "—" if c["keyword_score"] is None else f"{c['keyword_score']:.3f}"
        vector = "—" if c["vector_similarity"] is None else f"{c['vector_similarity']:.3f}"
        print(f"[{source['number']}] {c['path']} · {c['location']}   keyword {keyword}   vector {vector}   "
              f"fused #{c['fused_rank']}", file=sys.stderr)
    if not record["sources"]:
        print("note: nothing relevant was found in " + ", ".join(args.docs), file=sys.stderr)
    if record["note"]:
        print(f"note: {record['note']}", file=sys.stderr)
    print(f"(prompt: {record['tokens']:,} of {record['n_ctx']:,} tokens)", file=sys.stderr)
    return grounding


def _print_citations(citations: dict[str, Any]) -> None:
    seen: dict[int, dict[str, Any]] = {}
    for c in citations.get("found", []):
        seen.setdefault(c["number"], c["source"])
    for number, source in seen.items():
        print(f"cited [{number}]: {source['path']} · {source['location']}", file=sys.stderr)
    if citations.get("unknown"):
        print("note: the reply cites numbers that name no source: " +
              ", ".join(f"[{n}]" for n in citations["unknown"]), file=sys.stderr)


async def _remote_chat(args: argparse.Namespace, prompt: str, fmt: Any = None) -> int:
    """The reply from the server at --engine: same output and --json fields as a local reply."""
    import os

    from studio.core.engine import structured
    from studio.core.engine.remote import RemoteEngine, RemoteEngineError
    from studio.core.engine.sampling import SamplingParams

    if args.lora:
        raise CliError("usage", "--lora needs a local model: a remote engine serves its own models")
    if args.docs:
        raise CliError("usage", "--docs works with a local model for now (the prompt is counted with its own template)")
    if args.grammar:
        raise CliError("usage", "--grammar needs a local model: remote engines take --json-schema instead")
    if args.flash_attn or args.no_prompt_lookup:
        raise CliError("usage", "--flash-attn and --no-prompt-lookup set up a local model: a remote engine "
                                "has its own")
    key = args.api_key if args.api_key is not None else os.environ.get(ENGINE_KEY_ENV)
    try:
        engine = RemoteEngine(args.engine, key or None)
    except RemoteEngineError as exc:
        raise CliError("usage", str(exc)) from None
    sampling = SamplingParams(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                              max_tokens=args.max_tokens, seed=args.seed, n_ctx=args.ctx)
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + \
        [{"role": "user", "content": prompt}]
    try:
        models = await engine.list_models()
        if args.model:
            engine.model = args.model
        elif len(models) == 1:
            engine.model = models[0]
        elif not models:
            raise CliError("usage", f"{engine.base_url} lists no models; name one with --model")
        else:
            raise CliError("usage", f"{engine.base_url} serves {len(models)} models ({', '.join(models)}): "
                                    "choose one with --model")
        response_format = structured.response_format(fmt) if fmt else None
        engine.subscribe("notice", lambda message: print(f"note: {message}", file=sys.stderr))
        generation = await engine.generate(messages, sampling, response_format=response_format,
                                           thinking=False if args.no_thinking else None)
        printer = _ReplyPrinter(lambda: False)
        async for kind, value in generation:
            if kind == "token" and not args.json and fmt is None:
                printer.feed(value)
    except RemoteEngineError as exc:
        raise CliError.from_error(exc) from exc
    finally:
        await engine.close()
    stats = generation.stats
    checked = _check_reply(fmt, generation.text, stats)
    if args.json:
        print(json.dumps({
            "model": engine.model, "engine": engine.base_url, "reply": generation.text,
            **_thinking_fields(generation.text, False, stats.thinking_tokens, stats.thinking_ms),
            "tokens": stats.tokens, "prompt_tokens": stats.prompt_tokens,
            "tokens_per_s": stats.tokens_per_s, "ttft_ms": stats.ttft_ms, "finish_reason": stats.finish_reason,
            **({"structured": checked} if checked is not None else {}),
        }, ensure_ascii=False))
    elif fmt is not None:
        _print_structured(fmt, generation.text)
    else:
        printer.finish()
    return _structured_exit(checked)


class _ReplyPrinter:
    """Streams a reply as it grows: its thinking to stderr, its answer to stdout. Each chunk re-splits
    the text so far, so a tag cut across chunks is never printed half on one side."""

    def __init__(self, opened: Any) -> None:
        self.text = ""
        self._opened = opened  # () -> the prompt pre-opened the think block (known once the reply starts)
        self._thought = self._answered = 0  # characters of each part already printed

    def feed(self, chunk: str) -> None:
        self.text += chunk
        self._show(thinking.split(self.text, opened=self._opened(), streaming=True))

    def finish(self) -> None:
        self._show(thinking.split(self.text, opened=self._opened()))
        if self._thought and not self._answered:  # stopped mid-thought: end the thinking's line
            sys.stderr.write("\n")
        sys.stdout.write("\n")
        sys.stdout.flush()

    def _show(self, parts: Any) -> None:
        if parts.thinking and len(parts.thinking) > self._thought:
            if not self._thought:
                sys.stderr.write("thinking: ")
            sys.stderr.write(parts.thinking[self._thought:])
            sys.stderr.flush()
            self._thought = len(parts.thinking)
        if len(parts.answer) > self._answered:
            if self._thought and not self._answered:
                sys.stderr.write("\n")
                sys.stderr.flush()
            sys.stdout.write(parts.answer[self._answered:])
            sys.stdout.flush()
            self._answered = len(parts.answer)


def _thinking_fields(text: str, opened: bool, tokens: int, ms: float) -> dict[str, Any]:
    """--json's view of a reply that thought: both parts apart (reply stays the raw text)."""
    parts = thinking.split(text, opened=opened)
    if parts.thinking is None:
        return {}
    return {"thinking": parts.thinking, "answer": parts.answer, "thinking_closed": parts.closed,
            "thinking_tokens": tokens, "thinking_ms": round(ms, 1)}


def _note_gpu_layers(model: str, n_gpu_layers: int) -> None:
    """Say so when --n-gpu-layers is more than the model has: llama.cpp offloads all of them, which is
    what `999` usually means, but the user should not have to guess."""
    from studio.core.models.gguf_info import ModelFileError, read_gguf_info
    try:
        layers = read_gguf_info(model).block_count
    except (ModelFileError, OSError):
        return  # the load reports a bad file properly
    if layers and n_gpu_layers > layers:
        print(f"note: the model has {layers} layers; --n-gpu-layers {n_gpu_layers} offloads all of them",
              file=sys.stderr)


def _lora_arg(text: str) -> dict:
    from studio.core.engine.lora import parse_lora_arg
    from studio.core.limits import OutOfRange, check
    adapter = parse_lora_arg(text)
    try:
        check("lora_scale", adapter["scale"], f"the scale of --lora {adapter['path']}")
    except OutOfRange as exc:
        raise CliError.from_error(exc) from None
    if not Path(adapter["path"]).expanduser().exists():
        raise CliError("usage", f"no such adapter file: {adapter['path']}")
    return adapter
