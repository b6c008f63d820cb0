"""``grit-desktop chats`` and ``grit-desktop export``: the saved conversations."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from grit_desktop.cli.common import plural, printable
from grit_desktop.config import data_dir
from grit_desktop.engine.chats import Chats


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list")


def run(args: argparse.Namespace) -> int:
    chats = Chats(data_dir(args.data_dir) / "chats.sqlite")
    try:
        items = chats.all()
    finally:
        chats.close()
    if args.json:
        print(json.dumps([asdict(c) for c in items], indent=2))
    elif not items:
        print("No chats yet. Ask something: grit-desktop ask \"...\"")
    for c in items if not args.json else ():
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated))
        scope = f"  (asks {printable(c.scope.describe())})" if c.scope else ""
        print(f"{c.id:>5}  {when}  {plural(c.messages, 'message'):>12}  {printable(c.title)}{scope}")
    return 0
