"""``grit-desktop ingest``: add PDFs and folders to the library, with a progress bar."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from grit_desktop.cli.common import open_library
from grit_desktop.engine.events import (
    ChunksEmbedded,
    FileFinished,
    FileParsed,
    FileStarted,
    IngestEvent,
    IngestFinished,
    IngestStarted,
)

NAME = "ingest"
HELP = "add PDF files and folders (searched recursively) to the library"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="PDF file or folder")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list: path, status ok|skipped|error, pages, chunks, reason")
    p.add_argument("--no-resume", action="store_true",
                   help="do not finish documents an interrupted run left half-indexed")


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    with open_library(args, with_model=True) as library:
        events = library.ingest(args.paths, resume=not args.no_resume)
        finished = _follow(events, err, show_bar=err.is_terminal and not args.json)
    if args.json:
        print(json.dumps([asdict(r) for r in finished.results], indent=2))
    else:
        _summary(finished)
    return 1 if finished.failed else 0


def _follow(events: Iterator[IngestEvent], err: Console, show_bar: bool) -> IngestFinished:
    """Draw progress from the events (a bar on a terminal, a line per file always)."""
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, disable=not show_bar, transient=True,
    )
    files: TaskID | None = None
    chunks: TaskID | None = None
    with progress:
        for event in events:
            if isinstance(event, IngestStarted):
                files = progress.add_task("files", total=event.files)
                if event.resumed:
                    err.print(f"resuming {event.resumed} interrupted document(s)")
            elif isinstance(event, FileStarted) and files is not None:
                progress.update(files, description=f"file {event.index + 1}/{event.files}")
            elif isinstance(event, FileParsed):
                if chunks is not None:
                    progress.remove_task(chunks)
                chunks = progress.add_task(f"  {event.title[:40]}", total=event.chunks)
            elif isinstance(event, ChunksEmbedded) and chunks is not None:
                progress.update(chunks, completed=event.done)
            elif isinstance(event, FileFinished):
                if files is not None:
                    progress.advance(files)
                _line(err, event)
            elif isinstance(event, IngestFinished):
                return event
    raise RuntimeError("ingest ended without a result")


def _line(err: Console, event: FileFinished) -> None:
    r = event.result
    mark = {"ok": "[green]ok[/]", "skipped": "[yellow]skipped[/]", "error": "[red]error[/]"}[r.status]
    detail = f"{_count(r.pages, 'page')}, {_count(r.chunks, 'chunk')}" if r.status == "ok" else r.reason
    err.print(f"{mark} {escape(r.path)}: {escape(detail)}", highlight=False, soft_wrap=True)


def _summary(done: IngestFinished) -> None:
    counts = {s: sum(r.status == s for r in done.results) for s in ("ok", "skipped", "error")}
    word = "cancelled after" if done.cancelled else "done in"
    print(f"{counts['ok']} indexed, {counts['skipped']} skipped, {counts['error']} failed; "
          f"{word} {done.seconds:.1f} s", file=sys.stdout)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
