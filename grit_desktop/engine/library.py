"""The document library: adding PDFs and folders, keeping them searchable, removing them.

`Library.ingest` is a generator of typed events (DESIGN.md): the CLI draws a progress bar from
them, the GUI's worker forwards them as signals, and the caller may stop between any two events
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
from typing import Literal

import numpy as np

from grit_desktop.config import Settings
from grit_desktop.engine.chunking import Chunk
from grit_desktop.engine.events import (
    ChunksEmbedded,
    FileFinished,
    FileParsed,
    FileResult,
    FileStarted,
    IngestEvent,
    IngestFinished,
    IngestStarted,
)
from grit_desktop.engine.model import GritModel
from grit_desktop.engine.parsing import ChunkOptions, Parsed, ParseFailure, Parser, Ticket
from grit_desktop.engine.pdf import ParsedPdf, file_sha256
from grit_desktop.engine.prompts import QUERY_TASK
from grit_desktop.engine.records import ChunkRecord, DocumentRecord, SearchHit
from grit_desktop.engine.store import Store
from grit_desktop.errors import GritError

log = logging.getLogger(__name__)

SearchMode = Literal["hybrid", "vector", "text"]


# ------------------------------------------------------------------------------------------------
# events




# ------------------------------------------------------------------------------------------------
# finding files


def find_pdfs(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[FileResult]]:
    """PDF files under ``paths`` (files taken as given, folders searched recursively).

    Returns the files, in a stable order without duplicates, and an error result for each input
    that does not exist. Symbolic links are followed, but a folder is never entered twice, so
    link loops end. Only ``*.pdf`` (any case) is taken from folders; a file named explicitly is
    taken whatever its name (a non-PDF is then reported by the reader).
    """
    found: list[Path] = []
    errors: list[FileResult] = []
    seen_files: set[Path] = set()
    seen_dirs: set[tuple[int, int]] = set()

    def add(file: Path) -> None:
        real = file.resolve()
        if real not in seen_files:
            seen_files.add(real)
            found.append(file.absolute())

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            _walk(path, add, seen_dirs)
        elif path.is_file():
            add(path)
        else:
            reason = "no such file or folder" if not path.exists() else "not a regular file"
            errors.append(FileResult(str(path), "error", reason=f"{path}: {reason}"))
    return found, errors


def _walk(folder: Path, add: Callable[[Path], None], seen_dirs: set[tuple[int, int]]) -> None:
    try:
        st = folder.stat()
    except OSError:
        return
    key = (st.st_dev, st.st_ino)
    if key in seen_dirs:
        return
    seen_dirs.add(key)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        log.warning("cannot list %s: %s", folder, exc.strerror)
        return
    for entry in entries:
        try:
            if entry.is_dir():
                _walk(Path(entry.path), add, seen_dirs)
            elif entry.is_file() and entry.name.lower().endswith(".pdf"):
                add(Path(entry.path))
        except OSError:
            continue


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

    @property
    def store(self) -> Store:
        if self._store is None:
            raise GritError("the library is empty: add documents first (this needs the model)")
        return self._store

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

    def search(self, query: str, k: int | None = None, mode: SearchMode = "hybrid",
               doc_ids: Sequence[str] | None = None) -> list[SearchHit]:
        """The ``k`` passages that best match ``query`` (ready documents only)."""
        k = k or self.settings.top_k
        if mode == "text":
            return self.store.search_text(query, k, doc_ids)
        vector = self._require_model().embed([query], QUERY_TASK).vectors[0]
        if mode == "vector":
            return self.store.search_vector(vector, k, doc_ids)
        return self.store.search_hybrid(vector, query, k, doc_ids)

    # -- changing -----------------------------------------------------------------------------

    def remove(self, doc_id_or_path: str) -> DocumentRecord:
        doc = self.find(doc_id_or_path)
        self.store.delete_document(doc.doc_id)
        return doc

    def ingest(self, paths: Iterable[str | os.PathLike[str]],
               cancel: threading.Event | None = None, *, resume: bool = True) -> Iterator[IngestEvent]:
        """Add PDFs and folders; yields progress events, ends with `IngestFinished`.

        With ``resume``, documents an earlier run left half-indexed are finished first (or
        cleaned up when their file is gone or changed).
        """
        t0 = time.perf_counter()
        model = self._require_model()
        files, results = find_pdfs(paths)
        resumed = self._resumable() if resume else []
        queue = [*resumed, *(f for f in files if f not in resumed)]
        yield IngestStarted(len(queue) + len(results), len(resumed))
        total = len(queue) + len(results)
        for i, bad in enumerate(results):
            yield FileFinished(i, total, bad)
        parser = self._reader()
        tickets: dict[int, Ticket] = {}
        cancelled = False
        offset = len(results)
        for i, path in enumerate(queue):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            yield FileStarted(offset + i, total, str(path))
            t_file = time.perf_counter()
            outcome = yield from self._ingest_one(path, i, queue, tickets, parser, model, cancel)
            if outcome is None:  # cancelled mid-file: it stays resumable
                cancelled = True
                break
            outcome = replace(outcome, seconds=time.perf_counter() - t_file)
            results.append(outcome)
            yield FileFinished(offset + i, total, outcome)
        if any(r.status == "ok" for r in results):
            self.store.optimize()
        yield IngestFinished(results, cancelled, time.perf_counter() - t0)

    # -- one file -----------------------------------------------------------------------------

    def _ingest_one(
        self, path: Path, i: int, queue: list[Path], tickets: dict[int, Ticket], parser: Parser,
        model: GritModel, cancel: threading.Event | None,
    ) -> Generator[IngestEvent, None, FileResult | None]:
        """Index one file; returns its result, or None when cancelled (the file stays resumable)."""
        spath = str(path)
        unchanged = self._unchanged(spath)
        if unchanged is not None:
            return unchanged
        ticket = tickets.pop(i, None) or parser.submit(spath)
        self._read_ahead(i + 1, queue, tickets, parser)
        outcome = parser.result(ticket)
        if isinstance(outcome, ParseFailure):
            return self._record_failure(spath, outcome.message)
        pdf, chunks = outcome.pdf, outcome.chunks
        existing = self.store.document(pdf.sha256)
        skip = self._duplicate(spath, existing, pdf.mtime)
        if skip is not None:
            return skip
        replaced = self.store.document_by_path(spath)
        done = self._prepare(existing, pdf, chunks, spath)
        yield FileParsed(spath, pdf.sha256, pdf.title, pdf.page_count, len(chunks), len(pdf.scanned_pages))
        try:
            for batch in _batches(chunks[done:], self.settings.embed_batch_tokens or model.batch_tokens):
                if cancel is not None and cancel.is_set():
                    return None
                vectors = model.embed([c.text for c in batch],
                                      max_length=self.settings.embed_max_tokens).vectors
                self.store.add_chunks(chunk_records(pdf.sha256, batch, vectors))
                done += len(batch)
                log.info("%s: %d of %d chunks written", spath, done, len(chunks))
                yield ChunksEmbedded(spath, pdf.sha256, done, len(chunks))
        except GritError as exc:
            self.store.delete_chunks(pdf.sha256)
            self.store.set_status(pdf.sha256, "error", error=str(exc))
            return FileResult(spath, "error", pdf.sha256, pdf.title, pdf.page_count, reason=str(exc))
        self.store.set_status(pdf.sha256, "ready", chunks=len(chunks))
        if replaced is not None and replaced.doc_id != pdf.sha256:
            self.store.delete_document(replaced.doc_id)  # the old version of a changed file
        return FileResult(spath, "ok", pdf.sha256, pdf.title, pdf.page_count, len(chunks))

    def _unchanged(self, path: str) -> FileResult | None:
        """A skip result when ``path`` is indexed and its size and mtime have not changed."""
        doc = self.store.document_by_path(path)
        if doc is None or doc.status != "ready":
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if st.st_size != doc.bytes or st.st_mtime != doc.mtime:
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

    def _require_model(self) -> GritModel:
        if self.model is None:
            raise GritError("no model is loaded")
        return self.model

    def _resumable(self) -> list[Path]:
        """Paths of half-indexed documents whose file is unchanged; the others are cleaned up."""
        paths: list[Path] = []
        for doc in self.interrupted():
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
        return paths


def _dimension(folder: Path, model: GritModel | None) -> int | None:
    """The vector size: the model's, or (without a model) the one the library was built with."""
    if model is not None:
        return int(model.info.hidden_size)
    return Store.existing_dimension(folder)


def _batches(chunks: Sequence[Chunk], tokens: int) -> Iterator[list[Chunk]]:
    """Consecutive groups of chunks of about ``tokens`` tokens (at least one chunk each)."""
    group: list[Chunk] = []
    size = 0
    for chunk in chunks:
        if group and size + chunk.tokens > tokens:
            yield group
            group, size = [], 0
        group.append(chunk)
        size += chunk.tokens
    if group:
        yield group


def chunk_records(doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> list[ChunkRecord]:
    return [
        ChunkRecord(doc_id, c.index, c.text, c.page_start, c.page_end, c.char_start, c.char_end,
                    c.tokens, vectors[j])
        for j, c in enumerate(chunks)
    ]


__all__ = [
    "ChunksEmbedded",
    "FileFinished",
    "FileParsed",
    "FileResult",
    "FileStarted",
    "IngestEvent",
    "IngestFinished",
    "IngestStarted",
    "Library",
    "ParseFailure",
    "Parsed",
    "find_pdfs",
]
