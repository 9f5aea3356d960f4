"""Write studio/core/engine/gpu_manifest.py: the GPU runtime's download list with REAL sizes and hashes.

Run on a machine with network access, once per release and per platform (the list can hold several):

    .venv/bin/python packaging/make_gpu_manifest.py --cuda cu124 --python cp311 --platform linux_x86_64
    .venv/bin/python packaging/make_gpu_manifest.py --cuda cu124 --python cp311 --platform win_amd64 --append

What it does:
1. finds llama-cpp-python's CUDA wheel on its own index (abetlen.github.io/llama-cpp-python/whl/<cuda>/)
   and torch's on download.pytorch.org/whl/<cuda>/, for the versions this venv has installed (so the
   runtime matches the CPU build the app was tested with) unless --llama-version/--torch-version say
   otherwise;
2. reads torch's Requires-Dist for the NVIDIA libraries and triton it needs on that platform, and
   looks each one up on PyPI's JSON API (https://pypi.org/pypi/<name>/<version>/json);
   llama.cpp's CUDA build gets the CUDA runtime and cuBLAS wheels of the same versions;
3. downloads every file into --cache (kept, so a second run is quick), and records its size, sha256
   and unpacked size;
4. writes the list as a Python constant (the bundle ships no loose JSON files).

Nothing here is imported by the app.
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import json
import pprint
import re
import shutil
import sys
import urllib.parse
import urllib.request
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "studio" / "core" / "engine" / "gpu_manifest.py"
LLAMA_INDEX = "https://abetlen.github.io/llama-cpp-python/whl/{cuda}/llama-cpp-python/"
TORCH_INDEX = "https://download.pytorch.org/whl/{cuda}/torch/"
PYPI_JSON = "https://pypi.org/pypi/{name}/{version}/json"
ENGINE_LIBS = ("nvidia-cuda-runtime-cu12", "nvidia-cublas-cu12")  # what libllama's CUDA build links to


class _Links(html.parser.HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base, self.links = base, []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(urllib.parse.urljoin(self.base, href.split("#")[0]))


def _get(url: str) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "local-llm-studio"}),
                                timeout=60) as response:
        return response.read()


def _platform_ok(filename: str, plat: str) -> bool:
    if plat.startswith("linux_"):
        arch = plat.split("_", 1)[1]
        return filename.endswith(f"{arch}.whl") and ("linux" in filename)
    return filename.endswith(f"{plat}.whl")


def _find(index: str, project: str, version: str, python: str, plat: str) -> str:
    parser = _Links(index)
    parser.feed(_get(index).decode("utf-8", "replace"))
    wanted = re.compile(rf"^{re.escape(project)}-{re.escape(version)}(\+[^-]+)?-{python}-{python}-.+\.whl$")
    for link in parser.links:
        name = urllib.parse.unquote(link.rsplit("/", 1)[-1])
        if wanted.match(name) and _platform_ok(name, plat):
            return link
    raise SystemExit(f"no {project} {version} wheel for {python}/{plat} on {index}")


def _pypi(name: str, version: str, plat: str, api: str = PYPI_JSON) -> str:
    data = json.loads(_get(api.format(name=name, version=version)))
    for item in data["urls"]:
        if item["packagetype"] == "bdist_wheel" and (_platform_ok(item["filename"], plat)
                                                     or item["filename"].endswith("-none-any.whl")):
            return item["url"]
    raise SystemExit(f"no {name} {version} wheel for {plat} on PyPI")


def _fetch(url: str, cache: Path) -> Path:
    path = cache / urllib.parse.unquote(url.rsplit("/", 1)[-1])
    if not path.exists():
        print(f"downloading {url}", file=sys.stderr)
        tmp = path.with_name(path.name + ".tmp")
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        tmp.replace(path)
    return path


def _entry(url: str, cache: Path, component: str) -> dict:
    path = _fetch(url, cache)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with zipfile.ZipFile(path) as wheel:
        unpacked = sum(i.file_size for i in wheel.infolist())
    return {"name": path.name, "url": url, "size": path.stat().st_size, "sha256": digest.hexdigest(),
            "kind": "wheel", "unpacked": unpacked, "component": component}


def _torch_requirements(wheel: Path, plat: str, python: str) -> dict[str, str]:
    """{name: version} of the nvidia-* and triton wheels torch requires on this platform."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(meta_name).decode("utf-8"))
    env = default_environment()
    env.update({"sys_platform": "win32" if plat.startswith("win") else "linux",
                "platform_system": "Windows" if plat.startswith("win") else "Linux",
                "platform_machine": "AMD64" if plat == "win_amd64" else plat.split("_", 1)[1],
                "python_version": f"{python[2]}.{python[3:]}"})
    found = {}
    for line in meta.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if not (req.name.startswith("nvidia-") or req.name == "triton"):
            continue
        if req.marker is not None and not req.marker.evaluate(dict(env, extra="")):
            continue
        pinned = [s.version for s in req.specifier if s.operator == "=="]
        if pinned:
            found[req.name] = pinned[0]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cuda", default="cu124")
    parser.add_argument("--min-driver-cuda", help="default: from --cuda (cu124 → 12.4)")
    parser.add_argument("--python", default=f"cp{sys.version_info.major}{sys.version_info.minor}")
    parser.add_argument("--platform", default="linux_x86_64", help="linux_x86_64 or win_amd64")
    parser.add_argument("--llama-version", default=metadata.version("llama-cpp-python"))
    parser.add_argument("--torch-version", help="default: the installed torch, without its +cpu")
    parser.add_argument("--no-training", action="store_true", help="llama.cpp only, no torch")
    parser.add_argument("--llama-index", default=LLAMA_INDEX)
    parser.add_argument("--torch-index", default=TORCH_INDEX)
    parser.add_argument("--pypi", default=PYPI_JSON, help="PyPI's JSON API (a mirror), with {name} and {version}")
    parser.add_argument("--cudart-version", help="nvidia-cuda-runtime-cu12 for llama.cpp (default: torch's)")
    parser.add_argument("--cublas-version", help="nvidia-cublas-cu12 for llama.cpp (default: torch's)")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "gpu-wheels")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--append", action="store_true", help="keep the lists for other platforms/CUDA versions")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    cuda = args.cuda
    min_cuda = args.min_driver_cuda or f"{cuda[2:4]}.{cuda[4:]}"

    files = [_entry(_find(args.llama_index.format(cuda=cuda), "llama_cpp_python", args.llama_version,
                          args.python, args.platform), args.cache, "engine")]
    libs: dict[str, str] = {}
    if not args.no_training:
        version = args.torch_version or metadata.version("torch").split("+")[0]
        torch = _entry(_find(args.torch_index.format(cuda=cuda), "torch", version, args.python, args.platform),
                       args.cache, "training")
        libs = _torch_requirements(args.cache / torch["name"], args.platform, args.python)
        files.append(torch)
    chosen = {ENGINE_LIBS[0]: args.cudart_version, ENGINE_LIBS[1]: args.cublas_version}
    for position, name in enumerate(ENGINE_LIBS, 1):
        version = chosen[name] or libs.get(name)
        if not version:
            raise SystemExit(f"which {name} goes with {cuda}? torch did not say; pass --cudart-version/--cublas-version")
        libs.pop(name, None)
        files.insert(position, _entry(_pypi(name, version, args.platform, args.pypi), args.cache, "engine"))
    for name, version in sorted(libs.items()):
        files.append(_entry(_pypi(name, version, args.platform, args.pypi), args.cache, "training"))

    manifest = {"cuda": cuda, "min_driver_cuda": min_cuda, "python": args.python, "platform": args.platform,
                "files": files}
    manifests = []
    if args.append and args.out.exists():
        namespace: dict = {}
        exec(compile(args.out.read_text(), str(args.out), "exec"), namespace)  # our own generated file
        manifests = [m for m in namespace["MANIFESTS"] if (m["cuda"], m["python"], m["platform"])
                     != (cuda, args.python, args.platform) and all(f["sha256"] for f in m["files"])]
    manifests.append(manifest)
    args.out.write_text(
        '"""The GPU runtime\'s download list (see studio.core.engine.gpu_runtime). GENERATED by\n'
        "`packaging/make_gpu_manifest.py` from the real files: edit its arguments, not this file.\"\"\"\n\n"
        "from __future__ import annotations\n\nfrom typing import Any\n\n"
        f"MANIFESTS: list[dict[str, Any]] = {pprint.pformat(manifests, width=110, sort_dicts=False)}\n",
        encoding="utf-8")
    total = sum(f["size"] for f in files)
    print(f"wrote {args.out}: {len(files)} files, {total / 1e9:.1f} GB for {cuda}/{args.python}/{args.platform}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
