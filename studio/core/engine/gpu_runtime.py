"""The GPU runtime: CUDA builds of llama-cpp-python (and, for fine-tuning, torch) downloaded in the app
instead of shipped as a second multi-gigabyte bundle.

A manifest (studio.core.engine.gpu_manifest, made by packaging/make_gpu_manifest.py) lists the wheels
for one CUDA version, Python and platform: name, url, size, sha256, and how large they are unpacked.
`install()` downloads each one resumably (a `.part` file and an HTTP Range request, as the model
downloads in studio.core.models.hub do), checks its size and sha256, unpacks every wheel into
`<data>/gpu-runtime/site-packages.partial` and renames that into place only when all of it is there,
then writes the marker `runtime.json`. Cancel (or a lost connection) leaves the `.part` files, and
the next install resumes them. Nothing here imports from the runtime: only worker processes do, and
only when the user switched it on and the machine has an NVIDIA driver (studio.core.workers.runtime,
which the worker client applies at each start). The CPU runtime stays the default and keeps working
whatever happens here.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from studio.core.files import fsync_dir
from studio.core.models.gguf_info import format_size
from studio.core.models.hub import DownloadError, _content_range_start, _content_range_total
from studio.core.workers import runtime as _runtime
from studio.core.workers.runtime import ENABLED, MARKER, MARKER_FORMAT, RUNTIME_ENV, default_root, read_marker, site_dir

__all__ = ["DownloadError", "Estimate", "GpuInfo", "Manifest", "ManifestEntry", "RuntimeStatus", "default_root",
           "detect_nvidia", "estimate", "install", "is_enabled", "load_manifest", "manifest_for", "remove",
           "runtime_env", "set_enabled", "status"]

_CHUNK = 1 << 20
_TIMEOUT = 30  # seconds without a byte before the connection counts as lost
_DISK_MARGIN = 200 * 1000 * 1000  # room left over after the install, for the app's own files
_UNPACK_RATIO = 1.8  # wheels are zip files; CUDA libraries grow about this much when unpacked
CPU_KEEPS_WORKING = "the CPU runtime keeps working"

# progress(fraction, done_bytes, total_bytes, stage): fraction of the whole install (downloads and
# unpacking), bytes of the downloads, and a few words on what is happening now.
Progress = Callable[[float, int, int, str], None]


@dataclass(frozen=True)
class ManifestEntry:
    name: str            # the wheel's file name, e.g. llama_cpp_python-0.3.4-cp311-cp311-linux_x86_64.whl
    url: str
    size: int            # bytes of the file; 0 = not measured yet (the install refuses it)
    sha256: str          # hex; "" = not measured yet (the install refuses it)
    kind: str = "wheel"
    unpacked: int = 0    # bytes once unpacked; 0 = unknown (estimated from the size)
    component: str = "engine"  # "engine" (llama.cpp, chat) or "training" (torch)

    @property
    def project(self) -> str:
        return self.name.split("-")[0]

    @property
    def version(self) -> str:
        parts = self.name.split("-")
        return urllib.parse.unquote(parts[1]) if len(parts) > 2 else ""

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).netloc or self.url


@dataclass(frozen=True)
class Manifest:
    cuda: str                      # "cu124": what the wheels were built against
    entries: tuple[ManifestEntry, ...]
    min_driver_cuda: str = ""      # the lowest CUDA version the driver must support ("12.4")
    python: str = ""               # "cp311"
    platform: str = ""             # "linux_x86_64", "win_amd64"

    @property
    def verified(self) -> bool:
        """Every file has its real size and sha256 (else the install refuses to start)."""
        return bool(self.entries) and all(e.size > 0 and re.fullmatch(r"[0-9a-f]{64}", e.sha256)
                                          for e in self.entries)

    def components(self) -> set[str]:
        return {e.component for e in self.entries}

    def only(self, components: Iterable[str]) -> "Manifest":
        wanted = set(components)
        return Manifest(self.cuda, tuple(e for e in self.entries if e.component in wanted),
                        self.min_driver_cuda, self.python, self.platform)


def load_manifest(data: Mapping[str, Any]) -> Manifest:
    """A manifest from its JSON shape: {"cuda", "min_driver_cuda", "python", "platform", "files": [
    {"name", "url", "size", "sha256", "kind", "unpacked", "component"}, …]}. Raises ValueError."""
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise ValueError("a GPU runtime manifest needs a non-empty list of files")
    entries = []
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("url"), str):
            raise ValueError(f"a manifest entry needs a name and a url: {item!r}")
        if item.get("kind", "wheel") != "wheel" or not item["name"].endswith(".whl"):
            raise ValueError(f"only wheels can go into the GPU runtime: {item['name']}")
        if "/" in item["name"] or "\\" in item["name"] or item["name"].startswith("."):
            raise ValueError(f"not a plain file name: {item['name']}")
        entries.append(ManifestEntry(name=item["name"], url=item["url"], size=int(item.get("size") or 0),
                                     sha256=str(item.get("sha256") or "").lower(), kind="wheel",
                                     unpacked=int(item.get("unpacked") or 0),
                                     component=str(item.get("component") or "engine")))
    return Manifest(cuda=str(data.get("cuda", "")), entries=tuple(entries),
                    min_driver_cuda=str(data.get("min_driver_cuda", "")), python=str(data.get("python", "")),
                    platform=str(data.get("platform", "")))


def manifest_from_file(path: Path) -> Manifest:
    return load_manifest(json.loads(Path(path).read_text(encoding="utf-8")))


def _platform_tag() -> str:
    machine = platform.machine().lower()
    if sys.platform == "win32":
        return "win_amd64" if machine in ("amd64", "x86_64") else f"win_{machine}"
    if sys.platform.startswith("linux"):
        return f"linux_{'x86_64' if machine in ('amd64', 'x86_64') else machine}"
    return f"{sys.platform}_{machine}"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:2])


def manifest_for(gpu: "GpuInfo | None" = None, *, components: Iterable[str] = ("engine", "training"),
                 manifests: Iterable[Mapping[str, Any]] | None = None) -> tuple[Manifest | None, str]:
    """The manifest for this Python, this platform and the driver's CUDA version (the newest CUDA
    build the driver supports), limited to `components`; or (None, a sentence on why there is none).
    `STUDIO_GPU_MANIFEST` names a JSON manifest file to use instead (a mirror, a test server)."""
    override = os.environ.get("STUDIO_GPU_MANIFEST")
    if override:
        try:
            return manifest_from_file(Path(override)).only(components), ""
        except (OSError, ValueError) as exc:
            return None, f"The GPU runtime list {override} could not be read ({exc})."
    if manifests is None:
        from studio.core.engine.gpu_manifest import MANIFESTS
        manifests = MANIFESTS
    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    here = _platform_tag()
    fitting = [load_manifest(m) for m in manifests if m.get("python") == python and m.get("platform") == here]
    if not fitting:
        return None, (f"There is no GPU runtime for this system ({here}, Python "
                      f"{sys.version_info.major}.{sys.version_info.minor}); {CPU_KEEPS_WORKING}.")
    fitting.sort(key=lambda m: _version_tuple(m.min_driver_cuda), reverse=True)
    if gpu is not None and gpu.cuda:
        supported = [m for m in fitting if _version_tuple(m.min_driver_cuda) <= _version_tuple(gpu.cuda)]
        if not supported:
            oldest = fitting[-1].min_driver_cuda
            return None, (f"The NVIDIA driver supports CUDA {gpu.cuda}, and the GPU runtime needs CUDA "
                          f"{oldest} or newer; update the driver to use it ({CPU_KEEPS_WORKING}).")
        fitting = supported
    chosen = fitting[0].only(components)
    if not chosen.entries:
        return None, f"The GPU runtime list has none of {', '.join(components)}."
    return chosen, ""


@dataclass(frozen=True)
class Estimate:
    download_bytes: int
    disk_bytes: int
    sentence: str


def _unpacked(entry: ManifestEntry) -> int:
    return entry.unpacked or int(entry.size * _UNPACK_RATIO)


def estimate(manifest: Manifest) -> Estimate:
    """What the install costs: "2.9 GB to download, about 5.1 GB on disk"."""
    download = sum(e.size for e in manifest.entries)
    disk = sum(_unpacked(e) for e in manifest.entries)
    return Estimate(download, disk, f"{format_size(download)} to download, about {format_size(disk)} on disk")


@dataclass(frozen=True)
class GpuInfo:
    name: str             # "NVIDIA GeForce RTX 4070"; "" when only the driver is known
    driver: str           # "550.54.14"
    cuda: str = ""        # the newest CUDA version the driver supports, "12.4"
    memory_mb: int = 0

    def describe(self) -> str:
        parts = [self.name or "NVIDIA GPU"]
        if self.memory_mb:
            parts.append(f"{self.memory_mb / 1024:.0f} GB")
        parts.append(f"driver {self.driver}" if self.driver else "")
        if self.cuda:
            parts.append(f"CUDA {self.cuda}")
        return ", ".join(p for p in parts if p)


def detect_nvidia(timeout: float = 5.0) -> GpuInfo | None:
    """The first NVIDIA GPU and its driver (nvidia-smi, else /proc/driver/nvidia/version), or None.
    Never raises: a missing, broken or hanging nvidia-smi means no GPU runtime, nothing more."""
    try:
        return _detect_nvidia(timeout)
    except Exception:
        return None


def _detect_nvidia(timeout: float) -> GpuInfo | None:
    smi = shutil.which("nvidia-smi")
    if smi:
        query: subprocess.CompletedProcess[str] | None
        header: subprocess.CompletedProcess[str] | None
        try:
            query = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"],
                                   capture_output=True, text=True, timeout=timeout)
            header = subprocess.run([smi], capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.SubprocessError):
            query = header = None
        if query is not None and query.returncode == 0 and query.stdout.strip():
            first = [p.strip() for p in query.stdout.strip().splitlines()[0].split(",")]
            cuda = re.search(r"CUDA Version:\s*([\d.]+)", header.stdout if header is not None else "")
            memory = int(first[2]) if len(first) > 2 and first[2].isdigit() else 0
            return GpuInfo(first[0], first[1] if len(first) > 1 else "", cuda.group(1) if cuda else "", memory)
    try:
        text = Path("/proc/driver/nvidia/version").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", text)
    return GpuInfo("", found.group(1) if found else "")


@dataclass
class RuntimeStatus:
    root: Path
    installed: bool
    enabled: bool
    cuda: str = ""
    packages: dict[str, str] = field(default_factory=dict)
    partial_bytes: int = 0    # downloaded so far by an install that did not finish (resumable)
    disk_bytes: int = 0       # what the installed runtime takes


def status(root: Path | None = None) -> RuntimeStatus:
    root = Path(root) if root is not None else default_root()
    marker = read_marker(root)
    downloads = root / "downloads"
    partial = 0
    if marker is None and downloads.is_dir():
        partial = sum(p.stat().st_size for p in downloads.iterdir() if p.is_file() and not p.name.endswith(".bad"))
    return RuntimeStatus(root=root, installed=marker is not None, enabled=_runtime.is_enabled(root),
                         cuda=str((marker or {}).get("cuda", "")), packages=dict((marker or {}).get("packages", {})),
                         partial_bytes=partial, disk_bytes=int((marker or {}).get("disk_bytes", 0)))


def is_enabled(root: Path | None = None) -> bool:
    return _runtime.is_enabled(Path(root) if root is not None else default_root())


def set_enabled(enabled: bool, root: Path | None = None) -> None:
    """Switch the runtime on or off for the workers started from now on."""
    root = Path(root) if root is not None else default_root()
    flag = root / ENABLED
    if enabled:
        if read_marker(root) is None:
            raise DownloadError("the GPU runtime is not installed; download it first", "not_installed")
        flag.write_text("1\n", encoding="utf-8")
    else:
        flag.unlink(missing_ok=True)


def remove(root: Path | None = None) -> None:
    """Delete the runtime and anything half-downloaded; the workers go back to the CPU runtime."""
    root = Path(root) if root is not None else default_root()
    (root / ENABLED).unlink(missing_ok=True)
    (root / MARKER).unlink(missing_ok=True)  # first, so a half-deleted folder never counts as installed
    shutil.rmtree(root, ignore_errors=True)


def runtime_env(settings: Any = None, root: Path | None = None) -> dict[str, str]:
    """The environment additions for a worker process: STUDIO_RUNTIME_PATH, PYTHONPATH and the CUDA
    library folders when the runtime is installed, switched on and a driver is present; {} else.
    (The worker client applies this itself at each start; `settings` is accepted for callers that
    pass the app settings and is not needed: the switch lives beside the runtime.)"""
    base = {k: v for k, v in os.environ.items() if k != RUNTIME_ENV}
    before = dict(base)
    _runtime.with_runtime(base, root)
    return {k: v for k, v in base.items() if before.get(k) != v}


# ------------------------------------------------------------------------------------------- install

def install(manifest: Manifest, dest: Path | None = None, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> Path:
    """Download, verify and unpack the manifest's wheels into `dest` (default <data>/gpu-runtime);
    returns the runtime's site-packages. Raises DownloadError with a sentence for people: kind
    "network" (resumable), "cancelled" (resumable), "checksum", "disk", "http", "unverified", "bad_wheel"."""
    dest = Path(dest) if dest is not None else default_root()
    if not manifest.verified:
        raise DownloadError("this build's GPU runtime list has no checksums yet (packaging/make_gpu_manifest.py "
                            f"fills them in), so nothing can be downloaded safely; {CPU_KEEPS_WORKING}", "unverified")
    downloads = dest / "downloads"
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"could not create {downloads}: {exc.strerror or exc}", "disk") from exc
    _check_space(manifest, dest, downloads)
    total = sum(e.size for e in manifest.entries)
    report = _Report(progress, total)
    files: list[Path] = []
    for index, entry in enumerate(manifest.entries, 1):
        stage = f"Downloading {entry.project} ({index} of {len(manifest.entries)})"
        files.append(_download(entry, downloads, report, stage, cancel))
    site = _unpack_all(manifest, files, dest, report, cancel)
    shutil.rmtree(downloads, ignore_errors=True)  # the wheels are unpacked; keep the disk space
    report(1.0, "Installed")
    return site


class _Report:
    """Turns per-file byte counts into one progress line; unpacking is the last 10 %."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done_before, self.done = progress, max(1, total), 0, 0

    def bytes(self, done_in_file: int, stage: str) -> None:
        self.done = self.done_before + done_in_file
        self(0.9 * self.done / self.total, stage)

    def file_done(self, size: int) -> None:
        self.done_before += size
        self.done = self.done_before

    def __call__(self, fraction: float, stage: str) -> None:
        if self.progress is not None:
            self.progress(min(1.0, fraction), self.done, self.total, stage)


def _check_space(manifest: Manifest, dest: Path, downloads: Path) -> None:
    have = {p.name: p.stat().st_size for p in downloads.iterdir() if p.is_file()}
    to_fetch = sum(max(0, e.size - have.get(e.name, have.get(e.name + ".part", 0))) for e in manifest.entries)
    need = to_fetch + sum(_unpacked(e) for e in manifest.entries) + _DISK_MARGIN
    try:
        free = shutil.disk_usage(dest).free
    except OSError:
        return  # cannot tell: the writes themselves will say so
    if free < need:
        raise DownloadError(f"not enough free disk space in {dest}: the GPU runtime needs about {format_size(need)} "
                            f"and {format_size(free)} is free; free some space and try again — {CPU_KEEPS_WORKING}",
                            "disk")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(entry: ManifestEntry, downloads: Path, report: _Report, stage: str,
              cancel: threading.Event | None) -> Path:
    final = downloads / entry.name
    part = downloads / (entry.name + ".part")
    if final.is_file() and final.stat().st_size == entry.size:  # verified by an earlier run
        report.file_done(entry.size)
        return final
    have = part.stat().st_size if part.exists() else 0
    if have > entry.size:
        part.unlink()
        have = 0
    if have < entry.size:
        _fetch(entry, part, have, report, stage, cancel)
    size = part.stat().st_size
    if size != entry.size:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{entry.name} from {entry.host} is {format_size(size)}, not the expected "
                            f"{format_size(entry.size)}; download it again", "size_mismatch")
    report(0.9 * (report.done_before + size) / report.total, f"Checking {entry.project}")
    if _sha256(part) != entry.sha256:
        aside = downloads / (entry.name + ".bad")
        os.replace(part, aside)
        raise DownloadError(f"{entry.name} from {entry.host} does not match its sha256 checksum, so it was not "
                            f"installed (kept as {aside} for a look); download it again — if this repeats, "
                            f"something between you and {entry.host} changes the file; {CPU_KEEPS_WORKING}",
                            "checksum")
    os.replace(part, final)
    report.file_done(entry.size)
    return final


def _fetch(entry: ManifestEntry, part: Path, have: int, report: _Report, stage: str,
           cancel: threading.Event | None) -> None:
    request = urllib.request.Request(entry.url, headers={"User-Agent": "local-llm-studio"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    if cancel is not None and cancel.is_set():
        raise _cancelled()
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and _content_range_total(exc.headers.get("Content-Range")) == have:
            return  # the part is already whole
        if exc.code == 416:
            part.unlink(missing_ok=True)
        raise DownloadError(f"{entry.host} answered {exc.code} for {entry.name}; try again later — "
                            f"{CPU_KEEPS_WORKING}", "http") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        raise DownloadError(f"could not reach {entry.host}: {reason} — check the connection; "
                            f"{CPU_KEEPS_WORKING}", "network") from None
    with response:
        if response.status == 206:
            if _content_range_start(response.headers.get("Content-Range")) != have:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{entry.host} resumed {entry.name} at the wrong place; try again "
                                    "(it starts over)", "bad_response")
            mode = "ab"
        else:  # 200: the whole file (the server may ignore Range)
            have, mode = 0, "wb"
        done = have
        report.bytes(done, stage)
        try:
            with open(part, mode) as out:
                while True:
                    if cancel is not None and cancel.is_set():
                        raise _cancelled()
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    report.bytes(done, stage)
        except (OSError, http.client.HTTPException, socket.timeout) as exc:
            if isinstance(exc, OSError) and exc.filename:  # our disk, not the network
                raise DownloadError(f"could not write {part}: {exc.strerror}", "disk") from exc
            raise _lost(entry, done) from None
    if done < entry.size:  # the server closed early: what arrived is kept for Resume
        raise _lost(entry, done)


def _lost(entry: ManifestEntry, done: int) -> DownloadError:
    return DownloadError(f"the connection to {entry.host} was lost after {format_size(done)} of "
                         f"{format_size(entry.size)} of {entry.project}; Resume continues from there — "
                         f"{CPU_KEEPS_WORKING}", "network")


def _cancelled() -> DownloadError:
    return DownloadError("the download was cancelled; Resume continues where it stopped", "cancelled")


def _unpack_all(manifest: Manifest, files: list[Path], dest: Path, report: _Report,
                cancel: threading.Event | None) -> Path:
    """Unpack every wheel into site-packages.partial, then swap it into place and write the marker."""
    staging = dest / (_runtime.SITE + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    written = 0
    for index, (entry, wheel) in enumerate(zip(manifest.entries, files), 1):
        if cancel is not None and cancel.is_set():
            shutil.rmtree(staging, ignore_errors=True)  # the downloads stay: Resume only unpacks
            raise _cancelled()
        report(0.9 + 0.1 * (index - 1) / len(files), f"Unpacking {entry.project} ({index} of {len(files)})")
        written += _unpack_wheel(wheel, staging)
    site = site_dir(dest)
    old = dest / (_runtime.SITE + ".old")
    shutil.rmtree(old, ignore_errors=True)
    (dest / MARKER).unlink(missing_ok=True)  # from here until the new marker, nothing counts as installed
    if site.exists():
        os.replace(site, old)
    os.replace(staging, site)
    marker = {"format": MARKER_FORMAT, "cuda": manifest.cuda, "python": manifest.python,
              "platform": manifest.platform, "installed": time.strftime("%Y-%m-%d %H:%M:%S"),
              "disk_bytes": written, "packages": {e.project: e.version for e in manifest.entries}}
    tmp = dest / (MARKER + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(marker, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, dest / MARKER)
    fsync_dir(dest)
    shutil.rmtree(old, ignore_errors=True)
    return site


def _unpack_wheel(wheel: Path, target: Path) -> int:
    """Extract a wheel as pip would for a plain install into `target` (its .data/purelib and platlib
    go to the top; scripts and headers are not needed). Returns the bytes written."""
    written = 0
    root = target.resolve()
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                name = info.filename
                if info.is_dir():
                    continue
                parts = name.split("/")
                if len(parts) > 2 and parts[0].endswith(".data"):
                    if parts[1] not in ("purelib", "platlib"):
                        continue
                    parts = parts[2:]
                out = (target / "/".join(parts)).resolve()
                if root not in out.parents:
                    raise DownloadError(f"{wheel.name} holds a file outside its folder ({name}); it was not "
                                        "installed", "bad_wheel")
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(out, "wb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(out, mode | 0o600)
                written += info.file_size
    except (zipfile.BadZipFile, EOFError) as exc:
        wheel.unlink(missing_ok=True)
        raise DownloadError(f"{wheel.name} is not a readable wheel ({exc}); download it again", "bad_wheel") from exc
    except OSError as exc:
        raise DownloadError(f"could not unpack {wheel.name} into {target}: {exc.strerror or exc}", "disk") from exc
    return written
