"""`studio docs add|list|query`: knowledge collections from a terminal.

`add COLLECTION PATH…` indexes files and folders (progress on stderr, one line per file that
yields nothing, with its reason); run it again without paths to resume a cancelled job, or with
the same folder to pick up changed and deleted files. `list [COLLECTION]` shows collections, or a
collection's documents. `query COLLECTION TEXT` prints the ranked chunks with keyword score, vector
similarity and fused rank (`--json`: every candidate, as the Retrieval panel sees it).

Exit status (studio.cli.exits): OK; FAILED when indexing was cancelled or the worker failed;
USAGE for bad input (unknown collection, missing path, out-of-range settings).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from studio.cli import exits
from studio.cli.exits import CliError

COMMANDS = ("docs",)
_USAGE = "usage: studio docs add COLLECTION PATH… | studio docs list [COLLECTION] | studio docs query COLLECTION TEXT"


def register(subparsers: Any) -> None:
    docs = subparsers.add_parser("docs", help="knowledge collections: add documents, list, query")
    sub = docs.add_subparsers(dest="docs_command")
    add = sub.add_parser("add", help="index files and folders into a collection (created on first use)")
    add.add_argument("collection")
    add.add_argument("paths", nargs="*", metavar="PATH",
                     help="files or folders (none: resume the collection's unfinished job)")
    add.add_argument("--chunk-tokens", type=int, default=160, help="chunk size in embedding tokens (new collections)")
    add.add_argument("--overlap-tokens", type=int, default=32, help="overlap between chunks in tokens (new collections)")
    add.add_argument("--json", action="store_true", help="print the report as one JSON object")
    listing = sub.add_parser("list", help="list collections, or the documents of one")
    listing.add_argument("collection", nargs="?")
    listing.add_argument("--json", action="store_true")
    query = sub.add_parser("query", help="retrieve the chunks that answer a question")
    query.add_argument("collection")
    query.add_argument("text")
    query.add_argument("--mode", choices=("hybrid", "vector", "keyword"), default="hybrid")
    query.add_argument("--top-k", type=int, default=5)
    query.add_argument("--min-similarity", type=float, default=0.0,
                       help="vector candidates below this cosine similarity are dropped (default 0)")
    query.add_argument("--json", action="store_true", help="every candidate with its scores, as JSON")


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "docs_command", None)
    if command == "list":
        return _list(args)
    if command == "add":
        if args.chunk_tokens < 8 or not 0 <= args.overlap_tokens < args.chunk_tokens // 2:
            raise CliError("usage", "--chunk-tokens must be at least 8 and --overlap-tokens under half of it")
        missing = [p for p in args.paths if not Path(p).exists()]
        if missing:
            raise CliError("usage", f"no such file or folder: {missing[0]}")
        if not args.paths:  # resuming: the collection must exist (a typo must not create an empty one)
            from studio.core.knowledge.store import KnowledgeError
            store = _store()
            try:
                store.collection(args.collection)
            except KnowledgeError as exc:
                raise CliError("usage", f"{exc}; give files or folders to add") from None
            finally:
                store.close()
        return _in_loop(_add(args))
    if command == "query":
        if not 1 <= args.top_k <= 100:
            raise CliError("usage", "--top-k must be between 1 and 100")
        if not args.text.strip():
            raise CliError("usage", "the question is empty")
        return _in_loop(_query(args))
    raise CliError("usage", _USAGE)


def _in_loop(job: Any) -> int:
    try:
        return int(asyncio.run(job))
    except KeyboardInterrupt:
        return exits.INTERRUPTED


def _store() -> Any:
    from studio.core.knowledge.store import KnowledgeError, KnowledgeStore
    try:
        return KnowledgeStore()
    except KnowledgeError as exc:
        raise CliError.from_error(exc, exits.FAILED) from None


def _list(args: argparse.Namespace) -> int:
    from studio.core.knowledge.store import KnowledgeError

    store = _store()
    try:
        if args.collection:
            try:
                collection = store.collection(args.collection)
            except KnowledgeError as exc:
                raise CliError.from_error(exc, exits.USAGE) from None
            docs = store.documents(collection)
            if args.json:
                print(json.dumps({**_counted(store, collection), "documents": [d.to_dict() for d in docs]},
                                 ensure_ascii=False))
                return exits.OK
            for d in docs:
                detail = f"{d.n_chunks} chunks, {d.format}" if d.status == "indexed" else f"skipped — {d.reason}"
                print(f"{d.path}: {detail}")
            print(f"{collection.name}: {sum(d.status == 'indexed' for d in docs)} documents, "
                  f"{sum(d.n_chunks for d in docs)} chunks, {sum(d.status == 'skipped' for d in docs)} skipped")
            return exits.OK
        collections = store.collections()
        if args.json:
            print(json.dumps({"collections": [c.to_dict() for c in collections]}, ensure_ascii=False))
        elif not collections:
            print("no knowledge collections yet; create one with: studio docs add NAME PATH…")
        for c in collections if not args.json else []:
            pending = len(store.pending(c))
            note = f", {pending} files waiting (resume: studio docs add {c.name})" if pending else ""
            print(f"{c.name}: {c.n_documents} documents, {c.n_chunks} chunks, {c.n_skipped} skipped{note}")
        return exits.OK
    finally:
        store.close()


def _counted(store: Any, collection: Any) -> dict[str, Any]:
    match = [c for c in store.collections() if c.id == collection.id]
    return match[0].to_dict() if match else collection.to_dict()


async def _add(args: argparse.Namespace) -> int:
    from studio.core.knowledge.client import KnowledgeClient
    from studio.core.workers.protocol import WorkerCancelled, WorkerError

    client = KnowledgeClient()
    live = sys.stderr.isatty()
    last = [-1]

    def progress(fraction: float, stage: str) -> None:
        percent = int(fraction * 100)
        if live:
            print(f"\r{percent:3d}% {stage[:60]:<60}", end="", file=sys.stderr, flush=True)
        elif percent // 10 != last[0]:
            last[0] = percent // 10
            print(f"{percent}% {stage}", file=sys.stderr, flush=True)

    def on_file(info: dict[str, Any]) -> None:
        if info.get("status") in ("skipped", "removed"):
            line = info.get("reason") or f"{Path(str(info.get('path'))).name}: removed (the file is gone)"
            print(("\r" if live else "") + f"{info.get('status')}: {line}", file=sys.stderr, flush=True)

    loop = asyncio.get_running_loop()
    try:
        import signal
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(client.cancel()))
    except (NotImplementedError, RuntimeError, ValueError):  # Windows / not the main thread
        pass
    try:
        report = await client.index(args.collection, args.paths, on_progress=progress, on_file=on_file,
                                    chunk_tokens=args.chunk_tokens, overlap_tokens=args.overlap_tokens)
    except WorkerCancelled:
        print(f"\nindexing was cancelled; what was done is kept. Resume with: studio docs add {args.collection}",
              file=sys.stderr)
        return exits.FAILED
    except WorkerError as exc:
        print(f"\nstudio docs: {exc}", file=sys.stderr)
        return exits.code_for(exc.kind)
    finally:
        await client.close()
    if live:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(f"{report['collection']}: {report['indexed']} indexed, {report['unchanged']} unchanged, "
              f"{report['skipped']} skipped, {report['removed']} removed; {report['embedded_chunks']} chunks "
              f"embedded in {report['seconds']:.1f} s")
    return exits.OK


async def _query(args: argparse.Namespace) -> int:
    from studio.core.knowledge.client import KnowledgeClient
    from studio.core.workers.protocol import WorkerError

    client = KnowledgeClient()
    try:
        result = await client.query([args.collection], args.text, mode=args.mode, top_k=args.top_k,
                                    min_similarity=args.min_similarity)
    except WorkerError as exc:
        print(f"studio docs: {exc}", file=sys.stderr)
        return exits.code_for(exc.kind)
    finally:
        await client.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return exits.OK
    hits = [c for c in result["candidates"] if c["selected"]]
    if not hits:
        print("nothing found")
    for c in hits:
        keyword = "—" if c["keyword_score"] is None else f"{c['keyword_score']:.3f} (#{c['keyword_rank']})"
        vector = "—" if c["vector_similarity"] is None else (
            f"{c['vector_similarity']:.3f}" + (f" (#{c['vector_rank']})" if c["vector_rank"] else ""))
        print(f"{c['fused_rank']}. {c['path']} · {c['location']}   keyword {keyword}   vector {vector}   "
              f"fused {c['fused_score']:.4f}")
        text = " ".join(c["text"].split())
        print(f"   {text[:240]}{'…' if len(text) > 240 else ''}")
    print(f"({len(result['candidates'])} candidates, {result['mode']}, {result['seconds'] * 1000:.0f} ms)")
    return exits.OK
