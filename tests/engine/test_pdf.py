"""`read_pdf` on generated PDFs: texts, pages, metadata, reading order, every error, big files."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import logging
import os
import pickle
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from grit_desktop.engine.documents import pdf
from grit_desktop.engine.documents.pdf import Block, PdfError, clean_block, order_blocks, read_pdf
from grit_desktop.errors import GritError
from tests import pdfs

PARAGRAPHS = [
    "A Short Guide to Warranties",
    "The warranty covers parts and labour for two years from the date of purchase. Damage "
    "caused by misuse is not covered, and neither is normal wear.",
    "To make a claim, keep the receipt and call the number on the back of the manual.",
]


def expect_error(path: Path, kind: str, **kwargs: Any) -> PdfError:
    with pytest.raises(PdfError) as info:
        read_pdf(path, **kwargs)
    err = info.value
    assert err.kind == kind, str(err)
    message = str(err)
    assert "\n" not in message and len(message) < 300
    assert path.name in message
    return err


# --------------------------------------------------------------------------------------------
# pages, texts, metadata


def test_pages_texts_and_file_facts(tmp_path: Path) -> None:
    pages = ["\n\n".join(PARAGRAPHS), "Page two says one thing.", "Page three.\n\nTwo paragraphs."]
    path = pdfs.make_pdf(tmp_path / "doc.pdf", pages)
    doc = read_pdf(path)
    assert doc.page_count == 3
    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert [p.label for p in doc.pages] == ["1", "2", "3"]
    assert [p.text for p in doc.pages] == pages
    assert not any(p.has_images or p.ocr for p in doc.pages)
    assert doc.path == path and doc.size == path.stat().st_size and doc.mtime == path.stat().st_mtime
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.text_chars == sum(len(p) for p in pages)
    assert doc.scanned_pages == []


def test_str_path_and_empty_pages_between(tmp_path: Path) -> None:
    path = pdfs.make_pdf(tmp_path / "gaps.pdf", ["First.", "", "Third."])
    doc = read_pdf(str(path))
    assert [p.text for p in doc.pages] == ["First.", "", "Third."]
    assert doc.scanned_pages == []  # a blank page is not a scan


def test_metadata_title_and_author(tmp_path: Path) -> None:
    path = pdfs.make_pdf(tmp_path / "m.pdf", ["Body text."], title=" The  Real\nTitle ", author="Ada L.")
    doc = read_pdf(path)
    assert (doc.title, doc.author) == ("The Real Title", "Ada L.")


@pytest.mark.parametrize("meta", [None, "", "untitled", "Microsoft Word - draft.docx", "h.pdf", "   "])
def test_title_falls_back_to_a_heading_of_page_one(tmp_path: Path, meta: str | None) -> None:
    path = pdfs.make_pdf(tmp_path / "h.pdf", ["\n\n".join(PARAGRAPHS)], title=meta)
    doc = read_pdf(path)
    assert doc.title == "A Short Guide to Warranties"
    assert doc.author == ""


def test_title_falls_back_to_the_file_stem(tmp_path: Path) -> None:
    path = pdfs.make_pdf(tmp_path / "annual report 2024.pdf", ["\n\n".join(PARAGRAPHS[1:])])
    assert read_pdf(path).title == "annual report 2024"


def test_page_labels(tmp_path: Path) -> None:
    labels: list[dict[str, object]] = [
        {"startpage": 0, "prefix": "", "style": "r", "firstpagenum": 1},
        {"startpage": 2, "prefix": "A-", "style": "D", "firstpagenum": 1},
        {"startpage": 4, "prefix": "", "style": "a", "firstpagenum": 1},
        {"startpage": 6, "prefix": "Cover", "style": "", "firstpagenum": 1},
    ]
    path = pdfs.make_pdf(tmp_path / "l.pdf", [f"Page {i}." for i in range(7)], labels=labels)
    doc = read_pdf(path)
    assert [p.label for p in doc.pages] == ["i", "ii", "A-1", "A-2", "a", "b", "Cover"]
    assert [p.number for p in doc.pages] == list(range(1, 8))
    with pymupdf.open(path) as check:  # the same as PyMuPDF's own, page by page
        assert [p.label for p in doc.pages] == [page.get_label() for page in check]


def test_unicode_scripts_come_out_as_text(tmp_path: Path) -> None:
    doc = read_pdf(pdfs.make_unicode_pdf(tmp_path / "u.pdf"))
    assert [p.text for p in doc.pages] == list(pdfs.UNICODE_PAGES.values())


def test_cyrillic_with_embedded_font_and_title(tmp_path: Path) -> None:
    text = "Глава первая\n\nЭто первый абзац. Он написан по-русски."
    doc = read_pdf(pdfs.make_pdf(tmp_path / "ru.pdf", [text], fontfile=pdfs.DEJAVU))
    assert doc.pages[0].text == text
    assert doc.title == "Глава первая"


def test_line_breaks_inside_a_paragraph_are_joined(tmp_path: Path) -> None:
    page = "This is infor-\nmation on two lines,\nand Jean-\nPierre keeps his hyphen."
    doc = read_pdf(pdfs.make_pdf(tmp_path / "hy.pdf", [page]))
    assert doc.pages[0].text == "This is information on two lines, and Jean-Pierre keeps his hyphen."


@pytest.mark.parametrize(("raw", "clean"), [
    ("infor-\nmation  is\tgood\n", "information is good"),
    ("1990-\n2000 and well-\nKnown", "1990-2000 and well-Known"),
    ("a dash -\nthen more", "a dash - then more"),
    ("soft\u00ad\nhyphen", "softhyphen"),
    ("中文\n文本。\nNext line", "中文文本。 Next line"),
    ("bell\x07 and nul\x00 go", "bell and nul go"),
    ("\ufb01ne \ufe8d\ufee0", "fine \u0627\u0644"),  # ligature, Arabic presentation forms
    ("\u00a0 non-breaking\u00a0space \n\n  ", "non-breaking space"),
    (" \n \n", ""),
    ("plain\nascii lines\n", "plain ascii lines"),
    ("runs  of\n spaces \n", "runs of spaces"),
    ("tab\tand\x0bvertical tab\n", "tab andvertical tab"),
])
def test_clean_block(raw: str, clean: str) -> None:
    assert clean_block(raw) == clean


# --------------------------------------------------------------------------------------------
# reading order


def test_two_columns_read_column_by_column(tmp_path: Path) -> None:
    left = ["Left one. " * 12, "Left two. " * 12]
    right = ["Right one " * 12, "Right two " * 12]  # same line count: the paragraphs line up
    path = pdfs.make_two_column_pdf(tmp_path / "2c.pdf", left, right, header="Header Title",
                                    footer="page foot")
    paras = read_pdf(path).pages[0].text.split("\n\n")
    assert [p.split()[0] + " " + p.split()[1] for p in paras] == [
        "Header Title", "Left one.", "Left two.", "Right one", "Right two", "page foot"]
    assert paras[1] == ("Left one. " * 12).strip()


def test_two_columns_of_unequal_length(tmp_path: Path) -> None:
    left = [f"Left {i} " * 10 for i in range(4)]
    right = ["Right short " * 5]
    paras = read_pdf(pdfs.make_two_column_pdf(tmp_path / "u.pdf", left, right)).pages[0].text.split("\n\n")
    assert [p.split()[0] + p.split()[1] for p in paras] == ["Left0", "Left1", "Left2", "Left3", "Rightshort"]


def test_single_column_page_reads_top_to_bottom(tmp_path: Path) -> None:
    boxes = [
        ((400, 60, 540, 80), "1 March 2024"),          # a date at the top right
        ((72, 100, 540, 130), "Dear customer,"),
        ((72, 140, 540, 200), "thank you for your letter. " * 5),
        ((72, 210, 300, 230), "Yours sincerely,"),
        ((300, 700, 320, 720), "3"),                     # a page number, centred
    ]
    paras = read_pdf(pdfs.make_layout_pdf(tmp_path / "s.pdf", boxes)).pages[0].text.split("\n\n")
    assert paras == ["1 March 2024", "Dear customer,", ("thank you for your letter. " * 5).strip(),
                     "Yours sincerely,", "3"]


def _b(x0: float, y0: float, x1: float, y1: float, text: str) -> Block:
    return Block(x0, y0, x1, y1, text)


def test_order_blocks_contents_table_reads_row_by_row() -> None:
    rows = [(_b(72, 100 + 20 * i, 300, 112 + 20 * i, f"Chapter {i}"),
             _b(520, 100 + 20 * i, 540, 112 + 20 * i, str(i * 7))) for i in range(5)]
    blocks = [b for row in rows for b in reversed(row)]
    expected = [t for i in range(5) for t in (f"Chapter {i}", str(i * 7))]
    assert [b.text for b in order_blocks(blocks)] == expected


def test_order_blocks_three_columns_under_a_title() -> None:
    title = _b(72, 50, 540, 70, "Title")
    cols = [[_b(72 + 160 * c, 100 + 60 * r, 212 + 160 * c, 150 + 60 * r, f"c{c}r{r}") for r in range(3)]
            for c in range(3)]
    blocks = [title] + [b for r in range(3) for c in range(3) for b in [cols[c][r]]]
    expected = ["Title"] + [f"c{c}r{r}" for c in range(3) for r in range(3)]
    assert [b.text for b in order_blocks(blocks)] == expected


def test_order_blocks_columns_then_full_width_then_columns() -> None:
    top = [_b(72, 100, 290, 200, "L1"), _b(310, 100, 540, 200, "R1")]
    figure = [_b(72, 220, 540, 260, "Figure")]
    bottom = [_b(72, 280, 290, 380, "L2"), _b(310, 280, 540, 380, "R2")]
    assert [b.text for b in order_blocks(bottom + figure + top)] == ["L1", "R1", "Figure", "L2", "R2"]


def test_order_blocks_running_head_and_foot_far_from_the_columns() -> None:
    head = _b(400, 30, 540, 42, "Journal of Tests, vol. 3")  # right-aligned, far above
    foot = _b(72, 750, 120, 762, "page 7")                     # left-aligned, far below
    cols = [_b(72, 100, 290, 300, "L1"), _b(72, 310, 290, 500, "L2"),
            _b(310, 100, 540, 280, "R1"), _b(310, 290, 540, 520, "R2")]
    assert [b.text for b in order_blocks([foot, *cols, head])] == [
        "Journal of Tests, vol. 3", "L1", "L2", "R1", "R2", "page 7"]


def test_order_blocks_right_column_starting_higher() -> None:
    blocks = [_b(310, 90, 540, 300, "R"), _b(72, 120, 290, 250, "L1"), _b(72, 260, 290, 320, "L2")]
    assert [b.text for b in order_blocks(blocks)] == ["L1", "L2", "R"]


def test_order_blocks_many_blocks_fall_back_to_top_left() -> None:
    blocks = [_b(72 + (i % 7) * 70, 10 + (i // 7) * 3, 130 + (i % 7) * 70, 12 + (i // 7) * 3, str(i))
              for i in range(pdf.MAX_LAYOUT_BLOCKS + 5)]
    ordered = order_blocks(list(reversed(blocks)))
    assert [b.text for b in ordered] == [str(i) for i in range(len(blocks))]


# --------------------------------------------------------------------------------------------
# errors


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nowhere.pdf", "missing")


def test_file_vanishing_while_being_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = pdfs.make_pdf(tmp_path / "gone.pdf", ["Soon gone."])
    real_open = pymupdf.open

    def open_after_delete(*args: Any, **kwargs: Any) -> Any:
        path.unlink()
        return real_open(*args, **kwargs)

    monkeypatch.setattr(pdf.pymupdf, "open", open_after_delete)
    expect_error(path, "missing")


def test_file_vanishing_before_hashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = pdfs.make_pdf(tmp_path / "gone.pdf", ["Soon gone."])
    real_hash = pdf.file_sha256

    def hash_after_delete(p: Path, chunk_size: int = 1 << 20) -> str:
        p.unlink()
        return real_hash(p, chunk_size)

    monkeypatch.setattr(pdf, "file_sha256", hash_after_delete)
    expect_error(path, "missing")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_by_mode(tmp_path: Path) -> None:
    path = pdfs.make_pdf(tmp_path / "locked.pdf", ["Locked."])
    path.chmod(0)
    try:
        expect_error(path, "unreadable")
    finally:
        path.chmod(0o644)


def test_unreadable_file_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = pdfs.make_pdf(tmp_path / "locked.pdf", ["Locked."])
    real_open = builtins.open

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    err = expect_error(path, "unreadable")
    assert "permission denied" in str(err)


def test_folder_is_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "folder.pdf"
    folder.mkdir()
    expect_error(folder, "unreadable")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.touch()
    expect_error(path, "empty-file")


@pytest.mark.parametrize("kind", ["png", "text", "zip"])
def test_not_a_pdf(tmp_path: Path, kind: str) -> None:
    expect_error(pdfs.make_not_a_pdf(tmp_path / f"{kind}.pdf", kind), "not-pdf")


def test_header_within_the_first_kilobyte_is_accepted(tmp_path: Path) -> None:
    doc = read_pdf(pdfs.make_pdf_with_late_header(tmp_path / "j.pdf", 500))
    assert doc.pages[0].text == "Text after junk."
    expect_error(pdfs.make_pdf_with_late_header(tmp_path / "k.pdf", 1100), "not-pdf")


@pytest.mark.parametrize("mode", ["garbled", "truncated", "no-page-tree"])
def test_corrupt(tmp_path: Path, mode: str) -> None:
    expect_error(pdfs.make_corrupt_pdf(tmp_path / f"{mode}.pdf", mode), "corrupt")


def test_lightly_damaged_file_is_repaired_and_read(tmp_path: Path) -> None:
    path = pdfs.make_damaged_pdf(tmp_path / "damaged.pdf", ["First page.", "Second page."])
    assert [p.text for p in read_pdf(path).pages] == ["First page.", "Second page."]


def test_encrypted_with_a_user_password(tmp_path: Path) -> None:
    err = expect_error(pdfs.make_encrypted_pdf(tmp_path / "secret.pdf"), "encrypted")
    assert "password" in str(err)


def test_owner_password_only_opens(tmp_path: Path) -> None:
    path = pdfs.make_owner_only_encrypted_pdf(tmp_path / "perm.pdf", ["Readable by all."])
    with pymupdf.open(path) as check:
        assert check.is_pdf and check.metadata["encryption"]  # really encrypted
    assert read_pdf(path).pages[0].text == "Readable by all."


def test_zero_pages(tmp_path: Path) -> None:
    expect_error(pdfs.make_zero_page_pdf(tmp_path / "zero.pdf"), "no-pages")


def test_scanned_document_without_ocr(tmp_path: Path) -> None:
    err = expect_error(pdfs.make_image_only_pdf(tmp_path / "scan.pdf", 2), "no-text")
    assert "scanned" in str(err) and "OCR" in str(err)


def test_blank_document(tmp_path: Path) -> None:
    err = expect_error(pdfs.make_blank_pdf(tmp_path / "blank.pdf"), "no-text")
    assert "scanned" not in str(err)


def test_scanned_pages_among_text_pages(tmp_path: Path) -> None:
    doc = read_pdf(pdfs.make_image_and_text_pdf(tmp_path / "mixed.pdf", "Typed page."))
    assert [(p.text, p.has_images) for p in doc.pages] == [("Typed page.", False), ("", True)]
    assert doc.scanned_pages == [2]


def test_too_many_pages(tmp_path: Path) -> None:
    err = expect_error(pdfs.make_pdf(tmp_path / "long.pdf", ["a", "b", "c"]), "too-large", max_pages=2)
    assert "3 pages" in str(err) and "2 pages" in str(err)


def test_too_many_bytes(tmp_path: Path) -> None:
    path = pdfs.make_pdf(tmp_path / "big.pdf", ["x" * 50])
    err = expect_error(path, "too-large", max_bytes=200)
    assert f"is {path.stat().st_size} bytes; files over 200 bytes" in str(err)
    err = expect_error(path, "too-large", max_bytes=1)
    assert pdf._human_bytes(3 * 1024**3) == "3.0 GB" and pdf._human_bytes(1536) == "1.5 KB"


def test_pymupdf_comes_without_its_unused_add_ons() -> None:
    """The layout analyser (onnxruntime) and pymupdf4llm would triple the reader's start-up."""
    code = ("import sys, grit_desktop.engine.documents.pdf as p; "
            "print(sorted(m for m in ('onnxruntime', 'pymupdf.layout', 'pymupdf4llm', 'numpy') "
            "if sys.modules.get(m) is not None)); print(p.pymupdf.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "pymupdf"]


def test_pdf_error_contract() -> None:
    err = PdfError("corrupt", "x.pdf is damaged")
    assert isinstance(err, GritError) and err.kind == "corrupt" and str(err) == "x.pdf is damaged"
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.kind, str(back)) == (PdfError, "corrupt", "x.pdf is damaged")
    with pytest.raises(ValueError, match="unknown"):
        PdfError("bad-kind", "nope")


def test_a_failing_page_is_kept_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    path = pdfs.make_pdf(tmp_path / "p.pdf", ["One.", "Two.", "Three."])
    real = pdf.page_text

    def flaky(page: Any, textpage: Any = None) -> tuple[str, bool]:
        if page.number == 1:
            raise RuntimeError("MuPDF error: broken content stream")
        return real(page, textpage)

    monkeypatch.setattr(pdf, "page_text", flaky)
    with caplog.at_level(logging.WARNING, logger="grit_desktop.engine.documents.pdf"):
        doc = read_pdf(path)
    assert [p.text for p in doc.pages] == ["One.", "", "Three."]
    assert any("page 2" in r.getMessage() for r in caplog.records)


def test_no_page_readable_is_corrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(page: Any, textpage: Any = None) -> tuple[str, bool]:
        raise RuntimeError("MuPDF error")

    monkeypatch.setattr(pdf, "page_text", broken)
    expect_error(pdfs.make_pdf(tmp_path / "p.pdf", ["One.", "Two."]), "corrupt")


# --------------------------------------------------------------------------------------------
# OCR (Tesseract's data is not installed here: MuPDF's OCR call is replaced by a text page)


def test_ocr_available_follows_tessdata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    assert pdf.ocr_available() is False
    (tmp_path / "eng.traineddata").write_bytes(b"\0")
    assert pdf.ocr_available() is True


def _fake_ocr(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """OCR that "recognises" ``text``: written onto the page in memory, then extracted."""

    def get_textpage_ocr(self: Any, **kwargs: Any) -> Any:
        assert kwargs["full"] and kwargs["language"] == pdf.OCR_LANGUAGE
        if text:
            self.insert_text((72, 72), text)
        return self.get_textpage(flags=kwargs["flags"])

    monkeypatch.setattr(pdf, "ocr_available", lambda: True)
    monkeypatch.setattr(pymupdf.Page, "get_textpage_ocr", get_textpage_ocr)


def test_ocr_reads_scanned_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_ocr(monkeypatch, "Recognised text.")
    path = pdfs.make_image_and_text_pdf(tmp_path / "mixed.pdf", "Typed page.")
    plain = read_pdf(path)
    assert plain.scanned_pages == [2] and not plain.pages[1].ocr
    doc = read_pdf(path, ocr=True)
    assert [(p.text, p.ocr) for p in doc.pages] == [("Typed page.", False), ("Recognised text.", True)]
    assert doc.scanned_pages == []


def test_ocr_finding_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_ocr(monkeypatch, "")
    err = expect_error(pdfs.make_image_only_pdf(tmp_path / "scan.pdf"), "no-text", ocr=True)
    assert "OCR found no text" in str(err)


@pytest.mark.skipif(not pdf.ocr_available(), reason="Tesseract's English data is not installed")
def test_real_ocr_reads_a_scan(tmp_path: Path) -> None:
    """Tesseract itself (installed by the README's commands), on a 150 dpi scan of typed pages."""
    path = pdfs.make_scanned_pdf(tmp_path / "scan.pdf", [
        "The X200 warranty lasts seventeen months from the date of purchase.",
        "Page two has the serial number XJ4471 printed on it."])
    with pytest.raises(PdfError, match="OCR is off"):
        read_pdf(path)
    calls: list[tuple[int, int]] = []
    doc = read_pdf(path, ocr=True, on_ocr_page=lambda i, n: calls.append((i, n)))
    assert calls == [(0, 2), (1, 2)]
    assert [p.ocr for p in doc.pages] == [True, True] and doc.scanned_pages == []
    assert "warranty lasts seventeen months" in doc.pages[0].text
    assert "XJ4471" in doc.pages[1].text


# --------------------------------------------------------------------------------------------
# the source is never touched; large inputs


@pytest.mark.parametrize("make", ["plain", "damaged", "owner", "encrypted", "corrupt"])
def test_source_files_are_left_unchanged(tmp_path: Path, make: str) -> None:
    makers = {
        "plain": lambda p: pdfs.make_pdf(p, ["Text."], title="T"),
        "damaged": lambda p: pdfs.make_damaged_pdf(p, ["Text."]),
        "owner": lambda p: pdfs.make_owner_only_encrypted_pdf(p),
        "encrypted": lambda p: pdfs.make_encrypted_pdf(p),
        "corrupt": lambda p: pdfs.make_corrupt_pdf(p),
    }
    path = makers[make](tmp_path / "src.pdf")
    old_time = time.time() - 3600
    os.utime(path, (old_time, old_time))
    before = (path.read_bytes(), path.stat().st_mtime, sorted(tmp_path.iterdir()))
    with contextlib.suppress(PdfError):
        read_pdf(path)
    assert (path.read_bytes(), path.stat().st_mtime, sorted(tmp_path.iterdir())) == before


def test_file_sha256_in_small_chunks(tmp_path: Path) -> None:
    path = tmp_path / "bytes.bin"
    path.write_bytes(bytes(range(256)) * 40)
    assert pdf.file_sha256(path, chunk_size=7) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_huge_page(tmp_path: Path) -> None:
    path = pdfs.make_huge_page_pdf(tmp_path / "huge.pdf", 5000)
    tracemalloc.start()
    try:
        doc = read_pdf(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    expected = pdfs.huge_page_text(5000)
    assert len(expected) > 150_000
    assert doc.pages[0].text == expected
    assert peak < 40 * len(expected)  # a few copies of the text, not a blow-up


def test_five_thousand_pages(tmp_path: Path) -> None:
    path = pdfs.make_big_pdf(tmp_path / "5k.pdf", 5000)
    t0 = time.perf_counter()
    doc = read_pdf(path)
    elapsed = time.perf_counter() - t0
    assert doc.page_count == len(doc.pages) == 5000
    wrong = [p.number for p in doc.pages if p.text != pdfs.big_page_text(p.number)]
    assert wrong == []
    assert [p.label for p in doc.pages[::1000]] == ["1", "1001", "2001", "3001", "4001"]
    assert elapsed < 60  # about 1 s here; a quadratic step would show


@pytest.mark.slow
def test_five_thousand_pages_of_prose_in_bounded_memory(tmp_path: Path) -> None:
    path = pdfs.make_prose_pdf(tmp_path / "prose.pdf", 5000)
    code = ("import resource, sys\n"
            "from grit_desktop.engine.documents.pdf import read_pdf\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "doc = read_pdf(sys.argv[1])\n"
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print((after - before) * 1024, doc.text_chars, doc.page_count)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    grown, chars, pages = map(int, done.stdout.split())
    assert pages == 5000 and chars > 12_000_000
    assert grown < 3 * chars + 64 * 2**20  # the text, kept once, and MuPDF's working set
