"""``grit-desktop search``: the passages of the library that best match a query."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rich.console import Console
from rich.markup import escape

from grit_desktop.cli.common import open_library

NAME = "search"
HELP = "find the passages that best match a query (hybrid: meaning + exact words)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query")
    p.add_argument("--k", type=int, default=None, help="how many passages (default: top_k setting)")
    p.add_argument("--mode", choices=("hybrid", "vector", "text"), default="hybrid")
    p.add_argument("--json", action="store_true", help="print a JSON list of passages")


def run(args: argparse.Namespace) -> int:
    with open_library(args, with_model=args.mode != "text") as library:
        hits = library.search(args.query, args.k, args.mode)
    if args.json:
        print(json.dumps([asdict(h) for h in hits], indent=2))
        return 0
    if not hits:
        print("No passage matches.")
        return 0
    out = Console(soft_wrap=False, highlight=False)
    for rank, hit in enumerate(hits, 1):
        pages = f"p. {hit.page_start}" + (f"-{hit.page_end}" if hit.page_end != hit.page_start else "")
        out.print(f"[bold]{rank}. {escape(hit.title)}[/bold], {pages}  (score {hit.score:.3f})")
        snippet = " ".join(hit.text.split())
        out.print(f"   {snippet[:300]}{'...' if len(snippet) > 300 else ''}", markup=False)
    return 0
