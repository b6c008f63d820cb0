"""Watched folders on real files: the list, the plan, the sync carried out by the library (new,
changed, moved, deleted files; offline folders; files still being written; churn during an
ingestion) and the watcher's real file notifications."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from grit_desktop.config import Settings
from grit_desktop.engine.documents.pdf import file_sha256
from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.index import watched
from grit_desktop.engine.index.events import FileParsed, IngestEvent, IngestFinished
from grit_desktop.engine.index.library import Library
from grit_desktop.engine.index.watched import WatchList, folder_state, plan_folder
from grit_desktop.engine.index.watcher import FolderWatcher
from grit_desktop.errors import GritError
from tests import pdfs

SMALL = Settings(chunk_tokens=64, chunk_overlap_tokens=8)


@pytest.fixture
def library(tmp_path: Path, tiny_model: GritModel):  # type: ignore[no-untyped-def]
    with Library(tmp_path / "home", SMALL, tiny_model, isolate_reader=False) as lib:
        yield lib


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "watched"
    (path / "sub").mkdir(parents=True)
    return path


def aged(path: Path, seconds: float = 60.0) -> Path:
    """Make ``path`` look written ``seconds`` ago (a file copied earlier, settled)."""
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


def make(path: Path, words: str, pages: int = 2) -> Path:
    return aged(pdfs.make_pdf(path, [f"{words} page {i + 1}." for i in range(pages)]))


def sync(library: Library, folder: Path) -> tuple[IngestFinished, list[IngestEvent]]:
    events = list(library.ingest((), sync=[str(folder)]))
    last = events[-1]
    assert isinstance(last, IngestFinished)
    return last, events


def by_reason(done: IngestFinished) -> dict[str, tuple[str, str]]:
    return {Path(r.path).name: (r.status, r.reason) for r in done.results}


def assert_mirrors(library: Library, folder: Path) -> None:
    """The library holds exactly the folder's files: one ready document per file, at its path,
    with its content's hash and all its chunks, each chunk once."""
    files = sorted(str(p) for p in folder.rglob("*.pdf"))
    docs = [d for d in library.documents() if d.path.startswith(str(folder))]
    assert sorted(d.path for d in docs) == files
    for doc in docs:
        assert doc.status == "ready", doc
        assert doc.doc_id == file_sha256(Path(doc.path))
        chunks = library.store.chunks_of(doc.doc_id)
        assert len(chunks) == doc.chunks > 0
        ids = [c.chunk_id for c in chunks]
        assert len(set(ids)) == len(ids)


# -- the list -----------------------------------------------------------------------------------


def test_the_watch_list_is_kept_in_a_file_shared_by_processes(tmp_path: Path, folder: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    a = WatchList(home)
    added, replaced = a.add(folder / "sub")
    assert added.path == str((folder / "sub").resolve()) and replaced == []
    b = WatchList(home)  # another process reads it
    assert [f.path for f in b.folders()] == [added.path]
    with pytest.raises(GritError, match=r"is already watched$"):
        b.add(folder / "sub" / ".")
    (folder / "sub" / "deeper").mkdir()
    with pytest.raises(GritError, match="already watched as part of"):
        b.add(folder / "sub" / "deeper")
    outer, replaced = b.add(folder)  # the parent replaces the folder inside it
    assert [f.path for f in replaced] == [added.path]
    assert [f.path for f in a.folders()] == [outer.path]
    assert a.owner(str(folder / "sub" / "x.pdf")) == outer
    with pytest.raises(GritError, match="no such folder"):
        a.add(tmp_path / "nowhere")
    with pytest.raises(GritError, match="not a watched folder"):
        a.remove(folder / "sub")
    a.remove(folder)
    assert b.folders() == []
    (home / watched.WATCH_FILE).write_text("{not json")
    with pytest.raises(GritError, match="damaged"):
        a.folders()


# -- syncing ------------------------------------------------------------------------------------


def test_sync_adds_updates_follows_moves_and_removes(library: Library, folder: Path) -> None:
    make(folder / "a.pdf", "Apples grow on trees")
    make(folder / "sub" / "b.pdf", "Bananas are yellow")
    make(folder / "c.pdf", "Cherries are red")
    (folder / "notes.bin").write_bytes(b"not a document")
    done, _ = sync(library, folder)
    assert {r.status for r in done.results} == {"ok"}
    assert_mirrors(library, folder)
    assert plan_folder(str(folder), library.documents()).in_sync

    # rewritten, renamed into another sub-folder, deleted, and a new one
    make(folder / "a.pdf", "Apricots are orange", pages=3)
    old_b = library.find(str(folder / "sub" / "b.pdf"))
    (folder / "moved").mkdir()
    os.rename(folder / "sub" / "b.pdf", folder / "moved" / "b2.pdf")
    old_c = library.find(str(folder / "c.pdf"))
    (folder / "c.pdf").unlink()
    make(folder / "d.pdf", "Dates are sweet")
    plan = plan_folder(str(folder), library.documents())
    state = folder_state(plan, library.documents())
    assert (state.status, state.waiting, state.files) == ("waiting", 5, 3)  # a move: new + gone

    done, events = sync(library, folder)
    reasons = by_reason(done)
    assert reasons["a.pdf"][0] == "ok" and reasons["d.pdf"][0] == "ok"
    assert reasons["b2.pdf"] == ("skipped", f"moved from {folder / 'sub' / 'b.pdf'}")
    assert reasons["c.pdf"] == ("removed", "its file was deleted")
    parsed = {Path(e.path).name for e in events if isinstance(e, FileParsed)}
    assert parsed == {"a.pdf", "d.pdf"}  # the moved file was not read nor embedded again
    moved = library.find(str(folder / "moved" / "b2.pdf"))
    assert moved.doc_id == old_b.doc_id and moved.chunks == old_b.chunks
    assert library.store.document(old_c.doc_id) is None
    assert library.store.chunks_of(old_c.doc_id) == []
    assert_mirrors(library, folder)
    hits = library.search("Cherries are red", 10, "text")
    assert all(h.doc_id != old_c.doc_id for h in hits)
    assert folder_state(plan_folder(str(folder), library.documents()),
                        library.documents()).describe() == "in sync · 3 files"

    done, events = sync(library, folder)  # nothing changed: nothing is read
    assert done.results == [] and not any(isinstance(e, FileParsed) for e in events)


def test_an_offline_folder_keeps_its_documents(library: Library, folder: Path, tmp_path: Path) -> None:
    make(folder / "a.pdf", "Kept while the disk is away")
    sync(library, folder)
    away = tmp_path / "unplugged"
    os.rename(folder, away)  # the disk is unplugged: the folder is not there
    plan = plan_folder(str(folder), library.documents())
    assert plan.offline
    assert folder_state(plan, library.documents()).status == "offline"
    done, _ = sync(library, folder)
    assert done.results == []
    assert [d.path for d in library.documents()] == [str(folder / "a.pdf")]
    os.rename(away, folder)
    assert sync(library, folder)[0].results == []
    assert_mirrors(library, folder)


def test_a_file_still_being_written_waits_and_is_indexed_once(library: Library, folder: Path) -> None:
    make(folder / "old.pdf", "An old document")
    sync(library, folder)
    old = library.find(str(folder / "old.pdf"))
    # old.pdf is being moved by a copy (a new file, fresh time) and a delete
    shutil.copyfile(folder / "old.pdf", folder / "sub" / "old copy.pdf")
    (folder / "old.pdf").unlink()
    done, events = sync(library, folder)
    assert done.settling == [str(folder / "sub" / "old copy.pdf")]
    assert done.results == []  # neither indexed half-written nor the old one removed meanwhile
    assert library.find(str(folder / "old.pdf")).doc_id == old.doc_id
    aged(folder / "sub" / "old copy.pdf")  # the copy is complete
    done, events = sync(library, folder)
    assert by_reason(done)["old copy.pdf"] == ("skipped", f"moved from {folder / 'old.pdf'}")
    assert not any(isinstance(e, FileParsed) for e in events)
    assert_mirrors(library, folder)


def test_nothing_is_lost_or_duplicated_under_churn_during_an_ingestion(
    library: Library, folder: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watched, "SETTLE_S", 0.0)
    for i in range(6):
        make(folder / f"f{i}.pdf", f"Original text number {i}", pages=3)
    events = library.ingest((), sync=[str(folder)])
    ops = iter([
        lambda: make(folder / "f0.pdf", "Rewritten while indexing", pages=4),
        lambda: os.rename(folder / "f1.pdf", folder / "sub" / "renamed.pdf"),
        lambda: (folder / "f2.pdf").unlink(),
        lambda: make(folder / "new.pdf", "Created while indexing"),
        lambda: os.rename(folder / "f5.pdf", folder / "f5-renamed.pdf"),
        lambda: make(folder / "f3.pdf", "Rewritten twice", pages=2),
    ])
    for n, _event in enumerate(events):
        if n % 3 == 2:
            op = next(ops, None)
            if op is not None:
                op()
    assert next(ops, None) is None  # every operation ran while the ingestion did
    for _ in range(5):  # the watcher's next passes
        if plan_folder(str(folder), library.documents()).in_sync:
            break
        sync(library, folder)
    assert plan_folder(str(folder), library.documents()).in_sync
    assert_mirrors(library, folder)
    assert len(library.store.documents()) == len(list(folder.rglob("*.pdf"))) == 6


def test_a_sync_cancelled_midway_is_finished_by_the_next(library: Library, folder: Path) -> None:
    for i in range(3):
        make(folder / f"f{i}.pdf", f"Long document {i} " * 30, pages=6)
    cancel = threading.Event()
    events = library.ingest((), cancel, sync=[str(folder)])
    for event in events:
        if isinstance(event, FileParsed):
            cancel.set()
    assert library.interrupted()
    sync(library, folder)
    assert_mirrors(library, folder)


# -- the watcher --------------------------------------------------------------------------------


def wait_for(condition, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_watcher_reports_changes_once_quiet_and_ignores_reading(folder: Path, tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []
    watcher = FolderWatcher(lambda f: seen.append((f, time.monotonic())), quiet_s=0.3)
    try:
        watcher.set_folders([str(folder)])
        assert watcher.watching(str(folder))
        assert wait_for(lambda: len(seen) == 1)  # watching starts with a pass (it may have changed)
        seen.clear()
        path = pdfs.make_pdf(folder / "sub" / "new.pdf", ["Fresh."])
        assert wait_for(lambda: len(seen) == 1)
        assert seen[0][0] == str(folder)
        time.sleep(0.6)
        assert len(seen) == 1  # one pass for the whole write
        seen.clear()
        path.read_bytes()  # the library reading a file is not a change
        (folder / "other.txt.tmp").write_text("not a document")
        time.sleep(0.8)
        assert seen == []
        os.rename(path, folder / "renamed.pdf")
        assert wait_for(lambda: len(seen) == 1)
        seen.clear()
        away = tmp_path / "unplugged"
        os.rename(folder, away)
        assert wait_for(lambda: str(folder) in watcher.refresh())  # offline
        assert not watcher.watching(str(folder))
        assert watcher.refresh() == []
        os.rename(away, folder)
        assert watcher.refresh() == [str(folder)]
        assert watcher.watching(str(folder))
        assert wait_for(lambda: any(f == str(folder) for f, _ in seen))
        shutil.rmtree(folder)  # another folder at the same path: a disk plugged in again
        folder.mkdir()
        assert wait_for(lambda: str(folder) in watcher.refresh())  # once the watch saw it go
        seen.clear()
        pdfs.make_pdf(folder / "on the new disk.pdf", ["New."])
        assert wait_for(lambda: len(seen) >= 1)  # the new folder is the one watched
    finally:
        watcher.close()


def test_a_copy_is_read_once_and_its_folder_is_in_sync(library: Library, folder: Path) -> None:
    make(folder / "original.pdf", "The one content")
    sync(library, folder)
    shutil.copy2(folder / "original.pdf", folder / "sub" / "copy.pdf")  # same content, same time
    done, events = sync(library, folder)
    assert by_reason(done)["copy.pdf"] == ("skipped", f"same content as {folder / 'original.pdf'}")
    copies = watched.Copies(library.home).load()
    docs = library.documents()
    assert len(docs) == 1  # one document per content
    assert plan_folder(str(folder), docs, copies=copies).in_sync
    assert folder_state(plan_folder(str(folder), docs, copies=copies), docs).describe() == \
        "in sync · 2 files"
    done, events = sync(library, folder)
    assert done.results == [] and not any(isinstance(e, FileParsed) for e in events)  # not read again
    (folder / "original.pdf").unlink()  # the copy is what is left: the document moves to it
    done, events = sync(library, folder)
    assert by_reason(done)["copy.pdf"] == ("skipped", f"moved from {folder / 'original.pdf'}")
    assert not any(isinstance(e, FileParsed) for e in events)
    assert_mirrors(library, folder)
