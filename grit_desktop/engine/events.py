"""What the engine reports while it works, as plain data (no torch, no LanceDB).

`Library.ingest` yields the ingestion events, `Answerer.answer` the answer events; the CLI draws
progress from them and the window's worker forwards them to the GUI thread as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from grit_desktop.engine.chats import Message
from grit_desktop.engine.records import Source

FileStatus = Literal["ok", "skipped", "error"]


# ------------------------------------------------------------------------------------------------
# ingestion


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

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "error"]


IngestEvent = (IngestStarted | FileStarted | FileReading | FileWaiting | FileParsed | ChunksEmbedded
               | FileFinished | IngestFinished)


# ------------------------------------------------------------------------------------------------
# answering


@dataclass(frozen=True)
class QuestionAsked:
    """The question is stored in its chat (``created``: a chat made for it)."""

    chat_id: int
    created: bool
    message: Message


@dataclass(frozen=True)
class Retrieved:
    """The passages the model is given (only those: what did not fit the context is left out).
    With none, ``note`` says why, for the user: the answer comes from the model alone."""

    sources: list[Source]
    retrieval_ms: float
    note: str = ""


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Answered:
    text: str
    sources: list[Source]
    timings: dict[str, float]
    finish: str


@dataclass(frozen=True)
class AnswerStored:
    """The answer is stored in its chat (also a partial one, when stopped or failed)."""

    chat_id: int
    message: Message


@dataclass(frozen=True)
class AnswerFailed:
    """The answer failed (the error is raised next): the chat is gone (``chat_removed``: it was
    made for this question), or it holds the ``partial`` answer, or, with neither, it is as
    before the question."""

    chat_id: int
    chat_removed: bool
    partial: Message | None


AnswerEvent = Retrieved | Token | Answered
ChatEvent = QuestionAsked | Retrieved | Token | Answered | AnswerStored | AnswerFailed
