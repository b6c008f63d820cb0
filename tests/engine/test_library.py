"""The library service on real generated PDFs, with the tiny model and LanceDB in a temp dir."""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from grit_desktop.config import Settings
from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.index import library as library_module
from grit_desktop.engine.index.events import (
    ChunksEmbedded,
    FileFinished,
    FileParsed,
    IngestEvent,
    IngestFinished,
)
from grit_desktop.engine.index.library import FIRST_BATCH_TOKENS, BatchPacer, Library, find_documents
from grit_desktop.errors import GritError
from tests import pdfs

SMALL = Settings(chunk_tokens=64, chunk_overlap_tokens=8)


def finished(events: list[IngestEvent]) -> IngestFinished:
    last = events[-1]
    assert isinstance(last, IngestFinished)
    return last


def ingest(library: Library, *paths: Path | str, **kw: object) -> IngestFinished:
    return finished(list(library.ingest(list(paths), **kw)))  # type: ignore[arg-type]


def statuses(done: IngestFinished) -> dict[str, tuple[str, str]]:
    return {Path(r.path).name: (r.status, r.reason) for r in done.results}


@pytest.fixture
def library(tmp_path: Path, tiny_model: GritModel):  # type: ignore[no-untyped-def]
    with Library(tmp_path / "home", SMALL, tiny_model, isolate_reader=False) as lib:
        yield lib


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    return folder


def test_page_numbers_of_hits_are_the_pages_of_the_text(library: Library, docs: Path) -> None:
    pdfs.make_big_pdf(docs / "big.pdf", 30)
    done = ingest(library, docs / "big.pdf")
    assert statuses(done) == {"big.pdf": ("ok", "")}
    for n in (1, 7, 30):
        hits = library.search(f"w{n}x", k=3, mode="text")
        assert hits, n
        top = hits[0]
        assert top.page_start <= n <= top.page_end
        page = pdfs.big_page_text(n)
        assert f"w{n}x" in top.text and f"w{n}x" in page


def test_a_folder_of_good_and_bad_files(library: Library, docs: Path) -> None:
    pdfs.make_pdf(docs / "good.pdf", ["The warranty lasts two years.", "Page two text."], title="Good")
    (docs / "sub").mkdir()
    pdfs.make_pdf(docs / "sub" / "nested.pdf", ["Nested document text."], title="Nested")
    pdfs.make_encrypted_pdf(docs / "locked.pdf")
    pdfs.make_corrupt_pdf(docs / "corrupt.pdf")
    (docs / "empty.pdf").write_bytes(b"")
    pdfs.make_not_a_pdf(docs / "picture.pdf")
    pdfs.make_image_only_pdf(docs / "scan.pdf", text="")  # a scan of a blank sheet: OCR or not,
    pdfs.make_zero_page_pdf(docs / "nopages.pdf")           # no text
    (docs / "notes.rtf").write_text("not a document format read here")
    before = {p: (p.read_bytes(), p.stat().st_mtime) for p in docs.rglob("*") if p.is_file()}
    done = ingest(library, docs)
    got = statuses(done)
    assert set(got) == {"good.pdf", "nested.pdf", "locked.pdf", "corrupt.pdf", "empty.pdf",
                        "picture.pdf", "scan.pdf", "nopages.pdf"}
    assert got["good.pdf"][0] == got["nested.pdf"][0] == "ok"
    for name, word in [("locked.pdf", "password"), ("corrupt.pdf", "damaged"),
                       ("empty.pdf", "empty"), ("picture.pdf", "not a PDF"),
                       ("scan.pdf", "scan"), ("nopages.pdf", "no pages")]:
        status, reason = got[name]
        assert status == "error", name
        assert word.lower() in reason.lower(), (name, reason)
        assert "\n" not in reason
    listed = {Path(d.path).name: d for d in library.documents()}
    assert listed["good.pdf"].status == "ready" and listed["good.pdf"].pages == 2
    assert listed["locked.pdf"].status == "error" and "password" in listed["locked.pdf"].error
    assert {Path(h.path).name for h in library.search("text", k=10, mode="text")} == {
        "good.pdf", "nested.pdf"}
    after = {p: (p.read_bytes(), p.stat().st_mtime) for p in docs.rglob("*") if p.is_file()}
    assert after == before  # source files are never modified


def test_adding_the_same_file_again_is_a_no_op(library: Library, docs: Path) -> None:
    pdfs.make_pdf(docs / "a.pdf", ["Alpha text on page one.", "Beta text on page two."])
    first = ingest(library, docs / "a.pdf")
    doc = library.documents()[0]
    chunks = library.store.chunk_count(doc.doc_id)
    again = ingest(library, docs / "a.pdf")
    assert statuses(again) == {"a.pdf": ("skipped", "already indexed")}
    assert [d.doc_id for d in library.documents()] == [doc.doc_id]
    assert library.store.chunk_count(doc.doc_id) == chunks == first.results[0].chunks
    os.utime(docs / "a.pdf")  # touched, same content: read again, recognised by its hash
    assert statuses(ingest(library, docs / "a.pdf")) == {"a.pdf": ("skipped", "already indexed")}


def test_a_changed_file_replaces_its_old_version(library: Library, docs: Path) -> None:
    path = docs / "manual.pdf"
    pdfs.make_pdf(path, ["The old text mentions zebra."])
    ingest(library, path)
    old = library.documents()[0]
    pdfs.make_pdf(path, ["The new text mentions giraffe."])
    done = ingest(library, path)
    assert statuses(done) == {"manual.pdf": ("ok", "")}
    docs_now = library.documents()
    assert len(docs_now) == 1 and docs_now[0].doc_id != old.doc_id
    assert library.store.chunk_count(old.doc_id) == 0
    assert library.search("giraffe", mode="text") and not library.search("zebra", mode="text")


def test_same_content_elsewhere_and_a_moved_file(library: Library, docs: Path) -> None:
    pdfs.make_pdf(docs / "a.pdf", ["Shared content here."])
    ingest(library, docs / "a.pdf")
    (docs / "copy.pdf").write_bytes((docs / "a.pdf").read_bytes())
    status, reason = statuses(ingest(library, docs / "copy.pdf"))["copy.pdf"]
    assert status == "skipped" and reason == f"same content as {docs / 'a.pdf'}"
    (docs / "a.pdf").rename(docs / "moved.pdf")
    (docs / "copy.pdf").unlink()
    status, reason = statuses(ingest(library, docs / "moved.pdf"))["moved.pdf"]
    assert status == "skipped" and reason.startswith("moved from")
    assert [Path(d.path).name for d in library.documents()] == ["moved.pdf"]


def test_remove_by_path_and_id_prefix(library: Library, docs: Path) -> None:
    pdfs.make_pdf(docs / "a.pdf", ["First document."])
    pdfs.make_pdf(docs / "b.pdf", ["Second document."])
    ingest(library, docs)
    a, b = sorted(library.documents(), key=lambda d: d.path)
    assert library.remove(str(docs / "a.pdf")).doc_id == a.doc_id
    assert library.remove(b.doc_id[:8]).doc_id == b.doc_id
    assert library.documents() == []
    assert library.store.chunk_count(a.doc_id) == library.store.chunk_count(b.doc_id) == 0
    with pytest.raises(GritError, match="no document"):
        library.remove("nothing-like-this")
    assert (docs / "a.pdf").exists()  # the file itself stays


def test_hybrid_finds_a_rare_word_that_vectors_alone_miss(library: Library, docs: Path) -> None:
    filler = "General remarks about maintenance schedules, cleaning and filters."
    pages = [f"Part {i}. {filler} {filler} {filler}" for i in range(40)]
    pages[28] = f"Replace the fan motor XJ4471 every five thousand hours. {filler} {filler}"
    pdfs.make_pdf(docs / "m.pdf", pages)
    ingest(library, docs / "m.pdf")
    hybrid = library.search("XJ4471", k=2, mode="hybrid")
    vector = library.search("XJ4471", k=2, mode="vector")
    assert any("XJ4471" in h.text for h in hybrid)
    assert not any("XJ4471" in h.text for h in vector)  # the random model cannot tell


def test_cancel_between_batches_and_resume(tiny_model: GritModel, tmp_path: Path, docs: Path) -> None:
    settings = Settings(chunk_tokens=64, chunk_overlap_tokens=8, embed_batch_tokens=64)
    pdfs.make_big_pdf(docs / "big.pdf", 20)
    cancel = threading.Event()
    home = tmp_path / "home"
    with Library(home, settings, tiny_model, isolate_reader=False) as lib:
        events = []
        for event in lib.ingest([docs / "big.pdf"], cancel):
            events.append(event)
            if isinstance(event, ChunksEmbedded) and event.done >= 3:
                cancel.set()
        done = finished(events)
        assert done.cancelled and not any(isinstance(e, FileFinished) for e in events)
        [doc] = lib.interrupted()
        written = lib.store.chunk_count(doc.doc_id)
        assert 3 <= written < doc.chunks
        assert lib.search("w3x", mode="text") == []  # half a document is never visible
    with Library(home, settings, tiny_model, isolate_reader=False) as lib:
        events = list(lib.ingest([]))  # nothing new asked: the interrupted one resumes
        assert events[0].resumed == 1  # type: ignore[union-attr]
        embedded = [e for e in events if isinstance(e, ChunksEmbedded)]
        assert embedded[0].done > written  # it went on from where it stopped
        [doc] = lib.documents()
        assert doc.status == "ready"
        chunks = lib.store.chunks_of(doc.doc_id)
        assert [c.index for c in chunks] == list(range(doc.chunks))  # no gap, no duplicate
        assert lib.search("w3x", mode="text")


def test_a_document_finished_elsewhere_after_listing_is_not_resumed(
        library: Library, docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process may finish a half-indexed document between the listing of interrupted
    documents and the taking of its lock: it is then done, not to be resumed."""
    pdfs.make_big_pdf(docs / "big.pdf", 4)
    ingest(library, docs / "big.pdf")
    [doc] = library.documents()
    stale = replace(doc, status="indexing")  # what the listing saw a moment before
    monkeypatch.setattr(library, "interrupted", lambda: [stale])
    events = list(library.ingest([]))
    assert events[0].resumed == 0  # type: ignore[union-attr]
    assert finished(events).results == []
    assert library.documents()[0].status == "ready"


def test_batches_follow_the_device_speed_towards_a_second() -> None:
    pacer = BatchPacer(most=65_536)
    assert pacer.tokens == FIRST_BATCH_TOKENS  # before anything is known
    pacer.took(1024, 4.0)  # slow: 256 tokens/s
    assert pacer.tokens == 256
    pacer.took(256, 0.01)  # fast: grows, but at most fourfold a batch
    assert pacer.tokens == 1024
    for _ in range(10):
        pacer.took(pacer.tokens, 0.001)
    assert pacer.tokens == 65_536  # never above what memory allows
    pacer.took(10, 0.0)  # a time too small to measure
    assert pacer.tokens == 65_536
    pacer.took(100, 1000.0)
    assert pacer.tokens == 1  # one token a batch means one chunk a batch
    assert BatchPacer(most=200).tokens == 200


def test_a_slow_device_embeds_in_batches_of_about_a_second(
        tmp_path: Path, tiny_model: GritModel, docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A question waits at most one batch: on a device that embeds 1,000 tokens a second (the
    real tiny model, slowed by a millisecond a token), batches take the time aimed at (a quarter
    of a second here, to keep the test short), although the setting allows 4,096 tokens."""
    monkeypatch.setattr(library_module, "BATCH_SECONDS", 0.25)
    monkeypatch.setattr(library_module, "FIRST_BATCH_TOKENS", 256)
    real_embed = tiny_model.embed
    batches: list[int] = []

    def slow_embed(texts: list[str], **kw: object):  # type: ignore[no-untyped-def]
        out = real_embed(texts, **kw)  # type: ignore[arg-type]
        batches.append(sum(out.token_counts))
        time.sleep(sum(out.token_counts) / 1000)
        return out

    monkeypatch.setattr(tiny_model, "embed", slow_embed)
    settings = Settings(chunk_tokens=64, chunk_overlap_tokens=8, embed_batch_tokens=4096)
    pdfs.make_big_pdf(docs / "big.pdf", 20)
    with Library(tmp_path / "home", settings, tiny_model, isolate_reader=False) as lib:
        done = ingest(lib, docs / "big.pdf")
    assert statuses(done) == {"big.pdf": ("ok", "")}
    assert len(batches) >= 4
    assert batches[0] <= 256 + 64  # the first batch, before the speed is known (a chunk may
    assert max(batches[1:]) <= 250 + 64  # round a batch up); then a quarter second's worth
    assert statistics.median(batches[1:-1]) > 75  # and not shrunk to nothing


def test_progress_events_are_in_order(library: Library, docs: Path) -> None:
    pdfs.make_big_pdf(docs / "a.pdf", 5)
    events = list(library.ingest([docs]))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "IngestStarted" and kinds[-1] == "IngestFinished"
    assert kinds.index("FileStarted") < kinds.index("FileParsed") < kinds.index("ChunksEmbedded")
    parsed = next(e for e in events if isinstance(e, FileParsed))
    embedded = [e.done for e in events if isinstance(e, ChunksEmbedded)]
    assert embedded == sorted(embedded) and embedded[-1] == parsed.chunks


def test_find_pdfs_recursion_links_and_missing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    pdfs.make_pdf(root / "one.pdf", ["x"])
    pdfs.make_pdf(root / "a" / "b" / "TWO.PDF", ["x"])
    (root / "a" / "readme.rtf").write_text("x")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)  # a link loop
    (root / "alias.pdf").symlink_to(root / "one.pdf")  # the same file twice
    files, errors = find_documents([root, root / "one.pdf", tmp_path / "missing"])
    names = sorted(p.name for p in files)
    assert len(names) == 2 and names[0] == "TWO.PDF" and names[1] in ("alias.pdf", "one.pdf")
    assert [e.reason for e in errors] == [f"{tmp_path / 'missing'}: no such file or folder"]


def test_a_file_vanishing_mid_ingest_is_reported(library: Library, docs: Path) -> None:
    pdfs.make_pdf(docs / "a.pdf", ["First."])
    pdfs.make_pdf(docs / "b.pdf", ["Second."])
    events = library.ingest([docs])
    for event in events:
        if isinstance(event, FileFinished):
            (docs / "b.pdf").unlink(missing_ok=True)
        if isinstance(event, IngestFinished):
            got = statuses(event)
    assert got["a.pdf"][0] == "ok"
    assert got["b.pdf"] == ("error", f"{docs / 'b.pdf'} does not exist (moved or deleted?)")


def test_listing_without_a_model(tmp_path: Path, tiny_model: GritModel, docs: Path) -> None:
    home = tmp_path / "home"
    with Library(home, SMALL, None) as empty:
        assert empty.documents() == []
    pdfs.make_pdf(docs / "a.pdf", ["Some text."])
    with Library(home, SMALL, tiny_model, isolate_reader=False) as lib:
        ingest(lib, docs)
    with Library(home, SMALL, None) as lib:
        assert [d.status for d in lib.documents()] == ["ready"]
        with pytest.raises(GritError, match="no model"):
            list(lib.ingest([docs]))


def test_ingest_reports_the_whole_queue_in_passages(tmp_path: Path, tiny_model: GritModel) -> None:
    """Passages done of a total that is exact once every file is read, a rate and time left."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, pages in enumerate((3, 6, 2)):
        pdfs.make_prose_pdf(docs / f"b{i}.pdf", pages, seed=i)
    settings = Settings(chunk_tokens=64, chunk_overlap_tokens=8, embed_batch_tokens=256)
    with Library(tmp_path / "home", settings, tiny_model, isolate_reader=False) as lib:
        events = list(lib.ingest([docs]))
    marks = [e.queue for e in events if isinstance(e, ChunksEmbedded)]
    assert all(m is not None for m in marks)
    done = [m.done for m in marks if m is not None]
    assert done == sorted(done) and len(set(done)) == len(done)  # every batch moves it on
    final = marks[-1]
    assert final is not None
    written = sum(r.chunks for r in events[-1].results)  # type: ignore[union-attr]
    assert final.done == final.total == written and not final.estimated
    assert marks[0] is not None and marks[0].estimated and marks[0].eta_s is None  # no rate yet
    later = [m for m in marks if m is not None and m.per_second > 0]
    assert later and all(m.eta_s is not None and m.eta_s >= 0 for m in later)
    # the first estimate, from the first file's passages per byte, is in the right range
    assert 0.3 * written <= marks[0].total <= 3 * written
