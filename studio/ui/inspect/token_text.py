"""The token display: every span of a TokenizedText as a coloured chip, wrapped like text.

Built for whole documents: `prepare()` (plain Python, safe in a worker thread) turns spans into
display fragments once; the widget measures each distinct fragment string once (width cache),
wraps when the width changes and paints only the lines in view. Hit-testing is a binary search
over line starts and chip positions, so hover stays cheap at 100k+ tokens.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetricsF, QKeyEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QToolTip, QWidget

from studio.ui.theme import is_dark, theme_watcher

# Fragment kinds (one byte each keeps the per-fragment arrays small).
NORMAL, MERGED, SPECIAL, ADDED = 0, 1, 2, 3
_KIND_CODES = {"normal": NORMAL, "merged": MERGED, "special": SPECIAL, "added": ADDED}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MARKS = {"\n": "↵", "\t": "⇥", "\r": "␍", "\x7f": "␡"}

MARGIN = 8          # around the text
PAD = 2             # inside a chip, left and right
SPECIAL_PAD = 4     # outlined chips need a little more room for their border
GAP = 1             # between chips
HUES = (205, 35, 140, 330, 265, 95)   # alternating soft colours, far enough apart to tell neighbours


def _mark(char: str) -> str:
    return _MARKS.get(char) or chr(0x2400 + ord(char))   # U+2400 block: visible control pictures


@dataclass
class Prepared:
    """Display fragments of one TokenizedText; a span with newlines becomes several fragments."""
    texts: list[str] = field(default_factory=list)    # what each fragment draws
    spans: list[int] = field(default_factory=list)    # the span each fragment belongs to
    kinds: bytearray = field(default_factory=bytearray)
    breaks: bytearray = field(default_factory=bytearray)  # 1: a line break follows
    span_first: list[int] = field(default_factory=list)   # first fragment of each span (+ sentinel)
    seconds: float = 0.0


def prepare(tokenized) -> Prepared:
    """Qt-free: run it in the tokenizing thread so the GUI thread only measures and wraps."""
    start = time.perf_counter()
    out = Prepared()
    texts, spans, kinds, breaks, first = out.texts, out.spans, out.kinds, out.breaks, out.span_first
    control = _CONTROL.search
    for index, span in enumerate(tokenized.spans):
        first.append(len(texts))
        kind = _KIND_CODES.get(span.kind, NORMAL)
        text = span.text
        if not text and kind == ADDED:
            text = b"".join(tokenized.pieces[span.tok_start:span.tok_end]).decode("utf-8", "replace")
        if not text or control(text) is None:
            texts.append(text or "∅")
            spans.append(index)
            kinds.append(kind)
            breaks.append(0)
            continue
        current = []
        for char in text:
            if char == "\n":
                current.append("↵")
                texts.append("".join(current))
                spans.append(index)
                kinds.append(kind)
                breaks.append(1)
                current = []
            elif control(char) is not None:
                current.append(_mark(char))
            else:
                current.append(char)
        if current:
            texts.append("".join(current))
            spans.append(index)
            kinds.append(kind)
            breaks.append(0)
    first.append(len(texts))
    out.seconds = time.perf_counter() - start
    return out


def piece_label(piece: bytes) -> str:
    """A raw token piece for people: decodable parts quoted (escapes visible), stray bytes as <0xE4>."""
    parts: list[str] = []
    rest = piece
    while rest:
        try:
            parts.append(repr(rest.decode("utf-8")))
            break
        except UnicodeDecodeError as exc:
            if exc.start:
                parts.append(repr(rest[:exc.start].decode("utf-8")))
            parts.append("".join(f"<0x{b:02X}>" for b in rest[exc.start:exc.end]))
            rest = rest[exc.end:]
    return "".join(parts) if parts else "''"


def _blend(a: QColor, b: QColor, amount: float) -> QColor:
    return QColor(round(a.red() + (b.red() - a.red()) * amount),
                  round(a.green() + (b.green() - a.green()) * amount),
                  round(a.blue() + (b.blue() - a.blue()) * amount))


class TokenText(QAbstractScrollArea):
    """`set_tokenized(tt)` then paint; `span_at(pos)`, `tooltip_text(i)`, `select_span(i)`."""

    span_selected = Signal(int)     # -1: nothing selected
    span_hovered = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("TokenText")
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)   # no relayout ping-pong
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.viewport().setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.viewport().update())
        self._tokenized = None
        self._prepared = Prepared(span_first=[0])
        self._hint = ""
        self._widths_cache: dict[str, float] = {}
        self._widths: list[float] = []
        self._xs: list[float] = []
        self._lines: list[int] = [0]       # first fragment of each line, then a sentinel
        self._layout_width = -1
        self._pending_anchor = 0         # span to keep at the top when the next wrap happens
        self._line_height = 20.0
        self._ascent = 14.0
        self.hovered = -1
        self.selected = -1
        self.timings: dict[str, float] = {}
        self._relayout_timer = QTimer(self)
        self._relayout_timer.setSingleShot(True)
        self._relayout_timer.setInterval(60)
        self._relayout_timer.timeout.connect(self._relayout_now)
        self._colours()
        theme_watcher().changed.connect(self._on_theme)

    # -- data -------------------------------------------------------------------------------
    @property
    def tokenized(self):
        return self._tokenized

    def set_hint(self, text: str) -> None:
        """Shown instead of tokens when there are none (empty text, no model, an error)."""
        self._hint = text
        self.viewport().update()

    def set_tokenized(self, tokenized, prepared: Prepared | None = None) -> None:
        """Show `tokenized` (None clears). Measures fragments now; wrapping happens on the next
        paint (or at once when the width is known), so set_tokenized + grab() is the render path."""
        start = time.perf_counter()
        anchor = self._first_visible_span() if tokenized is not None and self._tokenized is not None else 0
        self._tokenized = tokenized
        if tokenized is None:
            prepared = Prepared(span_first=[0])
        elif prepared is None:
            prepared = prepare(tokenized)
        self._prepared = prepared
        self.hovered = -1
        if self.selected >= 0:   # the old index means another span in the new text
            self.selected = -1
            self.span_selected.emit(-1)
        self._measure()
        self.timings = {"prepare": prepared.seconds, "measure": time.perf_counter() - start}
        self._layout_width = -1
        self._pending_anchor = anchor if tokenized is not None else 0
        if self.isVisible():
            self._ensure_layout()
        self.viewport().update()

    def _measure(self) -> None:
        metrics = QFontMetricsF(self.font())
        self._line_height = metrics.height() + 6.0
        self._ascent = metrics.ascent()
        cache = self._widths_cache
        advance = metrics.horizontalAdvance
        widths = []
        append = widths.append
        special = (SPECIAL, ADDED)
        for text, kind in zip(self._prepared.texts, self._prepared.kinds):
            width = cache.get(text)
            if width is None:
                width = cache[text] = advance(text)
            append(width + 2 * (SPECIAL_PAD if kind in special else PAD))
        self._widths = widths

    # -- layout -----------------------------------------------------------------------------
    def _available(self) -> float:
        return max(40.0, self.viewport().width() - 2 * MARGIN)

    def _wrap(self) -> None:
        start = time.perf_counter()
        limit = self._available()
        widths = self._widths
        breaks = self._prepared.breaks
        xs = [0.0] * len(widths)
        lines = [0]
        x = 0.0
        for i, width in enumerate(widths):
            if x > 0.0 and x + width > limit:
                lines.append(i)
                x = 0.0
            xs[i] = x
            x += width + GAP
            if breaks[i]:
                lines.append(i + 1)
                x = 0.0
        if len(lines) > 1 and lines[-1] == len(widths) and not (widths and breaks[-1]):
            lines.pop()
        lines.append(len(widths))
        self._xs = xs
        self._lines = lines
        self._layout_width = self.viewport().width()
        bar = self.verticalScrollBar()
        total = int(self.n_lines() * self._line_height + 2 * MARGIN)
        bar.setRange(0, max(0, total - self.viewport().height()))
        bar.setPageStep(max(1, self.viewport().height()))
        bar.setSingleStep(int(self._line_height))
        self.timings["wrap"] = time.perf_counter() - start

    def n_lines(self) -> int:
        return len(self._lines) - 1

    def _relayout_now(self) -> None:
        self._relayout_timer.stop()
        self._ensure_layout()
        self.viewport().update()

    def _ensure_layout(self) -> None:
        """Wrap for the current width, keeping the first visible span at the top. While a big
        document's resize settles (timer running) the old wrap is kept, painted and hit-tested."""
        if self._layout_width == self.viewport().width():
            return
        if self._layout_width >= 0 and self._relayout_timer.isActive():
            return
        anchor = self._first_visible_span() if self._layout_width >= 0 else self._pending_anchor
        self._pending_anchor = 0
        self._wrap()
        if 0 < anchor < len(self._prepared.span_first) - 1:
            self._scroll_to_line(self._line_of_fragment(self._prepared.span_first[anchor]), top=True)

    def _line_of_fragment(self, fragment: int) -> int:
        return max(0, bisect_right(self._lines, fragment, 0, len(self._lines) - 1) - 1)

    def _first_visible_span(self) -> int:
        if not self._widths or self._layout_width < 0:
            return 0
        line = int(max(0, self.verticalScrollBar().value() - MARGIN) // self._line_height)
        line = min(line, self.n_lines() - 1)
        if line < 0:
            return 0
        return self._prepared.spans[self._lines[line]] if self._lines[line] < len(self._widths) else 0

    def _scroll_to_line(self, line: int, *, top: bool = False) -> None:
        bar = self.verticalScrollBar()
        y = int(MARGIN + line * self._line_height)
        if top or y < bar.value():
            bar.setValue(y - MARGIN)
        elif y + self._line_height > bar.value() + self.viewport().height():
            bar.setValue(int(y + self._line_height - self.viewport().height() + MARGIN))

    # -- geometry for hover, tests and the view -----------------------------------------------
    def fragment_at(self, pos: QPoint | QPointF) -> int | None:
        if not self._widths:
            return None
        self._ensure_layout()
        y = pos.y() + self.verticalScrollBar().value() - MARGIN
        if y < 0:
            return None
        line = int(y // self._line_height)
        if line >= self.n_lines():
            return None
        lo, hi = self._lines[line], self._lines[line + 1]
        x = pos.x() - MARGIN
        i = bisect_right(self._xs, x, lo, hi) - 1
        if i < lo or x > self._xs[i] + self._widths[i]:
            return None
        return i

    def span_at(self, pos: QPoint | QPointF) -> int | None:
        fragment = self.fragment_at(pos)
        return None if fragment is None else self._prepared.spans[fragment]

    def span_rects(self, index: int) -> list[QRectF]:
        """Viewport rectangles of span `index` (one per fragment; a span with newlines has several)."""
        if not (0 <= index < len(self._prepared.span_first) - 1):
            return []
        self._ensure_layout()
        top = self.verticalScrollBar().value()
        rects = []
        for f in range(self._prepared.span_first[index], self._prepared.span_first[index + 1]):
            line = self._line_of_fragment(f)
            rects.append(QRectF(MARGIN + self._xs[f], MARGIN + line * self._line_height - top + 1,
                                self._widths[f], self._line_height - 2))
        return rects

    def select_span(self, index: int, *, scroll: bool = True) -> None:
        n = len(self._prepared.span_first) - 1
        index = index if 0 <= index < n else -1
        if index != self.selected:
            self.selected = index
            self.span_selected.emit(index)
        if index >= 0 and scroll:
            self._ensure_layout()
            self._scroll_to_line(self._line_of_fragment(self._prepared.span_first[index]))
        self.viewport().update()

    def scroll_to_span(self, index: int) -> None:
        if 0 <= index < len(self._prepared.span_first) - 1:
            self._ensure_layout()
            self._scroll_to_line(self._line_of_fragment(self._prepared.span_first[index]), top=True)

    def tooltip_text(self, index: int) -> str:
        """Id(s), raw piece(s) and bytes of span `index`, in the words the tooltip shows."""
        tt = self._tokenized
        if tt is None or not (0 <= index < len(tt.spans)):
            return ""
        span = tt.spans[index]
        ids = tt.ids[span.tok_start:span.tok_end]
        pieces = tt.pieces[span.tok_start:span.tok_end]
        shown = span.text if span.text else b"".join(pieces).decode("utf-8", "replace")
        shown = "".join(_mark(c) if _CONTROL.match(c) else c for c in shown)
        labels = " + ".join(piece_label(p) for p in pieces)
        n = len(ids)
        if n == 1:
            head = self.tr("{text} = token {id}: {piece}").format(text=shown, id=ids[0], piece=labels)
        else:
            head = self.tr("{text} = {n} tokens: {pieces}").format(text=shown, n=n, pieces=labels)
        lines = [head, self.tr("ids: {ids}").format(ids=", ".join(str(i) for i in ids)),
                 self.tr("bytes: {hex}").format(hex=" ".join(f"{b:02X}" for b in b"".join(pieces)) or "—")]
        if span.kind == "merged":
            lines.append(self.tr("Merged from {n} tokens: their bytes only together form these characters.")
                         .format(n=n))
        elif span.kind == "special":
            kinds = sorted({tt.kinds[i] for i in range(span.tok_start, span.tok_end)})
            lines.append(self.tr("Special token ({kind}): read from your text as one control token.")
                         .format(kind=", ".join(k.replace("_", "-") for k in kinds)))
        elif span.kind == "added":
            lines.append(self.tr("Added by the tokenizer; it is not in your text."))
        lines.append(self.tr("Token {first} of {total}").format(first=span.tok_start + 1, total=tt.n_tokens)
                     if n == 1 else
                     self.tr("Tokens {first}–{last} of {total}").format(first=span.tok_start + 1,
                                                                          last=span.tok_end, total=tt.n_tokens))
        return "\n".join(lines)

    # -- colours ----------------------------------------------------------------------------
    def _colours(self) -> None:
        palette = QApplication.palette()
        dark = is_dark()
        base = palette.color(QPalette.ColorRole.Base)
        self._text = palette.color(QPalette.ColorRole.Text)
        self._hint_colour = palette.color(QPalette.ColorRole.PlaceholderText)
        self._highlight = palette.color(QPalette.ColorRole.Highlight)
        self._highlight_text = palette.color(QPalette.ColorRole.HighlightedText)
        self._base = base
        if dark:
            fills = [QColor.fromHsl(h, 110, 62) for h in HUES]
            self._special_line = QColor.fromHsl(20, 230, 150)
        else:
            fills = [QColor.fromHsl(h, 200, 222) for h in HUES]
            self._special_line = QColor.fromHsl(15, 200, 105)
        self._fills = fills
        self._special_fill = _blend(base, self._special_line, 0.14)
        self._mark_colour = _blend(self._text, base, 0.45)   # ↵ ⇥ drawn softer than text

    def _on_theme(self) -> None:
        self._colours()
        self.viewport().update()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and self._tokenized is not None:
            self._widths_cache.clear()
            self._pending_anchor = self._first_visible_span()
            self._measure()
            self._layout_width = -1
            self.viewport().update()
        elif event.type() == QEvent.Type.PaletteChange:
            self._colours()

    # -- painting ---------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        painter = QPainter(self.viewport())
        painter.fillRect(self.viewport().rect(), self._base)
        if not self._widths:
            self._paint_hint(painter)
            return
        start = time.perf_counter()
        self._ensure_layout()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        top = self.verticalScrollBar().value()
        height = self.viewport().height()
        lh = self._line_height
        first = max(0, int((top - MARGIN) // lh))
        last = min(self.n_lines(), int((top + height - MARGIN) // lh) + 1)
        prepared = self._prepared
        texts, spans, kinds, xs, widths = prepared.texts, prepared.spans, prepared.kinds, self._xs, self._widths
        limit = self.viewport().width() - MARGIN
        metrics = QFontMetricsF(self.font())
        text_pen = QPen(self._text)
        mark_pen = QPen(self._mark_colour)
        special_pen = QPen(self._special_line, 1.3)
        added_pen = QPen(self._special_line, 1.2, Qt.PenStyle.DashLine)
        dot_pen = QPen(self._text, 1.0, Qt.PenStyle.DotLine)
        hover_pen = QPen(self._highlight, 2.0)
        fills = self._fills
        n_fills = len(fills)
        for line in range(first, last):
            y = MARGIN + line * lh - top
            chip_y = y + 1
            chip_h = lh - 2
            baseline = y + 3 + self._ascent
            for f in range(self._lines[line], self._lines[line + 1]):
                span = spans[f]
                kind = kinds[f]
                x = MARGIN + xs[f]
                w = min(widths[f], limit - x) if x + widths[f] > limit else widths[f]
                rect = QRectF(x, chip_y, w, chip_h)
                painter.setPen(Qt.PenStyle.NoPen)
                selected = span == self.selected
                if selected:
                    painter.setBrush(self._highlight)
                    painter.drawRoundedRect(rect, 3, 3)
                elif kind >= SPECIAL:
                    painter.setBrush(self._special_fill)
                    painter.setPen(special_pen if kind == SPECIAL else added_pen)
                    painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
                else:
                    painter.setBrush(fills[span % n_fills])
                    painter.drawRoundedRect(rect, 2, 2)
                text = texts[f]
                pad = SPECIAL_PAD if kind >= SPECIAL else PAD
                if w < widths[f]:
                    text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(0.0, w - 2 * pad))
                if selected:
                    painter.setPen(self._highlight_text)
                elif kind >= SPECIAL:
                    painter.setPen(self._special_line)
                elif text[-1:] in "↵⇥" or (len(text) == 1 and 0x2400 <= ord(text) <= 0x2421):
                    painter.setPen(mark_pen)
                else:
                    painter.setPen(text_pen)
                painter.drawText(QPointF(x + pad, baseline), text)
                if kind == MERGED:
                    painter.setPen(dot_pen)
                    underline = baseline + 2.5
                    painter.drawLine(QPointF(x + 1, underline), QPointF(x + w - 1, underline))
                if span == self.hovered and not selected:
                    painter.setBrush(Qt.BrushStyle.NoBrush)
                    painter.setPen(hover_pen)
                    painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 3, 3)
        self.timings["paint"] = time.perf_counter() - start

    def _paint_hint(self, painter: QPainter) -> None:
        if not self._hint:
            return
        painter.setPen(self._hint_colour)
        area = self.viewport().rect().adjusted(24, 24, -24, -24)
        painter.drawText(area, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._hint)

    # -- events -----------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._widths:
            return
        # Small texts rewrap at once; a big document waits until the resize settles.
        if len(self._widths) < 20_000:
            self._ensure_layout()
        else:
            self._relayout_timer.start()

    def viewportEvent(self, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MouseMove:
            self._set_hovered(self.span_at(event.position()))
        elif kind == QEvent.Type.Leave:
            self._set_hovered(None)
        elif kind == QEvent.Type.ToolTip:
            span = self.span_at(event.pos())
            if span is None:
                QToolTip.hideText()
            else:
                rects = self.span_rects(span)
                area = rects[0].toAlignedRect() if rects else QRect()
                QToolTip.showText(event.globalPos(), self.tooltip_text(span), self.viewport(), area)
            return True
        elif kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            span = self.span_at(event.position())
            self.select_span(-1 if span is None else span, scroll=False)
            self.setFocus()
            return True
        return super().viewportEvent(event)

    def _set_hovered(self, span: int | None) -> None:
        span = -1 if span is None else span
        if span != self.hovered:
            self.hovered = span
            self.span_hovered.emit(span)
            self.viewport().update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        n = len(self._prepared.span_first) - 1
        key = event.key()
        if n and key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            step = -1 if key == Qt.Key.Key_Left else 1
            if self.selected < 0:
                target = 0 if step > 0 else n - 1
            else:
                target = min(n - 1, max(0, self.selected + step))
            self.select_span(target)
            return
        if n and key in (Qt.Key.Key_Home, Qt.Key.Key_End) and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.select_span(0 if key == Qt.Key.Key_Home else n - 1)
            return
        if key == Qt.Key.Key_Escape and self.selected >= 0:
            self.select_span(-1)
            return
        super().keyPressEvent(event)


def measure_render(widget: TokenText, tokenized, prepared: Prepared | None = None) -> dict[str, float]:
    """Seconds for the GUI-side render of `tokenized` in `widget` (sized, shown or not):
    prepare (done in the tokenizing thread by the view), measure widths, wrap, first paint."""
    start = time.perf_counter()
    prepared = prepared or prepare(tokenized)
    after_prepare = time.perf_counter()
    widget.set_tokenized(tokenized, prepared)
    after_measure = time.perf_counter()
    widget.grab()
    done = time.perf_counter()
    wrap = widget.timings.get("wrap", 0.0)
    return {"prepare": after_prepare - start, "measure": after_measure - after_prepare,
            "wrap": wrap, "paint": widget.timings.get("paint", 0.0),
            "paint_total": done - after_measure, "total": done - start}
