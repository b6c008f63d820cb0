"""Noticing changes in watched folders while the app runs, with `watchdog` (the system's file
notifications: inotify, FSEvents, ReadDirectoryChangesW).

`FolderWatcher` calls ``on_change(folder)`` once a watched folder has been quiet for QUIET_S
seconds after a change to a file the library reads (created, written, renamed, deleted) or to a
sub-folder: a file being copied sends many events, and only their end starts a pass. Opening and
reading files (the library's own reading) is not a change. `poke` asks for a pass later, without
an event (a file that was still being written: `watched.SETTLE_S`).

A folder that is not there cannot be watched: it is *offline*, and `refresh` (called now and then
by the owner) watches it again once it is back, and reports it changed, since anything may have
happened meanwhile.

Threading: ``on_change`` is called from the watcher's timer thread; every method may be called
from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from grit_desktop.engine.documents.formats import is_supported

log = logging.getLogger(__name__)

#: Seconds without events after which a changed folder is passed over.
QUIET_S = 1.0
_CHANGES = frozenset({"created", "deleted", "modified", "moved", "closed"})


def _identity(folder: str) -> tuple[int, int] | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if os.path.isdir(folder) else None


class _Handler(FileSystemEventHandler):
    def __init__(self, folder: str, changed: Callable[[str], None], lost: Callable[[str], None]) -> None:
        self.folder = folder
        self.changed = changed
        self.lost = lost

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _CHANGES:
            return  # opened, closed without writing: reading is not a change
        if event.event_type in ("deleted", "moved") and os.fsdecode(event.src_path) == self.folder:
            self.lost(self.folder)  # the folder itself went: its watch is dead
        if event.is_directory:
            if event.event_type == "modified":
                return  # a file inside changed: that file's own event counts
        else:
            paths = [os.fsdecode(event.src_path), os.fsdecode(event.dest_path or "")]
            if not any(is_supported(p) for p in paths if p):
                return
        self.changed(self.folder)


class FolderWatcher:
    """See the module docstring."""

    def __init__(self, on_change: Callable[[str], None], quiet_s: float = QUIET_S) -> None:
        self.on_change = on_change
        self.quiet_s = quiet_s
        self._lock = threading.Condition()
        self._due: dict[str, float] = {}
        self._watches: dict[str, ObservedWatch] = {}
        self._identity: dict[str, tuple[int, int]] = {}  # (device, inode) of each watched folder
        self._dead: set[str] = set()  # folders whose watch saw the folder itself go
        self._folders: set[str] = set()
        self._observer: BaseObserver = Observer()
        self._observer.daemon = True
        self._observer.start()
        self._closed = False
        self._timer = threading.Thread(target=self._run_timer, name="folder-watcher", daemon=True)
        self._timer.start()

    # -- what is watched ------------------------------------------------------------------------

    def set_folders(self, folders: Iterable[str]) -> None:
        """Watch exactly ``folders`` (absolute paths); those not there are offline until
        `refresh` finds them."""
        wanted = set(folders)
        with self._lock:
            for folder in self._folders - wanted:
                watch = self._watches.pop(folder, None)
                if watch is not None:
                    self._observer.unschedule(watch)
                self._due.pop(folder, None)
            self._folders = wanted
        self.refresh()

    def refresh(self) -> list[str]:
        """Watch again the folders that came back (each also reported changed), drop the watches
        of those that went; returns the folders that went or came back."""
        back: list[str] = []
        went: list[str] = []
        with self._lock:
            for folder in sorted(self._folders):
                identity = _identity(folder)
                there = identity is not None
                watch = self._watches.get(folder)
                if watch is not None and (folder in self._dead or identity != self._identity.get(folder)):
                    # another folder at the same path (a disk plugged in again), or the folder
                    # went and came back: watch it anew
                    self._unschedule(watch)
                    del self._watches[folder]
                    self._dead.discard(folder)
                    watch = None
                    if not there:
                        went.append(folder)
                        continue
                if watch is not None and not there:
                    self._unschedule(watch)
                    del self._watches[folder]
                    went.append(folder)
                    log.info("watched folder %s is offline", folder)
                elif watch is None and identity is not None:
                    try:
                        self._watches[folder] = self._observer.schedule(
                            _Handler(folder, self._changed, self._lost), folder, recursive=True)
                        self._identity[folder] = identity
                    except OSError as exc:
                        log.warning("cannot watch %s: %s", folder, exc)
                        continue
                    back.append(folder)
        for folder in back:
            self.poke(folder, 0.0)
        return sorted(went + back)

    def _unschedule(self, watch: ObservedWatch) -> None:
        with contextlib.suppress(KeyError, OSError):  # its emitter may have ended with the folder
            self._observer.unschedule(watch)

    def _lost(self, folder: str) -> None:
        with self._lock:
            self._dead.add(folder)
        self._changed(folder)

    def watching(self, folder: str) -> bool:
        """Whether ``folder`` is watched now (False: offline, or not one of the folders)."""
        with self._lock:
            return folder in self._watches

    # -- changes --------------------------------------------------------------------------------

    def poke(self, folder: str, delay: float) -> None:
        """Report ``folder`` changed in ``delay`` seconds (sooner if it was already due)."""
        with self._lock:
            due = time.monotonic() + delay
            self._due[folder] = min(due, self._due.get(folder, due))
            self._lock.notify()

    def _changed(self, folder: str) -> None:
        with self._lock:  # every event pushes the pass back: it starts once the folder is quiet
            self._due[folder] = time.monotonic() + self.quiet_s
            self._lock.notify()

    def _run_timer(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                ready = [f for f, t in self._due.items() if t <= now]
                for folder in ready:
                    del self._due[folder]
                if not ready:
                    wait = min(self._due.values(), default=now + 3600) - now
                    self._lock.wait(max(0.01, wait))
                    continue
            for folder in ready:
                try:
                    self.on_change(folder)
                except Exception:  # the owner's bug must not end the watching
                    log.exception("folder watcher: reporting %s failed", folder)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._timer.join(timeout=5)
