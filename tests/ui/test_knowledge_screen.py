"""The Knowledge screen with the real embedding model and real knowledge workers: collections,
dropped files (hostile ones among them) with their reasons, chunks to read, the query playground,
cancel and resume, the embeddings map, a dead worker, and the screen in Simplified Chinese."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.ui.conftest import drag_enter_event

CORPUS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "knowledge"
DOCS = ("lighthouse.md", "tea.md", "great_wall.md", "honeybees.txt", "panda.md", "volcanoes.html")


def _corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in DOCS:
        shutil.copy(CORPUS / name, folder / name)
    return folder


@pytest.fixture()
def screen(qtbot, run, tmp_path, embedding_model):
    from studio.core.knowledge.library import KnowledgeLibrary
    from studio.core.settings import KnowledgeSettings
    from studio.ui.knowledge.view import KnowledgeView

    saved: list[KnowledgeSettings] = []
    settings = KnowledgeSettings()
    view = KnowledgeView(KnowledgeLibrary(tmp_path / "k.sqlite3"), settings,
                         lambda: saved.append(KnowledgeSettings(**vars(settings))))
    view.saved = saved
    view.resize(1280, 820)
    view.show()
    qtbot.waitExposed(view)
    yield view
    run(view.shutdown(), timeout=30)
    view.close()
    view.deleteLater()


def drop(view, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = drag_enter_event(400, 300, mime)
    view.dragEnterEvent(enter)
    assert enter.isAccepted() and view.overlay.isVisible()
    view.dropEvent(QDropEvent(QPointF(400, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                              Qt.KeyboardModifier.NoModifier))
    assert not view.overlay.isVisible()


def file_rows(view) -> dict[str, list[str]]:
    table = view.files.files
    return {table.item(r, 0).text(): [table.item(r, c).text() for c in range(1, table.columnCount())]
            for r in range(table.rowCount())}


def index_done(view, run, timeout: float = 120.0):
    run.until(lambda: view.last_job is not None and not view.library.indexing, timeout)
    return view.last_job


def test_collection_files_reasons_chunks_and_questions(screen, run, qtbot, tmp_path, screenshot_dir):
    view = screen
    assert run(view.create_collection("Bilingual docs")) == "Bilingual docs"
    folder = _corpus(tmp_path / "docs")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "junk.txt").write_bytes(bytes(range(256)) * 16 + b"\x00" * 64)  # binary under a .txt name
    drop(view, [folder])
    run.until(lambda: view.progress.isVisible() or view.last_job is not None, 30)
    job = index_done(view, run)
    assert job.outcome == "done", job.error
    run.until(lambda: len(file_rows(view)) == len(DOCS) + 2, 10)
    rows = file_rows(view)
    assert rows["empty.txt"][0] == "nothing indexed" and rows["empty.txt"][3].startswith("empty — empty.txt: ")
    assert rows["junk.txt"][0] == "nothing indexed" and rows["junk.txt"][3].startswith("binary, not text — junk.txt")
    assert all(rows[n][0] == "indexed" and int(rows[n][1]) > 0 and rows[n][2] for n in DOCS)
    assert "lines" in rows["lighthouse.md"][2]
    assert "2 yielded nothing" in view.banner.text() or "2 files yielded nothing" in view.banner.text()
    info = view.info.text()
    assert "6 files indexed, 2 yielded nothing" in info and "use-multilingual-v3" in info
    assert view.collections.currentItem().text().startswith("Bilingual docs\n6 files")

    # Chunks to read: a file's chunks with place and tokens, then one chunk whole.
    row = [view.files.files.item(r, 0).text() for r in range(view.files.files.rowCount())].index("lighthouse.md")
    view.files.files.selectRow(row)
    run.until(lambda: view.files.chunks.rowCount() > 0, 10)
    chunks = view.files.chunks
    assert chunks.item(0, 1).text().startswith("line") and int(chunks.item(0, 2).text()) > 0
    chunks.selectRow(0)
    assert view.files.chunk_text.toPlainText().startswith("Chunk 1 · line")
    chunks.selectRow(1)
    qtbot.wait(300)
    view.grab().save(str(screenshot_dir / "knowledge_collection_files.png"))

    # The playground: every candidate with both scores, the answering chunk first, settings saved.
    view.sections.setCurrentWidget(view.playground)
    view.playground.top_k.setValue(3)
    assert view.saved[-1].top_k == 3
    result = run(view.ask("How far could the original whale oil lamp be seen?"), timeout=60)
    top = result["candidates"][0]
    assert Path(top["path"]).name == "lighthouse.md" and "14 nautical miles" in top["text"]
    table = view.playground.candidates
    model = table.model
    assert model.rowCount() == len(result["candidates"]) > 3
    first = [table.proxy.index(0, c).data() for c in range(model.columnCount())]
    assert first[0] == "1" and first[5] == "top k" and first[6] == "lighthouse.md"
    assert float(first[1]) > 0 and 0 < float(first[3]) <= 1 and first[2] != "—" and first[4] != "—"
    assert [table.proxy.index(r, 5).data() for r in range(4)] == ["top k", "top k", "top k", "—"]
    assert "14 nautical miles" in table.detail.toPlainText()
    assert "candidates for" in table.summary.text()
    view.playground.question.setText("How far could the original whale oil lamp be seen?")
    qtbot.wait(200)
    view.grab().save(str(screenshot_dir / "knowledge_playground.png"))
    table.candidate_opened.emit(table.candidate_at(0))  # a double-click opens it among its file's chunks
    run.until(lambda: view.files.current_chunk() is not None and view.files.current_chunk().id == top["chunk_id"], 10)
    assert view.sections.currentWidget() is view.files and "14 nautical miles" in view.files.chunk_text.toPlainText()
    view.sections.setCurrentWidget(view.playground)

    # Chinese question for an English document, vector only.
    view.playground.mode.setCurrentIndex(view.playground.mode.findData("vector"))
    assert view.saved[-1].mode == "vector"
    zh = run(view.ask("灯塔是哪一年实现自动化的？"), timeout=60)
    assert all(c["keyword_rank"] is None for c in zh["candidates"])
    assert any("1989" in c["text"] for c in zh["candidates"][:3])

    # The map: one point per chunk, the question and its nearest chunks highlighted.
    view.map.question.setText("How far could the original whale oil lamp be seen?")
    view.sections.setCurrentWidget(view.map)
    run.until(lambda: view.map_key is not None and view.map.query is not None, 60)
    total = sum(int(rows[n][1]) for n in DOCS)
    assert len(view.map.points) == total == sum(len(item.data) for item in view.map.file_items)
    assert len(view.map.file_items) == len(DOCS)
    nearest = view.map.query["nearest"]
    assert len(nearest) == 5 and len(view.map.ring_item.data) == 5 and len(view.map.query_item.data) == 1
    near_paths = {Path(p["path"]).name for p in view.map.points if p["chunk_id"] == nearest[0]}
    assert near_paths == {"lighthouse.md"}
    # Hover a point: its source and text show; click it: the chunk opens in Files & chunks.
    index = next(i for i, p in enumerate(view.map.points) if p["chunk_id"] == nearest[0])
    qtbot.wait(200)
    box = view.map.plot.getPlotItem().vb
    scene_pos = box.mapViewToScene(QPointF(*view.map.xy[index]))
    assert view.map.point_at(scene_pos) >= 0
    view.map._on_move((scene_pos,))
    assert "lighthouse.md" in view.map.hover.text()
    view.map.mark(index)
    qtbot.wait(200)
    view.grab().save(str(screenshot_dir / "knowledge_map.png"))
    view.map.chunk_clicked.emit(nearest[0])
    run.until(lambda: view.files.current_chunk() is not None and view.files.current_chunk().id == nearest[0], 10)
    assert view.sections.currentWidget() is view.files


def test_cancel_mid_index_then_resume_and_reindex(screen, run, tmp_path, screenshot_dir):
    view = screen
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(30):
        (folder / f"note{i:02d}.md").write_text(f"# Note {i}\n\n" + " ".join(
            f"Sentence {j} of note {i} mentions the colour {['red', 'green', 'blue'][j % 3]}." for j in range(60)),
            encoding="utf-8")
    cancelled: list[bool] = []

    def cancel_after_two(collection, info):
        if len(view.library.job.files) >= 2 and not cancelled:
            cancelled.append(True)
            view.grab().save(str(screenshot_dir / "knowledge_indexing.png"))
            view.cancel_button.click()
    view.library.subscribe("file", cancel_after_two)
    shown: list[str] = []
    view.library.subscribe("job", lambda job: shown.append(view.status.text()))
    drop(view, [folder])  # no collection yet: one named after the folder is made
    job = index_done(view, run)
    assert job.outcome == "cancelled" and 2 <= len(job.files) < 30 and view.current() == "many"
    assert "was cancelled" in view.status.text()
    assert any(t.startswith("Indexing note") and " into many — " in t and "chunks/s" in t for t in shown), shown
    run.until(lambda: view.resume_button.isVisible() and "waiting from an interrupted" in view.info.text(), 10)
    first = len(job.files)
    view.last_job = None
    view.resume_button.click()
    job = index_done(view, run)
    assert job.outcome == "done" and job.report["indexed"] == 30 - first and job.report["unchanged"] == 0
    run.until(lambda: len(file_rows(view)) == 30 and not view.resume_button.isVisible(), 10)
    # Re-index changed files: an edit is indexed again, a deleted file removed, the rest unchanged.
    (folder / "note05.md").write_text("# Note 5\n\nRewritten: this note now talks about purple.", encoding="utf-8")
    (folder / "note06.md").unlink()
    view.last_job = None
    view.refresh_button.click()
    job = index_done(view, run)
    assert (job.report["indexed"], job.report["removed"], job.report["unchanged"]) == (1, 1, 28)
    run.until(lambda: len(file_rows(view)) == 29, 10)


def test_rename_delete_and_a_dead_worker(screen, run, tmp_path):
    view = screen
    folder = _corpus(tmp_path / "docs")
    run(view.create_collection("first"))
    assert run(view.create_collection("first")) == "" and "already exists" in view.banner.text()
    run(view.index("first", [str(folder / "tea.md")]))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(model))])
    enter = drag_enter_event(400, 300, mime)
    view.dragEnterEvent(enter)
    assert not enter.isAccepted()  # a model is the window's to load, not a document
    run(view.rename_collection("first", "茶"))
    assert view.current() == "茶" and view.collections.count() == 1
    view.confirm = lambda title, text: False
    assert run(view.delete_collection("茶")) is False and view.collections.count() == 1
    view.confirm = lambda title, text: "茶" in text
    assert run(view.delete_collection("茶")) is True and view.collections.count() == 0
    assert "No collection yet" in view.info.text()


def test_a_worker_killed_while_answering_says_so(screen, run, tmp_path):
    view = screen
    run(view.create_collection("c"))
    run(view.index("c", [str(_corpus(tmp_path / "docs") / "panda.md")]))
    run(view.ask("大熊猫吃什么？"), timeout=60)
    task = run.loop.create_task(view.ask("大熊猫吃什么？"))
    view.library.searcher.kill()
    run.until(task.done, 30)
    assert task.result() is None and "knowledge worker stopped" in view.banner.text()
    assert view.playground.ask_button.isEnabled()
    assert run(view.ask("大熊猫吃什么？"), timeout=60) is not None


def test_offline_first_use_is_one_sentence(qtbot, run, tmp_path, monkeypatch):
    import os

    from studio.core.knowledge.library import KnowledgeLibrary
    from studio.core.settings import KnowledgeSettings
    from studio.ui.knowledge.view import KnowledgeView

    env = {k: v for k, v in os.environ.items() if k != "STUDIO_EMBEDDING_MODEL"}
    env.update(STUDIO_MODELS_DIR=str(tmp_path / "models"), PIP_INDEX_URL="http://127.0.0.1:9/simple",
               PIP_RETRIES="0", PIP_TIMEOUT="2", PIP_NO_CACHE_DIR="1", PIP_FIND_LINKS="")
    library = KnowledgeLibrary(tmp_path / "k.sqlite3")
    library.indexer.worker._env = env
    view = KnowledgeView(library, KnowledgeSettings(), lambda: None)
    view.show()
    try:
        run(view.create_collection("offline"))
        note = tmp_path / "note.md"
        note.write_text("# A note\n\nSome text.", encoding="utf-8")
        job = run(view.index("offline", [str(note)]), timeout=120)
        assert job.outcome == "failed" and job.error_kind == "embedding_model"
        text = view.banner.text()
        assert text.startswith("The embedding model could not be set up: could not download the embedding model")
        assert "network" in text and "Traceback" not in text
        # While the model is fetched on first use, the bar says so.
        from studio.core.knowledge.client import PROVISION_STAGE
        from studio.core.knowledge.library import IndexJob

        view._show_job(IndexJob("offline", fraction=0.4, stage=PROVISION_STAGE, provisioning=True))
        assert view.progress.isVisibleTo(view) and view.status.text().startswith(
            "First use: downloading and unpacking the embedding model") and view.status.text().endswith("40 %")
    finally:
        run(view.shutdown(), timeout=30)
        view.close()


def test_the_knowledge_tab_in_simplified_chinese(qtbot, run, studio_home, tmp_path, embedding_model,
                                                 screenshot_dir):
    from PySide6.QtWidgets import QApplication

    from studio.ui.i18n import install_translators
    from tests.ui.conftest import make_window

    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    assert translators, "studio_zh_CN.qm did not load"
    win = make_window(tmp_path)
    try:
        win.resize(1280, 820)
        win.show()
        qtbot.waitExposed(win)
        assert win.knowledge.view is None  # nothing is built, no worker started, until the tab shows
        index = win.tabs.indexOf(win.knowledge)
        assert win.tabs.tabText(index) == "知识库" and win.screen_actions[3].text() == "知识库(&K)"
        win.screen_actions[3].trigger()
        view = win.knowledge.view
        assert view is not None and win.tabs.currentWidget() is win.knowledge
        assert view.sections.tabText(1) == "试问一个问题" and view.add_files_button.text() == "添加文件…"
        run(view.create_collection("双语资料"))
        folder = _corpus(tmp_path / "docs")
        (folder / "空白.txt").write_bytes(b"")
        job = run(view.index("双语资料", [str(folder)]), timeout=120)
        assert job.outcome == "done"
        run.until(lambda: len(file_rows(view)) == len(DOCS) + 1, 10)
        blank = file_rows(view)["空白.txt"]
        assert blank[0] == "未索引任何内容" and blank[3].startswith("空文件 — ")
        view.sections.setCurrentWidget(view.playground)
        view.playground.question.setText("长城被列入世界文化遗产是哪一年？")
        result = run(view.ask("长城被列入世界文化遗产是哪一年？"), timeout=60)
        assert Path(result["candidates"][0]["path"]).name == "great_wall.md"
        table = view.playground.candidates
        assert table.proxy.index(0, 5).data() == "前 k 个" and table.summary.text().startswith(
            f"“长城被列入世界文化遗产是哪一年？”有 {len(result['candidates'])} 个候选")
        qtbot.wait(200)
        win.grab().save(str(screenshot_dir / "knowledge_playground_zh_CN.png"))
    finally:
        for translator in translators:
            app.removeTranslator(translator)
        run(win.shutdown(), 30)
        win.close()
        win.deleteLater()


def test_a_worker_killed_while_indexing_says_so_and_resume_finishes(screen, run, tmp_path):
    view = screen
    folder = _corpus(tmp_path / "docs")
    for i in range(8):
        shutil.copy(CORPUS / "panda.md", folder / f"panda{i}.md")
    run(view.create_collection("crash"))

    def kill_on_second(collection, info):
        if len(view.library.job.files) == 2:
            view.library.indexer.kill()  # as if the process died (out of memory, a crash in a C library)
    unsubscribe = view.library.subscribe("file", kill_on_second)
    job = run(view.index("crash", [str(folder)]), timeout=120)
    unsubscribe()
    assert job.outcome == "failed" and job.error_kind == "worker_crashed"
    assert view.banner.text().startswith("The knowledge worker stopped (the knowledge worker was killed by SIGKILL")
    assert "Resume finishes the rest" in view.banner.text()
    run.until(lambda: view.resume_button.isVisible(), 10)
    job = run(view.index("crash"), timeout=120)
    assert job.outcome == "done"
    run.until(lambda: len(file_rows(view)) == len(DOCS) + 8 and not view.resume_button.isVisible(), 10)


def test_a_map_of_thousands_of_points_stays_quick(qtbot):
    import time

    import numpy as np

    from studio.ui.knowledge.map_view import KnowledgeMapView

    rng = np.random.default_rng(0)
    n = 5000
    xy = rng.normal(size=(n, 2))
    points = [{"chunk_id": i, "path": f"/docs/file{i % 40}.md", "unit": "line", "start": i, "end": i + 3,
               "location": f"lines {i}–{i + 3}", "x": float(x), "y": float(y), "text": f"chunk {i} text"}
              for i, (x, y) in enumerate(xy)]
    view = KnowledgeMapView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    began = time.perf_counter()
    view.show_map({"model": "m", "points": points, "query": {"x": 0.0, "y": 0.0, "nearest": [1, 2, 3],
                                                             "similarity": [0.9, 0.8, 0.7]}})
    qtbot.wait(50)
    drawn = time.perf_counter() - began
    assert drawn < 2.0, f"drawing {n} points took {drawn:.2f} s"
    assert len(view.file_items) == 13 and sum(len(item.data) for item in view.file_items) == n  # 12 + "others"
    box = view.plot.getPlotItem().vb
    began = time.perf_counter()
    for i in range(100):
        found = view.point_at(box.mapViewToScene(QPointF(*view.xy[i])))
        assert found >= 0 and np.allclose(view.xy[found], view.xy[i], atol=0.2)
    per_hover = (time.perf_counter() - began) / 100
    assert per_hover < 0.02, f"finding the hovered point took {per_hover * 1000:.1f} ms"
