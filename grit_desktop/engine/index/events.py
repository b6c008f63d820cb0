"""What ingestion reports while it works, as plain data (no torch, no LanceDB).

`Library.ingest` yields these events; the CLI draws progress from them and the window's worker
forwards them to the GUI thread as they are. The answer's events are in `answering/events.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FileStatus = Literal["ok", "skipped", "error", "removed"]  # removed: its file was deleted


@dataclass(frozen=True)
class FileResult:
    """What became of one file."""

    path: str
    status: FileStatus
    doc_id: str = ""
    title: str = ""
    pages: int = 0
    chunks: int = 0
    reason: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class IngestStarted:
    files: int
    resumed: int = 0  # of which, documents left half-indexed by an earlier run


@dataclass(frozen=True)
class FileStarted:
    index: int  # 0-based position among the files of this ingest
    files: int
    path: str


@dataclass(frozen=True)
class FileParsed:
    path: str
    doc_id: str
    title: str
    pages: int
    chunks: int
    scanned_pages: int
    written: int = 0  # chunks an earlier run already wrote (resumed from there)


@dataclass(frozen=True)
class QueueProgress:
    """The whole ingestion, in passages (chunks) to embed in this run.

    ``total`` counts the files read so far exactly and estimates the others from their size
    (``estimated`` until every file is read). ``per_second`` is the rate since the first
    passage; ``eta_s`` the time left at that rate (None until there is a rate).
    """

    done: int
    total: int
    estimated: bool
    per_second: float
    eta_s: float | None


@dataclass(frozen=True)
class FileReading:
    """The file is still being read (sent every READ_POLL_S seconds, so that the caller may do
    something else meanwhile: the window answers a question between two of these)."""

    path: str


@dataclass(frozen=True)
class FileWaiting:
    """The file waits for another process (which is indexing the same document)."""

    path: str
    doc_id: str
    reason: str


def describe_progress(q: QueueProgress, finished: int, files: int) -> str:
    """``1,200/~4,800 passages · 3 of 7 files · 45/s · about 2 min left`` (window and CLI)."""
    total = f"~{q.total:,}" if q.estimated else f"{q.total:,}"
    noun = "file" if files == 1 else "files"
    parts = [f"{q.done:,}/{total} passages", f"{finished} of {files} {noun}"]
    if q.per_second > 0:
        parts.append(f"{q.per_second:,.0f}/s" if q.per_second >= 10 else f"{q.per_second:.1f}/s")
    if q.eta_s is not None and q.eta_s >= 0.5:
        parts.append(f"about {duration(q.eta_s)} left")
    return " · ".join(parts)


def duration(seconds: float) -> str:
    """``40 s``, ``3 min``, ``1 h 20 min``."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


@dataclass(frozen=True)
class ChunksEmbedded:
    path: str
    doc_id: str
    done: int   # chunks of this file embedded and written so far
    total: int
    queue: QueueProgress | None = None  # the whole ingestion


@dataclass(frozen=True)
class FileFinished:
    index: int
    files: int
    result: FileResult


@dataclass(frozen=True)
class IngestFinished:
    results: list[FileResult] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    notice: str = ""  # something the user should know although every file ended well
    settling: list[str] = field(default_factory=list)  # files still being written: the next sync

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "error"]


IngestEvent = (IngestStarted | FileStarted | FileReading | FileWaiting | FileParsed | ChunksEmbedded
               | FileFinished | IngestFinished)
