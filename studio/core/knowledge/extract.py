"""Files → text blocks that keep where they came from (page, or line/paragraph range).

One entry point, `extract(path)`: an `Extracted` with blocks (heading / paragraph / code, each
with its heading path and location), or `Unusable` — a kind (encrypted, scanned, binary, empty,
too_large, damaged, unreadable) and a sentence that names the file. Nothing raises for a bad
file: a collection indexes the rest and lists the reasons.

Formats: PDF (pypdf), Markdown, HTML (stdlib html.parser: no extra dependency, and it never
executes anything), DOCX (zipfile + ElementTree: a DOCX is a ZIP of XML, and all we need is the
paragraphs and their heading styles, so python-docx and its lxml would be weight without gain),
source code, and plain text in UTF-8, UTF-16 (BOM or not) or GBK/GB18030.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Union
from xml.etree import ElementTree

MAX_FILE_BYTES = 64 * 1024 * 1024  # a bigger "document" is almost always a dump or a mistake

PDF_SUFFIXES = {".pdf"}
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx", ".rst"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
DOCX_SUFFIXES = {".docx"}
CODE_SUFFIXES = {
    ".py", ".pyi", ".js", ".jsx", ".ts", ".tsx", ".java", ".kt", ".c", ".h", ".cc", ".cpp", ".hpp",
    ".cs", ".go", ".rs", ".rb", ".php", ".swift", ".scala", ".sh", ".bash", ".ps1", ".sql", ".lua",
    ".r", ".m", ".toml", ".yaml", ".yml", ".ini", ".cfg", ".json", ".xml", ".css", ".vue", ".dart",
}
TEXT_SUFFIXES = {".txt", ".text", ".log", ".csv", ".tsv", ".tex", ".org", ".adoc", ""}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | DOCX_SUFFIXES | CODE_SUFFIXES | TEXT_SUFFIXES

_MAGIC = [  # files that are certainly not text, whatever their name says
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x7fELF", "a program"), (b"MZ", "a Windows program"), (b"GGUF", "a GGUF model"),
    (b"SQLite format 3\x00", "an SQLite database"), (b"%PDF", "a PDF"), (b"\xd0\xcf\x11\xe0", "an old Office file"),
]


@dataclass
class Block:
    """A run of text that belongs together: a heading, a paragraph, a code block, a PDF page part.
    `start`/`end` are 1-based pages (PDF), paragraphs (DOCX) or lines (everything else)."""
    text: str
    kind: str  # "heading" | "paragraph" | "code"
    start: int
    end: int
    headings: tuple[str, ...] = ()  # the heading path this block sits under


@dataclass
class Extracted:
    path: Path
    format: str  # pdf | markdown | html | docx | code | text
    unit: str  # "page" | "paragraph" | "line": what Block.start/end count
    blocks: list[Block] = field(default_factory=list)
    encoding: str = ""


@dataclass
class Unusable:
    """A file that yields nothing, and why (`message` names the file)."""
    path: Path
    kind: str  # encrypted | scanned | binary | empty | too_large | damaged | unreadable | unsupported
    message: str


Result = Union[Extracted, Unusable]


def _no(path: Path, kind: str, why: str) -> Unusable:
    return Unusable(path, kind, f"{path.name}: {why}")


def extract(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> Result:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return _no(path, "too_large", f"too large ({size / 1e6:.1f} MB; the limit is "
                                          f"{max_bytes / 1e6:.0f} MB) — split it into smaller files")
        if size == 0:
            return _no(path, "empty", "the file is empty")
        data = path.read_bytes()
    except FileNotFoundError:
        return _no(path, "unreadable", "the file no longer exists")
    except PermissionError:
        return _no(path, "unreadable", "the file cannot be read: permission denied")
    except OSError as exc:
        return _no(path, "unreadable", f"the file cannot be read: {exc.strerror or exc}")
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES or data.startswith(b"%PDF"):
        return _pdf(path, data)
    if suffix in DOCX_SUFFIXES:
        return _docx(path, data)
    text = decode(path, data)
    if isinstance(text, Unusable):
        return text
    value, encoding = text
    if not value.strip():
        return _no(path, "empty", "the file holds only blank space, no text")
    if suffix in MARKDOWN_SUFFIXES:
        result = Extracted(path, "markdown", "line", _markdown(value), encoding)
    elif suffix in HTML_SUFFIXES:
        result = Extracted(path, "html", "line", _html(value), encoding)
    elif suffix in CODE_SUFFIXES:
        result = Extracted(path, "code", "line", _code(value), encoding)
    else:
        result = Extracted(path, "text", "line", _plain(value), encoding)
    if not result.blocks:
        return _no(path, "empty", "no text was found in it")
    return result


# --- text and encodings -------------------------------------------------------------------------

def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return codecs.decode(data, encoding, "strict")
    except (UnicodeDecodeError, ValueError):
        return None


def _control_share(text: str) -> float:
    bad = sum(1 for c in text[:65536] if c < " " and c not in "\t\n\r\f")
    return bad / max(1, min(len(text), 65536))


def _cjk_share(text: str) -> float:
    wide = [c for c in text[:65536] if ord(c) > 0x7F]
    if not wide:
        return 1.0
    cjk = sum(1 for c in wide if "\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef")
    return cjk / len(wide)


def decode(path: Path, data: bytes) -> tuple[str, str] | Unusable:
    """(text, encoding) or why it is not text. UTF-8 first (GB18030 decodes almost anything, so it
    is tried only for bytes that are not UTF-8, and kept only when it yields mostly Chinese)."""
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        return _no(path, "empty", "the file holds only blank space, no text")
    boms = [(codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
            (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]
    for bom, encoding in boms:
        if data.startswith(bom):
            text = _strict(data, encoding)
            if text is None:
                return _no(path, "binary", f"the file starts like {encoding.upper()} text but is not valid "
                                           f"{encoding.upper()}")
            return text, encoding
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return _no(path, "binary", f"this is {what}, not text")
    head = data[:65536]
    pairs = len(head) // 2
    zeros_even, zeros_odd = head[0::2].count(0), head[1::2].count(0)
    for zeros, other, encoding in ((zeros_odd, zeros_even, "utf-16-le"), (zeros_even, zeros_odd, "utf-16-be")):
        if pairs and zeros >= 0.2 * pairs and other * 10 <= zeros:  # ASCII in UTF-16 without a BOM
            text = _strict(data[: len(data) // 2 * 2], encoding)
            if text is not None and _control_share(text) < 0.02:
                return text, encoding
    if b"\x00" in head:
        return _no(path, "binary", "this is a binary file (it contains zero bytes), not text")
    text = _strict(data, "utf-8")
    if text is None:
        chinese = _strict(data, "gb18030")
        if chinese is not None and _cjk_share(chinese) >= 0.6:
            return chinese, "gb18030"
        loose = data.decode("utf-8", "replace")
        if loose.count("\ufffd") > 0.01 * len(loose):
            return _no(path, "binary", "this is not text in UTF-8, UTF-16 or GBK/GB18030 (binary data?)")
        text = loose  # mostly UTF-8 with a few bad bytes: keep the text, lose those bytes
    if _control_share(text) > 0.02:
        return _no(path, "binary", "this is a binary file (it is full of control characters), not text")
    return text, "utf-8"


def _paragraphs(lines: list[str], first_line: int = 1) -> list[tuple[str, int, int]]:
    """Blank-line separated runs of lines → (text, first line, last line)."""
    found: list[tuple[str, int, int]] = []
    start = -1
    for i, line in enumerate([*lines, ""]):
        if line.strip():
            if start < 0:
                start = i
        elif start >= 0:
            found.append(("\n".join(lines[start:i]).strip(), first_line + start, first_line + i - 1))
            start = -1
    return found


def _plain(text: str) -> list[Block]:
    return [Block(t, "paragraph", a, b) for t, a, b in _paragraphs(text.splitlines())]


def _code(text: str) -> list[Block]:
    return [Block(t, "code", a, b) for t, a, b in _paragraphs(text.splitlines())]


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_FENCE = re.compile(r"^\s*(```|~~~)")


def _markdown(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    path: list[str] = []
    run: list[str] = []
    run_start = 1

    def flush() -> None:
        for t, a, b in _paragraphs(run, run_start):
            blocks.append(Block(t, "paragraph", a, b, tuple(path)))

    i = 0
    while i < len(lines):
        line = lines[i]
        number = i + 1
        if _MD_FENCE.match(line):
            flush()
            end = i + 1
            while end < len(lines) and not _MD_FENCE.match(lines[end]):
                end += 1
            body = "\n".join(lines[i: end + 1]).strip()
            if body:
                blocks.append(Block(body, "code", number, min(end + 1, len(lines)), tuple(path)))
            i = end + 1
            run, run_start = [], i + 1
            continue
        heading = _MD_HEADING.match(line)
        # Setext headings: a line underlined by === or ---
        if not heading and i + 1 < len(lines) and line.strip() and re.fullmatch(r"\s*(={3,}|-{3,})\s*", lines[i + 1]):
            level = 1 if "=" in lines[i + 1] else 2
            flush()
            del path[level - 1:]
            path.append(line.strip())
            blocks.append(Block(line.strip(), "heading", number, number + 1, tuple(path[:-1])))
            i += 2
            run, run_start = [], i + 1
            continue
        if heading:
            flush()
            level = len(heading.group(1))
            title = heading.group(2).strip()
            del path[level - 1:]
            while len(path) < level - 1:
                path.append("")
            path.append(title)
            blocks.append(Block(title, "heading", number, number, tuple(p for p in path[:-1] if p)))
            run, run_start = [], number + 1
        else:
            run.append(line)
        i += 1
    flush()
    for block in blocks:  # drop the empty placeholders of skipped heading levels
        block.headings = tuple(h for h in block.headings if h)
    return blocks


class _HtmlText(HTMLParser):
    """Text of block elements with their start line; headings start a new heading path."""

    _BLOCKS = {"p", "div", "li", "td", "th", "pre", "blockquote", "section", "article", "dd", "dt",
               "figcaption", "caption", "tr", "br", "hr", "table", "ul", "ol", "main", "header", "footer"}
    _SKIP = {"script", "style", "noscript", "template", "head", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.path: list[str] = []
        self._text: list[str] = []
        self._start = 1
        self._skip = 0
        self._heading: int | None = None
        self._pre = 0

    def _flush(self) -> None:
        raw = "".join(self._text)
        text = raw.strip() if self._pre else re.sub(r"\s+", " ", raw).strip()
        end = self.getpos()[0]
        if text:
            if self._heading is not None:
                level = self._heading
                del self.path[level - 1:]
                self.blocks.append(Block(text, "heading", self._start, end, tuple(self.path)))
                self.path.append(text)
            else:
                self.blocks.append(Block(text, "code" if self._pre else "paragraph", self._start, end,
                                         tuple(self.path)))
        self._text = []
        self._start = end

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = int(tag[1])
        elif tag in self._BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = None
        elif tag in self._BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            if not "".join(self._text).strip():
                self._start = self.getpos()[0]
            self._text.append(data)


def _html(text: str) -> list[Block]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    parser._flush()
    return parser.blocks


# --- PDF and DOCX -------------------------------------------------------------------------------

def _pdf(path: Path, data: bytes) -> Result:
    import io
    import logging

    import pypdf
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about odd PDFs go nowhere useful
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:  # an owner password alone (printing/copy limits) still opens with an empty one
                opened = bool(reader.decrypt(""))
            except Exception:  # noqa: BLE001 - pypdf raises several kinds for ciphers it cannot open
                opened = False
            if not opened:
                return _no(path, "encrypted", "encrypted PDF — it needs a password; save an unprotected copy "
                                              "and add that instead")
        pages = [(n + 1, page.extract_text() or "") for n, page in enumerate(reader.pages)]
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        return _no(path, "damaged", f"the PDF is damaged and cannot be read ({type(exc).__name__}: {exc})")
    blocks: list[Block] = []
    for number, text in pages:
        for para in re.split(r"\n\s*\n", text):
            para = para.strip()
            if para:
                blocks.append(Block(para, "paragraph", number, number))
    if not pages:
        return _no(path, "empty", "the PDF has no pages")
    if not blocks:
        return _no(path, "scanned", f"scanned PDF with no text layer ({len(pages)} page"
                                    f"{'' if len(pages) == 1 else 's'} of images); run OCR on it first")
    return Extracted(path, "pdf", "page", blocks)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx(path: Path, data: bytes) -> Result:
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if any(name == "EncryptedPackage" for name in archive.namelist()):
                return _no(path, "encrypted", "encrypted document — it needs a password")
            xml = archive.read("word/document.xml")
        root = ElementTree.fromstring(xml)
    except zipfile.BadZipFile:
        if data.startswith(b"\xd0\xcf\x11\xe0"):  # Word wraps a password-protected .docx in OLE
            return _no(path, "encrypted", "encrypted document — it needs a password; save an unprotected copy")
        return _no(path, "damaged", "this is not a valid DOCX file (it is not a ZIP archive)")
    except KeyError:
        return _no(path, "damaged", "this DOCX holds no word/document.xml; it is damaged or not a Word document")
    except ElementTree.ParseError as exc:
        return _no(path, "damaged", f"the DOCX's document.xml is damaged ({exc})")
    blocks: list[Block] = []
    headings: list[str] = []
    for number, para in enumerate(root.iter(f"{_W}p"), start=1):
        parts: list[str] = []
        for node in para.iter():
            if node.tag == f"{_W}t" and node.text:
                parts.append(node.text)
            elif node.tag in (f"{_W}tab",):
                parts.append("\t")
            elif node.tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
        text = "".join(parts).strip()
        if not text:
            continue
        style = para.find(f"{_W}pPr/{_W}pStyle")
        name = (style.get(f"{_W}val") or "") if style is not None else ""
        level_match = re.fullmatch(r"(?i)(heading|标题)\s*(\d)", name.strip())
        if level_match or name.lower() == "title":
            level = int(level_match.group(2)) if level_match else 1
            del headings[level - 1:]
            blocks.append(Block(text, "heading", number, number, tuple(headings)))
            headings.append(text)
        else:
            blocks.append(Block(text, "paragraph", number, number, tuple(headings)))
    if not blocks:
        return _no(path, "empty", "the document holds no text")
    return Extracted(path, "docx", "paragraph", blocks)
