"""The PDF viewer that citations open: cited page, whole passage marked, errors shown, real pixels.

The widgets are never shown as windows (the offscreen platform warns when a top-level window with
a layout is shown); `grab()` renders them all the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import QLabel

from grit_desktop.ui.pdf_viewer import PdfViewer, passage_span
from tests import pdfs

# page 7 ends with the first half of a passage and page 8 starts with its second half
END_OF_7 = ("The lighthouse keeper counted seventeen ships passing the northern cape before "
            "dawn, and wrote each name in the ledger kept beside the lamp.")
START_OF_8 = ("Every winter the ledger went by sledge to the harbour office, where clerks copied "
              "the names into the great register of the coast.")


@pytest.fixture
def viewer(qtbot: Any) -> PdfViewer:
    opened: list[QUrl] = []
    widget = PdfViewer(opener=opened.append)
    widget.opened = opened  # type: ignore[attr-defined]
    widget.resize(700, 900)
    qtbot.addWidget(widget)
    return widget


@pytest.fixture(scope="module")
def big_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pdfs.make_big_pdf(tmp_path_factory.mktemp("viewer") / "big.pdf", 12)


def flat(text: str) -> str:
    """Text with all whitespace made single spaces."""
    return " ".join(text.split())


def test_passage_span_finds_the_words_of_the_passage_on_the_page() -> None:
    page = "Running head\r\nAn opening line.\r\n" + END_OF_7.replace(" the ", "\r\nthe ", 1) + " The end."
    start, end = passage_span(page, END_OF_7) or (0, 0)
    assert flat(page[start:end]) == flat(END_OF_7)
    # other whitespace, other punctuation and one misread word change nothing
    odd = END_OF_7.replace("dawn,", "dawn ;").replace("ledger", "Iedger", 1)
    assert passage_span(page, odd) == (start, end)
    assert passage_span(page, "Words that occur nowhere on this page.") is None
    assert passage_span(page, "") is None
    assert passage_span(page, "  ...  ") is None


def test_passage_span_leaves_out_a_phrase_that_recurs_elsewhere_on_the_page() -> None:
    passage = "the ledger kept beside the lamp was read by every keeper of the light"
    page = ("Filler words " * 20 + passage + " and then " + "more filler " * 20
            + "the ledger kept beside the stove")
    start, end = passage_span(page, passage) or (0, 0)
    assert page[start:end] == passage


def test_passage_span_starts_at_the_passage_not_at_phrasing_it_repeats_later() -> None:
    # a reference manual: the entry before the passage is worded like the entries in it
    entry = "der: DER data to decode containing the {}. Returns: ASN1_SUCCESS on success, or an error."
    passage = ("Extract an OCTET SEQUENCE from DER data. " + entry.format("OBJECT IDENTIFIER") + " "
               + entry.format("BIT SEQUENCE"))
    page = entry.format("OCTET SEQUENCE") + "\r\n" + passage
    start, end = passage_span(page, passage) or (0, 0)
    assert page[start:end] == passage
    # on the first of two pages it reaches the page's end; on the second, its start
    start, end = passage_span(page + "\r\n17", passage, ends=False) or (0, 0)
    assert page[start:end] == passage
    later = passage + "\r\nSomething else, never in the passage at all."
    assert passage_span(later, passage, starts=False) == (0, len(passage))


def test_passage_span_of_a_short_passage() -> None:
    assert passage_span("Say yes here, or no.", "yes") == (4, 7)
    assert passage_span("Say yes here, or no.", "yes, here") == (4, 13)


def test_lands_on_the_cited_page_with_the_passage_marked(viewer: PdfViewer, big_pdf: Path) -> None:
    viewer.show_passage(str(big_pdf), 7, pdfs.big_page_text(7), title="Minutes")
    assert viewer.message() == ""
    assert (viewer.current_page(), viewer.page_count()) == (7, 12)
    assert viewer.highlighted()
    assert viewer.passage_pages() == [7]
    assert flat(viewer.marked_text(7)) == flat(pdfs.big_page_text(7))
    assert len(viewer.marked_rects(7)) >= 3  # one outline per line
    assert viewer.findChild(QLabel, "pageIndicator").text().strip() == "page 7 of 12"
    assert viewer.windowTitle() == "Minutes"


def test_text_not_on_the_page_is_not_marked(viewer: PdfViewer, big_pdf: Path) -> None:
    viewer.show_passage(str(big_pdf), 5, "Words that occur nowhere in this document at all.")
    assert viewer.current_page() == 5
    assert not viewer.highlighted()
    assert viewer.passage_pages() == []
    assert viewer.marked_text(5) == "" and viewer.marked_rects(5) == []
    assert viewer.windowTitle() == "big.pdf"  # no title given, none in the file


def test_a_misread_start_marks_from_the_first_words_that_match(viewer: PdfViewer, big_pdf: Path) -> None:
    # the extracted text's first words differ from the PDF's (as with odd encodings)
    passage = "Qagr 9; thx mxrker ov thes pagq es w9x. " + pdfs.big_page_text(9).split("\n\n")[1]
    viewer.show_passage(str(big_pdf), 9, passage)
    assert viewer.highlighted()
    marked = flat(viewer.marked_text(9))
    assert marked.startswith("w9x. The quick brown fox")
    assert marked.endswith("except this sentence.")


def test_a_passage_running_onto_the_next_page_is_marked_whole_on_both(
        viewer: PdfViewer, tmp_path: Path) -> None:
    pages = [f"Filler page {n} about nothing in particular." for n in range(1, 13)]
    pages[6] = "An opening paragraph on page seven.\n\n" + END_OF_7
    pages[7] = START_OF_8 + "\n\nA closing paragraph on page eight."
    path = pdfs.make_pdf(tmp_path / "ledger.pdf", pages, title="The Ledger")
    viewer.show_passage(str(path), 7, END_OF_7 + "\n" + START_OF_8, last_page=8)
    assert viewer.windowTitle() == "The Ledger"  # from the file's metadata
    assert viewer.passage_pages() == [7, 8]
    assert flat(viewer.marked_text(7)) == flat(END_OF_7)  # every line, and nothing else
    assert flat(viewer.marked_text(8)) == flat(START_OF_8)
    assert (viewer.current_page(), viewer.highlighted()) == (7, True)

    viewer.next_page()
    assert (viewer.current_page(), viewer.highlighted()) == (8, True)
    viewer.next_page()
    assert (viewer.current_page(), viewer.highlighted()) == (9, False)
    viewer.previous_page()
    viewer.previous_page()
    assert (viewer.current_page(), viewer.highlighted()) == (7, True)


def test_a_passage_on_one_page_is_marked_there_only(viewer: PdfViewer, big_pdf: Path) -> None:
    # page 4 repeats page 3's last paragraph word for word: it is not the cited passage
    viewer.show_passage(str(big_pdf), 3, pdfs.big_page_text(3), last_page=3)
    assert viewer.passage_pages() == [3]
    viewer.next_page()
    assert not viewer.highlighted()


def test_a_citation_deep_in_a_long_document_is_marked_at_once(viewer: PdfViewer, tmp_path: Path) -> None:
    path = pdfs.make_prose_pdf(tmp_path / "long.pdf", 150)
    text = pdfs.prose_page_texts(150)[139]
    viewer.show_passage(str(path), 140, text[:600])
    assert (viewer.current_page(), viewer.highlighted()) == (140, True)
    marked = flat(viewer.marked_text(140)).replace("- ", "")
    assert flat(text[:600]).rsplit(" ", 1)[0][:200] in marked


def test_the_same_file_is_not_loaded_again(viewer: PdfViewer, big_pdf: Path, tmp_path: Path,
                                           qtbot: Any) -> None:
    viewer.show_passage(str(big_pdf), 2, pdfs.big_page_text(2))
    with qtbot.assertNotEmitted(viewer.document().statusChanged):
        viewer.show_passage(str(big_pdf), 11, pdfs.big_page_text(11))
    assert (viewer.current_page(), viewer.passage_pages()) == (11, [11])
    other = pdfs.make_big_pdf(tmp_path / "other.pdf", 3)
    with qtbot.waitSignal(viewer.document().statusChanged, timeout=1000):
        viewer.show_passage(str(other), 11, pdfs.big_page_text(3))
    assert (viewer.current_page(), viewer.page_count()) == (3, 3)  # clamped to the last page
    assert viewer.highlighted()


def test_a_missing_file_shows_a_message_naming_it(viewer: PdfViewer, big_pdf: Path, tmp_path: Path) -> None:
    gone = tmp_path / "moved away.pdf"
    viewer.show_passage(str(gone), 3, "anything")
    assert str(gone) in viewer.message()
    assert "does not exist" in viewer.message()
    notice = viewer.findChild(QLabel, "notice")
    assert notice.text() == viewer.message()
    assert not notice.isHidden()
    assert viewer.view().isHidden()
    assert (viewer.current_page(), viewer.page_count(), viewer.highlighted()) == (0, 0, False)
    assert not viewer.open_action.isEnabled()

    viewer.show_passage(str(big_pdf), 4, pdfs.big_page_text(4))  # the next citation works
    assert viewer.message() == ""
    assert (viewer.current_page(), viewer.highlighted()) == (4, True)
    assert not viewer.view().isHidden()


@pytest.mark.parametrize(("make", "why"), [
    (lambda p: pdfs.make_corrupt_pdf(p), "not a PDF, or it is damaged"),
    (lambda p: pdfs.make_not_a_pdf(p, "text"), "not a PDF, or it is damaged"),
    (lambda p: pdfs.make_encrypted_pdf(p), "protected by a password"),
    (lambda p: pdfs.make_zero_page_pdf(p), "no pages"),
])
def test_a_file_that_cannot_be_read_shows_why(viewer: PdfViewer, tmp_path: Path, make: Any, why: str) -> None:
    path = make(tmp_path / "bad.pdf")
    viewer.show_passage(str(path), 1, "text")
    assert str(path) in viewer.message()
    assert why in viewer.message()
    assert viewer.open_action.isEnabled()  # the system's reader may still open it


def test_open_in_system_viewer_calls_the_opener_with_the_file_url(viewer: PdfViewer, big_pdf: Path) -> None:
    viewer.show_passage(str(big_pdf), 1, "")
    assert viewer.opened == []  # type: ignore[attr-defined]
    viewer.open_action.trigger()
    assert viewer.opened == [QUrl.fromLocalFile(str(big_pdf))]  # type: ignore[attr-defined]


def test_page_buttons_and_zoom(viewer: PdfViewer, big_pdf: Path) -> None:
    viewer.show_passage(str(big_pdf), 1, pdfs.big_page_text(1))
    assert not viewer.previous_action.isEnabled()
    viewer.next_action.trigger()
    assert viewer.current_page() == 2
    viewer.show_passage(str(big_pdf), 12, "")
    assert not viewer.next_action.isEnabled()
    viewer.next_page()
    assert viewer.current_page() == 12

    view = viewer.view()
    assert view.zoomMode() == QPdfView.ZoomMode.FitToWidth
    viewer.zoom_in_action.trigger()
    bigger = view.zoomFactor()
    assert view.zoomMode() == QPdfView.ZoomMode.Custom
    viewer.zoom_out_action.trigger()
    viewer.zoom_out_action.trigger()
    assert view.zoomFactor() < bigger
    assert viewer.current_page() == 12  # zooming never moves to another page
    viewer.fit_action.trigger()
    assert view.zoomMode() == QPdfView.ZoomMode.FitToWidth


def pixels(image: QImage) -> np.ndarray:
    """[h, w, 3] uint8 in B, G, R order."""
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    flat = np.frombuffer(image.constBits(), np.uint8)
    return flat.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, :image.width(), :3].copy()


def ink(image: QImage) -> int:
    """Pixels of grey text (darker than the view's grey background, not coloured)."""
    a = pixels(image).astype(int)
    grey = (a.max(axis=2) - a.min(axis=2)) < 12
    return int((grey & (a.max(axis=2) < 140)).sum())


def test_screenshot_shows_the_page_text_and_the_passage_marked(
        viewer: PdfViewer, tmp_path: Path, qtbot: Any) -> None:
    pages = ["Filler.", "An opening paragraph on page two.\n\n" + END_OF_7 + "\n\nA closing paragraph."]
    path = pdfs.make_pdf(tmp_path / "two.pdf", pages)
    viewer.show_passage(str(path), 2, END_OF_7)
    viewport = viewer.view().viewport()
    qtbot.waitUntil(lambda: ink(viewport.grab().toImage()) > 400, timeout=5000)  # rendered
    shot = tmp_path / "viewer.png"
    assert viewport.grab().save(str(shot))
    a = pixels(QImage(str(shot))).astype(int)
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 20  # not blank
    # the mark: white multiplied by the mark's colour (B, G, R = 84, 226, 255)
    yellow = (abs(a[..., 0] - 84) < 8) & (abs(a[..., 1] - 226) < 8) & (a[..., 2] > 247)
    inside = np.zeros(yellow.shape, bool)
    for rect in viewer.marked_rects(2):
        inside[max(0, int(rect.top()) - 1):int(rect.bottom()) + 2,
               max(0, int(rect.left()) - 1):int(rect.right()) + 2] = True
    assert yellow.sum() > 2000
    assert not (yellow & ~inside).any()  # nothing but the passage is marked
    # the text under the mark is still dark: ink (or ink multiplied by the mark) inside
    assert ((a.max(axis=2) < 120) & inside).sum() > 200
    assert ink(viewer.grab().toImage()) > 400


def test_a_missing_file_screenshot_shows_the_message(viewer: PdfViewer, tmp_path: Path) -> None:
    viewer.show_passage(str(tmp_path / "gone.pdf"), 1)
    a = pixels(viewer.grab().toImage())
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 2  # text drawn, not an empty page


_RESIZE_SWEEP = """
import sys, time
from PySide6.QtWidgets import QApplication
from grit_desktop.ui.pdf_viewer import PdfViewer
app = QApplication([])
viewer = PdfViewer()
viewer.resize(500, 700)
viewer.show()
viewer.show_passage(sys.argv[1], 1, "", "")
for height in range(600, 800, 3):  # heights where an A4 page fits with a scroll bar or without
    viewer.resize(500, height)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.05:
        app.processEvents()
print("ok")
"""


def test_no_height_makes_the_view_relayout_for_ever(tmp_path: Path) -> None:
    """Fit to width with a scroll bar that comes and goes froze the window at some sizes; in a
    child process, since a relayout loop never returns to the test."""
    import os
    import subprocess
    import sys

    path = pdfs.make_pdf(tmp_path / "a4.pdf", ["A page of A4.", "Another."])
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    try:
        run = subprocess.run([sys.executable, "-c", _RESIZE_SWEEP, str(path)], env=env,
                             capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the viewer relayouts for ever at some height")
    assert run.returncode == 0 and run.stdout.split() == ["ok"], run.stderr


# --------------------------------------------------------------------------------------------
# documents that are not PDFs: shown as the engine's converted copy


@pytest.fixture
def book_viewer(qtbot: Any, tmp_path: Path) -> PdfViewer:
    opened: list[QUrl] = []
    widget = PdfViewer(opener=opened.append, cache_dir=tmp_path / "cache")
    widget.opened = opened  # type: ignore[attr-defined]
    widget.resize(700, 900)
    qtbot.addWidget(widget)
    return widget


def converted(qtbot: Any, viewer: PdfViewer) -> None:
    """Wait for the conversion the viewer started (it returned at once, saying so)."""
    qtbot.waitUntil(lambda: not viewer.converting(), timeout=60_000)


def test_an_epub_source_opens_at_its_page_with_the_passage_marked(book_viewer: PdfViewer,
                                                                   tmp_path: Path, qtbot: Any) -> None:
    from grit_desktop.engine.documents.pdf import read_document
    from tests import documents_fixtures as docs

    path = docs.make_epub(tmp_path / "book.epub")
    book = read_document(path)
    # the second chapter's first two paragraphs, on the page it starts
    page = next(p for p in book.pages if docs.marker(1) in p.text)
    assert page.number > 1
    start = page.text.index(docs.marker(1))
    passage = "\n\n".join(page.text[start:].split("\n\n")[:2])
    book_viewer.show_passage(str(path), page.number, passage, "Lighthouse")
    # the conversion runs off the GUI thread: the call returns at once and says what is coming
    assert book_viewer.converting() and book_viewer.message() == "Preparing book.epub for viewing…"
    assert book_viewer.current_page() == 0
    converted(qtbot, book_viewer)
    assert book_viewer.message() == ""
    assert book_viewer.page_count() == book.page_count
    assert book_viewer.current_page() == page.number
    assert book_viewer.highlighted() and book_viewer.passage_pages() == [page.number]
    assert flat(book_viewer.marked_text(page.number)) == flat(passage)
    book_viewer.open_externally()  # the system viewer gets the book itself, not the copy
    assert book_viewer.opened == [QUrl.fromLocalFile(str(path))]  # type: ignore[attr-defined]
    assert len(list((tmp_path / "cache").glob("*.pdf"))) == 1


@pytest.mark.parametrize("ext", [".docx", ".md", ".txt", ".xps"])
def test_other_formats_open_at_the_cited_page(book_viewer: PdfViewer, tmp_path: Path, ext: str,
                                              qtbot: Any) -> None:
    from grit_desktop.engine.documents.pdf import read_document
    from tests import documents_fixtures as docs

    path = docs.make(tmp_path / f"book{ext}")
    book = read_document(path)
    last = book.pages[-1]
    passage = last.text.split("\n\n")[-1]
    book_viewer.show_passage(str(path), last.number, passage)
    converted(qtbot, book_viewer)
    assert book_viewer.current_page() == last.number == book_viewer.page_count()
    assert book_viewer.highlighted() and flat(book_viewer.marked_text(last.number)) == flat(passage)


def test_a_broken_epub_shows_why(book_viewer: PdfViewer, tmp_path: Path, qtbot: Any) -> None:
    from tests import documents_fixtures as docs

    path = docs.make_broken(tmp_path / "broken.epub")
    book_viewer.show_passage(str(path), 3, "anything")
    converted(qtbot, book_viewer)
    assert book_viewer.message() == (f"Cannot show {path}: it is damaged and cannot be read "
                                     "(not a readable EPUB file).")
    assert book_viewer.current_page() == 0 and not book_viewer.highlighted()


def test_only_the_latest_citation_is_shown_after_conversions(book_viewer: PdfViewer, tmp_path: Path,
                                                             qtbot: Any, big_pdf: Path) -> None:
    """A book clicked, then a PDF before the book's copy is made: the PDF stays shown."""
    from tests import documents_fixtures as docs

    path = docs.make_epub(tmp_path / "book.epub")
    book_viewer.show_passage(str(path), 2, "")
    book_viewer.show_passage(str(big_pdf), 5, pdfs.big_page_text(5))
    assert not book_viewer.converting() and book_viewer.current_page() == 5
    qtbot.wait(3000)  # the book's conversion ends meanwhile, and is dropped
    assert book_viewer.current_page() == 5 and book_viewer.highlighted()
