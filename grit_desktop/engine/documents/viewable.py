"""The PDF the viewer shows for a document: the file itself for a PDF, else a PDF that MuPDF
converts it to, page for page as it was read for the index.

Reflowable formats are laid out in `formats.LAYOUT` before conversion, exactly as `pdf` lays
them out before reading their text, so page N of the converted copy is the page N a passage
cites, and the passage's words are on it for the viewer to mark. XPS keeps its own pages.

Copies are kept in a cache folder, named by the SHA-256 of the document's bytes and by
`formats.LAYOUT_KEY`: a document is converted once (a changed file, or a new layout, is
converted again), and at most `MAX_CACHED` copies are kept, the least recently shown going
first. Converting runs MuPDF on an untrusted file, so it runs in a reader process of its own
(`parsing.run_once`), never in the caller's: a crash or a hang costs that one conversion.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from grit_desktop.engine.documents.formats import LAYOUT_KEY, PDF, format_of
from grit_desktop.engine.documents.parsing import ChunkOptions, ParseFailure, run_once
from grit_desktop.engine.documents.pdf import PdfError, check_file, content_sha256, open_document

log = logging.getLogger(__name__)

#: Converted copies kept in the cache folder.
MAX_CACHED = 64
#: A conversion is stopped after this many seconds (a 1,000-page book takes a few).
CONVERT_TIMEOUT_S = 120.0
#: The largest document converted (bytes); larger ones are opened in the system's viewer.
MAX_BYTES = 512 * 1024**2

_NO_CHUNKS = ChunkOptions(tokenizer_dir="", chunk_tokens=0, overlap_tokens=0, ocr=False)


def converted_pdf(path: str | os.PathLike[str]) -> bytes:
    """The PDF of the document at ``path``, in the layout it is read in; raises `PdfError`.
    Runs MuPDF in this process (its one thread: see `pdf`)."""
    path = Path(path)
    _, fmt = check_file(path, MAX_BYTES)
    doc = open_document(path, fmt)
    try:
        data: bytes = doc.convert_to_pdf()
    except (RuntimeError, ValueError) as exc:
        raise PdfError("corrupt", f"{path} is damaged and cannot be shown ({exc})") from None
    finally:
        doc.close()
    return data


def convert_request(path: str, options: ChunkOptions) -> bytes | ParseFailure:
    """`converted_pdf` as a reader process runs it: the bytes, or the reason as a failure."""
    try:
        return converted_pdf(path)
    except PdfError as exc:
        return ParseFailure(path, exc.kind, str(exc))
    except MemoryError:
        return ParseFailure(path, "too-large", f"{path}: not enough memory to convert it")


def viewable_pdf(path: str | os.PathLike[str], cache_dir: str | os.PathLike[str], *,
                 isolate: bool = True, timeout_s: float = CONVERT_TIMEOUT_S) -> Path:
    """A PDF file showing the document at ``path`` with the pages its passages cite: ``path``
    itself for a PDF (or a file of no supported format, left to the viewer to judge), else its
    converted copy in ``cache_dir`` (made if need be). Raises `PdfError` with the reason when
    the document cannot be converted. ``isolate=False`` converts in this process."""
    path = Path(path)
    fmt = format_of(path)
    if fmt is None or fmt is PDF:
        return path
    sha = content_sha256(path, missing="does not exist (moved or deleted?)")
    folder = Path(cache_dir)
    target = folder / f"{sha}-{LAYOUT_KEY}.pdf"
    if target.is_file():
        with contextlib.suppress(OSError):
            os.utime(target)  # recently shown: kept longest
        return target
    if isolate:
        outcome = run_once(convert_request, str(path), _NO_CHUNKS, timeout_s)
    else:
        outcome = convert_request(str(path), _NO_CHUNKS)
    if isinstance(outcome, ParseFailure):
        kind = outcome.kind if outcome.kind in _KINDS else "corrupt"
        raise PdfError(kind, outcome.message if outcome.kind in _KINDS
                       else f"{path} cannot be shown: {outcome.message}")
    if not isinstance(outcome, bytes):
        raise PdfError("corrupt", f"{path} cannot be shown: the conversion gave no PDF")
    _write(target, outcome)
    _prune(folder, keep=target)
    return target


_KINDS = frozenset({"missing", "unreadable", "empty-file", "corrupt", "encrypted", "too-large",
                    "unsupported", "not-text", "not-pdf", "no-pages"})


def _write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` whole or not at all (a copy is never seen half written)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".converting-", suffix=".pdf")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(UnboundLocalError, OSError):
            os.unlink(tmp)
        raise PdfError("unreadable", f"cannot keep the converted copy in {target.parent}: "
                                     f"{exc.strerror or exc}") from None


def _prune(folder: Path, keep: Path) -> None:
    """Remove the least recently shown copies beyond `MAX_CACHED`."""
    try:
        copies = sorted((p for p in folder.glob("*.pdf") if p != keep),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in copies[MAX_CACHED - 1:]:
        with contextlib.suppress(OSError):
            old.unlink()
