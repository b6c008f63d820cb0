"""Where a passage is in its document: the one location type every passage record shares.

A chunk as cut (`chunking.Chunk`), as stored (`records.ChunkRecord`), as found
(`records.SearchHit`) and as given to the model and cited (`records.Source`) are each a `Span`
with more fields; all are built by keyword, so no two positions can be swapped unseen.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Span:
    """Pages are 1-based; characters are offsets into the page's extracted text: from
    ``char_start`` on page ``page_start`` to ``char_end`` (exclusive) on page ``page_end``.
    ``heading`` is the title of the nearest heading (chapter, section) at or before the start,
    "" where the document has none there (or the passage was stored before headings were)."""

    page_start: int
    page_end: int   # >= page_start
    char_start: int
    char_end: int
    heading: str = ""

    @property
    def pages(self) -> str:
        """``p. 3`` or ``pp. 3-4``."""
        return page_label(self.page_start, self.page_end)

    @property
    def location(self) -> str:
        """``§ Installation, p. 12``, or ``p. 12`` without a heading: where a person finds the
        passage, as shown in sources and exports."""
        return location_label(self.heading, self.page_start, self.page_end)


def page_label(start: int, end: int) -> str:
    """``p. 3`` or ``pp. 3-4``: how pages are written everywhere (window, CLI, export)."""
    return f"pp. {start}-{end}" if end != start else f"p. {start}"


#: Longest heading shown in a location (characters); longer ones are cut with an ellipsis.
MAX_SHOWN_HEADING = 60


def location_label(heading: str, start: int, end: int) -> str:
    """``§ Installation, p. 12`` (``pp. 12-13``), or the pages alone without a heading."""
    pages = page_label(start, end)
    heading = " ".join(heading.split())
    if not heading:
        return pages
    if len(heading) > MAX_SHOWN_HEADING:
        heading = heading[:MAX_SHOWN_HEADING - 1].rstrip() + "…"
    return f"§ {heading}, {pages}"
