"""What the Knowledge screen needs from the core: rename, a document's chunks and extent, the
recorded sources behind "re-index changed files", and the evented library over two workers."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from studio.core.knowledge.embedder import Embedder
from studio.core.knowledge.indexer import index
from studio.core.knowledge.store import KnowledgeError, KnowledgeStore

CORPUS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "knowledge"


@pytest.fixture(scope="module")
def embedder(embedding_model) -> Embedder:
    return Embedder(embedding_model)


def _docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("lighthouse.md", "tea.md", "honeybees.txt"):
        shutil.copy(CORPUS / name, folder / name)
    return folder


def test_rename_chunks_and_extents(tmp_path, embedder):
    folder = _docs(tmp_path / "docs")
    store = KnowledgeStore(tmp_path / "k.sqlite3")
    index(store, embedder, "first", [folder])
    store.collection("other", create=True)
    with pytest.raises(KnowledgeError, match="already exists"):
        store.rename_collection("first", "other")
    renamed = store.rename_collection("first", "灯塔 notes")
    assert [c.name for c in store.collections()] == ["other", "灯塔 notes"]
    path = str(folder / "lighthouse.md")
    chunks = store.document_chunks(renamed, path)
    assert chunks and [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert all(c.path == path and c.n_tokens > 0 and c.start <= c.end for c in chunks)
    lines = len((folder / "lighthouse.md").read_text(encoding="utf-8").splitlines())
    assert 0 < store.extents(renamed)[path] <= lines
    assert store.models(renamed) == [embedder.name] and store.models(store.collection("other")) == []
    store.close()


def test_refresh_finds_changed_new_and_deleted_files(tmp_path, embedder):
    folder = _docs(tmp_path / "docs")
    single = tmp_path / "panda.md"
    shutil.copy(CORPUS / "panda.md", single)
    store = KnowledgeStore(tmp_path / "k.sqlite3")
    index(store, embedder, "c", [folder, single])
    coll = store.collection("c")
    assert store.sources(coll) == sorted([str(folder), str(single)])
    (folder / "tea.md").unlink()
    shutil.copy(CORPUS / "panda.md", folder / "new_panda.md")
    with open(folder / "honeybees.txt", "a", encoding="utf-8") as fh:
        fh.write("\nA new paragraph about drones and the queen's mating flight.\n")
    single.unlink()
    report = index(store, embedder, "c", refresh=True)
    status = {Path(f.path).name: f.status for f in report.files}
    assert status == {"panda.md": "removed", "tea.md": "removed", "new_panda.md": "indexed",
                      "honeybees.txt": "indexed", "lighthouse.md": "unchanged"}
    assert store.sources(coll) == [str(folder)]
    store.close()


@pytest.mark.slow
def test_library_indexes_with_events_and_answers(tmp_path, embedding_model):
    from studio.core.knowledge.library import KnowledgeLibrary

    folder = _docs(tmp_path / "docs")
    (folder / "blank.txt").write_bytes(b"")

    async def scenario():
        library = KnowledgeLibrary(tmp_path / "k.sqlite3")
        events: list[str] = []
        for name in ("changed", "job", "file", "finished"):
            library.subscribe(name, lambda _n=name, **_kw: events.append(_n))
        try:
            assert await library.create("docs") == "docs"
            with pytest.raises(KnowledgeError, match="already exists"):
                await library.create("docs")
            job = await library.index("docs", [folder])
            infos = await library.collections()
            documents = await library.documents("docs")
            chunks = await library.chunks("docs", str(folder / "tea.md"))
            answer = await library.query(["docs"], "灯塔是哪一年实现自动化的？", top_k=3)
            await library.rename("docs", "renamed")
            await library.delete("renamed")
            return job, infos, documents, chunks, answer, await library.collections(), events
        finally:
            await library.close()

    job, infos, documents, chunks, answer, after, events = asyncio.run(scenario())
    assert job.outcome == "done" and job.chunks > 0 and job.rate > 0
    assert [f["path"] for f in job.skipped] == [str(folder / "blank.txt")]
    info = infos[0]
    assert (info.name, info.documents, info.skipped, info.pending) == ("docs", 3, 1, 0) and info.chunks == job.chunks
    blank = next(d for d in documents if d.name == "blank.txt")
    assert blank.status == "skipped" and blank.reason_kind == "empty" and blank.reason
    assert chunks and all(c.path.endswith("tea.md") for c in chunks)
    assert Path(answer["candidates"][0]["path"]).name == "lighthouse.md"
    assert after == [] and {"changed", "job", "file", "finished"} <= set(events)
