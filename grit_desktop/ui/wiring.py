"""Where the window and the engine worker are connected.

Window requests (its ``...Requested`` signals) become commands for the worker; worker signals go
to the window's ``on_...`` slots. `ui/app.py` connects the rest: the settings and model-setup
dialogs it owns, and the two worker signals that open or follow them (``modelMissing``,
``settingsApplied``). The worker is created only once the engine's heavy modules are
imported (in the background, so the window shows at once): until then a `Dispatcher` holds the
commands and hands them over when the worker arrives.

All of this runs on the GUI thread; the worker's signals reach it queued (Qt delivers signals
of an object living in another thread through the receiver's event loop).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal

from grit_desktop.ui import commands as cmd
from grit_desktop.ui.main_window import MainWindow

if TYPE_CHECKING:
    from grit_desktop.ui.worker import EngineWorker


class Dispatcher(QObject):
    """Forwards commands to the worker, or keeps them until it exists."""

    def __init__(self) -> None:
        super().__init__()
        self.worker: EngineWorker | None = None
        self._waiting: list[cmd.Command] = []

    def submit(self, command: cmd.Command) -> None:
        if self.worker is None:
            self._waiting.append(command)
        else:
            self.worker.submit(command)

    def attach(self, worker: EngineWorker) -> None:
        self.worker = worker
        waiting, self._waiting = self._waiting, []
        for command in waiting:
            worker.submit(command)

    def stop_answer(self) -> None:
        if self.worker is not None:
            self.worker.stop_answer()

    def stop_ingest(self) -> None:
        if self.worker is not None:
            self.worker.stop_ingest()


def connect_window(window: MainWindow, dispatch: Dispatcher) -> None:
    """Window requests -> commands (direct: `submit` only queues, it never blocks)."""
    direct = Qt.ConnectionType.DirectConnection
    window.ingestRequested.connect(lambda paths: dispatch.submit(cmd.Ingest(tuple(paths))), direct)
    window.cancelIngestRequested.connect(dispatch.stop_ingest, direct)
    window.watchRequested.connect(lambda folder: dispatch.submit(cmd.Watch(folder)), direct)
    window.unwatchRequested.connect(lambda folder: dispatch.submit(cmd.Unwatch(folder)), direct)
    window.syncRequested.connect(lambda folder: dispatch.submit(cmd.SyncFolders((folder,))), direct)
    window.removeRequested.connect(lambda doc_id: dispatch.submit(cmd.RemoveDocument(doc_id)), direct)
    window.askRequested.connect(lambda chat, q, scope: dispatch.submit(cmd.Ask(chat, q, scope)), direct)
    window.stopRequested.connect(dispatch.stop_answer, direct)
    window.openChatRequested.connect(lambda chat: dispatch.submit(cmd.OpenChat(chat)), direct)
    window.renameChatRequested.connect(
        lambda chat, title: dispatch.submit(cmd.RenameChat(chat, title)), direct)
    window.deleteChatRequested.connect(lambda chat: dispatch.submit(cmd.DeleteChat(chat)), direct)
    window.exportChatRequested.connect(
        lambda chat, path: dispatch.submit(cmd.ExportChat(chat, path)), direct)


def connect_worker(worker: EngineWorker, window: MainWindow) -> None:
    """Worker signals -> window slots (queued to the GUI thread)."""
    queued = Qt.ConnectionType.QueuedConnection
    pairs: list[tuple[Any, Callable[..., None]]] = [
        (worker.modelLoading, window.on_model_loading),
        (worker.modelReady, window.on_model_ready),
        (worker.modelFailed, window.on_model_failed),
        (worker.decodingPreparing, window.on_decoding_preparing),
        (worker.decodingReady, window.on_decoding_ready),
        (worker.documentsChanged, window.on_documents),
        (worker.ingestEvent, window.on_ingest_event),
        (worker.ingestQueued, window.on_ingest_queued),
        (worker.foldersChanged, window.on_folders),
        (worker.chatsChanged, window.on_chats),
        (worker.chatOpened, window.on_chat_opened),
        (worker.chatGone, window.on_chat_gone),
        (worker.questionAccepted, window.on_question),
        (worker.sourcesReady, window.on_sources),
        (worker.tokenReceived, window.on_token),
        (worker.answerNote, window.on_answer_note),
        (worker.answerFinished, window.on_answer),
        (worker.exported, window.on_exported),
        (worker.notice, window.on_notice),
        (worker.failed, window.on_failed),
    ]
    for signal, slot in pairs:
        signal.connect(slot, queued)


class EngineLoader(QObject):
    """Imports the engine (torch, transformers, LanceDB) on a background thread.

    ``loaded`` is emitted, on the GUI thread, once `grit_desktop.ui.worker` can be imported
    without blocking; ``failed`` with a message if the import itself fails.
    """

    loaded = Signal()
    failed = Signal(str)

    def start(self) -> None:
        threading.Thread(target=self._import, name="engine-import", daemon=True).start()

    def _import(self) -> None:
        try:
            import grit_desktop.ui.worker  # noqa: F401  (torch, transformers, lancedb)
        except Exception as exc:  # a broken installation: say so in the window
            self.failed.emit(f"The engine cannot start: {exc}")
            return
        self.loaded.emit()
