"""The records of the library, as plain data: documents, chunks and search hits.

Kept apart from `store` (LanceDB) so that the window can show them without loading the
database or the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True, eq=False)
class ChunkRecord:
    """One chunk of a document. ``vector`` is float32 ``[dim]``, L2-normalised.

    Compared by identity (``eq=False``): an array field has no single truth value.
    """

    doc_id: str
    index: int  # 0.. within the document
    text: str
    page_start: int  # 1-based
    page_end: int
    char_start: int
    char_end: int
    tokens: int
    vector: np.ndarray

    @property
    def chunk_id(self) -> str:
        return make_chunk_id(self.doc_id, self.index)


@dataclass(frozen=True)
class SearchHit:
    """A chunk found by a search, with the title and path of its document.

    ``score`` is higher for better hits: cosine similarity (vector search), BM25 (text search) or
    the fused reciprocal-rank score (hybrid). The ranks are 1-based positions in the vector and
    full-text result lists, None where the chunk was not in that list.
    """

    chunk_id: str
    doc_id: str
    index: int
    text: str
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    tokens: int
    title: str
    path: str
    score: float
    vector_rank: int | None
    text_rank: int | None
