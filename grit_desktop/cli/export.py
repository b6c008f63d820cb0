"""``grit-desktop export``: one chat as Markdown, with its citations."""

from __future__ import annotations

import argparse

from grit_desktop.cli.common import open_session


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("chat", type=int, metavar="CHAT_ID")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


def run(args: argparse.Namespace) -> int:
    with open_session(args, with_model=False) as session:
        text = session.export(args.chat, args.output)
    if not args.output:
        print(text, end="")
    return 0
