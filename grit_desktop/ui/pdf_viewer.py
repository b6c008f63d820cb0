"""The in-app PDF viewer that citations open: the cited page, with the passage marked on it.

How QtPdf marks text (checked with Qt 6.12, offscreen): `QPdfView` fills every result of its
`QPdfSearchModel` on the page in view and frames the *current* one (`setCurrentSearchResultIndex`,
a cyan outline); it does not move to it. The search is case-insensitive and a line break in the
PDF matches a space, but a whole passage is too long to find and its line breaks are not the
PDF's. So the viewer searches for a short run of the passage's words (`fragments`: its first 8,
then later runs, then runs of 5) on the cited page and frames that result. When the passage runs
on to the next page, its last words are searched there with a second model, which the view shows
while that page is (one model holds one search string).

Framing needs the result's row in the whole document, and QtPdf counts rows by searching every
earlier page (1-2 ms a page). The viewer searches those pages a few milliseconds at a time from
the event loop, so a citation deep in a long book does not freeze the window; the fill of the
result shows at once.

The view shows one page at a time (`SinglePage`): zooming or resizing never moves it to another
page, so the page indicator and the marked page stay the cited one.

Everything here runs on the GUI thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtPdf import QPdfDocument, QPdfSearchModel
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QToolBar, QVBoxLayout, QWidget

Opener = Callable[[QUrl], object]

#: Sizes of the runs of words searched for, longest (most distinctive) first.
FRAGMENT_WORDS = (8, 5)
#: How many runs of each size are tried, going further into the passage each time.
FRAGMENT_TRIES = 4
ZOOM_STEP = 1.25
ZOOM_RANGE = (0.25, 8.0)
_SLICE_S = 0.02  # searching earlier pages yields to the event loop after this long

_LOAD_ERRORS = {
    QPdfDocument.Error.FileNotFound: "the file cannot be opened",
    QPdfDocument.Error.InvalidFileFormat: "it is not a PDF, or it is damaged",
    QPdfDocument.Error.IncorrectPassword: "it is protected by a password",
    QPdfDocument.Error.UnsupportedSecurityScheme: "it is encrypted in a way that cannot be read",
}


def fragments(text: str, from_end: bool = False) -> list[str]:
    """Runs of ``text``'s words (whitespace made single spaces) to search for, best first.

    Runs of 8 words from the start (or the end) of the passage, then further in, then runs of 5.
    A passage shorter than a run is one run.
    """
    words = text.split()
    if from_end:
        words.reverse()
    runs: list[str] = []
    for size in FRAGMENT_WORDS:
        for k in range(FRAGMENT_TRIES):
            window = words[k * size:(k + 1) * size]
            if not window or len(window) < min(size, len(words)):
                break
            run = " ".join(reversed(window) if from_end else window)
            if run not in runs:
                runs.append(run)
    return runs


@dataclass
class _Mark:
    """One framed run of the passage: the search model that holds it and its page (0-based)."""

    model: QPdfSearchModel
    page: int = -1
    row: int = -1  # the result's row in the model, once every earlier page is searched
    searched: int = 0  # earlier pages searched so far
    before: int = 0  # results found on them

    @property
    def wanted(self) -> bool:
        return self.page >= 0


class PdfViewer(QWidget):
    """Shows a PDF at a cited page with the passage marked; see the module docstring."""

    def __init__(self, parent: QWidget | None = None, *, opener: Opener | None = None) -> None:
        super().__init__(parent)
        self._opener: Opener = opener or QDesktopServices.openUrl
        self._path = ""
        self._mtime = 0.0
        self._message = ""
        self._document = QPdfDocument(self)
        self._view = QPdfView()
        self._view.setDocument(self._document)
        self._view.setPageMode(QPdfView.PageMode.SinglePage)
        self._view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        # Fit to width with a scroll bar that comes and goes can loop for ever: at some heights
        # the page fits only without the bar, and fits without it only once the bar is there
        # (QPdfView relayouts without end, the window freezes). A bar that is always there
        # keeps the width fixed.
        self._view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self._head = _Mark(self._new_model())
        self._tail = _Mark(self._new_model())
        self._view.setSearchModel(self._head.model)
        self._work = QTimer(self)
        self._work.setSingleShot(True)
        self._work.setInterval(0)
        self._work.timeout.connect(self._find_rows)
        self._build()
        self._view.pageNavigator().currentPageChanged.connect(self._page_changed)
        self._update_indicator()

    # -- public API --------------------------------------------------------------------------

    def show_passage(self, path: str, page: int, text: str = "", title: str = "") -> None:
        """Open ``path`` (kept open if it already is) at ``page`` (1-based) and mark ``text``."""
        if not self._open(path):
            return
        last = self._document.pageCount() - 1
        page0 = min(max(page - 1, 0), last)
        self._set_title(title or self._document_title())
        self._mark_passage(text, page0)
        self._go_to(page0)

    def current_page(self) -> int:
        """The page shown, 1-based (0 when no document is shown)."""
        if self._message or self._document.status() != QPdfDocument.Status.Ready:
            return 0
        return self._view.pageNavigator().currentPage() + 1

    def page_count(self) -> int:
        return 0 if self._message else self._document.pageCount()

    def highlighted(self) -> bool:
        """Whether a result of the passage is framed on the page shown."""
        model = self._view.searchModel()
        row = self._view.currentSearchResultIndex()
        if self._message or not model.searchString() or row < 0 or row >= model.rowCount(QModelIndex()):
            return False
        return model.resultAtIndex(row).page() == self._view.pageNavigator().currentPage()

    def passage_pages(self) -> list[int]:
        """The pages (1-based) on which a run of the passage was found and is framed."""
        return [m.page + 1 for m in (self._head, self._tail) if m.wanted]

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

    def _new_model(self) -> QPdfSearchModel:
        model = QPdfSearchModel(self)
        model.setDocument(self._document)
        return model

    # -- opening -----------------------------------------------------------------------------

    def _open(self, path: str) -> bool:
        """Load ``path`` unless it is the document already open (and unchanged); say why not."""
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
        error = self._document.load(path)
        if error != QPdfDocument.Error.None_:
            return self._fail(path, _LOAD_ERRORS.get(error, "the file cannot be read as a PDF"))
        if self._document.status() != QPdfDocument.Status.Ready or self._document.pageCount() == 0:
            return self._fail(path, "it has no pages, or it is damaged")
        self._show_message("")
        return True

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
        """Start afresh with new, empty search models.

        New models rather than new search strings: every ``setSearchString`` starts a timer in
        QPdfSearchModel that is never stopped (10 wake-ups a second each, seen with Qt 6.12);
        deleting the model ends them.
        """
        self._work.stop()
        old = (self._head.model, self._tail.model)
        self._head, self._tail = _Mark(self._new_model()), _Mark(self._new_model())
        self._view.setSearchModel(self._head.model)
        for model in old:
            model.deleteLater()

    def _mark_passage(self, text: str, page: int) -> None:
        """Find runs of ``text``: its start on ``page``, and its end on the next page if it runs on."""
        self._clear_marks()
        head = _first_found(self._head.model, fragments(text), page)
        if head is None:
            return
        self._head.page = page
        self._tail.page = self._continuation(text, page)
        self._find_rows()

    def _continuation(self, text: str, page: int) -> int:
        """The next page if the passage ends there, else -1: the run nearest its end that is
        found on ``page`` or the next page tells which (left as the tail model's search)."""
        if page + 1 >= self._document.pageCount():
            return -1
        model = self._tail.model
        for run in fragments(text, from_end=True):
            model.setSearchString(run)
            if model.resultsOnPage(page):
                return -1
            if model.resultsOnPage(page + 1):
                return page + 1
        return -1

    def _find_rows(self) -> None:
        """Search the pages before each mark until its row is known (a slice of time per call)."""
        deadline = time.monotonic() + _SLICE_S
        for mark in (self._head, self._tail):
            while mark.wanted and mark.row < 0 and time.monotonic() < deadline:
                _step(mark)
        if any(m.wanted and m.row < 0 for m in (self._head, self._tail)):
            self._work.start()
        self._select(self._view.pageNavigator().currentPage())

    def _select(self, page: int) -> None:
        """Show the mark of ``page`` (if it has one) and frame its result once its row is known."""
        mark = next((m for m in (self._head, self._tail) if m.wanted and m.page == page), None)
        if mark is None:
            return
        if self._view.searchModel() is not mark.model:
            self._view.setSearchModel(mark.model)
        if mark.row >= 0 and self._view.currentSearchResultIndex() != mark.row:
            self._view.setCurrentSearchResultIndex(mark.row)
            self._reveal(mark)

    def _reveal(self, mark: _Mark) -> None:
        """Scroll the page so that the framed run sits in the upper third of the view."""
        location = mark.model.resultAtIndex(mark.row).location()
        bar = self._view.verticalScrollBar()
        top = self._view.documentMargins().top()
        y = top + location.y() * self._pixels_per_point(mark.page) - self._view.viewport().height() / 3
        bar.setValue(int(max(0.0, y)))

    def _pixels_per_point(self, page: int) -> float:
        if self._view.zoomMode() == QPdfView.ZoomMode.Custom:
            return self._view.zoomFactor() * self._view.logicalDpiY() / 72.0
        margins = self._view.documentMargins()
        width = self._view.viewport().width() - margins.left() - margins.right()
        return width / max(self._document.pagePointSize(page).width(), 1.0)

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
        self._select(page)

    def _zoom(self, factor: float) -> None:
        self._view.setZoomMode(QPdfView.ZoomMode.Custom)
        self._view.setZoomFactor(min(max(factor, ZOOM_RANGE[0]), ZOOM_RANGE[1]))

    def _effective_zoom(self) -> float:
        """The zoom factor the page is drawn with, also when it is fitted to the width."""
        page = self._view.pageNavigator().currentPage()
        return self._pixels_per_point(page) * 72.0 / self._view.logicalDpiY()

    def _update_indicator(self) -> None:
        count, page = self.page_count(), self.current_page()
        self._indicator.setText(f" page {page} of {count} " if count else " no document ")
        self.previous_action.setEnabled(page > 1)
        self.next_action.setEnabled(0 < page < count)


def _first_found(model: QPdfSearchModel, runs: list[str], page: int) -> str | None:
    """The first of ``runs`` that occurs on ``page`` (left as ``model``'s search), or None."""
    for run in runs:
        model.setSearchString(run)
        if model.resultsOnPage(page):
            return run
    return None


def _step(mark: _Mark) -> None:
    """Search one more page before the mark's page; when none is left, its row is known."""
    if mark.searched < mark.page:
        mark.before += len(mark.model.resultsOnPage(mark.searched))
        mark.searched += 1
    else:
        mark.row = mark.before
