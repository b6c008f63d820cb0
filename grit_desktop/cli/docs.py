"""``grit-desktop docs``: list the library's documents and their status."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grit_desktop.cli.common import open_session, printable, short_id
from grit_desktop.engine.index.records import DocumentRecord


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list of documents")


def run(args: argparse.Namespace) -> int:
    with open_session(args, with_model=False) as session:
        library = session.library
        docs = library.documents()
        # A half-indexed document: how many of its planned chunks are written so far.
        written = {d.doc_id: library.store.chunk_count(d.doc_id) for d in docs if d.status == "indexing"}
    if args.json:
        print(json.dumps([asdict(d) | ({"written": written[d.doc_id]} if d.doc_id in written else {})
                          for d in docs], indent=2))
        return 0
    if not docs:
        print("The library is empty. Add documents with: grit-desktop ingest PATH...")
        return 0
    rows = [(short_id(d.doc_id), printable(d.title), f"{d.pages:,}", _chunks(d, written),
             printable(d.status if d.status != "error" else f"error: {d.error}"), printable(d.path))
            for d in docs]
    console = Console(soft_wrap=True)
    if not console.is_terminal:  # piped: one tab-separated line per document, nothing cut
        for row in rows:
            print("\t".join(row))
        return 0
    table = Table(box=None, pad_edge=False)
    for column in ("id", "title", "pages", "chunks", "status", "path"):
        table.add_column(column, justify="right" if column in ("pages", "chunks") else "left")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)
    return 0


def _chunks(doc: DocumentRecord, written: dict[str, int]) -> str:
    if doc.doc_id in written:
        return f"{written[doc.doc_id]:,} of {doc.chunks:,}"
    return f"{doc.chunks:,}"
