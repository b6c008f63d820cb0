"""The records of the library, as plain data: documents, chunks, search hits and the numbered
passages (sources) an answer is given.

Kept apart from `store` (LanceDB) so that the window can show them without loading the
database or the model.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from grit_desktop.engine.documents.span import Span

if TYPE_CHECKING:
    import numpy as np

DocStatus = Literal["indexing", "ready", "error"]


def make_chunk_id(doc_id: str, index: int) -> str:
    """The id of chunk ``index`` of ``doc_id``: sorts in document order."""
    return f"{doc_id}:{index:06d}"


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str  # sha256 of the file content (hex)
    path: str  # absolute path of the file when indexed
    title: str
    author: str
    pages: int
    bytes: int
    mtime: float
    status: DocStatus
    added_at: float  # epoch seconds
    error: str = ""  # reason when status == "error"
    chunks: int = 0  # chunks expected/written


@dataclass(frozen=True, eq=False, kw_only=True)
class ChunkRecord(Span):
    """One chunk of a document. ``vector`` is float32 ``[dim]``, L2-normalised.

    Compared by identity (``eq=False``): an array field has no single truth value.
    """

    doc_id: str
    index: int  # 0.. within the document
    text: str
    tokens: int
    vector: np.ndarray

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def chunk_id(self) -> str:
        return make_chunk_id(self.doc_id, self.index)


@dataclass(frozen=True, kw_only=True)
class SearchHit(Span):
    """A chunk found by a search, with the title and path of its document.

    ``score`` is higher for better hits: cosine similarity (vector search), BM25 (text search) or
    the fused reciprocal-rank score (hybrid). The ranks are 1-based positions in the vector and
    full-text result lists, None where the chunk was not in that list.
    """

    chunk_id: str
    doc_id: str
    index: int
    text: str
    tokens: int
    title: str
    path: str
    score: float
    vector_rank: int | None = None
    text_rank: int | None = None


@dataclass(frozen=True, kw_only=True)
class Source(Span):
    """A passage given to the model for an answer; ``n`` is its citation number ([n])."""

    n: int
    chunk_id: str
    doc_id: str
    title: str
    path: str
    score: float
    text: str

    @classmethod
    def of(cls, n: int, hit: SearchHit) -> Source:
        """Search hit ``hit`` as the answer's passage ``n``."""
        return cls(n=n, chunk_id=hit.chunk_id, doc_id=hit.doc_id, title=hit.title, path=hit.path,
                   score=hit.score, text=hit.text, page_start=hit.page_start,
                   page_end=hit.page_end, char_start=hit.char_start, char_end=hit.char_end,
                   heading=hit.heading)


@dataclass(frozen=True)
class Scope:
    """The documents a question is asked of: ``doc_ids``, and every document whose file lies
    under one of ``folders`` (absolute paths; a document added there later is in scope too).
    Empty: the whole library."""

    doc_ids: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.doc_ids or self.folders)

    def select(self, docs: Iterable[DocumentRecord]) -> list[DocumentRecord]:
        """The documents of ``docs`` in this scope (all of them when the scope is empty)."""
        if not self:
            return list(docs)
        ids = set(self.doc_ids)
        folders = [os.path.join(f, "") for f in self.folders]
        return [d for d in docs if d.doc_id in ids or any(d.path.startswith(f) for f in folders)]

    def describe(self) -> str:
        """``2 documents and ~/Papers``; ``the whole library`` when empty."""
        if not self:
            return "the whole library"
        n = len(self.doc_ids)
        parts = [f"{n} document{'s' if n != 1 else ''}"] if n else []
        home = os.path.expanduser("~")
        for folder in self.folders:
            inside = folder == home or folder.startswith(home + os.sep)
            parts.append("~" + folder[len(home):] if inside else folder)
        return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)

    def to_json(self) -> dict[str, list[str]]:
        return {"docs": list(self.doc_ids), "folders": list(self.folders)}

    @classmethod
    def from_json(cls, data: dict[str, list[str]] | None) -> Scope:
        data = data or {}
        return cls(tuple(data.get("docs", ())), tuple(data.get("folders", ())))
