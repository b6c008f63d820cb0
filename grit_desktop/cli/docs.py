"""``grit-desktop docs``: list the library's documents and their status."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from grit_desktop.cli.common import open_library, short_id

NAME = "docs"
HELP = "list the documents in the library (id, title, pages, chunks, status)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list of documents")


def run(args: argparse.Namespace) -> int:
    with open_library(args, with_model=False) as library:
        docs = library.documents()
    if args.json:
        print(json.dumps([asdict(d) for d in docs], indent=2))
        return 0
    if not docs:
        print("The library is empty. Add PDFs with: grit-desktop ingest PATH...")
        return 0
    console = Console(soft_wrap=True)
    if not console.is_terminal:  # piped: one tab-separated line per document, nothing cut
        for d in docs:
            status = d.status if d.status != "error" else f"error: {d.error}"
            print("\t".join((short_id(d.doc_id), d.title, str(d.pages), str(d.chunks), status, d.path)))
        return 0
    table = Table(box=None, pad_edge=False)
    for column in ("id", "title", "pages", "chunks", "status", "path"):
        table.add_column(column, justify="right" if column in ("pages", "chunks") else "left")
    for d in docs:
        status = d.status if d.status != "error" else f"error: {d.error}"
        table.add_row(short_id(d.doc_id), d.title, str(d.pages), str(d.chunks), status, d.path)
    console.print(table)
    return 0
