"""A factory of test PDFs whose text is known, written with PyMuPDF (or by hand where faster).

Every ``make_*`` function writes one file into the path it is given and returns that path. The
text a reader should get back is known: for `make_pdf` it is the page strings themselves
(paragraphs separated by a blank line, no line breaks inside a paragraph); for the generated
families there is a function that returns it (`big_page_text`, `prose_page_texts`,
`huge_page_text`, `UNICODE_PAGES`).
"""

from __future__ import annotations

import random
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pymupdf

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LETTER = (612.0, 792.0)
MARGIN = 72.0

# --------------------------------------------------------------------------------------------
# PDFs laid out by PyMuPDF


def make_pdf(
    path: str | Path,
    pages: Sequence[str],
    *,
    title: str | None = None,
    author: str | None = None,
    page_size: tuple[float, float] | None = None,
    fontfile: str | Path | None = None,
    fontname: str = "helv",
    fontsize: float = 11,
    labels: list[dict[str, object]] | None = None,
) -> Path:
    """One page per string, wrapped into the page's margins (``ValueError`` if it does not fit).

    ``fontfile`` embeds a TrueType font (e.g. `DEJAVU` for Cyrillic, Greek); ``fontname`` may
    name a built-in font instead ("china-s", "japan" for CJK). ``labels`` are page-label rules as
    `pymupdf.Document.set_page_labels` takes them.
    """
    width, height = page_size or LETTER
    doc = pymupdf.open()
    for i, text in enumerate(pages):
        page = doc.new_page(width=width, height=height)
        if text:
            _textbox(page, pymupdf.Rect(MARGIN, MARGIN, width - MARGIN, height - MARGIN), text,
                     fontfile=fontfile, fontname=fontname, fontsize=fontsize, where=f"page {i + 1}")
    meta = {k: v for k, v in (("title", title), ("author", author)) if v is not None}
    if meta:
        doc.set_metadata(meta)
    if labels:
        doc.set_page_labels(labels)
    return _save(doc, path)


def _textbox(page: pymupdf.Page, rect: pymupdf.Rect, text: str, *, fontfile: str | Path | None,
             fontname: str, fontsize: float, where: str) -> None:
    if fontfile is not None:
        fontname = "F0"
    rc = page.insert_textbox(rect, text, fontsize=fontsize, fontname=fontname,
                             fontfile=str(fontfile) if fontfile is not None else None)
    if rc < 0:
        raise ValueError(f"{where}: the text does not fit ({-rc:.0f} points too high)")


def _inner(page: pymupdf.Page) -> pymupdf.Rect:
    return pymupdf.Rect(MARGIN, MARGIN, page.rect.width - MARGIN, page.rect.height - MARGIN)


def _save(doc: pymupdf.Document, path: str | Path, **kwargs: object) -> Path:
    path = Path(path)
    doc.save(path, garbage=1, deflate=True, **kwargs)
    doc.close()
    return path


def make_two_column_pdf(
    path: str | Path,
    left: Sequence[str],
    right: Sequence[str],
    *,
    header: str | None = None,
    footer: str | None = None,
    gutter: float = 24.0,
) -> Path:
    """One page: ``header`` across the top, then paragraphs ``left`` and ``right`` in two columns
    (paragraphs separated by a blank line), then ``footer`` across the bottom."""
    width, height = LETTER
    doc = pymupdf.open()
    page = doc.new_page(width=width, height=height)
    top, bottom = MARGIN, height - MARGIN
    if header:
        _textbox(page, pymupdf.Rect(MARGIN, top, width - MARGIN, top + 40), header,
                 fontfile=None, fontname="hebo", fontsize=16, where="header")
        top += 50
    if footer:
        _textbox(page, pymupdf.Rect(MARGIN, bottom - 20, width - MARGIN, bottom), footer,
                 fontfile=None, fontname="helv", fontsize=9, where="footer")
        bottom -= 30
    mid = width / 2
    for paras, x0, x1 in ((left, MARGIN, mid - gutter / 2), (right, mid + gutter / 2, width - MARGIN)):
        _textbox(page, pymupdf.Rect(x0, top, x1, bottom), "\n\n".join(paras),
                 fontfile=None, fontname="helv", fontsize=10, where="column")
    return _save(doc, path)


def make_layout_pdf(
    path: str | Path,
    boxes: Sequence[tuple[tuple[float, float, float, float], str]],
    *,
    fontsize: float = 10,
    page_size: tuple[float, float] = LETTER,
) -> Path:
    """One page with each text in its own box ``(x0, y0, x1, y1)`` (points, y downwards)."""
    doc = pymupdf.open()
    page = doc.new_page(width=page_size[0], height=page_size[1])
    for rect, text in boxes:
        _textbox(page, pymupdf.Rect(rect), text, fontfile=None, fontname="helv", fontsize=fontsize,
                 where=f"box {rect}")
    return _save(doc, path)


def make_blank_pdf(path: str | Path, n_pages: int = 2) -> Path:
    """Pages with nothing on them."""
    doc = pymupdf.open()
    for _ in range(n_pages):
        doc.new_page()
    return _save(doc, path)


def make_encrypted_pdf(path: str | Path, pages: Sequence[str] = ("Secret text.",), *,
                       user_pw: str = "user", owner_pw: str = "owner") -> Path:
    """A PDF that needs ``user_pw`` to be opened (AES-256)."""
    doc = _plain_doc(pages)
    return _save(doc, path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=user_pw, owner_pw=owner_pw)


def make_owner_only_encrypted_pdf(path: str | Path, pages: Sequence[str] = ("Open text.",), *,
                                  owner_pw: str = "owner") -> Path:
    """An encrypted PDF with permissions (no printing, no copying) but no user password: any
    reader opens it."""
    doc = _plain_doc(pages)
    return _save(doc, path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw=owner_pw, user_pw="",
                 permissions=int(pymupdf.PDF_PERM_ACCESSIBILITY))


def _plain_doc(pages: Sequence[str]) -> pymupdf.Document:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        _textbox(page, _inner(page), text, fontfile=None,
                 fontname="helv", fontsize=11, where="page")
    return doc


def make_image_only_pdf(path: str | Path, n_pages: int = 1,
                        text: str = "This page was scanned. Nobody typed it.") -> Path:
    """Pages that show a picture of text (like a scan) and hold no text at all."""
    src = pymupdf.open()
    page = src.new_page()
    page.insert_textbox(_inner(page), text, fontsize=14)
    pix = page.get_pixmap(dpi=72)
    doc = pymupdf.open()
    for _ in range(n_pages):
        doc.new_page().insert_image(doc[-1].rect, pixmap=pix)
    return _save(doc, path)


def make_scanned_pdf(path: str | Path, texts: list[str], dpi: int = 150) -> Path:
    """A scan of a typed document: each page of ``make_pdf(texts)`` rendered to a grey image at
    ``dpi`` and placed alone on a page of the same size (no text layer)."""
    src = _plain_doc(texts)
    doc = pymupdf.open()
    for page in src:
        pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
        doc.new_page(width=page.rect.width, height=page.rect.height).insert_image(page.rect, pixmap=pix)
    return _save(doc, path)


def make_image_and_text_pdf(path: str | Path, text: str) -> Path:
    """Page 1 has ``text``; page 2 is a scan (an image, no text)."""
    doc = _plain_doc([text])
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 200, 260), False)
    pix.clear_with(200)
    doc.new_page().insert_image(doc[-1].rect, pixmap=pix)
    return _save(doc, path)


UNICODE_PAGES: dict[str, str] = {
    "cyrillic": "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "greek": "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Η γλώσσα μου έδωσαν ελληνική.",
    "chinese": "我能吞下玻璃而不伤身体。这是一个中文句子。",
    "japanese": "私はガラスを食べられます。それは私を傷つけません。",
    "arabic": "أنا قادر على أكل الزجاج و هذا لا يؤلمني",
}


def make_unicode_pdf(path: str | Path) -> Path:
    """One page per entry of `UNICODE_PAGES`, in that order, each in a font that covers it:
    DejaVu Sans for Cyrillic and Greek, the built-in CJK font for Chinese and Japanese, and
    Arabic shaped right to left by PyMuPDF's HTML layout (as a word processor would)."""
    doc = pymupdf.open()
    for script, text in UNICODE_PAGES.items():
        page = doc.new_page()
        rect = _inner(page)
        if script == "arabic":
            css = f"@font-face {{font-family: dv; src: url({DEJAVU.name});}} * {{font-family: dv;}}"
            page.insert_htmlbox(rect, f"<p dir='rtl'>{text}</p>", css=css,
                                archive=pymupdf.Archive(str(DEJAVU.parent)))
        elif script in ("chinese", "japanese"):
            _textbox(page, rect, text, fontfile=None, fontname="china-s", fontsize=12, where=script)
        else:
            _textbox(page, rect, text, fontfile=DEJAVU, fontname="", fontsize=12, where=script)
    return _save(doc, path)


# --------------------------------------------------------------------------------------------
# broken and odd files


def make_corrupt_pdf(path: str | Path, mode: str = "garbled") -> Path:
    """A file that starts like a PDF but that MuPDF cannot read: ``garbled`` (the header, then
    noise) or ``truncated`` (the first 200 bytes of a real PDF), which do not open, or
    ``no-page-tree`` (a catalog without its pages and no cross-reference table), which MuPDF
    repairs into a document of no pages."""
    if mode == "garbled":
        data = b"%PDF-1.7\n" + random.Random(0).randbytes(4000)
    elif mode == "truncated":
        data = _plain_doc(["Some text."]).tobytes()[:200]
    elif mode == "no-page-tree":
        data = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n%%EOF\n"
    else:
        raise ValueError(f"unknown mode {mode!r}")
    path = Path(path)
    path.write_bytes(data)
    return path


def make_damaged_pdf(path: str | Path, pages: Sequence[str]) -> Path:
    """A PDF whose cross-reference table is gone (with ``pages``): MuPDF repairs it on reading."""
    doc = _plain_doc(pages)
    data = doc.tobytes(garbage=1, deflate=False)
    at = data.rindex(b"xref")
    path = Path(path)
    path.write_bytes(data[:at] + b"%%EOF\n")
    return path


def make_truncated_pdf(path: str | Path, n_pages: int, fraction: float, seed: int = 0) -> Path:
    """The first ``fraction`` of the bytes of a real ``n_pages``-page prose PDF, as a download
    cut short leaves it. At 10-30% MuPDF prints "MuPDF error: ..." and cannot count the pages;
    at 40% it cannot open the file; from about 50% it repairs it and reads every page."""
    whole = make_prose_pdf(Path(path), n_pages, seed=seed).read_bytes()
    Path(path).write_bytes(whole[: int(len(whole) * fraction)])
    return Path(path)


def make_zero_page_pdf(path: str | Path) -> Path:
    """A well-formed PDF with an empty page tree (PyMuPDF refuses to save one, so by hand)."""
    return _write_objects(path, [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
    ])


def make_not_a_pdf(path: str | Path, kind: str = "png") -> Path:
    """A file named like a PDF that is something else: ``png``, ``text`` or ``epub``-like zip."""
    path = Path(path)
    if kind == "png":
        pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 8, 8), False)
        path.write_bytes(pix.tobytes("png"))
    elif kind == "text":
        path.write_text("This is plain text, not a PDF.\n" * 20, encoding="utf-8")
    elif kind == "zip":
        path.write_bytes(b"PK\x03\x04" + bytes(200))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return path


def make_pdf_with_late_header(path: str | Path, junk: int = 500) -> Path:
    """A valid PDF preceded by ``junk`` bytes of garbage (readers accept up to 1 KB)."""
    data = _plain_doc(["Text after junk."]).tobytes()
    path = Path(path)
    path.write_bytes(b"\x00" * junk + data)
    return path


# --------------------------------------------------------------------------------------------
# large files, written by hand: a content stream of Courier lines is quick to make and to lay out

COURIER_ADVANCE = 0.6  # of the font size, for every glyph


def make_big_pdf(path: str | Path, n_pages: int) -> Path:
    """``n_pages`` letter pages, page N holding `big_page_text` (N): a unique marker ``wN``."""
    return write_text_pdf(path, [big_page_text(n) for n in range(1, n_pages + 1)])


_FILLER = ("The quick brown fox jumps over the lazy dog while the committee reviews the minutes "
           "of the previous meeting. Nothing on this page is secret, and nothing is repeated "
           "elsewhere except this sentence.")


def big_page_text(n: int) -> str:
    """What page ``n`` of `make_big_pdf` reads as."""
    return f"Page {n}: the marker of this page is w{n}x.\n\n{_FILLER}"


def make_huge_page_pdf(path: str | Path, side: float = 5000.0) -> Path:
    """One ``side`` x ``side`` point page filled with paragraphs of text (`huge_page_text`)."""
    return write_text_pdf(path, [huge_page_text(side)], page_size=(side, side))


def huge_page_text(side: float = 5000.0, fontsize: float = 10.0) -> str:
    """What the page of `make_huge_page_pdf` reads as (numbered paragraphs that fill it)."""
    chars = int((side - 2 * MARGIN) / (fontsize * COURIER_ADVANCE))
    lines_available = int((side - 2 * MARGIN) / (fontsize * 1.2)) - 1
    paras: list[str] = []
    used = 0
    i = 0
    while True:
        para = " ".join(f"huge{i}-{k} words fill the page." for k in range(60))
        need = len(_wrap(para, chars)) + 1
        if used + need > lines_available:
            return "\n\n".join(paras)
        paras.append(para)
        used += need
        i += 1


def prose_page_texts(n_pages: int, chars_per_page: int = 2500, seed: int = 0) -> list[str]:
    """``n_pages`` pages of English prose (from Python's own documentation), paragraphs of 2 to 6
    sentences separated by a blank line, about ``chars_per_page`` characters each."""
    rng = random.Random(seed)
    sentences = _prose_sentences()
    pages = []
    for _ in range(n_pages):
        paras: list[str] = []
        total = 0
        while total < chars_per_page:
            para = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 6)))
            paras.append(para)
            total += len(para) + 2
        pages.append("\n\n".join(paras))
    return pages


def make_prose_pdf(path: str | Path, n_pages: int, chars_per_page: int = 2500, seed: int = 0) -> Path:
    """`prose_page_texts` as a PDF, 8-point Courier on letter pages."""
    texts = prose_page_texts(n_pages, chars_per_page, seed)
    return write_text_pdf(path, texts, fontsize=8.0)


def _prose_sentences() -> list[str]:
    """Plain English sentences of Python's help topics (made up from a word list if absent)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions leave pydoc_data out
        rng = random.Random(0)
        return [" ".join(rng.choice(_FILLER.split()) for _ in range(rng.randint(8, 40))).capitalize()
                + "." for _ in range(800)]
    out: list[str] = []
    for topic in sorted(topics):
        for para in re.split(r"\n\s*\n", topics[topic]):
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(para.split())):
                if 40 <= len(sentence) <= 300 and re.fullmatch(r"[A-Z][A-Za-z ,;:'()]+\.", sentence):
                    out.append(sentence)
    return out


def write_text_pdf(
    path: str | Path,
    pages: Sequence[str],
    *,
    page_size: tuple[float, float] = LETTER,
    fontsize: float = 10.0,
) -> Path:
    """Each string on its own page in Courier (ASCII only): paragraphs (split at blank lines)
    wrapped at spaces to the margins, a blank line between paragraphs. ``ValueError`` when a
    page's text does not fit."""
    width, height = page_size
    chars = int((width - 2 * MARGIN) / (fontsize * COURIER_ADVANCE))
    rows = int((height - 2 * MARGIN) / (fontsize * 1.2))
    streams = []
    for n, text in enumerate(pages, 1):
        lines: list[str] = []
        for para in text.split("\n\n"):
            lines.extend([*_wrap(para, chars), ""])
        if len(lines) - 1 > rows:
            raise ValueError(f"page {n}: {len(lines) - 1} lines do not fit in {rows}")
        streams.append(_courier_stream(lines[:-1], fontsize, height))
    return _write_pages(path, streams, page_size)


def _wrap(para: str, chars: int) -> list[str]:
    return textwrap.wrap(para, chars, break_long_words=False, break_on_hyphens=False) or [""]


def _courier_stream(lines: list[str], fontsize: float, height: float) -> bytes:
    leading = fontsize * 1.2
    body = " T*\n".join(f"({_escape(line)}) Tj" for line in lines)
    return (f"BT /F1 {fontsize:g} Tf {leading:g} TL {MARGIN:g} {height - MARGIN - fontsize:g} Td\n"
            f"{body}\nET").encode("latin-1")


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _write_pages(path: str | Path, streams: list[bytes], page_size: tuple[float, float]) -> Path:
    n = len(streams)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>",
    ]
    box = f"[0 0 {page_size[0]:g} {page_size[1]:g}]"
    for i, stream in enumerate(streams):
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox {box} /Resources "
                       f"<< /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    return _write_objects(path, objects)


def _write_objects(path: str | Path, objects: list[bytes]) -> Path:
    """A PDF file of ``objects`` (numbered from 1, the first is the catalog) with its xref."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path = Path(path)
    path.write_bytes(bytes(out))
    return path
