"""The Arena window: pick two contestants (local models, the chat's model with or without its adapters,
remote models), ask once, watch both answers stream side by side with tok/s and TTFT under each, vote,
and the chat continues with the chosen answer. A reasoning model's thinking shows folded and dimmed above
its answer, as in the chat (ThinkingSection). Everything it shows comes from studio.core.arena."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.arena import SIDES, Arena, Contestant, Plan, Reply, Round
from studio.core.errors import StudioError
from studio.core.models.gguf_info import format_size
from studio.core.workspace import normalized_path
from studio.ui.chat.sidebar import shown_title
from studio.ui.chat.thinking_view import ThinkingSection
from studio.ui.tasks import spawn

THINKING_SHARE = 0.45  # of the pane's height at most for unfolded thinking; it scrolls beyond that


class ArenaPane(QGroupBox):
    """One side: the contestant's name, a reasoning model's thinking (folded), its streamed answer, and
    its status or stats underneath."""

    def __init__(self, side: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.side = side
        self.setObjectName(f"ArenaPane{side.upper()}")
        column = QVBoxLayout(self)
        self.thinking = ThinkingSection()
        self.thinking.toggle.toggled.connect(lambda _on: self._fit_thinking())
        self.thinking_area = QScrollArea(self)  # unfolded thinking scrolls rather than squeezing the answer
        self.thinking_area.setObjectName("ArenaThinking")
        self.thinking_area.setWidget(self.thinking)
        self.thinking_area.setWidgetResizable(True)
        self.thinking.setAutoFillBackground(False)  # setWidget turned it on: let the pane's background show
        self.thinking_area.viewport().setAutoFillBackground(False)
        self.thinking_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.thinking_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.thinking_area.hide()
        column.addWidget(self.thinking_area)
        self._answer = ""  # the answer as shown: streamed text is appended, not set again
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setObjectName("ArenaAnswer")
        self.stats = QLabel(self)
        self.stats.setObjectName("ArenaStats")
        self.stats.setWordWrap(True)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self.text, 1)
        column.addWidget(self.stats)

    def set_contestant(self, label: str) -> None:
        self.setTitle(self.tr("{side}: {name}").format(side=self.side.upper(), name=label))

    def clear(self) -> None:
        self.text.clear()
        self._answer = ""
        self.thinking.set_expanded(False)
        self.thinking_area.hide()
        self.stats.setText("")

    def show_text(self, reply: Reply) -> None:
        """The reply so far: its thinking in the folded section, its answer below."""
        parts = reply.parts()
        self.thinking.show_thinking(parts, reply.stats, reply.status == "streaming")
        if self.thinking_area.isHidden() == (parts.thinking is not None):
            self.thinking_area.setVisible(parts.thinking is not None)
        self._fit_thinking()
        if parts.answer.startswith(self._answer):
            self.append(parts.answer[len(self._answer):])
        else:
            self.text.setPlainText(parts.answer)
        self._answer = parts.answer

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit_thinking()

    def _fit_thinking(self) -> None:
        """The thinking's room: its header when folded, its text up to a share of the pane unfolded."""
        if self.thinking_area.isHidden():
            return
        width = max(self.thinking_area.viewport().width(), 100)
        layout = self.thinking.layout()
        need = layout.heightForWidth(width) if layout is not None and layout.hasHeightForWidth() else -1
        need = need if need > 0 else self.thinking.sizeHint().height()
        cap = need if not self.thinking.expanded else min(need, int(self.height() * THINKING_SHARE))
        self.thinking_area.setFixedHeight(max(cap, self.thinking.toggle.sizeHint().height()))

    def append(self, text: str) -> None:
        if not text:
            return
        bar = self.text.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 4
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(text)
        if following:
            bar.setValue(bar.maximum())

    def show_reply(self, reply: Reply) -> None:
        self.show_text(reply)
        status = reply.status
        if status == "waiting":
            text = self.tr("Waiting for its turn…")
        elif status == "loading":
            text = self.tr("Loading the model…")
        elif status == "prompt":
            text = self.tr("Reading the conversation…")
        elif status == "streaming":
            text = self.tr("Writing…")
        elif status == "error":
            text = self.tr("Failed: {reason}").format(reason=reply.error)
        else:
            text = self.format_stats(reply.stats)
            if status == "stopped":
                text = self.tr("Stopped") + (" · " + text if text else "")
        self.stats.setProperty("error", status == "error")
        self.stats.setStyleSheet("color: #d03a2f;" if status == "error" else "")
        self.stats.setText(text)

    def format_stats(self, stats: dict[str, Any]) -> str:
        if "tokens" not in stats:
            return ""
        return self.tr("{speed} tok/s · TTFT {ttft} ms · {tokens} tokens").format(
            speed=f"{float(stats.get('tokens_per_s') or 0):.1f}", ttft=f"{float(stats.get('ttft_ms') or 0):.0f}",
            tokens=int(stats.get("tokens") or 0))


class ArenaDialog(QDialog):
    """`choices()` lists what can be compared: [(label, data)], data {"kind": "local", "path",
    "adapters"} or {"kind": "remote", "engine", "model"}; `make_remote(engine, model)` gives a
    RemoteEngine; `conversation_id()` is the chat's open conversation; `picked(conversation_id)` is
    called after an answer joined it."""

    def __init__(self, store: Any, workspace: Any, *, choices: Callable[[], list[tuple[str, dict[str, Any]]]],
                 make_remote: Callable[[str, str], Any], conversation_id: Callable[[], int | None],
                 picked: Callable[[int], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ArenaDialog")
        self.setWindowTitle(self.tr("Arena"))
        self.store, self.workspace = store, workspace
        self._choices, self._make_remote = choices, make_remote
        self._conversation_id, self._picked = conversation_id, picked
        self.arena: Arena | None = None
        self._wanted: tuple[str, str] = ("", "")  # the contestant keys the combos name
        self.resize(1000, 720)

        column = QVBoxLayout(self)
        row = QHBoxLayout()
        self.combos: dict[str, QComboBox] = {}
        for side in SIDES:
            combo = QComboBox(self)
            combo.setObjectName(f"ArenaContestant{side.upper()}")
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            combo.currentIndexChanged.connect(self._contestants_changed)
            self.combos[side] = combo
            row.addWidget(QLabel(side.upper() + ":", self))
            row.addWidget(combo, 1)
            if side == "a":
                row.addWidget(QLabel(self.tr("vs"), self))
        column.addLayout(row)
        self.conversation_label = QLabel(self)
        self.conversation_label.setObjectName("ArenaConversation")
        self.conversation_label.setWordWrap(True)
        column.addWidget(self.conversation_label)
        self.plan_label = QLabel(self)
        self.plan_label.setObjectName("ArenaPlan")
        self.plan_label.setWordWrap(True)
        column.addWidget(self.plan_label)

        panes = QHBoxLayout()
        self.panes = {side: ArenaPane(side, self) for side in SIDES}
        for pane in self.panes.values():
            panes.addWidget(pane, 1)
        column.addLayout(panes, 1)

        votes = QHBoxLayout()
        self.vote_buttons = {"a": QPushButton(self.tr("A is better"), self),
                             "b": QPushButton(self.tr("B is better"), self),
                             "tie": QPushButton(self.tr("Tie"), self)}
        self.vote_buttons["tie"].setToolTip(self.tr("Count a tie; the conversation continues with A's answer"))
        for winner, button in self.vote_buttons.items():
            button.setObjectName(f"ArenaVote{winner.capitalize()}")
            button.clicked.connect(lambda _=False, w=winner: self.vote(w))
            votes.addWidget(button)
        self.result_label = QLabel(self)
        self.result_label.setObjectName("ArenaResult")
        self.result_label.setWordWrap(True)
        votes.addWidget(self.result_label, 1)
        column.addLayout(votes)

        composer = QHBoxLayout()
        self.composer = QPlainTextEdit(self)
        self.composer.setObjectName("ArenaComposer")
        self.composer.setPlaceholderText(self.tr("Ask both… (Ctrl+Enter to send, Esc to stop)"))
        self.composer.setFixedHeight(64)
        composer.addWidget(self.composer, 1)
        buttons = QVBoxLayout()
        self.send_button = QPushButton(self.tr("Send to both"), self)
        self.send_button.setObjectName("ArenaSend")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton(self.tr("Stop"), self)
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        composer.addLayout(buttons)
        column.addLayout(composer)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, activated=self.send)

        column.addWidget(QLabel(self.tr("Votes per pair"), self))
        self.summary = QTableWidget(0, 6, self)
        self.summary.setObjectName("ArenaSummary")
        self.summary.setHorizontalHeaderLabels([self.tr("Contestant 1"), self.tr("Contestant 2"), self.tr("Wins 1"),
                                                self.tr("Wins 2"), self.tr("Ties"), self.tr("Rounds")])
        self.summary.verticalHeader().hide()
        self.summary.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.summary.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in range(2, 6):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.summary.setMaximumHeight(130)
        column.addWidget(self.summary)
        self.no_votes = QLabel(self.tr("No votes yet: vote on a round and the tally of each pair shows here."), self)
        self.no_votes.setObjectName("ArenaNoVotes")
        self.no_votes.setEnabled(False)  # drawn dimmed
        column.addWidget(self.no_votes)
        self._set_busy(False)
        self._show_votes_enabled(None)

    # -- contestants --------------------------------------------------------------------------
    def refresh(self) -> None:
        """List the contestants again (models, adapters, remote engines) and show the open conversation."""
        choices = self._choices()
        for side, combo in self.combos.items():
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for label, data in choices:
                combo.addItem(label, data)
                combo.setItemData(combo.count() - 1, _tooltip(data), Qt.ItemDataRole.ToolTipRole)
            row = next((i for i in range(combo.count()) if combo.itemData(i) == current), -1)
            if row < 0:  # first time: A the chat's model, B the next different choice
                row = 0 if side == "a" else min(1, combo.count() - 1)
            combo.setCurrentIndex(row)
            combo.blockSignals(False)
        self._show_conversation()
        self._contestants_changed()
        self.show_summary()

    def contestant(self, side: str) -> Contestant | None:
        data = self.combos[side].currentData()
        if not isinstance(data, dict):
            return None
        if data.get("kind") == "remote":
            return Contestant.of_remote(self._make_remote(data["engine"], data["model"]))
        return Contestant.local(data["path"], data.get("adapters") or [])

    def _contestants_changed(self) -> None:
        if self.arena is not None and self.arena.busy:
            return
        for side in SIDES:
            self.panes[side].set_contestant(self.combos[side].currentText())
        keys = tuple(_key(self.combos[s].currentData()) for s in SIDES)
        if keys == self._wanted and self.arena is not None:
            return
        self._wanted = (keys[0], keys[1])
        spawn(self._use_contestants(), on_error=self._unexpected)

    async def _use_contestants(self) -> None:
        a, b = self.contestant("a"), self.contestant("b")
        if a is None or b is None:
            self.plan_label.setText(self.tr("Pick a model for each side."))
            return
        try:
            if self.arena is None:
                self.arena = Arena(self.store, self.workspace, a, b, conversation_id=self._conversation_id())
                self._subscribe(self.arena)
            else:
                await self.arena.set_contestants(a, b)
        except StudioError as exc:
            for c in (a, b):  # not taken: their connections are ours to close
                if c.remote is not None:
                    await c.remote.close()
            self.plan_label.setText(str(exc))
            self.send_button.setEnabled(False)
            return
        self._show_plan(self.arena.plan())
        self._set_busy(False)

    def _subscribe(self, arena: Arena) -> None:
        arena.subscribe("plan", self._show_plan)
        arena.subscribe("side", lambda side, reply: self.panes[side].show_reply(reply))
        arena.subscribe("delta", self._delta)
        arena.subscribe("state", lambda busy: self._set_busy(busy))
        arena.subscribe("round_done", self._round_done)
        arena.subscribe("notice", lambda message: self.result_label.setText(message))

    def _delta(self, side: str, text: str) -> None:
        current = self.arena.round if self.arena is not None else None
        if current is not None:
            self.panes[side].show_text(current.replies[side])

    def _show_plan(self, plan: Plan) -> None:
        if plan.mode == "parallel":
            head = self.tr("Both at once")
        elif plan.reason == "memory":
            head = self.tr("One after the other (not enough memory for two models)")
        else:
            head = self.tr("One after the other (the same model on one engine)")
        detail = self._plan_detail(plan)
        self.plan_label.setText(f"<b>{html.escape(head)}</b> — {html.escape(detail)}")
        self.plan_label.setToolTip(f"{head} — {detail}")

    def _plan_detail(self, plan: Plan) -> str:
        """Why, in the screen's language (the core's `plan.detail` is English, for the CLI and logs)."""
        if plan.reason == "remote":
            if plan.name:
                return self.tr("{name} answers from its server.").format(name=plan.name)
            return self.tr("both answer from remote servers.")
        if plan.reason == "same_model":
            return self.tr("{name} writes both answers on one engine, its adapters swapped in between.").format(
                name=plan.name)
        need, free = format_size(plan.need), format_size(plan.free)
        if plan.reason == "memory":
            if plan.name:
                return self.tr("{name} needs about {need} and {free} is free, so the engine loads each model in "
                               "turn.").format(name=plan.name, need=need, free=free)
            return self.tr("the two models need about {need} and {free} is free, so the engine loads each in "
                           "turn.").format(need=need, free=free)
        return self.tr("both models fit in memory (about {need} more needed, {free} free).").format(
            need=need, free=free)

    def _show_conversation(self) -> None:
        cid = self._conversation_id()
        if cid is None:
            self.conversation_label.setText(self.tr("No conversation is open: the chosen answer starts a new one."))
            return
        try:
            conversation = self.store.get_conversation(cid)
            count = len(self.store.messages(cid))
        except (LookupError, StudioError) as exc:
            self.conversation_label.setText(str(exc))
            return
        self.conversation_label.setText(self.tr("Conversation: “{title}” ({count} messages) — both answer it as it "
                                                "stands, and the chosen answer joins it.").format(
            title=shown_title(conversation.title), count=count))

    # -- a round ------------------------------------------------------------------------------
    def send(self) -> None:
        text = self.composer.toPlainText().strip()
        if not text or self.arena is None or self.arena.busy or not self.send_button.isEnabled():
            return
        spawn(self._ask(text), on_error=self._unexpected)

    async def _ask(self, text: str) -> None:
        arena = self.arena
        assert arena is not None
        cid = self._conversation_id()
        try:
            if arena.conversation is None or arena.conversation.id != cid:
                arena.open(cid)
        except (LookupError, StudioError) as exc:
            self.result_label.setText(str(exc))
            return
        self._show_conversation()
        for pane in self.panes.values():
            pane.clear()
        self.result_label.setText("")
        self.composer.clear()
        try:
            await arena.ask(text)
        except (ValueError, StudioError) as exc:
            self.composer.setPlainText(text)
            self.result_label.setText(str(exc))

    def stop(self) -> None:
        if self.arena is not None and self.arena.busy:
            spawn(self.arena.stop(), on_error=self._unexpected)

    def _round_done(self, round: Round) -> None:
        for side, reply in round.replies.items():
            self.panes[side].show_reply(reply)
        self._show_votes_enabled(round)

    def vote(self, winner: str) -> None:
        if self.arena is None:
            return
        try:
            message = self.arena.pick(winner)
        except (ValueError, StudioError) as exc:
            self.result_label.setText(str(exc))
            return
        kept = (self.arena.round.kept if self.arena.round else winner).upper()
        if winner == "tie":
            self.result_label.setText(self.tr("Tie counted; the chat continues with {side}'s answer.").format(
                side=kept))
        else:
            self.result_label.setText(self.tr("{side} wins; its answer joined the chat.").format(side=kept))
        self._show_votes_enabled(self.arena.round)
        self.show_summary()
        self._picked(message.conversation_id)
        self._show_conversation()

    def show_summary(self) -> None:
        try:
            tallies = self.arena.summary() if self.arena is not None else _summary(self.store)
        except StudioError as exc:
            self.result_label.setText(str(exc))
            return
        self.summary.setRowCount(len(tallies))
        self.summary.setVisible(bool(tallies))
        self.no_votes.setVisible(not tallies)
        for row, t in enumerate(tallies):
            for col, value in enumerate((t.first_label, t.second_label, t.first_wins, t.second_wins, t.ties, t.n)):
                item = QTableWidgetItem(str(value))
                if col >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.summary.setItem(row, col, item)

    def _set_busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy and self.arena is not None)
        self.stop_button.setEnabled(busy)
        for combo in self.combos.values():
            combo.setEnabled(not busy)
        if busy:
            self._show_votes_enabled(None)

    def _show_votes_enabled(self, round: Round | None) -> None:
        open_round = round is not None and round.finished and not round.picked
        for winner, button in self.vote_buttons.items():
            usable = open_round and round is not None and (
                winner == "tie" and any(r.usable for r in round.replies.values())
                or winner in SIDES and round.replies[winner].usable)
            button.setEnabled(bool(usable))

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Escape:  # Esc stops the answers; closing is the window's button
            self.stop()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: Any) -> None:
        # Closing ends the round and the arena's own engine workers; opening again starts afresh.
        spawn(self.shutdown(), on_error=self._unexpected)
        super().closeEvent(event)

    def _unexpected(self, exc: BaseException) -> None:
        self.result_label.setText(self.tr("Something went wrong: {reason}").format(reason=exc))

    async def shutdown(self) -> None:
        """Stop a round and end the arena's own engine workers and connections."""
        if self.arena is not None:
            arena, self.arena = self.arena, None
            await arena.close()


def _key(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    if data.get("kind") == "remote":
        return f"remote:{data.get('engine')}/{data.get('model')}"
    return Contestant.local(data["path"], data.get("adapters") or []).key


def _tooltip(data: dict[str, Any]) -> str:
    if data.get("kind") == "remote":
        return f"{data.get('engine')} · {data.get('model')}"
    return "\n".join([str(data["path"]), *(str(a["path"]) for a in data.get("adapters") or [])])


def _summary(store: Any) -> list[Any]:
    from studio.core.chat import arena_votes
    return arena_votes.summary(store)


def contestant_choices(entries: list[Any], chat_model: str, adapters: list[dict[str, Any]],
                       remotes: list[Any], *, with_adapters: str, without_adapters: str) -> list[tuple[str, dict]]:
    """The chat's model (with its adapters, then without them when it has some), the library's other
    models, then each remote engine's models. `with_adapters` / `without_adapters` are format strings
    with {name} (and {adapters})."""
    choices: list[tuple[str, dict]] = []
    seen: set[str] = set()
    if chat_model:
        name = Path(chat_model).stem
        if adapters:
            label = Contestant.local(chat_model, adapters).label.split(" + ", 1)[1]
            choices.append((with_adapters.format(name=name, adapters=label),
                            {"kind": "local", "path": chat_model, "adapters": list(adapters)}))
            choices.append((without_adapters.format(name=name), {"kind": "local", "path": chat_model, "adapters": []}))
        else:
            choices.append((name, {"kind": "local", "path": chat_model, "adapters": []}))
        seen.add(normalized_path(chat_model))
    for entry in entries:
        if getattr(entry, "ok", True) and normalized_path(str(entry.path)) not in seen:
            seen.add(normalized_path(str(entry.path)))
            choices.append((entry.name, {"kind": "local", "path": str(entry.path), "adapters": []}))
    for remote in remotes:
        for model in remote.models:
            choices.append((f"{remote.name} · {model}", {"kind": "remote", "engine": remote.name, "model": model}))
    return choices
