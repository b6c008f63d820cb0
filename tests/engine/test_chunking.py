"""`chunk_pages`: exact spans, token limits, cut points, overlap, page spans, speed of counting."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from grit_desktop.engine.documents import chunking
from grit_desktop.engine.documents.chunking import (
    PAGE_BREAK,
    Chunk,
    TokenCounter,
    chunk_pages,
    span_text,
    tokenizer_counter,
)
from grit_desktop.engine.documents.pdf import PageText, read_pdf
from tests import pdfs


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from grit_desktop.engine.grit.synthetic import build_tokenizer

    return build_tokenizer()


@pytest.fixture(scope="module")
def bpe(tokenizer: Any) -> TokenCounter:
    return tokenizer_counter(tokenizer)


def words(texts: Sequence[str]) -> list[int]:
    """A whitespace tokenizer: one token a word."""
    return [len(t.split()) for t in texts]


def chars(texts: Sequence[str]) -> list[int]:
    return [len(t) for t in texts]


def superlinear(texts: Sequence[str]) -> list[int]:
    """Far from additive: long texts cost more per word, so estimates from sentences run low."""
    return [len(t.split()) * (1 + len(t) // 200) for t in texts]


def as_pages(texts: Sequence[str]) -> list[PageText]:
    return [PageText(i + 1, str(i + 1), t, False) for i, t in enumerate(texts)]


def check_contract(pages: Sequence[PageText], chunks: list[Chunk], count: TokenCounter, limit: int) -> None:
    """Everything `chunk_pages` promises, checked on its output."""
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert 1 <= c.page_start <= c.page_end <= len(pages)
        assert c.text == span_text(pages, c.page_start, c.char_start, c.page_end, c.char_end)
        if c.page_start == c.page_end:
            assert c.text == pages[c.page_start - 1].text[c.char_start:c.char_end]
        assert c.text and not c.text[0].isspace() and not c.text[-1].isspace()
        assert c.tokens <= limit
    assert [c.tokens for c in chunks] == count([c.text for c in chunks])
    for a, b in itertools.pairwise(chunks):
        assert (a.page_start, a.char_start) < (b.page_start, b.char_start)
        assert (a.page_end, a.char_end) < (b.page_end, b.char_end)
    spans: list[list[tuple[int, int]]] = [[] for _ in pages]
    for c in chunks:
        for p in range(c.page_start - 1, c.page_end):
            lo = c.char_start if p == c.page_start - 1 else 0
            hi = c.char_end if p == c.page_end - 1 else len(pages[p].text)
            spans[p].append((lo, hi))
    for page, covered in zip(pages, spans, strict=True):
        pos = 0  # every gap between the covered spans is whitespace
        for lo, hi in sorted(covered):
            assert not page.text[pos:lo].strip(), (page.number, pos, lo)
            pos = max(pos, hi)
        assert not page.text[pos:].strip(), (page.number, pos)


def overlaps(chunks: list[Chunk], pages: Sequence[PageText]) -> list[str]:
    """The text each chunk shares with the one before it ("" when none)."""
    out = []
    for a, b in itertools.pairwise(chunks):
        if (b.page_start, b.char_start) >= (a.page_end, a.char_end):
            out.append("")
        else:
            out.append(span_text(pages, b.page_start, b.char_start, a.page_end, a.char_end))
    return out


WORDS = ("the warranty covers parts and labour for two years from date of purchase except damage "
         "caused by misuse results method model retrieval page").split()


def prose(rng: random.Random, sentences: int, *, lo: int = 4, hi: int = 25) -> str:
    return " ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."
                    for _ in range(sentences))


# --------------------------------------------------------------------------------------------
# the basic contract


def test_short_document_is_one_chunk(bpe: TokenCounter) -> None:
    pages = as_pages(["  Hello world. This is short.\n"])
    [chunk] = chunk_pages(pages, bpe)
    assert (chunk.text, chunk.page_start, chunk.page_end) == ("Hello world. This is short.", 1, 1)
    assert (chunk.char_start, chunk.char_end) == (2, 29)
    assert chunk.tokens == bpe([chunk.text])[0]


def test_nothing_to_chunk(bpe: TokenCounter) -> None:
    assert chunk_pages([], bpe) == []
    assert chunk_pages(as_pages(["", "  \n\n ", "\t"]), bpe) == []


def test_small_document_spanning_pages_is_one_chunk(bpe: TokenCounter) -> None:
    pages = as_pages(["", "First page ends here.", "", "   ", "Last page.  ", ""])
    [chunk] = chunk_pages(pages, bpe)
    assert (chunk.page_start, chunk.char_start, chunk.page_end, chunk.char_end) == (2, 0, 5, 10)
    assert chunk.text == "First page ends here." + PAGE_BREAK + "Last page."  # blank pages skipped


def test_span_text_joins_whole_middle_pages() -> None:
    pages = as_pages(["abc def", "middle one", "", " ", "middle two ", "xyz"])
    assert span_text(pages, 1, 4, 6, 2) == "def\n\nmiddle one\n\nmiddle two \n\nxy"
    assert span_text(pages, 2, 7, 2, 10) == "one"


@pytest.mark.parametrize("limit", [8, 40, 512])
def test_prose_with_the_real_tokenizer(bpe: TokenCounter, limit: int) -> None:
    pages = as_pages(pdfs.prose_page_texts(12, 1500, seed=limit))
    chunks = chunk_pages(pages, bpe, chunk_tokens=limit, overlap_tokens=limit // 8)
    check_contract(pages, chunks, bpe, limit)


def test_randomised_documents(bpe: TokenCounter) -> None:
    """Random pages (blank ones, long words, CJK, odd whitespace), counters, limits, overlaps."""
    counters: dict[str, TokenCounter] = {
        "words": words, "chars": chars, "bpe": bpe, "superlinear": superlinear}
    for seed in range(150):
        rng = random.Random(seed)
        pages = as_pages([random_page(rng) for _ in range(rng.randint(1, 7))])
        name = rng.choice(sorted(counters))
        limit = rng.randint(8, 300)
        overlap = rng.randint(0, limit)
        chunks = chunk_pages(pages, counters[name], chunk_tokens=limit, overlap_tokens=overlap)
        try:
            check_contract(pages, chunks, counters[name], limit)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, {name}, limit {limit}, overlap {overlap}") from exc


CJK = "我能吞下玻璃而不伤身体这是一个中文句子"


def random_run(rng: random.Random, alphabet: str, lo: int, hi: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def random_page(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.1:
        return ""
    if kind < 0.15:
        return rng.choice([" ", "\n\n", " \n \t "])
    paragraphs = []
    for _ in range(rng.randint(1, 5)):
        parts = []
        for _ in range(rng.randint(1, 6)):
            r = rng.random()
            if r < 0.05:
                parts.append(random_run(rng, "ABCDEFabcdef0123456789+/", 50, 600))
            elif r < 0.12:
                parts.append(random_run(rng, CJK, 5, 200) + rng.choice(["。", "", "！"]))
            else:
                parts.append(prose(rng, 1, lo=1, hi=40)[:-1] + rng.choice([".", "!", "?", "", '."']))
        paragraphs.append(" ".join(parts))
    text = rng.choice(["\n\n", "\n \n", "\n\n\n"]).join(paragraphs)
    if rng.random() < 0.2:
        text = " " + text.replace(". ", ".\n", 2) + "\n"
    return text


def test_arguments_are_checked(bpe: TokenCounter) -> None:
    pages = as_pages(["Some text."])
    with pytest.raises(ValueError, match="chunk_tokens"):
        chunk_pages(pages, bpe, chunk_tokens=chunking.MIN_CHUNK_TOKENS - 1)
    with pytest.raises(ValueError, match="overlap"):
        chunk_pages(pages, bpe, overlap_tokens=-1)
    with pytest.raises(ValueError, match="counts for"):
        chunk_pages(as_pages(["One. Two."]), lambda texts: [])


# --------------------------------------------------------------------------------------------
# where chunks are cut


def ends_at(pages: Sequence[PageText], c: Chunk) -> str:
    """What follows the chunk on its last page: "" (page end), "\\n\\n" (paragraph end), ..."""
    return pages[c.page_end - 1].text[c.char_end:c.char_end + 2]


def test_cuts_at_paragraph_ends() -> None:
    rng = random.Random(1)
    paragraphs = [prose(rng, rng.randint(2, 4), lo=8, hi=12) for _ in range(40)]  # ~20-40 words
    pages = as_pages(["\n\n".join(paragraphs[:20]), "\n\n".join(paragraphs[20:])])
    chunks = chunk_pages(pages, words, chunk_tokens=100, overlap_tokens=0)
    check_contract(pages, chunks, words, 100)
    assert all(ends_at(pages, c) in ("", "\n\n") for c in chunks)
    assert all(c.tokens >= 50 for c in chunks[:-1])  # at least half full
    assert len(chunks) <= 2 * sum(words(paragraphs)) / 100 + 1


def test_cuts_at_sentence_ends_inside_long_paragraphs() -> None:
    rng = random.Random(2)
    pages = as_pages([prose(rng, 60, lo=5, hi=15)])  # one paragraph of ~600 words
    chunks = chunk_pages(pages, words, chunk_tokens=100, overlap_tokens=0)
    check_contract(pages, chunks, words, 100)
    assert all(c.text.endswith(".") for c in chunks)
    assert all(c.tokens >= 75 for c in chunks[:-1])


def test_sentence_rules() -> None:
    text = ("Dr. Smith met e.g. the mayor. Then he left! Did he? 他来了。她走了！Yes ok. "
            "He said \"stop.\" Then silence.")
    pages = as_pages([text])
    units = chunking._sentences(pages)
    got = [text[s:e] for s, e in zip(units.start, units.end, strict=True)]
    assert got == ["Dr.", "Smith met e.g. the mayor.", "Then he left!", "Did he?", "他来了。", "她走了！",
                   "Yes ok.", 'He said "stop."', "Then silence."]


def test_cut_quality_between_units() -> None:
    text = "Heading one\n\nBody text here. More text\n\n  lower case para. Last! \n\n\nEnd"
    units = chunking._sentences(as_pages([text]))
    got = [(text[s:e], level) for s, e, level in zip(units.start, units.end, units.level, strict=True)]
    P, S = chunking.PARAGRAPH, chunking.SENTENCE
    assert got == [("Heading one", P), ("Body text here.", P), ("More text", S),
                   ("lower case para.", P), ("Last!", S), ("End", P)]


def test_cuts_at_spaces_inside_a_sentence_without_end() -> None:
    pages = as_pages([" ".join(f"word{i}" for i in range(500))])
    chunks = chunk_pages(pages, words, chunk_tokens=64, overlap_tokens=0)
    check_contract(pages, chunks, words, 64)
    assert all(re.fullmatch(r"word\d+( word\d+)*", c.text) for c in chunks)
    assert " ".join(c.text for c in chunks) == pages[0].text


def test_cuts_inside_a_word_as_a_last_resort(bpe: TokenCounter) -> None:
    blob = "".join(random.Random(3).choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                   for _ in range(6000))
    pages = as_pages([f"Before the blob. {blob} After the blob."])
    assert bpe([blob])[0] > 10 * 128
    chunks = chunk_pages(pages, bpe, chunk_tokens=128, overlap_tokens=0)
    check_contract(pages, chunks, bpe, 128)
    assert len(chunks) >= 10
    assert "".join(c.text for c in chunks).replace(" ", "") == pages[0].text.replace(" ", "")


def test_cjk_without_spaces(bpe: TokenCounter) -> None:
    rng = random.Random(4)
    sentences = [random_run(rng, CJK, 4, 12) + "。" for _ in range(80)]
    run_on = random_run(rng, CJK, 3000, 3000)  # no punctuation at all
    pages = as_pages(["".join(sentences), run_on])
    chunks = chunk_pages(pages, bpe, chunk_tokens=100, overlap_tokens=10)
    check_contract(pages, chunks, bpe, 100)
    on_first = [c for c in chunks if c.page_end == 1]
    assert len(on_first) > 5 and all(c.text.endswith("。") for c in on_first)
    assert sum(c.page_start == 2 for c in chunks) > 10


def test_single_unit_over_the_limit_is_cut_by_counting(monkeypatch: pytest.MonkeyPatch) -> None:
    def heavy_y(texts: Sequence[str]) -> list[int]:  # "y" costs 10: no estimate from bytes sees it
        return [len(t.split()) + 10 * t.count("y") for t in texts]

    cut: list[int] = []
    real = chunking._split_by_count

    def spy(*args: Any) -> Any:
        out = real(*args)
        cut.append(len(out))
        return out

    monkeypatch.setattr(chunking, "_split_by_count", spy)
    pages = as_pages(["Some words here. " * 20 + "yyyyyyyyyyyy. " + "More words follow. " * 20])
    chunks = chunk_pages(pages, heavy_y, chunk_tokens=100, overlap_tokens=10)
    check_contract(pages, chunks, heavy_y, 100)
    assert cut == [2]
    assert sum(c.tokens < 10 for c in chunks) <= 1  # the layout recovers after the heavy part


def test_a_character_over_the_limit_is_an_error() -> None:
    def hashes(texts: Sequence[str]) -> list[int]:
        return [len(t) + 200 * t.count("#") for t in texts]

    with pytest.raises(ValueError, match="one character is 201 tokens"):
        chunk_pages(as_pages(["Some text. A # here. More text."]), hashes, chunk_tokens=100)


# --------------------------------------------------------------------------------------------
# overlap


def test_overlap_is_whole_sentences_of_about_the_size_asked(bpe: TokenCounter) -> None:
    pages = as_pages(pdfs.prose_page_texts(30, seed=5))
    chunks = chunk_pages(pages, bpe, chunk_tokens=512, overlap_tokens=64)
    check_contract(pages, chunks, bpe, 512)
    shared = overlaps(chunks, pages)
    sizes = bpe([s for s in shared if s])
    assert len(sizes) > 0.8 * len(shared)
    assert 40 <= sum(sizes) / len(sizes) <= 90
    for n, before in zip(bpe(shared), chunks, strict=False):
        assert n <= 0.6 * before.tokens  # half by the estimate
    starts = [text[0].isupper() for text in shared if text]
    assert sum(starts) >= 0.9 * len(starts)  # at a sentence (or a piece of an over-long one)


def test_no_overlap_when_zero(bpe: TokenCounter) -> None:
    pages = as_pages(pdfs.prose_page_texts(10, seed=6))
    chunks = chunk_pages(pages, bpe, chunk_tokens=200, overlap_tokens=0)
    check_contract(pages, chunks, bpe, 200)
    assert overlaps(chunks, pages) == [""] * (len(chunks) - 1)


def test_overlap_never_above_half_a_chunk() -> None:
    rng = random.Random(7)
    pages = as_pages([prose(rng, 200, lo=3, hi=8)])
    chunks = chunk_pages(pages, words, chunk_tokens=60, overlap_tokens=1000)
    check_contract(pages, chunks, words, 60)
    for text, before in zip(overlaps(chunks, pages), chunks, strict=False):
        assert 0 < words([text])[0] <= 0.6 * before.tokens  # half by the estimate


def test_no_tiny_tail() -> None:
    rng = random.Random(8)
    body = [prose(rng, 1, lo=10, hi=10) for _ in range(10)]  # 10 sentences of 10 words
    pages = as_pages([" ".join(body)])
    chunks = chunk_pages(pages, words, chunk_tokens=104, overlap_tokens=0)
    assert len(chunks) == 1  # 100 words fit: the last sentences are not split off
    chunks = chunk_pages(as_pages([" ".join(body + body[:1])]), words, chunk_tokens=104, overlap_tokens=0)
    assert [c.tokens for c in chunks] in ([50, 60], [60, 50])  # balanced, not 90 + 20


# --------------------------------------------------------------------------------------------
# pages


def test_paragraph_continuing_on_the_next_page() -> None:
    pages = as_pages(["Intro.\n\nThe paragraph starts here and", "goes on after the break. Done."])
    [chunk] = chunk_pages(pages, words, chunk_tokens=100)
    assert (chunk.page_start, chunk.page_end) == (1, 2)
    assert chunk.text == "Intro.\n\nThe paragraph starts here and\n\ngoes on after the break. Done."
    units = chunking._sentences(pages)
    assert units.level[2] == chunking.WORD  # a cut mid-sentence across the break is a weak one
    pages = as_pages(["A page that ends a sentence.", "A new one."])
    assert chunking._sentences(pages).level[1] == chunking.PARAGRAPH


def test_page_numbers_of_markers_in_a_real_pdf(tmp_path: Path, bpe: TokenCounter) -> None:
    doc = read_pdf(pdfs.make_big_pdf(tmp_path / "m.pdf", 40))
    chunks = chunk_pages(doc.pages, bpe, chunk_tokens=120, overlap_tokens=16)
    check_contract(doc.pages, chunks, bpe, 120)
    for n in range(1, 41):
        marker = f"w{n}x"
        holders = [c for c in chunks if marker in c.text]
        assert holders
        for c in holders:
            assert c.page_start <= n <= c.page_end
            if c.page_start == c.page_end == n:
                assert marker in doc.pages[n - 1].text[c.char_start:c.char_end]


# --------------------------------------------------------------------------------------------
# counting: batched, about once over the text


class Recorder:
    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.calls: list[int] = []
        self.chars = 0

    def __call__(self, texts: Sequence[str]) -> list[int]:
        self.calls.append(len(texts))
        self.chars += sum(len(t) for t in texts)
        return self.counter(texts)


def test_counter_is_called_in_few_batches_over_about_the_text_once(bpe: TokenCounter) -> None:
    texts = pdfs.prose_page_texts(300, seed=9)
    pages = as_pages(texts)
    recorder = Recorder(bpe)
    chunks = chunk_pages(pages, recorder, chunk_tokens=512, overlap_tokens=64)
    check_contract(pages, chunks, bpe, 512)
    assert len(recorder.calls) <= len(chunks) / 32
    assert max(recorder.calls) <= chunking.COUNT_BATCH
    assert recorder.chars <= 1.35 * sum(len(t) for t in texts)  # chunks (with overlap) + a sample


def test_tokenizer_counter(tokenizer: Any) -> None:
    texts = ["Hello world", "", "GRIT embeds and generates. 中文", "x" * 5000]
    expected = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert tokenizer_counter(tokenizer)(texts) == expected
    assert tokenizer_counter(tokenizer.backend_tokenizer)(texts) == expected  # a tokenizers.Tokenizer
    assert tokenizer_counter(tokenizer)([]) == []

    class Slow:  # a tokenizer without a Rust backend
        def __call__(self, batch: list[str], add_special_tokens: bool) -> dict[str, list[list[int]]]:
            assert not add_special_tokens
            return {"input_ids": [list(range(len(t.split()))) for t in batch]}

    assert tokenizer_counter(Slow())(["a b", "c"]) == [2, 1]
    assert tokenizer_counter(Slow())([]) == []


# --------------------------------------------------------------------------------------------
# counting by words


@pytest.fixture(scope="module")
def mistral() -> Any:
    from grit_desktop.engine.grit.synthetic import mistral_tokenizer

    return mistral_tokenizer()


#: Texts where a word sum could go wrong: line breaks next to spaces, paragraph breaks, runs of
#: spaces, leading and trailing whitespace, scripts without spaces, symbols, figures, URLs.
AWKWARD = [
    "Hello world", "", " ", "\n", "a", "end.\n\nThe next paragraph starts here.", "a \nb", "a\n b",
    "a\n\n\nb", "trailing space ", "trailing break\n", "  leading spaces", "\nleading break",
    "two  spaces and   three", "tab\tinside words\t", "中文文本。第二句。 Next", "日本語 と English",
    "Ελληνικά και русский, العربية עברית हिन्दी", "emoji 🙂🚀 and ∑ x² ≤ ∞", "x" * 3000,
    "https://example.org/a/b?c=d#e user@example.org", "3.14159 1e-5 -42 +7 100% 0xDEADBEEF",
    "Page one ends.\n\nPage two starts", "non\u00a0breaking\u00a0space", "soft\u00adhyphen",
    "\r\nwindows\r\nlines", "a \n \n b",
]


def legacy_mistral(mistral: Any) -> Any:
    """Mistral's tokenizer in the older tokenizer.json layout (as in the GritLM-7B repository):
    no pre-tokenizer, a normalizer that prepends and replaces spaces with the meta-space."""
    from tokenizers import Tokenizer, normalizers

    legacy = Tokenizer.from_str(mistral.backend_tokenizer.to_str())
    legacy.pre_tokenizer = None
    legacy.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    return legacy


@pytest.mark.parametrize("which", ["bpe", "mistral", "legacy mistral"])
def test_word_counter_counts_what_the_tokenizer_counts(which: str, request: pytest.FixtureRequest) -> None:
    tokenizer = request.getfixturevalue("tokenizer" if which == "bpe" else "mistral")
    if which == "legacy mistral":
        tokenizer = legacy_mistral(tokenizer)
    counter = tokenizer_counter(tokenizer)
    assert isinstance(counter, chunking.WordCounter)
    exact = tokenizer_counter(tokenizer, cache_words=False)
    assert not isinstance(exact, chunking.WordCounter)
    prose_pages = pdfs.prose_page_texts(40, seed=3)
    other_pages = pdfs.prose_page_texts(40, seed=4)
    for texts in (AWKWARD, prose_pages, AWKWARD, other_pages):  # a cold cache, then a warm one
        assert counter(texts) == exact(texts)
    # the pieces of a paragraph break are words met again, not new pairs of words
    assert "\nThe" in counter._after or "\nA" in counter._after
    assert not any(" " in w for w in counter._after)


def whitespace_merging_bpe() -> Any:
    """A byte-level BPE (as GPT-2's, SmolLM's) trained on text full of whitespace runs, so that it
    has tokens for runs of line breaks and spaces, which it merges at the end of a text or before
    more whitespace but not before a word: the case word sums must leave to the tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    rng = random.Random(11)
    runs = ["\n\n", "\n\n\n", "  ", "   ", " \n", "\n ", "\t", "\n"]
    corpus = ["".join(rng.choice(WORDS) + rng.choice([" ", " ", *runs]) for _ in range(30))
              for _ in range(400)]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    assert tok.encode("a\n\n").tokens[-1] == "\u010a\u010a"  # a token for a blank line
    return tok


def fuzz_texts(seed: int, n: int) -> list[str]:
    """Words, figures, punctuation and other scripts joined by every kind of whitespace."""
    rng = random.Random(seed)
    pieces = [*WORDS[:12], "The", "it's", "XJ4471", "2.5", "100%", ".", ",", "(", ")", "[1]", '"', "—",
              "é", "café", "中文", "🙂", "http://a.b/c", "e.g.", "$5"]
    gaps = [" "] * 12 + ["\n"] * 3 + ["\n\n"] * 3 + ["", "\t", " \n", "\n ", "  ", "\n\n\n", "\r\n", "\u00a0"]
    out = []
    for _ in range(n):
        text = "".join(rng.choice(pieces) + rng.choice(gaps) for _ in range(rng.randint(1, 25)))
        out.append(text.strip() if rng.random() < 0.5 else text)
    return out


@pytest.mark.parametrize("which", ["bpe", "mistral", "whitespace-merging bpe"])
def test_word_counter_on_random_text_and_whitespace(which: str, request: pytest.FixtureRequest) -> None:
    tokenizer = whitespace_merging_bpe() if which.startswith("whitespace") else request.getfixturevalue(
        "tokenizer" if which == "bpe" else "mistral")
    counter = tokenizer_counter(tokenizer)
    assert isinstance(counter, chunking.WordCounter)
    exact = tokenizer_counter(tokenizer, cache_words=False)
    texts = fuzz_texts(1, 3000)
    assert counter(texts) == exact(texts)
    # Mistral's tokenizer and the small BPE merge only runs of spaces; the other one merges runs
    # of line breaks too, so texts with any odd whitespace must go to it, as it was found to need
    assert counter.strict == which.startswith("whitespace")
    if counter.strict:
        assert chunking.WordCounter(exact, strict=False)(texts) != exact(texts)


def test_word_counter_chunks_as_the_tokenizer_would(mistral: Any) -> None:
    pages = as_pages(pdfs.prose_page_texts(60, seed=5))
    exact = tokenizer_counter(mistral, cache_words=False)
    by_words = chunk_pages(pages, tokenizer_counter(mistral), chunk_tokens=256, overlap_tokens=32)
    check_contract(pages, by_words, exact, 256)  # the counts are the tokenizer's own
    assert by_words == chunk_pages(pages, exact, chunk_tokens=256, overlap_tokens=32)


def test_word_counter_is_not_used_where_words_do_not_add_up() -> None:
    assert chunking.WordCounter.adds_up(words)
    assert chunking.WordCounter.adds_up(chars)

    def pairs(texts: Sequence[str]) -> list[int]:  # two words make one token
        return [(len(t.split()) + 1) // 2 for t in texts]

    assert not chunking.WordCounter.adds_up(pairs)

    def broken(texts: Sequence[str]) -> list[int]:
        raise RuntimeError("cannot count")

    assert not chunking.WordCounter.adds_up(broken)

    class Merging:  # a slow tokenizer with one token for a whole run of line breaks
        def __call__(self, batch: list[str], add_special_tokens: bool) -> dict[str, list[list[int]]]:
            return {"input_ids": [list(range(len(re.findall(r"\n+|\S+", t)))) for t in batch]}

    assert chunking.WordCounter(tokenizer_counter(Merging(), cache_words=False))(["a\n\nb c"]) == [5]
    counter = tokenizer_counter(Merging())
    assert not isinstance(counter, chunking.WordCounter)
    assert counter(["a\n\nb c"]) == [4]


def test_word_counter_cache_is_bounded(tokenizer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = tokenizer_counter(tokenizer)
    assert isinstance(counter, chunking.WordCounter)
    monkeypatch.setattr(chunking.WordCounter, "MAX_CACHED_CHARS", 2000)
    exact = tokenizer_counter(tokenizer, cache_words=False)
    rng = random.Random(7)
    for _ in range(30):
        texts = [" ".join("".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 12)))
                          for _ in range(40)) for _ in range(5)]
        assert counter(texts) == exact(texts)
        assert counter._cached_chars <= 2000 + sum(len(t) for t in texts)


def test_word_counter_serves_several_threads(tokenizer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    counter = tokenizer_counter(tokenizer)
    monkeypatch.setattr(chunking.WordCounter, "MAX_CACHED_CHARS", 300)  # cleared all the time
    exact = tokenizer_counter(tokenizer, cache_words=False)
    batches = [[" ".join(f"w{(k * 7919 + i * 104729) % 100003}" for i in range(60)) for k in range(j, j + 20)]
               for j in range(0, 400, 20)]
    expected = [exact(b) for b in batches]
    wrong: list[object] = []

    def work(offset: int) -> None:
        for _ in range(5):
            for k in range(offset, len(batches), 4):
                try:
                    if counter(batches[k]) != expected[k]:
                        wrong.append(k)
                except Exception as exc:  # a cache cleared under another thread's feet
                    wrong.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_unit_sizes_are_the_utf8_sizes_of_the_unit_texts() -> None:
    pages = as_pages(["First page. Plain ASCII.\n\nA paragraph.", "", "  \n",
                      "Größe und Maß. Ελληνικά! 中文。再来。", "Ends.   Spaced    out. Then"])
    units = chunking._sentences(pages)
    texts = chunking._unit_texts(pages, units, range(len(units)))
    assert chunking._unit_sizes(pages, units) == [len(t.encode("utf-8")) for t in texts]
    assert len(units) >= 9


@pytest.mark.slow
def test_five_thousand_pages_with_the_real_tokenizer(tmp_path: Path, bpe: TokenCounter) -> None:
    doc = read_pdf(pdfs.make_prose_pdf(tmp_path / "5k.pdf", 5000, chars_per_page=1500))
    recorder = Recorder(bpe)
    chunks = chunk_pages(doc.pages, recorder)
    assert recorder.chars <= 1.35 * doc.text_chars
    check_contract(doc.pages, chunks, bpe, 512)


def test_pages_of_a_parsed_pdf_work_as_input(tmp_path: Path) -> None:
    doc = read_pdf(pdfs.make_pdf(tmp_path / "d.pdf", ["One. Two.", "", "Three."]))
    chunks = chunk_pages(doc.pages, words, chunk_tokens=8, overlap_tokens=0)
    assert [(c.text, c.page_start, c.page_end) for c in chunks] == [("One. Two.\n\nThree.", 1, 3)]

