"""The Arena from the chat: the starter against Gemma 3 270M on the open conversation, both streaming at
once with tok/s and TTFT under each, "B is better" puts Gemma's answer into the chat, and the tally shows
the pair; then the same window in Simplified Chinese. Screenshots: arena.png, arena_zh_CN.png."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.slow


def test_compare_two_models_vote_and_continue_the_chat(qtbot, run, window, gemma_model, starter_model,
                                                       screenshot_dir):
    win = window
    win.chat.composer.setPlainText("What is the capital of France?")
    win.chat.send()
    run.until(lambda: not win.chat.busy and len(win.chat.session.messages) == 2, 60)
    win.library.add(gemma_model)  # registered in place, as "Add model file…" would
    run(win.refresh_models())

    win.arena.action.trigger()
    dialog = win.arena.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.combos["a"].currentData()["path"] == win.workspace.model_path
    gemma_row = next(i for i in range(dialog.combos["b"].count())
                     if dialog.combos["b"].itemData(i).get("path", "").endswith(gemma_model.name))
    dialog.combos["b"].setCurrentIndex(gemma_row)
    run.until(lambda: "Both at once" in dialog.plan_label.text() and dialog.send_button.isEnabled(), 20)
    assert "“What is the capital of France?” (2 messages)" in dialog.conversation_label.text()
    assert not dialog.vote_buttons["a"].isEnabled()

    dialog.composer.setPlainText("And of Italy? One word.")
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    run.until(lambda: dialog.arena.busy, 10)
    assert not dialog.send_button.isEnabled() and dialog.stop_button.isEnabled()
    run.until(lambda: dialog.vote_buttons["b"].isEnabled(), 120)
    answers = {side: pane.text.toPlainText() for side, pane in dialog.panes.items()}
    assert answers["a"].strip() and answers["b"].strip()
    for pane in dialog.panes.values():
        assert " tok/s · TTFT " in pane.stats.text(), pane.stats.text()
    assert dialog.panes["b"].title().startswith("B: gemma-3-270m")
    QApplication.processEvents()
    dialog.grab().save(str(screenshot_dir / "arena.png"))

    qtbot.mouseClick(dialog.vote_buttons["b"], Qt.MouseButton.LeftButton)
    assert dialog.result_label.text() == "B wins; its answer joined the chat."
    assert not any(b.isEnabled() for b in dialog.vote_buttons.values())
    messages = win.chat.session.messages
    assert [m.content for m in messages[-2:]] == ["And of Italy? One word.", answers["b"]]
    assert messages[-1].stats["arena"]["result"] == "won"
    assert messages[-1].id in win.chat.messages.widgets  # shown in the chat
    assert dialog.summary.rowCount() == 1
    row = [dialog.summary.item(0, c).text() for c in range(6)]
    gemma_first = row[0].startswith("gemma")
    assert row[2:] == (["1", "0", "0", "1"] if gemma_first else ["0", "1", "0", "1"])
    assert "(4 messages)" in dialog.conversation_label.text()
    arena = dialog.arena
    assert arena.workers == 1  # Gemma's worker, until the Arena window closes

    # The same window in Simplified Chinese.
    from studio.ui.arena import ArenaDialog
    from studio.ui.i18n import install_translators
    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    try:
        host = ArenaDialog(win.store, win.workspace, choices=win.arena.choices, make_remote=win.remotes.engine,
                           conversation_id=win.arena._conversation_id, picked=lambda cid: None)
        host.refresh()
        host.show()
        run.until(lambda: host.send_button.isEnabled(), 20)
        assert host.vote_buttons["b"].text() == "B 更好"
        assert "同时" in host.plan_label.text() or "依次" in host.plan_label.text()
        # Why, in Chinese too: no English from the core's plan (model names and sizes aside).
        said = host.plan_label.text()
        assert "可用" in said and not re.search(r"\b(memory|needed|free|both|turn|engine)\b", said), said
        QApplication.processEvents()
        host.grab().save(str(screenshot_dir / "arena_zh_CN.png"))
        run(host.shutdown())
        host.close()
        host.deleteLater()
    finally:
        for translator in translators:
            app.removeTranslator(translator)
    dialog.close()
    run.until(lambda: dialog.arena is None and arena.workers == 0, 20)
