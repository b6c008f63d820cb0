"""One data folder's use cases, for every front end: the window's worker and the CLI.

A `Session` owns what a front end works with (the model, the library, the chats, the passage
key/value cache, the settings) and does each thing a user asks for once: load the model, add
documents (queued, resumed, stepped one event at a time), ask in a chat, export a chat, rename,
remove, apply new settings. A front end only shows what it returns: the window's worker
(`ui/worker.py`) turns calls and events into Qt signals, the CLI prints them.

The library and the chats are opened when first used, so a command that needs neither (or only
one) opens nothing else. Errors are `GritError` with a message for the user.

Threading: a session is used from one thread (the worker's, or the CLI's); `stop_ingest` and a
``cancel`` event passed to `ask` may be set from any other.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from grit_desktop.config import CacheMode, Settings, save_settings
from grit_desktop.engine.answering.events import ChatEvent
from grit_desktop.engine.chats import ChatInfo, Chats, Message
from grit_desktop.engine.index.events import FileStarted, IngestEvent, IngestFinished
from grit_desktop.engine.index.files import find_documents
from grit_desktop.engine.index.library import Library
from grit_desktop.engine.index.records import DocumentRecord, Scope
from grit_desktop.engine.index.watched import (
    SETTLE_S,
    Copies,
    FolderState,
    WatchedFolder,
    WatchList,
    folder_state,
    plan_folder,
)
from grit_desktop.errors import GritError

if TYPE_CHECKING:  # torch and the model's code load with the model: commands without one start sooner
    from grit_desktop.engine.answering.rag import Answerer
    from grit_desktop.engine.grit.model import GritModel, LoadOptions, ModelInfo
    from grit_desktop.engine.index.watcher import FolderWatcher

CHATS_FILE = "chats.sqlite"
#: Where torch.compile keeps the decode steps it compiled, for the next start (see `prepare_decoding`).
COMPILED_DIR = Path("cache", "compiled")


class Session:
    """The use cases over one data folder (``home``); see the module docstring."""

    def __init__(self, home: Path, settings: Settings) -> None:
        self.home = home
        self.settings = settings
        self.model: GritModel | None = None
        self._library: Library | None = None
        self._chats: Chats | None = None
        self._answerer: Answerer | None = None
        #: Told, in words, when the library waits for another process's write (a notice).
        self.on_wait: Callable[[str], None] | None = None
        self._stop_ingest = threading.Event()
        self._ingest_paths: list[str] = []
        self._sync_folders: list[str] = []
        self._watch_list = WatchList(home)
        self._watcher: FolderWatcher | None = None
        self._watch_stamp: tuple[int, int] | None = None
        self._offline: set[str] = set()  # watched folders last seen offline
        self._waiting: list[str] = []
        self._ingesting: Iterator[IngestEvent] | None = None
        self._seen_version: int | None = None

    # -- storage --------------------------------------------------------------------------------

    @property
    def library(self) -> Library:
        """The library (opened on first use); GritError when it cannot be opened."""
        if self._library is None:
            self._library = Library(self.home, self.settings, self.model)
            self._library.on_wait = self.on_wait
        return self._library

    @property
    def chats(self) -> Chats:
        """The chat history (opened on first use); GritError when it cannot be opened."""
        if self._chats is None:
            self._chats = Chats(self.home / CHATS_FILE)
        return self._chats

    def close(self) -> None:
        self.stop_watching()
        if self._library is not None:
            self._library.close()
        if self._chats is not None:
            self._chats.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- model ----------------------------------------------------------------------------------

    def load_model(self, options: LoadOptions | None = None) -> ModelInfo:
        """Load the model (``options`` None: the settings'). Until it succeeds the session keeps
        what it had. ModelNotFoundError when it is not on this machine, GritError otherwise."""
        from grit_desktop.engine.answering.rag import Answerer
        from grit_desktop.engine.grit.kvcache import KVCache
        from grit_desktop.engine.grit.model import GritModel, LoadOptions

        s = self.settings
        options = options or LoadOptions(s.model, s.device, s.quantization, s.compile_decoding)
        model = GritModel.load(options, batch_tokens=s.embed_batch_tokens)
        if self._library is not None:
            self._library.close()
            self._library = None
        self.model = model
        self._answerer = Answerer(model, s, KVCache(s.kv_cache_mb * 2**20))  # the passages' states
        return model.info

    def prepare_decoding(self) -> bool:
        """Compile the loaded model's decode step for answers of the settings' size, if it uses
        one (seconds or more, once per load: call it off the GUI thread). False when there
        is nothing to prepare or it failed; `GritModel.decoding` says which, in words.

        What is compiled is kept in the data folder's `COMPILED_DIR`, where the next start finds
        it (unless the variable TORCHINDUCTOR_CACHE_DIR names another folder)."""
        if self.model is None:
            return False
        from grit_desktop.engine.grit.decoding import keep_compiled_in

        keep_compiled_in(self.home / COMPILED_DIR)
        return self.model.prepare_decoding(self._answer_tokens())

    def decoding_owed(self) -> bool:
        """Whether `prepare_decoding` has compiling to do (false once done, or where answers
        decode without a compiled step)."""
        return self.model is not None and self.model.decoding_owed(self._answer_tokens())

    def _answer_tokens(self) -> int:
        """The most tokens an answer holds under the settings: passages, answer and the rest."""
        s = self.settings
        return s.top_k * s.chunk_tokens + s.max_new_tokens + 256

    # -- documents ------------------------------------------------------------------------------

    def documents(self) -> list[DocumentRecord]:
        """The documents, remembering the library's version (see `changed_elsewhere`)."""
        self._seen_version = self.library.version()
        return self.library.documents()

    def changed_elsewhere(self) -> bool:
        """Whether the library changed (another process wrote to it) since `documents`."""
        return self.library.version() != self._seen_version

    def remove(self, doc_id_or_path: str) -> DocumentRecord:
        return self.library.remove(doc_id_or_path)

    def ingest(self, paths: Iterable[str | Path], cancel: threading.Event | None = None, *,
               resume: bool = True, sync: Iterable[str] = ()) -> Iterator[IngestEvent]:
        """Add PDFs and folders now, and bring the watched folders ``sync`` in step with the
        disk: the library's events (see `Library.ingest`)."""
        return self.library.ingest(paths, cancel, resume=resume, sync=list(sync))

    # Queued ingestion, for a front end that does other things between two steps.

    @property
    def waiting(self) -> list[str]:
        """Every file accepted by `queue_ingest` and not started yet."""
        return list(self._waiting)

    @property
    def ingesting(self) -> bool:
        return self._ingesting is not None

    def queue_ingest(self, paths: Iterable[str], sync: Iterable[str] = ()) -> None:
        """Add ``paths`` to what is to be ingested, and the watched folders ``sync`` to those to
        bring in step with the disk; an empty call still finishes what an earlier run left
        half-done. Starts when the model is loaded; `step_ingest` runs it."""
        paths, sync = list(paths), list(sync)
        self._ingest_paths.extend(paths)
        files, _ = find_documents(paths)  # the folders' documents, listed at once as waiting
        if sync:
            docs, copies = self.library.documents(), Copies(self.home).load()
            plans = [plan_folder(folder, docs, copies=copies) for folder in sync]
            # a folder in step (or offline) needs no pass: a later change is reported anew
            sync = [p.folder for p in plans if p.changed or p.settling or p.gone]
            files.extend(f for p in plans for f in p.changed)
        self._sync_folders.extend(f for f in sync if f not in self._sync_folders)
        self._waiting.extend(str(f) for f in files if str(f) not in self._waiting)
        if self.model is not None and self._ingesting is None:
            self._start_ingest()

    def needs_ingest(self) -> bool:
        """Whether there is queued or interrupted work (worth a `queue_ingest`)."""
        return bool(self._ingest_paths or self._sync_folders) or bool(self.library.interrupted())

    def step_ingest(self) -> IngestEvent | None:
        """The next event of the queued ingestion, None when there is none. After the last,
        the next queued paths start, or the queue is empty. GritError when the library cannot
        be written (the queue is then emptied)."""
        if self._ingesting is None:
            return None
        try:
            event = next(self._ingesting, None)
        except GritError:
            self._ingest_paths.clear()
            self._ingest_ended()
            raise
        if isinstance(event, FileStarted) and event.path in self._waiting:
            self._waiting.remove(event.path)
        if isinstance(event, IngestFinished) and event.settling and self._watcher is not None:
            for folder in {self._watch_list.owner(p) for p in event.settling} - {None}:
                assert folder is not None
                self._watcher.poke(folder.path, SETTLE_S)  # come back once they are written
        if event is None or isinstance(event, IngestFinished):
            self._ingest_ended()
        return event

    def stop_ingest(self) -> None:
        """Stop the queued ingestion between two batches (any thread); what is done stays."""
        self._stop_ingest.set()

    def _start_ingest(self) -> None:
        paths, self._ingest_paths = self._ingest_paths, []
        folders, self._sync_folders = self._sync_folders, []
        self._stop_ingest.clear()
        self._ingesting = self.library.ingest(paths, self._stop_ingest, sync=folders)

    def _ingest_ended(self) -> None:
        self._ingesting = None
        if (self._ingest_paths or self._sync_folders) and not self._stop_ingest.is_set():
            self._start_ingest()
        else:
            self._ingest_paths.clear()
            self._sync_folders.clear()
            self._waiting.clear()

    # -- watched folders ------------------------------------------------------------------------

    def watched(self) -> list[WatchedFolder]:
        """The watched folders (shared with other processes on this data folder)."""
        return self._watch_list.folders()

    def watch(self, folder: str | Path) -> WatchedFolder:
        """Watch ``folder`` (it is synced with the next `queue_ingest` or `sync`); GritError
        when it is not a folder or already lies in a watched one."""
        added, _ = self._watch_list.add(folder)
        self._rewatch()
        return added

    def unwatch(self, folder: str | Path) -> WatchedFolder:
        """Stop watching ``folder``; its documents stay in the library."""
        removed = self._watch_list.remove(folder)
        self._rewatch()
        return removed

    def sync(self, folders: Iterable[str] | None = None, cancel: threading.Event | None = None,
             ) -> Iterator[IngestEvent]:
        """Bring ``folders`` (None: every watched one) in step with the disk, once: the
        library's events."""
        chosen = [f.path for f in self.watched()] if folders is None else list(folders)
        return self.library.ingest((), cancel, sync=chosen)

    def folder_states(self) -> list[FolderState]:
        """Each watched folder as the library panel shows it (sizes and times only: cheap)."""
        docs, copies = self.library.documents(), Copies(self.home).load()
        states = [folder_state(plan_folder(f.path, docs, copies=copies), docs) for f in self.watched()]
        self._offline = {s.path for s in states if s.status == "offline"}
        return states

    def start_watching(self, on_change: Callable[[str], None]) -> None:
        """Notice changes in the watched folders while running: ``on_change(folder)`` (from
        another thread) once one has changed and is quiet; then `queue_ingest(sync=...)` it."""
        if self._watcher is None:
            from grit_desktop.engine.index.watcher import FolderWatcher  # watchdog, when needed

            self._watcher = FolderWatcher(on_change)
        self._rewatch()

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None

    def watch_list_changed(self) -> bool:
        """Whether the watched folders changed (maybe in another process) since last asked;
        also watches again the folders that came back online."""
        stamp = self._watch_list.stamp()
        changed = stamp != self._watch_stamp
        if changed:
            self._rewatch()
        elif self._watcher is not None:
            changed = bool(self._watcher.refresh())
        back = [f for f in self._offline if os.path.isdir(f)]  # e.g. back before a refresh saw it go
        if back and self._watcher is not None:
            for folder in back:
                self._watcher.poke(folder, 0.0)
            self._offline -= set(back)
            changed = True
        return changed

    def _rewatch(self) -> None:
        self._watch_stamp = self._watch_list.stamp()
        if self._watcher is not None:
            self._watcher.set_folders(f.path for f in self._watch_list.folders())

    # -- chats ----------------------------------------------------------------------------------

    def ask(self, question: str, chat_id: int | None = None, *, scope: Scope | None = None,
            mode: CacheMode | None = None, k: int | None = None,
            cancel: threading.Event | None = None) -> Generator[ChatEvent, None, None]:
        """Ask in a chat (None: a new one), of the documents of ``scope`` (None: the chat's
        own; see `scope_of`): see `conversation.ask` for the events."""
        if self._answerer is None:
            raise GritError("The model is not loaded yet. Pick or download it first (Settings).")
        from grit_desktop.engine.answering.conversation import ask
        from grit_desktop.engine.grit.generation import GenerationParams

        s = self.settings
        params = GenerationParams(s.max_new_tokens, s.temperature, s.top_p)
        return ask(self.library, self._answerer, self.chats, question, chat_id, scope=scope,
                   mode=mode, k=k, params=params, cancel=cancel)

    def scope_of(self, docs: Iterable[str] = (), folders: Iterable[str | Path] = ()) -> Scope:
        """A scope from documents (id, unique id prefix or path, as `Library.find` takes them)
        and folders; GritError for a document not in the library or a folder that is not one."""
        doc_ids = tuple(dict.fromkeys(self.library.find(d).doc_id for d in docs))
        paths: list[str] = []
        for folder in folders:
            path = Path(folder).expanduser().resolve()
            if not path.is_dir() and not any(d.path.startswith(os.path.join(path, ""))
                                             for d in self.library.documents()):
                raise GritError(f"{folder} is not a folder")
            paths.append(str(path))
        return Scope(doc_ids, tuple(dict.fromkeys(paths)))

    def all_chats(self) -> list[ChatInfo]:
        return self.chats.all()

    def messages(self, chat_id: int) -> list[Message]:
        return self.chats.messages(chat_id)

    def rename_chat(self, chat_id: int, title: str) -> None:
        self.chats.rename(chat_id, title)

    def delete_chat(self, chat_id: int) -> None:
        self.chats.delete(chat_id)

    def export(self, chat_id: int, path: str | Path | None = None) -> str:
        """Chat ``chat_id`` as Markdown with its sources; written to ``path`` when given."""
        try:
            present: set[str] | None = {d.doc_id for d in self.library.documents()}
        except GritError:  # the library cannot be opened: say nothing of the sources' documents
            present = None
        text = self.chats.export_markdown(chat_id, present)
        if path is not None:
            try:
                Path(path).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise GritError(f"cannot write {path}: {exc.strerror}") from exc
        return text

    # -- settings -------------------------------------------------------------------------------

    def apply_settings(self, new: Settings) -> bool:
        """Save and use ``new``; True when it names another model (then `load_model` it)."""
        old = self.settings
        save_settings(self.home, new)
        self.settings = new
        if self._library is not None:
            self._library.settings = new
        if self._answerer is not None:
            self._answerer.settings = new
            self._answerer.cache.resize(new.kv_cache_mb * 2**20)
        if self.model is not None:
            self.model.compile = new.compile_decoding  # off at once; on once compiled
        return (old.model, old.device, old.quantization) != (new.model, new.device, new.quantization)
