"""Inspect › Next token: the painted pieces — the probability bar chart and the text-so-far with
one chip per chosen token — plus how a token's piece is written so whitespace stays visible.

Both widgets only show what the view hands them (Candidate rows, chosen-token groups); they never
talk to the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolTip, QWidget

from studio.ui.theme import ChartPalette, mix_colours, theme_watcher

_MARKS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍", "\x7f": "␡"}


def visible_text(text: str) -> str:
    """A piece of text with its whitespace and control characters drawn as visible marks."""
    out = []
    for ch in text:
        if ch in _MARKS:
            out.append(_MARKS[ch])
        elif ord(ch) < 0x20:
            out.append(chr(0x2400 + ord(ch)))     # the Control Pictures block: ␀ ␁ …
        else:
            out.append(ch)
    return "".join(out) if out else "∅"


def split_utf8(data: bytes) -> list[tuple[str, bool]]:
    """Bytes as (text, complete) runs: whole UTF-8 characters, or one stray byte written ‹e5›."""
    runs: list[tuple[str, bool]] = []
    i = 0
    while i < len(data):
        for size in (1, 2, 3, 4):
            try:
                runs.append((data[i:i + size].decode("utf-8"), True))
                i += size
                break
            except UnicodeDecodeError:
                continue
        else:
            runs.append((f"‹{data[i]:02x}›", False))
            i += 1
    return runs


def visible_piece(piece: bytes, fallback: str = "") -> str:
    """A token's piece for a label: whitespace visible, bytes that are only part of a character
    (byte-fallback, split CJK) written as ‹e5›."""
    if not piece:
        return visible_text(fallback) if fallback else "∅"
    return "".join(visible_text(text) if whole else text for text, whole in split_utf8(piece))



def percent(p: float) -> str:
    if p >= 0.9995:
        return "100%"
    if p >= 0.1:
        return f"{p * 100:.1f}%"
    if p >= 0.001:
        return f"{p * 100:.2f}%"
    return "<0.1%" if p > 0 else "0%"


# -- the bar chart ------------------------------------------------------------------------------

@dataclass
class BarRow:
    """One bar: a Candidate of studio.core.inspect.next_token plus how to label it."""
    id: int
    label: str
    prob: float            # after temperature and truncation
    base_prob: float       # the model's own (T = 1, no truncation)
    kept: bool             # could be sampled under the current settings
    rank: int
    logit: float = 0.0
    piece_bytes: bytes = b""
    note: str = ""         # extra tooltip line (e.g. "completes 猫 with the bytes before it")
    before: float | None = None   # comparing: the model without its adapters, same settings as `prob`


class BarChart(QWidget):
    """Horizontal bars, best token first, on an absolute 0–100 % scale so temperature visibly
    sharpens or flattens them. A kept bar is solid with a tick at the model's own probability;
    a cut bar (outside top-k / top-p) is a faint ghost of its base probability. Click a bar →
    `token_clicked(id)`; hover → tooltip with id, bytes and both probabilities.

    Comparing (set_legend, rows with `before`): two thin bars per token, the model without its
    adapters above the one with them, and the change in percentage points instead of the value."""

    token_clicked = Signal(int)

    PAD = 6

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("NextTokenBars")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.rows: list[BarRow] = []
        self.drawn_id = -1           # the token "Take sampled" drew last, outlined
        self.hint = ""
        self.legend: tuple[str, str] | None = None     # (without adapters, with them) while comparing
        self._hover = -1
        self._colours = ChartPalette()
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, False)
        theme_watcher().changed.connect(self._on_theme)

    def _on_theme(self) -> None:
        self._colours.refresh()
        self.update()

    # -- data -------------------------------------------------------------------------------
    def set_rows(self, rows: list[BarRow]) -> None:
        self.rows = list(rows)
        self._hover = -1 if self._hover >= len(self.rows) else self._hover
        self.updateGeometry()
        self.update()

    def set_legend(self, legend: tuple[str, str] | None) -> None:
        """The two sides' names while comparing; None shows the plain chart."""
        self.legend = legend
        self.updateGeometry()
        self.update()

    @property
    def comparing(self) -> bool:
        return self.legend is not None and any(r.before is not None for r in self.rows)

    def points(self, delta: float) -> str:
        """A change in probability as percentage points: "+12.3 pts", "−4.0 pts"."""
        value = round(delta * 100, 1)
        sign = "+" if value > 0 else "\u2212" if value < 0 else ""
        return self.tr("{delta} pts").format(delta=f"{sign}{abs(value):.1f}")

    def set_hint(self, text: str) -> None:
        """What an empty chart says (e.g. "Press Predict")."""
        self.hint = text
        self.rows = []
        self.update()

    def mark_drawn(self, token_id: int) -> None:
        self.drawn_id = int(token_id)
        self.update()

    # -- geometry ---------------------------------------------------------------------------
    # (axis end, guide step): round numbers on the axis whatever the scale
    SCALES = ((0.05, 0.01), (0.1, 0.025), (0.2, 0.05), (0.4, 0.1), (0.6, 0.15), (1.0, 0.25))

    def scale(self) -> tuple[float, float]:
        """The axis' end and guide step: the smallest end that holds every bar, so a flat
        distribution is still readable; the guides' labels say what the lengths mean."""
        peak = max((max(r.prob, r.base_prob, r.before or 0.0) for r in self.rows), default=1.0)
        return next((s for s in self.SCALES if peak <= s[0] + 1e-9), self.SCALES[-1])

    def _axis_height(self) -> int:
        return self.fontMetrics().height() + 4

    def _legend_height(self) -> int:
        return self.fontMetrics().height() + 6 if self.comparing else 0

    def row_height(self) -> int:
        """Rows share the height they are given (between a compact and a roomy size)."""
        low = self.fontMetrics().height() + (8 if self.comparing else 4)    # two bars need room
        if not self.rows:
            return low + 4
        room = (self.height() - self._top() - self.PAD) // len(self.rows)
        return int(max(low, min(low + 14, room)))

    def sizeHint(self) -> QSize:
        return QSize(420, max(6, len(self.rows) or 10) * (self.fontMetrics().height() + 10)
                     + self._axis_height() + 2 * self.PAD)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, 6 * (self.fontMetrics().height() + 4) + self._axis_height())

    def _label_width(self) -> int:
        fm = self.fontMetrics()
        widest = max((fm.horizontalAdvance(r.label) for r in self.rows), default=40)
        return max(48, min(widest + 12, int(self.width() * 0.32)))

    def _value_width(self) -> int:
        widest = self.points(-0.999) if self.comparing else "— (99.9%)"
        return self.fontMetrics().horizontalAdvance(widest) + 10

    def _top(self) -> int:
        return self.PAD + self._legend_height() + self._axis_height()

    def row_rect(self, index: int) -> QRect:
        h = self.row_height()
        return QRect(0, self._top() + index * h, self.width(), h)

    def row_at(self, pos: QPoint) -> int:
        if pos.y() < self._top():
            return -1
        index = (pos.y() - self._top()) // self.row_height()
        return int(index) if 0 <= index < len(self.rows) else -1

    def bar_area(self) -> QRect:
        left = self._label_width() + 8
        return QRect(left, 0, max(20, self.width() - left - self._value_width() - self.PAD), self.height())

    # -- painting ---------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        c = self._colours
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.fillRect(self.rect(), c.base)
        if not self.rows:
            painter.setPen(c.dim)
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.hint)
            return
        fm = self.fontMetrics()
        area = self.bar_area()
        label_w = self._label_width()
        h = self.row_height()
        top = self._top()
        bottom = top + len(self.rows) * h
        scale, step = self.scale()
        for i in range(round(scale / step) + 1):         # guides, labelled with what they mean
            value = i * step
            x = area.left() + round(area.width() * value / scale)
            painter.setPen(QPen(c.grid, 1))
            painter.drawLine(x, top, x, bottom)
            painter.setPen(c.dim)
            text = f"{value * 100:g}%" if i else "0"
            width = fm.horizontalAdvance(text)
            painter.drawText(QRect(x - width // 2 - 2, top - self._axis_height(), width + 4, self._axis_height()),
                             Qt.AlignmentFlag.AlignCenter, text)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.85))
        if self.comparing:
            self._paint_comparison(painter, area, scale)
            return
        for i, row in enumerate(self.rows):
            r = self._paint_row_start(painter, i, row, label_w, h, fm)
            bar_h = max(6, h - 8)
            y = r.top() + (h - bar_h) // 2
            base_w = area.width() * min(1.0, row.base_prob / scale)
            if row.kept:
                width = max(1.0, area.width() * min(1.0, row.prob / scale)) if row.prob > 0 else 0.0
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(c.bar)
                painter.drawRoundedRect(QRectF(area.left(), y, width, bar_h), 3, 3)
                # The model's own probability as a tick: the shift shows what temperature did.
                if abs(row.base_prob - row.prob) > 0.005:
                    painter.setPen(QPen(c.text, 1.5))
                    x = area.left() + base_w
                    painter.drawLine(QPointF(x, y - 2), QPointF(x, y + bar_h + 2))
                value = percent(row.prob)
                value_colour = c.text
            else:
                painter.setPen(QPen(c.ghost, 1, Qt.PenStyle.DashLine))
                painter.setBrush(mix_colours(c.base, c.ghost, 0.35))
                painter.drawRoundedRect(QRectF(area.left(), y, max(1.0, base_w), bar_h), 3, 3)
                value = f"— ({percent(row.base_prob)})"
                value_colour = c.dim
            if row.id == self.drawn_id:
                painter.setPen(QPen(c.drawn, 2))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(QRectF(area.left() - 3, y - 2, area.width() + 6, bar_h + 4), 4, 4)
            painter.setFont(small if not row.kept else self.font())
            painter.setPen(value_colour)
            painter.drawText(QRect(area.right() + 6, r.top(), self._value_width(), h),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, value)
            painter.setFont(self.font())

    def _side_colours(self) -> tuple[QColor, QColor]:
        """(without adapters, with them): a neutral grey beside the usual blue."""
        c = self._colours
        return mix_colours(c.base, c.text, 0.42), c.bar

    def _change_colour(self, delta: float) -> QColor:
        c = self._colours
        if round(delta * 100, 1) == 0:
            return c.dim
        if delta > 0:
            return QColor(30, 140, 60) if not c.dark else QColor(100, 205, 120)
        return QColor(200, 55, 40) if not c.dark else QColor(255, 115, 100)

    def _paint_row_start(self, painter: QPainter, i: int, row, label_w: int, h: int, fm) -> QRect:
        """Row i's hover background and its label, right-aligned before the bars; returns the row's rect."""
        c = self._colours
        r = self.row_rect(i)
        if i == self._hover:
            painter.fillRect(r, c.hover)
        text_rect = QRect(4, r.top(), label_w - 4, h)
        painter.setPen(c.text if row.kept else c.dim)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(row.label, Qt.TextElideMode.ElideRight, text_rect.width()))
        return r

    def _paint_comparison(self, painter: QPainter, area: QRect, scale: float) -> None:
        c = self._colours
        fm = self.fontMetrics()
        base_colour, adapted_colour = self._side_colours()
        # The legend: a swatch and a name per side, above the axis.
        x = area.left()
        y = self.PAD
        box = fm.height() - 6
        for colour, name in zip((base_colour, adapted_colour), self.legend or ("", "")):
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(QRectF(x, y + 3, box * 1.6, box), 2, 2)
            x += int(box * 1.6) + 5
            room = max(0, self.width() - self.PAD - x)
            text = fm.elidedText(name, Qt.TextElideMode.ElideMiddle, min(room, area.width() // 2))
            painter.setPen(c.text)
            painter.drawText(QRect(x, y, fm.horizontalAdvance(text) + 2, fm.height() + 2),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
            x += fm.horizontalAdvance(text) + 18
        label_w = self._label_width()
        h = self.row_height()
        for i, row in enumerate(self.rows):
            r = self._paint_row_start(painter, i, row, label_w, h, fm)
            bar_h = max(4.0, (h - 6) / 2 - 1)
            y = r.top() + (h - 2 * bar_h - 2) / 2
            painter.setPen(Qt.PenStyle.NoPen)
            for offset, value, colour in ((0.0, row.before or 0.0, base_colour),
                                          (bar_h + 2, row.prob, adapted_colour)):
                if value > 0:
                    width = max(1.0, area.width() * min(1.0, value / scale))
                    painter.setBrush(colour)
                    painter.drawRoundedRect(QRectF(area.left(), y + offset, width, bar_h), 2, 2)
            if row.id == self.drawn_id:
                painter.setPen(QPen(c.drawn, 2))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(QRectF(area.left() - 3, y - 2, area.width() + 6, 2 * bar_h + 6), 4, 4)
            delta = row.prob - (row.before or 0.0)
            painter.setPen(self._change_colour(delta))
            painter.drawText(QRect(area.right() + 6, r.top(), self._value_width(), h),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.points(delta))

    # -- mouse ------------------------------------------------------------------------------
    def mouseMoveEvent(self, event) -> None:
        index = self.row_at(event.position().toPoint())
        if index != self._hover:
            self._hover = index
            self.setCursor(Qt.CursorShape.PointingHandCursor if index >= 0 else Qt.CursorShape.ArrowCursor)
            self.update()
        if index >= 0:
            QToolTip.showText(event.globalPosition().toPoint(), self.tooltip(index), self,
                              self.row_rect(index))
        else:
            QToolTip.hideText()

    def leaveEvent(self, _event) -> None:
        self._hover = -1
        self.update()

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        index = self.row_at(event.position().toPoint())
        if index >= 0:
            self.token_clicked.emit(self.rows[index].id)

    def tooltip(self, index: int) -> str:
        row = self.rows[index]
        lines = [self.tr("Token {id} · rank {rank}").format(id=row.id, rank=row.rank + 1)]
        if row.piece_bytes:
            lines.append(self.tr("Piece {piece} · bytes {hex}").format(
                piece=repr(row.piece_bytes.decode("utf-8", "replace")), hex=row.piece_bytes.hex(" ")))
        if row.before is not None and self.legend is not None:
            lines.append(self.tr("{name}: {prob}").format(name=self.legend[0], prob=percent(row.before)))
            lines.append(self.tr("{name}: {prob}").format(name=self.legend[1], prob=percent(row.prob)))
            lines.append(self.tr("Change: {points}").format(points=self.points(row.prob - row.before)))
            if not row.kept:
                lines.append(self.tr("Cut by top-k / top-p with the adapters: cannot be sampled"))
        elif row.kept:
            lines.append(self.tr("Probability now: {now} (the model's own: {base})").format(
                now=percent(row.prob), base=percent(row.base_prob)))
        else:
            lines.append(self.tr("Cut by top-k / top-p: cannot be sampled (the model's own: {base})").format(
                base=percent(row.base_prob)))
        lines.append(self.tr("Logit {logit}").format(logit=f"{row.logit:.3f}"))
        if row.note:
            lines.append(row.note)
        lines.append(self.tr("Click to append this token"))
        return "\n".join(lines)


# -- the text so far ----------------------------------------------------------------------------

@dataclass
class Chip:
    """Chosen tokens shown as one chip: one token, or several whose bytes only together form
    characters (a split CJK character)."""
    text: str
    tokens: list[tuple[int, bytes, float]]     # (id, piece bytes, probability when chosen)
    complete: bool = True                       # False: bytes still waiting for the rest of a character
    tooltip: str = ""


def group_chosen(chosen: list[tuple[int, bytes, float]]) -> list[Chip]:
    """Chosen tokens → chips: a token whose bytes end mid-character joins the next ones until the
    character is whole, so a split 猫 shows as one chip."""
    chips: list[Chip] = []
    pending: list[tuple[int, bytes, float]] = []
    for token in chosen:
        pending.append(token)
        data = b"".join(t[1] for t in pending)
        runs = split_utf8(data)
        if all(whole for _text, whole in runs) or len(data) > 12:
            chips.append(Chip(visible_piece(data), pending, all(w for _t, w in runs)))
            pending = []
    if pending:
        chips.append(Chip(visible_piece(b"".join(t[1] for t in pending)), pending, False))
    return chips


_ATOMS = re.compile(r"\n|[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]|[^\s\u2e80-\u9fff\uf900-\ufaff"
                    r"\uff00-\uffef\u3000-\u303f]+\s*|[^\S\n]+")


class ContinuationView(QWidget):
    """The prompt (dimmed, wrapped) followed by one chip per chosen token. Chips are tinted by the
    probability the token had when chosen; hover a chip for its id(s) and probability."""

    MAX_PROMPT = 600           # only the end of a long prompt is shown; the editor has all of it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("NextTokenContinuation")
        self.setMouseTracking(True)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.prompt = ""
        self.reply_marker = ""     # e.g. "assistant ›" when the prompt was wrapped as a chat message
        self.chips: list[Chip] = []
        self.hint = ""
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)     # the text is what the eye follows here
        self.setFont(font)
        self._colours = ChartPalette()
        self._layout_width = -1
        self._items: list[tuple[QRect, str, int]] = []    # (rect, text, chip index or -1 prompt / -2 marker)
        self._height = 0
        self._hover = -1
        # A bound method (not a lambda): Qt drops the connection when this widget is deleted.
        theme_watcher().changed.connect(self._recolour)

    def _recolour(self) -> None:
        self._colours.refresh()
        self.update()

    def set_content(self, prompt: str, chips: list[Chip], reply_marker: str = "") -> None:
        self.prompt = prompt
        self.chips = list(chips)
        self.reply_marker = reply_marker
        self._layout_width = -1
        self.updateGeometry()
        self.update()

    def set_hint(self, text: str) -> None:
        self.hint = text
        self.set_content("", [], "")

    @property
    def text(self) -> str:
        """The chips' text, as shown (for tests and copy)."""
        return "".join(chip.text for chip in self.chips)

    # -- layout -----------------------------------------------------------------------------
    def _lay_out(self, width: int) -> int:
        fm = self.fontMetrics()
        line_h = fm.height() + 8
        pad = 6
        x, y = pad, pad
        items: list[tuple[QRect, str, int]] = []

        def place(text: str, advance: int, index: int) -> None:
            nonlocal x, y
            if x + advance > width - pad and x > pad:
                x, y = pad, y + line_h
            items.append((QRect(x, y, advance, line_h - 4), text, index))
            x += advance

        prompt = self.prompt
        if len(prompt) > self.MAX_PROMPT:
            prompt = "…" + prompt[-self.MAX_PROMPT:]
        for atom in _ATOMS.findall(prompt):
            if atom == "\n":
                place("↵", fm.horizontalAdvance("↵"), -1)
                x, y = pad, y + line_h
                continue
            place(atom, fm.horizontalAdvance(atom), -1)
        if self.reply_marker:
            place(self.reply_marker, fm.horizontalAdvance(self.reply_marker) + 12, -2)
            x += 4
        for index, chip in enumerate(self.chips):
            place(chip.text, fm.horizontalAdvance(chip.text) + 10, index)
            x += 3
        self._items = items
        self._layout_width = width
        self._height = (y + line_h + pad) if items else 3 * line_h
        return self._height

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if width != self._layout_width:
            self._lay_out(width)
        return self._height

    def sizeHint(self) -> QSize:
        return QSize(400, self.heightForWidth(max(self.width(), 200)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.width() != self._layout_width:
            self._lay_out(self.width())
            self.updateGeometry()

    # -- painting ---------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        c = self._colours
        if self.width() != self._layout_width:
            self._lay_out(self.width())
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.fillRect(self.rect(), c.base)
        if not self._items:
            painter.setPen(c.dim)
            painter.drawText(self.rect().adjusted(8, 6, -8, -6),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                             self.hint)
            return
        for rect, text, index in self._items:
            if index == -1:
                painter.setPen(c.prompt)
                painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
            elif index == -2:
                painter.setPen(QPen(c.dim, 1, Qt.PenStyle.DashLine))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(QRectF(rect).adjusted(1, 1, -3, -1), 4, 4)
                painter.setPen(c.dim)
                painter.drawText(rect.adjusted(0, 0, -4, 0), Qt.AlignmentFlag.AlignCenter, text)
            else:
                chip = self.chips[index]
                prob = chip.tokens[-1][2] if len(chip.tokens) == 1 else min(t[2] for t in chip.tokens)
                # Tint by how likely the pick was: a confident pick is solid, a long shot pale.
                fill = mix_colours(c.base, c.bar, 0.15 + 0.55 * max(0.0, min(1.0, prob)))
                style = Qt.PenStyle.SolidLine if chip.complete else Qt.PenStyle.DashLine
                border = c.highlight if index == self._hover else mix_colours(c.bar, c.text, 0.2)
                painter.setPen(QPen(border, 1.5 if index == self._hover else 1, style))
                painter.setBrush(fill)
                painter.drawRoundedRect(QRectF(rect).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
                if len(chip.tokens) > 1:      # merged tokens: a dotted line under the text
                    painter.setPen(QPen(c.text, 1, Qt.PenStyle.DotLine))
                    painter.drawLine(rect.left() + 4, rect.bottom() - 3, rect.right() - 4, rect.bottom() - 3)
                painter.setPen(c.text)
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    # -- hover ------------------------------------------------------------------------------
    def chip_at(self, pos: QPoint) -> int:
        for rect, _text, index in self._items:
            if index >= 0 and rect.contains(pos):
                return index
        return -1

    def chip_rect(self, index: int) -> QRect:
        for rect, _text, i in self._items:
            if i == index:
                return rect
        return QRect()

    def mouseMoveEvent(self, event) -> None:
        index = self.chip_at(event.position().toPoint())
        if index != self._hover:
            self._hover = index
            self.update()
        if index >= 0:
            QToolTip.showText(event.globalPosition().toPoint(), self.chips[index].tooltip, self,
                              self.chip_rect(index))
        else:
            QToolTip.hideText()

    def leaveEvent(self, _event) -> None:
        self._hover = -1
        self.update()


def set_note(label: QLabel, text: str, level: str = "info") -> None:
    """An inline note: plain for info, amber for a warning, red for an error; hidden when empty."""
    label.setText(text)
    label.setProperty("level", level)
    colour = {"error": "#c0392b", "warning": "#b9770e"}.get(level)
    label.setStyleSheet(f"color: {colour};" if colour else "")
    label.setVisible(bool(text))
