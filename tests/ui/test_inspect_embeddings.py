"""Inspect › Embeddings with the real starter model: the estimate before loading, neighbours of a
typed word, a labelled PCA scatter, errors as a banner sentence, and its tab in the Inspect screen."""

from __future__ import annotations

from studio.ui.inspect.embeddings_view import EmbeddingsView, as_query, split_words


def test_split_words_and_queries():
    assert split_words("国王 王后，男人、女人, king  queen king") == ["国王", "王后", "男人", "女人", "king", "queen"]
    assert as_query("king", True) == " king"
    assert as_query("国王", True) == "国王"
    assert as_query("#4197", True) == "#4197"
    assert as_query("king", False) == "king"


def test_neighbours_and_map(qtbot, run, starter_model, screenshot_dir):
    view = EmbeddingsView()
    qtbot.addWidget(view)
    view.resize(1200, 640)
    view.show()
    view.set_model(str(starter_model))
    # The cost is shown before anything is read.
    run.until(lambda: "113 MB" in view.estimate_label.text(), timeout=20)
    assert "49,152 × 576" in view.estimate_label.text()

    view.word_edit.setText("king")
    view.find_neighbours()
    run.until(lambda: view.neighbours.topLevelItemCount() == 20, timeout=60)
    first = view.neighbours.topLevelItem(0)
    assert first.text(0) == "␣king" and first.text(1) == "4197"
    assert abs(first.data(2, 0x0100) - 1.0) < 1e-4
    pieces = [view.neighbours.topLevelItem(i).text(0) for i in range(20)]
    assert "␣queen" in pieces
    assert "in memory" in view.estimate_label.text()
    assert not view.busy and not view.progress.isVisible()

    words = "国王 王后 男人 女人 king queen man woman"
    view.words_edit.setText(words)
    view.draw_map()
    run.until(lambda: len(view.labels) == 8, timeout=30)
    assert [label.textItem.toPlainText() for label in view.labels] == words.split()
    assert len(view.scatter.data) == 8
    assert "%" in view.map_note.text() and "国王" in view.map_note.text()  # averaged over its tokens

    # A multi-token word says it is averaged.
    view.word_edit.setText("王后")
    view.find_neighbours()
    run.until(lambda: "averaged" in view.query_note.text(), timeout=30)
    qtbot.wait(50)
    path = screenshot_dir / "inspect_embeddings.png"
    assert view.grab().save(str(path))

    # Errors are one sentence in the banner.
    view.word_edit.setText("#999999")
    view.find_neighbours()
    run.until(lambda: view.banner.isVisible() and view.banner.level == "error", timeout=10)
    assert "outside" in view.banner.label.text()
    view.words_edit.setText("king")
    view.draw_map()
    run.until(lambda: "at least two" in view.banner.label.text(), timeout=10)


def test_a_file_that_is_not_a_model_says_so(qtbot, run, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all" * 10)
    view = EmbeddingsView()
    qtbot.addWidget(view)
    view.show()
    view.set_model(str(bad))
    run.until(lambda: view.estimate_label.text() != "", timeout=10)
    view.word_edit.setText("king")
    view.find_neighbours()
    run.until(lambda: view.banner.level == "error" and view.banner.isVisible(), timeout=20)
    assert "Could not read the embeddings" in view.banner.label.text()
    assert "GGUF" in view.banner.label.text()
    assert not view.busy


def test_embeddings_is_the_fourth_inspect_tab_and_follows_the_model(run, bare_window, starter_model):
    win = bare_window
    win.tabs.setCurrentWidget(win.inspect_host)
    view = win.inspect
    assert view.sections.count() == 4 and view.sections.widget(3) is view.embeddings_view
    assert view.sections.tabText(3) == "Embeddings"
    assert view.embeddings_view.model == view.model_path()
    view.tokens_view.editor.setPlainText("The king")
    view.sections.setCurrentWidget(view.embeddings_view)   # no prompt to carry; nothing breaks
    run.until(lambda: "113 MB" in view.embeddings_view.estimate_label.text(), timeout=20)
    view.sections.setCurrentWidget(view.next_view)          # the prompt still comes from Tokens
    assert view.next_view.editor.toPlainText() == "The king"
