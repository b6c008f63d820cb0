"""Keeping an answer's citations honest while it streams.

The model is asked to cite passages as ``[n]``. A citation of a passage it was not given (``[7]``
when there were four) would send the reader nowhere, so it is dropped from the text as it
streams. Text in brackets that is not a citation (``[sic]``, ``[a, b]``) passes unchanged.
"""

from __future__ import annotations

import re

#: A citation: ``[2]``, ``[1, 3]``, ``[1; 3]``; group 1 holds the numbers (see `numbers`).
CITATION = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_PARTIAL = re.compile(r"\[[\d\s,;]*$")
_LONGEST = 24  # a bracket held longer than this is not a citation


def numbers(citation: re.Match[str]) -> list[int]:
    """The passage numbers of one `CITATION` match, as written."""
    return [int(part) for part in re.split(r"[,;]", citation.group(1))]


def cited_numbers(text: str) -> list[int]:
    """The passage numbers cited in ``text``, in order of first citation."""
    found: list[int] = []
    for m in CITATION.finditer(text):
        for n in numbers(m):
            if n not in found:
                found.append(n)
    return found


def strip_citations(text: str) -> str:
    """``text`` without its citations (and the blank before each): an earlier answer put back
    into a prompt, whose numbers meant that turn's passages."""
    return re.sub(r"\s?" + CITATION.pattern, "", text)


class CitationFilter:
    """Streams text through, removing citations outside ``1..n_sources``."""

    def __init__(self, n_sources: int) -> None:
        self.n_sources = n_sources
        self._held = ""

    def push(self, piece: str) -> str:
        """Add streamed text; return what can be shown now."""
        text = self._held + piece
        self._held = ""
        out: list[str] = []
        i = 0
        while i < len(text):
            start = text.find("[", i)
            if start < 0:
                out.append(text[i:])
                break
            out.append(text[i:start])
            rest = text[start:]
            full = CITATION.match(rest)
            if full:
                out.append(self._keep(full))
                i = start + full.end()
            elif _PARTIAL.match(rest) and len(rest) < _LONGEST:
                self._held = rest  # may still become a citation
                break
            else:
                out.append("[")
                i = start + 1
        return "".join(out)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _keep(self, citation: re.Match[str]) -> str:
        valid = [n for n in numbers(citation) if 1 <= n <= self.n_sources]
        if not valid:
            return ""
        return "[" + ", ".join(str(n) for n in valid) + "]" if len(valid) > 1 else f"[{valid[0]}]"
