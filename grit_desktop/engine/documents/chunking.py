"""Token-aware chunking: page texts cut into passages of at most ``chunk_tokens`` tokens, each
with the exact span of pages and characters it came from.

A chunk is a span of the document: it starts at ``char_start`` in page ``page_start`` and ends
before ``char_end`` in page ``page_end``; its text is the page text in between, with `PAGE_BREAK`
between the end of one page and the start of the next (`span_text`). Pages whose text is empty or
only whitespace hold no chunk and are skipped where a chunk spans them. Chunks start and end on
non-whitespace characters, every non-whitespace character of the document is in at least one
chunk, and the whitespace between two chunks that do not overlap is in neither.

Cut points, best first: the end of a paragraph (a blank line, or a page that ends a sentence),
the end of a sentence (``. ! ?`` before whitespace and a character that is not a lower-case
letter; ``。！？`` anywhere), a space between words, and as a last resort a character inside a
word (a long URL, a base64 blob, CJK text without punctuation). A chunk ends at the best cut point
that keeps it at least half full. Consecutive chunks overlap by whole units (sentences, or pieces
of an over-long sentence) worth about ``overlap_tokens``, never more than half a chunk.

Tokens are counted in batches, and the text about once: chunks are laid out by an estimate
(UTF-8 bytes times a tokens-per-byte ratio counted on a sample of 1 in 64 sentences), then
counted, up to `MAX_AHEAD` chunks per call, so ``Chunk.tokens`` is the counter's count of
``Chunk.text`` and never exceeds ``chunk_tokens``. Where a chunk is over the limit (the estimate
ran low there: a table of figures in a page of prose), the layout goes on from that chunk with the
estimate scaled by how far it was off, and eases back as chunks come in under it. The counter
the app uses (`tokenizer_counter`) is a `WordCounter`: the tokenizer's own counts, summed from a
cache of each word's count, several times faster than running the tokenizer over every chunk.

Pure Python and the counter: safe on any thread (the counter's own rules apply).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from grit_desktop.engine.documents.span import Span

if TYPE_CHECKING:
    from grit_desktop.engine.documents.pdf import PageText

log = logging.getLogger(__name__)

#: Token count of each string (called with many strings at once).
TokenCounter = Callable[[Sequence[str]], list[int]]

#: What separates the end of one page's text from the next page's in a chunk that spans pages.
PAGE_BREAK = "\n\n"

#: Most strings handed to the counter in one call (bounds the tokenizer's memory).
COUNT_BATCH = 4096
#: Smallest ``chunk_tokens`` accepted: one character may take several tokens.
MIN_CHUNK_TOKENS = 8
#: Chunks are packed to this share of ``chunk_tokens`` by estimate, so that few need cutting
#: again once counted.
FILL_TARGET = 0.95
#: Chunks laid out and counted in one batch: first, and at most (doubling while none is over;
#: one after a chunk was over).
FIRST_AHEAD = 16
MAX_AHEAD = 64
#: Units counted to calibrate the estimate of tokens per byte (at least; 1 in 64 if more).
CALIBRATION_UNITS = 64
#: A chunk may end early at a better cut point, but not below this share of its budget.
MIN_FILL = 0.5

# How good a cut point is (the cut before a unit).
INSIDE_WORD, WORD, SENTENCE, PARAGRAPH = 0, 1, 2, 3


@dataclass(frozen=True, kw_only=True)
class Chunk(Span):
    """A passage of a document and where it is (pages are 1-based positions in the sequence
    given to `chunk_pages`, which for a whole `ParsedPdf` are the page numbers; ``char_start`` is
    an offset into pages[page_start-1].text, ``char_end`` one into pages[page_end-1].text)."""

    index: int        # 0.. within the document, in reading order
    text: str
    tokens: int       # token count of text (by the counter)


class _Span(NamedTuple):
    """0-based pages; the text from (ps, cs) to (pe, ce) as `span_text` joins it."""

    ps: int
    cs: int
    pe: int
    ce: int


def span_text(pages: Sequence[PageText], page_start: int, char_start: int,
              page_end: int, char_end: int) -> str:
    """The text a chunk with these (1-based) pages and offsets holds: the rest of the first page,
    the whole of every page in between that is not blank, the start of the last page, joined
    with `PAGE_BREAK`."""
    if page_start == page_end:
        return pages[page_start - 1].text[char_start:char_end]
    middle = [p.text for p in pages[page_start:page_end - 1] if p.text.strip()]
    return PAGE_BREAK.join([pages[page_start - 1].text[char_start:], *middle,
                            pages[page_end - 1].text[:char_end]])


def _text(pages: Sequence[PageText], s: _Span) -> str:
    return span_text(pages, s.ps + 1, s.cs, s.pe + 1, s.ce)


def tokenizer_counter(tokenizer: Any, *, cache_words: bool = True) -> TokenCounter:
    """A `TokenCounter` from a `tokenizers.Tokenizer` or a transformers tokenizer: counts without
    special tokens, many strings per call (in batches of `COUNT_BATCH`).

    With ``cache_words`` (the default) and a tokenizer whose counts add up word by word
    (`WordCounter.checked`), the counter is a `WordCounter`: the same counts, from a cache
    of each word's count, without running the tokenizer over every text."""
    exact = _exact_counter(tokenizer)
    counter = WordCounter.checked(exact) if cache_words else None
    return counter or exact


def _exact_counter(tokenizer: Any) -> TokenCounter:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None and hasattr(tokenizer, "encode_batch"):
        backend = tokenizer  # a tokenizers.Tokenizer
    if backend is not None:
        encode = getattr(backend, "encode_batch_fast", None) or backend.encode_batch

        def count(texts: Sequence[str]) -> list[int]:
            out: list[int] = []
            for i in range(0, len(texts), COUNT_BATCH):
                out.extend(len(e) for e in encode(list(texts[i:i + COUNT_BATCH]), add_special_tokens=False))
            return out
    else:  # a slow (Python) transformers tokenizer

        def count(texts: Sequence[str]) -> list[int]:
            if not texts:
                return []
            ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
            return [len(x) for x in ids]

    return count


#: Texts on which a tokenizer must count every text as the sum of its words for `WordCounter`
#: to stand in for it: prose, figures, punctuation, line breaks, other scripts, symbols.
ADDITIVITY_PROBES = (
    "The warranty covers parts and labour for two years from the date of purchase.",
    "Figure 3: throughput rose 2.96x (103,423 vs 34,951 tok/s) at p50=20.0ms; see §4.2 [12].",
    "Line one ends here\nline two starts, (a) then (b)\n\nA new paragraph: \"quoted\" — it's done.",
    "https://example.org/docs/v1.2/index.html?q=grit&lang=en#top user@example.org C:\\Users",
    "Größe, café, naïve, Ελληνικά, русский текст, العربية, עברית, हिन्दी, 中文字符, 日本語のテキスト。",
    "tabs\there, nbsp\u00a0here, emoji 🙂🚀, math ∑ x² ≤ ∞, bullets • ◦ ▪, dashes – —, ellipsis…",
    "CamelCaseWords snake_case_words UPPER lower MiXeD 0xDEADBEEF 3.14159 1e-5 -42 +7 100%",
)


#: Whitespace that a tokenizer may merge into one token (checked word sums against its counts).
WHITESPACE_PROBES = (
    "a \nb", "a\n b", "a\n\n\nb", "a\n\n\n\nb", "a\n\n b", "a \n\nb", "a\t b", "a \tb", "a\t\nb",
    "a\n", "a\n\n", "a ", "a\t", "a\r\nb", "a\u00a0 b", "x\u3000 y", "end.\n\n\nThe end.\n",
)


def _runs_of_spaces(text: str) -> bool:
    """Whether ``text`` starts with whitespace or has a run of spaces (which Mistral's tokenizer
    merges)."""
    return text[0].isspace() or "  " in text


def _odd_space(text: str) -> bool:
    """Whether ``text`` starts or ends with whitespace or has other whitespace than single spaces,
    line breaks and blank lines (a run of spaces, a tab: some tokenizers merge such runs). No
    character but the space is printable whitespace, so other whitespace (or control
    characters) makes the text without its line breaks unprintable. String methods only: they
    run at memory speed, where a regular expression over every chunk would cost a third of the
    counting."""
    return (text[0].isspace() or text[-1].isspace() or "  " in text or " \n" in text
            or "\n " in text or "\n\n\n" in text or not text.replace("\n", "").isprintable())


class WordCounter:
    """Token counts as sums of words' counts, each word counted once by the tokenizer and cached.

    A text is cut before every space and every line break: ``"end.\\n\\nThe cat"`` is ``end.``,
    ``\\n``, ``\\nThe``, `` cat``. The first word is counted on its own; a word after a space
    as it tokenizes after another word (``"a " + w`` less ``"a"``), a word that starts with a
    line break likewise (``"a" + w`` less ``"a"``), so the breaks between paragraphs (``\\nThe``)
    are words met again and again rather than new pairs of words. For tokenizers whose pieces
    never cross a space or a line break (SentencePiece as Mistral's, byte-level BPE) this is the
    exact count, and `checked` checks it for a given tokenizer. Runs of whitespace are where
    tokenizers differ: a text that starts with whitespace or has a run of spaces is always
    counted by the tokenizer itself, and so is one with any other whitespace than single spaces,
    line breaks and blank lines (``" \\n"``, ``"\\n\\n\\n"``, a tab, at the end) where the
    tokenizer is found to merge such runs (`WHITESPACE_PROBES`; byte-level BPEs as GPT-2's have
    tokens for them, Mistral's has not). Prose repeats its words, so counting 1,000 pages this
    way takes a small share of the tokenizer's time. The cache is cleared once its words pass
    `MAX_CACHED_CHARS`. One call at a time (a lock), so one counter may serve several threads.
    """

    MAX_CACHED_CHARS = 8_000_000
    _CONTEXT = "a"

    def __init__(self, exact: TokenCounter, *, strict: bool | None = None) -> None:
        """``strict``: whether texts with any odd whitespace go to the tokenizer (None: as
        `WHITESPACE_PROBES` show this tokenizer needs)."""
        self.exact = exact
        self._first: dict[str, int] = {}
        self._after: dict[str, int] = {}
        self._cached_chars = 0
        self._context_tokens = exact([self._CONTEXT])[0]
        self._lock = threading.Lock()
        if strict is None:
            probes = list(WHITESPACE_PROBES)
            strict = WordCounter(exact, strict=False)(probes) != exact(probes)
        self.strict = strict
        self._odd = _odd_space if strict else _runs_of_spaces

    @classmethod
    def checked(cls, exact: TokenCounter) -> WordCounter | None:
        """A counter over ``exact`` if ``exact`` counts each of `ADDITIVITY_PROBES` (and each of
        their sentences) as the sum of its words, else None."""
        texts = [*ADDITIVITY_PROBES, *(s for t in ADDITIVITY_PROBES for s in t.split(". ")[1:])]
        try:
            counter = cls(exact)
            return counter if counter(texts) == exact(texts) else None
        except Exception:  # a counter that cannot count these at all: use it as it is
            log.debug("token counter does not take word sums", exc_info=True)
            return None

    @classmethod
    def adds_up(cls, exact: TokenCounter) -> bool:
        """Whether `checked` takes ``exact``."""
        return cls.checked(exact) is not None

    def __call__(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            return self._count_words(texts)

    def _count_words(self, texts: Sequence[str]) -> list[int]:
        if self._cached_chars > self.MAX_CACHED_CHARS:
            self._first.clear()
            self._after.clear()
            self._cached_chars = 0
        first, after = self._first, self._after
        out: list[int] = [0] * len(texts)
        by_tokenizer: list[int] = []
        missed: list[tuple[int, list[str]]] = []
        new_first: set[str] = set()
        new_after: set[str] = set()
        for k, text in enumerate(texts):
            if not text:
                continue
            if self._odd(text):
                by_tokenizer.append(k)
                continue
            words = text.replace("\n", " \n").split(" ")
            try:
                out[k] = first[words[0]] + sum(map(after.__getitem__, itertools.islice(words, 1, None)))
            except KeyError:
                missed.append((k, words))
                if words[0] not in first:
                    new_first.add(words[0])
                new_after.update(set(words).difference(after))  # (the first word: harmless)
        if missed:
            self._learn(new_first, new_after)
            for k, words in missed:
                out[k] = first[words[0]] + sum(map(after.__getitem__, itertools.islice(words, 1, None)))
        if by_tokenizer:
            for k, n in zip(by_tokenizer, _count(self.exact, [texts[k] for k in by_tokenizer]), strict=True):
                out[k] = n
        return out

    def _learn(self, new_first: set[str], new_after: set[str]) -> None:
        """Count the new words, in one call of the tokenizer."""
        self._cached_chars += sum(map(len, new_first)) + sum(map(len, new_after))
        firsts, afters = list(new_first), list(new_after)
        c = self._CONTEXT
        counts = _count(self.exact, firsts + [c + w if w[:1] == "\n" else f"{c} {w}" for w in afters])
        self._first.update(zip(firsts, counts[:len(firsts)], strict=True))
        base = self._context_tokens
        self._after.update((w, n - base) for w, n in zip(afters, counts[len(firsts):], strict=True))


def _count(counter: TokenCounter, texts: Sequence[str]) -> list[int]:
    out: list[int] = []
    for i in range(0, len(texts), COUNT_BATCH):
        batch = texts[i:i + COUNT_BATCH]
        counts = counter(batch)
        if len(counts) != len(batch):
            raise ValueError(f"token counter returned {len(counts)} counts for {len(batch)} texts")
        out.extend(counts)
    return out


# --------------------------------------------------------------------------------------------
# units: sentences (or pieces of over-long ones) with the cut point before each

#: A cut between units: a blank line, or a sentence end with the whitespace after it (group 1
#: for . ! ? before a character that is not a lower-case letter, group 2 for 。！？ anywhere).
#: (It starts with a character set and looks back at it, so that the search skips quickly to
#: the next candidate character: twice as fast as a look-ahead.)
_CUT = re.compile(
    r"[\n.!?。！？](?:"
    r"(?<=\n)\s*\n\s*"
    r"|(?<=[.!?])[.!?]*['\"’”)\]]*(\s+)(?=[^\sa-zà-ÿа-яёα-ω])"
    r"|(?<=[。！？])[。！？]*['\"’”」』）)\]]*(\s*)"
    r")"
)
_ENDS_SENTENCE = re.compile(r"[.!?。！？]['\"’”」』）)\]]*\s*$")
_NON_SPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s+")


class _Units:
    """The document as a list of units, in parallel lists (fast to build and to scan)."""

    def __init__(self) -> None:
        self.page: list[int] = []
        self.start: list[int] = []
        self.end: list[int] = []
        self.level: list[int] = []     # quality of the cut before the unit
        self.size: list[float] = []    # estimated tokens of the unit with the space before it

    def __len__(self) -> int:
        return len(self.page)

    def add(self, page: int, start: int, end: int, level: int) -> None:
        self.page.append(page)
        self.start.append(start)
        self.end.append(end)
        self.level.append(level)


def _sentences(pages: Sequence[PageText]) -> _Units:
    """The sentences of every non-blank page, with the quality of the cut before each."""
    units = _Units()
    add_page, add_start, add_end, add_level = (
        units.page.append, units.start.append, units.end.append, units.level.append)
    previous: str | None = None  # text of the last non-blank page
    for p, page in enumerate(pages):
        text = page.text
        rest = text.rstrip()
        if not rest:
            continue
        n = len(rest)
        level = PARAGRAPH if previous is None or _ENDS_SENTENCE.search(previous[-8:]) else WORD
        pos = len(text) - len(text.lstrip())
        for m in _CUT.finditer(rest, pos):
            space = m.group(1) if m.group(1) is not None else m.group(2)
            if space is None:  # a blank line
                end = pos + len(rest[pos:m.start()].rstrip())
                after = PARAGRAPH
            else:
                end = m.end() - len(space)
                after = PARAGRAPH if space.count("\n") >= 2 else SENTENCE
            if end > pos:
                add_page(p), add_start(pos), add_end(end), add_level(level)
                level = after
            pos = m.end()
        if pos < n:
            add_page(p), add_start(pos), add_end(n), add_level(level)
        previous = rest
    return units


def _unit_texts(pages: Sequence[PageText], units: _Units, idx: Iterable[int]) -> list[str]:
    """For each unit in ``idx``: its text after the whitespace before it (at most two characters
    of it, or `PAGE_BREAK` at the start of a page), as the unit sits inside a chunk."""
    out = []
    for i in idx:
        p, s, e = units.page[i], units.start[i], units.end[i]
        text = pages[p].text
        if i == 0:
            out.append(text[s:e])
        elif units.page[i - 1] == p:
            out.append(text[max(units.end[i - 1], s - 2):e])
        else:
            out.append(PAGE_BREAK + text[s:e])
    return out


def _unit_sizes(pages: Sequence[PageText], units: _Units) -> list[int]:
    """The UTF-8 size of each unit's text as `_unit_texts` gives it (without building the texts
    of pages that are all ASCII)."""
    ascii_page = [p.text.isascii() for p in pages]
    out: list[int] = []
    append = out.append
    before_page, before_end = -1, 0
    for p, s, e in zip(units.page, units.start, units.end, strict=True):
        if before_page == p:
            lo, extra = max(before_end, s - 2), 0
        else:
            lo, extra = s, (len(PAGE_BREAK) if before_page >= 0 else 0)
        if ascii_page[p]:
            append(extra + e - lo)
        else:
            append(extra + len(pages[p].text[lo:e].encode("utf-8", "surrogatepass")))
        before_page, before_end = p, e
    return out


def _calibrate(pages: Sequence[PageText], units: _Units, sizes: list[int], counter: TokenCounter) -> float:
    """Tokens per UTF-8 byte, counted on an even sample of the units (about 1 in 64)."""
    step = max(1, len(units) // max(CALIBRATION_UNITS, len(units) // 64))
    tokens = sum(_count(counter, _unit_texts(pages, units, range(0, len(units), step))))
    return max(tokens, 1) / max(sum(sizes[::step]), 1)


def _estimate(pages: Sequence[PageText], units: _Units, counter: TokenCounter, max_unit: float) -> _Units:
    """Estimate every unit's tokens (bytes x a calibrated ratio), then cut units estimated over
    ``max_unit`` into pieces (at whitespace, else inside words)."""
    sizes = _unit_sizes(pages, units)
    ratio = _calibrate(pages, units, sizes, counter)
    units.size = [n * ratio for n in sizes]
    if all(z <= max_unit for z in units.size):
        return units
    out = _Units()
    for i in range(len(units)):
        p, s, e, size = units.page[i], units.start[i], units.end[i], units.size[i]
        if size <= max_unit or e - s <= 1:
            out.add(p, s, e, units.level[i])
            out.size.append(size)
            continue
        level = units.level[i]
        pieces = _pieces(pages[p].text, s, e, math.ceil(size * 4 / (3 * max_unit)))
        for ps, pe, cut in pieces:
            out.add(p, ps, pe, level)
            out.size.append(size * (pe - ps) / (e - s))
            level = cut
    return out


def _pieces(text: str, start: int, end: int, n: int) -> list[tuple[int, int, int]]:
    """``text[start:end]`` (no whitespace at either end) cut into about ``n`` pieces of equal
    length: at whitespace where there is some in the second half of a piece, else inside a word.
    Returns (start, end, quality of the cut after the piece; unused for the last)."""
    size = max(1, (end - start) // n)
    out = []
    pos = start
    while pos < end:
        target = pos + size
        if target >= end - size // 4:  # the rest, rather than a sliver
            out.append((pos, end, PARAGRAPH))
            break
        space = _last_space(text, pos + max(1, size // 2), target)
        if space is not None:
            out.append((pos, len(text[pos:space].rstrip()) + pos, WORD))
            nxt = _NON_SPACE.search(text, space, end)
            pos = nxt.start() if nxt is not None else end
        else:
            out.append((pos, target, INSIDE_WORD))
            pos = target
    return out


def _last_space(text: str, lo: int, hi: int) -> int | None:
    """The last whitespace position in ``text[lo:hi+1]``."""
    for k in range(hi, lo - 1, -1):
        if text[k].isspace():
            return k
    return None


# --------------------------------------------------------------------------------------------
# packing units into chunks


class _Layout:
    """Lays chunks out left to right. Each chunk ends where the estimate says it is full enough;
    the next few chunks are counted in one batch, and from the first that is over the limit the
    layout starts again with the estimate scaled by how far it was off there (a table of figures
    in a page of prose takes more tokens per byte than the calibration said)."""

    def __init__(self, pages: Sequence[PageText], units: _Units, counter: TokenCounter,
                 limit: int, overlap: int) -> None:
        self.pages, self.units, self.counter = pages, units, counter
        self.prefix = [0.0, *itertools.accumulate(units.size)]
        self.limit = limit
        self.overlap = min(overlap, limit // 2)
        self.scale = 1.0          # estimated tokens x scale = the budget's unit, lowered where dense
        self.ahead = FIRST_AHEAD  # chunks laid out and counted per batch

    def est(self, i: int, e: int) -> float:
        return self.prefix[e] - self.prefix[i]

    def run(self) -> list[tuple[_Span, str, int]]:
        out: list[tuple[_Span, str, int]] = []
        i, after, n = 0, 0, len(self.units)
        while i < n:
            plan = self._plan(i, after)
            spans = [_span(self.units, j, e) for j, e, _ in plan]
            texts = [_text(self.pages, s) for s in spans]
            counts = _count(self.counter, texts)
            last = None  # the last chunk taken, when the batch ended without one over the limit
            for (j, e, a), span, text, c in zip(plan, spans, texts, counts, strict=True):
                if c > self.limit:
                    i, after = self._over(out, j, e, a, span, c)
                    last = None
                    break
                out.append((span, text, c))
                self.scale = min(1.0, max(self.scale, 0.95 * self.est(j, e) / max(c, 1)))
                last = (j, e)
            else:
                self.ahead = min(2 * self.ahead, MAX_AHEAD)
            if last is not None:  # the rest of the batch was planned already: go on after it
                j, e = last
                i, after = (self._next_start(j, e), e) if e < n else (n, n)
        return out

    def _plan(self, i: int, after: int) -> list[tuple[int, int, int]]:
        """The next chunks by the estimate: (first unit, end, end of the chunk before)."""
        plan: list[tuple[int, int, int]] = []
        n = len(self.units)
        while i < after and self.est(i, after + 1) > self.budget:  # overlap too big: shrink it
            i += 1
        while len(plan) < self.ahead:
            e = self._end(i, after)
            plan.append((i, e, after))
            if e >= n:
                break
            i, after = self._next_start(i, e), e
        return plan

    def _over(self, out: list[tuple[_Span, str, int]], j: int, e: int, after: int, span: _Span,
              count: int) -> tuple[int, int]:
        """A chunk counted over the limit: where to go on from (one chunk at a time at first,
        so that a lowered scale is raised again after the first chunk that comes in under)."""
        self.ahead = 1
        if e - j == 1:  # one unit, which no estimate made fit: cut it by counting
            out.extend(_split_by_count(self.pages, span, self.counter, self.limit))
            return e, e
        self.scale = min(self.scale, self.est(j, e) / count)  # strictly lower: progress
        return j, after

    @property
    def budget(self) -> float:
        return self.limit * FILL_TARGET * self.scale

    def _end(self, i: int, after: int) -> int:
        """Where the chunk from unit i ends (after unit ``after - 1``): all the rest if it fits,
        else the best cut that keeps it at least half full, balancing the last two chunks."""
        n = len(self.units)
        rest = self.est(i, n)
        if rest <= self.limit * self.scale:
            return n
        budget = self.budget
        if rest < budget * (1 + MIN_FILL):  # a greedy cut would leave a sliver: halve instead
            budget = min(budget, (rest + self.overlap * self.scale) / 2 * 1.05)
        e_max = bisect.bisect_right(self.prefix, self.prefix[i] + budget, i + 1, n + 1) - 1
        e_max = max(e_max, i + 1, after + 1)
        if e_max >= n:
            return n
        best, best_level = e_max, self.units.level[e_max]
        floor = MIN_FILL * budget
        e = e_max - 1
        while e > max(i, after) and best_level < PARAGRAPH and self.est(i, e) >= floor:
            if self.units.level[e] > best_level:
                best, best_level = e, self.units.level[e]
            e -= 1
        return best

    def _next_start(self, i: int, e: int) -> int:
        """The first unit of the next chunk: whole trailing units of [i, e) worth about
        ``overlap`` tokens, at most half the chunk (by the estimate), leaving room for unit e."""
        prefix = self.prefix  # (est inlined: this runs for every chunk)
        want = self.overlap * self.scale
        end = prefix[e]
        cap = min(want * 1.5, (end - prefix[i]) / 2)
        after, budget = prefix[e + 1], self.budget
        best, best_gap = e, want
        s = e - 1
        while s > i and end - prefix[s] <= cap:
            gap = abs(end - prefix[s] - want)
            if gap < best_gap and after - prefix[s] <= budget:
                best, best_gap = s, gap
            s -= 1
        return best


def _span(units: _Units, i: int, e: int) -> _Span:
    return _Span(units.page[i], units.start[i], units.page[e - 1], units.end[e - 1])


def chunk_pages(
    pages: Sequence[PageText],
    count_tokens: TokenCounter,
    *,
    chunk_tokens: int = 512,
    overlap_tokens: int = 64,
) -> list[Chunk]:
    """The chunks of ``pages`` (e.g. `ParsedPdf.pages`), in reading order (module docstring).

    Every chunk has ``tokens <= chunk_tokens`` by ``count_tokens``; a document with no
    non-whitespace text has no chunks. Raises ValueError for a ``chunk_tokens`` below
    `MIN_CHUNK_TOKENS` or a negative overlap.
    """
    if chunk_tokens < MIN_CHUNK_TOKENS:
        raise ValueError(f"chunk_tokens must be at least {MIN_CHUNK_TOKENS}, not {chunk_tokens}")
    if overlap_tokens < 0:
        raise ValueError(f"overlap_tokens must not be negative, not {overlap_tokens}")
    units = _sentences(pages)
    if not units:
        return []
    units = _estimate(pages, units, count_tokens, chunk_tokens / 4)
    found = _Layout(pages, units, count_tokens, chunk_tokens, overlap_tokens).run()
    return [Chunk(index=k, text=text, tokens=n, page_start=s.ps + 1, page_end=s.pe + 1,
                  char_start=s.cs, char_end=s.ce) for k, (s, text, n) in enumerate(found)]


def _split_by_count(
    pages: Sequence[PageText], span: _Span, counter: TokenCounter, limit: int
) -> list[tuple[_Span, str, int]]:
    """Last resort for one unit whose own count is over ``limit`` (a counter far from additive):
    the longest prefixes that fit, found by bisection on characters, without overlap."""
    if span.ps != span.pe:
        raise AssertionError("a unit lies on one page")
    text = pages[span.ps].text
    out = []
    pos = span.cs
    while pos < span.ce:
        lo, hi = pos + 1, span.ce  # the longest end in [lo, hi] that fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if counter([text[pos:mid]])[0] <= limit:
                lo = mid
            else:
                hi = mid - 1
        end = pos + len(text[pos:lo].rstrip())
        n = counter([text[pos:end]])[0]
        if n > limit:
            raise ValueError(f"one character is {n} tokens, more than a chunk may hold")
        out.append((_Span(span.ps, pos, span.ps, end), text[pos:end], n))
        nxt = _SPACE.match(text, lo)
        pos = nxt.end() if nxt else lo
    return out
