"""Finding the passages a question is answered from: the first half of answering.

`retrieve` embeds the question with the query instruction, searches the library (hybrid: vector
and full text, fused), and numbers the passages from 1, best first. Two things make a
conversation work: a short follow-up ("and the second one?") is searched together with the
previous question, and a question that names a page ("what about page 5?") first takes the
passages on that page of the documents the conversation cited last.

The answerer (`engine/answering/rag.py`) is given what this returns; it never sees the library.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grit_desktop.engine.chats import Message
from grit_desktop.engine.index.library import Library
from grit_desktop.engine.index.records import Scope, SearchHit, Source
from grit_desktop.errors import GritError

#: A question this short (in words) is read together with the previous one when searching.
FOLLOW_UP_WORDS = 8
#: The most passages one answer may be given (a 7B model's context holds ~30 passages of 250).
MAX_K = 64
NO_DOCUMENTS = ("When this was asked, no document of the library was ready: this answer comes "
                "from the model alone.")
NO_MATCH = "No passage of the library matched: this answer comes from the model alone."
NO_DOCUMENTS_IN_SCOPE = ("None of the documents this chat asks of is in the library and ready: this "
                         "answer comes from the model alone.")
_PAGE_REF = re.compile(r"\b(?:pages?|pp?\.)\s*(\d{1,5})(?:\s*(?:-|–|to)\s*(\d{1,5}))?", re.I)


@dataclass(frozen=True)
class Passages:
    """What retrieval found for a question: ``sources`` numbered from 1, best first; with none,
    ``note`` says why, for the user. ``ms``: how long finding them took."""

    sources: list[Source]
    note: str = ""
    ms: float = 0.0


def retrieve(library: Library, question: str, history: Sequence[Message] = (),
             k: int | None = None, scope: Scope = Scope()) -> Passages:
    """The ``k`` passages of ``library`` for ``question`` (``k`` None: the setting), from the
    documents in ``scope`` only (empty: all); both searches are prefiltered to them, so a small
    scope still gives ``k`` passages when it holds that many.

    GritError for an empty question or ``k`` outside 1..MAX_K.
    """
    t0 = time.perf_counter()
    question = check_question(question)
    k = check_k(k) or library.settings.top_k
    ready = library.ready_in(scope)
    if not ready:  # nothing to search: the question is answered without passages
        note = NO_DOCUMENTS_IN_SCOPE if scope else NO_DOCUMENTS
        return Passages([], note, (time.perf_counter() - t0) * 1000)
    query = search_text(question, history)
    vector = library.query_vector(query)
    on_pages = _passages_on_pages(library, question, history, vector, k, ready)
    hits = library.search(query, k, "hybrid", ready if scope else None, vector=vector)
    chosen = _merge(on_pages, hits, k)
    sources = [Source.of(n, hit) for n, hit in enumerate(chosen, 1)]
    return Passages(sources, "" if sources else NO_MATCH, (time.perf_counter() - t0) * 1000)


def check_question(question: str) -> str:
    """``question`` without surrounding blanks; GritError if nothing is left."""
    text = question.strip()
    if not text:
        raise GritError("The question is empty: type what you want to know.")
    return text


def check_k(k: int | None) -> int | None:
    """``k`` (None: the setting); GritError outside 1..MAX_K."""
    if k is not None and not 1 <= k <= MAX_K:
        raise GritError(f"The number of passages must be between 1 and {MAX_K} (got {k}).")
    return k


def search_text(question: str, history: Sequence[Message]) -> str:
    """What is searched for: the question, with the previous one when it is a short follow-up."""
    previous = next((m.text for m in reversed(history) if m.role == "user"), None)
    if previous and len(question.split()) <= FOLLOW_UP_WORDS:
        return f"{previous}\n{question}"
    return question


def page_references(question: str) -> list[int]:
    """Page numbers a question names: "page 5", "p. 12", "pages 3-4" (at most 20 pages)."""
    pages: list[int] = []
    for m in _PAGE_REF.finditer(question):
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        pages.extend(range(first, min(last, first + 19) + 1))
    return sorted(set(pages))


def _passages_on_pages(library: Library, question: str, history: Sequence[Message],
                       vector: np.ndarray, k: int, ready: list[str]) -> list[SearchHit]:
    """The passages on the pages ``question`` names, most similar first."""
    pages = page_references(question)
    if not pages:
        return []
    found: list[tuple[float, SearchHit]] = []
    cited = [d for d in _last_cited_docs(history) if d in ready]
    for doc_id in cited or ready:
        for chunk in library.store.chunks_of(doc_id):
            if any(chunk.page_start <= p <= chunk.page_end for p in pages):
                hit = library.store.chunk(chunk.chunk_id)
                if hit is not None:
                    found.append((float(np.dot(chunk.vector, vector)), hit))
    found.sort(key=lambda pair: -pair[0])
    return [hit for _, hit in found[:k]]


def _last_cited_docs(history: Sequence[Message]) -> list[str]:
    for m in reversed(history):
        if m.role == "assistant" and m.sources:
            return list(dict.fromkeys(s.doc_id for s in m.sources))
    return []


def _merge(first: list[SearchHit], then: list[SearchHit], k: int) -> list[SearchHit]:
    seen: set[str] = set()
    merged: list[SearchHit] = []
    for hit in [*first, *then]:
        if hit.chunk_id not in seen:
            seen.add(hit.chunk_id)
            merged.append(hit)
    return merged[:k]
