"""Download one GGUF file from the Hugging Face hub with nothing but urllib.

Resumable (a `.part` file plus a Range request), cancellable between chunks, size-checked,
checked against the hub's sha256 when one is known, and validated before it is renamed into place.
`HF_ENDPOINT` points it at a mirror or a test server; `url=` fetches from another source (ModelScope).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from studio.core.errors import StudioError
from studio.core.models.gguf_info import ModelFileError, format_size, read_gguf_info

DEFAULT_ENDPOINT = "https://huggingface.co"
_CHUNK = 1 << 20
_TIMEOUT = 30  # seconds without a byte before we call the connection lost

# progress(fraction, done_bytes, total_bytes); fraction is 0.0 while the total is unknown.
Progress = Callable[[float, int, "int | None"], None]


class DownloadError(StudioError):
    """A download that did not produce a usable model; `kind` is for code, the text for people."""

    def __init__(self, message: str, kind: str = "failed", values: dict[str, str] | None = None) -> None:
        super().__init__(kind, message, values)


class _SameHostAuth(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry the token to another host (the hub redirects to a CDN)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != \
                urllib.parse.urlsplit(req.full_url).netloc:
            for name in list(new.headers):
                if name.lower() == "authorization":
                    del new.headers[name]
        return new


def hub_url(repo: str, filename: str, revision: str = "main", endpoint: str | None = None) -> str:
    base = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    quote = urllib.parse.quote
    return f"{base}/{quote(repo)}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def download_from_hub(repo: str, filename: str, dest_dir: Path, *, revision: str = "main",
                      progress: Progress | None = None, cancel: threading.Event | None = None,
                      endpoint: str | None = None, url: str | None = None, sha256: str | None = None,
                      validate: bool = True, token: str | None = None) -> Path:
    """Fetch `filename` from `repo` into dest_dir and return its path; raises DownloadError.

    `url` replaces the hub URL (another source); `sha256` (the hub's LFS hash) is checked before the
    file is renamed into place; `validate=False` skips the model check, for the later shards of a
    split model, which hold tensors but no model metadata. `token` defaults to HF_TOKEN ("" = none)."""
    dest_dir = Path(dest_dir)
    dest = dest_dir / Path(filename).name
    if dest.exists() and _usable(dest, sha256, validate):
        return dest  # already here and usable
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    url = url or hub_url(repo, filename, revision, endpoint)
    token = os.environ.get("HF_TOKEN") if token is None else token
    total = _fetch(url, part, repo, filename, revision, progress, cancel, token)
    size = part.stat().st_size
    if total is not None and size < total:  # keep the part: the next run resumes it
        raise DownloadError(f"connection lost after {format_size(size)} of {format_size(total)}; "
                            "run it again to resume", "network")
    if total is not None and size > total:
        part.unlink(missing_ok=True)
        raise DownloadError(f"size mismatch: the server announced {format_size(total)} but sent "
                            f"{format_size(size)}; download it again", "size_mismatch")
    if sha256:
        got = file_sha256(part, cancel)
        if got != sha256.lower():
            part.unlink(missing_ok=True)
            raise DownloadError(f"checksum mismatch: {filename} should have sha256 {sha256} but the "
                                f"download has {got}; it was deleted, download it again", "checksum")
    os.replace(part, dest)
    if not validate:
        return dest
    try:
        read_gguf_info(dest)
    except ModelFileError as exc:
        dest.unlink(missing_ok=True)
        raise DownloadError(f"{filename} downloaded but is not a usable model: {exc}",
                            "invalid_model") from exc
    return dest


def file_sha256(path: Path, cancel: threading.Event | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK * 4):
            if cancel is not None and cancel.is_set():
                raise DownloadError("download cancelled", "cancelled")
            digest.update(chunk)
    return digest.hexdigest()


def _usable(dest: Path, sha256: str | None, validate: bool) -> bool:
    """A file already at the destination counts when its hash (if known) and its model check pass."""
    if sha256 and file_sha256(dest) != sha256.lower():
        return False
    if validate:
        try:
            read_gguf_info(dest)
        except ModelFileError:
            return False  # a broken leftover: fetch it again
    return True


def _fetch(url: str, part: Path, repo: str, filename: str, revision: str,
           progress: Progress | None, cancel: threading.Event | None, token: str | None) -> int | None:
    """Stream into `part`, resuming it if present; returns the announced total size."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "local-llm-studio"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if have:
        request.add_header("Range", f"bytes={have}-")
    opener = urllib.request.build_opener(_SameHostAuth())
    try:
        response = opener.open(request, timeout=_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # our part may already be whole; find out from the total
            total = _content_range_total(exc.headers.get("Content-Range"))
            if total == have:
                return total
            part.unlink(missing_ok=True)
            return _fetch(url, part, repo, filename, revision, progress, cancel, token)
        raise _http_error(exc.code, repo, filename, revision) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        host = urllib.parse.urlsplit(url).netloc
        raise DownloadError(f"could not reach {host}: {reason}; check the network connection", "network",
                            {"host": host, "reason": str(reason)}) from None

    with response:
        if response.status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != have:
                raise DownloadError(f"the server resumed at byte {start}, not {have}; delete "
                                    f"{part.name} and try again", "bad_response")
            total = _content_range_total(response.headers.get("Content-Range"))
            mode = "ab"
        else:  # 200: a fresh download (the server may have ignored our Range)
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = have
        try:
            with open(part, mode) as out:
                while True:
                    if cancel is not None and cancel.is_set():
                        raise DownloadError("download cancelled", "cancelled")
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done / total if total else 0.0, done, total)
        except (OSError, http.client.HTTPException, socket.timeout) as exc:
            if isinstance(exc, OSError) and exc.filename:  # our disk, not the network
                raise DownloadError(f"could not write {part}: {exc.strerror}", "disk") from exc
            of = f" of {format_size(total)}" if total else ""
            raise DownloadError(f"connection lost after {format_size(done)}{of}; run it again "
                                "to resume", "network") from None
    return total


def _http_error(code: int, repo: str, filename: str, revision: str) -> DownloadError:
    if code == 404:
        return DownloadError(f"the server answered 404: no file {filename} in repo {repo} "
                             f"(revision {revision}); check the names", "not_found")
    if code in (401, 403):
        return DownloadError(f"the server answered {code}: access to {repo} was refused; the repo "
                             "may be private or gated — accept its terms on the website and set "
                             "HF_TOKEN", "denied")
    if code == 429:
        return DownloadError("the server answered 429: too many requests; wait a minute and run "
                             "it again", "http")
    return DownloadError(f"the server answered {code} for {filename} in {repo}; try again later",
                         "http")


def _content_range_start(header: str | None) -> int | None:
    found = re.match(r"bytes (\d+)-\d+/(?:\d+|\*)", header or "")
    return int(found.group(1)) if found else None


def _content_range_total(header: str | None) -> int | None:
    found = re.match(r"bytes (?:\d+-\d+|\*)/(\d+)", header or "")
    return int(found.group(1)) if found else None
