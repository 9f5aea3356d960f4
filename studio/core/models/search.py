"""Finding GGUF models on the Hugging Face hub (or a mirror) and on ModelScope.

Plain urllib, like studio.core.models.hub: the base install stays free of huggingface_hub/requests,
and downloads, searches and header reads share one way of honouring HF_ENDPOINT, HF_TOKEN and the
hub's redirects (the token never follows a redirect to another host).

Hugging Face: GET /api/models?search=&filter=gguf&sort=downloads|lastModified&direction=-1&limit=,
GET /api/models/{repo}/tree/{revision}?recursive=true (LFS entries carry the sha256), and the file
itself at /{repo}/resolve/{revision}/{path}, of which a Range request fetches only the header.
ModelScope: PUT /api/v1/dolphin/models (a JSON query), GET /api/v1/models/{repo}/repo/files?
Revision=master&Recursive=true, files at /models/{repo}/resolve/master/{path}. The ModelScope calls
follow the shape public clients use; they are verified here only against the tests' stand-in server,
not against modelscope.cn itself.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from studio.core.errors import StudioError
from studio.core.models.errors import ModelFileError
from studio.core.models.fit import ModelShape
from studio.core.models.gguf_info import scan_metadata_prefix
from studio.core.models.hub import DEFAULT_ENDPOINT, DownloadError, Progress, _SameHostAuth, \
    download_from_hub

HUGGINGFACE = "huggingface"
MODELSCOPE = "modelscope"
SOURCES = (HUGGINGFACE, MODELSCOPE)
MODELSCOPE_ENDPOINT = "https://modelscope.cn"
SORTS = ("downloads", "recent")
_TIMEOUT = 20
_HEADER_FIRST = 2 << 20      # most headers (metadata + vocabulary) fit in 2 MB
_HEADER_MAX = 64 << 20       # a 256k-token vocabulary with merges stays well under this

# Quantization names as llama.cpp and the big uploaders write them into file names.
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(?:UD-)?(I?Q[1-8](?:_(?:K|0|1|NL|XXS|XS|S|M|L|XL))*|TQ[12]_0|BF16|FP16|F16|F32"
    r"|MXFP4)(?![A-Za-z0-9])", re.IGNORECASE)
_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


class HubError(StudioError):
    """A search or listing that failed; kinds: offline, gated, not_found, rate_limited, http,
    bad_response, no_header."""


def hf_endpoint(setting: str = "") -> str:
    """The setting, else HF_ENDPOINT, else huggingface.co."""
    return (setting.strip() or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def modelscope_endpoint(setting: str = "") -> str:
    return (setting.strip() or os.environ.get("MODELSCOPE_ENDPOINT") or MODELSCOPE_ENDPOINT).rstrip("/")


def parse_quant(name: str) -> str:
    """"Q4_K_M" from "Llama-3.2-1B-Instruct-Q4_K_M.gguf"; "" when the name says nothing."""
    found = _QUANT.findall(Path(name).name)
    return found[-1].upper().replace("FP16", "F16") if found else ""


@dataclass(frozen=True)
class RepoHit:
    repo: str
    downloads: int
    likes: int
    updated: str   # ISO date (YYYY-MM-DD) or ""
    source: str = HUGGINGFACE
    gated: bool = False


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: str | None


@dataclass
class RemoteModel:
    """One model in a repository: a .gguf file, or the shards of a split one ("-00001-of-00003")."""
    repo: str
    name: str                 # the path without the shard suffix
    quant: str
    files: list[RemoteFile] = field(default_factory=list)
    source: str = HUGGINGFACE

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def first(self) -> RemoteFile:
        return self.files[0]

    @property
    def split(self) -> bool:
        return len(self.files) > 1


def group_files(repo: str, files: list[RemoteFile], source: str = HUGGINGFACE) -> list[RemoteModel]:
    """GGUF models among a repository's files, shards grouped; vision projectors (mmproj) left out
    because they cannot chat on their own."""
    models: dict[str, RemoteModel] = {}
    for item in files:
        base = Path(item.path).name.lower()
        if not base.endswith(".gguf") or "mmproj" in base:
            continue
        shard = _SHARD.search(item.path)
        name = item.path[:shard.start()] + ".gguf" if shard else item.path
        model = models.setdefault(name, RemoteModel(repo, name, parse_quant(name), source=source))
        model.files.append(item)
    for model in models.values():
        model.files.sort(key=lambda f: f.path)
    return sorted(models.values(), key=lambda m: (m.size, m.name))


class HubClient:
    """Search, list and peek at files of one source. Every method blocks; call it off the GUI thread."""

    def __init__(self, source: str = HUGGINGFACE, endpoint: str = "", token: str | None = None,
                 timeout: float = _TIMEOUT) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        self.source = source
        self.endpoint = hf_endpoint(endpoint) if source == HUGGINGFACE else modelscope_endpoint(endpoint)
        self.token = token if token is not None else os.environ.get(
            "HF_TOKEN" if source == HUGGINGFACE else "MODELSCOPE_API_TOKEN")
        self.timeout = timeout

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.endpoint).netloc or self.endpoint

    # -- HTTP ---------------------------------------------------------------------------------
    def _open(self, url: str, *, method: str = "GET", body: bytes | None = None,
              headers: dict[str, str] | None = None, what: str = "") -> Any:
        request = urllib.request.Request(url, data=body, method=method,
                                         headers={"User-Agent": "local-llm-studio", **(headers or {})})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            return urllib.request.build_opener(_SameHostAuth()).open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc.code, what, exc.headers.get("X-Error-Code", "")) from None
        except (urllib.error.URLError, OSError) as exc:
            raise self._offline(exc) from None

    def _offline(self, exc: BaseException) -> HubError:
        reason = getattr(exc, "reason", exc)
        values = {"host": self.host, "reason": str(reason), "source": self.source}
        if self.source == HUGGINGFACE:
            return HubError("offline", f"could not reach {self.host} ({reason}) — check the connection "
                                       "or set a mirror (HF_ENDPOINT) in Settings", values)
        return HubError("offline", f"could not reach {self.host} ({reason}) — check the connection "
                                   "or choose Hugging Face as the source", values)

    def _http_error(self, code: int, what: str, error_code: str = "") -> HubError:
        site = "huggingface.co" if self.source == HUGGINGFACE else "modelscope.cn"
        token = "HF_TOKEN" if self.source == HUGGINGFACE else "MODELSCOPE_API_TOKEN"
        if code in (401, 403):
            if error_code == "GatedRepo" or code == 401 or self.source == MODELSCOPE:
                return HubError("gated", f"{what or 'this repository'} is gated: accept its licence "
                                         f"on {site} and add a token ({token})")
            return HubError("gated", f"access to {what or 'this repository'} was refused (403): the "
                                     f"token cannot read it; accept its licence on {site}")
        if code == 404:
            return HubError("not_found", f"{what or 'that'} was not found on {self.host} (404): "
                                         "the repository may have been renamed, removed or made private",
                            {"what": what, "host": self.host})
        if code == 429:
            return HubError("rate_limited", f"{self.host} answered 429: too many requests; wait a "
                                            "minute and try again (a token raises the limit)", {"host": self.host})
        return HubError("http", f"{self.host} answered {code} for {what or 'the request'}; try again later")

    def _json(self, url: str, what: str, *, method: str = "GET", payload: Any = None) -> Any:
        return self._json_page(url, what, method=method, payload=payload)[0]

    def _json_page(self, url: str, what: str, *, method: str = "GET",
                   payload: Any = None) -> tuple[Any, str | None]:
        """(the answer, the next page's URL from a Link header or None)."""
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        with self._open(url, method=method, body=body, headers=headers, what=what) as response:
            raw = response.read()
            link = response.headers.get("Link") or ""
        found = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
        try:
            return json.loads(raw), urllib.parse.urljoin(url, found.group(1)) if found else None
        except ValueError:
            raise HubError("bad_response", f"{self.host} did not answer with JSON for {what} (is "
                                           "the endpoint a Hugging Face mirror?)") from None

    # -- search -------------------------------------------------------------------------------
    def search(self, query: str, sort: str = "downloads", limit: int = 30) -> list[RepoHit]:
        """GGUF repositories matching `query`, most downloaded or most recently updated first."""
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}")
        if self.source == MODELSCOPE:
            return self._search_modelscope(query, sort, limit)
        params = [("search", query.strip()), ("filter", "gguf"),
                  ("sort", "downloads" if sort == "downloads" else "lastModified"),
                  ("direction", "-1"), ("limit", str(limit))]
        params += [("expand", key) for key in ("downloads", "likes", "lastModified", "gated")]
        data = self._json(f"{self.endpoint}/api/models?{urllib.parse.urlencode(params)}", "the search")
        if not isinstance(data, list):
            raise HubError("bad_response", f"{self.host} answered the search with something other "
                                           "than a list of models")
        hits = []
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                hits.append(RepoHit(item["id"], _int(item.get("downloads")), _int(item.get("likes")),
                                    str(item.get("lastModified") or item.get("createdAt") or "")[:10],
                                    HUGGINGFACE, bool(item.get("gated"))))
        return hits

    def _search_modelscope(self, query: str, sort: str, limit: int) -> list[RepoHit]:
        payload = {"PageSize": limit, "PageNumber": 1, "Name": query.strip(),
                   "SortBy": "DownloadsCount" if sort == "downloads" else "GmtModified", "Order": "desc",
                   "Criterion": [{"category": "libraries", "predicate": "contains", "values": ["GGUF"]}]}
        data = self._json(f"{self.endpoint}/api/v1/dolphin/models", "the search", method="PUT",
                          payload=payload)
        models = ((data.get("Data") or {}).get("Model") or {}).get("Models") if isinstance(data, dict) \
            else None
        if not isinstance(models, list):
            raise HubError("bad_response", f"{self.host} answered the search without a model list")
        hits = []
        for item in models:
            if not isinstance(item, dict) or not item.get("Name"):
                continue
            owner = item.get("Path") or item.get("Owner") or ""
            repo = f"{owner}/{item['Name']}" if owner else str(item["Name"])
            stamp = item.get("LastUpdatedTime") or item.get("GmtModified") or ""
            updated = _date(stamp)
            hits.append(RepoHit(repo, _int(item.get("Downloads")), _int(item.get("Stars")), updated,
                                MODELSCOPE))
        return hits

    # -- files --------------------------------------------------------------------------------
    def list_models(self, repo: str, revision: str | None = None) -> list[RemoteModel]:
        """The GGUF models in `repo` with sizes and (Hugging Face: LFS; ModelScope: Sha256) hashes."""
        return group_files(repo, self.list_files(repo, revision), self.source)

    def list_files(self, repo: str, revision: str | None = None) -> list[RemoteFile]:
        quoted = urllib.parse.quote(repo)
        if self.source == MODELSCOPE:
            rev = urllib.parse.quote(revision or "master", safe="")
            answer = self._json(f"{self.endpoint}/api/v1/models/{quoted}/repo/files?Revision={rev}"
                                "&Recursive=true", repo)
            items = (answer.get("Data") or {}).get("Files") if isinstance(answer, dict) else None
            if not isinstance(items, list):
                raise HubError("bad_response", f"{self.host} answered the file list of {repo} "
                                               "without files")
            return [RemoteFile(str(i.get("Path") or i.get("Name")), _int(i.get("Size")),
                               i.get("Sha256") or None)
                    for i in items if isinstance(i, dict) and i.get("Type", "blob") == "blob"
                    and (i.get("Path") or i.get("Name"))]
        rev = urllib.parse.quote(revision or "main", safe="")
        url: str | None = f"{self.endpoint}/api/models/{quoted}/tree/{rev}?recursive=true"
        data: list[Any] = []
        while url is not None and len(data) < 100_000:  # the hub pages long listings (Link: next)
            page, url = self._json_page(url, repo)
            if not isinstance(page, list):
                raise HubError("bad_response", f"{self.host} answered the file list of {repo} with "
                                               "something other than a list")
            data += page
        files = []
        for item in data:
            if not isinstance(item, dict) or item.get("type") != "file" or not item.get("path"):
                continue
            lfs: dict[str, Any] = item["lfs"] if isinstance(item.get("lfs"), dict) else {}
            files.append(RemoteFile(item["path"], _int(lfs.get("size") or item.get("size")),
                                    lfs.get("oid") or lfs.get("sha256") or None))
        return files

    def file_url(self, repo: str, path: str, revision: str | None = None) -> str:
        quote = urllib.parse.quote
        if self.source == MODELSCOPE:
            return f"{self.endpoint}/models/{quote(repo)}/resolve/{quote(revision or 'master', safe='')}" \
                   f"/{quote(path)}"
        return f"{self.endpoint}/{quote(repo)}/resolve/{quote(revision or 'main', safe='')}/{quote(path)}"

    # -- header -------------------------------------------------------------------------------
    def read_metadata(self, repo: str, path: str, revision: str | None = None) -> dict[str, Any]:
        """The GGUF metadata of a remote file from its first megabytes (Range requests), without
        downloading the weights."""
        url = self.file_url(repo, path, revision)
        want = _HEADER_FIRST
        while True:
            with self._open(url, headers={"Range": f"bytes=0-{want - 1}"}, what=f"{repo}/{path}") \
                    as response:
                head = response.read(want)  # a server that ignores Range: read no further
            try:
                meta = scan_metadata_prefix(head)
            except ModelFileError as exc:
                raise HubError("no_header", f"{path} in {repo} is not a readable GGUF file: "
                                            f"{exc.message}") from None
            if meta is not None:
                return meta
            if len(head) < want or want >= _HEADER_MAX:
                raise HubError("no_header", f"the header of {path} in {repo} is larger than "
                                            f"{len(head) >> 20} MB or cut short; its memory needs "
                                            "are unknown")
            want *= 4

    def read_shape(self, model: RemoteModel) -> ModelShape:
        meta = self.read_metadata(model.repo, model.first.path)
        try:
            return ModelShape.from_metadata(meta)
        except ValueError as exc:
            raise HubError("no_header", f"{model.name}: {exc}, so its memory needs are unknown") \
                from None

    # -- download -----------------------------------------------------------------------------
    def download(self, model: RemoteModel, dest_dir: Path, *, progress: Progress | None = None,
                 cancel: threading.Event | None = None,
                 on_file: Callable[[int, int], None] | None = None) -> Path:
        """Download every shard of `model` (resumable, checksummed, via studio.core.models.hub) and
        return the first shard's path, which is what the library and llama.cpp load."""
        total = model.size or None
        done_before = 0
        first: Path | None = None
        for index, item in enumerate(model.files):
            if on_file is not None:
                on_file(index, len(model.files))

            def report(_fraction: float, done: int, _total: int | None, base: int = done_before) -> None:
                if progress is not None:
                    progress((base + done) / total if total else 0.0, base + done, total)

            path = download_from_hub(model.repo, item.path, dest_dir, progress=report, cancel=cancel,
                                     url=self.file_url(model.repo, item.path), sha256=item.sha256,
                                     validate=index == 0, token=self.token or "")
            first = first or path
            done_before += item.size
        if first is None:
            raise DownloadError(f"{model.name} has no files to download", "not_found")
        return first


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _date(stamp: Any) -> str:
    if isinstance(stamp, (int, float)) and stamp > 0:  # ModelScope: Unix seconds
        import datetime
        return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).date().isoformat()
    return str(stamp)[:10]


__all__ = ["HUGGINGFACE", "MODELSCOPE", "SOURCES", "HubClient", "HubError", "RemoteFile",
           "RemoteModel", "RepoHit", "group_files", "hf_endpoint", "parse_quant"]
