"""The watched folders, as the library panel lists them: each folder with its state (in sync,
N waiting, offline, error). Selecting one shows only its documents; its menu syncs it now, asks
only of it, or stops watching it."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QMenu, QWidget

from grit_desktop.engine.index.watched import FolderState

_PATH = Qt.ItemDataRole.UserRole


def short_path(path: str) -> str:
    """``~/Papers`` for a folder in the home folder, else the path."""
    home = str(Path.home())
    return "~" + path[len(home):] if path == home or path.startswith(home + os.sep) else path


class FolderList(QListWidget):
    """See the module docstring. All methods run on the GUI thread."""

    syncRequested = Signal(str)
    unwatchRequested = Signal(str)
    askRequested = Signal(str)  # ask this chat's questions of this folder only
    folderSelected = Signal(object)  # the folder whose documents to show, None: all

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("watchedFolders")
        self.states: list[FolderState] = []
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.itemSelectionChanged.connect(lambda: self.folderSelected.emit(self.selected()))
        self.hide()

    def set_states(self, states: list[FolderState]) -> None:
        """Show ``states``, keeping the selection; hidden while no folder is watched."""
        chosen = self.selected()
        self.states = list(states)
        self.blockSignals(True)
        self.clear()
        for state in states:
            item = QListWidgetItem(f"{short_path(state.path)} — {state.describe()}")
            item.setData(_PATH, state.path)
            item.setToolTip(f"{state.path}\n{state.describe()}\n{state.documents:,} documents in "
                            "the library. Right-click: sync now, ask only this folder, stop watching.")
            if state.status in ("offline", "error"):
                item.setForeground(QColor("#9a3412" if state.status == "error" else "#6b7280"))
            self.addItem(item)
            if state.path == chosen:
                item.setSelected(True)
        self.blockSignals(False)
        if chosen is not None and self.selected() is None:
            self.folderSelected.emit(None)  # the folder shown is no longer watched
        self.setVisible(bool(states))
        rows = min(max(len(states), 1), 4)
        self.setFixedHeight(rows * self.sizeHintForRow(0) + 2 * self.frameWidth() + 2)

    def selected(self) -> str | None:
        items = self.selectedItems()
        return str(items[0].data(_PATH)) if items else None

    def text_of(self, path: str) -> str:
        """What the row of ``path`` reads ("" when it is not listed)."""
        for i in range(self.count()):
            if self.item(i).data(_PATH) == path:
                return self.item(i).text()
        return ""

    def _menu(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        path = str(item.data(_PATH))
        menu = QMenu(self)
        menu.addAction("Sync now", lambda: self.syncRequested.emit(path))
        menu.addAction("Ask only this folder", lambda: self.askRequested.emit(path))
        menu.addSeparator()
        menu.addAction("Stop watching (its documents stay)", lambda: self.unwatchRequested.emit(path))
        menu.exec(self.viewport().mapToGlobal(pos))
