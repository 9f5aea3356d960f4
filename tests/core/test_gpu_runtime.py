"""The GPU runtime download: against a local stand-in server (tests/gpu_standin.py) serving small fake
wheels with Range support — install, resume, cancel, checksum, no network, disk space — and a real
worker process that imports from the runtime first."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest

from studio.core.engine import gpu_runtime
from studio.core.engine.gpu_runtime import DownloadError
from studio.core.workers import runtime as worker_runtime
from studio.core.workers.client import WorkerClient
from tests.gpu_standin import BIG, closed_port, serve

REPO = Path(__file__).resolve().parents[2]
ENGINE = "llama_cpp_python-0.0.0-cp311-cp311-linux_x86_64.whl"
TRAINING = "faketorch-1.0-py3-none-any.whl"


@pytest.fixture()
def standin():
    state = serve()
    yield state
    state.stop()


@pytest.fixture()
def root(tmp_path, monkeypatch) -> Path:
    """The runtime where the app would put it: <STUDIO_HOME>/data/gpu-runtime of a private home."""
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(worker_runtime.RUNTIME_ENV, raising=False)
    return gpu_runtime.default_root()


def test_full_install_unpacks_verifies_and_marks(standin, root):
    manifest = standin.manifest()
    est = gpu_runtime.estimate(manifest)
    assert est.download_bytes == sum(len(d) for d in standin.files.values())
    assert est.disk_bytes >= BIG and "to download, about" in est.sentence and "on disk" in est.sentence
    seen: list[tuple[float, int, int, str]] = []
    site = gpu_runtime.install(manifest, root, progress=lambda *a: seen.append(a))
    assert site == root / "site-packages"
    assert (site / "llama_cpp" / "__init__.py").read_text() == '__version__ = "0.0.0+fakecuda"\n'
    assert (site / "fakecuda_extra.py").is_file()          # .data/purelib goes to the top
    assert not (site / "not-installed").exists()            # scripts are not needed
    assert (site / "faketorch" / "blob.bin").stat().st_size == BIG
    assert not (root / "site-packages.partial").exists() and not (root / "downloads").exists()
    marker = json.loads((root / "runtime.json").read_text())
    assert marker["packages"] == {"llama_cpp_python": "0.0.0", "faketorch": "1.0"} and marker["cuda"] == "cu124"
    fractions = [s[0] for s in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(s[3].startswith("Downloading faketorch") for s in seen) and any("Unpacking" in s[3] for s in seen)
    state = gpu_runtime.status(root)
    assert state.installed and not state.enabled and state.disk_bytes >= BIG
    # on/off and remove
    gpu_runtime.set_enabled(True, root)
    assert gpu_runtime.status(root).enabled
    gpu_runtime.remove(root)
    assert not root.exists() and not gpu_runtime.status(root).installed
    with pytest.raises(DownloadError) as refused:
        gpu_runtime.set_enabled(True, root)
    assert refused.value.kind == "not_installed"


def test_a_dropped_connection_resumes_where_it_stopped(standin, root):
    standin.drops[TRAINING] = 1_500_000
    with pytest.raises(DownloadError) as lost:
        gpu_runtime.install(standin.manifest(), root)
    assert lost.value.kind == "network"
    assert "connection to 127.0.0.1" in str(lost.value) and "Resume continues" in str(lost.value)
    assert "CPU runtime keeps working" in str(lost.value)
    part = root / "downloads" / (TRAINING + ".part")
    assert part.stat().st_size == 1_500_000
    assert not gpu_runtime.status(root).installed and gpu_runtime.status(root).partial_bytes >= 1_500_000
    requests_before = standin.requests
    gpu_runtime.install(standin.manifest(), root)
    assert standin.ranges == [f"{TRAINING} bytes=1500000-"]
    assert standin.requests == requests_before + 1  # the finished engine wheel was not fetched again
    with zipfile.ZipFile(io.BytesIO(standin.files[TRAINING])) as wheel:
        assert (root / "site-packages" / "faketorch" / "blob.bin").read_bytes() == wheel.read("faketorch/blob.bin")


def test_cancel_leaves_a_resumable_part(standin, root):
    cancel = threading.Event()

    def progress(fraction, done, total, stage):
        if stage.startswith("Downloading faketorch") and done > len(standin.files[ENGINE]):
            cancel.set()

    with pytest.raises(DownloadError) as stopped:
        gpu_runtime.install(standin.manifest(), root, progress=progress, cancel=cancel)
    assert stopped.value.kind == "cancelled" and "Resume" in str(stopped.value)
    part = root / "downloads" / (TRAINING + ".part")
    assert 0 < part.stat().st_size < len(standin.files[TRAINING])
    assert not (root / "site-packages").exists() and not gpu_runtime.status(root).installed
    kept = part.stat().st_size
    gpu_runtime.install(standin.manifest(), root)
    assert standin.ranges == [f"{TRAINING} bytes={kept}-"]
    assert gpu_runtime.status(root).installed


def test_a_wrong_checksum_is_kept_aside_and_not_installed(standin, root):
    manifest = standin.manifest(**{TRAINING: "0" * 64})
    with pytest.raises(DownloadError) as bad:
        gpu_runtime.install(manifest, root)
    assert bad.value.kind == "checksum"
    aside = root / "downloads" / (TRAINING + ".bad")
    assert aside.is_file() and str(aside) in str(bad.value) and "sha256" in str(bad.value)
    assert not (root / "site-packages").exists() and not gpu_runtime.status(root).installed
    gpu_runtime.install(standin.manifest(), root)  # the right list installs (the good wheel was kept)
    assert gpu_runtime.status(root).installed


def test_no_network_says_so_in_a_sentence(standin, root):
    data = standin.manifest_data()
    port = closed_port()
    for entry in data["files"]:
        entry["url"] = f"http://127.0.0.1:{port}/{entry['name']}"
    with pytest.raises(DownloadError) as offline:
        gpu_runtime.install(gpu_runtime.load_manifest(data), root)
    assert offline.value.kind == "network"
    message = str(offline.value)
    assert message.startswith(f"could not reach 127.0.0.1:{port}: ")
    assert message.endswith("— check the connection; the CPU runtime keeps working")
    assert "Traceback" not in message and "Errno" not in message


def test_not_enough_disk_space_refuses_before_downloading(standin, root, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5_000_000, 5_000_000))
    with pytest.raises(DownloadError) as full:
        gpu_runtime.install(standin.manifest(), root)
    assert full.value.kind == "disk" and "not enough free disk space" in str(full.value)
    assert "5.0 MB is free" in str(full.value)
    assert standin.requests == 0


def test_the_shipped_list_is_well_formed_and_refused_until_measured(root, monkeypatch):
    from studio.core.engine.gpu_manifest import MANIFESTS

    manifests = [gpu_runtime.load_manifest(m) for m in MANIFESTS]
    assert manifests and all(m.entries for m in manifests)
    for manifest in manifests:
        assert {"engine", "training"} <= manifest.components()
        assert all(e.url.startswith("https://") and e.name in e.url.replace("%2B", "+") for e in manifest.entries)
        if not manifest.verified:
            with pytest.raises(DownloadError) as refused:
                gpu_runtime.install(manifest, root)
            assert refused.value.kind == "unverified" and "make_gpu_manifest.py" in str(refused.value)
    with pytest.raises(ValueError):
        gpu_runtime.load_manifest({"files": [{"name": "../evil.whl", "url": "http://x/evil.whl"}]})


def test_manifest_choice_follows_the_driver(monkeypatch, tmp_path):
    monkeypatch.delenv("STUDIO_GPU_MANIFEST", raising=False)
    here = {"python": f"cp{sys.version_info.major}{sys.version_info.minor}",
            "platform": gpu_runtime._platform_tag()}
    files = [{"name": "a-1-py3-none-any.whl", "url": "https://example.invalid/a-1-py3-none-any.whl"}]
    lists = [dict(here, cuda="cu121", min_driver_cuda="12.1", files=files),
             dict(here, cuda="cu124", min_driver_cuda="12.4", files=files)]
    gpu = gpu_runtime.GpuInfo("RTX", "550.54", "12.4")
    assert gpu_runtime.manifest_for(gpu, manifests=lists)[0].cuda == "cu124"
    assert gpu_runtime.manifest_for(gpu_runtime.GpuInfo("RTX", "530", "12.2"), manifests=lists)[0].cuda == "cu121"
    none, why = gpu_runtime.manifest_for(gpu_runtime.GpuInfo("RTX", "470", "11.4"), manifests=lists)
    assert none is None and "update the driver" in why
    none, why = gpu_runtime.manifest_for(gpu, manifests=[dict(lists[0], platform="plan9_mips")])
    assert none is None and "no GPU runtime for this system" in why
    custom = tmp_path / "list.json"
    custom.write_text(json.dumps(dict(lists[1], cuda="cu999")))
    monkeypatch.setenv("STUDIO_GPU_MANIFEST", str(custom))
    assert gpu_runtime.manifest_for(None, components=["engine"])[0].cuda == "cu999"


def test_detect_nvidia_never_raises(monkeypatch, tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nif [ -n \"$1\" ]; then echo 'NVIDIA GeForce RTX 4070, 550.54.14, 12282'; "
                    "else echo '| NVIDIA-SMI 550.54.14   Driver Version: 550.54.14   CUDA Version: 12.4 |'; fi\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])
    info = gpu_runtime.detect_nvidia()
    assert info == gpu_runtime.GpuInfo("NVIDIA GeForce RTX 4070", "550.54.14", "12.4", 12282)
    assert "RTX 4070" in info.describe() and "CUDA 12.4" in info.describe()
    fake.write_text("#!/bin/sh\nexit 9\n")
    result = gpu_runtime.detect_nvidia()
    assert result is None or isinstance(result, gpu_runtime.GpuInfo)  # falls back to /proc, never raises
    monkeypatch.setattr(gpu_runtime, "_detect_nvidia", lambda timeout: 1 / 0)
    assert gpu_runtime.detect_nvidia() is None


def _probe(env: dict[str, str], module: str) -> dict:
    async def go():
        client = WorkerClient("tests.core._runtime_probe_worker", name="probe", env=env)
        try:
            return await client.call("probe", module=module)
        finally:
            await client.close()
    return asyncio.run(go())


def test_a_worker_imports_from_the_runtime_first_only_when_on(standin, root, monkeypatch):
    site = gpu_runtime.install(standin.manifest(), root)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    monkeypatch.setattr(worker_runtime, "driver_present", lambda: True)
    off = _probe(env, "llama_cpp")  # installed, not switched on: the CPU build
    assert off["runtime"] == "" and not str(off["origin"]).startswith(str(site))
    assert gpu_runtime.runtime_env() == {}

    gpu_runtime.set_enabled(True, root)
    additions = gpu_runtime.runtime_env()
    assert additions[worker_runtime.RUNTIME_ENV] == str(site)
    assert additions["PYTHONPATH"].split(os.pathsep)[0] == str(site)
    on = _probe(env, "llama_cpp")
    assert on["origin"] == str(site / "llama_cpp" / "__init__.py")  # shadows the installed CPU build
    assert on["runtime"] == str(site)
    assert on["ld_library_path"].split(os.pathsep)[0] == str(site / "nvidia" / "cublas" / "lib")
    assert _probe(env, "fakecuda_probe")["mark"] == "from the GPU runtime"

    monkeypatch.setattr(worker_runtime, "driver_present", lambda: False)  # no driver: CPU, whatever the switch
    assert gpu_runtime.runtime_env() == {}
    assert _probe(env, "fakecuda_probe")["origin"] is None


def test_the_bundle_worker_entry_puts_the_runtime_first(standin, root):
    """A frozen bundle ignores PYTHONPATH; its `--run-worker` reads STUDIO_RUNTIME_PATH instead."""
    site = gpu_runtime.install(standin.manifest(), root)
    env = dict(os.environ, PYTHONPATH=str(REPO), STUDIO_RUNTIME_PATH=str(site))
    out = subprocess.run([sys.executable, "-m", "studio", "--run-worker", "tests.core._runtime_probe_worker",
                          "--once", "llama_cpp"], env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["origin"] == str(site / "llama_cpp" / "__init__.py") and found["sys_path"][0] == str(site)
