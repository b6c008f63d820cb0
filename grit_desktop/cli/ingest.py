"""``grit-desktop ingest``: add documents and folders to the library, with a progress bar."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from grit_desktop.cli.common import open_session, plural
from grit_desktop.engine.index.events import (
    ChunksEmbedded,
    FileFinished,
    FileParsed,
    FileWaiting,
    IngestEvent,
    IngestFinished,
    IngestStarted,
    describe_progress,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="document or folder")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list: path, status ok|skipped|error, pages, chunks, reason")
    p.add_argument("--no-resume", action="store_true",
                   help="do not finish documents an interrupted run left half-indexed")


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    with open_session(args, with_model=True) as session:
        return finish(session.ingest(args.paths, resume=not args.no_resume), args.json, err)


def finish(events: Iterator[IngestEvent], as_json: bool, err: Console) -> int:
    """Follow an ingestion (or a sync) to its end; print its results; the exit status."""
    finished = _follow(events, err, show_bar=err.is_terminal and not as_json)
    if as_json:
        print(json.dumps([asdict(r) for r in finished.results], indent=2))
    else:
        _summary(finished)
    return 1 if finished.failed else 0


def _follow(events: Iterator[IngestEvent], err: Console, show_bar: bool) -> IngestFinished:
    """Draw progress from the events (on a terminal: the file being indexed and the whole
    queue in passages, with rate and time left; always: one line per file)."""
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
        console=err, disable=not show_bar, transient=True,
    )
    overall: TaskID | None = None
    current: TaskID | None = None
    files = 0
    finished = 0
    with progress:
        for event in events:
            if isinstance(event, IngestStarted):
                files = event.files
                overall = progress.add_task("all files", total=None, detail=f"0 of {plural(files, 'file')}")
                if event.resumed:
                    err.print(f"resuming {event.resumed} interrupted document(s)")
            elif isinstance(event, FileParsed):
                if current is not None:
                    progress.remove_task(current)
                name = Path(event.path).name
                current = progress.add_task(f"  {name[:40]}", total=event.chunks, completed=event.written,
                                            detail=f"{event.written:,}/{event.chunks:,} passages")
            elif isinstance(event, FileWaiting):
                err.print(f"[yellow]waiting[/] {escape(event.path)}: {escape(event.reason)}",
                          highlight=False, soft_wrap=True)
            elif isinstance(event, ChunksEmbedded):
                if current is not None:
                    progress.update(current, completed=event.done,
                                    detail=f"{event.done:,}/{event.total:,} passages")
                if overall is not None and event.queue is not None:
                    q = event.queue
                    progress.update(overall, total=q.total, completed=q.done,
                                    detail=describe_progress(q, finished, files))
            elif isinstance(event, FileFinished):
                finished += 1
                _line(err, event)
            elif isinstance(event, IngestFinished):
                if event.notice:
                    err.print(f"[yellow]note[/] {escape(event.notice)}", highlight=False, soft_wrap=True)
                for path in event.settling:
                    err.print(f"[yellow]later[/] {escape(path)}: still being written; the next sync "
                              "takes it", highlight=False, soft_wrap=True)
                return event
    raise RuntimeError("ingest ended without a result")


def _line(err: Console, event: FileFinished) -> None:
    r = event.result
    mark = {"ok": "[green]ok[/]", "skipped": "[yellow]skipped[/]", "error": "[red]error[/]",
            "removed": "[magenta]removed[/]"}[r.status]
    detail = f"{plural(r.pages, 'page')}, {plural(r.chunks, 'chunk')}" if r.status == "ok" else r.reason
    err.print(f"{mark} {escape(r.path)}: {escape(detail)}", highlight=False, soft_wrap=True)


def _summary(done: IngestFinished) -> None:
    counts = {s: sum(r.status == s for r in done.results) for s in ("ok", "skipped", "error", "removed")}
    word = "cancelled after" if done.cancelled else "done in"
    removed = f", {counts['removed']} removed" if counts["removed"] else ""
    print(f"{counts['ok']} indexed, {counts['skipped']} skipped, {counts['error']} failed{removed}; "
          f"{word} {done.seconds:.1f} s", file=sys.stdout)
