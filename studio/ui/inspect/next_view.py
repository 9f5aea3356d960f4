"""Inspect › Next token: the distribution the model samples from, reshaped live, step-by-step
generation where the user picks each token, and the logit lens.

The llama.cpp engine (EngineClient.next_logits(full=True), through StepSession) sends the whole
logits vector once per step; temperature, top-p and top-k are then applied with numpy in
studio.core.inspect.next_token.Distribution, so the sliders never ask the engine again. The logit
lens comes from the inspector (llama.cpp for a GGUF file, torch for an HF folder) on the same token ids.
With LoRA adapters attached, "Compare with the base model" also asks the engine for each step
without them (StepSession(compare=True)) and the bars pair the two (next_token.compare).

This module holds NextTokenView (state, predicting and stepping, showing, the lens hookup); its step
and sampling panels are widgets of studio.ui.inspect.step_panel that it connects to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSizePolicy, QSplitter,
                               QVBoxLayout, QWidget)

from studio.core.inspect.next_token import Distribution, StepSession, compare
from studio.core.workers.protocol import WorkerError
from studio.core.workspace import EngineBusy, Lease, Workspace
from studio.ui.inspect.bars import BarRow, group_chosen, percent, set_note, split_utf8, visible_piece
from studio.ui.inspect.lens_view import LensPanel
from studio.ui.inspect.step_panel import SamplingPanel, StepPanel
from studio.ui.tasks import spawn
from studio.ui.theme import styled

BARS = 15                 # bars in the chart
TOP_N = 64                # pieces the engine sends per step (labels for the bars and their tooltips)
COMPARE_N = 8             # comparing: each side's top tokens, so at most 16 pairs of bars


@dataclass
class _Pick:
    prob: float            # under the settings it was chosen with
    base_prob: float       # the model's own
    how: str               # "click" | "top" | "sampled"
    settings: str          # "T 0.70 · top-p 0.90" as shown when it was picked


class NextTokenView(QWidget):
    def __init__(self, workspace: Workspace, inspector, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("NextTokenView")
        self.workspace = workspace
        self.inspector = inspector
        self.model = ""
        self.session: StepSession | None = None
        self.busy = False
        self.last_drawn: int | None = None
        self._picks: list[_Pick] = []
        self._session_key: tuple[str, bool] | None = None     # (prompt, chat) the session started from
        self.rng = np.random.default_rng(0)

        # -- prompt row ----------------------------------------------------------------------
        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("NextPrompt")
        self.editor.setPlaceholderText(self.tr("A prompt whose next token you want to see, e.g. "
                                               "The capital of France is"))
        self.editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.editor.setFixedHeight(self.editor.fontMetrics().lineSpacing() * 3 + 14)
        self.editor.textChanged.connect(self._on_prompt_edited)
        self.chat_toggle = QCheckBox(self.tr("As a chat message"), self)
        self.chat_toggle.setToolTip(self.tr("Wrap the prompt in the model's chat template as a user message: "
                                            "the bars then show how the assistant's reply would start"))
        self.chat_toggle.toggled.connect(self._on_prompt_edited)
        self.compare_toggle = QCheckBox(self.tr("Compare with the base model"), self)
        self.compare_toggle.setObjectName("NextCompare")
        self.compare_toggle.setVisible(False)        # only while the engine has adapters on this model
        self.compare_toggle.toggled.connect(self._on_compare_toggled)
        self._adapter_names = ""
        self.predict_button = QPushButton(self.tr("Predict"), self)
        self.predict_button.setObjectName("PredictNext")
        self.predict_button.setDefault(True)
        self.predict_button.setToolTip(self.tr("Run the prompt through the model (Ctrl+Enter)"))
        self.predict_button.clicked.connect(lambda: spawn(self.refresh(), on_error=self._unexpected))
        QShortcut(QKeySequence("Ctrl+Return"), self.editor,
                  activated=lambda: spawn(self.refresh(), on_error=self._unexpected))
        self.reset_button = QPushButton(self.tr("Reset"), self)
        self.reset_button.setToolTip(self.tr("Drop every chosen token and go back to the prompt's distribution"))
        self.reset_button.clicked.connect(lambda: spawn(self.reset(), on_error=self._unexpected))
        side = QVBoxLayout()
        side.addWidget(self.chat_toggle)
        side.addWidget(self.compare_toggle)
        buttons = QHBoxLayout()
        buttons.addWidget(self.predict_button)
        buttons.addWidget(self.reset_button)
        side.addLayout(buttons)
        self.status = QLabel(self)
        styled(self.status, "Hint")
        side.addWidget(self.status)
        side.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.editor, 1)
        top.addLayout(side)

        self.note = QLabel(self)
        self.note.setObjectName("NextNote")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.hide()

        upper = QWidget(self)
        # -- text so far + step buttons (left) -----------------------------------------------
        self.step_panel = StepPanel(upper)
        self.step_panel.take_top_requested.connect(lambda: spawn(self.take_top(), on_error=self._unexpected))
        self.step_panel.take_sampled_requested.connect(lambda: spawn(self.take_sampled(), on_error=self._unexpected))
        self.step_panel.undo_requested.connect(lambda: spawn(self.undo(), on_error=self._unexpected))
        self.step_panel.seed_changed.connect(self._reseed)
        # -- sliders + bars (right) ----------------------------------------------------------
        self.sampling_panel = SamplingPanel(upper)
        self.sampling_panel.settings_changed.connect(self._reshape)
        self.sampling_panel.token_clicked.connect(lambda token: spawn(self.choose(token), on_error=self._unexpected))
        # The panels' parts, under the names the rest of the screen (and tests) use.
        self.continuation = self.step_panel.continuation
        self.undo_button = self.step_panel.undo_button
        self.drawn_label = self.step_panel.drawn_label
        self.temperature_value = self.sampling_panel.temperature_value
        self.top_k_spin = self.sampling_panel.top_k_spin
        self.entropy_label = self.sampling_panel.entropy_label
        self.bars = self.sampling_panel.bars

        upper_layout = QHBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addWidget(self.step_panel, 2)
        upper_layout.addWidget(self.sampling_panel, 3)

        # -- logit lens ----------------------------------------------------------------------
        self.lens = LensPanel(inspector, self)
        self.lens.button.clicked.connect(lambda: spawn(self.compute_lens(), on_error=self._unexpected))
        # The lens panel's parts, under the names the rest of the screen (and tests) use.
        self.lens_button = self.lens.button
        self.lens_cancel_button = self.lens.cancel_button
        self.lens_progress = self.lens.progress
        self.lens_stage = self.lens.stage
        self.lens_note = self.lens.note
        self.lens_grid = self.lens.grid
        self.lens_area = self.lens.area

        self.split = QSplitter(Qt.Orientation.Vertical, self)
        self.split.addWidget(upper)
        self.split.addWidget(self.lens)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        self.split.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addWidget(self.split, 1)

        self._show_empty()
        self._set_busy(self.busy)

    # -- model ------------------------------------------------------------------------------
    def set_model(self, path: str) -> None:
        path = str(path or "")
        if path == self.model:
            return
        self.model = path
        self.session = None             # another model's distribution would mislead
        self._picks = []
        self._session_key = None
        self.lens.clear()
        self.show_note("")
        self._show_empty()
        self._set_busy(self.busy)
        self.refresh_adapters()

    def refresh_adapters(self) -> None:
        """The engine's attached adapters changed (or the model did): offer or hide the comparisons."""
        self.lens.refresh_adapters(self.model)
        adapters = self.inspector.adapters(self.model) if self.model else []
        self._adapter_names = ", ".join(
            (a.get("name") or Path(str(a["path"])).stem) + (f" ×{a['scale']:g}" if a.get("scale", 1.0) != 1.0 else "")
            for a in adapters)
        self.compare_toggle.setToolTip(self.tr(
            "Also ask the model without {adapters} at each step: two bars per token and how far the "
            "adapter moved it").format(adapters=self._adapter_names))
        self.compare_toggle.setVisible(bool(adapters))
        if not adapters:
            self.compare_toggle.setChecked(False)

    async def _ensure_model(self, lease: Lease) -> bool:
        """Load the view's model into the engine when it holds another one (through the workspace,
        so the chat's model picker follows)."""
        if self.workspace.same_model(self.model):
            return True
        self.status.setText(self.tr("Loading {name}…").format(name=Path(self.model).name))
        if await self.workspace.load_model(self.model, lease=lease) is None:
            self.show_note(self.tr("The model could not be loaded in the engine; the message at the top "
                                   "says why."), "error")
            return False
        return True

    # -- state ------------------------------------------------------------------------------
    @property
    def distribution(self) -> Distribution | None:
        return self.session.distribution if self.session is not None else None

    def settings(self) -> dict:
        """The sliders as Distribution keyword arguments."""
        return self.sampling_panel.settings()

    def set_temperature(self, value: float) -> None:
        self.sampling_panel.set_temperature(value)

    def set_top_p(self, value: float) -> None:
        self.sampling_panel.set_top_p(value)

    def _settings_text(self) -> str:
        s = self.settings()
        parts = [self.tr("T {t}").format(t=f"{s['temperature']:.2f}")]
        if s["top_p"] < 1.0:
            parts.append(self.tr("top-p {p}").format(p=f"{s['top_p']:.2f}"))
        if s["top_k"]:
            parts.append(self.tr("top-k {k}").format(k=s["top_k"]))
        return " · ".join(parts)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.busy = busy
        has = self.distribution is not None and not busy
        self.predict_button.setEnabled(not busy)
        self.compare_toggle.setEnabled(not busy)
        self.reset_button.setEnabled(has and bool(self._picks))
        self.step_panel.set_steps_enabled(has, has and bool(self._picks))
        self.bars.setEnabled(not busy)
        self.status.setText(text)

    def show_note(self, text: str, level: str = "info") -> None:
        set_note(self.note, text, level)

    def _show_empty(self) -> None:
        if self.distribution is None:
            text = (self.tr("Type a prompt and press Predict to see the model's next-token probabilities.")
                    if self.model else self.tr("Pick a model at the top first."))
            self.bars.set_hint(text)
            self.continuation.set_hint(self.tr("The prompt and the tokens you pick appear here."))
            self.entropy_label.setText("")
            self.drawn_label.setText("")

    def _on_prompt_edited(self, *_args) -> None:
        if self.session is not None and self._session_key != self._current_key():
            self.status.setText(self.tr("The prompt changed: press Predict."))
        elif not self.busy:
            self.status.setText("")

    def _current_key(self) -> tuple[str, bool]:
        return self.editor.toPlainText(), self.chat_toggle.isChecked()

    def _reseed(self, *_args) -> None:
        self.rng = np.random.default_rng(self.step_panel.seed())

    def _unexpected(self, exc: BaseException) -> None:
        self.show_note(self.tr("Something went wrong: {error}").format(error=exc), "error")

    def _engine_error(self, exc: WorkerError) -> None:
        if exc.kind == "context_overflow":
            self.show_note(self.tr("The text is too long for the model's context: {error}").format(
                error=exc.message), "warning")
        elif exc.kind == "cancelled":
            self.show_note(self.tr("Cancelled."))
        else:
            self.show_note(self.tr("The model could not predict: {error}").format(error=exc.message), "error")

    async def _on_engine(self, action) -> bool:
        """Run `await action()` holding the engine lease with this view's model loaded (the chat may
        have switched it meanwhile); False, with a note, when the engine is busy or fails."""
        self._set_busy(True, self.tr("Predicting…"))
        try:
            async with self.workspace.lease("next_token") as lease:
                if not await self._ensure_model(lease):
                    return False
                self.status.setText(self.tr("Predicting…"))
                await action()
        except EngineBusy as exc:
            self.show_note(str(exc), "warning")
            return False
        except WorkerError as exc:
            self._engine_error(exc)
            return False
        finally:
            self._set_busy(False)
        return True

    # -- predicting and stepping -------------------------------------------------------------
    async def refresh(self) -> bool:
        """Evaluate the editor's prompt (a new session: chosen tokens are dropped); True when the
        bars show its distribution."""
        if self.busy:
            return False
        prompt, chat = self._current_key()
        if not self.model:
            self.show_note(self.tr("Pick a model at the top first."), "warning")
            return False
        if not prompt.strip():
            self.show_note(self.tr("Type a prompt first."), "warning")
            return False
        self.show_note("")
        session = StepSession(self.workspace.engine, prompt, chat=chat, top_n=TOP_N,
                              compare=self.compare_toggle.isChecked())
        if not await self._on_engine(session.start):
            return False
        self.session = session
        self._session_key = (prompt, chat)
        self._picks = []
        self._reseed()
        self.drawn_label.setText("")
        self._show_step()
        session.compare = self.compare_toggle.isChecked()     # it may have been toggled meanwhile
        await self._fill_base()
        return True

    async def choose(self, token_id: int, *, how: str = "click") -> bool:
        """Append a token to the text so far and show the distribution after it."""
        if self.busy:
            return False
        distribution = self.distribution
        if self.session is None or distribution is None:
            self.show_note(self.tr("Press Predict first."), "warning")
            return False
        token_id = int(token_id)
        if not 0 <= token_id < distribution.n_vocab:
            self.show_note(self.tr("Token {id} is not in this model's vocabulary.").format(id=token_id), "warning")
            return False
        settings = self.settings()
        prob = float(distribution.probs(**settings)[token_id])
        pick = _Pick(prob, distribution.base_prob(token_id), how, self._settings_text())
        self.show_note("")
        session = self.session
        if not await self._on_engine(lambda: session.choose(token_id, prob=prob)):
            return False
        self._picks.append(pick)
        self._show_step()
        await self._fill_base()
        return True

    async def take_top(self) -> bool:
        distribution = self.distribution
        if distribution is None:
            self.show_note(self.tr("Press Predict first."), "warning")
            return False
        return await self.choose(distribution.top_id, how="top")

    async def take_sampled(self) -> int | None:
        """Draw a token with the seeded generator under the sliders' settings and append it;
        returns the drawn id (None when nothing was appended)."""
        distribution = self.distribution
        if distribution is None or self.busy:
            if distribution is None:
                self.show_note(self.tr("Press Predict first."), "warning")
            return None
        settings = self.settings()
        token = distribution.sample(self.rng, **settings)
        self.last_drawn = token
        self.bars.mark_drawn(token)
        prob = float(distribution.probs(**settings)[token])
        pending = self.session.pending_bytes if self.session is not None else b""
        self.drawn_label.setText(self.tr("Drew {piece} (rank {rank}, {prob} under {settings})").format(
            piece=self._label(token, distribution.piece(token), pending)[0], rank=distribution.rank_of(token) + 1,
            prob=percent(prob), settings=self._settings_text()))
        return token if await self.choose(token, how="sampled") else None

    async def undo(self) -> bool:
        """Drop the last chosen token (no engine request: the distribution before it was kept)."""
        if self.busy or self.session is None or not self._picks:
            return False
        await self.session.undo()
        self._picks.pop()
        self._show_step()
        await self._fill_base()
        return True

    async def reset(self) -> bool:
        """Back to the prompt's own distribution and the seed's first draw."""
        if self.busy or self.session is None:
            return False
        while self._picks:
            await self.session.undo()
            self._picks.pop()
        self._reseed()
        self.drawn_label.setText("")
        self._show_step()
        await self._fill_base()
        return True

    # -- comparing with the base model -------------------------------------------------------
    def _on_compare_toggled(self, on: bool) -> None:
        if self.session is not None:
            self.session.compare = on
        self._reshape()
        if on:
            spawn(self._fill_base(), on_error=self._unexpected)

    async def _fill_base(self) -> bool:
        """Comparing: fetch the base model's distribution for the step in hand when it is missing
        (comparing was turned on after it, or undo went back to such a step)."""
        session = self.session
        if (session is None or not session.compare or session.base is not None or self.busy
                or session.distribution is None):
            return False
        if not await self._on_engine(session.fetch_base):
            return False
        self._show_step()
        return True

    # -- showing ----------------------------------------------------------------------------
    def _reshape(self, *_args) -> None:
        """Redraw the bars for the sliders' settings from the distribution in hand (no request)."""
        self.sampling_panel.show_values()
        distribution = self.distribution
        if distribution is None:
            return
        settings = self.settings()
        pending = self.session.pending_bytes if self.session is not None else b""
        rows = []
        base = self.session.base if self.session is not None and self.compare_toggle.isChecked() else None
        if base is not None:
            for change in compare(distribution, base, COMPARE_N, **settings):
                label, note = self._label(change.id, change.piece_bytes, pending)
                rows.append(BarRow(id=change.id, label=label, prob=change.adapted_prob,
                                   base_prob=distribution.base_prob(change.id), kept=change.kept, rank=change.rank,
                                   logit=change.logit, piece_bytes=change.piece_bytes, note=note,
                                   before=change.base_prob))
            self.bars.set_legend((self.tr("Base model"),
                                  self.tr("With {adapters}").format(adapters=self._adapter_names)))
        else:
            for c in distribution.candidates(BARS, **settings):
                label, note = self._label(c.id, c.piece_bytes, pending)
                rows.append(BarRow(id=c.id, label=label, prob=c.prob, base_prob=c.base_prob, kept=c.kept,
                                   rank=c.rank, logit=c.logit, piece_bytes=c.piece_bytes, note=note))
            self.bars.set_legend(None)
        self.bars.set_rows(rows)
        kept = int(np.count_nonzero(distribution.probs(**settings)))
        self.entropy_label.setText(self.tr("Entropy {bits} bits (the model's own: {base}) · {kept} of {vocab} "
                                           "tokens can be drawn").format(
            bits=f"{distribution.entropy_bits(**settings):.2f}", base=f"{distribution.entropy_bits():.2f}",
            kept=f"{kept:,}", vocab=f"{distribution.n_vocab:,}"))

    def _label(self, token_id: int, piece: bytes, pending: bytes) -> tuple[str, str]:
        """A bar's label and tooltip note. After tokens that ended mid-character, a byte that
        completes it is labelled with the character it makes ("…京"), not just its byte."""
        label = visible_piece(piece, f"#{token_id}")
        if pending and piece:
            runs = split_utf8(pending + piece)
            first = runs[0][0] if runs and runs[0][1] else ""
            if len(first) == 1 and len(first.encode()) > len(pending):
                return ("…" + visible_piece(pending + piece),
                        self.tr("Completes {char} with the bytes chosen before it").format(char=first))
        return label, ""

    def _show_step(self) -> None:
        """The text so far and the current distribution."""
        session = self.session
        if session is None:
            self._show_empty()
            return
        chosen = session.chosen
        chips = group_chosen(chosen)
        index = 0
        for chip in chips:
            lines = []
            for token_id, piece, _prob in chip.tokens:
                pick = self._picks[index] if index < len(self._picks) else None
                index += 1
                how = {"top": self.tr("taken as the top token"), "sampled": self.tr("drawn by Take sampled"),
                       "click": self.tr("clicked")}.get(pick.how if pick else "", "")
                lines.append(self.tr("Token {id} {piece} · {prob} when chosen ({settings}; the model's own: "
                                     "{base}) · {how}").format(
                    id=token_id, piece=repr(piece.decode("utf-8", "replace")),
                    prob=percent(pick.prob if pick else _prob), settings=pick.settings if pick else "",
                    base=percent(pick.base_prob if pick else _prob), how=how))
            if len(chip.tokens) > 1:
                lines.append(self.tr("{n} tokens whose bytes only together form {text}").format(
                    n=len(chip.tokens), text=chip.text))
            chip.tooltip = "\n".join(lines)
        prompt = session.prompt
        marker = self.tr("reply ›") if session.chat else ""
        self.continuation.set_content(prompt, chips, marker)
        self.bars.drawn_id = -1
        self._reshape()
        self._set_busy(False)
        n = len(session.prompt_ids) + len(chosen)
        self.status.setText(self.tr("{n} tokens in context").format(n=n))
        self.step_panel.scroll_to_end()

    # -- logit lens -------------------------------------------------------------------------
    async def compute_lens(self) -> bool:
        """Run the logit lens on the text so far (the session's exact token ids when the editor
        still holds its prompt, else the editor's text); True when the grid shows a result."""
        if self.lens.busy:
            return False
        prompt, chat = self._current_key()
        if not self.model:
            self.lens.show_note(self.tr("Pick a model at the top first."), "warning")
            return False
        if not prompt.strip():
            self.lens.show_note(self.tr("Type a prompt first."), "warning")
            return False
        params: dict = {"text": prompt, "chat": chat}
        if self.session is not None and self._session_key == (prompt, chat) and self.session.prompt_ids:
            params = {"tokens": [*self.session.prompt_ids, *(c[0] for c in self.session.chosen)]}
        if not await self.lens.compute(self.model, params):
            return False
        # The grid needs room: make space for it if the splitter keeps the lens small.
        total = sum(self.split.sizes())
        if self.split.sizes()[1] < total // 2:
            upper = max(280, int(total * 0.4))
            self.split.setSizes([upper, max(0, total - upper)])
        return True

    def cancel_lens(self) -> None:
        self.lens.cancel()

    @property
    def lens_busy(self) -> bool:
        return self.lens.busy

    @property
    def lens_result(self) -> dict | None:
        return self.lens.result

    async def shutdown(self) -> None:
        await self.lens.shutdown()
