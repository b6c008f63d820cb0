"""The one thread that owns the engine: model, library, chats. The window talks to it by signals.

The GUI never calls the engine. It calls `EngineWorker.submit` (through the signal wiring in
`ui/wiring.py`) with a small command object, which only puts the command on a queue and returns;
the worker thread takes commands in order and answers with signals, which Qt delivers to the GUI
thread (queued connections). Stopping an answer or an ingestion sets an event that the engine
checks between tokens / batches, so it takes effect at once.

A question jumps the ingestion queue: ingestion is a generator stepped one event (one embedding
batch) at a time, and between steps the worker serves any waiting command first.

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
from grit_desktop.engine.events import Answered, IngestEvent, IngestFinished, Retrieved, Token
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
    ingestQueued = Signal(int)        # files waiting behind the running ingestion
    # chats
    chatsChanged = Signal(list)       # list[ChatInfo]
    chatOpened = Signal(int, list)    # chat id, list[Message]
    questionAccepted = Signal(int, object)   # chat id, the stored user Message
    sourcesReady = Signal(int, list)         # chat id, list[Source]
    tokenReceived = Signal(int, str)         # chat id, text piece
    answerFinished = Signal(int, object)     # chat id, the stored assistant Message
    exported = Signal(str)                   # path written
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
        self._ingesting: Iterator[IngestEvent] | None = None
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
                command = self._commands.get(timeout=None if self._ingesting is None else 0)
            except queue.Empty:
                self._step_ingest()
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
        self.library = Library(self.home, self.settings, self.model)
        self.documentsChanged.emit(self.library.documents())

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
        self.library = Library(self.home, self.settings, model)
        self.answerer = Answerer(model, self.library, self.settings, self.kv_cache)
        self.modelReady.emit(model.info)
        self.documentsChanged.emit(self.library.documents())
        if self.library.interrupted() or self._ingest_paths:
            self._queue_ingest(Ingest(()))  # finish what an earlier run left half-done

    # library

    def _queue_ingest(self, command: Ingest) -> None:
        self._ingest_paths.extend(command.paths)
        if self.library is None or self.model is None:
            self.ingestQueued.emit(len(self._ingest_paths))  # started once the model is loaded
            return
        if self._ingesting is None:
            self._start_ingest()
        else:
            self.ingestQueued.emit(len(self._ingest_paths))

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
        if event is not None:
            self.ingestEvent.emit(event)
        if event is None or isinstance(event, IngestFinished):
            self._ingesting = None
            self.documentsChanged.emit(self.library.documents())
            if self._ingest_paths and not self._stop_ingest.is_set():
                self._start_ingest()
            else:
                self._ingest_paths.clear()
        elif getattr(event, "result", None) is not None:  # a file finished: show it in the list
            self.documentsChanged.emit(self.library.documents())

    def _remove(self, command: RemoveDocument) -> None:
        assert self.library is not None
        self.library.remove(command.doc_id)
        self.documentsChanged.emit(self.library.documents())

    def _refresh_documents(self, _: RefreshDocuments) -> None:
        if self.library is not None:
            self.documentsChanged.emit(self.library.documents())

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
        chat_id = command.chat_id
        if chat_id is None:
            chat_id = chats.create(_title_from(command.question)).id
            self.chatsChanged.emit(chats.all())
            self.chatOpened.emit(chat_id, [])
        history = chats.messages(chat_id)
        if not history and chats.get(chat_id).title == "New chat":
            chats.rename(chat_id, _title_from(command.question))
        asked = chats.add(chat_id, "user", command.question)
        self.questionAccepted.emit(chat_id, asked)
        self._stop_answer.clear()
        params = GenerationParams(self.settings.max_new_tokens, self.settings.temperature,
                                  self.settings.top_p)
        sources: list[Any] = []
        pieces: list[str] = []
        try:
            for event in self.answerer.answer(command.question, history, params=params,
                                              cancel=self._stop_answer):
                if isinstance(event, Retrieved):
                    sources = event.sources
                    self.sourcesReady.emit(chat_id, event.sources)
                elif isinstance(event, Token):
                    pieces.append(event.text)
                    self.tokenReceived.emit(chat_id, event.text)
                elif isinstance(event, Answered):
                    stored = chats.add(chat_id, "assistant", event.text, event.sources,
                                       event.timings, event.finish)
                    self.answerFinished.emit(chat_id, stored)
        except Exception as exc:  # the answer so far is kept, the window is told it ended
            stored = chats.add(chat_id, "assistant", "".join(pieces), sources, finish="error")
            self.answerFinished.emit(chat_id, stored)
            if isinstance(exc, GritError):
                raise GritError(f"The answer stopped: {exc}") from exc
            raise
        finally:
            self.chatsChanged.emit(chats.all())

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


def _title_from(question: str) -> str:
    words = " ".join(question.split())
    return words if len(words) <= 60 else words[:57].rstrip() + "..."
