"""Asking in a chat (`conversation.ask`): what is stored when an answer ends well, is stopped,
or fails, and how a chat is exported safely."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grit_desktop.config import Settings
from grit_desktop.engine.answering.conversation import ask
from grit_desktop.engine.answering.events import (
    Answered,
    AnswerFailed,
    AnswerStored,
    QuestionAsked,
    Retrieved,
    Token,
)
from grit_desktop.engine.chats import Chats, markdown_inert, markdown_literal, title_from
from grit_desktop.engine.index.library import Library
from grit_desktop.engine.index.records import Source
from grit_desktop.errors import GritError

SOURCE = Source(n=1, chunk_id="d:000001", doc_id="d", title="Manual", path="/docs/m.pdf",
                page_start=2, page_end=3, char_start=0, char_end=10, score=0.9, text="The text.")


class Scripted:
    """An answerer that retrieves one source, then streams ``pieces`` and fails if asked to."""

    def __init__(self, pieces: list[str], fail_after: int | None = None) -> None:
        self.pieces, self.fail_after = pieces, fail_after

    def answer(self, question: str, passages: Any, history: Any, **kwargs: Any) -> Iterator[Any]:
        yield Retrieved([SOURCE], 1.0)
        for i, piece in enumerate(self.pieces):
            if i == self.fail_after:
                raise GritError("the prompt is too long for the model's context")
            yield Token(piece)
        if self.fail_after is not None and self.fail_after >= len(self.pieces):
            raise GritError("the prompt is too long for the model's context")
        yield Answered("".join(self.pieces), [SOURCE], {"total_ms": 1.0}, "eos")


@pytest.fixture
def chats(tmp_path: Path) -> Iterator[Chats]:
    store = Chats(tmp_path / "chats.sqlite")
    yield store
    store.close()


@pytest.fixture
def empty_library(tmp_path: Path) -> Iterator[Library]:
    """A real library with no document: retrieval finds nothing, and needs no model."""
    with Library(tmp_path / "home", Settings()) as lib:
        yield lib


def test_a_question_and_its_answer_are_stored(chats: Chats, empty_library: Library) -> None:
    scripted = Scripted(["Two", " years [1]."])
    events = list(ask(empty_library, scripted, chats, "  How long is the warranty?  "))  # type: ignore[arg-type]
    asked, stored = events[0], events[-1]
    assert isinstance(asked, QuestionAsked) and asked.created and isinstance(stored, AnswerStored)
    chat = chats.get(asked.chat_id)
    assert chat.title == "How long is the warranty?"
    roles = [(m.role, m.text) for m in chats.messages(asked.chat_id)]
    assert roles == [("user", "How long is the warranty?"), ("assistant", "Two years [1].")]
    assert chats.messages(asked.chat_id)[1].sources == [SOURCE]


def test_a_failure_before_the_first_word_leaves_no_chat(chats: Chats, empty_library: Library) -> None:
    with pytest.raises(GritError, match="too long"):
        list(ask(empty_library, Scripted(["x"], fail_after=0), chats, "A question"))  # type: ignore[arg-type]
    assert chats.all() == []


def test_a_failure_in_an_existing_chat_removes_only_its_question(chats: Chats,
                                                                 empty_library: Library) -> None:
    events = list(ask(empty_library, Scripted(["Yes."]), chats, "First?"))  # type: ignore[arg-type]
    first = events[0]
    assert isinstance(first, QuestionAsked)
    with pytest.raises(GritError):
        list(ask(empty_library, Scripted([], fail_after=0), chats, "Second?", first.chat_id))  # type: ignore[arg-type]
    assert [m.text for m in chats.messages(first.chat_id)] == ["First?", "Yes."]


def test_a_failure_mid_answer_keeps_what_was_answered(chats: Chats, empty_library: Library) -> None:
    with pytest.raises(GritError):
        list(ask(empty_library, Scripted(["Two", " years"], fail_after=2), chats, "How long?"))  # type: ignore[arg-type]
    [chat] = chats.all()
    last = chats.messages(chat.id)[-1]
    assert (last.role, last.text, last.finish, last.sources) == ("assistant", "Two years", "error", [SOURCE])


def test_a_failure_is_announced_with_what_the_chat_holds(chats: Chats, empty_library: Library) -> None:
    """Before the error is raised, the caller is told what the chat now holds."""
    events: list[Any] = []
    with pytest.raises(GritError):
        for event in ask(empty_library, Scripted(["Two", " years"], fail_after=2), chats, "How long?"):  # type: ignore[arg-type]
            events.append(event)
    failed = events[-1]
    assert isinstance(failed, AnswerFailed) and not failed.chat_removed
    assert failed.partial is not None and failed.partial.text == "Two years"
    assert failed.partial.finish == "error"
    events.clear()
    with pytest.raises(GritError):
        for event in ask(empty_library, Scripted(["x"], fail_after=0), chats, "Other?"):  # type: ignore[arg-type]
            events.append(event)
    failed = events[-1]
    assert isinstance(failed, AnswerFailed) and failed.chat_removed and failed.partial is None


def test_a_caller_that_stops_once_the_answer_is_stored_adds_nothing(
        chats: Chats, empty_library: Library) -> None:
    """`grit-desktop ask` stops reading at AnswerStored: closing the generator there must not
    store the answer a second time as "stopped"."""
    events = ask(empty_library, Scripted(["Two", " years."]), chats, "How long?")  # type: ignore[arg-type]
    for event in events:
        if isinstance(event, AnswerStored):
            break
    events.close()
    [chat] = chats.all()
    assert [(m.role, m.finish) for m in chats.messages(chat.id)] == [("user", ""), ("assistant", "eos")]


def test_ctrl_c_mid_answer_keeps_it_as_stopped(chats: Chats, empty_library: Library) -> None:
    class Interrupted(Scripted):
        def answer(self, question: str, passages: Any, history: Any, **kwargs: Any) -> Iterator[Any]:
            yield Retrieved([SOURCE], 1.0)
            yield Token("Partly")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(ask(empty_library, Interrupted([]), chats, "How long?"))  # type: ignore[arg-type]
    [chat] = chats.all()
    assert chats.messages(chat.id)[-1].finish == "stopped"


@pytest.mark.parametrize("question", ["", "  \n "])
def test_an_empty_question_stores_nothing(chats: Chats, empty_library: Library, question: str) -> None:
    with pytest.raises(GritError, match="empty"):
        list(ask(empty_library, Scripted(["x"]), chats, question))  # type: ignore[arg-type]
    assert chats.all() == []


def test_titles_are_one_line_and_short() -> None:
    assert title_from("a\nb\tc") == "a b c"
    assert len(title_from("word " * 40)) == 60 and title_from("word " * 40).endswith("...")


def test_an_export_loads_nothing_from_what_documents_say(chats: Chats) -> None:
    """Titles and paths come from documents (and answers may repeat them): in the exported
    Markdown no image, no HTML tag and no autolink survives."""
    hostile = Source(n=1, chunk_id="d:1", doc_id="d", title="<img src=http://x/t.png> ![t](http://x/t.png)",
                     path="/docs/<b>x</b>.pdf", page_start=1, page_end=1, char_start=0, char_end=1,
                     score=1.0, text="t")
    chat = chats.create("![t](http://x/a.png) <script>alert(1)</script>")
    chats.add(chat.id, "user", "What is in <img src=http://x/q.png>?")
    chats.add(chat.id, "assistant", "It says ![t](http://x/b.png) and <http://x/c>.", [hostile])
    text = chats.export_markdown(chat.id)
    assert "<img" not in text and "<script" not in text and "<b>" not in text and "<http" not in text
    assert "![" not in text.replace("!\\[", "")
    assert "&lt;img src=http://x/t.png&gt;" in text  # still readable, as text
    assert markdown_literal("a\x1b[31mb\nc") == "a \\[31mb c"
    assert markdown_inert("x\x1b[31m") == "x[31m"


def test_an_ask_with_a_real_model_and_library(tmp_path: Path, tiny_model: Any, chats: Chats) -> None:
    from grit_desktop.engine.answering.rag import Answerer
    from tests import pdfs

    pdfs.make_pdf(tmp_path / "m.pdf", ["The part XJ4471 is the fan motor."])
    settings = Settings(chunk_tokens=64, chunk_overlap_tokens=8, max_new_tokens=6, top_k=2)
    with Library(tmp_path / "home", settings, tiny_model, isolate_reader=False) as lib:
        list(lib.ingest([tmp_path / "m.pdf"]))
        stop = threading.Event()
        events = list(ask(lib, Answerer(tiny_model, settings), chats, "XJ4471?", cancel=stop))
    assert isinstance(events[-1], AnswerStored) and events[-1].message.sources
