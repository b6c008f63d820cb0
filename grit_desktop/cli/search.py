"""``grit-desktop search``: the passages of the library that best match a query."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rich.console import Console
from rich.markup import escape

from grit_desktop.cli.common import (
    add_scope_options,
    k_option,
    load_session_model,
    open_session,
    printable,
    scope_from,
)
from grit_desktop.engine.index.library import Library


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query")
    p.add_argument("--k", type=k_option, default=None,
                   help="how many passages, 1 to 1000 (default: top_k setting)")
    p.add_argument("--mode", choices=("hybrid", "vector", "text"), default="hybrid")
    add_scope_options(p)
    p.add_argument("--json", action="store_true", help="print a JSON list of passages")


def run(args: argparse.Namespace) -> int:
    Library.check_search(args.query, args.k)  # before the model loads
    with open_session(args, with_model=False) as session:
        scope = scope_from(args, session)  # before the model loads: an unknown document fails at once
        if args.mode != "text":
            load_session_model(session)
        library = session.library
        hits = library.search(args.query, args.k, args.mode,
                              library.ready_in(scope) if scope else None)
    if args.json:
        print(json.dumps([asdict(h) for h in hits], indent=2))
        return 0
    if not hits:
        print("No passage matches.")
        return 0
    out = Console(soft_wrap=False, highlight=False)
    for rank, hit in enumerate(hits, 1):
        where = escape(printable(hit.location))
        out.print(f"[bold]{rank}. {escape(printable(hit.title))}[/bold], {where}  (score {hit.score:.3f})")
        snippet = " ".join(printable(hit.text).split())
        out.print(f"   {snippet[:300]}{'...' if len(snippet) > 300 else ''}", markup=False)
    return 0
