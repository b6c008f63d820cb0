"""What the engine reports while it works, as plain data (no torch, no LanceDB).

`Library.ingest` yields the ingestion events, `Answerer.answer` the answer events; the CLI draws
progress from them and the window's worker forwards them to the GUI thread as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from grit_desktop.engine.chats import Source

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


@dataclass(frozen=True)
class ChunksEmbedded:
    path: str
    doc_id: str
    done: int   # chunks of this file embedded and written so far
    total: int


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

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "error"]


IngestEvent = IngestStarted | FileStarted | FileParsed | ChunksEmbedded | FileFinished | IngestFinished


# ------------------------------------------------------------------------------------------------
# answering


@dataclass(frozen=True)
class Retrieved:
    sources: list[Source]
    retrieval_ms: float


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Answered:
    text: str
    sources: list[Source]
    timings: dict[str, float]
    finish: str


AnswerEvent = Retrieved | Token | Answered
