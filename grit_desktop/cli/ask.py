"""``grit-desktop ask``: answer a question from the library, streaming, then list the sources."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import get_args

from grit_desktop.cli.common import open_library, settings_from
from grit_desktop.config import CacheMode, data_dir
from grit_desktop.engine.chats import Chats
from grit_desktop.engine.events import Answered, Retrieved, Token
from grit_desktop.engine.rag import Answerer

NAME = "ask"
HELP = "answer a question from your documents (streams the answer, then its sources)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question")
    p.add_argument("--chat", type=int, help="continue this chat (see 'grit-desktop chats')")
    p.add_argument("--cache", choices=get_args(CacheMode), help="GRIT cache mode (default: settings, doc)")
    p.add_argument("--k", type=int, help="passages to retrieve (default: settings)")
    p.add_argument("--json", action="store_true", help="print one object {answer, sources, timings}")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    chats = Chats(data_dir(args.data_dir) / "chats.sqlite")
    try:
        chat_id = args.chat if args.chat is not None else chats.create(_title(args.question)).id
        history = chats.messages(chat_id)
        with open_library(args, with_model=True) as library:
            assert library.model is not None
            answerer = Answerer(library.model, library, settings)
            chats.add(chat_id, "user", args.question)
            done = _stream(answerer.answer(args.question, history, mode=args.cache, k=args.k),
                           show=not args.json)
        chats.add(chat_id, "assistant", done.text, done.sources, done.timings, done.finish)
    finally:
        chats.close()
    if args.json:
        print(json.dumps({"chat": chat_id, "answer": done.text, "finish": done.finish,
                          "sources": [asdict(s) for s in done.sources], "timings": done.timings},
                         indent=2))
    return 0


def _stream(events: object, show: bool) -> Answered:
    for event in events:  # type: ignore[attr-defined]
        if isinstance(event, Token) and show:
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Retrieved) and show and not event.sources:
            print("(no passage of the library matches; answering without sources)", file=sys.stderr)
        elif isinstance(event, Answered):
            if show:
                _sources(event)
            return event
    raise RuntimeError("the answer ended without a result")


def _sources(done: Answered) -> None:
    print("\n")
    if done.sources:
        print("Sources:")
        for s in done.sources:
            print(f"  [{s.n}] {s.title}, {s.pages} ({s.path})")
    t = done.timings
    print(f"\n({t['first_token_ms']:.0f} ms to first token, {t['new_tokens']:.0f} tokens at "
          f"{t['tokens_per_s']:.1f} tokens/s, {t['cached_tokens']:.0f} tokens from cache)",
          file=sys.stderr)


def _title(question: str) -> str:
    text = " ".join(question.split())
    return text if len(text) <= 60 else text[:57] + "..."
