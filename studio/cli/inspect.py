"""`studio tokenize`, `studio attention`, `studio next`: the Inspect screen's answers in a terminal.

    studio tokenize --model starter --text "你好 world" [--chat] [--no-special] [--json]
    studio attention --model starter --text "The cat sat" --out attention.npz [--max-tokens 512] [--chat] [--torch]
    studio next --model starter --text "The capital of France is" [--top-k 10] [--temperature 0.7] [--json]

Text comes from --text, --file, or stdin when either is "-". Exit codes (studio.cli.exits): OK done,
FAILED failed, USAGE bad input. Core modules are imported inside the commands so other commands
start as fast as before; torch is only ever loaded by the analyser worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from studio.cli import exits
from studio.cli.exits import CliError
from studio.cli.inputs import check_numbers, checked_text, stdin_bytes
from studio.cli.resolve import resolve_model
from studio.core.errors import StudioError

COMMANDS = ("tokenize", "attention", "next")


def register(subparsers: Any) -> None:
    tokenize = subparsers.add_parser("tokenize", help="show how a model's tokenizer splits a text",
                                     description="Split a text into the model's tokens (llama.cpp vocabulary).")
    _model_and_text(tokenize)
    tokenize.add_argument("--chat", action="store_true",
                          help="wrap the text in the model's chat template, as the model sees it")
    tokenize.add_argument("--no-special", action="store_true",
                          help="add no BOS/EOS and read special-token text (<|im_start|>) as plain text")
    tokenize.add_argument("--json", action="store_true", help="print one JSON object")

    attention = subparsers.add_parser("attention", help="save a model's attention weights for a text",
                                      description="Run the model once over a text and save every layer's and "
                                                  "head's attention weights to an .npz file (llama.cpp for a GGUF "
                                                  "file, torch for a Hugging Face folder).")
    _model_and_text(attention)
    attention.add_argument("--out", required=True, metavar="FILE.npz",
                           help="where to write weights [layers, heads, tokens, tokens], ids and tokens")
    attention.add_argument("--max-tokens", type=int, default=512, help="cut longer texts to this many tokens")
    attention.add_argument("--chat", action="store_true", help="wrap the text in the model's chat template")
    attention.add_argument("--torch", action="store_true",
                           help="compute with torch/transformers (the analyser) instead of llama.cpp")

    nxt = subparsers.add_parser("next", help="the model's next-token distribution after a text",
                                description="The most likely next tokens after a text, reshaped by temperature "
                                            "and top-p the way the chat samples (llama.cpp by default).")
    _model_and_text(nxt)
    nxt.add_argument("--top-k", type=int, default=10, help="how many candidates to show (default 10)")
    nxt.add_argument("--temperature", type=float, default=1.0, help="reshape with this temperature (0 = greedy)")
    nxt.add_argument("--top-p", type=float, default=1.0, help="keep the smallest set with this much probability")
    nxt.add_argument("--chat", action="store_true", help="ask as a user message in the chat template")
    nxt.add_argument("--torch", action="store_true",
                     help="compute with torch/transformers (the analyser) instead of llama.cpp")
    nxt.add_argument("--ctx", type=int, default=4096, help="llama.cpp context length (tokens)")
    nxt.add_argument("--json", action="store_true", help="print one JSON object")


def _model_and_text(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="starter", help="a .gguf path or a library name (default: the starter)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text", help="the text ('-' reads stdin)")
    source.add_argument("--file", help="a text file ('-' reads stdin); other encodings are detected")


def run(args: argparse.Namespace) -> int:
    commands = {"tokenize": _tokenize, "attention": _attention, "next": _next}
    return int(commands[args.command](args))


# -- shared helpers ---------------------------------------------------------------------------
def _text(args: argparse.Namespace) -> str:
    if args.text is None and args.file is None:
        raise CliError("usage", "give the text with --text TEXT or --file FILE ('-' reads stdin)")
    if args.text == "-" or args.file == "-":
        text = _valid_text(stdin_bytes(), "the text on stdin")
    elif args.text is not None:
        text = _valid_text(args.text, "the --text argument")
    else:
        from studio.core.inspect.tokens import read_text_file
        path = Path(args.file).expanduser()
        if not path.is_file():
            raise CliError("usage", f"no such file: {path}")
        try:
            text, note = read_text_file(path)
        except OSError as exc:
            raise CliError("usage", f"could not read {path}: {exc.strerror or exc}") from None
        except StudioError as exc:  # binary, too large, undecodable: the reader's own sentence
            raise CliError("usage", f"could not read {path}: {exc}") from None
        if note:
            print(f"note: {path.name}: {note}", file=sys.stderr)
    if not text:
        raise CliError("usage", "the text is empty: there is nothing to tokenize")
    return text


def _valid_text(value: str | bytes, what: str) -> str:
    """Valid Unicode or a one-line error: tokenizing a guess would show tokens of text nobody wrote.
    --file is the way in for other encodings (it detects them and says which it used)."""
    return checked_text(value, what, hint="or pass it with --file, which detects other encodings")


def _shown(piece: bytes) -> str:
    """A piece as one readable cell: the text quoted, or its bytes when it is part of a character."""
    try:
        return json.dumps(piece.decode("utf-8"), ensure_ascii=False)
    except UnicodeDecodeError:
        return " ".join(f"<0x{b:02X}>" for b in piece)


# -- studio tokenize --------------------------------------------------------------------------
def _tokenize(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.core.inspect.tokens import open_tokenizer

    model = resolve_model(args.model)
    text = _text(args)
    try:
        tokenizer = open_tokenizer(model)
        if args.chat:
            text = tokenizer.chat_text(text)
            tokenized = tokenizer.tokenize(text, add_special=not args.no_special, parse_special=True)
        else:
            special = not args.no_special
            tokenized = tokenizer.tokenize(text, add_special=special, parse_special=special)
    except StudioError as exc:
        raise CliError.from_error(exc) from None
    span_of = [tokenized.span_of_token(i) for i in range(tokenized.n_tokens)]
    if args.json:
        print(json.dumps({
            "model": tokenized.model_name, "model_path": model, "text": tokenized.text, "ids": tokenized.ids,
            "pieces": [p.decode("utf-8", "replace") for p in tokenized.pieces],
            "pieces_hex": [p.hex() for p in tokenized.pieces], "kinds": tokenized.kinds,
            "spans": [{"tok_start": s.tok_start, "tok_end": s.tok_end, "text": s.text, "char_start": s.char_start,
                       "char_end": s.char_end, "kind": s.kind} for s in tokenized.spans],
            "n_tokens": tokenized.n_tokens, "n_chars": tokenized.n_chars,
            "chars_per_token": round(tokenized.chars_per_token, 4),
        }, ensure_ascii=False))
        return exits.OK
    width = len(str(max(tokenized.n_tokens - 1, 0)))
    id_width = max((len(str(i)) for i in tokenized.ids), default=1)
    for index, (token, piece) in enumerate(zip(tokenized.ids, tokenized.pieces)):
        span = tokenized.spans[span_of[index]]
        mark = ""
        if span.kind == "merged":
            part = index - span.tok_start + 1
            mark = f"  [{part}/{span.tok_end - span.tok_start} of {json.dumps(span.text, ensure_ascii=False)}]"
        elif span.kind in ("special", "added"):
            mark = f"  [{span.kind}]"
        print(f"{index:>{width}}  {token:>{id_width}}  {_shown(piece)}{mark}")
    print(f"{tokenized.n_tokens} tokens, {tokenized.n_chars} chars, "
          f"{tokenized.chars_per_token:.2f} chars/token ({tokenized.model_name})")
    return exits.OK


# -- studio attention -------------------------------------------------------------------------
def _attention(args: argparse.Namespace) -> int:
    check_numbers(args, {"max_tokens": "attention_tokens"})
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".npz":
        raise CliError("usage", f"--out {out.name}: the file name should end in .npz")
    if not out.parent.is_dir():
        raise CliError("usage", f"--out: no such folder: {out.parent}")
    model = resolve_model(args.model, folders=True)
    text = _text(args)
    return asyncio.run(_attention_async(args, model, text, out))


def _progress_printer() -> Any:
    shown = [""]

    def on_progress(fraction: float, stage: str = "") -> None:
        line = f"\r{stage or 'working'}: {fraction * 100:5.1f}%"
        if line != shown[0]:
            shown[0] = line
            print(line, end="", file=sys.stderr, flush=True)
    return on_progress


async def _attention_async(args: argparse.Namespace, model: str, text: str, out: Path) -> int:
    from studio.core.engine.client import EngineClient
    from studio.core.errors import StudioError
    from studio.core.inspect.client import AnalyserClient
    from studio.core.inspect.inspector import Inspector
    from studio.core.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="studio-attention-") as scratch:
        analyser = AnalyserClient(results_dir=Path(scratch) / "torch")
        engine = EngineClient()
        inspector = Inspector(Workspace(engine), analyser, results_dir=Path(scratch) / "engine")
        try:
            kw: dict[str, Any] = dict(text=text, chat=args.chat, max_tokens=args.max_tokens,
                                      on_progress=_progress_printer())
            if args.torch:  # the reference path, for a GGUF file too
                result = await analyser.attention(model, **kw)
            else:
                result = await inspector.attention(model, **kw)
            saved = result.save_npz(out)
        except StudioError as exc:
            raise CliError.from_error(exc) from None
        finally:
            print(file=sys.stderr)
            await analyser.close()
            await engine.close()
    if result.truncated_from:
        print(f"note: the text has {result.truncated_from} tokens; only the first {result.n_tokens} were used",
              file=sys.stderr)
    print(f"wrote {saved}: {result.n_layers} layers x {result.n_heads} heads x {result.n_tokens} tokens")
    return exits.OK


# -- studio next ------------------------------------------------------------------------------
def _next(args: argparse.Namespace) -> int:
    check_numbers(args, {"top_k": "candidates", "temperature": "temperature", "top_p": "top_p", "ctx": "n_ctx"})
    model = resolve_model(args.model, folders=args.torch)
    text = _text(args)
    distribution, note = asyncio.run(_torch_next(args, model, text) if args.torch else _engine_next(args, model, text))
    shape = {"temperature": args.temperature, "top_p": args.top_p}
    candidates = distribution.candidates(args.top_k, **shape)
    if args.json:
        print(json.dumps({
            "model_path": model, "backend": "torch" if args.torch else "llama.cpp",
            "n_prompt_tokens": distribution.n_prompt_tokens, **shape,
            "entropy_bits": round(distribution.entropy_bits(**shape), 4), "note": note,
            "tokens": [{"id": c.id, "piece": c.piece, "piece_hex": c.piece_bytes.hex(), "rank": c.rank,
                        "logit": c.logit, "prob": c.prob, "base_prob": c.base_prob, "kept": c.kept}
                       for c in candidates],
        }, ensure_ascii=False))
        return exits.OK
    if note:
        print(f"note: {note}", file=sys.stderr)
    print(f"after {distribution.n_prompt_tokens} prompt tokens, temperature {args.temperature:g}, "
          f"top-p {args.top_p:g}:")
    id_width = max(len(str(c.id)) for c in candidates)
    print(f"{'rank':>4}  {'id':>{id_width}}  {'prob':>7}  {'model':>7}  piece")
    for c in candidates:
        prob = f"{c.prob * 100:6.2f}%" if c.kept else "    cut"
        print(f"{c.rank + 1:>4}  {c.id:>{id_width}}  {prob}  {c.base_prob * 100:6.2f}%  {_shown(c.piece_bytes)}")
    print(f"entropy {distribution.entropy_bits(**shape):.2f} bits")
    return exits.OK


async def _engine_next(args: argparse.Namespace, model: str, text: str) -> tuple[Any, str]:
    from studio.core.engine.client import EngineClient
    from studio.core.inspect.next_token import Distribution
    from studio.core.workers.protocol import WorkerError

    engine = EngineClient()
    try:
        await engine.load(model, n_ctx=args.ctx)
        if args.chat:
            result = await engine.next_logits(messages=[{"role": "user", "content": text}], top_k=args.top_k,
                                              full=True)
        else:
            result = await engine.next_logits(text, top_k=args.top_k, full=True)
    except WorkerError as exc:
        raise CliError.from_error(exc) from None
    finally:
        await engine.close()
    return Distribution.from_engine(result), ""


# The torch op returns the top tokens only: ask for enough that reshaping over them is faithful.
_TORCH_TOP = 200


async def _torch_next(args: argparse.Namespace, model: str, text: str) -> tuple[Any, str]:
    from studio.core.inspect.client import AnalyserClient
    from studio.core.inspect.next_token import Distribution
    from studio.core.workers.protocol import WorkerError

    with tempfile.TemporaryDirectory(prefix="studio-next-") as scratch:
        client = AnalyserClient(results_dir=Path(scratch))
        try:
            result = await client.next_token(model, text=text, chat=args.chat, top_k=max(args.top_k, _TORCH_TOP))
        except WorkerError as exc:
            raise CliError.from_error(exc) from None
        finally:
            await client.close()
    note = ""
    if args.temperature != 1.0 or args.top_p != 1.0:
        note = f"torch sends the top {max(args.top_k, _TORCH_TOP)} tokens; reshaping is over those only"
    return Distribution.from_engine(result), note
