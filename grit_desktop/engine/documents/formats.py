"""The file formats the library reads, named in one place: by extension, how MuPDF is told to
open each, and the one page layout every reflowable format is laid out in.

No heavy imports (no PyMuPDF): the window lists dropped files and folders with this before the
engine has started. `pdf` reads the files; `viewable` turns them into the PDF the viewer shows.

Reflowable formats (EPUB, MOBI, FB2, HTML, plain text, Markdown, DOCX) have no pages of their
own: MuPDF lays them out into pages of `LAYOUT`. The same layout is used when a file is read for
the index and when it is converted for the viewer, so "p. 12" of a passage is page 12 of what
the viewer shows. Changing `LAYOUT` moves every page of those formats: it is part of
`LAYOUT_KEY`, which names the viewer's converted copies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Format:
    """One supported format."""

    name: str         # as the user knows it: "EPUB"
    filetype: str     # what MuPDF is told it is (``pymupdf.open(path, filetype=...)``)
    reflowable: bool  # laid out into pages of `LAYOUT` (else its pages are its own)
    text: bool = False  # a text format (its bytes are characters): binary data means a wrong name


@dataclass(frozen=True)
class Layout:
    """The page reflowable formats are laid out in: points, and the base font size."""

    width: float
    height: float
    fontsize: float


#: A5 (148 x 210 mm) at 11 pt: a book's page, so a page holds about as much as a printed one
#: (300 to 400 words) and a page number means about what it means in a paperback.
LAYOUT = Layout(width=420.0, height=595.0, fontsize=11.0)

#: Names the layout in the file names of converted copies (a new layout, new copies).
LAYOUT_KEY = f"{LAYOUT.width:g}x{LAYOUT.height:g}-{LAYOUT.fontsize:g}"

PDF = Format("PDF", "pdf", reflowable=False)

#: Every extension read, lower case, with its format.
FORMATS: dict[str, Format] = {
    ".pdf": PDF,
    ".epub": Format("EPUB", "epub", reflowable=True),
    ".mobi": Format("MOBI", "mobi", reflowable=True),
    ".fb2": Format("FB2", "fb2", reflowable=True, text=True),
    ".xps": Format("XPS", "xps", reflowable=False),
    ".oxps": Format("XPS", "xps", reflowable=False),
    ".html": Format("HTML", "html", reflowable=True, text=True),
    ".htm": Format("HTML", "html", reflowable=True, text=True),
    ".xhtml": Format("XHTML", "xhtml", reflowable=True, text=True),
    ".txt": Format("plain text", "txt", reflowable=True, text=True),
    ".md": Format("Markdown", "md", reflowable=True, text=True),
    ".markdown": Format("Markdown", "md", reflowable=True, text=True),
    ".docx": Format("DOCX", "docx", reflowable=True),
}

#: The extensions searched for in folders (lower case, with the dot).
SUPPORTED_EXTENSIONS = frozenset(FORMATS)


def format_of(path: str | os.PathLike[str]) -> Format | None:
    """The format of ``path`` by its extension (any case); None when it is not supported."""
    return FORMATS.get(Path(path).suffix.lower())


def is_supported(name: str) -> bool:
    """Whether a file of this name is read (by its extension, any case)."""
    return os.path.splitext(name)[1].lower() in FORMATS


def supported_names() -> str:
    """``PDF, EPUB, MOBI, ...``: the formats, for messages."""
    return ", ".join(dict.fromkeys(f.name for f in FORMATS.values()))


def supported_extensions() -> str:
    """``.pdf, .epub, ...``: the extensions, for messages and file dialogs."""
    return ", ".join(sorted(FORMATS, key=list(FORMATS).index))


def dialog_filter() -> str:
    """A file dialog's name filter for every supported file: ``Documents (*.pdf *.epub ...)``."""
    return f"Documents ({' '.join('*' + ext for ext in FORMATS)})"
