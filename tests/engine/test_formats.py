"""Every format besides PDF, on real files written by the tests: text on its page, headings,
stable layout, titles, the viewer's converted copy, broken files and folder search."""

from __future__ import annotations

import re
from pathlib import Path

import pymupdf
import pytest

from grit_desktop.engine.documents import formats
from grit_desktop.engine.documents.parsing import ChunkOptions, Parsed, parse_file
from grit_desktop.engine.documents.pdf import PdfError, read_document
from grit_desktop.engine.index.files import find_documents
from tests import documents_fixtures as docs
from tests import pdfs

REFLOWABLE = [".epub", ".mobi", ".fb2", ".html", ".xhtml", ".txt", ".md", ".docx"]
NAMES = {".epub": "EPUB", ".mobi": "MOBI", ".fb2": "FB2", ".html": "HTML", ".xhtml": "XHTML",
         ".txt": "plain text", ".md": "Markdown", ".docx": "DOCX", ".xps": "XPS"}
#: The headings each format gives the chapters (EPUB: its table of contents' titles).
CHAPTER_HEADINGS = {ext: list(docs.CHAPTERS) for ext in REFLOWABLE}
CHAPTER_HEADINGS[".epub"] = [f"Chapter {k + 1}: {t}" for k, t in enumerate(docs.CHAPTERS)]
CHAPTER_HEADINGS[".txt"] = ["", "", ""]  # plain text has no headings


@pytest.fixture
def options(tiny_model_dir: Path) -> ChunkOptions:
    return ChunkOptions(str(tiny_model_dir), chunk_tokens=64, overlap_tokens=8)


def flat(text: str) -> str:
    return " ".join(text.split())


def page_of(doc_pages: list[str], sentence: str) -> int:
    """The 1-based page whose text holds ``sentence`` (0 when none does)."""
    return next((i + 1 for i, t in enumerate(doc_pages) if sentence in flat(t)), 0)


# --------------------------------------------------------------------------------------------
# reading


@pytest.mark.parametrize("ext", REFLOWABLE)
def test_reflowable_formats_are_read_in_pages(tmp_path: Path, ext: str) -> None:
    path = docs.make(tmp_path / f"book{ext}")
    doc = read_document(path)
    assert doc.format == NAMES[ext]
    assert doc.page_count == len(doc.pages) >= 3  # laid out over several A5 pages
    texts = [p.text for p in doc.pages]
    assert page_of(texts, docs.FIRST) == 1
    assert page_of(texts, docs.LAST) == doc.page_count
    whole = flat(" ".join(texts))
    for k, (_, paragraphs) in enumerate(docs.BOOK):
        assert docs.marker(k) in whole
        assert flat(paragraphs[-1]) in whole  # nothing is lost
    assert [p.label for p in doc.pages] == [str(n) for n in range(1, doc.page_count + 1)]
    if ext == ".txt":
        assert doc.title == "Installation" and doc.headings == []
    else:
        assert doc.title == docs.TITLE
    if ext in (".epub", ".fb2"):
        assert doc.author == docs.AUTHOR


@pytest.mark.parametrize("ext", REFLOWABLE)
def test_pages_are_those_of_the_fixed_layout_and_stable(tmp_path: Path, ext: str) -> None:
    path = docs.make(tmp_path / f"book{ext}")
    first, second = read_document(path), read_document(path)
    assert [p.text for p in first.pages] == [p.text for p in second.pages]
    assert first.headings == second.headings
    # the same pages MuPDF lays out in formats.LAYOUT, page for page
    with pymupdf.open(path, filetype=formats.FORMATS[ext].filetype) as raw:
        layout = formats.LAYOUT
        raw.layout(width=layout.width, height=layout.height, fontsize=layout.fontsize)
        assert raw.page_count == first.page_count
        for k in range(len(docs.CHAPTERS)):
            words = docs.marker(k).split()[:5]
            hits = [i + 1 for i in range(raw.page_count) if " ".join(words) in flat(raw[i].get_text())]
            assert hits and hits[0] == page_of([p.text for p in first.pages], " ".join(words))


def test_epub_chapters_start_their_pages_and_keep_their_toc_titles(tmp_path: Path) -> None:
    doc = read_document(docs.make_epub(tmp_path / "book.epub"))
    assert [h.title for h in doc.headings] == CHAPTER_HEADINGS[".epub"]
    assert [h.level for h in doc.headings] == [1, 1, 1]
    pages = [p.text for p in doc.pages]
    for k, h in enumerate(doc.headings):
        assert h.char == 0 and pages[h.page - 1].startswith(docs.CHAPTERS[k])
        assert page_of(pages, docs.marker(k)) == h.page
    assert doc.headings[0].page == 1 and doc.headings[1].page > 1


@pytest.mark.parametrize("ext", [".fb2", ".html", ".xhtml", ".md", ".docx", ".mobi"])
def test_headings_are_placed_where_their_title_is(tmp_path: Path, ext: str) -> None:
    doc = read_document(docs.make(tmp_path / f"book{ext}"))
    chapters = [h for h in doc.headings if h.title in docs.CHAPTERS]
    assert [h.title for h in chapters] == list(docs.CHAPTERS)
    for h in chapters:
        text = doc.pages[h.page - 1].text
        assert text[h.char:].startswith(h.title)
    if ext == ".md":  # the document's own title is its level-1 heading, chapters level 2
        assert doc.headings[0].title == docs.TITLE and doc.headings[0].level == 1
        assert {h.level for h in chapters} == {2}


def test_docx_tables_are_read(tmp_path: Path) -> None:
    doc = read_document(docs.make_docx(tmp_path / "book.docx"))
    whole = flat(" ".join(p.text for p in doc.pages))
    for cell in ("Lamp type", "Hours", "Argand burner", "Twelve"):
        assert cell in whole


def test_xps_keeps_its_own_pages(tmp_path: Path) -> None:
    doc = read_document(docs.make_xps(tmp_path / "plate.xps"))
    assert doc.format == "XPS" and doc.page_count == 2
    assert [p.text for p in doc.pages] == ["\n\n".join(lines) for lines in docs.XPS_PAGES]
    oxps = tmp_path / "plate.oxps"
    oxps.write_bytes((tmp_path / "plate.xps").read_bytes())
    assert [p.text for p in read_document(oxps).pages] == [p.text for p in doc.pages]


def test_pdf_bookmarks_become_headings(tmp_path: Path) -> None:
    path = pdfs.make_pdf(tmp_path / "b.pdf", ["Preface\n\nWhy this book.", "Setup\n\nInstall it.",
                                              "More setup text.\n\nUsage\n\nRun it."])
    with pymupdf.open(path) as d:
        d.set_toc([[1, "Preface", 1], [1, "Setup", 2], [2, "Usage", 3]])
        d.save(tmp_path / "toc.pdf")
    doc = read_document(tmp_path / "toc.pdf")
    assert [(h.title, h.page, h.char) for h in doc.headings] == [
        ("Preface", 1, 0), ("Setup", 2, 0), ("Usage", 3, len("More setup text.\n\n"))]


# --------------------------------------------------------------------------------------------
# chunks and their headings


def chapter_of(chunk_text: str) -> int | None:
    """The chapter of `docs.BOOK` whose text holds the start of ``chunk_text`` (None when that
    is not one chapter's: it spans a chapter's title, or the words recur)."""
    head = flat(chunk_text)[:60]
    found = [k for k, (title, paragraphs) in enumerate(docs.BOOK)
             if head in flat(" ".join([title, *paragraphs]))]
    return found[0] if len(found) == 1 else None


@pytest.mark.parametrize("ext", REFLOWABLE)
def test_every_chunk_has_its_chapter_heading(tmp_path: Path, ext: str, options: ChunkOptions) -> None:
    path = docs.make(tmp_path / f"book{ext}")
    outcome = parse_file(str(path), options)
    assert isinstance(outcome, Parsed), outcome
    chunks = outcome.chunks
    assert len(chunks) > 10
    decided = [(c, k) for c in chunks if (k := chapter_of(c.text)) is not None]
    assert len(decided) > 0.8 * len(chunks)
    for chunk, k in decided:
        assert chunk.heading == CHAPTER_HEADINGS[ext][k], (k, chunk)
    assert {k for _, k in decided} == {0, 1, 2}
    for chunk in chunks:
        assert chunk.location == (f"§ {chunk.heading}, {chunk.pages}" if chunk.heading else chunk.pages)
    last = chunks[-1]
    assert flat(docs.LAST) in flat(last.text) and last.page_end == outcome.pdf.page_count


def test_xps_chunks_have_pages_and_no_heading(tmp_path: Path, options: ChunkOptions) -> None:
    outcome = parse_file(str(docs.make_xps(tmp_path / "plate.xps")), options)
    assert isinstance(outcome, Parsed)
    assert outcome.chunks and {c.heading for c in outcome.chunks} == {""}
    assert outcome.chunks[-1].page_end == 2


# --------------------------------------------------------------------------------------------
# files that cannot be read


@pytest.mark.parametrize(("ext", "mode", "kind", "words"), [
    (".epub", "truncated", "corrupt", "is damaged and cannot be read (not a readable EPUB file)"),
    (".epub", "garbage", "corrupt", "is damaged and cannot be read"),
    (".docx", "truncated", "corrupt", "is damaged and cannot be read (not a readable DOCX file)"),
    (".docx", "garbage", "corrupt", "is damaged and cannot be read"),
    (".xps", "truncated", "corrupt", "is damaged and cannot be read (not a readable XPS file)"),
    (".mobi", "garbage", "corrupt", "is damaged and cannot be read (not a readable MOBI file)"),
    (".fb2", "garbage", "not-text", "is not FB2 (it holds binary data)"),
    (".html", "garbage", "not-text", "is not HTML (it holds binary data)"),
    (".xhtml", "garbage", "not-text", "is not XHTML (it holds binary data)"),
    (".txt", "garbage", "not-text", "is not plain text (it holds binary data)"),
    (".md", "garbage", "not-text", "is not Markdown (it holds binary data)"),
])
def test_broken_files_say_why_in_one_line(tmp_path: Path, ext: str, mode: str, kind: str,
                                          words: str) -> None:
    path = docs.make_broken(tmp_path / f"broken{ext}", mode)
    with pytest.raises(PdfError) as info:
        read_document(path)
    assert info.value.kind == kind
    message = str(info.value)
    assert message == f"{path} {words}" or message.startswith(f"{path} {words}")
    assert "\n" not in message and len(message) < 300


@pytest.mark.parametrize("ext", [".epub", ".docx", ".txt", ".md", ".html"])
def test_empty_and_blank_files(tmp_path: Path, ext: str) -> None:
    empty = tmp_path / f"empty{ext}"
    empty.write_bytes(b"")
    with pytest.raises(PdfError) as info:
        read_document(empty)
    assert info.value.kind == "empty-file"
    if ext in (".txt", ".md"):
        blank = tmp_path / f"blank{ext}"
        blank.write_text("\n\n   \n")
        with pytest.raises(PdfError) as info:
            read_document(blank)
        assert info.value.kind == "no-text" and "no text to index" in str(info.value)


def test_an_unsupported_file_given_by_name_says_what_is_supported(tmp_path: Path) -> None:
    path = tmp_path / "notes.rtf"
    path.write_text("{\\rtf1 hello}")
    with pytest.raises(PdfError) as info:
        read_document(path)
    assert info.value.kind == "unsupported"
    message = str(info.value)
    assert message.startswith(f"{path} is not a supported format (supported: .pdf, .epub,")
    assert ".docx" in message and ".md" in message and "\n" not in message


def test_a_pdf_under_another_name_is_still_read(tmp_path: Path) -> None:
    path = pdfs.make_pdf(tmp_path / "scan.bin", ["A PDF without its extension."])
    assert read_document(path).pages[0].text == "A PDF without its extension."
    assert pdfs.make_pdf(tmp_path / "x.pdf", ["PDF."]).suffix == ".pdf"
    not_pdf = tmp_path / "book.pdf"
    docs.make_epub(not_pdf)  # an EPUB named .pdf is still "not a PDF"
    with pytest.raises(PdfError) as info:
        read_document(not_pdf)
    assert info.value.kind == "not-pdf"


def test_utf16_text_is_text(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_text("Text saved as UTF-16 by an old editor.\n", encoding="utf-16")
    assert "UTF-16" in read_document(path).pages[0].text


# --------------------------------------------------------------------------------------------
# finding documents in folders


def test_folders_are_searched_for_every_supported_extension(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    wanted = []
    for ext in [*docs.WRITERS, ".pdf", ".htm", ".markdown", ".oxps"]:
        name = f"doc{ext}" if ext != ".md" else "sub/README.MD"  # any case
        (root / name).write_text("x")
        wanted.append(name.split("/")[-1])
    for ignored in ("photo.png", "sheet.xlsx", "notes.rtf", "archive.zip", "doc.pdf.bak", "Makefile"):
        (root / ignored).write_text("x")
    files, errors = find_documents([root])
    assert sorted(p.name for p in files) == sorted(wanted)
    assert errors == []
    supported = {".pdf", ".epub", ".mobi", ".fb2", ".xps", ".oxps", ".html", ".htm", ".xhtml",
                 ".txt", ".md", ".markdown", ".docx"}
    assert supported == formats.SUPPORTED_EXTENSIONS


def test_the_formats_module_is_light() -> None:
    """The window imports the file search at start: it must not pull in PyMuPDF."""
    import subprocess
    import sys

    code = ("import sys; import grit_desktop.engine.index.files; "
            "print('pymupdf' in sys.modules, 'fitz' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_names_in_messages() -> None:
    assert re.fullmatch(r"(\.\w+, )+\.\w+", formats.supported_extensions())
    assert formats.supported_names().startswith("PDF, EPUB, MOBI, FB2, XPS, HTML")


# --------------------------------------------------------------------------------------------
# in the library: ingested, searched, cited with their headings


def test_a_folder_of_every_format_is_indexed_and_searched(tmp_path: Path, tiny_model: object) -> None:
    from grit_desktop.config import Settings
    from grit_desktop.engine.index.events import IngestFinished
    from grit_desktop.engine.index.library import Library
    from grit_desktop.engine.index.records import Source

    folder = tmp_path / "docs"
    folder.mkdir()
    for ext in docs.WRITERS:
        docs.make(folder / f"book{ext}")
    pdfs.make_pdf(folder / "plain.pdf", ["A PDF about lamps."])
    docs.make_broken(folder / "broken.epub")
    (folder / "notes.rtf").write_text("skipped: not a supported format")
    settings = Settings(chunk_tokens=64, chunk_overlap_tokens=8)
    with Library(tmp_path / "home", settings, tiny_model, isolate_reader=False) as library:  # type: ignore[arg-type]
        events = list(library.ingest([folder]))
        done = events[-1]
        assert isinstance(done, IngestFinished)
        got = {Path(r.path).name: (r.status, r.reason) for r in done.results}
        assert set(got) == {f"book{ext}" for ext in docs.WRITERS} | {"plain.pdf", "broken.epub"}
        assert {n for n, (status, _) in got.items() if status == "ok"} == set(got) - {"broken.epub"}
        assert "is damaged and cannot be read" in got["broken.epub"][1]
        listed = {Path(d.path).suffix: d for d in library.documents() if d.status == "ready"}
        assert listed[".epub"].title == docs.TITLE and listed[".epub"].pages == 6
        hits = library.search("lamp lens keeper fog bell marker sentence chapter", k=200, mode="text")
        checked = {Path(h.path).suffix for h in hits if chapter_of(h.text) is not None}
        assert checked >= {".epub", ".docx", ".md", ".html", ".fb2", ".mobi"}
        for hit in hits:
            k = chapter_of(hit.text)
            if k is not None and Path(hit.path).suffix in CHAPTER_HEADINGS:
                assert hit.heading == CHAPTER_HEADINGS[Path(hit.path).suffix][k], hit
        epub = next(h for h in hits if h.path.endswith(".epub") and chapter_of(h.text) == 1)
        source = Source.of(1, epub)
        assert source.heading == "Chapter 2: Daily Care"
        assert source.location == f"§ Chapter 2: Daily Care, {source.pages}"


# --------------------------------------------------------------------------------------------
# the viewer's copy


@pytest.mark.parametrize("ext", [*REFLOWABLE, ".xps"])
def test_the_viewers_copy_has_the_pages_that_passages_cite(tmp_path: Path, ext: str,
                                                          options: ChunkOptions) -> None:
    from grit_desktop.engine.documents.viewable import viewable_pdf

    path = docs.make(tmp_path / f"book{ext}")
    outcome = parse_file(str(path), options)
    assert isinstance(outcome, Parsed)
    copy = viewable_pdf(path, tmp_path / "cache", isolate=False)
    assert copy.parent == tmp_path / "cache" and copy.name.endswith(f"-{formats.LAYOUT_KEY}.pdf")
    assert copy.read_bytes().startswith(b"%PDF-")
    shown = read_document(copy)
    assert shown.page_count == outcome.pdf.page_count
    assert [p.text for p in shown.pages] == [p.text for p in outcome.pdf.pages]  # page for page
    with pymupdf.open(copy) as pdf:  # what another PDF reader sees on the cited page
        for chunk in outcome.chunks:
            page = outcome.pdf.pages[chunk.page_start - 1].text
            single = chunk.page_end == chunk.page_start
            on_first_page = page[chunk.char_start:chunk.char_end if single else None]
            first_words = " ".join(on_first_page.split()[:6])
            assert first_words and first_words in flat(pdf[chunk.page_start - 1].get_text()), chunk
    # converted once: shown again, the same copy; the file changed, a new copy
    stamp = copy.stat().st_mtime_ns
    assert viewable_pdf(path, tmp_path / "cache", isolate=False) == copy
    assert copy.stat().st_mtime_ns >= stamp


def test_a_pdf_is_shown_as_itself(tmp_path: Path) -> None:
    from grit_desktop.engine.documents.viewable import viewable_pdf

    path = pdfs.make_pdf(tmp_path / "a.pdf", ["Text."])
    assert viewable_pdf(path, tmp_path / "cache") == path
    assert not (tmp_path / "cache").exists()


def test_conversion_runs_in_a_reader_process_and_fails_with_the_reason(tmp_path: Path) -> None:
    from grit_desktop.engine.documents.viewable import viewable_pdf

    path = docs.make_epub(tmp_path / "book.epub")
    copy = viewable_pdf(path, tmp_path / "cache")  # isolated: a reader process of its own
    assert read_document(copy).page_count == read_document(path).page_count
    broken = docs.make_broken(tmp_path / "broken.docx")
    with pytest.raises(PdfError) as info:
        viewable_pdf(broken, tmp_path / "cache")
    assert str(info.value) == f"{broken} is damaged and cannot be read (not a readable DOCX file)"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [copy.name]  # nothing half-written
    with pytest.raises(PdfError) as info:
        viewable_pdf(tmp_path / "gone.epub", tmp_path / "cache")
    assert info.value.kind == "missing"


def test_the_cache_keeps_the_most_recent_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grit_desktop.engine.documents import viewable

    monkeypatch.setattr(viewable, "MAX_CACHED", 2)
    copies = []
    for k in range(3):
        path = docs.make_text(tmp_path / f"t{k}.txt", [(f"Title {k}", [f"Body text number {k}."])])
        copies.append(viewable.viewable_pdf(path, tmp_path / "cache", isolate=False))
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(c.name for c in copies[1:])


def test_the_file_dialog_filter_names_every_extension() -> None:
    got = formats.dialog_filter()
    assert got.startswith("Documents (*.pdf *.epub ") and got.endswith(")")
    assert set(got[len("Documents ("):-1].split()) == {"*" + e for e in formats.SUPPORTED_EXTENSIONS}
