"""The library on disk: documents and their chunks in LanceDB, searched by vector, text or both.

One folder holds three LanceDB tables:

- ``documents``: one row per document (`DocumentRecord`), keyed by ``doc_id`` (content sha256);
- ``chunks``: one row per chunk (`ChunkRecord`) with its float32 vector ``[dim]``, a native
  full-text (BM25) index on ``text`` and, once the table is large, an ANN index on ``vector``;
- ``meta``: key/value strings the store keeps for itself (the format, when the ANN index was
  trained).

Visibility: only chunks of documents whose status is ``"ready"`` are ever returned by a search.
The rule is a *prefilter* on ``doc_id`` (``NOT IN`` the documents that are not ready, or ``IN``
the ready ones asked for), so a search still returns ``k`` hits when hidden rows would have been
among the nearest. Chunks whose document row is missing can only arise outside this API; a hit
on one is dropped after the search.

Every write is one LanceDB operation (one new table version, all or nothing), except
`Store.delete_document`, which removes the chunks and then the document row. LanceDB I/O
errors (disk full, damaged files) come out as `StoreError`, whose message is shown to the user.

Threading: a Store is meant to be used from one thread, the engine worker. Writes hold a lock
all the same, so a stray call from another thread cannot interleave two writes; reads take it
only to copy the in-memory list of documents (every LanceDB read sees one consistent version).

Processes: the window and a terminal `ingest` (or several) may share one folder.
- Writers are serialized by a lock file, ``locks/write.lock``, held for one write at a time (a
  few milliseconds; `Store.optimize` holds it while it builds an index). A writer that has waited
  WRITE_WAIT_NOTICE_S says so in the log (and to ``on_wait``). Readers never take it.
- Every read sees the latest committed version (the connection's read consistency interval is
  0), and the list of documents is re-read whenever the documents table changed, so documents
  another process added or removed show up at the next call.
- `Store.lock_document` takes one lock file per document: the process indexing a document holds
  it, so no other process resumes or duplicates that work (see `Library.ingest`).
- `Store.optimize` removes old table versions only once they are KEEP_VERSIONS_FOR old, so a
  search running in another process never loses the files it is reading.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

# LanceDB's Rust core logs to stderr by itself (env_logger); its warnings (e.g. "KMeans: more
# than 10% of clusters are empty" while an index is trained) would spill into the progress bar.
# Errors still show; LANCEDB_LOG set by the user wins.
os.environ.setdefault("LANCEDB_LOG", "error")

import lancedb
import numpy as np
import pyarrow as pa
from filelock import FileLock, Timeout
from lancedb.index import FTS, BTree, IvfRq
from lancedb.query import MatchQuery

from grit_desktop.engine.index.records import (
    ChunkRecord,
    DocStatus,
    DocumentRecord,
    SearchHit,
)
from grit_desktop.errors import GritError

log = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = get_args(DocStatus)

DOCUMENTS, CHUNKS, META = "documents", "chunks", "meta"
FORMAT = "1"

# Below ANN_MIN_ROWS chunks, vector search is exact (flat): it reads every vector. Measured here
# (2 cores, 4096 dims, p50): 2,000 chunks 26 ms, 5,000 90 ms, 20,000 415 ms, 100,000 1,260 ms;
# so flat search stays well inside a 50 ms budget up to ~2,000 chunks, and an IVF_RQ index over
# 2,000-5,000 chunks builds in under 2 s and answers in ~13 ms.
ANN_MIN_ROWS = 2_000
# The ANN index is IVF_RQ (RaBitQ codes in IVF partitions), partitions of ~ANN_ROWS_PER_PARTITION
# chunks; a search probes ANN_NPROBES partitions and re-ranks the best ANN_REFINE_FACTOR x k
# candidates on their float32 vectors. Measured at 100k x 4096 (clustered, see
# benchmarks/search_latency.py, two runs): index build (in optimize) 57-93 s, recall@10 1.000
# against exact search at p50 14.5-20.0 ms, p95 20-31 ms (200 queries; exact search: 1,150-1,260
# ms). With 1-bit codes: refine 10 gave recall 0.999,
# refine 5 0.973, no refine 0.560; 400-row partitions took 330 s to build and were no faster.
# IVF_SQ answered in 67-110 ms; IVF_PQ took 189 s to build at 20k; IVF_HNSW_SQ 90 s at 20k.
ANN_ROWS_PER_PARTITION = 1_000
# RaBitQ codes of at least this many bits (dim x bits per dimension, 1 to 8): 2 bits per dimension
# at 4096 dims. With refine 10, 1-bit codes gave recall@10 0.964 at 5k x 4096 where 2 bits gave
# 1.000; at 256 dims 1 bit gave 0.79 where 4 bits gave 1.000.
ANN_CODE_BITS = 8192
ANN_NPROBES = 20
ANN_REFINE_FACTOR = 10
# The IVF centroids are trained on the rows present at the time; rows added later are folded into
# the nearest partitions by `optimize`. Once the table has grown by this factor, retrain.
ANN_RETRAIN_GROWTH = 2.0

# A search limited by ``doc_ids`` to at most this many chunks is exact. With the BTREE index on
# doc_id only their vectors are read: measured at 100k x 4096, 1,000 chunks in 23 ms, 2,000 in
# 46 ms (without that index the same flat search read every vector: ~1 s). Through the ANN index
# such narrow filters gave recall@10 0.53 (one document, 20 probes) to 0.97 (unbounded probes).
EXACT_SCOPE_ROWS = 1_000
# Columns with a BTREE index: doc_id (every filter, delete and count), chunk_id (`Store.chunk`).
SCALAR_COLUMNS = ("doc_id", "chunk_id")

# Reciprocal rank fusion: score = sum over the lists of 1 / (RRF_K + rank). 60 is the constant of
# Cormack et al. (2009), used by most hybrid search engines.
RRF_K = 60
# Hybrid search fetches max(k x factor, minimum) candidates from each list before fusing.
HYBRID_FETCH_FACTOR = 4
HYBRID_MIN_FETCH = 40
# Longer text queries are cut (a pasted page is still a fine query; a book is not).
MAX_QUERY_CHARS = 4_000

# Lock files live in <library>/locks: write.lock serializes writers across processes, and
# <doc_id>.lock is held by the process indexing that document.
LOCKS = "locks"
WRITE_WAIT_NOTICE_S = 2.0
# Old table versions are deleted by `optimize` once they are this old: much longer than any one
# search another process may be running on an old version. A library whose tables hold more than
# TIDY_VERSIONS versions (a run killed before its optimize) is compacted by the next ingest.
KEEP_VERSIONS_FOR = timedelta(minutes=2)
TIDY_VERSIONS = 100

VECTOR_COLUMN = "vector"
TEXT_COLUMN = "text"
HIT_COLUMNS = ["chunk_id", "doc_id", "chunk_index", "text", "page_start", "page_end",
               "char_start", "char_end", "heading", "tokens"]
# Columns added to the chunks table after its first version, with the SQL value old rows get.
# A library written before them gains them when it is next opened (under the write lock).
ADDED_CHUNK_COLUMNS = {"heading": "''"}


class StoreError(GritError):
    """The library on disk cannot be read or written (disk full, damaged files, other model)."""


class DocumentGone(StoreError):
    """The document was removed (by another process, or another window) while it was written."""


# --------------------------------------------------------------------------------------------
# schemas and rows


def documents_schema() -> pa.Schema:
    return pa.schema([
        ("doc_id", pa.string()), ("path", pa.string()), ("title", pa.string()),
        ("author", pa.string()), ("pages", pa.int32()), ("size_bytes", pa.int64()),
        ("mtime", pa.float64()), ("status", pa.string()), ("added_at", pa.float64()),
        ("error", pa.string()), ("chunks", pa.int32()),
    ])


def chunks_schema(dim: int) -> pa.Schema:
    return pa.schema([
        ("chunk_id", pa.string()), ("doc_id", pa.string()), ("chunk_index", pa.int32()),
        ("text", pa.string()), ("page_start", pa.int32()), ("page_end", pa.int32()),
        ("char_start", pa.int32()), ("char_end", pa.int32()), ("tokens", pa.int32()),
        (VECTOR_COLUMN, pa.list_(pa.float32(), dim)),
        ("heading", pa.string()),
    ])


def meta_schema() -> pa.Schema:
    return pa.schema([("key", pa.string()), ("value", pa.string())])


def _document_row(doc: DocumentRecord) -> dict[str, Any]:
    return {"doc_id": doc.doc_id, "path": doc.path, "title": doc.title, "author": doc.author,
            "pages": doc.pages, "size_bytes": doc.bytes, "mtime": doc.mtime, "status": doc.status,
            "added_at": doc.added_at, "error": doc.error, "chunks": doc.chunks}


def _document_from_row(row: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        doc_id=row["doc_id"], path=row["path"], title=row["title"], author=row["author"],
        pages=row["pages"], bytes=row["size_bytes"], mtime=row["mtime"], status=row["status"],
        added_at=row["added_at"], error=row["error"], chunks=row["chunks"],
    )


def _chunks_table(chunks: Sequence[ChunkRecord], dim: int) -> pa.Table:
    """The arrow rows of ``chunks``; raises ValueError on a vector of the wrong shape or NaN."""
    vectors = np.stack([np.asarray(c.vector, dtype=np.float32) for c in chunks])  # [n, dim]
    if vectors.shape != (len(chunks), dim):
        raise ValueError(f"chunk vectors must be [{dim}] float32, got {vectors.shape[1:]}")
    if not np.isfinite(vectors).all():
        raise ValueError("chunk vectors must be finite")
    columns: dict[str, Any] = {
        "chunk_id": [c.chunk_id for c in chunks], "doc_id": [c.doc_id for c in chunks],
        "chunk_index": [c.index for c in chunks], "text": [c.text for c in chunks],
        "page_start": [c.page_start for c in chunks], "page_end": [c.page_end for c in chunks],
        "char_start": [c.char_start for c in chunks], "char_end": [c.char_end for c in chunks],
        "tokens": [c.tokens for c in chunks],
        VECTOR_COLUMN: pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
        "heading": [c.heading for c in chunks],
    }
    return pa.table(columns, schema=chunks_schema(dim))


def _chunks_from_table(table: pa.Table, dim: int) -> list[ChunkRecord]:
    column = table.column(VECTOR_COLUMN).combine_chunks()
    vectors = np.array(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    vectors = vectors.reshape(len(column), dim)  # [n, dim]
    return [
        ChunkRecord(doc_id=r["doc_id"], index=r["chunk_index"], text=r["text"],
                    page_start=r["page_start"], page_end=r["page_end"], char_start=r["char_start"],
                    char_end=r["char_end"], heading=r.get("heading") or "", tokens=r["tokens"],
                    vector=vectors[i])
        for i, r in enumerate(table.drop_columns([VECTOR_COLUMN]).to_pylist())
    ]


def _hit(row: dict[str, Any], doc: DocumentRecord, score: float, vector_rank: int | None,
         text_rank: int | None) -> SearchHit:
    return SearchHit(
        chunk_id=row["chunk_id"], doc_id=row["doc_id"], index=row["chunk_index"], text=row["text"],
        page_start=row["page_start"], page_end=row["page_end"], char_start=row["char_start"],
        char_end=row["char_end"], heading=row.get("heading") or "", tokens=row["tokens"],
        title=doc.title, path=doc.path,
        score=score, vector_rank=vector_rank, text_rank=text_rank,
    )


def _sql(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join(_sql(v) for v in values)


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown document status {status!r} (expected one of {STATUSES})")


def ann_partitions(rows: int) -> int:
    """About how many IVF partitions an index over ``rows`` chunks has."""
    return max(1, round(rows / ANN_ROWS_PER_PARTITION))


def ann_bits(dim: int) -> int:
    """RaBitQ bits per dimension: 1, 2, 4 or 8, so that a code holds ANN_CODE_BITS bits if it can."""
    bits = 1
    while bits < 8 and dim * bits < ANN_CODE_BITS:
        bits *= 2
    return bits


def ann_config(dim: int) -> Any:
    """The ANN index for chunks of ``dim`` floats."""
    # A target size, not a number of partitions: `Table.optimize` re-splits and joins partitions
    # to the target size, which defaults to thousands of rows when only num_partitions is given
    # (seen in lancedb 0.40: 300 partitions over 30k rows became 2 after one optimize).
    return IvfRq(distance_type="cosine", target_partition_size=ANN_ROWS_PER_PARTITION,
                 num_bits=ann_bits(dim))


def rrf_fuse(vector_hits: Sequence[SearchHit], text_hits: Sequence[SearchHit], k: int) -> list[SearchHit]:
    """Reciprocal rank fusion of two ranked lists: the best ``k``, scored ``sum 1/(RRF_K + rank)``.

    Ties go to the hit with the better vector rank, then the better text rank.
    """
    found: dict[str, tuple[SearchHit, int | None, int | None]] = {}
    for rank, hit in enumerate(vector_hits, start=1):
        found.setdefault(hit.chunk_id, (hit, rank, None))
    for rank, hit in enumerate(text_hits, start=1):
        first, vrank, trank = found.get(hit.chunk_id, (hit, None, None))
        found[hit.chunk_id] = (first, vrank, trank or rank)
    fused = [
        replace(hit, score=sum(1.0 / (RRF_K + r) for r in (vrank, trank) if r is not None),
                vector_rank=vrank, text_rank=trank)
        for hit, vrank, trank in found.values()
    ]
    never = len(vector_hits) + len(text_hits) + 1
    fused.sort(key=lambda h: (-h.score, h.vector_rank or never, h.text_rank or never))
    return fused[:k]


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "os error 28" in text or "Disk quota" in text


def _is_not_writable(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return True
    text = str(exc)
    return any(s in text for s in ("Permission denied", "os error 13", "Read-only file system",
                                   "os error 30", "Operation not permitted"))


def _describe(exc: BaseException, action: str, folder: Path, damaged: bool = False) -> str:
    """A one-line message for the user about ``exc``, raised while trying to ``action``.

    Deleting the library is advised only when ``damaged`` was proven (see `Store._verify`).
    """
    if _is_disk_full(exc):
        return f"Could not {action}: the disk holding {folder} is full. Free some space and try again."
    if _is_not_writable(exc):
        return (f"Could not {action}: the library folder {folder} cannot be written (permission "
                "denied or a read-only disk). Check its permissions, or choose another data "
                "folder with --data-dir.")
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    if damaged:
        return (f"Could not {action}: the library at {folder} is damaged ({detail}). Remove that "
                "folder and add your documents again.")
    return f"Could not {action} (library at {folder}): {detail}. Try again."


@dataclass(frozen=True)
class _Scope:
    """The chunks a search may return: those passing the SQL prefilter ``where`` (None: all).

    ``rows`` is how many chunks the documents asked for hold, when the search is limited to them.
    """

    where: str | None
    rows: int | None = None


# --------------------------------------------------------------------------------------------
# the store


class Store:
    """The library of one folder. See the module docstring for threading and visibility."""

    def __init__(self, folder: Path, dim: int, *,
                 keep_versions_for: timedelta = KEEP_VERSIONS_FOR) -> None:
        """Open the library in ``folder`` (created if need be) for vectors of ``dim`` floats.

        ``dim=0`` means "not known" (no model loaded): an existing library opens with the size it
        was built with; a new one holds documents but no chunks until it is opened with a size.
        Raises `StoreError` if the library was built with a model of another hidden size, or
        cannot be opened.
        """
        if dim < 0:
            raise ValueError("the vector dimension cannot be negative")
        self.folder = Path(folder)
        self.dim = dim
        self.keep_versions_for = keep_versions_for
        # Told (besides the log) when a write waits for another process; set by the window.
        self.on_wait: Callable[[str], None] | None = None
        self._lock = threading.RLock()
        self._file_lock = FileLock(str(self.folder / LOCKS / "write.lock"))
        self._docs: dict[str, DocumentRecord] = {}
        self._docs_version: int | None = None
        with self._guard("open the library"):
            self.folder.mkdir(parents=True, exist_ok=True)
            # Interval 0: every read first checks for a newer version (~0.3 ms), so writes made by
            # other processes are seen at once.
            self._db = lancedb.connect(str(self.folder), read_consistency_interval=timedelta(0))
            if not self._open_tables(dim, create=False):
                with self._lock, self._exclusive():  # two processes may create it at once
                    self._open_tables(dim, create=True)
            self._refresh_documents()

    def _open_tables(self, dim: int, *, create: bool) -> bool:
        """Open the tables; with ``create``, make what is missing (under the write lock).
        Returns False when something is missing and ``create`` is not set."""
        existing = set(self._db.list_tables().tables)
        wanted = {DOCUMENTS, META} | ({CHUNKS} if dim > 0 or CHUNKS in existing else set())
        if not create and not wanted <= existing:
            return False
        self._chunks: Any | None = None
        if CHUNKS in existing:
            self._chunks = self._db.open_table(CHUNKS)
            self.dim = self._check_chunks_schema()
        elif dim > 0:
            self._chunks = self._db.create_table(CHUNKS, schema=chunks_schema(dim))
        self._documents = self._table(existing, DOCUMENTS, documents_schema())
        self._meta = self._table(existing, META, meta_schema())
        self._settings = self._read_meta()
        complete = "format" in self._settings and (
            self._chunks is None or not (self._missing_indexes(self._chunks) or self._missing_columns()))
        if not create:
            return complete
        if "format" not in self._settings:
            self._put_meta("format", FORMAT)
        if self._chunks is not None:
            self._add_missing_columns()
            self._ensure_indexes(self._chunks)
        return True

    def _missing_columns(self) -> dict[str, str]:
        """The `ADDED_CHUNK_COLUMNS` the chunks table lacks (it was written by an older version)."""
        assert self._chunks is not None
        names = set(self._chunks.schema.names)
        return {name: value for name, value in ADDED_CHUNK_COLUMNS.items() if name not in names}

    def _add_missing_columns(self) -> None:
        """Give an older library's chunks the columns added since (old rows get their default).
        Called under the write lock; another process may have added them meanwhile."""
        assert self._chunks is not None
        missing = self._missing_columns()
        if missing:
            log.info("adding %s to the chunks of the library at %s", ", ".join(missing), self.folder)
            self._chunks.add_columns(missing)

    def _read_meta(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self._meta.to_arrow().to_pylist()}

    @staticmethod
    def existing_dimension(folder: Path) -> int | None:
        """The vector size the library in ``folder`` was built with; None if it holds none."""
        if not Path(folder).is_dir():
            return None
        try:
            db = lancedb.connect(str(folder))
            if CHUNKS not in db.list_tables().tables:
                return None
            built = db.open_table(CHUNKS).schema.field(VECTOR_COLUMN).type
        except (OSError, RuntimeError, KeyError) as exc:
            raise StoreError(_describe(exc, "open the library", Path(folder))) from exc
        return int(built.list_size) if pa.types.is_fixed_size_list(built) else None

    def _table(self, existing: set[str], name: str, schema: pa.Schema) -> Any:
        if name in existing:
            return self._db.open_table(name)
        return self._db.create_table(name, schema=schema)

    def _check_chunks_schema(self) -> int:
        """The vector size of the chunks table; StoreError if it is not ``self.dim`` (when known)
        or the table lacks columns."""
        assert self._chunks is not None
        schema = self._chunks.schema
        built = schema.field(VECTOR_COLUMN).type if VECTOR_COLUMN in schema.names else None
        if built is None or not pa.types.is_fixed_size_list(built) or any(
                name not in schema.names and name not in ADDED_CHUNK_COLUMNS
                for name in chunks_schema(1).names):
            raise StoreError(f"The library at {self.folder} was not made by this version of "
                             "grit-desktop: remove that folder and add your documents again.")
        if self.dim and built.list_size != self.dim:
            raise StoreError(
                f"The library at {self.folder} was built with a model whose vectors have "
                f"{built.list_size} dimensions; the current model's have {self.dim}. It must be "
                "re-indexed: remove its documents and add them again (or use the model it was "
                "built with)."
            )
        return int(built.list_size)

    # ----------------------------------------------------------------------------------------
    # errors and locking

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn LanceDB I/O errors (OSError, and RuntimeError from its Rust core) into StoreError.

        The details go to the log (a file, or the terminal with -v); the message says what to do,
        and says the library is damaged only when it fails `_verify`.
        """
        try:
            yield
        except StoreError:
            raise
        except (OSError, RuntimeError) as exc:
            log.info("store: could not %s", action, exc_info=True)
            damaged = not isinstance(exc, OSError) and not _is_disk_full(exc) and not self._verify()
            raise StoreError(_describe(exc, action, self.folder, damaged)) from exc

    def _verify(self) -> bool:
        """Whether the library reads back whole through a fresh connection (every table, every
        row of documents and meta, the chunks' row count and first rows)."""
        try:
            db = lancedb.connect(str(self.folder))
            names = set(db.list_tables().tables)
            for name in (DOCUMENTS, META):
                if name in names:
                    db.open_table(name).to_arrow()
            if CHUNKS in names:
                chunks = db.open_table(CHUNKS)
                chunks.count_rows()
                chunks.head(10)
        except Exception:  # whatever it is, the library cannot be read back: damaged
            log.info("store: the library at %s does not read back", self.folder, exc_info=True)
            return False
        return True

    @contextmanager
    def _write(self, action: str) -> Iterator[None]:
        with self._lock, self._guard(action), self._exclusive():
            yield

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the cross-process write lock; on first taking it, catch up with other writers."""
        if self._file_lock.is_locked:  # this thread holds it already
            with self._file_lock:
                yield
            return
        (self.folder / LOCKS).mkdir(exist_ok=True)
        try:
            self._file_lock.acquire(timeout=WRITE_WAIT_NOTICE_S)
        except Timeout:
            notice = "waiting for another grit-desktop process to finish writing to the library"
            log.warning("%s at %s", notice, self.folder)
            if self.on_wait is not None:
                self.on_wait(notice)
            self._file_lock.acquire()
        try:
            if hasattr(self, "_documents"):
                self._refresh_documents()
                self._settings = self._read_meta()
            yield
        finally:
            self._file_lock.release()

    def lock_document(self, doc_id: str, timeout: float = 0) -> FileLock | None:
        """Take the lock a process holds while it indexes ``doc_id``, waiting up to ``timeout``
        seconds; None if another process holds it. Release it with ``.release()``."""
        with self._guard("add the document"):
            (self.folder / LOCKS).mkdir(exist_ok=True)
            lock = FileLock(str(self.folder / LOCKS / f"{doc_id}.lock"))
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                return None
            return lock

    def _refresh_documents(self) -> None:
        """Re-read the documents when their table changed (here or in another process)."""
        version = self._documents.version
        if version != self._docs_version:
            rows = self._documents.to_arrow().to_pylist()
            self._docs = {d.doc_id: d for d in map(_document_from_row, rows)}
            self._docs_version = version

    def version(self) -> int:
        """The documents table's version: it changes whenever a document is added, changed or
        removed, by any process. Cheap (~1 ms); the window polls it."""
        with self._guard("read the library"):
            return int(self._documents.version)

    def _snapshot(self) -> dict[str, DocumentRecord]:
        with self._lock, self._guard("read the library"):
            self._refresh_documents()
            return dict(self._docs)

    def _put_meta(self, key: str, value: str) -> None:
        row = pa.table({"key": [key], "value": [value]}, schema=meta_schema())
        self._meta.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(row)
        self._settings[key] = value

    # ----------------------------------------------------------------------------------------
    # documents

    def put_document(self, doc: DocumentRecord) -> None:
        """Insert ``doc``, or replace the document with its ``doc_id`` (its chunks stay)."""
        _check_status(doc.status)
        row = pa.Table.from_pylist([_document_row(doc)], schema=documents_schema())
        with self._write("save the document"):
            (self._documents.merge_insert("doc_id").when_matched_update_all()
             .when_not_matched_insert_all().execute(row))
            self._docs[doc.doc_id] = doc

    def set_status(self, doc_id: str, status: DocStatus, error: str = "", chunks: int | None = None) -> None:
        """Change a document's status and error (and chunk count if given); DocumentGone if unknown."""
        _check_status(status)
        with self._write("update the document"):
            doc = self._docs.get(doc_id)
            if doc is None:
                raise DocumentGone(f"the document {doc_id[:12]} is no longer in the library")
            new = replace(doc, status=status, error=error, chunks=doc.chunks if chunks is None else chunks)
            self._documents.update(where=f"doc_id = {_sql(doc_id)}",
                                   values={"status": status, "error": error, "chunks": new.chunks})
            self._docs[doc_id] = new

    def document(self, doc_id: str) -> DocumentRecord | None:
        return self._snapshot().get(doc_id)

    def document_by_path(self, path: str) -> DocumentRecord | None:
        """The document last added from ``path``, or None."""
        found = [d for d in self._snapshot().values() if d.path == path]
        return max(found, key=lambda d: d.added_at, default=None)

    def documents(self) -> list[DocumentRecord]:
        """All documents, oldest first (by ``added_at``)."""
        return sorted(self._snapshot().values(), key=lambda d: (d.added_at, d.doc_id))

    def delete_document(self, doc_id: str) -> None:
        """Remove the document's chunks, then its row (two writes; a crash between them leaves a
        document with no chunks, never chunks with no document). Unknown ids are ignored."""
        where = f"doc_id = {_sql(doc_id)}"
        with self._write("remove the document"):
            if self._chunks is not None:
                self._chunks.delete(where)
            self._documents.delete(where)
            self._docs.pop(doc_id, None)

    # ----------------------------------------------------------------------------------------
    # chunks

    def add_chunks(self, chunks: Sequence[ChunkRecord]) -> None:
        """Append ``chunks`` in one write. Their documents must have been put first (ValueError
        otherwise); nothing checks that a chunk is not already there."""
        if not chunks:
            return
        if self._chunks is None:
            raise ValueError("this library was opened without a vector size (no model)")
        table = _chunks_table(chunks, self.dim)
        with self._write("save the passages"):
            unknown = {c.doc_id for c in chunks} - self._docs.keys()
            if unknown:
                raise DocumentGone(f"chunks of documents no longer in the library: {sorted(unknown)}")
            self._chunks.add(table)

    def delete_chunks(self, doc_id: str) -> None:
        """Remove every chunk of ``doc_id`` (one write); the document row stays."""
        with self._write("remove the passages"):
            if self._chunks is not None:
                self._chunks.delete(f"doc_id = {_sql(doc_id)}")

    def chunk_count(self, doc_id: str) -> int:
        if self._chunks is None:
            return 0
        with self._guard("read the library"):
            return int(self._chunks.count_rows(f"doc_id = {_sql(doc_id)}"))

    def chunks_of(self, doc_id: str) -> list[ChunkRecord]:
        """The chunks of ``doc_id`` (whatever its status), by index, with their vectors."""
        if self._chunks is None:
            return []
        with self._guard("read the library"):
            table = self._chunks.search().where(f"doc_id = {_sql(doc_id)}").to_arrow()
        return _chunks_from_table(table.sort_by("chunk_index"), self.dim)

    def chunk(self, chunk_id: str) -> SearchHit | None:
        """The chunk ``chunk_id`` (whatever its document's status) as a hit with score 0 and no
        ranks; None if it or its document is gone."""
        if self._chunks is None:
            return None
        with self._guard("read the library"):
            rows = (self._chunks.search().where(f"chunk_id = {_sql(chunk_id)}")
                    .select(HIT_COLUMNS).limit(1).to_arrow().to_pylist())
        doc = self.document(rows[0]["doc_id"]) if rows else None
        return _hit(rows[0], doc, 0.0, None, None) if rows and doc else None

    # ----------------------------------------------------------------------------------------
    # search

    def search_vector(self, vector: np.ndarray, k: int = 10, doc_ids: Sequence[str] | None = None,
                      *, exact: bool = False) -> list[SearchHit]:
        """The ``k`` visible chunks nearest to ``vector`` (cosine), best first, scored by cosine
        similarity. ANN once the index is built, exact (flat) before, or when asked (``exact``:
        slow on a large library, for checks). ValueError if ``vector`` is not ``[dim]`` finite
        and non-zero."""
        return self._search_vector(vector, k, doc_ids, exact, ANN_REFINE_FACTOR)

    def _search_vector(self, vector: np.ndarray, limit: int, doc_ids: Sequence[str] | None,
                       exact: bool, refine_factor: int) -> list[SearchHit]:
        if self._chunks is None:
            return []
        query = self._query_vector(vector)
        scope = self._scope(doc_ids)
        if limit <= 0 or scope is None:
            return []
        exact = exact or (scope.rows is not None and scope.rows <= EXACT_SCOPE_ROWS)
        # Without a filter, or with the broad "not these documents" one, ANN_NPROBES partitions
        # hold `limit` hits: a bound on the probes saves ~10 ms (lance issue #5637). Should the
        # filter leave fewer, search again unbounded. A "these documents" filter is unbounded at
        # once: lance then searches a selective filter exhaustively (measured: see
        # EXACT_SCOPE_ROWS).
        bounded = scope.rows is None
        rows = self._vector_rows(query, limit, scope.where, exact, refine_factor, bounded)
        if bounded and scope.where and not exact and len(rows) < limit:
            rows = self._vector_rows(query, limit, scope.where, exact, refine_factor, False)
        return self._hits(rows, [1.0 - r["_distance"] for r in rows], vector=True)

    def _vector_rows(self, query: np.ndarray, limit: int, where: str | None, exact: bool,
                     refine_factor: int, bounded: bool) -> list[dict[str, Any]]:
        assert self._chunks is not None
        with self._guard("search the library"):
            builder = (self._chunks.search(query, query_type="vector", vector_column_name=VECTOR_COLUMN)
                       .distance_type("cosine").select([*HIT_COLUMNS, "_distance"]).limit(limit))
            if exact:
                builder = builder.bypass_vector_index()
            else:
                builder = (builder.minimum_nprobes(ANN_NPROBES)
                           .maximum_nprobes(ANN_NPROBES if bounded else 0)
                           .refine_factor(refine_factor))
            if where is not None:
                builder = builder.where(where, prefilter=True)
            rows: list[dict[str, Any]] = builder.to_arrow().to_pylist()
        return rows

    def search_text(self, query: str, k: int = 10, doc_ids: Sequence[str] | None = None) -> list[SearchHit]:
        """The ``k`` visible chunks that best match the words of ``query`` (BM25), best first.

        ``query`` is plain words: quotes, colons, brackets, ``AND``/``OR``/``*`` have no special
        meaning (it is matched as one OR of its terms), so nothing a person types makes it raise.
        """
        text = " ".join(query.split())[:MAX_QUERY_CHARS]
        scope = self._scope(doc_ids)
        if k <= 0 or not text or scope is None or self._chunks is None:
            return []
        with self._guard("search the library"):
            builder = (self._chunks.search(MatchQuery(text, TEXT_COLUMN), query_type="fts")
                       .select([*HIT_COLUMNS, "_score"]).limit(k))
            if scope.where is not None:
                builder = builder.where(scope.where, prefilter=True)
            rows = builder.to_arrow().to_pylist()
        return self._hits(rows, [float(r["_score"]) for r in rows], vector=False)

    def search_hybrid(self, vector: np.ndarray, query: str, k: int = 10,
                      doc_ids: Sequence[str] | None = None) -> list[SearchHit]:
        """Vector and full-text search fused by reciprocal rank (`rrf_fuse`), best ``k`` first.

        Each list is fetched deeper than ``k`` (HYBRID_FETCH_FACTOR), with the filters and ANN
        parameters of `search_vector` and `search_text`.
        """
        if k <= 0:
            return []
        fetch = max(k * HYBRID_FETCH_FACTOR, HYBRID_MIN_FETCH)
        # Re-rank as many candidates as a plain search of k does (at least): the top k of the
        # deeper list are as exact, and the rest only add to fused scores.
        refine = max(1, -(-k * ANN_REFINE_FACTOR // fetch))
        vector_hits = self._search_vector(vector, fetch, doc_ids, False, refine)
        text_hits = self.search_text(query, fetch, doc_ids)
        return rrf_fuse(vector_hits, text_hits, k)

    def _query_vector(self, vector: np.ndarray) -> np.ndarray:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape != (self.dim,) or not np.isfinite(query).all() or not query.any():
            raise ValueError(f"a query vector must be [{self.dim}] finite, non-zero floats")
        return query

    def _scope(self, doc_ids: Sequence[str] | None) -> _Scope | None:
        """The prefilter for visible chunks (in ``doc_ids`` if given); None if there are none."""
        docs = self._snapshot()
        if doc_ids is None:
            hidden = sorted(d for d, doc in docs.items() if doc.status != "ready")
            return _Scope(f"doc_id NOT IN ({_sql_list(hidden)})" if hidden else None)
        wanted = sorted({d for d in doc_ids if d in docs and docs[d].status == "ready"})
        if not wanted:
            return None
        return _Scope(f"doc_id IN ({_sql_list(wanted)})", sum(docs[d].chunks for d in wanted))

    def _hits(self, rows: list[dict[str, Any]], scores: list[float], vector: bool) -> list[SearchHit]:
        docs = self._snapshot()
        hits: list[SearchHit] = []
        for row, score in zip(rows, scores, strict=True):
            doc = docs.get(row["doc_id"])
            if doc is None or doc.status != "ready":
                continue  # a chunk without a document: never shown
            rank = len(hits) + 1
            hits.append(_hit(row, doc, score, rank if vector else None, None if vector else rank))
        return hits

    # ----------------------------------------------------------------------------------------
    # maintenance

    def optimize(self) -> None:
        """Bring the indexes up to date and compact the tables; call after an ingest.

        Builds the ANN index once there are ANN_MIN_ROWS chunks (and retrains it when the table
        has grown ANN_RETRAIN_GROWTH times since), folds new rows into the full-text and ANN
        indexes, merges small files and deletes old table versions. Can take minutes on a large
        library (see benchmarks/search_latency.py for the build time of 100k x 4096 chunks).
        """
        with self._write("optimize the library"):
            tables = [self._documents, self._meta]
            if self._chunks is not None:
                self._ensure_indexes(self._chunks)
                self._maybe_build_ann(self._chunks)
                tables.insert(0, self._chunks)
            with warnings.catch_warnings():
                # Tests keep no old version (cleanup_older_than=0), which lancedb warns about.
                warnings.filterwarnings("ignore", r"optimize\(cleanup_older_than=0\)", UserWarning)
                for table in tables:
                    table.optimize(cleanup_older_than=self.keep_versions_for)

    def needs_tidy(self) -> bool:
        """Whether old versions piled up (more than TIDY_VERSIONS in a table): a run was killed
        before its `optimize`. Then the next ingest optimizes even if it adds nothing."""
        with self._guard("read the library"):
            tables = [t for t in (self._chunks, self._documents, self._meta) if t is not None]
            return any(len(t.list_versions()) > TIDY_VERSIONS for t in tables)

    @staticmethod
    def _missing_indexes(chunks: Any) -> list[str]:
        indexed = {tuple(i.columns) for i in chunks.list_indices()}
        return [c for c in (TEXT_COLUMN, *SCALAR_COLUMNS) if (c,) not in indexed]

    def _ensure_indexes(self, chunks: Any) -> None:
        """Create the full-text and scalar indexes where missing (cheap: they start empty)."""
        for column in self._missing_indexes(chunks):
            chunks.create_index(column, config=FTS() if column == TEXT_COLUMN else BTree())

    def _maybe_build_ann(self, chunks: Any) -> None:
        rows = int(chunks.count_rows())
        if rows < ANN_MIN_ROWS:
            return
        trained = int(self._settings.get("ann_trained_rows", "0")) if self._has_index(VECTOR_COLUMN) else 0
        if trained and rows < trained * ANN_RETRAIN_GROWTH:
            return
        config = ann_config(self.dim)
        log.info("store: building the ANN index over %d chunks: %s", rows, config)
        chunks.create_index(VECTOR_COLUMN, config=config, replace=True)
        self._put_meta("ann_trained_rows", str(rows))

    def _index(self, column: str) -> Any | None:
        if self._chunks is None:
            return None
        return next((i for i in self._chunks.list_indices() if list(i.columns) == [column]), None)

    def _has_index(self, column: str) -> bool:
        return self._index(column) is not None

    def stats(self) -> dict[str, int | bool]:
        """Counts and index state, for the status bar, the CLI and benchmarks."""
        docs = self._snapshot()
        with self._guard("read the library"):
            rows = int(self._chunks.count_rows()) if self._chunks is not None else 0
            ann = self._index(VECTOR_COLUMN)
            fts = self._index(TEXT_COLUMN)
        return {
            "documents": len(docs),
            "ready_documents": sum(d.status == "ready" for d in docs.values()),
            "chunks": rows,
            "dim": self.dim,
            "has_fts_index": fts is not None,
            "fts_unindexed_chunks": int(fts.num_unindexed_rows or 0) if fts else rows,
            "has_ann_index": ann is not None,
            "ann_unindexed_chunks": int(ann.num_unindexed_rows or 0) if ann else rows,
            "ann_trained_chunks": int(self._settings.get("ann_trained_rows", "0")) if ann else 0,
            "disk_bytes": sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file()),
        }
