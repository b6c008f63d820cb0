"""Asking in a chat: the use case the window and ``grit-desktop ask`` share.

`ask` stores the question in its chat (a new chat, titled after it, when none is given), streams
the answer from `Answerer.answer`, and stores the answer with its sources. Nothing half-done is
left behind: when the answer fails or is interrupted before its first word, the question is
removed again (and the chat, if it was made for it); after that, what was answered so far is
stored, marked ``error`` or ``stopped``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from grit_desktop.config import CacheMode
from grit_desktop.engine.chats import Chats, Source
from grit_desktop.engine.events import (
    Answered,
    AnswerStored,
    ChatEvent,
    QuestionAsked,
    Retrieved,
    Token,
)
from grit_desktop.engine.generation import GenerationParams
from grit_desktop.engine.rag import Answerer, check_k, check_question

NEW_CHAT = "New chat"
TITLE_CHARS = 60


def ask(answerer: Answerer, chats: Chats, question: str, chat_id: int | None = None, *,
        mode: CacheMode | None = None, k: int | None = None,
        params: GenerationParams | None = None,
        cancel: threading.Event | None = None) -> Iterator[ChatEvent]:
    """Ask ``question`` in chat ``chat_id`` (None: a new chat). Yields `QuestionAsked` first,
    then the answer's events, and ends with `AnswerStored`. GritError, before anything is
    stored, for an empty question or a bad ``k``."""
    question = check_question(question)
    check_k(k)
    created = chat_id is None
    if chat_id is None:
        chat_id = chats.create(title_from(question)).id
        history = []
    else:
        history = chats.messages(chat_id)
        if not history and chats.get(chat_id).title == NEW_CHAT:
            chats.rename(chat_id, title_from(question))
    asked = chats.add(chat_id, "user", question)
    yield QuestionAsked(chat_id, created, asked)
    sources: list[Source] = []
    pieces: list[str] = []
    try:
        for event in answerer.answer(question, history, mode=mode, k=k, params=params, cancel=cancel):
            if isinstance(event, Retrieved):
                sources = event.sources
            elif isinstance(event, Token):
                pieces.append(event.text)
            yield event
            if isinstance(event, Answered):
                stored = chats.add(chat_id, "assistant", event.text, event.sources, event.timings,
                                   event.finish)
                yield AnswerStored(chat_id, stored)
                return
    except BaseException as exc:
        if not "".join(pieces).strip():  # nothing answered: no trace of the question
            if created:
                chats.delete(chat_id)
            else:
                chats.delete_message(asked.id)
        else:
            finish = "error" if isinstance(exc, Exception) else "stopped"
            chats.add(chat_id, "assistant", "".join(pieces), sources, finish=finish)
        raise


def title_from(question: str) -> str:
    """A chat's title: the question on one line, cut to TITLE_CHARS."""
    words = " ".join(question.split())
    return words if len(words) <= TITLE_CHARS else words[:TITLE_CHARS - 3].rstrip() + "..."
