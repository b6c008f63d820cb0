"""The records of the library, as plain data: documents, chunks, search hits and the numbered
passages (sources) an answer is given.

Kept apart from `store` (LanceDB) so that the window can show them without loading the
database or the model.
"""

from __future__ import annotations

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
                   page_end=hit.page_end, char_start=hit.char_start, char_end=hit.char_end)
