"""The in-app PDF viewer that citations open: the cited page, with the whole passage marked.

Documents of other formats are shown as the PDF the engine converts them to
(`engine.documents.viewable`: laid out exactly as they were read for the index, so the cited
page is the page shown), kept in a cache folder. The conversion runs in a reader process,
waited for on a thread of its own: the window stays responsive meanwhile, the viewer says
"Preparing … for viewing", and shows the cited page once the copy is there (only the latest
citation clicked is shown).

A passage is known by its text and its pages (``page_start``-``page_end``), not by positions in
the PDF: the text was read by MuPDF, the viewer draws with PDFium (QtPdf), and the two differ in
whitespace, ligatures and hyphens. So on each page the passage covers, the viewer matches the
passage's words against the page's text as PDFium reads it (`passage_span`: from the page's
copy of the passage's first words to that of its last), asks QtPdf for the outline of that
character range (`QPdfDocument.getSelectionAtIndex`: one polygon per line, in points) and paints
those polygons over the page it shows (`_MarkedView`). Every line of the passage is marked, on
every page it covers, and only those lines. Matching is linear in the page's words, so a
citation deep in a long book marks at once.

The view shows one page at a time (`SinglePage`): zooming or resizing never moves it to another
page, so the page indicator and the marked page stay the cited one. Where the page sits inside
the view is computed as QPdfView lays it out (centred across, ``documentMargins`` around it,
scaled to the width or by the zoom factor), checked against its drawing with Qt 6.11.

Everything here runs on the GUI thread, except the wait for a conversion (`_Conversion`).
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDesktopServices,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPolygonF,
    QTransform,
)
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import (
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

Opener = Callable[[QUrl], object]

#: Words in a run that the passage and the page must share for the run to count as found.
RUN_WORDS = 3
#: The mark: multiplied over the page, so white turns yellow and the text stays black.
MARK_COLOUR = QColor(255, 226, 84)
ZOOM_STEP = 1.25
ZOOM_RANGE = (0.25, 8.0)

_WORD = re.compile(r"\S+")
_NOT_WORD = re.compile(r"\W+")

_LOAD_ERRORS = {
    QPdfDocument.Error.FileNotFound: "the file cannot be opened",
    QPdfDocument.Error.InvalidFileFormat: "it is not a PDF, or it is damaged",
    QPdfDocument.Error.IncorrectPassword: "it is protected by a password",
    QPdfDocument.Error.UnsupportedSecurityScheme: "it is encrypted in a way that cannot be read",
}


@dataclass(frozen=True)
class _Word:
    key: str  # lower case, letters and digits only
    start: int  # character range in the text it was read from
    end: int


def _words(text: str) -> list[_Word]:
    found = (_Word(_NOT_WORD.sub("", m.group().lower()), m.start(), m.end())
             for m in _WORD.finditer(text))
    return [w for w in found if w.key]


def passage_span(page_text: str, passage: str, *, starts: bool = True,
                 ends: bool = True) -> tuple[int, int] | None:
    """The character range ``[start, end)`` of ``page_text`` that holds the passage's words on
    that page, or None when the page holds none of it. ``starts``: the passage begins on this
    page; ``ends``: it ends on it (a page in the middle of a passage has neither).

    Words are compared in lower case with punctuation left out. A *copy* is a stretch of the
    page that repeats a stretch of the passage word for word (at least `RUN_WORDS` + 1 words,
    fewer for a tiny passage). Where the passage starts, the mark starts at the copy of its
    earliest words; where it ends, the mark ends at the copy of its last words; elsewhere the
    mark reaches the first or the last copy on the page. So a sentence of the page that recurs
    further on in the passage (reference manuals repeat their phrasing) is not marked before
    the passage begins, nor after it ends.
    """
    words = _words(page_text)
    keys = [w.key for w in _words(passage)]
    n = min(RUN_WORDS, len(keys))
    if n == 0:
        return None
    where: dict[tuple[str, ...], list[int]] = {}
    for j in range(len(keys) - n + 1):
        where.setdefault(tuple(keys[j:j + n]), []).append(j)
    copies = _copies([where.get(tuple(w.key for w in words[i:i + n]), [])
                      for i in range(len(words) - n + 1)])
    copies = [c for c in copies if c.runs >= min(2, len(keys) - n + 1)]
    if not copies:
        return None
    first = min(copies, key=lambda c: (c.at, -c.runs)) if starts else None
    last = max(copies, key=lambda c: (c.at + c.runs, c.runs)) if ends else None
    lo = first.page if first else min(c.page for c in copies)
    hi = (last.page + last.runs if last else max(c.page + c.runs for c in copies)) + n - 2
    if hi < lo:  # the page's order and the passage's disagree: mark the longest copy
        best = max(copies, key=lambda c: c.runs)
        lo, hi = best.page, best.page + best.runs + n - 2
    return words[lo].start, words[hi].end


class _Copy(NamedTuple):
    page: int  # index of its first word on the page
    at: int  # index of its first word in the passage
    runs: int  # runs of RUN_WORDS words it holds (its words: runs + RUN_WORDS - 1)


def _copies(found: list[list[int]]) -> list[_Copy]:
    """The copies in a page whose word ``i`` starts runs found at passage words ``found[i]``:
    maximal stretches where consecutive page words start runs at consecutive passage words."""
    copies: list[_Copy] = []
    open_: dict[int, int] = {}  # passage word of the last run -> runs so far, for copies open
    for i, positions in enumerate([*found, []]):
        grown = {j: open_.get(j - 1, 0) + 1 for j in positions}
        copies += [_Copy(i - runs, j - runs + 1, runs) for j, runs in open_.items() if j + 1 not in grown]
        open_ = grown
    return copies


class _MarkedView(QPdfView):
    """A QPdfView that paints the passage's outlines (polygons in points) over the page shown."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: dict[int, list[QPolygonF]] = {}

    def page_rect(self, page: int) -> QRectF:
        """Where ``page`` is drawn, in viewport pixels (QPdfView's own layout, one page)."""
        size = self.document().pagePointSize(page)
        margins = self.documentMargins()
        viewport = self.viewport()
        if self.zoomMode() == QPdfView.ZoomMode.Custom:
            width = size.width() * self.zoomFactor() * self.logicalDpiX() / 72.0
        else:
            width = viewport.width() - margins.left() - margins.right()
        scale = width / max(size.width(), 1.0)
        across = max(width + margins.left() + margins.right(), viewport.width())
        x = (across - width) / 2 - self.horizontalScrollBar().value()
        y = margins.top() - self.verticalScrollBar().value()
        return QRectF(x, y, width, size.height() * scale)

    def to_viewport(self, page: int) -> QTransform:
        """From points on ``page`` to viewport pixels, as the page is drawn now."""
        rect = self.page_rect(page)
        scale = rect.width() / max(self.document().pagePointSize(page).width(), 1.0)
        return QTransform(scale, 0, 0, scale, rect.x(), rect.y())

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        page = self.pageNavigator().currentPage()
        outlines = self.marks.get(page)
        if not outlines:
            return
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
        painter.setTransform(self.to_viewport(page))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(MARK_COLOUR)
        for outline in outlines:
            painter.drawPolygon(outline)
        painter.end()


class _Conversion(QObject):
    """Waits for `viewable_pdf` on a thread; ``done`` (request, path, copy or PdfError) reaches
    the GUI thread queued."""

    done = Signal(int, str, object)

    def start(self, request: int, path: str, cache_dir: Path) -> None:
        threading.Thread(target=self._run, args=(request, path, cache_dir), daemon=True,
                         name="viewer-conversion").start()

    def _run(self, request: int, path: str, cache_dir: Path) -> None:
        from grit_desktop.engine.documents.pdf import PdfError
        from grit_desktop.engine.documents.viewable import viewable_pdf

        result: object
        try:
            result = viewable_pdf(path, cache_dir)
        except PdfError as exc:
            result = exc
        except Exception as exc:  # a bug: said in the viewer, not lost on a thread
            result = PdfError("corrupt", f"{path} cannot be shown: {exc}")
        self.done.emit(request, path, result)


class PdfViewer(QWidget):
    """Shows a PDF at a cited page with the passage marked; see the module docstring."""

    def __init__(self, parent: QWidget | None = None, *, opener: Opener | None = None,
                 cache_dir: Path | None = None) -> None:
        """``cache_dir``: where converted copies of documents that are not PDFs are kept (by
        default ``cache/viewer`` in the data folder)."""
        super().__init__(parent)
        self._opener: Opener = opener or QDesktopServices.openUrl
        self._cache = cache_dir
        self._request = 0  # the latest citation shown; a conversion for an older one is dropped
        self._converting: tuple[str, int, str, str, int] | None = None  # what to show once converted
        self._conversion = _Conversion(self)
        self._conversion.done.connect(self._converted)
        self._path = ""
        self._mtime = 0.0
        self._message = ""
        self._spans: dict[int, tuple[int, int]] = {}  # page (0-based) -> marked characters
        self._document = QPdfDocument(self)
        self._view = _MarkedView()
        self._view.setDocument(self._document)
        self._view.setPageMode(QPdfView.PageMode.SinglePage)
        self._view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        # Fit to width with a scroll bar that comes and goes can loop for ever: at some heights
        # the page fits only without the bar, and fits without it only once the bar is there
        # (QPdfView relayouts without end, the window freezes). A bar that is always there
        # keeps the width fixed.
        self._view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self._build()
        self._view.pageNavigator().currentPageChanged.connect(self._page_changed)
        self._update_indicator()

    # -- public API --------------------------------------------------------------------------

    def show_passage(self, path: str, page: int, text: str = "", title: str = "",
                     last_page: int = 0) -> None:
        """Open ``path`` (kept open if it already is) at ``page`` (1-based) and mark ``text`` on
        every page from ``page`` to ``last_page`` (1-based; 0: ``page`` only). A document that
        must be converted first is shown once its copy is made (`converting`)."""
        self._request += 1
        self._converting = None
        opened = self._open(path)
        if opened is None:  # being converted: `_converted` shows it
            self._converting = (path, page, text, title, last_page)
            return
        if not opened:
            return
        self._show(page, text, title, last_page)

    def converting(self) -> bool:
        """Whether a document is being converted to be shown (the cited page comes next)."""
        return self._converting is not None

    def _show(self, page: int, text: str, title: str, last_page: int) -> None:
        last = self._document.pageCount() - 1
        page0 = min(max(page - 1, 0), last)
        end0 = min(max(last_page - 1, page0), last)
        self._set_title(title or self._document_title())
        self._mark_passage(text, page0, end0)
        self._go_to(page0)
        self._reveal(page0)

    def current_page(self) -> int:
        """The page shown, 1-based (0 when no document is shown)."""
        if self._message or self._document.status() != QPdfDocument.Status.Ready:
            return 0
        return self._view.pageNavigator().currentPage() + 1

    def page_count(self) -> int:
        return 0 if self._message else self._document.pageCount()

    def highlighted(self) -> bool:
        """Whether part of the passage is marked on the page shown."""
        return not self._message and self._view.pageNavigator().currentPage() in self._spans

    def passage_pages(self) -> list[int]:
        """The pages (1-based) on which the passage is marked."""
        return [page + 1 for page in sorted(self._spans)]

    def marked_text(self, page: int) -> str:
        """The text marked on ``page`` (1-based) as QtPdf reads it, "" where nothing is."""
        span = self._spans.get(page - 1)
        if span is None or self._message:
            return ""
        return self._document.getSelectionAtIndex(page - 1, span[0], span[1] - span[0]).text()

    def marked_rects(self, page: int) -> list[QRectF]:
        """The outlines of the marked lines on ``page`` (1-based) in viewport pixels, as they are
        painted while that page is shown."""
        outlines = self._view.marks.get(page - 1, [])
        if not outlines:
            return []
        transform = self._view.to_viewport(page - 1)
        return [transform.map(outline).boundingRect() for outline in outlines]

    def message(self) -> str:
        """The message shown instead of the document ("" when the document is shown)."""
        return self._message

    def document(self) -> QPdfDocument:
        return self._document

    def view(self) -> QPdfView:
        return self._view

    # -- building ----------------------------------------------------------------------------

    def _build(self) -> None:
        self._title = QLabel()
        self._title.setTextFormat(Qt.TextFormat.PlainText)
        self._title.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._title.setMinimumWidth(80)
        self._title.setContentsMargins(6, 0, 6, 0)
        self._indicator = QLabel()
        self._indicator.setObjectName("pageIndicator")
        self._notice = QLabel()
        self._notice.setObjectName("notice")
        self._notice.setWordWrap(True)
        self._notice.setMargin(24)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._view)
        self._stack.addWidget(self._notice)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._toolbar())
        layout.addWidget(self._stack, 1)

    def _toolbar(self) -> QToolBar:
        bar = QToolBar()
        bar.addWidget(self._title)
        self.previous_action = self._action(bar, "Previous", "Previous page", self.previous_page,
                                            QKeySequence.StandardKey.MoveToPreviousPage)
        bar.addWidget(self._indicator)
        self.next_action = self._action(bar, "Next", "Next page", self.next_page,
                                        QKeySequence.StandardKey.MoveToNextPage)
        bar.addSeparator()
        self.zoom_out_action = self._action(bar, "−", "Zoom out", self.zoom_out,
                                            QKeySequence.StandardKey.ZoomOut)
        self.zoom_in_action = self._action(bar, "+", "Zoom in", self.zoom_in,
                                           QKeySequence.StandardKey.ZoomIn)
        self.fit_action = self._action(bar, "Fit width", "Fit the page to the window's width",
                                       self.fit_width)
        bar.addSeparator()
        self.open_action = self._action(bar, "Open in system viewer",
                                        "Open the file in the PDF reader of this computer",
                                        self.open_externally)
        return bar

    def _action(self, bar: QToolBar, text: str, tip: str, slot: Callable[[], None],
                key: QKeySequence.StandardKey | None = None) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        if key is not None:
            action.setShortcut(key)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)  # keys work wherever the focus is inside the viewer
        action.triggered.connect(slot)
        bar.addAction(action)
        return action

    # -- opening -----------------------------------------------------------------------------

    def _open(self, path: str) -> bool | None:
        """Load ``path`` unless it is the document already open (and unchanged); say why not.
        None: it is being converted first (in the background)."""
        file = Path(path)
        try:
            mtime = file.stat().st_mtime
        except OSError:
            return self._fail(path, "the file does not exist (it may have been moved or deleted)")
        if not file.is_file():
            return self._fail(path, "it is a folder, not a PDF file")
        if path == self._path and mtime == self._mtime and not self._message:
            return True
        self._path, self._mtime = path, mtime
        from grit_desktop.engine.documents.formats import PDF, format_of

        fmt = format_of(path)
        if fmt is not None and fmt is not PDF:
            self._document.close()
            self._clear_marks()
            self._set_title(file.name)
            self._show_message(f"Preparing {file.name} for viewing…")
            self._conversion.start(self._request, path, self._cache_dir())
            return None
        return self._load(path, file)

    def _load(self, path: str, shown: Path) -> bool:
        error = self._document.load(str(shown))
        if error != QPdfDocument.Error.None_:
            return self._fail(path, _LOAD_ERRORS.get(error, "the file cannot be read as a PDF"))
        if self._document.status() != QPdfDocument.Status.Ready or self._document.pageCount() == 0:
            return self._fail(path, "it has no pages, or it is damaged")
        self._show_message("")
        return True

    def _converted(self, request: int, path: str, result: object) -> None:
        """A conversion ended: show the citation it was made for, unless another came since."""
        from grit_desktop.engine.documents.pdf import PdfError

        if request != self._request or self._converting is None:
            return  # a later citation was clicked meanwhile
        _, page, text, title, last_page = self._converting
        self._converting = None
        if isinstance(result, PdfError):
            reason = str(result).removeprefix(f"{path} ")
            self._fail(path, f"it {reason}" if reason.startswith("is ") else reason)
            return
        assert isinstance(result, Path)
        if self._load(path, result):
            self._show(page, text, title, last_page)

    def _cache_dir(self) -> Path:
        if self._cache is None:
            from grit_desktop.config import data_dir
            from grit_desktop.errors import ConfigError

            try:
                self._cache = data_dir() / "cache" / "viewer"
            except ConfigError:
                self._cache = Path(tempfile.gettempdir()) / "grit-desktop-viewer"
        return self._cache

    def _fail(self, path: str, why: str) -> bool:
        self._path, self._mtime = path, 0.0
        self._document.close()
        self._clear_marks()
        self._set_title(Path(path).name)
        self._show_message(f"Cannot show {path}: {why}.")
        self.open_action.setEnabled(Path(path).is_file())
        return False

    def _show_message(self, text: str) -> None:
        self._message = text
        self._notice.setText(text)
        self._stack.setCurrentWidget(self._notice if text else self._view)
        for action in (self.zoom_in_action, self.zoom_out_action, self.fit_action):
            action.setEnabled(not text)
        self.open_action.setEnabled(not text)
        self._update_indicator()

    def _set_title(self, title: str) -> None:
        self._title.setText(title if len(title) <= 60 else title[:57].rstrip() + "...")
        self._title.setToolTip(f"{title}\n{self._path}")
        self.setWindowTitle(title)

    def _document_title(self) -> str:
        meta = self._document.metaData(QPdfDocument.MetaDataField.Title)
        return str(meta).strip() if meta else Path(self._path).name

    # -- marking the passage -----------------------------------------------------------------

    def _clear_marks(self) -> None:
        self._spans = {}
        self._view.marks = {}
        self._view.viewport().update()

    def _mark_passage(self, text: str, first: int, last: int) -> None:
        """Mark ``text`` on each page from ``first`` to ``last`` (0-based) that holds part of it."""
        self._clear_marks()
        if not text.strip():
            return
        for page in range(first, last + 1):
            span = passage_span(self._document.getAllText(page).text(), text,
                                starts=page == first, ends=page == last)
            if span is None:
                continue
            selection = self._document.getSelectionAtIndex(page, span[0], span[1] - span[0])
            outlines = list(selection.bounds())
            if outlines:
                self._spans[page] = span
                self._view.marks[page] = outlines
        self._view.viewport().update()

    def _reveal(self, page: int) -> None:
        """Scroll the page so that the first marked line sits in the upper third of the view."""
        outlines = self._view.marks.get(page)
        if not outlines or self._view.pageNavigator().currentPage() != page:
            return
        transform = self._view.to_viewport(page)
        top = min(transform.map(outline).boundingRect().top() for outline in outlines)
        bar = self._view.verticalScrollBar()
        y = bar.value() + top - self._view.viewport().height() / 3
        bar.setValue(int(max(0.0, y)))

    # -- navigation --------------------------------------------------------------------------

    def previous_page(self) -> None:
        self._go_to(self._view.pageNavigator().currentPage() - 1)

    def next_page(self) -> None:
        self._go_to(self._view.pageNavigator().currentPage() + 1)

    def zoom_in(self) -> None:
        self._zoom(self._effective_zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        self._zoom(self._effective_zoom() / ZOOM_STEP)

    def fit_width(self) -> None:
        self._view.setZoomMode(QPdfView.ZoomMode.FitToWidth)

    def open_externally(self) -> None:
        """Hand the file to the desktop's PDF reader (through the injected opener)."""
        if self._path:
            self._opener(QUrl.fromLocalFile(self._path))

    def _go_to(self, page: int) -> None:
        if self._message or not 0 <= page < self._document.pageCount():
            return
        navigator = self._view.pageNavigator()
        if page != navigator.currentPage():
            navigator.jump(page, QPointF(), self._view.zoomFactor())
        else:
            self._page_changed(page)

    def _page_changed(self, page: int) -> None:
        self._update_indicator()
        self._view.viewport().update()

    def _zoom(self, factor: float) -> None:
        self._view.setZoomMode(QPdfView.ZoomMode.Custom)
        self._view.setZoomFactor(min(max(factor, ZOOM_RANGE[0]), ZOOM_RANGE[1]))

    def _effective_zoom(self) -> float:
        """The zoom factor the page is drawn with, also when it is fitted to the width."""
        page = self._view.pageNavigator().currentPage()
        return self._view.to_viewport(page).m11() * 72.0 / self._view.logicalDpiX()

    def _update_indicator(self) -> None:
        count, page = self.page_count(), self.current_page()
        self._indicator.setText(f" page {page} of {count} " if count else " no document ")
        self.previous_action.setEnabled(page > 1)
        self.next_action.setEnabled(0 < page < count)
