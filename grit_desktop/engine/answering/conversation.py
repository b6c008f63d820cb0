"""Asking in a chat: the use case the window and ``grit-desktop ask`` share.

`ask` stores the question in its chat (a new chat, titled after it, when none is given), finds
the passages (`retrieval.retrieve`), streams the answer from `Answerer.answer`, and stores the
answer with its sources. Nothing half-done is left behind: when the answer fails or is
interrupted before its first word, the question is removed again (and the chat, if it was made
for it); after that, what was answered so far is stored, marked ``error`` or ``stopped``. A
failure is announced by `AnswerFailed` (what the chat now holds) before the error is raised.
"""

from __future__ import annotations

import threading
from collections.abc import Generator

from grit_desktop.config import CacheMode
from grit_desktop.engine.answering.events import (
    Answered,
    AnswerFailed,
    AnswerStored,
    ChatEvent,
    QuestionAsked,
    Retrieved,
    Token,
)
from grit_desktop.engine.answering.rag import Answerer
from grit_desktop.engine.answering.retrieval import check_k, check_question, retrieve
from grit_desktop.engine.chats import Chats, Message
from grit_desktop.engine.grit.generation import GenerationParams
from grit_desktop.engine.index.library import Library
from grit_desktop.engine.index.records import Scope, Source


def ask(library: Library, answerer: Answerer, chats: Chats, question: str,
        chat_id: int | None = None, *, scope: Scope | None = None, mode: CacheMode | None = None,
        k: int | None = None,
        params: GenerationParams | None = None,
        cancel: threading.Event | None = None) -> Generator[ChatEvent, None, None]:
    """Ask ``question`` in chat ``chat_id`` (None: a new chat), answered from ``library``: from
    the documents of ``scope``, which becomes the chat's (None: the chat's own scope).

    Yields `QuestionAsked` first, then the answer's events, and ends with `AnswerStored`. When
    the answer fails, yields `AnswerFailed` and raises the error. GritError, before anything is
    stored, for an empty question or a bad ``k``.
    """
    question = check_question(question)
    check_k(k)
    turn = chats.ask(chat_id, question, scope)
    chat_id, created, asked, history = turn.chat_id, turn.created, turn.message, turn.history
    yield QuestionAsked(chat_id, created, asked)
    sources: list[Source] = []
    pieces: list[str] = []
    stored: Message | None = None
    try:
        passages = retrieve(library, question, history, k, turn.scope)
        for event in answerer.answer(question, passages, history, mode=mode, params=params,
                                     cancel=cancel):
            if isinstance(event, Retrieved):
                sources = event.sources
            elif isinstance(event, Token):
                pieces.append(event.text)
            yield event
            if isinstance(event, Answered):
                stored = chats.add(chat_id, "assistant", event.text, event.sources, event.timings,
                                   event.finish)
                break
    except BaseException as exc:
        partial: Message | None = None
        if not "".join(pieces).strip():  # nothing answered: no trace of the question
            if created:
                chats.delete(chat_id)
            else:
                chats.delete_message(asked.id)
        else:
            finish = "error" if isinstance(exc, Exception) else "stopped"
            partial = chats.add(chat_id, "assistant", "".join(pieces), sources, finish=finish)
        if isinstance(exc, Exception):  # not when the caller closed the generator
            yield AnswerFailed(chat_id, chat_removed=created and partial is None, partial=partial)
        raise
    if stored is not None:  # outside the try: a caller that stops here has lost nothing
        yield AnswerStored(chat_id, stored)
