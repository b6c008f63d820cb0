"""One library, several processes: the window and `ingest` in a terminal, or two ingests.

Real child processes on one data folder: writes are serialized, a document another live process
is indexing is never resumed or duplicated, reads go on while another process writes, and what
one process changes, the others see.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock, Timeout

from grit_desktop.config import Settings, save_settings
from grit_desktop.engine.index.library import Library
from grit_desktop.engine.index.store import LOCKS, Store
from tests import pdfs
from tests.test_cli_library import cli, env_for


def settings_for(model: Path) -> Settings:
    # Small batches: each file takes many writes, so two processes interleave.
    return Settings(model=str(model), chunk_tokens=64, chunk_overlap_tokens=8, embed_batch_tokens=128)


@pytest.fixture
def books(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        pdfs.make_prose_pdf(docs / f"book{i}.pdf", 5, seed=i)
    return docs


def make_home(folder: Path, model: Path) -> Path:
    folder.mkdir()
    save_settings(folder, settings_for(model))
    return folder


class Ingest:
    """``grit-desktop ingest -v --json`` in a child process; its output goes to files, so that a
    process nobody reads from at the moment never blocks on a full pipe."""

    def __init__(self, home: Path, docs: Path, name: str) -> None:
        self.out, self.err = home.parent / f"{name}.out", home.parent / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "grit_desktop", "ingest", "-v", "--json", str(docs)],
                stdout=out, stderr=err, text=True, env=env_for(home))

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.err.read_text():
            assert self.proc.poll() is None, f"ended before {text!r}: {self.err.read_text()}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s"
            time.sleep(0.05)

    def finish(self) -> tuple[int, list[dict[str, Any]], str]:
        """Exit status, the JSON results and stderr."""
        rc = self.proc.wait(timeout=300)
        text = self.out.read_text()
        return rc, json.loads(text) if text.strip() else [], self.err.read_text()


def chunk_ids(home: Path) -> list[str]:
    store = Store(home / "library", 0)
    assert store._chunks is not None
    return list(store._chunks.to_arrow().column("chunk_id").to_pylist())


def library_state(home: Path) -> dict[str, tuple[str, int]]:
    """Per file name: (status, chunks written), checked against the planned count."""
    lib = Library(home, settings_for(Path("unused")))
    state = {}
    for doc in lib.documents():
        written = lib.store.chunk_count(doc.doc_id)
        assert written == doc.chunks, f"{doc.path}: {written} chunks written of {doc.chunks}"
        state[Path(doc.path).name] = (doc.status, written)
    return state


def assert_no_duplicates(home: Path) -> None:
    twice = [c for c, n in Counter(chunk_ids(home)).items() if n > 1]
    assert not twice, f"{len(twice)} chunks written twice, e.g. {twice[:3]}"


@pytest.fixture
def sequential(tmp_path: Path, books: Path, tiny_model_dir: Path) -> dict[str, tuple[str, int]]:
    """What one ingest of the same files gives."""
    home = make_home(tmp_path / "sequential", tiny_model_dir)
    done = cli(home, "ingest", "--json", str(books))
    assert done.returncode == 0, done.stderr
    return library_state(home)


def test_two_ingests_started_together(tmp_path: Path, books: Path, tiny_model_dir: Path,
                                      sequential: dict[str, tuple[str, int]]) -> None:
    """Both end well; every document is indexed once: the same chunks as one ingest."""
    home = make_home(tmp_path / "home", tiny_model_dir)
    a, b = Ingest(home, books, "a"), Ingest(home, books, "b")
    (rc_a, out_a, err_a), (rc_b, out_b, err_b) = a.finish(), b.finish()
    for rc, err in ((rc_a, err_a), (rc_b, err_b)):
        assert rc == 0, err
        assert "Traceback" not in err and "damaged" not in err
    statuses = [r["status"] for r in out_a + out_b]
    assert statuses.count("ok") == 3 and statuses.count("skipped") == 3
    assert library_state(home) == sequential
    assert_no_duplicates(home)


def all_stopped(pid: int) -> bool:
    """Whether every thread of the process is stopped (state T in /proc)."""
    try:
        return all((task / "stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
                   for task in Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):  # a thread ended meanwhile: look again
        return False


def stop_between_writes(proc: subprocess.Popen[str], home: Path, timeout: float = 60) -> None:
    """Freeze ``proc`` (SIGSTOP) at a moment it holds no write lock on the library, so that it
    keeps its document's indexing lock while others can still write."""
    write_lock = FileLock(str(home / "library" / LOCKS / "write.lock"))
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, "never stopped outside a write"
        proc.send_signal(signal.SIGSTOP)
        while not all_stopped(proc.pid):
            time.sleep(0.001)
        try:
            write_lock.acquire(timeout=0)
        except Timeout:  # stopped in the middle of a write: let it finish it
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)
            continue
        write_lock.release()
        return


def test_a_second_ingest_never_resumes_what_the_first_is_indexing(
        tmp_path: Path, books: Path, tiny_model_dir: Path,
        sequential: dict[str, tuple[str, int]]) -> None:
    """Started while the first is half-way through a document: that document is the first's;
    the second says it waits for it and takes other files meanwhile.

    The first is frozen half-way (SIGSTOP) until the second waits for its document, so the
    order does not hang on how fast either process starts."""
    home = make_home(tmp_path / "home", tiny_model_dir)
    first = Ingest(home, books, "first")
    second = None
    try:
        first.wait_for("chunks written")
        stop_between_writes(first.proc, home)
        [half] = Library(home, settings_for(Path("unused"))).interrupted()
        second = Ingest(home, books, "second")
        second.wait_for("waiting for it to finish")
        first.proc.send_signal(signal.SIGCONT)
        rc_b, _, err_b = second.finish()
        rc_a, _, err_a = first.finish()
    finally:
        for child in (first, second):
            if child is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGCONT)
                child.proc.kill()
    assert rc_a == 0, err_a
    assert rc_b == 0, err_b
    assert "resuming" not in err_b
    assert f"{half.path} is being indexed by another grit-desktop process" in err_b
    assert "coming back to it after the other files" in err_b
    assert f"skipped {half.path}: already indexed" in err_b and "Traceback" not in err_a + err_b
    assert library_state(home) == sequential
    assert_no_duplicates(home)
    rerun = cli(home, "ingest", "--json", str(books))  # a third run finds everything done
    assert [r["status"] for r in json.loads(rerun.stdout)] == ["skipped"] * 3


def test_search_and_ask_while_another_process_ingests(tmp_path: Path, tiny_model_dir: Path) -> None:
    home = make_home(tmp_path / "home", tiny_model_dir)
    docs = tmp_path / "long"
    docs.mkdir()
    pdfs.make_pdf(docs / "a_first.pdf", ["The part XJ4471 is the fan motor."])
    warm = cli(home, "ingest", str(docs / "a_first.pdf"))
    assert warm.returncode == 0, warm.stderr
    for i in range(2):
        pdfs.make_prose_pdf(docs / f"long{i}.pdf", 20, seed=i)
    writer = Ingest(home, docs, "writer")
    writer.wait_for("chunks written")
    reads = [subprocess.Popen([sys.executable, "-m", "grit_desktop", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env_for(home))
             for args in (["search", "--json", "--k", "2", "XJ4471"],
                          ["ask", "--json", "--k", "2", "Which part is the fan motor?"],
                          ["docs", "--json"])]
    (found, _), (asked, _), (listed, _) = [r.communicate(timeout=300) for r in reads]
    still_writing = writer.proc.poll() is None
    rc, results, err = writer.finish()
    assert rc == 0, err
    for read in reads:
        assert read.returncode == 0, read.stderr
    assert "XJ4471" in json.loads(found)[0]["text"]
    answer = json.loads(asked)
    assert answer["sources"] and "XJ4471" in answer["sources"][0]["text"]
    assert {Path(d["path"]).name for d in json.loads(listed)} >= {"a_first.pdf"}
    assert all(r["status"] in ("ok", "skipped") for r in results)
    assert still_writing, "the ingest ended before the reads did: make the books longer"


@pytest.mark.usefixtures("qapp")
def test_the_window_sees_what_another_process_adds_and_removes(
        qtbot: Any, tmp_path: Path, books: Path, tiny_model_dir: Path) -> None:
    """A window session (its engine worker, real signals) while a terminal adds and removes."""
    from grit_desktop.ui.commands import LoadModel
    from grit_desktop.ui.worker import EngineWorker

    home = make_home(tmp_path / "home", tiny_model_dir)
    settings = settings_for(tiny_model_dir)
    worker = EngineWorker(home, settings)
    seen: list[list[str]] = []
    worker.documentsChanged.connect(lambda docs: seen.append(sorted(Path(d.path).name for d in docs)))
    ready: list[object] = []
    worker.modelReady.connect(ready.append)  # called on the worker thread: it only appends
    worker.start()
    try:
        worker.submit(LoadModel(settings.model, "cpu", "none"))
        qtbot.waitUntil(lambda: bool(ready), timeout=60_000)
        added = cli(home, "ingest", str(books / "book0.pdf"))
        assert added.returncode == 0, added.stderr
        qtbot.waitUntil(lambda: bool(seen) and seen[-1] == ["book0.pdf"], timeout=15_000)
        t0 = time.monotonic()
        removed = cli(home, "remove", str(books / "book0.pdf"))
        assert removed.returncode == 0, removed.stderr
        qtbot.waitUntil(lambda: seen[-1] == [], timeout=15_000)
        assert time.monotonic() - t0 < 15
    finally:
        worker.shutdown()
