"""Knowledge without the embedding model: extraction of every format and hostile file, chunking,
Chinese keyword segmentation in FTS5, prompt building and citations."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pypdf
import pytest

from studio.core.knowledge.chunking import Chunk, chunk_blocks, sentences
from studio.core.knowledge.extract import Extracted, Unusable, extract
from studio.core.knowledge.prompt import approx_count, build_prompt, build_prompt_async, parse_citations
from studio.core.knowledge.retrieval import Candidate, Settings, retrieve
from studio.core.knowledge.segment import fts_query, query_terms
from studio.core.knowledge.store import KnowledgeError, KnowledgeStore


def text_pdf(pages: list[str]) -> bytes:
    """A small PDF with a real text layer (Helvetica), offsets computed so no repair is needed."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        content_id = len(objects) + 1
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        page_id = len(objects) + 1
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
                       f"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>")
        kids.append(f"{page_id} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def docx(paragraphs: list[tuple[str, str]]) -> bytes:
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    def props(style: str) -> str:
        return f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    body = "".join(f"<w:p>{props(style)}<w:r><w:t>{text}</w:t></w:r></w:p>" for style, text in paragraphs)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", f'<w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>')
    return out.getvalue()


def test_pdf_pages_encrypted_and_scanned(tmp_path: Path) -> None:
    good = tmp_path / "good.pdf"
    good.write_bytes(text_pdf(["The first page talks about granite.", "Page two mentions the lantern."]))
    result = extract(good)
    assert isinstance(result, Extracted) and result.unit == "page"
    assert [(b.start, "granite" in b.text) for b in result.blocks] == [(1, True), (2, False)]

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(good))
    writer.encrypt("secret", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as fh:
        writer.write(fh)
    result = extract(locked)
    assert isinstance(result, Unusable) and result.kind == "encrypted"
    assert "locked.pdf" in result.message and "encrypted PDF" in result.message

    blank = pypdf.PdfWriter()
    blank.add_blank_page(612, 792)
    scanned = tmp_path / "scan.pdf"
    with open(scanned, "wb") as fh:
        blank.write(fh)
    result = extract(scanned)
    assert isinstance(result, Unusable) and result.kind == "scanned"
    assert "scan.pdf: scanned PDF with no text layer" in result.message


def test_hostile_text_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_bytes(bytes(range(256)) * 5)
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\n \t\n", encoding="utf-8")
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000, encoding="utf-8")
    image = tmp_path / "photo.txt"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    outcomes = {p.name: extract(p, max_bytes=2000) for p in (junk, empty, blank, big, image)}
    kinds = {name: r.kind for name, r in outcomes.items() if isinstance(r, Unusable)}
    assert kinds == {"junk.txt": "binary", "empty.md": "empty", "blank.txt": "empty", "big.txt": "too_large",
                     "photo.txt": "binary"}
    for name, result in outcomes.items():
        assert isinstance(result, Unusable) and result.message.startswith(f"{name}: ")
    assert "PNG image" in outcomes["photo.txt"].message  # type: ignore[union-attr]


def test_encodings(tmp_path: Path) -> None:
    text = "长城是中国古代的军事防御工程。\n\n它的总长度超过两万千米。\n"
    for name, data, encoding in [
        ("gbk.txt", text.encode("gbk"), "gb18030"),
        ("gb18030.txt", (text + "𠀀").encode("gb18030"), "gb18030"),
        ("utf16bom.txt", text.encode("utf-16"), "utf-16"),
        ("utf16le.txt", ("Plain ASCII words in UTF-16 without a BOM.\n" * 3).encode("utf-16-le"), "utf-16-le"),
        ("utf8bom.md", b"\xef\xbb\xbf# \xe6\xa0\x87\xe9\xa2\x98\n\nbody\n", "utf-8-sig"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        result = extract(path)
        assert isinstance(result, Extracted), (name, result)
        assert result.encoding == encoding, name
        if name in ("gbk.txt", "utf16bom.txt"):
            assert result.blocks[0].text == "长城是中国古代的军事防御工程。"
            assert (result.blocks[1].start, result.blocks[1].end) == (3, 3)


def test_markdown_html_docx_code_structure(tmp_path: Path) -> None:
    md = tmp_path / "doc.md"
    md.write_text("# Title\n\nIntro line.\n\n## Part A\n\nAlpha one.\nAlpha two.\n\n```\ncode here\n```\n",
                  encoding="utf-8")
    blocks = extract(md).blocks  # type: ignore[union-attr]
    assert [(b.kind, b.text, b.start, b.end, b.headings) for b in blocks] == [
        ("heading", "Title", 1, 1, ()), ("paragraph", "Intro line.", 3, 3, ("Title",)),
        ("heading", "Part A", 5, 5, ("Title",)), ("paragraph", "Alpha one.\nAlpha two.", 7, 8, ("Title", "Part A")),
        ("code", "```\ncode here\n```", 10, 12, ("Title", "Part A"))]

    html = tmp_path / "page.html"
    html.write_text("<html><head><script>var x=1;</script></head><body>\n<h1>Top</h1>\n<p>First &amp; best\n"
                    "paragraph.</p>\n<h2>Sub</h2><ul><li>Item</li></ul></body></html>", encoding="utf-8")
    blocks = extract(html).blocks  # type: ignore[union-attr]
    assert [(b.kind, b.text, b.headings) for b in blocks] == [
        ("heading", "Top", ()), ("paragraph", "First & best paragraph.", ("Top",)),
        ("heading", "Sub", ("Top",)), ("paragraph", "Item", ("Top", "Sub"))]
    assert blocks[1].start == 3

    word = tmp_path / "report.docx"
    word.write_bytes(docx([("Heading1", "Budget"), ("", "We spent 5 euros."), ("", ""), ("Heading2", "Details"),
                           ("", "More text.")]))
    result = extract(word)
    assert isinstance(result, Extracted) and result.unit == "paragraph"
    assert [(b.kind, b.text, b.start, b.headings) for b in result.blocks] == [
        ("heading", "Budget", 1, ()), ("paragraph", "We spent 5 euros.", 2, ("Budget",)),
        ("heading", "Details", 4, ("Budget",)), ("paragraph", "More text.", 5, ("Budget", "Details"))]
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"not a zip at all")
    assert extract(broken).kind == "damaged"  # type: ignore[union-attr]

    code = tmp_path / "tool.py"
    code.write_text("import os\n\n\ndef main():\n    return os.getcwd()\n", encoding="utf-8")
    blocks = extract(code).blocks  # type: ignore[union-attr]
    assert [(b.kind, b.start, b.end) for b in blocks] == [("code", 1, 1), ("code", 4, 5)]


def test_chunking_by_sentences_with_overlap() -> None:
    assert sentences("第一句。第二句！第三句？第四；Fifth one. Sixth") == ["第一句。", "第二句！", "第三句？", "第四；",
                                                                           "Fifth one.", "Sixth"]
    from studio.core.knowledge.extract import Block

    count = len  # one token per character keeps the arithmetic visible
    para = "".join(f"句子{i:02d}说了一些话。" for i in range(20))  # 20 sentences of 10 characters
    chunks = chunk_blocks([Block("标题", "heading", 1, 1), Block(para, "paragraph", 2, 4, ("标题",))],
                          count=count, size=40, overlap=10)
    assert all(c.n_tokens <= 40 for c in chunks) and len(chunks) > 4
    assert all(c.heading == "标题" and (c.start, c.end) == (2, 4) for c in chunks)
    assert chunks[1].text.startswith(chunks[0].text[-10:])  # one whole sentence carried over
    joined = "".join(c.text for c in chunks)
    assert all(f"句子{i:02d}" in joined for i in range(20))


def test_chinese_keyword_segmentation_in_fts(tmp_path: Path) -> None:
    assert "长城" in query_terms("长城有多长") and "有" not in query_terms("长城有多长")
    assert fts_query('say "hi" OR x') == '"say" OR "hi" OR "x"'  # operators and quotes stay literal
    store = KnowledgeStore(tmp_path / "k.sqlite3")
    coll = store.collection("c", create=True)
    chunks = [Chunk("万里长城永不倒，千里黄河水滔滔。", "", 1, 1, 10), Chunk("The Great Wall is long.", "", 3, 3, 6)]
    store.put_document(coll, path="/x/a.txt", content_hash="h", mtime=0, size=1, status="indexed",
                       chunks=chunks, vectors=np.eye(2, 4, dtype=np.float32), model="m")
    found = store.keyword_search([coll], fts_query("长城"), 10)
    assert [store.chunks([cid])[cid].start for cid, _ in found] == [1]
    assert [store.chunks([c])[c].start for c, _ in store.keyword_search([coll], fts_query("walls"), 10)] == [3]
    # vector + keyword, both scores on every candidate
    result = retrieve(store, [coll], "长城", np.array([0, 1, 0, 0], dtype=np.float32), "m", Settings(top_k=1))
    assert {c.start: (c.keyword_rank, c.vector_rank) for c in result.candidates} == {1: (1, 2), 3: (None, 1)}
    assert [c.selected for c in result.candidates] == [True, False]
    store.close()


def _candidate(n: int, text: str) -> Candidate:
    return Candidate(chunk_id=n, collection="c", path=f"/docs/f{n}.md", location=f"lines {n}–{n + 2}", unit="line",
                     start=n, end=n + 2, heading="", text=text, n_tokens=0, keyword_score=None, keyword_rank=None,
                     vector_similarity=0.5, vector_rank=n, fused_score=1 / (60 + n), fused_rank=n, selected=True)


def test_prompt_budget_left_out_and_citations() -> None:
    cands = [_candidate(1, "short fact"), _candidate(2, "long " * 400), _candidate(3, "another fact")]
    built = build_prompt("What is it?", cands, context_tokens=700, reply_tokens=512)
    assert [s.candidate.chunk_id for s in built.sources] == [1, 3]
    assert [c.chunk_id for c in built.left_out] == [2] and [c.in_prompt for c in cands] == [True, False, True]
    assert built.tokens == approx_count(built.messages) <= built.budget == 188
    user = built.messages[-1]["content"]
    assert "[1] f1.md, lines 1–3\nshort fact" in user and "[2] f3.md, lines 3–5\nanother fact" in user
    assert "f2.md (lines 2–4)" in built.note()
    cited = parse_citations("Granite [1]. Also [2, 7] and 【1】.", built.sources)
    assert [(c.number, c.source.candidate.path) for c in cited.found] == [
        (1, "/docs/f1.md"), (2, "/docs/f3.md"), (1, "/docs/f1.md")]
    assert cited.unknown == [7] and [s.number for s in cited.sources] == [1, 2]


def test_prompt_with_an_async_counter_fits_the_same_way() -> None:
    import asyncio

    async def count(messages: list[dict[str, str]]) -> int:
        await asyncio.sleep(0)
        return approx_count(messages)

    cands = [_candidate(1, "short fact"), _candidate(2, "long " * 400), _candidate(3, "another fact")]
    built = asyncio.run(build_prompt_async("What is it?", cands, context_tokens=700, reply_tokens=512, count=count))
    plain = build_prompt("What is it?", cands, context_tokens=700, reply_tokens=512)
    assert built.messages == plain.messages and built.tokens == plain.tokens
    assert [c.chunk_id for c in built.left_out] == [2]
    with pytest.raises(KnowledgeError, match="larger context") as refused:
        build_prompt("x " * 400, cands, context_tokens=600, reply_tokens=512)
    assert refused.value.kind == "context_overflow"
