"""Watched folders in the window, with the real engine and real file operations while it runs:
the question on drop (and the remembered choice), the folder's state in the library panel, new,
renamed and deleted files followed within seconds, a deleted document's citation, asking only a
folder, and an unplugged folder shown offline."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from grit_desktop.config import Settings, load_settings, save_settings
from grit_desktop.engine.index.events import FileFinished
from grit_desktop.engine.index.records import Scope
from grit_desktop.ui.app import App
from tests import pdfs
from tests.ui.test_main_window import WAIT, drop, start_app

FILLER = "This page talks about the warranty of the product, at some length, to fill it."


@pytest.fixture
def home(tmp_path: Path, mistral_model_dir: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    save_settings(folder, Settings(model=str(mistral_model_dir), chunk_tokens=64, chunk_overlap_tokens=8,
                                   max_new_tokens=8, top_k=2))
    return folder


def make(path: Path, word: str) -> Path:
    pdfs.make_pdf(path, [f"{word} page {n}. {FILLER}" for n in range(1, 3)], title=word)
    t = time.time() - 60  # copied a while ago: settled
    os.utime(path, (t, t))
    return path


def answer_watch_question(qtbot: Any, remember: bool) -> list[str]:
    """Click "Watch" (ticking "Remember") in the question the drop will ask; returns its text."""
    seen: list[str] = []

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        check = box.checkBox()
        assert check is not None
        check.setChecked(remember)
        [watch] = [b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.YesRole]
        watch.click()

    QTimer.singleShot(20, click)
    return seen


def source_buttons(message: Any) -> list[Any]:
    from PySide6.QtWidgets import QPushButton

    return [b for b in message.findChildren(QPushButton) if b.objectName() == "sourceButton"]


def names(app: App) -> dict[str, str]:
    return {Path(r.path).name: r.status for r in app.window.documents.rows()}


def test_a_watched_folder_follows_the_disk(qtbot: Any, home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "papers"
    docs.mkdir()
    make(docs / "alpha.pdf", "Alpha")
    make(docs / "beta.pdf", "Beta")
    app = start_app(qtbot, home)
    window = app.window
    try:
        asked = answer_watch_question(qtbot, remember=True)
        drop(window, [docs])
        assert asked and "Keep the library in step with" in asked[0]
        qtbot.waitUntil(lambda: names(app) == {"alpha.pdf": "ready", "beta.pdf": "ready"}, timeout=WAIT)
        folder = str(docs.resolve())
        qtbot.waitUntil(lambda: window.folder_list.text_of(folder).endswith("in sync · 2 files"),
                        timeout=WAIT)
        assert window.folder_list.isVisible()
        qtbot.waitUntil(lambda: load_settings(home).watch_folders == "always", timeout=WAIT)
        assert window.watch_choice == "always"

        beta = next(r.doc_id for r in window.documents.rows() if r.path.endswith("beta.pdf"))
        window.set_scope(Scope((beta,)))
        window.ask("warranty of Beta")  # a chat that cites beta.pdf
        qtbot.waitUntil(lambda: not window.answering, timeout=WAIT)
        cited = [s for s in window.chat_view.messages[-1].sources if s.doc_id == beta]
        assert cited

        # while the app runs: a new file, a rename, a deletion
        make(docs / "gamma.pdf", "Gamma")
        qtbot.waitUntil(lambda: names(app).get("gamma.pdf") == "ready", timeout=WAIT)
        alpha_id = next(r.doc_id for r in window.documents.rows() if r.path.endswith("alpha.pdf"))
        os.rename(docs / "alpha.pdf", docs / "alpha renamed.pdf")
        qtbot.waitUntil(lambda: "alpha renamed.pdf" in names(app) and "alpha.pdf" not in names(app),
                        timeout=WAIT)
        assert next(r.doc_id for r in window.documents.rows() if r.path.endswith("renamed.pdf")) == alpha_id
        (docs / "beta.pdf").unlink()
        qtbot.waitUntil(lambda: "beta.pdf" not in names(app), timeout=WAIT)
        qtbot.waitUntil(lambda: window.folder_list.text_of(folder).endswith("in sync · 2 files"),
                        timeout=WAIT)

        # the chat keeps its text; the source says it is gone instead of opening nothing
        answer = next(m for m in window.chat_view.messages if cited[0] in m.sources)
        qtbot.waitUntil(lambda: any("no longer in the library" in b.text() for b in source_buttons(answer)),
                        timeout=WAIT)
        marked = [b.text() for b in source_buttons(answer) if "no longer in the library" in b.text()]
        assert len(marked) == len(cited)
        exported = tmp_path / "chat.md"
        window.exportChatRequested.emit(window.chat_id, str(exported))
        qtbot.waitUntil(exported.exists, timeout=WAIT)
        assert "— no longer in the library" in exported.read_text(encoding="utf-8")
        window.open_source(cited[0])
        assert "no longer in the library" in window.message_text.text()
        assert window.viewer is None or not window.viewer_dock.isVisible()

        # the folder selected: its documents only, and a question asked of it
        outside = tmp_path / "elsewhere.pdf"
        make(outside, "Delta")
        window.watch_choice = "never"
        window.ingest([str(outside)])
        qtbot.waitUntil(lambda: names(app).get("elsewhere.pdf") == "ready", timeout=WAIT)
        window.folder_list.item(0).setSelected(True)
        shown = {Path(r.path).name for i, r in enumerate(window.documents.rows())
                 if not window.doc_table.isRowHidden(i)}
        assert shown == {"alpha renamed.pdf", "gamma.pdf"}
        window.set_scope(Scope())
        window.scope_button.click()
        assert window.scope.folders == (folder,) and folder in window.scope_label.text()
        window.ask("warranty")
        qtbot.waitUntil(lambda: not window.answering, timeout=WAIT)
        sources = window.chat_view.messages[-1].sources
        assert sources and all(s.path.startswith(folder) for s in sources)

        # unplugged: offline, nothing removed; plugged back: in sync again
        os.rename(docs, tmp_path / "unplugged")
        qtbot.waitUntil(lambda: "offline" in window.folder_list.text_of(folder), timeout=WAIT)
        assert {"alpha renamed.pdf", "gamma.pdf"} <= set(names(app))
        os.rename(tmp_path / "unplugged", docs)
        qtbot.waitUntil(lambda: window.folder_list.text_of(folder).endswith("in sync · 2 files"),
                        timeout=WAIT)
    finally:
        app.shutdown()


def test_a_file_copied_in_is_indexed_once_complete(qtbot: Any, home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "inbox"
    docs.mkdir()
    save_settings(home, load_settings(home).replace(watch_folders="always"))
    app = start_app(qtbot, home)
    try:
        app.window.ingest([str(docs)])
        folder = str(docs.resolve())
        qtbot.waitUntil(lambda: app.window.folder_list.text_of(folder).endswith("in sync · 0 files"),
                        timeout=WAIT)
        ended: list[tuple[str, str]] = []
        app.worker.ingestEvent.connect(
            lambda e: ended.append((e.result.path, e.result.status)) if isinstance(e, FileFinished) else None)
        source = make(tmp_path / "report.pdf", "Report")
        data = source.read_bytes()
        target = docs / "report.pdf"
        with target.open("wb") as out:  # a slow copy: a third, a pause, the rest
            out.write(data[: len(data) // 3])
            out.flush()
            qtbot.wait(1500)
            out.write(data[len(data) // 3:])
        qtbot.waitUntil(lambda: names(app).get("report.pdf") == "ready", timeout=WAIT)
        qtbot.wait(3000)  # any second pass would have come by now
        assert ended == [(str(target), "ok")]  # read once, complete: never half-written
    finally:
        app.shutdown()


def test_at_start_the_window_catches_up_with_what_changed_while_closed(
        qtbot: Any, home: Path, tmp_path: Path) -> None:
    from grit_desktop.engine.index.watched import WatchList

    docs = tmp_path / "while-closed"
    docs.mkdir()
    make(docs / "one.pdf", "One")
    make(docs / "two.pdf", "Two")
    WatchList(home).add(docs)  # as `grit-desktop watch add --no-sync` leaves it
    app = start_app(qtbot, home)
    try:
        qtbot.waitUntil(lambda: names(app) == {"one.pdf": "ready", "two.pdf": "ready"}, timeout=WAIT)
        qtbot.waitUntil(lambda: app.window.folder_list.text_of(str(docs.resolve()))
                        .endswith("in sync · 2 files"), timeout=WAIT)
    finally:
        app.shutdown()
