"""Answering: retrieval, the GRIT prompt layouts with their caches, citations, follow-ups."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch

from grit_desktop.config import Settings
from grit_desktop.engine.answering.rag import Answered, Answerer, AnswerEvent, Retrieved, Token
from grit_desktop.engine.answering.retrieval import page_references, retrieve, search_text
from grit_desktop.engine.chats import Chats, Message
from grit_desktop.engine.grit import prompts
from grit_desktop.engine.grit.generation import GenerationParams
from grit_desktop.engine.grit.kvcache import KVState
from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.index.library import IngestFinished, Library
from grit_desktop.engine.index.records import Source
from grit_desktop.errors import GritError
from tests import pdfs

SETTINGS = Settings(chunk_tokens=64, chunk_overlap_tokens=8, max_new_tokens=12, top_k=3)
FILLER = "Nothing on this page is about anything in particular, it only fills the page."


@pytest.fixture
def answerer(tmp_path: Path, mistral_model: GritModel):  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    pages = [f"Page {n} of the manual. {FILLER} {FILLER}" for n in range(1, 9)]
    pages[4] = f"The warranty lasts exactly seventeen months from delivery. {FILLER}"
    pdfs.make_pdf(docs / "manual.pdf", pages, title="Product Manual")
    pdfs.make_pdf(docs / "story.pdf", [f"A story about a fox. {FILLER}"], title="A Story")
    with Library(tmp_path / "home", SETTINGS, mistral_model, isolate_reader=False) as lib:
        events = list(lib.ingest([docs]))
        assert isinstance(events[-1], IngestFinished) and not events[-1].failed
        yield Rig(lib, Answerer(mistral_model, SETTINGS))


class Rig:
    """A library and an answerer, used together as a chat uses them: retrieve, then answer."""

    def __init__(self, library: Library, answerer: Answerer) -> None:
        self.library, self.answerer, self.model = library, answerer, answerer.model
        self.assemble, self.fit = answerer.assemble, answerer.fit

    def retrieve(self, question: str, history: Sequence[Message] = (), k: int | None = None) -> list[Source]:
        return retrieve(self.library, question, history, k).sources

    def answer(self, question: str, history: Sequence[Message] = (), *, k: int | None = None,
               **kw: object) -> Iterator[AnswerEvent]:
        passages = retrieve(self.library, question, history, k)
        return self.answerer.answer(question, passages, history, **kw)  # type: ignore[arg-type]


def fake_source(n: int, text: str, chunk_id: str | None = None) -> Source:
    return Source(n=n, chunk_id=chunk_id or f"doc:{n:06d}", doc_id="doc", title="T", path="/t.pdf",
                  page_start=n, page_end=n, char_start=0, char_end=len(text), score=1.0, text=text)


# -- retrieval and answers ----------------------------------------------------------------------


def test_sources_point_at_the_page_of_the_answer(answerer: Rig) -> None:
    events = list(answerer.answer("How long does the warranty last? seventeen months"))
    retrieved = events[0]
    assert isinstance(retrieved, Retrieved)
    top = retrieved.sources[0]
    assert top.n == 1 and top.title == "Product Manual" and top.page_start <= 5 <= top.page_end
    assert "seventeen months" in top.text
    assert all(isinstance(e, Token) for e in events[1:-1])
    done = events[-1]
    assert isinstance(done, Answered)
    assert done.sources == retrieved.sources
    assert done.text == "".join(e.text for e in events[1:-1])  # type: ignore[union-attr]
    for key in ("retrieval_ms", "first_token_ms", "tokens_per_s", "cached_tokens", "prompt_tokens"):
        assert key in done.timings
    assert done.timings["cached_tokens"] > 0  # doc caching is the default


def test_answer_cites_only_passages_it_was_given(answerer: Rig,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The model is made to write citations of passages 1 and 9; [9] never reaches the user."""
    model = answerer.model
    scripted = ["Two", " years", " [1]", " and", " [9]", "."]
    monkeypatch.setattr(model, "generate", lambda *a, **k: iter(scripted))
    done = list(answerer.answer("warranty seventeen months"))[-1]
    assert isinstance(done, Answered)
    assert done.text == "Two years [1] and ."


def test_follow_up_about_a_page_takes_that_page(answerer: Rig) -> None:
    first = list(answerer.answer("warranty seventeen months"))[-1]
    assert isinstance(first, Answered)
    history = [
        Message(1, 1, "user", "warranty seventeen months", 0.0),
        Message(2, 1, "assistant", first.text, 0.0, first.sources),
    ]
    sources = answerer.retrieve("what about page 7?", history)
    assert sources[0].title == "Product Manual"
    assert sources[0].page_start <= 7 <= sources[0].page_end


def test_page_references_and_follow_up_search_text() -> None:
    assert page_references("what about page 5?") == [5]
    assert page_references("see pp. 3-4 and p. 9") == [3, 4, 9]
    assert page_references("the 5 pages") == []
    history = [Message(1, 1, "user", "How long is the warranty?", 0.0)]
    assert search_text("and the battery?", history) == "How long is the warranty?\nand the battery?"
    long = "What does the manual say about replacing the fan motor in winter?"
    assert search_text(long, history) == long


def test_cancel_ends_with_an_answer_marked_cancelled(answerer: Rig) -> None:
    cancel = threading.Event()
    events = []
    for event in answerer.answer("warranty", params=GenerationParams(max_new_tokens=200), cancel=cancel):
        events.append(event)
        if isinstance(event, Token):
            cancel.set()
    done = events[-1]
    assert isinstance(done, Answered) and done.finish == "cancelled"


def test_a_follow_up_reuses_cached_passages(answerer: Rig) -> None:
    first = list(answerer.answer("warranty seventeen months"))[-1]
    again = list(answerer.answer("warranty seventeen months"))[-1]
    assert isinstance(first, Answered) and isinstance(again, Answered)
    assert first.timings["cache_misses"] == len(first.sources) and first.timings["cache_hits"] == 0
    assert again.timings["cache_hits"] == len(again.sources)
    assert again.text == first.text  # same passages, same states: the same greedy answer


@pytest.mark.parametrize("mode", ["doc", "query-doc"])
def test_answering_never_changes_the_cached_states(answerer: Rig, mode: str) -> None:
    """The LRU's states are handed to generation without copies: only `concat` reads them."""
    cache = answerer.answerer.cache
    cache.clear()
    list(answerer.answer("warranty seventeen months", mode=mode))  # cold: computed and kept
    kept = {key: cache.get(key) for key in list(cache._items)}
    assert kept and all(state is not None for state in kept.values())
    for _ in range(2):  # warm: taken from the LRU, in every decode loop the answers use
        list(answerer.answer("warranty seventeen months", mode=mode))
    for key, before in kept.items():
        after = cache.get(key, copy=False)
        assert after is not None and before is not None
        for a, b in zip((*after.keys, *after.values), (*before.keys, *before.values), strict=True):
            assert torch.equal(a, b)


def test_history_goes_into_the_prompt(answerer: Rig, tmp_path: Path) -> None:
    chats = Chats(tmp_path / "chats.sqlite")
    chat = chats.create()
    chats.add(chat.id, "user", "Who wrote the manual?")
    chats.add(chat.id, "assistant", "The vendor did [1].")
    history = chats.messages(chat.id)
    prompt = answerer.assemble("doc", "And when?", [fake_source(1, "Some passage.")], history)
    text = answerer.model.decode(prompt.ids)
    assert "Who wrote the manual?" in text and "The vendor did." in text  # its [1] is stripped
    assert text.index("Who wrote") < text.index("And when?")


# -- prompt layouts -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", prompts.CACHE_MODES)
def test_each_mode_lays_out_the_grit_prompt(answerer: Rig, mode: str) -> None:
    model = answerer.model
    docs = ["The warranty lasts two years.", "Batteries are not covered."]
    sources = [fake_source(i + 1, d) for i, d in enumerate(docs)]
    prompt = answerer.assemble(mode, "How long?", sources)  # type: ignore[arg-type]
    expected = prompts.answer_prompt(mode, "How long?", docs)  # type: ignore[arg-type]
    question = "How long?" + (prompts.cite_as_numbers(2) if mode in ("none", "doc") else "")
    assert expected == prompts.rag(mode, question, docs)  # type: ignore[arg-type]
    assert [p.segment for p in prompt.layout] == expected
    # positions are contiguous and the cached part comes first
    position = 0
    for placed in prompt.layout:
        assert placed.start == position
        position += placed.length
    cached = [p for p in prompt.layout if p.segment.cached]
    assert [p.segment.cached for p in prompt.layout] == [True] * len(cached) + [False] * (
        len(prompt.layout) - len(cached))
    # every segment's tokens are exactly its text, BOS where GRIT puts one, no stray space token
    tokens = list(prompt.state.token_ids if prompt.state else ()) + prompt.ids
    for placed in prompt.layout:
        seg = placed.segment
        piece = tokens[placed.start : placed.start + placed.length]
        assert (piece[0] == model.bos_id) == seg.bos
        assert piece == model.tokenize(seg.text, bos=seg.bos, continuation=not seg.bos)
    assert prompt.cached_tokens == sum(p.length for p in cached)
    assert len(tokens) == position


def test_doc_states_come_from_the_embedding_pass(answerer: Rig) -> None:
    """A cached passage's states are those of embedding ``<s><|embed|>\\n{passage}``."""
    model = answerer.model
    prompt = answerer.assemble("doc", "Q?", [fake_source(1, "The warranty lasts two years.")])
    assert prompt.state is not None
    emb = model.embed(["The warranty lasts two years."], return_states=True)
    assert emb.states is not None
    for a, b in zip(prompt.state.keys, emb.states[0].keys, strict=True):
        torch.testing.assert_close(a, b)


def test_several_docs_equal_a_pass_with_each_doc_read_in_place(answerer: Rig) -> None:
    """Doc caching with 3 passages: the logits after the question equal those of a cache built
    without re-rotation, each passage read bidirectionally at its real position."""
    model = answerer.model
    docs = ["The warranty lasts two years.", "Batteries are not covered at all.", "Call support."]
    sources = [fake_source(i + 1, d, f"x:{i}") for i, d in enumerate(docs)]
    prompt = answerer.assemble("doc", "How long?", sources)
    assert prompt.state is not None
    states: list[KVState] = []
    position = 0
    for placed in prompt.layout:
        if placed.segment.cached:
            ids = model.tokenize(placed.segment.text, bos=True)
            states.append(model.prefill(ids, bidirectional=True, start=position))
            position += len(ids)
    direct = KVState(
        tuple(torch.cat([s.keys[i] for s in states], dim=1) for i in range(len(states[0].keys))),
        tuple(torch.cat([s.values[i] for s in states], dim=1) for i in range(len(states[0].keys))),
        tuple(t for s in states for t in s.token_ids),
    )
    cached = model.prefill(prompt.ids, bidirectional=False, past=prompt.state)
    built = model.prefill(prompt.ids, bidirectional=False, past=direct)
    for a, b in zip(cached.keys, built.keys, strict=True):
        assert (a - b).abs().max().item() <= 1e-5
    one = list(model.generate(prompt.ids, state=prompt.state, params=GenerationParams(max_new_tokens=8)))
    two = list(model.generate(prompt.ids, state=direct, params=GenerationParams(max_new_tokens=8)))
    assert one == two


def test_passages_are_trimmed_to_fit_the_context(answerer: Rig) -> None:
    model = answerer.model
    long = " ".join(["The warranty covers the fan motor and every other part."] * 400)
    sources = [fake_source(i + 1, long) for i in range(6)]
    limit = model.info.context_length
    saved = model.info
    object.__setattr__(model, "info", type(saved)(**{**saved.__dict__, "context_length": 1024}))
    try:
        for mode in ("none", "doc"):
            prompt = answerer.assemble(mode, "How long?", sources, max_new_tokens=100)  # type: ignore[arg-type]
            assert prompt.cached_tokens + len(prompt.ids) + 100 <= 1024
            assert 1 <= sum(p.segment.role == "doc" for p in prompt.layout) < 6 or mode == "none"
    finally:
        object.__setattr__(model, "info", saved)
    assert model.info.context_length == limit


def test_an_empty_library_answers_without_passages(tmp_path: Path, mistral_model: GritModel) -> None:
    with Library(tmp_path / "home", SETTINGS, mistral_model, isolate_reader=False) as lib:
        answerer = Rig(lib, Answerer(mistral_model, SETTINGS))
        events = list(answerer.answer("Hello, who are you?"))
    assert isinstance(events[0], Retrieved) and events[0].sources == []
    done = events[-1]
    assert isinstance(done, Answered) and done.sources == [] and done.timings["cached_tokens"] == 0
    prompt = answerer.assemble("doc", "Hello?", [])
    assert prompt.ids[0] == mistral_model.bos_id and prompt.state is None
    assert mistral_model.decode(prompt.ids) == prompts.chat("Hello?")


def test_the_sources_are_only_the_passages_the_model_was_given(answerer: Rig) -> None:
    """A context that holds some of the k passages: the rest are not listed as sources."""
    model = answerer.model
    saved = model.info
    object.__setattr__(model, "info", type(saved)(**{**saved.__dict__, "context_length": 420}))
    try:
        events = list(answerer.answer("warranty seventeen months", k=8,
                                      params=GenerationParams(8, 0.0, 1.0)))
        found = answerer.retrieve("warranty seventeen months", k=8)
        given = answerer.fit("doc", "warranty seventeen months", found, max_new_tokens=8)
    finally:
        object.__setattr__(model, "info", saved)
    retrieved, done = events[0], events[-1]
    assert isinstance(retrieved, Retrieved) and isinstance(done, Answered)
    assert len(found) == 8 and 1 <= len(given) < 8
    assert retrieved.sources == done.sources == found[: len(given)]
    assert [s.n for s in done.sources] == list(range(1, len(done.sources) + 1))


def test_an_answer_without_passages_says_why(tmp_path: Path, mistral_model: GritModel) -> None:
    from grit_desktop.engine.answering.retrieval import NO_DOCUMENTS, NO_MATCH

    with Library(tmp_path / "home", SETTINGS, mistral_model, isolate_reader=False) as lib:
        answerer = Rig(lib, Answerer(mistral_model, SETTINGS))
        first = next(iter(answerer.answer("Hello?", params=GenerationParams(2, 0.0, 1.0))))
        assert isinstance(first, Retrieved) and first.note == NO_DOCUMENTS
    assert NO_MATCH.endswith("from the model alone.")


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_an_empty_question_is_refused(answerer: Rig, question: str) -> None:
    with pytest.raises(GritError, match="question is empty"):
        list(answerer.answer(question))


@pytest.mark.parametrize("k", [0, -1, 65, 100_000])
def test_k_outside_its_range_is_refused(answerer: Rig, k: int) -> None:
    with pytest.raises(GritError, match="between 1 and 64"):
        list(answerer.answer("warranty", k=k))
    with pytest.raises(GritError, match="between 1 and 1000") if k > 1000 or k < 1 else nullcontext():
        answerer.library.search("warranty", k, mode="text")
