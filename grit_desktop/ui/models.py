"""Qt item models over plain Python data: the library's documents and the saved chats.

They hold copies of what the worker sent (lists of frozen dataclasses) and are changed only on
the GUI thread, by the slots `set_documents`, `apply_ingest_event` and `set_chats`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from grit_desktop.engine.chats import ChatInfo
from grit_desktop.engine.index.events import (
    ChunksEmbedded,
    FileFinished,
    FileParsed,
    FileStarted,
    IngestEvent,
    IngestFinished,
)
from grit_desktop.engine.index.records import DocumentRecord

AnyIndex = QModelIndex | QPersistentModelIndex


class Role(IntEnum):
    DOC_ID = Qt.ItemDataRole.UserRole + 1
    STATUS = Qt.ItemDataRole.UserRole + 2
    PROGRESS = Qt.ItemDataRole.UserRole + 3  # 0-100 while indexing, -1 otherwise
    PATH = Qt.ItemDataRole.UserRole + 4
    CHAT_ID = Qt.ItemDataRole.UserRole + 5


@dataclass
class Row:
    """A document as listed: a stored record, or a file being read right now."""

    title: str
    path: str
    pages: int
    status: str          # ready | indexing | error | reading | waiting
    error: str = ""
    doc_id: str = ""
    done: int = 0
    total: int = 0

    @property
    def progress(self) -> int:
        if self.status in ("indexing", "reading") and self.total:
            return int(100 * self.done / self.total)
        return -1


class DocumentsModel(QAbstractTableModel):
    """Columns: title, pages, status. Files being indexed show their progress in the status."""

    HEADERS = ("Document", "Pages", "Status")

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[Row] = []

    # -- Qt API ---------------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.title, str(row.pages) if row.pages else "", _status_text(row))[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.path + (f"\n\n{row.error}" if row.error else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return {Role.DOC_ID: row.doc_id, Role.STATUS: row.status, Role.PROGRESS: row.progress,
                Role.PATH: row.path}.get(role)  # type: ignore[call-overload]

    # -- updates (GUI thread) -------------------------------------------------------------------

    def set_documents(self, docs: list[DocumentRecord]) -> None:
        """Show the stored documents, keeping the rows of files still being read."""
        live = [r for r in self._rows if r.status in ("reading", "waiting")
                and not any(d.path == r.path for d in docs)]
        rows = [Row(d.title, d.path, d.pages, d.status, d.error, d.doc_id, 0, d.chunks) for d in docs]
        self.beginResetModel()
        self._rows = rows + live
        self.endResetModel()

    def set_waiting(self, paths: list[str]) -> None:
        """Show ``paths`` as waiting to be read (other waiting rows are dropped); files already
        in the list keep their row."""
        wanted = set(paths)
        for i in reversed(range(len(self._rows))):
            if self._rows[i].status == "waiting" and self._rows[i].path not in wanted:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        for path in paths:
            if self._find(path) is None:
                self._upsert(path, Row(Path(path).name, path, 0, "waiting"))

    def apply_ingest_event(self, event: IngestEvent) -> None:
        if isinstance(event, FileStarted):
            self._upsert(event.path, Row(Path(event.path).name, event.path, 0, "reading"))
        elif isinstance(event, FileParsed):
            self._upsert(event.path, Row(event.title, event.path, event.pages, "indexing",
                                         doc_id=event.doc_id, total=event.chunks))
        elif isinstance(event, ChunksEmbedded):
            row = self._find(event.path)
            if row is not None:
                self._rows[row].done, self._rows[row].total = event.done, event.total
                self._changed(row)
        elif isinstance(event, FileFinished) and event.result.status == "removed":
            row = self._find(event.result.path)
            if row is not None:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
        elif isinstance(event, FileFinished):
            r = event.result
            status = "error" if r.status == "error" else "ready"
            self._upsert(r.path, Row(r.title or Path(r.path).name, r.path, r.pages, status,
                                     r.reason if r.status == "error" else "", r.doc_id))
        elif isinstance(event, IngestFinished):
            self._drop_unfinished()

    def row(self, i: int) -> Row:
        return self._rows[i]

    def rows(self) -> list[Row]:
        return list(self._rows)

    def _find(self, path: str) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.path == path), None)

    def _upsert(self, path: str, row: Row) -> None:
        i = self._find(path)
        if i is None:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
            self._rows.append(row)
            self.endInsertRows()
        else:
            self._rows[i] = row
            self._changed(i)

    def _changed(self, i: int) -> None:
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.HEADERS) - 1))

    def _drop_unfinished(self) -> None:
        for i in reversed(range(len(self._rows))):
            if self._rows[i].status == "reading":
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()


def _status_text(row: Row) -> str:
    if row.status == "indexing" and row.total:
        return f"indexing {row.progress}%"
    if row.status == "indexing":
        return "interrupted (resumes)"
    if row.status == "error":
        return "⚠ not added"  # the reason is in the tooltip and shown on double-click
    return row.status


class ChatsModel(QAbstractListModel):
    """The saved chats, most recently active first."""

    def __init__(self) -> None:
        super().__init__()
        self._chats: list[ChatInfo] = []

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._chats)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._chats):
            return None
        chat = self._chats[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return chat.title
        if role == Qt.ItemDataRole.ToolTipRole:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(chat.updated))
            return f"{chat.title}\n{chat.messages} messages, last {when}"
        if role == Role.CHAT_ID:
            return chat.id
        return None

    def set_chats(self, chats: list[ChatInfo]) -> None:
        self.beginResetModel()
        self._chats = list(chats)
        self.endResetModel()

    def row_of(self, chat_id: int) -> int | None:
        return next((i for i, c in enumerate(self._chats) if c.id == chat_id), None)

    def chat(self, row: int) -> ChatInfo:
        return self._chats[row]
