"""Test documents of every supported format besides PDF, written here with known text.

Each ``make_*`` function writes one real file (by hand, as the format's specification lays it
out, or with python-docx for DOCX) into the path it is given and returns that path. The
content is `BOOK`: chapters with known titles and paragraphs. Every chapter's first paragraph
is a marker sentence (`marker`) found nowhere else, the book's very first paragraph is
`FIRST` and its very last `LAST`, and the chapters are long enough that a reflowable format
lays the book out over several pages: `FIRST` is then on page 1 and `LAST` on the last page.
"""

from __future__ import annotations

import random
import struct
import zipfile
from collections.abc import Sequence
from html import escape
from pathlib import Path

import pymupdf

TITLE = "The Lighthouse Keeper's Manual"
AUTHOR = "Ada Marlowe"
FIRST = "Opening words of the manual about lighthouses and their lamps."
LAST = "Closing words of the manual say goodbye to the keeper."

#: Chapter titles, in order.
CHAPTERS = ("Installation", "Daily Care", "Storms and Repairs")


def marker(k: int) -> str:
    """The first sentence of chapter ``k`` (0-based)."""
    return f"Marker sentence number {k + 1} begins the chapter called {CHAPTERS[k]}."


def _filler(k: int, n: int) -> list[str]:
    rnd = random.Random(k)
    words = ("lamp", "lens", "oil", "wick", "tower", "stair", "keeper", "light", "signal",
             "harbour", "ship", "fog", "bell", "glass", "brass", "wind", "tide", "rock")
    return [" ".join(rnd.choice(words) for _ in range(40)).capitalize() + f" (paragraph {k}.{i})."
            for i in range(n)]


def book(paragraphs_per_chapter: int = 8) -> list[tuple[str, list[str]]]:
    """The chapters: (title, paragraphs). About three A5 pages of text in all."""
    chapters = []
    for k, title in enumerate(CHAPTERS):
        paras = [marker(k), *_filler(k, paragraphs_per_chapter)]
        if k == 0:
            paras.insert(0, FIRST)
        if k == len(CHAPTERS) - 1:
            paras.append(LAST)
        chapters.append((title, paras))
    return chapters


BOOK = book()


def _html_body(chapters: Sequence[tuple[str, list[str]]], heading: str = "h1") -> str:
    return "".join(f"<{heading}>{escape(t)}</{heading}>" + "".join(f"<p>{escape(p)}</p>" for p in ps)
                   for t, ps in chapters)


# --------------------------------------------------------------------------------------------
# reflowable formats


def make_epub(path: str | Path, chapters: Sequence[tuple[str, list[str]]] = BOOK, *,
              title: str = TITLE, author: str = AUTHOR, numbered_toc: bool = True) -> Path:
    """An EPUB 3 with an EPUB 2 NCX: one XHTML file per chapter. The table of contents names
    chapter k "Chapter k: <title>" (``numbered_toc``), as many books do."""
    path = Path(path)
    toc_titles = [f"Chapter {k + 1}: {t}" if numbered_toc else t for k, (t, _) in enumerate(chapters)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")  # first, stored
        z.writestr("META-INF/container.xml", (
            '<?xml version="1.0"?><container version="1.0" '
            'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile '
            'full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>"))
        items = "".join(f'<item id="c{k}" href="c{k}.xhtml" media-type="application/xhtml+xml"/>'
                        for k in range(len(chapters)))
        spine = "".join(f'<itemref idref="c{k}"/>' for k in range(len(chapters)))
        z.writestr("OEBPS/content.opf", (
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
            'unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:identifier id="id">urn:test:1</dc:identifier><dc:title>{escape(title)}</dc:title>'
            f"<dc:language>en</dc:language><dc:creator>{escape(author)}</dc:creator></metadata>"
            '<manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" '
            'properties="nav"/><item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>'
            f'{items}</manifest><spine toc="ncx">{spine}</spine></package>'))
        nav = "".join(f'<li><a href="c{k}.xhtml">{escape(t)}</a></li>' for k, t in enumerate(toc_titles))
        z.writestr("OEBPS/nav.xhtml", (
            '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml" '
            'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Contents</title></head><body>'
            f'<nav epub:type="toc"><ol>{nav}</ol></nav></body></html>'))
        points = "".join(
            f'<navPoint id="n{k}" playOrder="{k + 1}"><navLabel><text>{escape(t)}</text></navLabel>'
            f'<content src="c{k}.xhtml"/></navPoint>' for k, t in enumerate(toc_titles))
        z.writestr("OEBPS/toc.ncx", (
            '<?xml version="1.0"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">'
            f"<head/><docTitle><text>{escape(title)}</text></docTitle><navMap>{points}</navMap></ncx>"))
        for k, chapter in enumerate(chapters):
            z.writestr(f"OEBPS/c{k}.xhtml", (
                '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
                f"<title>{escape(chapter[0])}</title></head><body>{_html_body([chapter])}</body></html>"))
    return path


def make_fb2(path: str | Path, chapters: Sequence[tuple[str, list[str]]] = BOOK, *,
             title: str = TITLE, author: str = AUTHOR) -> Path:
    """A FictionBook 2 file: one section per chapter."""
    first, _, last = author.partition(" ")
    sections = "".join(f"<section><title><p>{escape(t)}</p></title>"
                       + "".join(f"<p>{escape(p)}</p>" for p in ps) + "</section>" for t, ps in chapters)
    Path(path).write_text(
        '<?xml version="1.0" encoding="utf-8"?><FictionBook '
        'xmlns="http://www.gribuser.ru/xml/fictionbook/2.0"><description><title-info>'
        f"<author><first-name>{escape(first)}</first-name><last-name>{escape(last)}</last-name>"
        f"</author><book-title>{escape(title)}</book-title><lang>en</lang></title-info>"
        f"</description><body>{sections}</body></FictionBook>", encoding="utf-8")
    return Path(path)


def html_text(chapters: Sequence[tuple[str, list[str]]] = BOOK, *, title: str = TITLE,
              xhtml: bool = False) -> str:
    if xhtml:
        return ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
                f"<head><title>{escape(title)}</title></head><body>{_html_body(chapters)}</body></html>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
            f"<body>{_html_body(chapters)}</body></html>")


def make_html(path: str | Path, chapters: Sequence[tuple[str, list[str]]] = BOOK, *,
              title: str = TITLE, xhtml: bool = False) -> Path:
    """An HTML (or XHTML) page: an ``<h1>`` and paragraphs per chapter."""
    Path(path).write_text(html_text(chapters, title=title, xhtml=xhtml), encoding="utf-8")
    return Path(path)


def make_markdown(path: str | Path, chapters: Sequence[tuple[str, list[str]]] = BOOK, *,
                  title: str = TITLE) -> Path:
    """Markdown: the title as ``#``, each chapter as ``##``, paragraphs wrapped at 72 columns."""
    import textwrap

    parts = [f"# {title}"]
    for t, ps in chapters:
        parts.append(f"## {t}")
        parts += [textwrap.fill(p, 72) for p in ps]
    Path(path).write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return Path(path)


def make_text(path: str | Path, chapters: Sequence[tuple[str, list[str]]] = BOOK) -> Path:
    """Plain text: each chapter title on its own line, paragraphs hard-wrapped, blank lines
    between them."""
    import textwrap

    parts = []
    for t, ps in chapters:
        parts.append(t)
        parts += [textwrap.fill(p, 72) for p in ps]
    Path(path).write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return Path(path)


def make_docx(path: str | Path, chapters: Sequence[tuple[str, list[str]]] = BOOK, *,
              title: str = TITLE, author: str = AUTHOR, table: bool = True) -> Path:
    """A Word document written by python-docx: chapter titles in style Heading 1, paragraphs in
    Normal, and (``table``) a small table at the end of the first chapter."""
    import docx

    doc = docx.Document()
    doc.core_properties.title = title
    doc.core_properties.author = author
    for k, (t, ps) in enumerate(chapters):
        doc.add_heading(t, level=1)
        for p in ps:
            doc.add_paragraph(p)
        if table and k == 0:
            cells = doc.add_table(rows=2, cols=2)
            for (r, c), text in zip([(0, 0), (0, 1), (1, 0), (1, 1)],
                                    ["Lamp type", "Hours", "Argand burner", "Twelve"], strict=True):
                cells.cell(r, c).text = text
    doc.save(str(path))
    return Path(path)


def make_mobi(path: str | Path, chapters: Sequence[tuple[str, list[str]]] = BOOK, *,
              title: str = TITLE) -> Path:
    """A minimal MOBI: a Palm database ("BOOKMOBI") whose record 0 holds a PalmDOC header
    (no compression) and a MOBI header (UTF-8), followed by the book's HTML in 4,096-byte text
    records, as Mobipocket writes it (without the optional EXTH metadata and indexes)."""
    text = html_text(chapters, title=title).encode("utf-8")
    records = [text[i:i + 4096] for i in range(0, len(text), 4096)]
    mobi_header = b"MOBI" + struct.pack(">III", 232, 2, 65001) + b"\0" * (232 - 16)
    record0 = struct.pack(">HHIHHHH", 1, 0, len(text), len(records), 4096, 0, 0) + mobi_header
    records.insert(0, record0)
    n = len(records)
    header = (b"test-book".ljust(32, b"\0") + struct.pack(">HHIIIIII", 0, 0, 0, 0, 0, 0, 0, 0)
              + b"BOOKMOBI" + struct.pack(">IIH", 0, 0, n))
    offset = len(header) + 8 * n + 2
    entries, data = b"", b""
    for i, record in enumerate(records):
        entries += struct.pack(">II", offset + len(data), 2 * i)
        data += record
    Path(path).write_bytes(header + entries + b"\0\0" + data)
    return Path(path)


# --------------------------------------------------------------------------------------------
# XPS: fixed pages

XPS_PAGES = (
    ("The first XPS page tells of the lamp room.", "Its second line is about the brass."),
    ("The second XPS page describes the foghorn.", "Sound it every two minutes in fog."),
)


def make_xps(path: str | Path, pages: Sequence[Sequence[str]] = XPS_PAGES) -> Path:
    """An XPS document (Open XML Paper Specification package): one FixedPage per page, each
    line a Glyphs element in a font embedded in the package (MuPDF's Helvetica clone)."""
    font = pymupdf.Font("helv").buffer
    ns = "http://schemas.microsoft.com/xps/2005/06"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="fdseq" '
            'ContentType="application/vnd.ms-package.xps-fixeddocumentsequence+xml"/><Default '
            'Extension="fdoc" ContentType="application/vnd.ms-package.xps-fixeddocument+xml"/>'
            '<Default Extension="fpage" ContentType="application/vnd.ms-package.xps-fixedpage+xml"/>'
            '<Default Extension="otf" ContentType="application/vnd.ms-opentype"/></Types>'))
        z.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Type="http://schemas.'
            'microsoft.com/xps/2005/06/fixedrepresentation" Target="/FixedDocumentSequence.fdseq" '
            'Id="R0"/></Relationships>'))
        z.writestr("FixedDocumentSequence.fdseq", f'<FixedDocumentSequence xmlns="{ns}"><DocumentReference '
                   'Source="/Documents/1/FixedDocument.fdoc"/></FixedDocumentSequence>')
        contents = "".join(f'<PageContent Source="/Documents/1/Pages/{i + 1}.fpage"/>'
                           for i in range(len(pages)))
        z.writestr("Documents/1/FixedDocument.fdoc",
                   f'<FixedDocument xmlns="{ns}">{contents}</FixedDocument>')
        z.writestr("Documents/1/Resources/helv.otf", font)
        for i, lines in enumerate(pages):
            glyphs = "".join(
                '<Glyphs Fill="#FF000000" FontUri="/Documents/1/Resources/helv.otf" '
                f'FontRenderingEmSize="12" OriginX="72" OriginY="{100 + 20 * k}" '
                f'UnicodeString="{escape(line)}"/>' for k, line in enumerate(lines))
            z.writestr(f"Documents/1/Pages/{i + 1}.fpage",
                       f'<FixedPage xmlns="{ns}" Width="816" Height="1056" xml:lang="en-US">'
                       f"{glyphs}</FixedPage>")
    return Path(path)


# --------------------------------------------------------------------------------------------
# every format, and broken files

#: Extension -> writer of `BOOK` in that format (XPS writes `XPS_PAGES`).
WRITERS = {
    ".epub": make_epub,
    ".mobi": make_mobi,
    ".fb2": make_fb2,
    ".html": make_html,
    ".xhtml": lambda p: make_html(p, xhtml=True),
    ".txt": make_text,
    ".md": make_markdown,
    ".docx": make_docx,
    ".xps": make_xps,
}


def make(path: str | Path) -> Path:
    """The test document for ``path``'s extension."""
    return WRITERS[Path(path).suffix](Path(path))  # type: ignore[operator, no-any-return]


def make_broken(path: str | Path, mode: str = "truncated") -> Path:
    """A damaged file of ``path``'s format: the good file cut in half (``truncated``), or random
    bytes (``garbage``)."""
    path = Path(path)
    good = make(path)
    data = good.read_bytes()
    if mode == "truncated":
        data = data[: len(data) // 2]
    elif mode == "garbage":
        data = random.Random(7).randbytes(4096)
    else:
        raise ValueError(mode)
    path.write_bytes(data)
    return path
