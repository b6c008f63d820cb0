"""Watched folders: folders whose documents the library keeps in step with the disk.

`WatchList` is the list of watched folders of one data folder (``watched.json``, shared by the
window and the CLI; written whole and atomically, under a lock). `plan_folder` compares one
folder on disk with the library's documents under it: which files are new or changed, which are
still being written, which documents lost their file. `Library.ingest` carries a plan out
(``sync=``): a document whose content turns up under a new path is moved there (its chunks are
kept, nothing is embedded again), new and changed files are indexed, and documents whose file is
gone are removed. A folder that is not there (a removable disk that is not plugged in) is
*offline*: nothing of it is removed.

A file changed less than SETTLE_S seconds ago may still be being copied: it waits for the next
pass (the watcher, `watcher.py`, comes back for it), so it is indexed once, complete. While such
a file waits, documents whose file is gone are kept too: the waiting file may be one of them,
copied to its new place.

No heavy imports (the window lists watched folders before the engine has started).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from filelock import FileLock

from grit_desktop.config import write_atomically
from grit_desktop.engine.index.files import find_documents
from grit_desktop.engine.index.records import DocumentRecord
from grit_desktop.errors import GritError

WATCH_FILE = "watched.json"
COPIES_FILE = "copies.json"
#: A file modified less than this long ago may still be being written: it waits.
SETTLE_S = 2.0

FolderStatus = Literal["in sync", "waiting", "offline", "error"]


@dataclass(frozen=True)
class WatchedFolder:
    path: str  # absolute, resolved
    added_at: float  # epoch seconds


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(os.path.join(folder, ""))


class WatchList:
    """The watched folders of the data folder ``home`` (see the module docstring)."""

    def __init__(self, home: Path) -> None:
        self.file = home / WATCH_FILE
        self._lock = FileLock(str(home / f"{WATCH_FILE}.lock"))

    def folders(self) -> list[WatchedFolder]:
        """The watched folders, in the order they were added; GritError if the file is damaged."""
        try:
            text = self.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise GritError(f"cannot read the list of watched folders {self.file}: {exc.strerror}") from exc
        try:
            data = json.loads(text)
            return [WatchedFolder(str(f["path"]), float(f["added_at"])) for f in data["folders"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise GritError(f"the list of watched folders {self.file} is damaged ({exc}): fix it, "
                            "or delete it and add the folders again") from exc

    def stamp(self) -> tuple[int, int] | None:
        """Changes when the list changes (here or in another process); None: no list."""
        try:
            st = self.file.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def owner(self, path: str) -> WatchedFolder | None:
        """The watched folder ``path`` lies in, if any."""
        return next((f for f in self.folders() if _inside(path, f.path)), None)

    def add(self, folder: str | os.PathLike[str]) -> tuple[WatchedFolder, list[WatchedFolder]]:
        """Watch ``folder``; returns it and the watched folders inside it that it replaces.
        GritError when it is not a folder or already lies in a watched one."""
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise GritError(f"{folder} is not a folder" if path.exists() else f"{folder}: no such folder")
        resolved = str(path.resolve())
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            folders = self.folders()
            outer = next((f for f in folders if _inside(resolved, f.path)), None)
            if outer is not None:
                where = "" if outer.path == resolved else f" as part of {outer.path}"
                raise GritError(f"{resolved} is already watched{where}")
            inner = [f for f in folders if _inside(f.path, resolved)]
            new = WatchedFolder(resolved, time.time())
            self._write([f for f in folders if f not in inner] + [new])
        return new, inner

    def remove(self, folder: str | os.PathLike[str]) -> WatchedFolder:
        """Stop watching ``folder`` (its documents stay in the library); GritError if not watched."""
        wanted = {str(Path(folder).expanduser().absolute()), str(Path(folder).expanduser().resolve())}
        with self._lock:
            folders = self.folders()
            gone = next((f for f in folders if f.path in wanted), None)
            if gone is None:
                raise GritError(f"{folder} is not a watched folder")
            self._write([f for f in folders if f is not gone])
        return gone

    def _write(self, folders: Sequence[WatchedFolder]) -> None:
        data = {"version": 1, "folders": [{"path": f.path, "added_at": f.added_at} for f in folders]}
        try:
            _write_json(self.file, data)
        except OSError as exc:
            raise GritError(f"cannot save the list of watched folders {self.file}: {exc.strerror}") from exc


class Copies:
    """Files whose content the library already holds under another path (copies): path ->
    (size, mtime, doc_id), in ``copies.json`` of the data folder. A document is one per content,
    so a copy has no document of its own; this is how a sync knows it without reading it again
    every pass, and shows its folder in sync. Written like `WatchList`."""

    def __init__(self, home: Path) -> None:
        self.file = home / COPIES_FILE
        self._lock = FileLock(str(home / f"{COPIES_FILE}.lock"))

    def load(self) -> dict[str, tuple[int, float, str]]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            return {str(p): (int(v[0]), float(v[1]), str(v[2])) for p, v in data["copies"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return {}  # only a shortcut: without it, copies are read again and recorded anew

    def record(self, path: str, size: int, mtime: float, doc_id: str) -> None:
        """Remember ``path`` as a copy of ``doc_id``; forget copies whose file is gone."""
        with self._lock:
            copies = {p: v for p, v in self.load().items() if os.path.exists(p)}
            copies[path] = (size, mtime, doc_id)
            _write_json(self.file, {"version": 1, "copies": {p: list(v) for p, v in copies.items()}})

    def copy_of(self, path: str, size: int, mtime: float) -> str | None:
        """The document ``path`` is a known copy of, while its size and time are unchanged."""
        entry = self.load().get(path)
        return entry[2] if entry is not None and entry[:2] == (size, mtime) else None


def _write_json(file: Path, data: object) -> None:
    write_atomically(file, json.dumps(data, indent=2))


@dataclass(frozen=True)
class FolderPlan:
    """How one watched folder differs from the library (see `plan_folder`)."""

    folder: str
    offline: bool = False            # the folder is not there: nothing of it changes
    error: str = ""                  # the folder cannot be listed
    files: list[Path] = field(default_factory=list)     # supported files on disk
    changed: list[Path] = field(default_factory=list)   # new or changed, to index now
    settling: list[Path] = field(default_factory=list)  # changed, perhaps still being written
    gone: list[DocumentRecord] = field(default_factory=list)  # documents whose file is gone

    @property
    def in_sync(self) -> bool:
        return not (self.offline or self.error or self.changed or self.settling or self.gone)


def plan_folder(folder: str, documents: Iterable[DocumentRecord], now: float | None = None,
                copies: dict[str, tuple[int, float, str]] | None = None) -> FolderPlan:
    """Compare ``folder`` on disk with ``documents`` (the library's): reads file sizes and
    times only, no content. ``copies`` (`Copies.load`): files known to be copies of a document
    are in step while that document is; a copy of a gone document is changed (it may be where
    that document moved)."""
    documents = list(documents)
    copies = copies or {}
    ready = {d.doc_id for d in documents if d.status == "ready"}
    now = time.time() if now is None else now
    root = Path(folder)
    if not root.is_dir():
        return FolderPlan(folder, offline=True)
    try:
        os.listdir(root)
    except OSError as exc:
        return FolderPlan(folder, error=f"cannot be read: {exc.strerror}")
    inside = {d.path: d for d in documents if _inside(d.path, folder)}
    files, _ = find_documents([root])
    stats: list[tuple[Path, os.stat_result]] = []
    for file in files:
        try:
            stats.append((file, file.stat()))
        except OSError:
            continue  # gone since it was listed
    on_disk = {str(f) for f, _ in stats}
    gone = [d for path, d in inside.items() if path not in on_disk and not os.path.exists(path)]
    gone_ids = {d.doc_id for d in gone}
    changed: list[Path] = []
    settling: list[Path] = []
    for file, st in stats:
        doc = inside.get(str(file))
        same = doc is not None and (doc.bytes, doc.mtime) == (st.st_size, st.st_mtime)
        if same and doc is not None and doc.status != "indexing":
            continue
        copy = copies.get(str(file))
        known = doc is None and copy is not None and copy[:2] == (st.st_size, st.st_mtime)
        if known and copy is not None and copy[2] in ready and copy[2] not in gone_ids:
            continue  # a known copy of a document in the library
        (settling if now - st.st_mtime < SETTLE_S else changed).append(file)
    return FolderPlan(folder, files=[f for f, _ in stats], changed=changed, settling=settling, gone=gone)


@dataclass(frozen=True)
class FolderState:
    """What the library panel shows of a watched folder."""

    path: str
    status: FolderStatus
    files: int = 0      # supported files in it
    documents: int = 0  # of the library's documents, those under it
    waiting: int = 0    # changes not yet in the library (files to index, documents to remove)
    failed: int = 0     # files that could not be read (each with its reason in the library)
    detail: str = ""    # why, for offline and error

    def describe(self) -> str:
        """``in sync · 12 files``, ``3 waiting · 12 files``, ``offline``, ``error: …``."""
        if self.status == "offline":
            return "offline (not found: a disk not plugged in?)"
        if self.status == "error":
            return f"error: {self.detail}"
        head = "in sync" if self.status == "in sync" else f"{self.waiting} waiting"
        parts = [head, f"{self.files:,} file{'s' if self.files != 1 else ''}"]
        if self.failed:
            parts.append(f"{self.failed} unreadable")
        return " · ".join(parts)


def folder_state(plan: FolderPlan, documents: Sequence[DocumentRecord]) -> FolderState:
    """The state of ``plan``'s folder, given the library's ``documents``."""
    inside = [d for d in documents if _inside(d.path, plan.folder)]
    failed = sum(d.status == "error" for d in inside)
    if plan.offline:
        return FolderState(plan.folder, "offline", documents=len(inside), failed=failed)
    if plan.error:
        return FolderState(plan.folder, "error", documents=len(inside), detail=plan.error)
    waiting = len(plan.changed) + len(plan.settling) + len(plan.gone)
    return FolderState(plan.folder, "waiting" if waiting else "in sync", len(plan.files), len(inside),
                       waiting, failed)
