"""What the window asks of the engine worker: small immutable commands (plain data).

Created on the GUI thread, handed to `EngineWorker.submit`, carried out on the worker thread.
This module is light on purpose (no torch, no LanceDB), so the window can be built and shown
before the engine is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from grit_desktop.config import Device, Quantization, Settings
from grit_desktop.engine.index.records import Scope


@dataclass(frozen=True)
class LoadModel:
    model: str
    device: Device = "auto"
    quantization: Quantization = "auto"


@dataclass(frozen=True)
class Ingest:
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Watch:
    folder: str  # watched from now on, and synced at once


@dataclass(frozen=True)
class Unwatch:
    folder: str  # no longer watched; its documents stay


@dataclass(frozen=True)
class SyncFolders:
    folders: tuple[str, ...]  # watched folders to bring in step with the disk


@dataclass(frozen=True)
class RemoveDocument:
    doc_id: str


@dataclass(frozen=True)
class Ask:
    chat_id: int | None  # None: a new chat is created, titled after the question
    question: str
    scope: Scope | None = None  # the documents asked of, kept by the chat (None: the chat's own)


@dataclass(frozen=True)
class OpenChat:
    chat_id: int


@dataclass(frozen=True)
class RenameChat:
    chat_id: int
    title: str


@dataclass(frozen=True)
class DeleteChat:
    chat_id: int


@dataclass(frozen=True)
class ExportChat:
    chat_id: int
    path: str


@dataclass(frozen=True)
class ApplySettings:
    settings: Settings


@dataclass(frozen=True)
class Quit:
    pass


Command = (LoadModel | Ingest | Watch | Unwatch | SyncFolders | RemoveDocument | Ask | OpenChat
           | RenameChat | DeleteChat | ExportChat | ApplySettings | Quit)


