"""Reading documents with PyMuPDF: the text of every page in reading order, with checks that name
why a file cannot be indexed.

`read_document` (also named `read_pdf`) returns a `ParsedPdf` (metadata, one `PageText` per page
and the document's headings) or raises a `PdfError` whose message is one line for the user and
whose ``kind`` says which case it is. The file is opened read-only and never written.

Formats (`formats.FORMATS`, by extension): PDF and XPS keep their own pages; EPUB, MOBI, FB2,
HTML, XHTML, plain text, Markdown and DOCX are laid out by MuPDF into pages of `formats.LAYOUT`
first, the same layout the viewer's copy is converted with (`viewable`), so page numbers are
stable and match what the viewer shows. Every format is read by MuPDF itself.

Headings: the document's table of contents (PDF bookmarks, EPUB/MOBI/FB2 chapters, the
headings MuPDF finds in HTML, Markdown and DOCX) gives each heading's page; its place on the
page is where the page's text has a paragraph reading as that title (the top of the page when
none does). `heading_at` is the nearest heading at or before a place in the document.

Reading order: MuPDF gives text blocks (about one paragraph each) with their boxes; `order_blocks`
cuts the page into columns and horizontal bands (a recursive XY cut), so two-column pages read
column by column and simple pages top to bottom. Each block becomes one paragraph: its lines are
joined with a space (a word hyphenated at a line end is joined again here: MuPDF's
TEXT_DEHYPHENATE does not apply to block output), whitespace is collapsed, and paragraphs are
separated by a blank line.

Threading: PyMuPDF is not thread-safe. Every function here must be called from one and the same
thread for the life of the process (the app reads PDFs in a child process for that reason and
because MuPDF is C code reading untrusted files).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import logging
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

# PyMuPDF imports its optional layout analyser (ONNX models, onnxruntime) and pymupdf4llm when
# they are installed, as they are with PyMuPDF 2. Neither is used here, and they take most of its
# import time (about 0.75 s of 0.85 s on a 2-core machine, in the app and in every reader process)
# and memory. A None in sys.modules makes their import fail as "not installed", which PyMuPDF
# expects and handles.
if "pymupdf" not in sys.modules:
    for _addon in ("pymupdf.layout", "pymupdf4llm"):
        sys.modules.setdefault(_addon, None)  # type: ignore[arg-type]
import pymupdf

from grit_desktop.engine.documents.formats import (
    LAYOUT,
    PDF,
    Format,
    format_of,
    supported_extensions,
)
from grit_desktop.errors import GritError

log = logging.getLogger(__name__)

# PyMuPDF prints MuPDF's errors on damaged files ("MuPDF error: ...") to sys.stdout, where they
# would mix with the CLI's output (and, in the reader process, with its results). They are log
# records here, at INFO: the reason a file cannot be read is reported as a `PdfError`.
pymupdf.set_messages(pylogging=True, pylogging_name=f"{__name__}.mupdf", pylogging_level=logging.INFO)

#: The reasons a file cannot be indexed (`PdfError.kind`). "not-pdf": a ``.pdf`` without a PDF
#: header; "not-text": a text format (``.txt``, ``.md``, ``.html``, ...) holding binary data;
#: "unsupported": a file named explicitly whose extension is no supported format.
PDF_ERROR_KINDS = frozenset({
    "missing", "unreadable", "empty-file", "not-pdf", "corrupt", "encrypted", "no-pages",
    "no-text", "too-large", "unsupported", "not-text",
})

#: MuPDF text flags: clip to the page, report images (as blocks, not decoded), expand ligatures
#: (no TEXT_PRESERVE_LIGATURES) and normalise whitespace (no TEXT_PRESERVE_WHITESPACE).
TEXT_FLAGS = pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_PRESERVE_IMAGES

#: An image counts as shown when it covers at least this share of the page (logos and rules
#: drawn as tiny images do not make a text-less page a scan).
MIN_IMAGE_SHARE = 0.05

#: OCR resolution (300 dpi is what Tesseract is trained for) and language.
OCR_DPI = 300
OCR_LANGUAGE = "eng"

_HEADER = b"%PDF-"
_HEADER_WINDOW = 1024


class PdfError(GritError):
    """One-line, user-facing reason why a file cannot be indexed.

    ``kind`` is one of `PDF_ERROR_KINDS`; the message names the file.
    """

    def __init__(self, kind: str, message: str) -> None:
        if kind not in PDF_ERROR_KINDS:
            raise ValueError(f"unknown PdfError kind {kind!r}")
        super().__init__(message)
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across the reader process
        return (type(self), (self.kind, str(self)))


@dataclass(frozen=True)
class PageText:
    """One page. ``text`` is in reading order, paragraphs separated by a blank line, no trailing
    whitespace; empty text with ``has_images`` means a scanned page."""

    number: int        # 1-based page index in the file
    label: str         # the printed page label if the PDF defines one, else str(number)
    text: str
    has_images: bool   # the page shows images (at least MIN_IMAGE_SHARE of its area)
    ocr: bool = False  # text came from OCR


@dataclass(frozen=True)
class Heading:
    """A heading of the document (a chapter, a section) and where it is: 1-based ``page`` and
    the offset of its title in that page's text (0 when the title is not found in it)."""

    level: int   # 1 for a chapter, 2 for its sections, ...
    title: str
    page: int
    char: int


@dataclass(frozen=True)
class ParsedPdf:
    """What `read_document` found in one file (of any format: the name is from when only PDFs
    were read)."""

    path: Path
    sha256: str        # of the file's bytes (hex)
    size: int          # bytes
    mtime: float
    title: str         # metadata title if meaningful, else a heading of page 1, else the stem
    author: str        # "" when unknown
    page_count: int
    pages: list[PageText] = field(repr=False)
    format: str = PDF.name  # `formats.Format.name`: "PDF", "EPUB", ...
    headings: list[Heading] = field(default_factory=list, repr=False)  # in document order

    @property
    def scanned_pages(self) -> list[int]:
        """Numbers of the pages that show images but have no text (and were not OCRed)."""
        return [p.number for p in self.pages if p.has_images and not p.text and not p.ocr]

    @property
    def text_chars(self) -> int:
        return sum(len(p.text) for p in self.pages)


# --------------------------------------------------------------------------------------------
# the file


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of the file's bytes, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(path: Path, *, missing: str) -> str:
    """`file_sha256` of ``path``, or a `PdfError` for the user: ``missing`` says how the file
    went ("does not exist (moved or deleted?)")."""
    try:
        return file_sha256(path)
    except FileNotFoundError:
        raise PdfError("missing", f"{path} {missing}") from None
    except OSError as exc:
        raise PdfError("unreadable", f"{path} cannot be read: {exc.strerror or exc}") from None


def ocr_available() -> bool:
    """Whether PyMuPDF can OCR here: Tesseract's English language data is found (in
    ``TESSDATA_PREFIX`` or next to an installed ``tesseract``). MuPDF has Tesseract built in;
    the language data is what a machine may lack."""
    try:
        tessdata = pymupdf.get_tessdata()
    except Exception:  # PyMuPDF raises a plain RuntimeError when nothing is found
        return False
    return bool(tessdata) and (Path(tessdata) / f"{OCR_LANGUAGE}.traineddata").is_file()


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def check_file(path: Path, max_bytes: int) -> tuple[os.stat_result, Format]:
    """Stat and sniff ``path``; raises `PdfError` for every reason it cannot be a readable
    document. Returns its format: by extension, or PDF for a file of another name that starts
    as a PDF does."""
    try:
        st = path.stat()
        if path.is_dir():
            raise PdfError("unreadable", f"{path} is a folder, not a document")
        with open(path, "rb") as f:
            head = f.read(_HEADER_WINDOW)
    except FileNotFoundError:
        raise PdfError("missing", f"{path} does not exist (moved or deleted?)") from None
    except PermissionError:
        raise PdfError("unreadable", f"{path} cannot be read: permission denied") from None
    except OSError as exc:
        raise PdfError("unreadable", f"{path} cannot be read: {exc.strerror or exc}") from None
    if st.st_size == 0:
        raise PdfError("empty-file", f"{path} is empty (0 bytes)")
    if st.st_size > max_bytes:
        raise PdfError("too-large", f"{path} is {_human_bytes(st.st_size)}; files over "
                                    f"{_human_bytes(max_bytes)} are not indexed")
    fmt = format_of(path)
    if fmt is None:
        if _HEADER in head:  # a PDF under another name, as given
            return st, PDF
        raise PdfError("unsupported", f"{path} is not a supported format (supported: "
                                      f"{supported_extensions()})")
    if fmt is PDF and _HEADER not in head:
        raise PdfError("not-pdf", f"{path} is not a PDF (no %PDF- header), despite its name")
    if fmt.text and _binary(head):
        raise PdfError("not-text", f"{path} is not {fmt.name} (it holds binary data), despite "
                                   "its name")
    return st, fmt


_TEXT_BOMS = (b"\xff\xfe", b"\xfe\xff")  # UTF-16 (and UTF-32 LE) text has NUL bytes


def _binary(head: bytes) -> bool:
    """Whether the first bytes of a text format are binary data (a NUL byte in them)."""
    return b"\0" in head and not head.startswith(_TEXT_BOMS)


def open_document(path: Path, fmt: Format = PDF) -> Any:
    """Open with MuPDF (read-only) as ``fmt``, laid out in `LAYOUT` when it is reflowable;
    MuPDF's failures become `PdfError`."""
    try:
        doc = pymupdf.open(path, filetype=fmt.filetype)
        if fmt.reflowable:
            doc.layout(width=LAYOUT.width, height=LAYOUT.height, fontsize=LAYOUT.fontsize)
    except (FileNotFoundError, pymupdf.FileNotFoundError):
        raise PdfError("missing", f"{path} disappeared while it was being read") from None
    except PermissionError:
        raise PdfError("unreadable", f"{path} cannot be read: permission denied") from None
    except Exception as exc:  # FileDataError and other MuPDF failures
        log.debug("MuPDF cannot open %s: %s", path, exc)
        if fmt is PDF:
            raise PdfError("corrupt", f"{path} is damaged beyond repair and cannot be opened") from None
        raise PdfError("corrupt", f"{path} is damaged and cannot be read (not a readable "
                                  f"{fmt.name} file)") from None
    finally:
        _log_mupdf_warnings(path)
    return doc


def _mupdf_reason(exc: BaseException) -> str:
    """MuPDF's own words for a failure, without its error code: "Invalid number of pages"."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r"^code=\d+:\s*", "", text)[:120] or type(exc).__name__


def _log_mupdf_warnings(path: Path) -> None:
    warnings = pymupdf.TOOLS.mupdf_warnings(reset=True)
    if warnings:
        log.debug("MuPDF on %s: %s", path, warnings.replace("\n", "; "))


# --------------------------------------------------------------------------------------------
# reading


def read_document(
    path: str | os.PathLike[str],
    *,
    ocr: bool = False,
    max_pages: int = 20000,
    max_bytes: int = 2 * 1024**3,
    on_ocr_page: Callable[[int, int], None] | None = None,
) -> ParsedPdf:
    """Read every page of the document at ``path``; raises `PdfError` when it cannot be indexed.

    A page whose text cannot be extracted is kept with empty text (and a warning logged), unless
    no page can be read at all. With ``ocr`` and `ocr_available`, pages that show images but have
    no text are OCRed (a second or more each), calling ``on_ocr_page(i, n)`` before the i-th of
    n. Must be called from the one thread that uses PyMuPDF (module docstring).
    """
    path = Path(path)
    st, fmt = check_file(path, max_bytes)
    sha = content_sha256(path, missing="disappeared while it was being read")
    doc = open_document(path, fmt)
    try:
        return _read_document(doc, path, st, sha, fmt, ocr=ocr, max_pages=max_pages,
                              on_ocr_page=on_ocr_page)
    except (RuntimeError, ValueError, IndexError) as exc:  # MuPDF failing on the document itself
        log.info("MuPDF cannot read %s: %s", path, exc)
        raise PdfError("corrupt", f"{path} is damaged and cannot be read ({_mupdf_reason(exc)})") from None
    finally:
        doc.close()
        _log_mupdf_warnings(path)


#: The former name, from when only PDFs were read.
read_pdf = read_document


def _read_document(
    doc: Any, path: Path, st: os.stat_result, sha: str, fmt: Format, *, ocr: bool, max_pages: int,
    on_ocr_page: Callable[[int, int], None] | None = None,
) -> ParsedPdf:
    if doc.needs_pass:
        raise PdfError("encrypted", f"{path} is password-protected; save a copy without the "
                                    "password to index it")
    if doc.is_repaired:
        log.info("%s is damaged; MuPDF repaired it for reading", path)
    n = doc.page_count
    if n == 0:
        if doc.is_repaired:
            raise PdfError("corrupt", f"{path} is damaged: no page could be recovered")
        raise PdfError("no-pages", f"{path} has no pages")
    if n > max_pages:
        raise PdfError("too-large", f"{path} has {n:,} pages; documents over {max_pages:,} pages "
                                    "are not indexed")
    pages, failed = _read_pages(doc, path)
    if failed == n:
        raise PdfError("corrupt", f"{path} is damaged: none of its {n:,} pages can be read")
    scanned = [k for k, p in enumerate(pages) if p.has_images and not p.text]
    if ocr and scanned and ocr_available():
        for i, k in enumerate(scanned):
            if on_ocr_page is not None:
                on_ocr_page(i, len(scanned))
            pages[k] = _ocr_page(doc[k], pages[k], path)
    if not any(p.text for p in pages):
        raise _no_text_error(path, pages, ocr)
    metadata = doc.metadata or {}
    headings = _headings(doc, pages, path)
    # A PDF's first bookmark is often "Cover" or "Contents"; other formats' first heading is
    # the one the author wrote first.
    first = headings[0].title if headings and fmt is not PDF else ""
    return ParsedPdf(
        path=path, sha256=sha, size=st.st_size, mtime=st.st_mtime,
        title=_title(metadata.get("title") or "", pages[0].text, path, first),
        author=_clean_line(metadata.get("author") or ""),
        page_count=n, pages=pages, format=fmt.name, headings=headings,
    )


def _no_text_error(path: Path, pages: list[PageText], ocr: bool) -> PdfError:
    if not any(p.has_images for p in pages):
        return PdfError("no-text", f"{path} has no text to index (its pages are blank or drawn)")
    if not ocr:
        return PdfError("no-text", f"{path} looks scanned (its pages are images) and OCR is off, "
                                   "so it has no text to index")
    if ocr_available():
        return PdfError("no-text", f"{path} looks scanned and OCR found no text in it")
    return PdfError("no-text", f"{path} looks scanned (its pages are images) and OCR is not "
                               "available (Tesseract's English data, tesseract-ocr-eng, is not "
                               "installed), so it has no text to index")


def _read_pages(doc: Any, path: Path) -> tuple[list[PageText], int]:
    """Every page's `PageText`, and how many pages failed (kept as empty pages)."""
    labels = _labels(doc)
    pages: list[PageText] = []
    failed = 0
    for i in range(doc.page_count):
        number = i + 1
        label = labels[i] if labels else str(number)
        try:
            page = doc.load_page(i)
            text, has_images = page_text(page)
        except Exception as exc:  # one bad page must not lose the document
            log.warning("%s: page %d cannot be read (%s); it is indexed as empty", path, number, exc)
            failed += 1
            text, has_images = "", False
        pages.append(PageText(number, label, text, has_images))
    return pages, failed


def _labels(doc: Any) -> list[str] | None:
    """Printed page labels when the PDF defines them (else None: labels are the numbers).
    Computed from the label rules once (``Page.get_label`` re-reads them for every page)."""
    try:
        rules = sorted(doc.get_page_labels(), key=lambda r: r["startpage"])
        if not rules:
            return None
        starts = [r["startpage"] for r in rules]
        labels = []
        for i in range(doc.page_count):
            k = bisect.bisect_right(starts, i) - 1
            if k < 0:
                labels.append(str(i + 1))
                continue
            rule = rules[k]
            style = rule.get("style", "")
            number = i - rule["startpage"] + rule.get("firstpagenum", 1)
            number -= 1 if style in ("a", "A") else 0  # letters count from 0
            labels.append(pymupdf.utils.construct_label(style, rule.get("prefix", ""), number)
                          or str(i + 1))
        return labels
    except Exception as exc:
        log.debug("page labels unreadable: %s", exc)
        return None


def page_text(page: Any, textpage: Any = None) -> tuple[str, bool]:
    """The text of one MuPDF page in reading order, and whether it shows images."""
    raw = page.get_text("blocks", flags=TEXT_FLAGS, textpage=textpage)
    area = 0.0  # the page's, once an image asks for it
    has_images = False
    blocks: list[Block] = []
    for x0, y0, x1, y1, text, _, kind in raw:
        if kind == 1:
            area = area or max(page.rect.width * page.rect.height, 1.0)
            has_images = has_images or (x1 - x0) * (y1 - y0) >= MIN_IMAGE_SHARE * area
        elif para := clean_block(text):
            blocks.append(Block(x0, y0, x1, y1, para))
    return "\n\n".join(b.text for b in order_blocks(blocks)), has_images


def _ocr_page(page: Any, old: PageText, path: Path) -> PageText:
    try:
        tp = page.get_textpage_ocr(flags=TEXT_FLAGS, language=OCR_LANGUAGE, dpi=OCR_DPI, full=True)
        text, _ = page_text(page, textpage=tp)
    except Exception as exc:
        log.warning("%s: OCR of page %d failed (%s)", path, old.number, exc)
        return old
    return PageText(old.number, old.label, text, old.has_images, ocr=True)


# --------------------------------------------------------------------------------------------
# reading order


class Block(NamedTuple):
    """A text block: its box in page points (y grows downwards) and its cleaned text."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str


#: A gap between blocks this wide (points) or wider may be a column gutter.
MIN_GUTTER = 6.0
#: Each column must hold a block at least this share of the width being cut: a narrow run of
#: page numbers or labels is not a column (a table of contents then reads row by row).
MIN_COLUMN_SHARE = 0.2
#: Blocks overlapping vertically by less than this (points) are in different bands.
BAND_TOLERANCE = 1.0
#: Pages with more blocks than this (word soups, giant tables) are read top to bottom, left to
#: right: the column search is quadratic in the number of bands.
MAX_LAYOUT_BLOCKS = 300
#: A first or last band this far (points) from the rest of its group, and farther than twice
#: any gap inside the group, is read on its own (a page head or foot, not part of a column).
DETACH_GAP = 24.0
_MAX_DEPTH = 40


def order_blocks(blocks: Sequence[Block]) -> list[Block]:
    """``blocks`` in reading order: columns left to right, each top to bottom.

    A recursive XY cut. The blocks are cut into horizontal bands (blocks that overlap vertically
    share a band) and consecutive bands are grouped for as long as the group has a vertical
    gutter (a gap no block crosses, with a real column on each side): a full-width title or
    footer ends a group, and so does a band far below (or above) the rest, such as a short
    left-aligned page foot. Groups are read top to bottom; a group with a gutter is read column
    by column, each column again by this rule, so a title, a two-column body and a footer read
    as title, left column, right column, footer, even where the paragraphs of both columns line
    up. A band without a gutter reads top to bottom, left to right.
    """
    if len(blocks) > MAX_LAYOUT_BLOCKS:
        return sorted(blocks, key=_top_left)
    return _xy_order(list(blocks), 0)


def _top_left(b: Block) -> tuple[float, float]:
    return (b.y0, b.x0)


def _xy_order(blocks: list[Block], depth: int) -> list[Block]:
    if len(blocks) <= 1 or depth > _MAX_DEPTH:
        return sorted(blocks, key=_top_left)
    groups = _group_bands(_bands(blocks))
    if len(groups) > 1:
        return [b for group in groups for b in _xy_order(group, depth + 1)]
    columns = _columns(blocks)
    if columns is None:  # one band without a gutter
        return sorted(blocks, key=_top_left)
    return [b for col in columns for b in _xy_order(col, depth + 1)]


def _columns(blocks: list[Block]) -> list[list[Block]] | None:
    """The blocks split at vertical gutters, left to right; None when there is no real gutter."""
    spans = sorted(blocks, key=lambda b: b.x0)
    cuts: list[float] = []
    right = spans[0].x1
    for b in spans[1:]:
        if b.x0 - right >= MIN_GUTTER:
            cuts.append((right + b.x0) / 2)
        right = max(right, b.x1)
    while cuts:
        cols = _split_at(spans, cuts)
        width = max(b.x1 for b in blocks) - min(b.x0 for b in blocks)
        narrow = [i for i, col in enumerate(cols)
                  if max(b.x1 - b.x0 for b in col) < MIN_COLUMN_SHARE * width]
        if not narrow:
            return cols
        i = narrow[0]  # merge the narrow group into a neighbour: drop one cut next to it
        cuts.pop(i if i < len(cuts) else i - 1)
    return None


def _split_at(spans: list[Block], cuts: list[float]) -> list[list[Block]]:
    cols: list[list[Block]] = [[] for _ in range(len(cuts) + 1)]
    k = 0
    for b in spans:  # sorted by x0; every block lies wholly between two cuts
        while k < len(cuts) and b.x0 > cuts[k]:
            k += 1
        cols[k].append(b)
    return cols


def _bands(blocks: list[Block]) -> list[list[Block]]:
    """Blocks grouped into horizontal bands, top to bottom."""
    bands: list[list[Block]] = []
    bottom = float("-inf")
    for b in sorted(blocks, key=_top_left):
        if bands and b.y0 < bottom - BAND_TOLERANCE:
            bands[-1].append(b)
            bottom = max(bottom, b.y1)
        else:
            bands.append([b])
            bottom = b.y1
    return bands


def _group_bands(bands: list[list[Block]]) -> list[list[Block]]:
    """Consecutive bands merged while the merged set still has a gutter."""
    groups: list[list[list[Block]]] = []
    current = [bands[0]]
    for band in bands[1:]:
        if _columns([b for bs in current for b in bs] + band) is not None:
            current.append(band)
        else:
            groups.extend(_detach(current))
            current = [band]
    groups.extend(_detach(current))
    return [[b for band in group for b in band] for group in groups]


def _detach(bands: list[list[Block]]) -> list[list[list[Block]]]:
    """A group of bands, with its first or last band split off when it sits far from the rest:
    a running head or a left-aligned foot is not the top or the end of the first column."""
    if len(bands) < 2:
        return [bands]
    gaps = [min(b.y0 for b in after) - max(b.y1 for b in before)
            for before, after in itertools.pairwise(bands)]
    limit = max(DETACH_GAP, 2 * max(gaps[1:-1], default=0.0))
    first_far = gaps[0] > limit
    last_far = gaps[-1] > limit and (len(bands) > 2 or not first_far)
    head = [[bands[0]]] if first_far else []
    tail = [[bands[-1]]] if last_far else []
    middle = bands[len(head): len(bands) - len(tail)]
    return [*head, *([middle] if middle else []), *tail]


# --------------------------------------------------------------------------------------------
# text clean-up

_SPACES = re.compile(r"[^\S\n]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")
#: Latin ligatures and Arabic presentation forms: MuPDF reports the shaped glyphs as such.
_PRESENTATION = re.compile(r"[\ufb00-\ufb06\ufb50-\ufdff\ufe70-\ufefe]+")
_HYPHENS = "-\u2010"


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x2E80 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF
            or 0xFF00 <= o <= 0xFFEF or 0x20000 <= o <= 0x3FFFF)


def clean_block(raw: str) -> str:
    """One paragraph from a MuPDF block: lines joined, hyphenation undone, whitespace collapsed."""
    flat = raw.replace("\n", " ")
    if flat.isprintable():  # the only whitespace is spaces and line breaks
        if raw.isascii() and "-" not in raw:  # the common case, quickly: no hyphen ends a line
            return flat.strip() if "  " not in flat else " ".join(flat.split())
    else:  # controls (or odd spaces, soft hyphens)
        raw = _CONTROL.sub("", raw)
    if not raw.isascii() and _PRESENTATION.search(raw):
        raw = _PRESENTATION.sub(lambda m: unicodedata.normalize("NFKC", m.group()), raw)
    lines = [" ".join(words) for line in raw.split("\n") if (words := line.split())]
    parts = lines[:1]
    for line in lines[1:]:
        before = parts[-1]
        end = before[-1]
        if end == "\u00ad" or (end in _HYPHENS and before[-2:-1].isalpha() and line[0].islower()):
            parts[-1] = before[:-1]  # "infor-" + "mation": the hyphen goes
        elif end in _HYPHENS and before[-2:-1].isalnum():
            pass  # "Jean-" + "Pierre", "1990-" + "2000": the hyphen stays, no space
        elif not (_is_cjk(end) and _is_cjk(line[0])):  # CJK lines wrap without spaces
            parts.append(" ")
        parts.append(line)
    return "".join(parts)


def _clean_line(text: str) -> str:
    return _SPACES.sub(" ", _CONTROL.sub("", text).replace("\n", " ")).strip()


# --------------------------------------------------------------------------------------------
# title

_JUNK_TITLE = re.compile(
    r"^(untitled|title|document\d*|unknown|none|null|slide ?\d*|powerpoint presentation|"
    r"microsoft (word|powerpoint|excel) - .*|.*\.(docx?|pdf|tex|dvi|ps|rtf|odt|indd|qxd|txt|html?))$",
    re.IGNORECASE,
)


def _title(meta_title: str, first_page: str, path: Path, first_heading: str = "") -> str:
    """The metadata title when it says something, else ``first_heading`` (the document's first
    heading, when it is not a PDF), else a heading of page 1, else the stem."""
    title = _clean_line(meta_title)
    if _meaningful_title(title, path):
        return title
    if _meaningful_title(_clean_line(first_heading), path):
        return _clean_line(first_heading)
    heading = _heading(first_page.split("\n\n")[:5])
    return heading if heading is not None else path.stem


def _meaningful_title(title: str, path: Path) -> bool:
    return (
        2 <= len(title) <= 300
        and any(ch.isalnum() for ch in title)
        and not _JUNK_TITLE.match(title)
        and title.lower() not in {path.stem.lower(), path.name.lower()}
    )


def _heading(paragraphs: Iterable[str]) -> str | None:
    """The first short, heading-like paragraph: a few words, a letter, no sentence end."""
    for para in paragraphs:
        words = para.split()
        if (3 <= len(para) <= 120 and len(words) <= 16 and any(ch.isalpha() for ch in para)
                and para[-1] not in ".,;:" and not para.isdigit()):
            return para
    return None


# --------------------------------------------------------------------------------------------
# headings

#: Longest heading title kept (characters); a longer one is cut at a word.
MAX_HEADING_CHARS = 200
_NON_WORD = re.compile(r"\W+")


def _headings(doc: Any, pages: Sequence[PageText], path: Path) -> list[Heading]:
    """The document's headings, from its table of contents, each placed in its page's text."""
    try:
        toc = doc.get_toc(simple=True)
    except Exception as exc:  # a damaged outline loses the headings, not the document
        log.info("%s: the table of contents cannot be read (%s)", path, exc)
        return []
    entries = []
    for entry in toc:
        level, title, page = int(entry[0]), _clean_line(str(entry[1])), int(entry[2])
        if 1 <= page <= len(pages) and any(ch.isalnum() for ch in title):
            entries.append((page, level, _cut(title)))
    entries.sort(key=lambda e: e[0])  # stable: the outline's order within a page
    found: list[Heading] = []
    for page, level, title in entries:
        after = found[-1].char + 1 if found and found[-1].page == page else 0
        found.append(Heading(level, title, page, _place(pages[page - 1].text, title, after)))
    return found


def _cut(title: str) -> str:
    if len(title) <= MAX_HEADING_CHARS:
        return title
    return title[:MAX_HEADING_CHARS].rsplit(" ", 1)[0] + "…"


def _key(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


def _place(text: str, title: str, start: int) -> int:
    """Where in a page's ``text`` (from ``start`` on) a paragraph reads as ``title``: the same
    words, or the end of a title that numbers its chapter ("Chapter 2: Usage" over "Usage"),
    or the start of a paragraph that goes on after the title. ``start`` when none does (a
    chapter starts its page; a bookmark may point anywhere on its page)."""
    want = _key(title)
    if not want:
        return start
    pos = start
    for para in text[start:].split("\n\n"):
        have = _key(para)
        if have and (have == want or (len(para) <= 120 and len(have) >= 3 and want.endswith(" " + have))
                     or have.startswith(want + " ")):
            return pos
        pos += len(para) + 2
    return start


def heading_at(headings: Sequence[Heading], page: int, char: int) -> str:
    """The title of the nearest heading at or before ``char`` of ``page`` (1-based); "" before
    the first heading, or when the document has none."""
    k = bisect.bisect_right([(h.page, h.char) for h in headings], (page, char)) - 1
    return headings[k].title if k >= 0 else ""
