"""The document library: adding PDFs and folders, keeping them searchable, removing them.

`Library.ingest` is a generator of typed events (`engine/index/events.py`): the CLI draws progress
from them, the GUI's worker forwards them as signals, and the caller may stop between any two events
(a cancel flag is checked between embedding batches).

Nothing is lost and nothing is half-visible:
- a document is written as ``indexing``, its chunks are appended batch by batch (each batch one
  atomic LanceDB write), and only then is it marked ``ready``; search never sees the chunks of a
  document that is not ready;
- if the process dies mid-way, the next `Library` opened on the folder finds the ``indexing``
  document: when its file is unchanged the next ingest resumes from the last written batch,
  otherwise its chunks are removed;
- a changed file is indexed anew before its old version is removed;
- source files are only ever read.

Several processes (the window, `ingest` in a terminal) may share the library. A process holds a
document's indexing lock (`Store.lock_document`) from before it writes the document until it is
ready, so a document another live process is indexing is never resumed here, and never indexed
twice: a file that is being indexed elsewhere waits (`FileWaiting`), then is skipped as already
indexed. A lock file is released by the system when its process dies, so what a killed process
left half-done is resumed by the next ingest. A document removed by another process while it is
written here ends with "removed while it was being indexed", and nothing of it stays.

Threading: a `Library` is used from one thread (the engine worker).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np

from grit_desktop.config import Settings
from grit_desktop.engine.documents.chunking import Chunk
from grit_desktop.engine.documents.parsing import ChunkOptions, Parsed, ParseFailure, Parser, Ticket
from grit_desktop.engine.documents.pdf import ParsedPdf, file_sha256
from grit_desktop.engine.grit.prompts import QUERY_TASK
from grit_desktop.engine.index.events import (
    ChunksEmbedded,
    FileFinished,
    FileParsed,
    FileReading,
    FileResult,
    FileStarted,
    FileWaiting,
    IngestEvent,
    IngestFinished,
    IngestStarted,
    QueueProgress,
)
from grit_desktop.engine.index.files import find_documents
from grit_desktop.engine.index.records import ChunkRecord, DocumentRecord, Scope, SearchHit
from grit_desktop.engine.index.store import DocumentGone, Store, StoreError
from grit_desktop.engine.index.watched import Copies, FolderPlan, plan_folder
from grit_desktop.errors import GritError

if TYPE_CHECKING:  # loaded with the model: listing documents needs no torch
    from grit_desktop.engine.grit.model import GritModel

log = logging.getLogger(__name__)

SearchMode = Literal["hybrid", "vector", "text"]
R = TypeVar("R")
#: The most passages one search lists.
MAX_SEARCH_K = 1000
#: About how long one embedding batch takes (see `BatchPacer`).
BATCH_SECONDS = 1.0
#: The first batch's size in tokens, before the device's speed is known.
FIRST_BATCH_TOKENS = 512
#: A batch is at most this many times the size of the one before.
BATCH_GROWTH = 4


# ------------------------------------------------------------------------------------------------
# the library


class Library:
    """The user's indexed documents, in ``<home>/library``.

    ``model`` is needed to ingest and search; listing and removing documents work without it.
    """

    def __init__(self, home: Path, settings: Settings, model: GritModel | None = None,
                 *, isolate_reader: bool = True) -> None:
        self.home = home
        self.settings = settings
        self.model = model
        self.isolate_reader = isolate_reader
        dim = _dimension(home / "library", model)
        # Without a model and without a library on disk there is nothing to open yet.
        self._store = Store(home / "library", dim) if dim is not None else None
        self._parser: Parser | None = None
        self._batch_pacer: BatchPacer | None = None
        self._on_wait: Callable[[str], None] | None = None
        self._copies = Copies(home)

    @property
    def store(self) -> Store:
        if self._store is None:
            raise GritError("the library is empty: add documents first (this needs the model)")
        return self._store

    @property
    def on_wait(self) -> Callable[[str], None] | None:
        """Told when a write waits for another process (see `Store.on_wait`)."""
        return self._on_wait

    @on_wait.setter
    def on_wait(self, callback: Callable[[str], None] | None) -> None:
        self._on_wait = callback
        if self._store is not None:
            self._store.on_wait = callback

    def version(self) -> int | None:
        """Changes whenever a document is added, changed or removed, by this process or
        another; None while there is no library on disk. Opens a library another process made."""
        if self._store is None:
            dim = _dimension(self.home / "library", self.model)
            if dim is None:
                return None
            self._store = Store(self.home / "library", dim)
            self._store.on_wait = self._on_wait
        return self._store.version()

    def close(self) -> None:
        if self._parser is not None:
            self._parser.close()
            self._parser = None

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------

    def documents(self) -> list[DocumentRecord]:
        return self._store.documents() if self._store is not None else []

    def interrupted(self) -> list[DocumentRecord]:
        """Documents an earlier run left half-indexed (their chunks are invisible to search)."""
        return [d for d in self.documents() if d.status == "indexing"]

    def find(self, doc_id_or_path: str) -> DocumentRecord:
        """The document with this id, unique id prefix (6+ characters) or file path."""
        docs = self.documents()
        path = str(Path(doc_id_or_path).expanduser().absolute())
        exact = [d for d in docs if d.doc_id == doc_id_or_path or d.path == path]
        if exact:
            return exact[0]
        if len(doc_id_or_path) >= 6:
            prefixed = [d for d in docs if d.doc_id.startswith(doc_id_or_path)]
            if len(prefixed) == 1:
                return prefixed[0]
            if len(prefixed) > 1:
                raise GritError(f"{doc_id_or_path!r} matches {len(prefixed)} documents; give more of the id")
        raise GritError(f"no document {doc_id_or_path!r} in the library")

    @staticmethod
    def check_search(query: str, k: int | None) -> str:
        """``query`` without surrounding blanks; GritError if empty or ``k`` is out of range."""
        query = query.strip()
        if not query:
            raise GritError("The search is empty: type some words to look for.")
        if k is not None and not 1 <= k <= MAX_SEARCH_K:
            raise GritError(f"The number of passages must be between 1 and {MAX_SEARCH_K} (got {k}).")
        return query

    def search(self, query: str, k: int | None = None, mode: SearchMode = "hybrid",
               doc_ids: Sequence[str] | None = None, *,
               vector: np.ndarray | None = None) -> list[SearchHit]:
        """The ``k`` passages that best match ``query`` (ready documents only); ``vector``: the
        query's embedding when the caller has it already (`query_vector`).

        GritError for an empty query or ``k`` outside 1..MAX_SEARCH_K.
        """
        query = self.check_search(query, k)
        k = k or self.settings.top_k
        if mode == "text":
            return self.store.search_text(query, k, doc_ids)
        if vector is None:
            vector = self.query_vector(query)
        if mode == "vector":
            return self.store.search_vector(vector, k, doc_ids)
        return self.store.search_hybrid(vector, query, k, doc_ids)

    def ready_in(self, scope: Scope) -> list[str]:
        """The ids of the ready documents in ``scope`` (every ready one when it is empty)."""
        return [d.doc_id for d in scope.select(self.documents()) if d.status == "ready"]

    def query_vector(self, query: str) -> np.ndarray:
        """The embedding of a search: ``query`` with the query instruction."""
        vector: np.ndarray = self._require_model().embed([query], QUERY_TASK).vectors[0]
        return vector

    # -- changing -----------------------------------------------------------------------------

    def remove(self, doc_id_or_path: str) -> DocumentRecord:
        doc = self.find(doc_id_or_path)
        self.store.delete_document(doc.doc_id)
        return doc

    def ingest(self, paths: Iterable[str | os.PathLike[str]],
               cancel: threading.Event | None = None, *, resume: bool = True,
               sync: Sequence[str] = ()) -> Iterator[IngestEvent]:
        """Add PDFs and folders; yields progress events, ends with `IngestFinished`.

        With ``resume``, documents an earlier run left half-indexed are finished first (or
        cleaned up when their file is gone or changed). ``sync``: watched folders to bring in
        step with the disk first (`watched.py`): moved files are followed, new and changed
        ones indexed, documents whose file is gone removed.
        """
        t0 = time.perf_counter()
        model = self._require_model()
        files, results = find_documents(paths)
        synced, settling = self._sync(sync)
        results.extend(synced)
        resumed = self._resumable() if resume else []
        queue = [*resumed, *(f for f in files if f not in resumed)]
        queue.extend(f for f in settling.pop("changed") if f not in queue)
        yield IngestStarted(len(queue) + len(results), len(resumed))
        total = len(queue) + len(results)
        for i, bad in enumerate(results):
            yield FileFinished(i, total, bad)
        parser = self._reader()
        tickets: dict[int, Ticket] = {}
        cancelled = False
        pending = list(range(len(queue)))  # positions in queue; a deferred file goes to the end
        progress = _Progress(queue)
        while pending:
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            i = pending.pop(0)
            yield FileStarted(len(results), total, str(queue[i]))
            t_file = time.perf_counter()
            outcome = yield from progress.track(
                self._ingest_one(queue[i], i, queue, tickets, parser, model, cancel,
                                 may_defer=bool(pending)))
            if outcome == "deferred":
                pending.append(i)
                continue
            if outcome is None:  # cancelled mid-file: it stays resumable
                cancelled = True
                break
            outcome = replace(outcome, seconds=time.perf_counter() - t_file)
            progress.finished(str(queue[i]))
            results.append(outcome)
            yield FileFinished(len(results) - 1, total, outcome)
        notice = ""
        try:
            if any(r.status == "ok" for r in results) or self.store.needs_tidy():
                self.store.optimize()
        except StoreError as exc:  # what was indexed is searchable all the same
            notice = f"The documents are indexed, but the library could not be tidied. {exc}"
            log.warning("%s", notice)
        yield IngestFinished(results, cancelled, time.perf_counter() - t0, notice,
                             [str(f) for f in settling["settling"]])

    # -- watched folders ----------------------------------------------------------------------

    def _sync(self, folders: Sequence[str]) -> tuple[list[FileResult], dict[str, list[Path]]]:
        """Follow moves and removals in ``folders``; returns their results, and the files to
        index (``changed``) or to leave for the next pass (``settling``)."""
        todo: dict[str, list[Path]] = {"changed": [], "settling": []}
        if not folders:
            return [], todo
        docs = self.documents()
        copies = self._copies.load()
        plans = [plan_folder(f, docs, copies=copies) for f in folders]
        for plan in plans:
            if plan.offline or plan.error:
                log.info("watched folder %s: %s", plan.folder, plan.error or "offline")
            todo["changed"].extend(plan.changed)
            todo["settling"].extend(plan.settling)
        results = self._follow_moves(plans, todo["changed"])
        moved = {r.path for r in results}
        todo["changed"] = [f for f in todo["changed"] if str(f) not in moved]
        for plan in plans:
            if plan.settling:
                continue  # a file still being copied may be a gone document's new place
            for doc in plan.gone:
                if doc.doc_id in {r.doc_id for r in results}:
                    continue  # moved
                result = self._remove_gone(doc)
                if result is not None:
                    results.append(result)
        return results, todo

    def _follow_moves(self, plans: Sequence[FolderPlan], changed: Sequence[Path]) -> list[FileResult]:
        """Point documents whose file is gone at the new file with the same content."""
        gone = {d.doc_id: d for plan in plans for d in plan.gone if d.status == "ready"}
        if not gone:
            return []
        results: list[FileResult] = []
        for file in changed:
            if self.store.document_by_path(str(file)) is not None:
                continue  # a changed file, not a new one
            try:
                st = file.stat()
                doc = gone.pop(file_sha256(file), None)
            except OSError:
                continue
            if doc is None:
                continue
            current = self.store.document(doc.doc_id)
            if current is None or current.path != doc.path:
                continue  # another process moved or removed it meanwhile
            self.store.put_document(replace(current, path=str(file), mtime=st.st_mtime, bytes=st.st_size))
            log.info("%s moved to %s: its %d chunks are kept", doc.path, file, doc.chunks)
            results.append(FileResult(str(file), "skipped", doc.doc_id, doc.title, doc.pages,
                                      doc.chunks, reason=f"moved from {doc.path}"))
            if not gone:
                break
        return results

    def _remove_gone(self, doc: DocumentRecord) -> FileResult | None:
        """Remove a document whose file was deleted; None when it is not for this pass (being
        indexed, or moved or removed by another process meanwhile)."""
        current = self.store.document(doc.doc_id)
        if current is None or current.path != doc.path or current.status == "indexing":
            return None  # a half-indexed one is cleaned up by `_resumable`
        if os.path.exists(doc.path):
            return None
        self.store.delete_document(doc.doc_id)
        log.info("removed %s: its file was deleted", doc.path)
        return FileResult(doc.path, "removed", doc.doc_id, doc.title, doc.pages, doc.chunks,
                          reason="its file was deleted")

    # -- one file -----------------------------------------------------------------------------

    def _ingest_one(
        self, path: Path, i: int, queue: list[Path], tickets: dict[int, Ticket], parser: Parser,
        model: GritModel, cancel: threading.Event | None, *, may_defer: bool = False,
    ) -> Generator[IngestEvent, None, FileResult | Literal["deferred"] | None]:
        """Index one file; returns its result, or None when cancelled (the file stays resumable).

        When another process is indexing the same document, returns "deferred" if ``may_defer``
        (other files come first), else waits for it.
        """
        spath = str(path)
        unchanged = self._unchanged(spath)
        if unchanged is not None:
            return unchanged
        ticket = tickets.pop(i, None) or parser.submit(spath)
        self._read_ahead(i + 1, queue, tickets, parser)
        while not parser.ready(ticket, READ_POLL_S):
            if cancel is not None and cancel.is_set():
                return None
            yield FileReading(spath)
        outcome = parser.result(ticket)
        if isinstance(outcome, ParseFailure):
            return self._record_failure(spath, outcome.message)
        pdf = outcome.pdf
        lock = self.store.lock_document(pdf.sha256)
        if lock is None:
            if may_defer:
                yield FileWaiting(spath, pdf.sha256, "another grit-desktop process is indexing "
                                  "this document: coming back to it after the other files")
                return "deferred"
            yield FileWaiting(spath, pdf.sha256, "another grit-desktop process is indexing this "
                              "document: waiting for it to finish")
            while lock is None:
                if cancel is not None and cancel.is_set():
                    return None
                lock = self.store.lock_document(pdf.sha256, WAIT_POLL_S)
        try:
            return (yield from self._index_locked(spath, outcome, model, cancel))
        finally:
            lock.release()

    def _index_locked(self, spath: str, outcome: Parsed, model: GritModel,
                      cancel: threading.Event | None) -> Generator[IngestEvent, None, FileResult | None]:
        """Index a parsed file while holding its document's lock."""
        pdf, chunks = outcome.pdf, outcome.chunks
        existing = self.store.document(pdf.sha256)
        skip = self._duplicate(spath, existing, pdf.mtime)
        if skip is not None:
            return skip
        replaced = self.store.document_by_path(spath)
        done = self._prepare(existing, pdf, chunks, spath)
        yield FileParsed(spath, pdf.sha256, pdf.title, pdf.page_count, len(chunks),
                         len(pdf.scanned_pages), done)
        pacer = self._pacer(model)
        try:
            while done < len(chunks):
                if cancel is not None and cancel.is_set():
                    return None
                batch = _next_batch(chunks, done, pacer.tokens)
                t_batch = time.perf_counter()
                vectors = model.embed([c.text for c in batch],
                                      max_length=self.settings.embed_max_tokens).vectors
                self.store.add_chunks(chunk_records(pdf.sha256, batch, vectors))
                pacer.took(sum(c.tokens for c in batch), time.perf_counter() - t_batch)
                done += len(batch)
                log.info("%s: %d of %d chunks written", spath, done, len(chunks))
                yield ChunksEmbedded(spath, pdf.sha256, done, len(chunks))
            self.store.set_status(pdf.sha256, "ready", chunks=len(chunks))
        except DocumentGone:
            self.store.delete_chunks(pdf.sha256)
            return FileResult(spath, "skipped", pdf.sha256, pdf.title, pdf.page_count,
                              reason="removed from the library while it was being indexed")
        except StoreError:
            # The disk is full or the library cannot be written: the next file would fail the
            # same way, and cleaning up would need a write too. The document stays "indexing",
            # its written chunks invisible, and the next ingest resumes it.
            raise
        except GritError as exc:
            self.store.delete_chunks(pdf.sha256)
            self.store.set_status(pdf.sha256, "error", error=str(exc))
            return FileResult(spath, "error", pdf.sha256, pdf.title, pdf.page_count, reason=str(exc))
        if replaced is not None and replaced.doc_id != pdf.sha256:
            self.store.delete_document(replaced.doc_id)  # the old version of a changed file
        return FileResult(spath, "ok", pdf.sha256, pdf.title, pdf.page_count, len(chunks))

    def _unchanged(self, path: str) -> FileResult | None:
        """A skip result when ``path`` is indexed and its size and mtime have not changed."""
        doc = self.store.document_by_path(path)
        try:
            st = os.stat(path)
        except OSError:
            return None
        if doc is None:  # a known copy of another document?
            original = self._copies.copy_of(path, st.st_size, st.st_mtime)
            doc = self.store.document(original) if original else None
            if doc is None or doc.status != "ready" or not os.path.exists(doc.path):
                return None
            return FileResult(path, "skipped", doc.doc_id, doc.title, doc.pages, doc.chunks,
                              reason=f"same content as {doc.path}")
        if doc.status != "ready" or st.st_size != doc.bytes or st.st_mtime != doc.mtime:
            return None
        return FileResult(path, "skipped", doc.doc_id, doc.title, doc.pages, doc.chunks,
                          reason="already indexed")

    def _read_ahead(self, j: int, queue: list[Path], tickets: dict[int, Ticket], parser: Parser) -> None:
        """Start reading the next file that needs reading, while this one is embedded."""
        while j < len(queue) and j not in tickets:
            if self._unchanged(str(queue[j])) is None:
                tickets[j] = parser.submit(str(queue[j]))
                return
            j += 1

    def _duplicate(self, path: str, existing: DocumentRecord | None, mtime: float) -> FileResult | None:
        """A skip result when this content is already indexed (here or under another path)."""
        if existing is None or existing.status != "ready":
            return None
        if existing.path == path or not Path(existing.path).exists():
            reason = "already indexed" if existing.path == path else f"moved from {existing.path}"
            self.store.put_document(replace(existing, path=path, mtime=mtime))
        else:
            reason = f"same content as {existing.path}"
            try:
                st = os.stat(path)
                self._copies.record(path, st.st_size, st.st_mtime, existing.doc_id)
            except OSError as exc:  # only a shortcut: the next pass reads it again
                log.info("cannot remember %s as a copy: %s", path, exc)
        return FileResult(path, "skipped", existing.doc_id, existing.title, existing.pages,
                          existing.chunks, reason=reason)

    def _prepare(self, existing: DocumentRecord | None, pdf: ParsedPdf, chunks: list[Chunk],
                 path: str) -> int:
        """Write the document as ``indexing``; returns how many chunks are already written."""
        if existing is not None and existing.status == "indexing" and existing.chunks == len(chunks):
            done = self.store.chunk_count(pdf.sha256)
            if done <= len(chunks):
                log.info("resuming %s at chunk %d of %d", path, done, len(chunks))
                return done
        if existing is not None:
            self.store.delete_document(pdf.sha256)
        self.store.put_document(DocumentRecord(
            doc_id=pdf.sha256, path=path, title=pdf.title, author=pdf.author, pages=pdf.page_count,
            bytes=pdf.size, mtime=pdf.mtime, status="indexing", added_at=time.time(),
            chunks=len(chunks),
        ))
        return 0

    def _record_failure(self, path: str, reason: str) -> FileResult:
        """Keep a failed file in the library (status error) so the window can show why."""
        try:
            st = os.stat(path)
            doc_id = file_sha256(Path(path))
        except OSError:
            st, doc_id = None, "error-" + hashlib.sha256(path.encode()).hexdigest()[:58]
        old = self.store.document_by_path(path)
        if old is not None and old.status == "error":
            self.store.delete_document(old.doc_id)
        existing = self.store.document(doc_id)
        if existing is None or existing.status == "error":
            self.store.put_document(DocumentRecord(
                doc_id=doc_id, path=path, title=Path(path).name, author="", pages=0,
                bytes=st.st_size if st else 0, mtime=st.st_mtime if st else 0.0, status="error",
                added_at=time.time(), error=reason,
            ))
        return FileResult(path, "error", doc_id, Path(path).name, reason=reason)

    def _reader(self) -> Parser:
        if self._parser is None:
            model = self._require_model()
            options = ChunkOptions(
                tokenizer_dir=model.info.path,
                chunk_tokens=self.settings.chunk_tokens,
                overlap_tokens=self.settings.chunk_overlap_tokens,
            )
            self._parser = Parser(options, isolate=self.isolate_reader)
        return self._parser

    def _pacer(self, model: GritModel) -> BatchPacer:
        """One pacer for every file and ingest of this library: the rate carries over."""
        most = self.settings.embed_batch_tokens or model.batch_tokens
        if self._batch_pacer is None or self._batch_pacer.most != most:
            self._batch_pacer = BatchPacer(most)
        return self._batch_pacer

    def _require_model(self) -> GritModel:
        if self.model is None:
            raise GritError("no model is loaded")
        return self.model

    def _resumable(self) -> list[Path]:
        """Paths of half-indexed documents whose file is unchanged; the others are cleaned up.

        A document another live process is indexing (it holds the lock) is neither: it is that
        process's work.
        """
        paths: list[Path] = []
        for doc in self.interrupted():
            lock = self.store.lock_document(doc.doc_id)
            if lock is None:
                log.info("%s is being indexed by another grit-desktop process", doc.path)
                continue
            try:
                current = self.store.document(doc.doc_id)
                if current is None or current.status != "indexing":
                    continue  # another process finished or removed it since it was listed
                path = Path(doc.path)
                try:
                    same = path.is_file() and file_sha256(path) == doc.doc_id
                except OSError:
                    same = False
                if same:
                    paths.append(path)
                else:
                    log.info("removing half-indexed %s: its file is gone or changed", doc.path)
                    self.store.delete_document(doc.doc_id)
            finally:
                lock.release()
        return paths


# How often a file that another process is indexing checks whether it is done (and for cancel).
WAIT_POLL_S = 0.5
# How often ingestion hands control back while the reader reads a file (see `FileReading`).
READ_POLL_S = 0.25


class _Progress:
    """Passages done and to do over a whole ingestion, with a rate and the time left."""

    def __init__(self, queue: Sequence[Path]) -> None:
        self._unread: dict[str, int] = {}  # files not read yet -> size in bytes
        for path in queue:
            try:
                self._unread[str(path)] = os.stat(path).st_size
            except OSError:
                self._unread[str(path)] = 0
        self._known = 0          # passages to embed in the files read so far
        self._read_bytes = 0
        self._read_chunks = 0
        self._done = 0
        self._last: dict[str, int] = {}
        self._t_first: float | None = None
        self._first_done = 0

    def track(self, events: Generator[IngestEvent, None, R]) -> Generator[IngestEvent, None, R]:
        """Pass ``events`` on, with the queue's progress added to each `ChunksEmbedded`."""
        try:
            event = next(events)
            while True:
                sent = yield self._update(event)
                event = events.send(sent)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _update(self, event: IngestEvent) -> IngestEvent:
        if isinstance(event, FileParsed):
            size = self._unread.pop(event.path, 0)
            self._read_bytes += size
            self._read_chunks += event.chunks
            self._known += event.chunks - event.written
            self._last[event.path] = event.written
        elif isinstance(event, ChunksEmbedded):
            now = time.perf_counter()
            self._done += event.done - self._last.get(event.path, 0)
            self._last[event.path] = event.done
            if self._t_first is None:
                self._t_first = now  # the rate counts from the end of the first batch
                self._first_done = self._done
            return replace(event, queue=self.snapshot(now))
        return event

    def finished(self, path: str) -> None:
        """``path`` is done (also when it was skipped or failed unread)."""
        self._unread.pop(path, None)

    def snapshot(self, now: float) -> QueueProgress:
        unread_bytes = sum(self._unread.values())
        per_byte = self._read_chunks / self._read_bytes if self._read_bytes else 0.0
        total = max(self._done, self._known + round(unread_bytes * per_byte))
        elapsed = now - self._t_first if self._t_first is not None else 0.0
        rate = (self._done - self._first_done) / elapsed if elapsed > 0 else 0.0
        eta = (total - self._done) / rate if rate > 0 else None
        return QueueProgress(self._done, total, bool(self._unread), rate, eta)


def _dimension(folder: Path, model: GritModel | None) -> int | None:
    """The vector size: the model's, or (without a model) the one the library was built with."""
    if model is not None:
        return int(model.info.hidden_size)
    return Store.existing_dimension(folder)


class BatchPacer:
    """Sizes embedding batches so that each takes about `BATCH_SECONDS` on this device.

    The engine worker serves a question between two batches, so a batch is the longest a
    question typed during indexing waits. Its size in tokens starts at `FIRST_BATCH_TOKENS`,
    then follows the rate the last batch was embedded and written at, growing at most
    `BATCH_GROWTH` times a batch and never above ``most`` (what memory allows: the
    ``embed_batch_tokens`` setting, or the model's size for the device). Speed is hardly lost:
    a second of work fills a GPU, and on the CPU the size barely matters.
    """

    def __init__(self, most: int) -> None:
        self.most = max(1, most)
        self.tokens = min(self.most, FIRST_BATCH_TOKENS)

    def took(self, tokens: int, seconds: float) -> None:
        """A batch of ``tokens`` took ``seconds``: size the next one."""
        want = self.most if seconds <= 0 else int(tokens / seconds * BATCH_SECONDS)
        self.tokens = max(1, min(self.most, want, self.tokens * BATCH_GROWTH))


def _next_batch(chunks: Sequence[Chunk], start: int, tokens: int) -> Sequence[Chunk]:
    """The chunks from ``start`` on that add up to at most ``tokens`` tokens (at least one)."""
    end, size = start, 0
    while end < len(chunks) and (end == start or size + chunks[end].tokens <= tokens):
        size += chunks[end].tokens
        end += 1
    return chunks[start:end]


def chunk_records(doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> list[ChunkRecord]:
    return [
        ChunkRecord(doc_id=doc_id, index=c.index, text=c.text, tokens=c.tokens, vector=vectors[j],
                    page_start=c.page_start, page_end=c.page_end, char_start=c.char_start,
                    char_end=c.char_end, heading=c.heading)
        for j, c in enumerate(chunks)
    ]


__all__ = [
    "BatchPacer",
    "ChunksEmbedded",
    "FileFinished",
    "FileParsed",
    "FileResult",
    "FileStarted",
    "FileWaiting",
    "IngestEvent",
    "IngestFinished",
    "IngestStarted",
    "Library",
    "ParseFailure",
    "Parsed",
    "find_documents",
]
