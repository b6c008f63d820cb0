"""The main window: library and chats on the left, the conversation on the right.

The window only shows things and asks for things: every request leaves as a signal
(``...Requested``), every answer comes back through a slot (``on_...``). `ui/wiring.py`
connects them to the engine worker; the settings and model-setup requests go to `ui/app.py`,
which owns those dialogs. All methods run on the GUI thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from grit_desktop.engine.chats import ChatInfo, Message
from grit_desktop.engine.documents import formats
from grit_desktop.engine.index.events import (
    ChunksEmbedded,
    FileFinished,
    FileParsed,
    FileStarted,
    IngestEvent,
    IngestFinished,
    IngestStarted,
    describe_progress,
)
from grit_desktop.engine.index.files import find_documents
from grit_desktop.engine.index.records import DocumentRecord, Scope, Source
from grit_desktop.engine.index.watched import FolderState
from grit_desktop.ui.chat_view import ChatView, Composer, MessageWidget
from grit_desktop.ui.folders import FolderList, short_path
from grit_desktop.ui.models import ChatsModel, DocumentsModel, Role


class MainWindow(QMainWindow):
    # requests, to the worker (see wiring.py)
    ingestRequested = Signal(list)           # paths
    cancelIngestRequested = Signal()
    watchRequested = Signal(str)             # folder: watch it (and sync it now)
    unwatchRequested = Signal(str)           # folder: stop watching (its documents stay)
    syncRequested = Signal(str)              # watched folder: sync it now
    watchChoiceRemembered = Signal(str)      # "always" or "never": the watch_folders setting
    removeRequested = Signal(str)            # doc id
    askRequested = Signal(object, str, object)  # chat id or None, question, Scope
    stopRequested = Signal()
    openChatRequested = Signal(int)
    renameChatRequested = Signal(int, str)
    deleteChatRequested = Signal(int)
    exportChatRequested = Signal(int, str)   # chat id, file path
    settingsRequested = Signal()             # open the settings dialog (app.py owns it)
    modelSetupRequested = Signal()

    _banner_key: str | None = None
    _echoed: str | None = None  # a question shown before the engine took it
    _ingest_files: tuple[int, int] = (0, 0)  # files finished, files in this ingestion
    #: A folder added or dropped: "ask" whether to watch it, "always", "never" (the setting).
    watch_choice = "ask"
    #: Where the viewer keeps its PDF copies of other formats (None: the default data folder's).
    viewer_cache: Path | None = None

    def __init__(self) -> None:
        super().__init__()
        self.chat_id: int | None = None
        self.scope = Scope()  # what the next question is asked of: the open chat's scope
        self.answering = False
        self.model_ready = False
        self.decoding = ""  # how answers decode, once the model is ready
        self.documents = DocumentsModel()
        self.chats = ChatsModel()
        self.setWindowTitle("grit-desktop")
        self.resize(1200, 780)
        self.setAcceptDrops(True)
        self._build()
        self._menus()
        self._set_busy(False)

    # -- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._sidebar())
        split.addWidget(self._conversation())
        split.setStretchFactor(1, 1)
        split.setSizes([340, 860])
        self.setCentralWidget(split)
        self.viewer_dock = QDockWidget("Document", self)
        self.viewer_dock.setObjectName("viewerDock")
        self.viewer_dock.setAllowedAreas(Qt.DockWidgetArea.RightDockWidgetArea
                                         | Qt.DockWidgetArea.LeftDockWidgetArea)
        self.viewer: Any = None  # the PDF viewer, created when a citation is first opened
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.viewer_dock)
        self.viewer_dock.hide()
        self.model_label = QLabel("No model loaded")
        self.model_label.setObjectName("modelStatus")
        self.statusBar().addPermanentWidget(self.model_label)

    def _sidebar(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(8, 8, 4, 8)
        chats_head = QHBoxLayout()
        chats_head.addWidget(_heading("Chats"))
        chats_head.addStretch(1)
        new = QPushButton("New chat")
        new.setToolTip("Start a new chat (Ctrl+N)")
        new.clicked.connect(self.new_chat)
        chats_head.addWidget(new)
        layout.addLayout(chats_head)
        self.chat_list = QListView()
        self.chat_list.setModel(self.chats)
        self.chat_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.chat_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.chat_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.chat_list.clicked.connect(self._chat_clicked)
        self.chat_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.chat_list.customContextMenuRequested.connect(self._chat_menu)
        layout.addWidget(self.chat_list, 2)
        lib_head = QHBoxLayout()
        lib_head.addWidget(_heading("Library"))
        lib_head.addStretch(1)
        self.add_button = QToolButton()
        self.add_button.setText("Add…")
        self.add_button.setToolTip("Add documents (PDF, EPUB, Word, Markdown, …) or a folder (Ctrl+O); "
                                   "or drop them on the window")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        add_menu = QMenu(self.add_button)
        add_menu.addAction("Files…", self.add_files)
        add_menu.addAction("Folder…", self.add_folder)
        self.add_button.setMenu(add_menu)
        lib_head.addWidget(self.add_button)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected documents from the library (the files stay)")
        self.remove_button.clicked.connect(self.remove_selected)
        lib_head.addWidget(self.remove_button)
        layout.addLayout(lib_head)
        self.folder_list = FolderList()
        self.folder_list.syncRequested.connect(self.syncRequested)
        self.folder_list.unwatchRequested.connect(self.unwatch)
        self.folder_list.askRequested.connect(lambda folder: self.set_scope(Scope(folders=(folder,))))
        self.folder_list.folderSelected.connect(lambda _folder: self._filter_documents())
        layout.addWidget(self.folder_list)
        self.doc_table = QTableView()
        self.doc_table.setModel(self.documents)
        self.doc_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.doc_table.verticalHeader().hide()
        self.doc_table.setShowGrid(False)
        self.doc_table.setWordWrap(False)
        header = self.doc_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.doc_table.doubleClicked.connect(self._doc_double_clicked)
        self.documents.modelReset.connect(self._filter_documents)
        self.documents.rowsInserted.connect(self._filter_documents)
        layout.addWidget(self.doc_table, 3)
        progress_row = QHBoxLayout()
        self.ingest_label = QLabel("")
        self.ingest_label.setObjectName("ingestStatus")
        progress_row.addWidget(self.ingest_label, 1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop adding documents (what is done stays; the rest resumes later)")
        self.cancel_button.clicked.connect(self.cancelIngestRequested)
        self.cancel_button.hide()
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        self.ingest_bar = QProgressBar()
        self.ingest_bar.hide()
        layout.addWidget(self.ingest_bar)
        return box

    def _conversation(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 8, 8, 8)
        self.message_bar = QFrame()
        self.message_bar.setObjectName("messageBar")
        self.message_bar.setFrameShape(QFrame.Shape.StyledPanel)
        bar = QHBoxLayout(self.message_bar)
        bar.setContentsMargins(8, 4, 4, 4)
        self.message_text = QLabel("")
        self.message_text.setTextFormat(Qt.TextFormat.PlainText)
        self.message_text.setWordWrap(True)
        bar.addWidget(self.message_text, 1)
        close = QPushButton("Dismiss")
        close.setFlat(True)
        close.clicked.connect(self.message_bar.hide)
        bar.addWidget(close)
        self.message_bar.hide()
        layout.addWidget(self.message_bar)
        self.chat_view = ChatView()
        self.chat_view.citationClicked.connect(self.open_source)
        layout.addWidget(self.chat_view, 1)
        scope_row = QHBoxLayout()
        self.scope_label = QLabel()
        self.scope_label.setObjectName("scopeLabel")
        self.scope_label.setTextFormat(Qt.TextFormat.PlainText)
        scope_row.addWidget(self.scope_label, 1)
        self.scope_button = QPushButton("Ask only the selected documents")
        self.scope_button.setToolTip("This chat's questions go to the documents selected in the "
                                     "library (select rows there first)")
        self.scope_button.clicked.connect(self.scope_to_selection)
        scope_row.addWidget(self.scope_button)
        self.scope_clear = QPushButton("Whole library")
        self.scope_clear.setToolTip("This chat's questions go to every document again")
        self.scope_clear.clicked.connect(lambda: self.set_scope(Scope()))
        scope_row.addWidget(self.scope_clear)
        layout.addLayout(scope_row)
        self.set_scope(Scope())
        row = QHBoxLayout()
        self.composer = Composer()
        self.composer.submitted.connect(self.ask)
        self.composer.stopRequested.connect(self.stop)
        row.addWidget(self.composer, 1)
        buttons = QVBoxLayout()
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self._send_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row.addLayout(buttons)
        layout.addLayout(row)
        return box

    def _menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        self._action(file, "&Add files…", self.add_files, QKeySequence.StandardKey.Open)
        self._action(file, "Add &folder…", self.add_folder)
        file.addSeparator()
        self._action(file, "&Export chat…", self.export_chat, "Ctrl+E")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        chat = self.menuBar().addMenu("&Chat")
        self._action(chat, "&New chat", self.new_chat, QKeySequence.StandardKey.New)
        self._action(chat, "&Rename…", self.rename_chat, "F2")
        self._action(chat, "&Delete", self.delete_chat)
        self._action(chat, "&Stop answer", self.stop)
        settings = self.menuBar().addMenu("&Settings")
        self._action(settings, "&Preferences…", self.settingsRequested.emit, "Ctrl+,")
        self._action(settings, "&Model…", self.modelSetupRequested.emit)
        help_ = self.menuBar().addMenu("&Help")
        self._action(help_, "&About grit-desktop", self._about)

    def _action(self, menu: QMenu, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        self.addAction(action)
        return action

    # -- user actions (emit requests) --------------------------------------------------------------

    def add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add documents", str(Path.home()),
                                                formats.dialog_filter())
        if files:
            self.ingest(files)

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of documents", str(Path.home()))
        if folder:
            self.ingest([folder])

    def ingest(self, paths: list[str]) -> None:
        """Add dropped or chosen files and folders; a folder may be watched (`watch_choice`)."""
        folders = [p for p in paths if Path(p).is_dir()]
        if folders and self._want_watch(folders):
            self._list_waiting(folders)
            for folder in folders:
                self.watchRequested.emit(folder)
            paths = [p for p in paths if p not in folders]
            if not paths:
                return
        self._list_waiting(paths)
        self.ingestRequested.emit(paths)

    def unwatch(self, folder: str) -> None:
        answer = QMessageBox.question(
            self, "Stop watching", f"Stop watching {short_path(folder)}?\n\nIts documents stay in the "
            "library; new, changed and deleted files there are no longer followed.")
        if answer == QMessageBox.StandardButton.Yes:
            self.unwatchRequested.emit(folder)

    def watch_question(self, folders: list[str]) -> QMessageBox:
        """The question `ingest` asks before adding ``folders`` (``watch_choice`` "ask")."""
        names = ", ".join(short_path(f) for f in folders[:3]) + (" …" if len(folders) > 3 else "")
        box = QMessageBox(QMessageBox.Icon.Question, "Watch the folder?",
                          f"Keep the library in step with {names}?", parent=self)
        box.setInformativeText("Watched: files added, changed, moved or deleted there later are "
                               "followed while the app runs (and caught up at start). Added once: "
                               "only the files there now are added.")
        box.addButton("Watch", QMessageBox.ButtonRole.YesRole)
        box.addButton("Add once", QMessageBox.ButtonRole.NoRole)
        # Parented: PySide6 does not hand a parentless check box to the message box, and would
        # delete it with its Python wrapper.
        box.setCheckBox(QCheckBox("Remember my choice (Settings › Watch added folders)", box))
        return box

    def _want_watch(self, folders: list[str]) -> bool:
        if self.watch_choice in ("always", "never"):
            return self.watch_choice == "always"
        box = self.watch_question(folders)
        box.exec()
        watch = box.buttonRole(box.clickedButton()) == QMessageBox.ButtonRole.YesRole
        check = box.checkBox()
        if check is not None and check.isChecked():
            self.watch_choice = "always" if watch else "never"
            self.watchChoiceRemembered.emit(self.watch_choice)
        return watch

    def _list_waiting(self, paths: list[str]) -> None:
        files, _ = find_documents(paths)  # listed at once, even before the engine has started
        waiting = [r.path for r in self.documents.rows() if r.status == "waiting"]
        self.documents.set_waiting([*waiting, *(str(f) for f in files if str(f) not in waiting)])
        if not self.model_ready:
            self.show_message("The model is still loading: the documents will be added once it is ready.",
                              key="model-loading")

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.doc_table.selectionModel().selectedRows()})
        docs = [self.documents.row(r) for r in rows if self.documents.row(r).doc_id]
        if not docs:
            return
        names = "\n".join(d.title for d in docs[:10])
        answer = QMessageBox.question(self, "Remove documents",
                                      f"Remove from the library?\n\n{names}\n\nThe files themselves stay.")
        if answer == QMessageBox.StandardButton.Yes:
            for d in docs:
                self.removeRequested.emit(d.doc_id)

    def ask(self, question: str) -> None:
        if self.answering:
            self.show_message("An answer is still being written: stop it (Esc) or wait.")
            self.composer.setPlainText(question)
            return
        self.answering = True
        self._set_busy(True)
        # The question shows at once; the engine may first finish the step it is on (one
        # embedding batch of an ingestion).
        self._echoed = question
        self.chat_view.add(MessageWidget("user", question))
        live = self.chat_view.start_answer()
        if self.ingest_bar.isVisible():
            live.show_note("Waiting for the current indexing step to finish…")
        self.askRequested.emit(self.chat_id, question, self.scope)

    def _send_clicked(self) -> None:
        text = self.composer.toPlainText().strip()
        if text:
            self.composer.clear()
            self.ask(text)

    def stop(self) -> None:
        if self.answering:
            self.stopRequested.emit()

    def scope_to_selection(self) -> None:
        """Ask this chat's next questions of the documents selected in the library (or, none
        selected, of the watched folder selected)."""
        rows = sorted({i.row() for i in self.doc_table.selectionModel().selectedRows()
                       if not self.doc_table.isRowHidden(i.row())})
        ids = tuple(d.doc_id for d in (self.documents.row(r) for r in rows) if d.doc_id)
        folder = self.folder_list.selected()
        if not ids and folder is not None:
            self.set_scope(Scope(folders=(folder,)))
            return
        if not ids:
            self.show_message("Select the documents to ask in the library first (Ctrl+click for "
                              "several), then choose \"Ask only the selected documents\".")
            return
        self.set_scope(Scope(ids))

    def set_scope(self, scope: Scope) -> None:
        """Show ``scope`` as what the next question is asked of."""
        self.scope = scope
        self.scope_clear.setVisible(bool(scope))
        if not scope:
            self.scope_label.setText("Asks the whole library")
            self.scope_label.setToolTip("")
            return
        titles = {r.doc_id: r.title for r in self.documents.rows() if r.doc_id}
        names = [titles.get(d, "a document no longer in the library") for d in scope.doc_ids]
        shown = names[:3] + ([f"{len(names) - 3} more"] if len(names) > 3 else [])
        folders = Scope(folders=scope.folders).describe() if scope.folders else ""
        self.scope_label.setText("Asks only: " + "; ".join([*shown, *([folders] if folders else [])]))
        self.scope_label.setToolTip("\n".join([*names, *scope.folders]))

    def new_chat(self) -> None:
        self.chat_id = None
        self.set_scope(Scope())
        self.chat_view.clear()
        self.chat_list.clearSelection()
        self.composer.setFocus()

    def rename_chat(self) -> None:
        if self.chat_id is None:
            return
        row = self.chats.row_of(self.chat_id)
        old = self.chats.chat(row).title if row is not None else ""
        title, ok = QInputDialog.getText(self, "Rename chat", "Title:", text=old)
        if ok and title.strip():
            self.renameChatRequested.emit(self.chat_id, title.strip())

    def delete_chat(self) -> None:
        if self.chat_id is None:
            return
        answer = QMessageBox.question(self, "Delete chat", "Delete this chat and its messages?")
        if answer == QMessageBox.StandardButton.Yes:
            self.deleteChatRequested.emit(self.chat_id)
            self.new_chat()

    def export_chat(self) -> None:
        if self.chat_id is None:
            self.show_message("Open a chat first, then export it.")
            return
        row = self.chats.row_of(self.chat_id)
        name = (self.chats.chat(row).title if row is not None else "chat").replace("/", "-")[:60]
        path, _ = QFileDialog.getSaveFileName(self, "Export chat", str(Path.home() / f"{name}.md"),
                                              "Markdown (*.md)")
        if path:
            self.exportChatRequested.emit(self.chat_id, path)

    def open_source(self, source: Source) -> None:
        """Show the cited page in the in-app viewer, the passage highlighted."""
        known = {r.doc_id for r in self.documents.rows() if r.doc_id}
        if source.doc_id and known and source.doc_id not in known:
            self.show_message(f"{source.title} is no longer in the library (its file was deleted or "
                              "removed): the answer keeps its text, but the page cannot be shown.")
            return
        if self.viewer is None:
            from grit_desktop.ui.pdf_viewer import PdfViewer

            self.viewer = PdfViewer(cache_dir=self.viewer_cache)
            self.viewer_dock.setWidget(self.viewer)
        self.viewer_dock.setWindowTitle(f"{source.title}, {source.location}")
        if not self.viewer_dock.isVisible():
            self.viewer_dock.show()
            self.resizeDocks([self.viewer_dock], [int(self.width() * 0.42)], Qt.Orientation.Horizontal)
        self.viewer.show_passage(source.path, source.page_start, source.text, source.title,
                                 last_page=source.page_end)

    def _chat_clicked(self, index: QModelIndex) -> None:
        chat_id = index.data(Role.CHAT_ID)
        if chat_id is not None and chat_id != self.chat_id and not self.answering:
            self.openChatRequested.emit(int(chat_id))

    def _chat_menu(self, pos: QPoint) -> None:
        index = self.chat_list.indexAt(pos)
        if not index.isValid():
            return
        self._chat_clicked(index)
        menu = QMenu(self)
        menu.addAction("Rename…", self.rename_chat)
        menu.addAction("Export…", self.export_chat)
        menu.addAction("Delete", self.delete_chat)
        menu.exec(self.chat_list.viewport().mapToGlobal(pos))

    def _doc_double_clicked(self, index: QModelIndex) -> None:
        row = self.documents.row(index.row())
        if row.status == "error":
            self.show_message(row.error)
        elif row.doc_id:
            self.open_source(Source(n=0, chunk_id="", doc_id=row.doc_id, title=row.title,
                                    path=row.path, score=0.0, text="", page_start=1, page_end=1,
                                    char_start=0, char_end=0))

    def _about(self) -> None:
        QMessageBox.about(self, "About grit-desktop",
                          "grit-desktop: chat with your documents, offline.\n\nOne local GRIT model "
                          "(GritLM-7B) embeds your documents and writes the answers.\n\n"
                          "Licence: AGPL-3.0-or-later.")

    # -- drag and drop -------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _local_paths(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _local_paths(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.ingest(paths)

    # -- worker answers (slots) ----------------------------------------------------------------------

    def on_model_loading(self, name: str) -> None:
        self.model_ready = False
        self.model_label.setText(f"Loading {name}…")
        self.statusBar().showMessage(f"Loading the model {name}; you can add documents meanwhile.")

    def on_model_ready(self, info: Any) -> None:
        self.model_ready = True
        memory = info.memory_bytes / 2**30
        where = "GPU" if info.device == "cuda" else "RAM"
        self.model_label.setText(f"{Path(info.name).name} · {info.device} · {info.quantization}"
                                 f"/{info.dtype} · {memory:.1f} GiB {where}")
        self.model_label.setToolTip("\n".join([info.path, *info.notes]))
        self.statusBar().showMessage("Model ready.", 5000)
        if self._banner_key == "model-loading":  # no longer true
            self.message_bar.hide()
            self._banner_key = None
        for note in info.notes:
            self.show_message(note)

    def on_decoding_preparing(self) -> None:
        self.statusBar().showMessage(
            "Preparing faster answers: compiling the decode step (once per start; questions wait)…")

    def on_decoding_ready(self, decoding: str) -> None:
        """How answers decode, e.g. "static cache, compiled decode step with CUDA graphs"."""
        self.decoding = decoding
        tip = self.model_label.toolTip().split("\nAnswers: ")[0]
        self.model_label.setToolTip(f"{tip}\nAnswers: {decoding}")
        self.statusBar().showMessage(f"Model ready. Answers: {decoding}.", 8000)

    def on_model_failed(self, reason: str) -> None:
        self.model_ready = False
        self.model_label.setText("No model")
        self.show_message(f"The model could not be loaded: {reason}")

    def on_documents(self, docs: list[DocumentRecord]) -> None:
        self.documents.set_documents(docs)
        self.chat_view.set_library({d.doc_id for d in docs})

    def on_folders(self, states: list[FolderState]) -> None:
        self.folder_list.set_states(states)

    def _filter_documents(self) -> None:
        """Only the selected watched folder's documents, or all."""
        folder = self.folder_list.selected()
        inside = os.path.join(folder, "") if folder else ""
        for i, row in enumerate(self.documents.rows()):
            self.doc_table.setRowHidden(i, bool(inside) and not row.path.startswith(inside))

    def on_ingest_queued(self, paths: list[str]) -> None:
        """Every accepted file is listed at once, as waiting, until its turn."""
        self.documents.set_waiting(paths)

    def on_ingest_event(self, event: IngestEvent) -> None:
        self.documents.apply_ingest_event(event)
        if isinstance(event, IngestStarted) and event.files == 0:
            return  # a pass with nothing to do (a watched folder in step): nothing to show
        if isinstance(event, IngestStarted):
            self.ingest_bar.setRange(0, 0)  # busy until the first passages give a total
            self.ingest_bar.setValue(0)
            self.ingest_bar.show()
            self.cancel_button.show()
            self.ingest_label.setText(f"Adding {event.files} file{'s' if event.files != 1 else ''}…")
        elif isinstance(event, FileStarted):
            self._ingest_files = (event.index, event.files)
            self.ingest_label.setText(f"Reading {Path(event.path).name} ({event.index + 1}/{event.files})")
        elif isinstance(event, FileParsed):
            self.ingest_label.setText(f"Indexing {Path(event.path).name}: "
                                      f"{event.written:,}/{event.chunks:,} passages")
        elif isinstance(event, ChunksEmbedded):
            name = Path(event.path).name
            text = f"Indexing {name}: {event.done:,}/{event.total:,} passages"
            if event.queue is not None:  # the bar is the whole queue, in passages
                self.ingest_bar.setRange(0, max(event.queue.total, 1))
                self.ingest_bar.setValue(event.queue.done)
                finished, files = self._ingest_files
                text += f"\nAll files: {describe_progress(event.queue, finished, files)}"
            self.ingest_label.setText(text)
        elif isinstance(event, FileFinished):
            self._ingest_files = (event.index + 1, event.files)
        elif isinstance(event, IngestFinished):
            self.ingest_bar.hide()
            self.cancel_button.hide()
            ok = sum(r.status == "ok" for r in event.results)
            removed = sum(r.status == "removed" for r in event.results)
            failed = len(event.failed)
            moved = sum(r.reason.startswith("moved from") for r in event.results)
            if not (ok or removed or failed or moved or event.cancelled or event.notice):
                if event.results:  # every file was in the library already
                    n = len(event.results)
                    self.ingest_label.setText(f"Done: nothing new ({n} file{'s' if n != 1 else ''} "
                                              "already in the library)")
                return  # a pass with nothing to do: the last summary still holds
            word = "Stopped" if event.cancelled else "Done"
            failures = f", {failed} could not be read" if failed else ""
            gone = f", {removed} removed (deleted from disk)" if removed else ""
            follows = f", {moved} moved (kept)" if moved else ""
            self.ingest_label.setText(f"{word}: {ok} added{follows}{gone}{failures}")
            if event.notice:
                self.show_message(event.notice)

    def on_chats(self, chats: list[ChatInfo]) -> None:
        self.chats.set_chats(chats)
        self._select_chat()

    def on_chat_opened(self, chat_id: int, messages: list[Message]) -> None:
        if chat_id != self.chat_id:  # another chat: its own scope
            row = self.chats.row_of(chat_id)
            self.set_scope(self.chats.chat(row).scope if row is not None else Scope())
        self.chat_id = chat_id
        if not (self._echoed is not None and not messages):  # a chat made for the question shown
            self.chat_view.set_messages(messages)
        self._select_chat()

    def on_chat_gone(self, chat_id: int) -> None:
        if self.chat_id == chat_id:
            self.chat_id = None
            self.chat_view.set_messages([])

    def on_question(self, chat_id: int, message: Message) -> None:
        if self.chat_id is None or self.chat_id == chat_id:
            self.chat_id = chat_id
            if self._echoed is None:  # asked elsewhere than this window's composer
                self.chat_view.add(MessageWidget("user", message.text))
                self.chat_view.start_answer()
            elif self.chat_view.live is not None:
                self.chat_view.live.show_note("")
        self._echoed = None

    def on_sources(self, chat_id: int, sources: list[Source]) -> None:
        if chat_id == self.chat_id and self.chat_view.live is not None:
            self.chat_view.live.show_sources(sources)

    def on_answer_note(self, chat_id: int, note: str) -> None:
        if chat_id == self.chat_id and self.chat_view.live is not None:
            self.chat_view.live.show_note(note)

    def on_token(self, chat_id: int, piece: str) -> None:
        if chat_id == self.chat_id and self.chat_view.live is not None:
            self.chat_view.live.append(piece)

    def on_answer(self, chat_id: int, message: Message) -> None:
        if chat_id == self.chat_id:
            self.chat_view.end_answer(message)
        self.answering = False
        self._set_busy(False)

    def on_notice(self, text: str) -> None:
        self.statusBar().showMessage(text, 10_000)

    def on_exported(self, path: str) -> None:
        self.statusBar().showMessage(f"Chat exported to {path}", 8000)

    def on_failed(self, message: str) -> None:
        if self.answering and self._echoed is not None:  # refused before it was stored
            self.chat_view.drop_last(2)
            self.composer.setPlainText(self._echoed)
            self._echoed = None
            self.answering = False
            self._set_busy(False)
        elif self.answering and self.chat_view.live is None:
            self.answering = False  # the question never started
            self._set_busy(False)
        self.show_message(message)

    # -- helpers ----------------------------------------------------------------------------------------

    def show_message(self, text: str, key: str | None = None) -> None:
        """Show ``text`` in the banner; a ``key`` lets the window take it back once it is no
        longer true (the model-loading notice, once the model is ready)."""
        self.message_text.setText(text)
        self._banner_key = key
        self.message_bar.show()

    def _set_busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)

    def _select_chat(self) -> None:
        row = self.chats.row_of(self.chat_id) if self.chat_id is not None else None
        if row is not None:
            self.chat_list.setCurrentIndex(self.chats.index(row))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stopRequested.emit()
        self.cancelIngestRequested.emit()
        super().closeEvent(event)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("heading")
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _local_paths(urls: list[Any]) -> list[str]:
    return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile()]
