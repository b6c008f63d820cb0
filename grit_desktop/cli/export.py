"""``grit-desktop export``: one chat as Markdown, with its citations."""

from __future__ import annotations

import argparse
from pathlib import Path

from grit_desktop.config import data_dir
from grit_desktop.engine.chats import Chats
from grit_desktop.errors import GritError

NAME = "export"
HELP = "print a chat as Markdown with its sources (or write it with -o FILE)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("chat", type=int, metavar="CHAT_ID")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


def run(args: argparse.Namespace) -> int:
    chats = Chats(data_dir(args.data_dir) / "chats.sqlite")
    try:
        text = chats.export_markdown(args.chat)
    finally:
        chats.close()
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise GritError(f"cannot write {args.output}: {exc.strerror}") from exc
    else:
        print(text, end="")
    return 0
