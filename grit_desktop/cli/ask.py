"""``grit-desktop ask``: answer a question from the library, streaming, then list the sources."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from typing import get_args

from grit_desktop.cli.common import (
    add_scope_options,
    k_option,
    load_session_model,
    open_session,
    printable,
    scope_from,
)
from grit_desktop.config import CacheMode
from grit_desktop.engine.answering.events import (
    Answered,
    AnswerStored,
    ChatEvent,
    QuestionAsked,
    Retrieved,
    Token,
)
from grit_desktop.engine.answering.retrieval import check_k, check_question


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question")
    p.add_argument("--chat", type=int, help="continue this chat (see 'grit-desktop chats')")
    p.add_argument("--cache", choices=get_args(CacheMode), help="GRIT cache mode (default: settings, doc)")
    p.add_argument("--k", type=k_option, help="passages to give the model, 1 to 64 (default: settings)")
    add_scope_options(p)
    p.add_argument("--json", action="store_true", help="print one object {answer, sources, timings}")


def run(args: argparse.Namespace) -> int:
    check_question(args.question)  # before the model loads: an empty question fails at once
    check_k(args.k)
    with open_session(args, with_model=False) as session:
        scope = scope_from(args, session)  # before the model loads: an unknown document fails at once
        load_session_model(session, answers=True)
        events = session.ask(args.question, args.chat, scope=scope, mode=args.cache, k=args.k)
        try:
            chat_id, done = _stream(events, show=not args.json)
        finally:
            events.close()  # before the session closes the chats
    if args.json:
        print(json.dumps({"chat": chat_id, "answer": done.text, "finish": done.finish,
                          "sources": [asdict(s) for s in done.sources], "timings": done.timings},
                         indent=2))
    return 0


def _stream(events: Iterator[ChatEvent], show: bool) -> tuple[int, Answered]:
    """Print the answer as it comes; returns the chat and the answer once it is stored."""
    chat_id = 0
    done: Answered | None = None
    for event in events:
        if isinstance(event, QuestionAsked):
            chat_id = event.chat_id
        elif isinstance(event, Token) and show:
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Retrieved) and show and event.note:
            print(f"({event.note})", file=sys.stderr)
        elif isinstance(event, Answered):
            done = event
            if show:
                _sources(event)
        elif isinstance(event, AnswerStored) and done is not None:
            return chat_id, done
    raise RuntimeError("the answer ended without a result")


def _sources(done: Answered) -> None:
    print("\n")
    if done.sources:
        print("Sources:")
        for s in done.sources:
            print(f"  [{s.n}] {printable(s.title)}, {printable(s.location)} ({printable(s.path)})")
    t = done.timings
    print(f"\n({t['first_token_ms']:.0f} ms to first token, {t['new_tokens']:.0f} tokens at "
          f"{t['tokens_per_s']:.1f} tokens/s, {t['cached_tokens']:.0f} tokens from cache)",
          file=sys.stderr)
