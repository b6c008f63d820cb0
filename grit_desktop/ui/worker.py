"""The one thread that owns the engine session. The window talks to it by signals.

The use cases are the engine's (`engine/session.py`, shared with the CLI); this module only
schedules them on a thread of their own and turns what they return into Qt signals.

The GUI never calls the engine. It calls `EngineWorker.submit` (through the signal wiring in
`ui/wiring.py`) with a small command object, which only puts the command on a queue and returns;
the worker thread takes commands in order and answers with signals, which Qt delivers to the GUI
thread (queued connections). Stopping an answer or an ingestion sets an event that the engine
checks between tokens / batches, so it takes effect at once.

A question jumps the ingestion queue: ingestion is a generator stepped one event (one embedding
batch) at a time, and between steps the worker serves any waiting command first.

Other processes (``grit-desktop ingest`` in a terminal) may change the library meanwhile: when
idle, the worker checks the library's version every POLL_S seconds and sends the documents again
when it changed, so the window shows them without a restart; the same for the list of watched
folders (``grit-desktop watch``).

Watched folders: the session's watcher (a thread of its own) reports a folder that changed; the
worker takes that as a `SyncFolders` command, queued like any other, so the folder is synced
between two steps of whatever runs. Every watched folder is synced once at start.

Threading contract: everything below `_run` executes on the worker thread; `submit`,
`stop_answer`, `stop_ingest` and `shutdown` may be called from any thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, assert_never

from PySide6.QtCore import QObject, QThread, Signal

from grit_desktop.config import Settings
from grit_desktop.engine.answering.events import AnswerFailed, AnswerStored, QuestionAsked, Retrieved, Token
from grit_desktop.engine.grit.model import LoadOptions
from grit_desktop.engine.index.events import FileFinished, IngestFinished
from grit_desktop.engine.session import Session
from grit_desktop.errors import GritError, ModelNotFoundError
from grit_desktop.ui.commands import (
    ApplySettings,
    Ask,
    Command,
    DeleteChat,
    ExportChat,
    Ingest,
    LoadModel,
    OpenChat,
    Quit,
    RemoveDocument,
    RenameChat,
    SyncFolders,
    Unwatch,
    Watch,
)

log = logging.getLogger(__name__)

# How often an idle worker looks for changes other processes made to the library.
POLL_S = 2.0
# During an ingestion, how often the watched folders' states are sent again (each time is a walk
# of the folders: sizes and times of every file).
FOLDERS_EVERY_S = 2.0


class EngineWorker(QObject):
    """Runs the engine session on its own thread; see the module docstring for the contract."""

    # model
    modelLoading = Signal(str)        # what is being loaded
    modelReady = Signal(object)       # ModelInfo
    modelFailed = Signal(str)         # reason, for the user
    modelMissing = Signal(str)        # no model on this machine: offer to pick or download one
    decodingPreparing = Signal()      # the decode step is being compiled (after modelReady)
    decodingReady = Signal(str)       # how answers decode, in words
    # library
    documentsChanged = Signal(list)   # list[DocumentRecord]
    ingestEvent = Signal(object)      # one IngestEvent
    ingestQueued = Signal(list)       # list[str]: every accepted file not started yet
    foldersChanged = Signal(list)     # list[FolderState]: the watched folders
    # chats
    chatsChanged = Signal(list)       # list[ChatInfo]
    chatOpened = Signal(int, list)    # chat id, list[Message]
    chatGone = Signal(int)            # chat id: removed (made for a question that failed)
    questionAccepted = Signal(int, object)   # chat id, the stored user Message
    sourcesReady = Signal(int, list)         # chat id, list[Source]
    tokenReceived = Signal(int, str)         # chat id, text piece
    answerNote = Signal(int, str)            # chat id, why the answer has no sources
    answerFinished = Signal(int, object)     # chat id, the stored assistant Message
    exported = Signal(str)                   # path written
    notice = Signal(str)                     # a passing state, for the status bar
    settingsApplied = Signal(object)         # Settings
    # anything that went wrong, in words for the user
    failed = Signal(str)

    def __init__(self, home: Path, settings: Settings) -> None:
        super().__init__()
        self.session = Session(home, settings)
        self.session.on_wait = self.notice.emit
        self._commands: queue.Queue[Command] = queue.Queue()
        self._stop_answer = threading.Event()
        self._folders_at = 0.0  # when the watched folders' states were last sent
        # the decode step is to be compiled: done once the worker is idle (nothing queued, no
        # ingestion), so that what is queued at start (files, questions) never waits for it
        self._decoding_pending = False
        self._thread = _LoopThread(self._run)
        self._thread.setObjectName("engine-worker")
        self.moveToThread(self._thread)

    # -- any thread -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, command: Command) -> None:
        """Queue a command for the worker; returns at once."""
        self._commands.put(command)

    def stop_answer(self) -> None:
        self._stop_answer.set()

    def stop_ingest(self) -> None:
        self.session.stop_ingest()

    def shutdown(self, wait_ms: int = 10_000) -> None:
        """Stop what runs, finish the worker thread, close files."""
        self._stop_answer.set()
        self.session.stop_ingest()
        self._commands.put(Quit())
        self._thread.wait(wait_ms)

    @property
    def worker_thread(self) -> QThread:
        return self._thread

    # -- worker thread --------------------------------------------------------------------------

    def _run(self) -> None:
        self._guarded(self._emit_chats)
        self._guarded(self._emit_documents)
        self._guarded(self.session.start_watching, lambda folder: self.submit(SyncFolders((folder,))))
        self._guarded(self._emit_folders)
        while True:
            try:
                command = self._commands.get(timeout=0 if self.session.ingesting else POLL_S)
            except queue.Empty:
                if self.session.ingesting:
                    self._step_ingest()
                elif self._decoding_pending:
                    self._guarded(self._prepare_decoding)
                else:
                    self._guarded(self._look_for_outside_changes)
                continue
            if isinstance(command, Quit):
                break
            self._guarded(self._handle, command)
        self.session.close()

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except GritError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug: log it whole, tell the user in one line
            log.error("engine worker: %s", "".join(traceback.format_exception(exc)))
            self.failed.emit(f"Unexpected error: {exc}. Details are in the log file.")

    def _handle(self, command: Command) -> None:
        """Carry out one command; mypy checks that every kind of command is handled."""
        session = self.session
        match command:
            case LoadModel():
                self._load_model(LoadOptions(command.model, command.device, command.quantization,
                                             session.settings.compile_decoding))
            case Ingest():
                session.queue_ingest(command.paths)
                self.ingestQueued.emit(session.waiting)
            case Watch():
                added = session.watch(command.folder)
                session.queue_ingest((), sync=(added.path,))
                self.ingestQueued.emit(session.waiting)
                self._emit_folders()
            case Unwatch():
                session.unwatch(command.folder)
                self._emit_folders()
            case SyncFolders():
                watched = {f.path for f in session.watched()}
                session.queue_ingest((), sync=[f for f in command.folders if f in watched])
                self._emit_folders()
            case RemoveDocument():
                session.remove(command.doc_id)
                self._emit_documents()
                self._emit_folders()
            case Ask():
                self._ask(command)
            case OpenChat():
                self.chatOpened.emit(command.chat_id, session.messages(command.chat_id))
            case RenameChat():
                session.rename_chat(command.chat_id, command.title)
                self._emit_chats()
            case DeleteChat():
                session.delete_chat(command.chat_id)
                self._emit_chats()
            case ExportChat():
                session.export(command.chat_id, command.path)
                self.exported.emit(command.path)
            case ApplySettings():
                compile_before = session.settings.compile_decoding
                model_changed = session.apply_settings(command.settings)
                self.settingsApplied.emit(command.settings)
                s = command.settings
                if model_changed:
                    self._load_model(LoadOptions(s.model, s.device, s.quantization, s.compile_decoding))
                elif session.model is not None and s.compile_decoding != compile_before:
                    self._decoding_changed()  # compilation turned on (or off: said at once)
                elif session.model is not None:  # longer answers may need another capacity
                    self._decoding_pending = session.decoding_owed()
            case Quit():
                pass  # ends the loop in `_run`
            case _:
                assert_never(command)

    def _emit_chats(self) -> None:
        self.chatsChanged.emit(self.session.all_chats())

    def _emit_documents(self) -> None:
        self.documentsChanged.emit(self.session.documents())

    def _emit_folders(self) -> None:
        self._folders_at = time.monotonic()
        self.foldersChanged.emit(self.session.folder_states())

    def _look_for_outside_changes(self) -> None:
        documents = self.session.changed_elsewhere()
        if documents:
            self._emit_documents()
        if self.session.watch_list_changed() or documents:
            self._emit_folders()

    # model

    def _load_model(self, options: LoadOptions) -> None:
        self.modelLoading.emit(options.model)
        try:
            info = self.session.load_model(options)
        except ModelNotFoundError as exc:
            self.modelMissing.emit(str(exc))
            return
        except GritError as exc:
            self.modelFailed.emit(str(exc))
            return
        self.modelReady.emit(info)
        self._decoding_changed()
        self._emit_documents()
        if self.session.needs_ingest():
            self.session.queue_ingest(())  # finish what an earlier run left half-done

    def _decoding_changed(self) -> None:
        """Say how answers decode now; a decode step to compile waits until the worker is idle
        (answers meanwhile decode without it)."""
        model = self.session.model
        assert model is not None
        self._decoding_pending = self.session.decoding_owed()  # not when compiled before
        self.decodingReady.emit(model.decoding)

    def _prepare_decoding(self) -> None:
        """Compile the decode step here, on the worker (seconds or more: commands queued
        meanwhile wait)."""
        self._decoding_pending = False
        model = self.session.model
        if model is None or not self.session.decoding_owed():
            return
        self.decodingPreparing.emit()
        self.session.prepare_decoding()  # a failure is logged and said by `decoding`
        self.decodingReady.emit(model.decoding)

    # library

    def _step_ingest(self) -> None:
        try:
            event = self.session.step_ingest()
        except GritError as exc:
            self.failed.emit(str(exc))
            event = None
        if event is not None:
            self.ingestEvent.emit(event)
        if event is None or isinstance(event, IngestFinished):
            self._guarded(self._emit_documents)
            self._guarded(self._emit_folders)
            if not self.session.ingesting:
                self.ingestQueued.emit([])
        elif isinstance(event, FileFinished):  # a file finished: show it in the list
            self._guarded(self._emit_documents)
            if time.monotonic() - self._folders_at >= FOLDERS_EVERY_S:  # each is a walk of the folders
                self._guarded(self._emit_folders)

    # chats

    def _ask(self, command: Ask) -> None:
        self._stop_answer.clear()
        events = self.session.ask(command.question, command.chat_id, scope=command.scope,
                                  cancel=self._stop_answer)
        chat_id = command.chat_id
        try:
            for event in events:
                match event:
                    case QuestionAsked():
                        chat_id = event.chat_id
                        if event.created:
                            self._emit_chats()
                            self.chatOpened.emit(event.chat_id, [])
                        self.questionAccepted.emit(event.chat_id, event.message)
                    case Retrieved():
                        self.sourcesReady.emit(chat_id, event.sources)
                        if event.note:
                            self.answerNote.emit(chat_id, event.note)
                    case Token():
                        self.tokenReceived.emit(chat_id, event.text)
                    case AnswerStored():
                        self.answerFinished.emit(event.chat_id, event.message)
                    case AnswerFailed():
                        self._after_failed_answer(event)
        except GritError as exc:
            raise GritError(f"The answer stopped: {exc}") from exc
        finally:
            self._guarded(self._emit_chats)

    def _after_failed_answer(self, failed: AnswerFailed) -> None:
        """Show the chat as the failed answer left it: gone (it was made for the question),
        with the partial answer, or as it was before the question."""
        if failed.chat_removed:
            self.chatGone.emit(failed.chat_id)
        elif failed.partial is not None:
            self.answerFinished.emit(failed.chat_id, failed.partial)
        else:
            self.chatOpened.emit(failed.chat_id, self.session.messages(failed.chat_id))


class _LoopThread(QThread):
    """A QThread whose body is the worker's command loop (no Qt event loop runs there)."""

    def __init__(self, body: Callable[[], None]) -> None:
        super().__init__()
        self._body = body

    def run(self) -> None:
        self._body()
