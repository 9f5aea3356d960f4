"""Chat with documents through the real window: a collection indexed with the real embedding model,
attached to the conversation, the starter model answering; the Retrieval panel, a citation
opening its chunk in the Knowledge tab, and the same screen in Simplified Chinese."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.ui.conftest import set_sampling
from tests.ui.test_chat_flow import type_and_send, wait_reply_done

pytestmark = pytest.mark.slow
CORPUS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "knowledge"
DOCS = ("lighthouse.md", "tea.md", "great_wall.md", "honeybees.txt")
QUESTION = "When was Harbor Point Lighthouse completed?"


def _index(win, run, tmp_path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in DOCS:
        shutil.copy(CORPUS / name, folder / name)
    view = win.knowledge.ensure()
    run(view.create_collection("handbook"))
    job = run(view.index("handbook", [str(folder)]), timeout=180)
    run.until(lambda: not view.library.indexing, 180)
    assert job is not None


def test_attach_ask_see_retrieval_and_open_a_citation(qtbot, run, window, embedding_model, tmp_path, screenshot_dir):
    win = window
    _index(win, run, tmp_path)
    win.tabs.setCurrentWidget(win.chat)
    set_sampling(win, preset="Precise")
    set_sampling(win, max_tokens=40)
    chat = win.chat
    chat.attach_collections(["handbook"])
    chips = [b.text() for b in chat.knowledge_attach.findChildren(type(chat.knowledge_attach.button))
             if b.objectName() == "KnowledgeChip"]
    assert chips == ["handbook  ×"] and win.store.collections(chat.session.conversation.id) == ["handbook"]
    type_and_send(qtbot, win, QUESTION)
    reply = wait_reply_done(run, win, 120)
    assert reply.retrieval is not None and reply.sources.isVisible()
    assert "lighthouse.md" in reply.sources.text()
    record = reply.retrieval
    panel = chat.retrieval_panel
    chat.toggle_retrieval_action.setChecked(True)
    assert panel.isVisible() and panel.record is record or panel.record == record
    rows = panel.candidates.model.rows
    assert rows and Path(min(rows, key=lambda c: c["fused_rank"])["path"]).name == "lighthouse.md"
    assert QUESTION in panel.prompt.toPlainText() and "<|im_start|>" in panel.prompt.toPlainText()
    assert "of 2,048 tokens" in panel.tokens.text()
    qtbot.wait(100)
    chat.grab().save(str(screenshot_dir / "chat_knowledge_reply.png"))
    panel.grab().save(str(screenshot_dir / "chat_retrieval_panel.png"))

    # A citation: [1] under the reply (the starter model may not write one in its text).
    reply.sources.linkActivated.emit("cite:1")
    view = win.knowledge.view
    first = record["sources"][0]["chunk_id"]
    run.until(lambda: win.tabs.currentWidget() is win.knowledge and view.files.chunk_rows
              and view.files.chunks.currentRow() >= 0
              and view.files.chunk_rows[view.files.chunks.currentRow()].id == first, 30)
    assert view.current() == "handbook"

    # Reopening the conversation shows the record again.
    win.tabs.setCurrentWidget(win.chat)
    conversation_id = chat.session.conversation.id
    chat.new_chat()
    assert chat.knowledge_attach.attached == []
    chat.open_conversation(conversation_id)
    assert chat.knowledge_attach.attached == ["handbook"]
    reopened = [w for w in chat.messages.widgets.values() if w.role == "assistant"][-1]
    assert reopened.retrieval == record and panel.record == record
    _chinese_screenshot(qtbot, reopened.message, record, screenshot_dir)


def _chinese_screenshot(qtbot, message, record, screenshot_dir) -> None:
    """The attach row, a reply with its sources and the Retrieval panel, built anew in Simplified Chinese."""
    from PySide6.QtWidgets import QApplication, QHBoxLayout, QVBoxLayout, QWidget

    from studio.ui.chat.knowledge_panel import KnowledgeAttach, RetrievalPanel
    from studio.ui.chat.messages import MessageWidget
    from studio.ui.i18n import install_translators

    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    assert translators, "studio_zh_CN.qm did not load"
    try:
        host = QWidget()
        qtbot.addWidget(host)
        row = QHBoxLayout(host)
        left = QVBoxLayout()
        attach = KnowledgeAttach(host)
        attach.set_attached(["handbook", "茶叶知识"])
        reply = MessageWidget(message, host)
        reply.set_retrieval(record)
        left.addWidget(reply)
        left.addStretch(1)
        left.addWidget(attach)
        row.addLayout(left, 1)
        panel = RetrievalPanel(host)
        panel.show_record({**record, "left_out": record["sources"][-1:]})
        row.addWidget(panel, 1)
        host.resize(1200, 720)
        host.show()
        qtbot.waitExposed(host)
        assert attach.button.text() == "附加知识库" and reply.sources.text().find("来源：") >= 0
        assert "个词元" in panel.tokens.text() and "已被省略" in panel.note.text()
        qtbot.wait(100)
        host.grab().save(str(screenshot_dir / "chat_knowledge_zh_CN.png"))
    finally:
        for translator in translators:
            app.removeTranslator(translator)


def test_in_text_citations_become_links():
    from studio.ui.chat.knowledge_panel import link_citations
    assert link_citations("Built in 1871 [1], rebuilt [2, 3]; see 【1】 and [9].", {1, 2, 3}) == \
        "Built in 1871 [\\[1\\]](cite:1), rebuilt [\\[2\\]](cite:2)[\\[3\\]](cite:3); see [\\[1\\]](cite:1) and [9]."


def test_a_citation_in_the_reply_text_is_a_link_to_its_source(qtbot):
    from studio.core.chat.conversation import Message, MessageStatus
    from studio.ui.chat.messages import MessageWidget

    message = Message(id=7, conversation_id=1, role="assistant", content="Completed in 1871 [1]. Also [4].",
                      status=MessageStatus.COMPLETE)
    widget = MessageWidget(message)
    qtbot.addWidget(widget)
    widget.set_retrieval({"sources": [{"number": 1, "chunk_id": 3, "path": "/d/lighthouse.md", "unit": "line",
                                       "start": 7, "end": 9, "location": "lines 7–9"}]})
    shown = widget.body.text()
    assert 'href="cite:1"' in shown and "cite:4" not in shown  # [4] names no source: plain text
    assert "lighthouse.md · lines 7–9" in widget.sources.text()
    with qtbot.waitSignal(widget.citation_clicked) as clicked:
        widget.body._labels[0].linkActivated.emit("cite:1")
    assert clicked.args == [7, 1]
