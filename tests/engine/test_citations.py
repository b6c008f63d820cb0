from __future__ import annotations

import random

import pytest

from grit_desktop.engine.answering.citations import CitationFilter, cited_numbers


def stream(text: str, n: int, cuts: list[int]) -> str:
    f = CitationFilter(n)
    pieces, last = [], 0
    for c in [*cuts, len(text)]:
        pieces.append(f.push(text[last:c]))
        last = c
    return "".join(pieces) + f.flush()


@pytest.mark.parametrize(("text", "n", "want"), [
    ("It lasts two years [1].", 4, "It lasts two years [1]."),
    ("It lasts two years [7].", 4, "It lasts two years ."),
    ("See [2, 9] and [3][5].", 4, "See [2] and [3]."),
    ("Keep [sic] and [a, b] and [x] as they are.", 2, "Keep [sic] and [a, b] and [x] as they are."),
    ("An open bracket at the end [", 2, "An open bracket at the end ["),
    ("Numbers [12345678901234567890123456] too long", 3, "Numbers [12345678901234567890123456] too long"),
    ("[1; 2] semicolons", 2, "[1, 2] semicolons"),
])
def test_filter_keeps_only_given_passages(text: str, n: int, want: str) -> None:
    assert stream(text, n, []) == want
    rng = random.Random(0)
    for _ in range(50):  # however the text is split into streamed pieces
        cuts = sorted(rng.sample(range(1, len(text)), k=min(5, len(text) - 1)))
        assert stream(text, n, cuts) == want


def test_cited_numbers_in_order() -> None:
    assert cited_numbers("a [2] b [1, 2] c [3]") == [2, 1, 3]
    assert cited_numbers("no citations [x]") == []
