"""Inspect › Tokens: how the picked model's tokenizer splits a text, span by span.

Tokenizing (llama.cpp's vocabulary, studio.core.inspect.tokens) and preparing the display
fragments run in a thread, debounced while the user types; the TokenText widget then measures,
wraps and paints only what is in view, so a whole document stays smooth. Compare mode runs a
second model's tokenizer on the same text beside the first.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError, user_message
from studio.ui.inspect.token_text import TokenText, piece_label, prepare
from studio.ui.tasks import in_thread, spawn
from studio.ui.widgets.banner import Banner
from studio.ui.widgets.model_combo import fill_model_combo

BIG_TEXT = 200_000      # characters; past this the debounce is longer (each run costs more)


def _tokenize_job(path: str, text: str, chat: bool) -> dict:
    """Worker-thread side: open (cached), tokenize, prepare display fragments; no Qt here."""
    from studio.core.inspect.tokens import open_tokenizer

    start = time.perf_counter()
    tokenizer = open_tokenizer(path)
    if chat:
        tokenized = tokenizer.tokenize(tokenizer.chat_text(text))   # no second BOS: tokens.py sees the BOS text
    else:
        tokenized = tokenizer.tokenize(text)
    tokenize_seconds = time.perf_counter() - start
    prepared = prepare(tokenized) if tokenized.spans else None
    return {"tokenized": tokenized, "prepared": prepared, "tokenize_seconds": tokenize_seconds}


class TokenPane(QWidget):
    """One model's tokens: a title, counts and the token display."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(self)
        self.title.setObjectName("TokenPaneTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.stats = QLabel(self)
        self.stats.setObjectName("TokenStats")
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.text = TokenText(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        self.badge = QLabel(self)    # compare mode: the token ratio against the other model
        self.badge.setObjectName("TokenRatio")
        self.badge.setFont(font)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.badge)
        layout.addLayout(head)
        layout.addWidget(self.stats)
        layout.addWidget(self.text, 1)


class TokensView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("TokensView")
        self.model_path = ""
        self.compare_path = ""
        self.file_note = ""
        self.timings: dict[str, float] = {}
        self._tokenized = None
        self._compare_tokenized = None
        self._serial = 0
        self._running = 0
        self._lock = asyncio.Lock()
        self._error = ""

        self.banner = Banner(self)

        self.open_file_button = QPushButton(self.tr("Open file…"), self)
        self.open_file_button.setToolTip(self.tr("Read a text file (any common encoding) into the editor"))
        self.open_file_button.clicked.connect(self.choose_file)
        self.chat_toggle = QCheckBox(self.tr("As the model sees it"), self)
        self.chat_toggle.setToolTip(self.tr("Wrap the text in the model's chat template, as one user message "
                                            "with the reply about to start, special tokens included"))
        self.chat_toggle.toggled.connect(lambda _on: self.schedule(0))
        self.compare_toggle = QCheckBox(self.tr("Compare with"), self)
        self.compare_toggle.setToolTip(self.tr("Tokenize the same text with a second model's tokenizer"))
        self.compare_toggle.toggled.connect(self._compare_toggled)
        self.compare_combo = QComboBox(self)
        self.compare_combo.setObjectName("CompareModel")
        self.compare_combo.setMinimumContentsLength(22)
        self.compare_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.compare_combo.setEnabled(False)
        self.compare_combo.currentIndexChanged.connect(self._compare_model_changed)
        self.copy_ids_button = QPushButton(self.tr("Copy ids"), self)
        self.copy_ids_button.setToolTip(self.tr("Copy the token ids as a list, e.g. [1, 2, 3]"))
        self.copy_ids_button.clicked.connect(self.copy_ids)
        self.copy_ids_button.setEnabled(False)
        bar = QHBoxLayout()
        bar.addWidget(self.open_file_button)
        bar.addWidget(self.chat_toggle)
        bar.addSpacing(12)
        bar.addWidget(self.compare_toggle)
        bar.addWidget(self.compare_combo)
        bar.addStretch(1)
        bar.addWidget(self.copy_ids_button)

        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("TokensEditor")
        self.editor.setPlaceholderText(self.tr("Type or paste text here, or open a file — the tokens appear "
                                               "below as you type."))
        self.editor.textChanged.connect(lambda: self.schedule())

        self.pane = TokenPane(self)
        self.token_text = self.pane.text
        self.stats_label = self.pane.stats
        self.compare_pane = TokenPane(self)
        self.compare_text = self.compare_pane.text
        self.compare_stats_label = self.compare_pane.stats
        self.ratio_label = self.compare_pane.badge
        self.compare_pane.hide()
        for widget in (self.token_text, self.compare_text):
            widget.span_selected.connect(lambda index, w=widget: self._show_detail(w, index))
        self.panes = QSplitter(Qt.Orientation.Horizontal, self)
        self.panes.setObjectName("TokenPanes")
        self.panes.addWidget(self.pane)
        self.panes.addWidget(self.compare_pane)
        self.panes.setChildrenCollapsible(False)

        self.detail_label = QLabel(self)
        self.detail_label.setObjectName("TokenDetail")
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # CJK pieces come from a fallback font with a taller line than the UI font's metrics say.
        self.detail_label.setMinimumHeight(round(self.detail_label.fontMetrics().height() * 1.5))
        self._detail_hint = self.tr("Hover a token for its id, pieces and bytes; click to select it "
                                    "(← → move between tokens).")
        self.detail_label.setText(self._detail_hint)

        split = QSplitter(Qt.Orientation.Vertical, self)
        split.setObjectName("TokensSplitter")
        split.addWidget(self.editor)
        split.addWidget(self.panes)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([150, 450])
        split.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.banner)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.detail_label)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: spawn(self.refresh(), on_error=self._unexpected))
        self._show_hints()

    # -- public API -------------------------------------------------------------------------
    @property
    def tokenized(self):
        return self._tokenized

    @property
    def compare_tokenized(self):
        return self._compare_tokenized

    @property
    def busy(self) -> bool:
        """A tokenize run is waiting (debounce) or in flight."""
        return self._timer.isActive() or self._running > 0

    def set_model(self, path: str) -> None:
        path = str(path or "")
        if path != self.model_path:
            self.model_path = path
            self.pane.title.setText(Path(path).stem if path else "")
            self.pane.title.setToolTip(path)
            self.schedule(0)

    def set_models(self, entries: list, current: str) -> None:
        """Library models for the compare combo; keeps the user's pick when it is still there."""
        previous = self.compare_combo.currentData()
        combo = self.compare_combo
        combo.blockSignals(True)
        # The main model is listed too (comparing with itself is allowed), even from outside the library.
        fill_model_combo(combo, chat_model="", entries=[e for e in entries if getattr(e, "ok", True)],
                         paths=[str(current)] if current else [], chat_label="")
        index = combo.findData(previous) if previous else -1
        if index < 0:   # default: a model other than the main one, else the main one itself
            others = [i for i in range(combo.count()) if combo.itemData(i) != str(current)]
            index = others[0] if others else (0 if combo.count() else -1)
        combo.setCurrentIndex(index)
        combo.blockSignals(False)
        self.compare_toggle.setEnabled(combo.count() > 0)
        if current:
            self.set_model(current)
        self._compare_model_changed()

    def set_compare_model(self, path: str) -> None:
        """Pick the second model by path (added to the combo when the library lacks it) and compare."""
        index = self.compare_combo.findData(str(path))
        if index < 0:
            self.compare_combo.addItem(Path(path).stem, str(path))
            index = self.compare_combo.count() - 1
        self.compare_combo.setCurrentIndex(index)
        self.compare_toggle.setEnabled(True)
        self.compare_toggle.setChecked(True)
        self._compare_model_changed()

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Open a text file"), str(Path.home()),
                                              self.tr("Text files (*.txt *.md *.json *.jsonl *.csv *.py);;"
                                                      "All files (*)"))
        if path:
            self.load_file(path)

    def load_file(self, path: str) -> asyncio.Task:
        """Read a text file into the editor (off the GUI thread); returns the task to await."""
        return spawn(self._load_file(str(path)), on_error=self._unexpected)

    def copy_ids(self) -> None:
        if self._tokenized is not None:
            QGuiApplication.clipboard().setText(self._tokenized.ids_text())
            self.detail_label.setText(self.tr("Copied {n} token ids.").format(n=self._tokenized.n_tokens))

    def schedule(self, delay: int | None = None) -> None:
        """Tokenize again after `delay` ms (default: a typing debounce that grows with the text)."""
        if delay is None:
            delay = 600 if self.editor.document().characterCount() > BIG_TEXT else 250
        self._timer.start(delay)

    def refresh(self):
        """Tokenize the editor's text with the model(s) now; a newer call supersedes this one.
        Returns an awaitable; `busy` is true from this call on (no gap before the task starts)."""
        self._timer.stop()
        self._serial += 1
        self._running += 1
        return self._refresh_locked(self._serial)

    async def _refresh_locked(self, serial: int) -> None:
        try:
            async with self._lock:   # one llama.cpp vocabulary call at a time
                if serial != self._serial:
                    return
                await self._refresh(serial)
        finally:
            self._running -= 1

    async def shutdown(self) -> None:
        self._timer.stop()
        self._serial += 1

    # -- internals --------------------------------------------------------------------------
    async def _refresh(self, serial: int) -> None:
        text = self.editor.toPlainText()
        chat = self.chat_toggle.isChecked()
        comparing = self.compare_toggle.isChecked() and bool(self.compare_path)
        if not self.model_path:
            self._apply(None, None, None, None)
            return
        if not text and not chat:
            self._error = ""
            self._apply(None, None, None, None)
            return
        started = time.perf_counter()
        try:
            main = await in_thread(_tokenize_job, self.model_path, text, chat)
            other = await in_thread(_tokenize_job, self.compare_path, text, chat) if comparing else None
        except (StudioError, OSError, ValueError) as exc:
            if serial == self._serial:
                self._error = user_message(exc)
                self.banner.show_message(self.tr("Could not tokenize: {error}").format(error=self._error), "error")
                self._apply(None, None, None, None)
            return
        if serial != self._serial:
            return
        self._error = ""
        if self.banner.level == "error":
            self.banner.dismiss()
        apply_start = time.perf_counter()
        self._apply(main["tokenized"], main["prepared"],
                    other["tokenized"] if other else None, other["prepared"] if other else None)
        done = time.perf_counter()
        self.timings = {"tokenize": main["tokenize_seconds"],
                        "prepare": main["prepared"].seconds if main["prepared"] else 0.0,
                        "apply": done - apply_start, "total": done - started,
                        **{f"display_{k}": v for k, v in self.token_text.timings.items()}}

    def _apply(self, tokenized, prepared, other, other_prepared) -> None:
        has_main = tokenized is not None and tokenized.n_tokens > 0
        self._tokenized = tokenized if has_main else None
        self.token_text.set_tokenized(self._tokenized, prepared if has_main else None)
        has_other = other is not None and other.n_tokens > 0
        self._compare_tokenized = other if has_other else None
        self.compare_text.set_tokenized(self._compare_tokenized, other_prepared if has_other else None)
        self.copy_ids_button.setEnabled(has_main)
        self._show_stats()
        self._show_hints()

    def _show_stats(self) -> None:
        a, b = self._tokenized, self._compare_tokenized
        self.stats_label.setText(self._stats_text(a) if a is not None else "")
        self.compare_stats_label.setText(self._stats_text(b) if b is not None else "")
        if b is not None and a is not None and a.n_tokens:
            ratio = f"{b.n_tokens / a.n_tokens:.2f}"
            self.ratio_label.setText(self.tr("{ratio}× the tokens").format(ratio=ratio))
            self.ratio_label.setToolTip(self.tr("For this text {right} needs {ratio}× as many tokens as {left} "
                                                "({b} against {a}).").format(
                right=self.compare_pane.title.text(), left=self.pane.title.text(), ratio=ratio,
                b=f"{b.n_tokens:,}", a=f"{a.n_tokens:,}"))
        else:
            self.ratio_label.setText("")
            self.ratio_label.setToolTip("")

    def _stats_text(self, tt) -> str:
        return self.tr("{tokens} tokens · {chars} characters · {cpt} characters per token").format(
            tokens=f"{tt.n_tokens:,}", chars=f"{tt.n_chars:,}", cpt=f"{tt.chars_per_token:.2f}")

    def _show_hints(self) -> None:
        if not self.model_path:
            hint = self.tr("Pick a model at the top to see how its tokenizer splits your text.")
        elif self._error:
            hint = self.tr("No tokens: {error}").format(error=self._error)
        else:
            hint = self.tr("Type or paste some text above, or open a file, and its tokens show here — each "
                           "coloured chip is one token. Try Chinese, emoji or code to see them split.")
        self.token_text.set_hint(hint)
        self.compare_text.set_hint(hint if self.compare_path else self.tr("Pick a model to compare with."))

    def _compare_toggled(self, on: bool) -> None:
        self.compare_combo.setEnabled(on)
        self.compare_pane.setVisible(on)
        if on:
            self.panes.setSizes([1, 1])
        else:
            self._compare_tokenized = None
            self.compare_text.set_tokenized(None)
            self._show_stats()
        self.schedule(0)

    def _compare_model_changed(self, *_args) -> None:
        path = str(self.compare_combo.currentData() or "")
        if path == self.compare_path:
            return
        self.compare_path = path
        self.compare_pane.title.setText(Path(path).stem if path else "")
        self.compare_pane.title.setToolTip(path)
        if self.compare_toggle.isChecked():
            self.schedule(0)

    async def _load_file(self, path: str) -> None:
        from studio.core.inspect.textfile import read_text_file

        try:
            text, note = await in_thread(read_text_file, path)
        except (StudioError, OSError) as exc:
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else user_message(exc)
            self.banner.show_message(self.tr("Could not open {file}: {error}").format(
                file=os.path.basename(path), error=message), "error")
            return
        self.file_note = note
        self.editor.setPlainText(text)
        if note:
            self.banner.show_message(self.tr("{file}: {note}").format(file=os.path.basename(path), note=note),
                                     "warning")
        else:
            self.banner.dismiss()
        self.schedule(0)

    def _show_detail(self, widget: TokenText, index: int) -> None:
        tt = widget.tokenized
        if tt is None or index < 0:
            self.detail_label.setText(self._detail_hint)
            return
        span = tt.spans[index]
        ids = tt.ids[span.tok_start:span.tok_end]
        pieces = tt.pieces[span.tok_start:span.tok_end]
        self.detail_label.setText(self.tr("Selected: ids {ids} · pieces {pieces} · bytes {hex}").format(
            ids=", ".join(map(str, ids)), pieces=" + ".join(piece_label(p) for p in pieces),
            hex=" ".join(f"{b:02X}" for b in b"".join(pieces))))

    def _unexpected(self, exc: BaseException) -> None:
        self.banner.show_message(self.tr("Tokens: {error}").format(error=exc), "error")
