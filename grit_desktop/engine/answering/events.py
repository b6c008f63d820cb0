"""What answering a question reports while it works, as plain data (no torch, no LanceDB).

`Answerer.answer` yields the answer events, `conversation.ask` the chat events around them; the
CLI prints them and the window's worker forwards them to the GUI thread as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from grit_desktop.engine.chats import Message
from grit_desktop.engine.index.records import Source


@dataclass(frozen=True)
class QuestionAsked:
    """The question is stored in its chat (``created``: a chat made for it)."""

    chat_id: int
    created: bool
    message: Message


@dataclass(frozen=True)
class Retrieved:
    """The passages the model is given (only those: what did not fit the context is left out).
    With none, ``note`` says why, for the user: the answer comes from the model alone."""

    sources: list[Source]
    retrieval_ms: float
    note: str = ""


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Answered:
    text: str
    sources: list[Source]
    timings: dict[str, float]
    finish: str


@dataclass(frozen=True)
class AnswerStored:
    """The answer is stored in its chat (also a partial one, when stopped or failed)."""

    chat_id: int
    message: Message


@dataclass(frozen=True)
class AnswerFailed:
    """The answer failed (the error is raised next): the chat is gone (``chat_removed``: it was
    made for this question), or it holds the ``partial`` answer, or, with neither, it is as
    before the question."""

    chat_id: int
    chat_removed: bool
    partial: Message | None


AnswerEvent = Retrieved | Token | Answered
ChatEvent = QuestionAsked | Retrieved | Token | Answered | AnswerStored | AnswerFailed
