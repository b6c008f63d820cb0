"""The one thread that owns the engine: model, library, chats. The window talks to it by signals.

The GUI never calls the engine. It calls `EngineWorker.submit` (through the signal wiring in
`ui/wiring.py`) with a small command object, which only puts the command on a queue and returns;
the worker thread takes commands in order and answers with signals, which Qt delivers to the GUI
thread (queued connections). Stopping an answer or an ingestion sets an event that the engine
checks between tokens / batches, so it takes effect at once.

A question jumps the ingestion queue: ingestion is a generator stepped one event (one embedding
batch) at a time, and between steps the worker serves any waiting command first.

Other processes (``grit-desktop ingest`` in a terminal) may change the library meanwhile: when
idle, the worker checks the library's version every POLL_S seconds and sends the documents again
when it changed, so the window shows them without a restart.

Threading contract: everything below `_run` executes on the worker thread; `submit`,
`stop_answer`, `stop_ingest` and `shutdown` may be called from any thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from grit_desktop.config import Settings, save_settings
from grit_desktop.engine.chats import Chats
from grit_desktop.engine.conversation import ask
from grit_desktop.engine.events import (
    AnswerStored,
    FileStarted,
    IngestEvent,
    IngestFinished,
    QuestionAsked,
    Retrieved,
    Token,
)
from grit_desktop.engine.files import find_pdfs
from grit_desktop.engine.generation import GenerationParams
from grit_desktop.engine.kvcache import KVCache
from grit_desktop.engine.library import Library
from grit_desktop.engine.model import GritModel, LoadOptions
from grit_desktop.engine.rag import Answerer
from grit_desktop.errors import GritError, ModelNotFoundError
from grit_desktop.ui.commands import (
    ApplySettings,
    Ask,
    Command,
    DeleteChat,
    ExportChat,
    Ingest,
    LoadModel,
    NewChat,
    OpenChat,
    Quit,
    RefreshDocuments,
    RemoveDocument,
    RenameChat,
)

log = logging.getLogger(__name__)

# How often an idle worker looks for changes other processes made to the library.
POLL_S = 2.0


class EngineWorker(QObject):
    """Owns the engine on its own thread; see the module docstring for the contract."""

    # model
    modelLoading = Signal(str)        # what is being loaded
    modelReady = Signal(object)       # ModelInfo
    modelFailed = Signal(str)         # reason, for the user
    modelMissing = Signal(str)        # no model on this machine: offer to pick or download one
    # library
    documentsChanged = Signal(list)   # list[DocumentRecord]
    ingestEvent = Signal(object)      # one IngestEvent
    ingestQueued = Signal(list)       # list[str]: every accepted file not started yet
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
        self.home = home
        self.settings = settings
        self.model: GritModel | None = None
        self.library: Library | None = None
        self.chats: Chats | None = None
        self.answerer: Answerer | None = None
        self.kv_cache = KVCache(settings.kv_cache_mb * 2**20)
        self._commands: queue.Queue[Command] = queue.Queue()
        self._stop_answer = threading.Event()
        self._stop_ingest = threading.Event()
        self._ingest_paths: list[str] = []
        self._waiting: list[str] = []  # accepted files not started yet, for the window
        self._ingesting: Iterator[IngestEvent] | None = None
        self._seen_version: int | None = None
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
        self._stop_ingest.set()

    def shutdown(self, wait_ms: int = 10_000) -> None:
        """Stop what runs, finish the worker thread, close files."""
        self._stop_answer.set()
        self._stop_ingest.set()
        self._commands.put(Quit())
        self._thread.wait(wait_ms)

    @property
    def worker_thread(self) -> QThread:
        return self._thread

    # -- worker thread --------------------------------------------------------------------------

    def _run(self) -> None:
        self._open_storage()
        while True:
            try:
                command = self._commands.get(timeout=POLL_S if self._ingesting is None else 0)
            except queue.Empty:
                if self._ingesting is not None:
                    self._step_ingest()
                else:
                    self._guarded(self._look_for_outside_changes)
                continue
            if isinstance(command, Quit):
                break
            self._guarded(self._handle, command)
        self._close_storage()

    def _guarded(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except GritError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug: log it whole, tell the user in one line
            log.error("engine worker: %s", "".join(traceback.format_exception(exc)))
            self.failed.emit(f"Unexpected error: {exc}. Details are in the log file.")

    def _open_storage(self) -> None:
        try:
            self.chats = Chats(self.home / "chats.sqlite")
            self.chatsChanged.emit(self.chats.all())
        except GritError as exc:
            self.failed.emit(str(exc))
        self._guarded(self._open_library)

    def _open_library(self) -> None:
        self._set_library(Library(self.home, self.settings, self.model))
        self._emit_documents()

    def _set_library(self, library: Library) -> None:
        self.library = library
        library.on_wait = self.notice.emit

    def _emit_documents(self) -> None:
        assert self.library is not None
        self._seen_version = self.library.version()
        self.documentsChanged.emit(self.library.documents())

    def _look_for_outside_changes(self) -> None:
        if self.library is not None and self.library.version() != self._seen_version:
            self._emit_documents()

    def _close_storage(self) -> None:
        if self.library is not None:
            self.library.close()
        if self.chats is not None:
            self.chats.close()

    def _handle(self, command: Command) -> None:
        handlers = {
            LoadModel: self._load_model, Ingest: self._queue_ingest,
            RemoveDocument: self._remove, RefreshDocuments: self._refresh_documents,
            Ask: self._ask, NewChat: self._new_chat, OpenChat: self._open_chat,
            RenameChat: self._rename_chat, DeleteChat: self._delete_chat,
            ExportChat: self._export_chat, ApplySettings: self._apply_settings,
        }
        handlers[type(command)](command)  # type: ignore[operator]

    # model

    def _load_model(self, command: LoadModel) -> None:
        self.modelLoading.emit(command.model)
        try:
            options = LoadOptions(command.model, command.device, command.quantization)
            model = GritModel.load(options, batch_tokens=self.settings.embed_batch_tokens)
        except ModelNotFoundError as exc:
            self.modelMissing.emit(str(exc))
            return
        except GritError as exc:
            self.modelFailed.emit(str(exc))
            return
        if self.library is not None:
            self.library.close()
        self.model = model
        self.kv_cache.clear()
        self._set_library(Library(self.home, self.settings, model))
        assert self.library is not None
        self.answerer = Answerer(model, self.library, self.settings, self.kv_cache)
        self.modelReady.emit(model.info)
        self._emit_documents()
        if self.library.interrupted() or self._ingest_paths:
            self._queue_ingest(Ingest(()))  # finish what an earlier run left half-done

    # library

    def _queue_ingest(self, command: Ingest) -> None:
        self._ingest_paths.extend(command.paths)
        files, _ = find_pdfs(command.paths)  # the folders' PDFs, listed at once as waiting
        self._waiting.extend(str(f) for f in files if str(f) not in self._waiting)
        self.ingestQueued.emit(list(self._waiting))
        if self.library is None or self.model is None:
            return  # started once the model is loaded
        if self._ingesting is None:
            self._start_ingest()

    def _start_ingest(self) -> None:
        assert self.library is not None
        paths, self._ingest_paths = self._ingest_paths, []
        self._stop_ingest.clear()
        self._ingesting = self.library.ingest(paths, self._stop_ingest)

    def _step_ingest(self) -> None:
        assert self._ingesting is not None and self.library is not None
        try:
            event = next(self._ingesting)
        except StopIteration:
            event = None
        except GritError as exc:
            self.failed.emit(str(exc))
            event = None
        if isinstance(event, FileStarted) and event.path in self._waiting:
            self._waiting.remove(event.path)
        if event is not None:
            self.ingestEvent.emit(event)
        if event is None or isinstance(event, IngestFinished):
            self._ingesting = None
            self._emit_documents()
            if self._ingest_paths and not self._stop_ingest.is_set():
                self._start_ingest()
            else:
                self._ingest_paths.clear()
                self._waiting.clear()
                self.ingestQueued.emit([])
        elif getattr(event, "result", None) is not None:  # a file finished: show it in the list
            self._emit_documents()

    def _remove(self, command: RemoveDocument) -> None:
        assert self.library is not None
        self.library.remove(command.doc_id)
        self._emit_documents()

    def _refresh_documents(self, _: RefreshDocuments) -> None:
        if self.library is not None:
            self._emit_documents()

    # chats

    def _chats(self) -> Chats:
        if self.chats is None:
            raise GritError("The chat history could not be opened; see the earlier message.")
        return self.chats

    def _new_chat(self, command: NewChat) -> None:
        chat = self._chats().create(command.title)
        self.chatsChanged.emit(self._chats().all())
        self.chatOpened.emit(chat.id, [])

    def _open_chat(self, command: OpenChat) -> None:
        self.chatOpened.emit(command.chat_id, self._chats().messages(command.chat_id))

    def _rename_chat(self, command: RenameChat) -> None:
        self._chats().rename(command.chat_id, command.title)
        self.chatsChanged.emit(self._chats().all())

    def _delete_chat(self, command: DeleteChat) -> None:
        self._chats().delete(command.chat_id)
        self.chatsChanged.emit(self._chats().all())

    def _export_chat(self, command: ExportChat) -> None:
        text = self._chats().export_markdown(command.chat_id)
        try:
            Path(command.path).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise GritError(f"cannot write {command.path}: {exc.strerror}") from exc
        self.exported.emit(command.path)

    def _ask(self, command: Ask) -> None:
        chats = self._chats()
        if self.answerer is None:
            raise GritError("The model is not loaded yet. Pick or download it first (Settings).")
        self._stop_answer.clear()
        params = GenerationParams(self.settings.max_new_tokens, self.settings.temperature,
                                  self.settings.top_p)
        asked: QuestionAsked | None = None
        stored = False
        try:
            for event in ask(self.answerer, chats, command.question, command.chat_id,
                             params=params, cancel=self._stop_answer):
                if isinstance(event, QuestionAsked):
                    asked = event
                    if event.created:
                        self.chatsChanged.emit(chats.all())
                        self.chatOpened.emit(event.chat_id, [])
                    self.questionAccepted.emit(event.chat_id, event.message)
                elif isinstance(event, Retrieved):
                    self.sourcesReady.emit(asked.chat_id, event.sources)  # type: ignore[union-attr]
                    if event.note:
                        self.answerNote.emit(asked.chat_id, event.note)  # type: ignore[union-attr]
                elif isinstance(event, Token):
                    self.tokenReceived.emit(asked.chat_id, event.text)  # type: ignore[union-attr]
                elif isinstance(event, AnswerStored):
                    stored = True
                    self.answerFinished.emit(event.chat_id, event.message)
        except Exception as exc:
            if asked is not None and not stored:  # the window is told the answer ended
                self._after_failed_answer(asked)
            if isinstance(exc, GritError):
                raise GritError(f"The answer stopped: {exc}") from exc
            raise
        finally:
            self.chatsChanged.emit(chats.all())

    def _after_failed_answer(self, asked: QuestionAsked) -> None:
        """Show the chat as `conversation.ask` left it: without the question when nothing was
        answered (and gone, when it was made for it), else with the partial answer."""
        chats = self._chats()
        known = {c.id for c in chats.all()}
        if asked.chat_id not in known:
            self.chatGone.emit(asked.chat_id)
            return
        messages = chats.messages(asked.chat_id)
        last = messages[-1] if messages else None
        if last is not None and last.role == "assistant" and last.id > asked.message.id:
            self.answerFinished.emit(asked.chat_id, last)
        else:
            self.chatOpened.emit(asked.chat_id, messages)

    # settings

    def _apply_settings(self, command: ApplySettings) -> None:
        old, new = self.settings, command.settings
        save_settings(self.home, new)
        self.settings = new
        self.kv_cache.resize(new.kv_cache_mb * 2**20)
        if self.library is not None:
            self.library.settings = new
        if self.answerer is not None:
            self.answerer.settings = new
        self.settingsApplied.emit(new)
        model_changed = (old.model, old.device, old.quantization) != (new.model, new.device, new.quantization)
        if model_changed:
            self._load_model(LoadModel(new.model, new.device, new.quantization))


class _LoopThread(QThread):
    """A QThread whose body is the worker's command loop (no Qt event loop runs there)."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body

    def run(self) -> None:
        self._body()
