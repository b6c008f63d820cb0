"""The window with the real engine (tiny model) on its worker thread, driven as a user would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QTextDocument
from PySide6.QtWidgets import QApplication

from grit_desktop.config import Settings, save_settings
from grit_desktop.ui.app import App
from grit_desktop.ui.chat_view import MessageWidget
from grit_desktop.ui.commands import ApplySettings
from grit_desktop.ui.models import DocumentsModel, Role
from grit_desktop.ui.worker import POLL_S
from tests import pdfs

WAIT = 90_000  # ms: generous, the machine may be busy


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records (function, thread name) of every call into the model and the store."""
    import grit_desktop.engine.grit.model as model
    import grit_desktop.engine.index.library as library
    import grit_desktop.engine.index.store as store

    calls: list[tuple[str, str]] = []
    targets = [(model.GritModel, "embed"), (model.GritModel, "generate"), (model.GritModel, "prefill"),
               (model.GritModel, "load"), (store.Store, "search_hybrid"), (store.Store, "add_chunks"),
               (store.Store, "documents"), (library.Library, "ingest")]
    for owner, name in targets:
        original = owner.__dict__[name]
        func = original.__func__ if isinstance(original, classmethod) else original

        def spy(*args: Any, _f: Any = func, _n: str = name, **kwargs: Any) -> Any:
            calls.append((_n, threading.current_thread().name))
            return _f(*args, **kwargs)

        monkeypatch.setattr(owner, name, classmethod(spy) if isinstance(original, classmethod) else spy)
    return calls


@pytest.fixture
def home(tmp_path: Path, mistral_model_dir: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    save_settings(folder, Settings(model=str(mistral_model_dir), chunk_tokens=64, chunk_overlap_tokens=8,
                                   max_new_tokens=24, top_k=2, watch_folders="never"))
    return folder


def start_app(qtbot: Any, home: Path) -> App:
    qt = QApplication.instance()
    assert isinstance(qt, QApplication)
    from grit_desktop.config import load_settings

    app = App(qt, home, load_settings(home))
    qtbot.addWidget(app.window)
    app.start([])
    qtbot.waitUntil(lambda: app.window.model_ready, timeout=WAIT)
    return app


@pytest.fixture
def app(qtbot: Any, home: Path) -> Iterator[App]:
    running = start_app(qtbot, home)
    yield running
    running.shutdown()


def drop(window: Any, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(QPoint(100, 100), action, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(100, 100), action, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)


def make_docs(folder: Path) -> Path:
    folder.mkdir()
    filler = "This page talks about nothing in particular, at some length, to fill it."
    pages = [f"Page {n}. {filler} {filler}" for n in range(1, 7)]
    pages[3] = f"The warranty lasts seventeen months from delivery. {filler}"
    pdfs.make_pdf(folder / "manual.pdf", pages, title="Product Manual")
    pdfs.make_encrypted_pdf(folder / "locked.pdf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 truncated nonsense")
    return folder


def ready_rows(model: DocumentsModel) -> dict[str, Any]:
    return {Path(r.path).name: r for r in model.rows() if r.status in ("ready", "error")}


def test_drop_ask_stream_cite_and_restart(qtbot: Any, home: Path, tmp_path: Path,
                                          engine_calls: list[tuple[str, str]]) -> None:
    app = start_app(qtbot, home)
    window = app.window
    docs = make_docs(tmp_path / "docs")
    drop(window, [docs])
    qtbot.waitUntil(lambda: len(ready_rows(window.documents)) == 3, timeout=WAIT)
    rows = ready_rows(window.documents)
    assert rows["manual.pdf"].status == "ready" and rows["manual.pdf"].pages == 6
    assert rows["locked.pdf"].status == "error" and "password" in rows["locked.pdf"].error
    assert rows["broken.pdf"].status == "error" and rows["broken.pdf"].error
    tip = window.documents.data(window.documents.index(
        [Path(r.path).name for r in window.documents.rows()].index("locked.pdf"), 0),
        Qt.ItemDataRole.ToolTipRole)
    assert "password" in tip

    tokens: list[str] = []
    app.worker.tokenReceived.connect(lambda _chat, piece: tokens.append(piece))
    window.composer.setPlainText("warranty seventeen months")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.answering, timeout=WAIT)
    assert len(tokens) > 1  # it streamed, piece by piece
    answer = window.chat_view.messages[-1]
    assert isinstance(answer, MessageWidget) and answer.role == "assistant"
    assert answer.text == "".join(tokens)
    buttons = [b for b in answer.findChildren(type(window.send_button)) if b.objectName() == "sourceButton"]
    assert buttons and "Product Manual" in buttons[0].text()
    source = answer.sources[0]
    assert source.page_start <= 4 <= source.page_end

    buttons[0].click()  # a citation opens the viewer at its page
    qtbot.waitUntil(lambda: window.viewer is not None and window.viewer.current_page() == source.page_start,
                    timeout=10_000)
    assert window.viewer_dock.isVisible()
    # the passage is marked on every page it covers
    assert window.viewer.passage_pages() == list(range(source.page_start, source.page_end + 1))

    chat_id = window.chat_id
    app.shutdown()
    window.close()

    again = start_app(qtbot, home)  # a restart: library and chats are still there
    try:
        qtbot.waitUntil(lambda: len(again.window.chats.rowCount() * [0]) == 1, timeout=WAIT)
        assert again.window.chats.data(again.window.chats.index(0), Role.CHAT_ID) == chat_id
        names = {Path(r.path).name for r in again.window.documents.rows()}
        assert names == {"manual.pdf", "locked.pdf", "broken.pdf"}
        again.window.openChatRequested.emit(chat_id)
        qtbot.waitUntil(lambda: len(again.window.chat_view.messages) == 2, timeout=WAIT)
        assert again.window.chat_view.messages[1].sources[0].title == "Product Manual"
    finally:
        again.shutdown()

    gui = threading.main_thread().name
    assert engine_calls and all(thread != gui for _, thread in engine_calls), engine_calls


def test_stop_ends_the_answer(qtbot: Any, app: App, home: Path) -> None:
    window = app.window
    big = Settings(**{**app.settings.__dict__, "max_new_tokens": 4000})
    applied: list[Settings] = []
    app.worker.settingsApplied.connect(applied.append)  # called on the worker thread: it only appends
    app.worker.submit(ApplySettings(big))
    qtbot.waitUntil(lambda: bool(applied), timeout=WAIT)
    window.ask("tell me everything")
    qtbot.waitUntil(lambda: window.chat_view.live is not None and len(window.chat_view.live.text) > 0,
                    timeout=WAIT)
    qtbot.keyClick(window.composer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.answering, timeout=WAIT)
    answer = window.chat_view.messages[-1]
    assert "Stopped." in answer.status.text()


def test_documents_model_passes_the_model_tester(qtmodeltester: Any) -> None:
    from grit_desktop.engine.index.events import FileFinished, FileParsed, FileResult, FileStarted
    from grit_desktop.engine.index.records import DocumentRecord

    model = DocumentsModel()
    model.set_documents([DocumentRecord("a" * 64, "/d/a.pdf", "A", "", 3, 10, 0.0, "ready", 0.0, chunks=4),
                         DocumentRecord("b" * 64, "/d/b.pdf", "b.pdf", "", 0, 1, 0.0, "error", 0.0,
                                        error="encrypted")])
    model.apply_ingest_event(FileStarted(0, 1, "/d/c.pdf"))
    model.apply_ingest_event(FileParsed("/d/c.pdf", "c" * 64, "C", 5, 9, 0))
    qtmodeltester.check(model)
    assert model.data(model.index(2, 2)) == "indexing 0%"
    model.apply_ingest_event(FileFinished(0, 1, FileResult("/d/c.pdf", "ok", "c" * 64, "C", 5, 9)))
    assert model.data(model.index(2, 2)) == "ready"
    qtmodeltester.check(model)


def test_untrusted_text_is_never_html_and_loads_nothing(qtbot: Any) -> None:
    widget = MessageWidget("assistant")
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    widget.show()
    qtbot.waitExposed(widget)
    widget.append('<script>alert(1)</script> <img src="http://example.com/x.png"> '
                  '![x](http://example.com/y.png) <b>bold?</b> [1]')
    widget.finish("eos")
    qtbot.waitUntil(lambda: bool(widget.body.resources_requested), timeout=5000)
    html = widget.body.toHtml()
    assert "<script>" not in html and "&lt;b&gt;" in html  # shown as text, not markup
    # the Markdown image was asked for through our loader, which refused it: nothing fetched
    assert "http://example.com/y.png" in widget.body.resources_requested
    loaded = widget.body.document().resource(QTextDocument.ResourceType.ImageResource,
                                             QUrl("http://example.com/y.png"))
    assert loaded is None or (hasattr(loaded, "isNull") and loaded.isNull())
    assert widget.body.openExternalLinks() is False and widget.body.openLinks() is False


def test_a_missing_model_opens_the_setup_dialog_on_the_gui_thread(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QDialog

    import grit_desktop.ui.model_setup as model_setup

    opened: list[str] = []

    def fake_exec(dialog: Any) -> int:
        opened.append(threading.current_thread().name)
        return int(QDialog.DialogCode.Rejected)

    monkeypatch.setattr(model_setup.ModelSetupDialog, "exec", fake_exec)
    home = tmp_path / "home"
    home.mkdir()
    save_settings(home, Settings(model=str(tmp_path / "no-such-model")))
    qt = QApplication.instance()
    assert isinstance(qt, QApplication)
    app = App(qt, home, Settings(model=str(tmp_path / "no-such-model")))
    qtbot.addWidget(app.window)
    try:
        app.start([])
        qtbot.waitUntil(lambda: bool(opened), timeout=WAIT)
        assert opened == [threading.main_thread().name]
        assert "no-such-model" in app.window.message_text.text()
    finally:
        app.shutdown()


def test_an_error_mid_answer_keeps_the_window_usable(qtbot: Any, app: App,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from grit_desktop.engine.answering.events import Retrieved, Token
    from grit_desktop.engine.answering.rag import Answerer

    def broken(self: Any, question: str, *args: Any, **kwargs: Any) -> Any:
        yield Retrieved([], 1.0)
        yield Token("Half an ans")
        raise RuntimeError("the GPU fell off")

    monkeypatch.setattr(Answerer, "answer", broken)
    window = app.window
    window.ask("anything")
    # The answer ends (answerFinished), then the error is reported (failed): two signals.
    qtbot.waitUntil(lambda: not window.answering and "the GPU fell off" in window.message_text.text(),
                    timeout=WAIT)
    answer = window.chat_view.messages[-1]
    assert answer.text == "Half an ans" and "error" in answer.status.text()
    assert window.send_button.isEnabled()


def test_the_window_tells_the_truth_at_once(qtbot: Any, home: Path, tmp_path: Path) -> None:
    """Dropped before the model is ready: the banner says so, and stops saying it once the
    model is ready; every file of a dropped folder is listed at once, as waiting; a question
    typed during indexing shows at once, before the engine takes it."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        pdfs.make_prose_pdf(docs / f"book{i}.pdf", 4, seed=i)
    qt = QApplication.instance()
    assert isinstance(qt, QApplication)
    from grit_desktop.config import load_settings

    app = App(qt, home, load_settings(home))
    qtbot.addWidget(app.window)
    try:
        app.start([])
        window = app.window
        drop(window, [docs])
        assert not window.model_ready
        assert "still loading" in window.message_text.text() and window.message_bar.isVisible()
        names = {"book0.pdf", "book1.pdf", "book2.pdf"}
        statuses = {Path(r.path).name: r.status for r in window.documents.rows()}  # at once
        assert statuses == dict.fromkeys(names, "waiting"), statuses
        qtbot.waitUntil(lambda: window.model_ready, timeout=WAIT)
        assert "still loading" not in window.message_text.text() or not window.message_bar.isVisible()
        qtbot.waitUntil(lambda: window.ingest_bar.isVisible(), timeout=WAIT)
        window.composer.setPlainText("What is in the books?")
        window._send_clicked()
        shown = window.chat_view.messages  # no event loop turn since the click
        assert shown[-2].role == "user" and shown[-2].text == "What is in the books?"
        assert shown[-1] is window.chat_view.live and "Waiting" in shown[-1].status.text()
        qtbot.waitUntil(lambda: not window.answering, timeout=WAIT)
        assert [m.role for m in window.chat_view.messages] == ["user", "assistant"]
        qtbot.waitUntil(lambda: all(r.status == "ready" for r in window.documents.rows())
                        and len(window.documents.rows()) == 3, timeout=WAIT)
    finally:
        app.shutdown()


def test_a_question_the_engine_refuses_goes_back_to_the_composer(qtbot: Any, app: App) -> None:
    app.window.ask("   ")  # only the composer strips; the engine refuses an empty question
    qtbot.waitUntil(lambda: not app.window.answering, timeout=WAIT)
    assert app.window.chat_view.messages == [] and app.window.composer.toPlainText() == "   "
    assert "empty" in app.window.message_text.text()


def test_asking_only_the_selected_documents(qtbot: Any, app: App, tmp_path: Path) -> None:
    """Select a document, ask only of it: every source is from it, the chat keeps that scope
    (shown again when the chat is reopened), and a new chat asks the whole library."""
    window = app.window
    docs = tmp_path / "docs"
    docs.mkdir()
    filler = "This page talks about the warranty of the product, at some length, to fill it."
    pdfs.make_pdf(docs / "a.pdf", [f"Alpha page {n}. {filler}" for n in range(1, 5)], title="Alpha")
    pdfs.make_pdf(docs / "b.pdf", [f"Beta page {n}. {filler}" for n in range(1, 5)], title="Beta")
    window.ingest([str(docs)])
    qtbot.waitUntil(lambda: [r.status for r in window.documents.rows()] == ["ready", "ready"], timeout=WAIT)
    window.scope_to_selection()  # nothing selected: it says what to do, the scope stays
    assert "Select the documents" in window.message_text.text() and not window.scope
    beta = [r.title for r in window.documents.rows()].index("Beta")
    window.doc_table.selectRow(beta)
    window.scope_button.click()
    assert window.scope_label.text() == "Asks only: Beta" and window.scope_clear.isVisible()
    window.ask("warranty")
    qtbot.waitUntil(lambda: not window.answering, timeout=WAIT)
    answer = window.chat_view.messages[-1]
    assert answer.sources and {s.title for s in answer.sources} == {"Beta"}
    chat_id = window.chat_id
    qtbot.waitUntil(lambda: window.chats.row_of(chat_id) is not None, timeout=WAIT)  # type: ignore[arg-type]
    window.new_chat()
    assert window.scope_label.text() == "Asks the whole library" and not window.scope_clear.isVisible()
    window.openChatRequested.emit(chat_id)
    qtbot.waitUntil(lambda: window.chat_id == chat_id, timeout=WAIT)
    assert window.scope_label.text() == "Asks only: Beta"
    window.ask("and the product?")  # the reopened chat asks of its own scope
    qtbot.waitUntil(lambda: not window.answering, timeout=WAIT)
    assert {s.title for s in window.chat_view.messages[-1].sources} == {"Beta"}


def test_the_status_bar_says_how_answers_decode(qtbot: Any, home: Path, tmp_path: Path) -> None:
    """On the CPU the default decodes with a static cache (compiled decoding is for CUDA); with
    compilation on, files dropped at start are indexed first (answers meanwhile decode without
    it), then the window says it is preparing it, then that answers use it, and answers."""
    from grit_desktop.config import load_settings

    app = start_app(qtbot, home)
    try:
        window = app.window
        qtbot.waitUntil(lambda: bool(window.decoding), timeout=WAIT)
        assert window.decoding == "static cache"
        assert "Answers: static cache" in window.model_label.toolTip()
    finally:
        app.shutdown()
    save_settings(home, load_settings(home).replace(compile_decoding="on"))
    qt = QApplication.instance()
    assert isinstance(qt, QApplication)
    app = App(qt, home, load_settings(home))
    qtbot.addWidget(app.window)
    said: list[str] = []
    indexed_when_compiling: list[set[str]] = []

    def status(message: str) -> None:
        said.append(message)
        if message.startswith("Preparing faster answers"):
            indexed_when_compiling.append(set(ready_rows(window.documents)))

    app.window.statusBar().messageChanged.connect(status)
    docs = make_docs(tmp_path / "docs")
    try:
        window = app.window
        app.start([str(docs / "manual.pdf")])
        qtbot.waitUntil(lambda: window.decoding == "static cache, compiled decode step", timeout=WAIT)
        assert "Model ready. Answers: static cache (compiled decode step not yet prepared)." in said
        assert indexed_when_compiling == [{"manual.pdf"}]  # the file did not wait for compiling
        assert any(m.startswith("Preparing faster answers: compiling the decode step") for m in said)
        assert window.statusBar().currentMessage() == (
            "Model ready. Answers: static cache, compiled decode step.")
        window.ask("What does the warranty cover?")
        qtbot.waitUntil(lambda: not window.answering and len(window.chat_view.messages) == 2,
                        timeout=WAIT)
        assert window.chat_view.messages[-1].text
        # another setting: nothing to say about decoding; compilation off: said at once
        told: list[str] = []
        applied: list[Settings] = []
        app.worker.decodingReady.connect(told.append)  # worker thread: it only appends
        app.worker.settingsApplied.connect(applied.append)
        app.worker.submit(ApplySettings(app.settings.replace(top_k=3, compile_decoding="on")))
        qtbot.waitUntil(lambda: len(applied) == 1, timeout=WAIT)
        app.worker.submit(ApplySettings(app.settings.replace(top_k=3, compile_decoding="off")))
        qtbot.waitUntil(lambda: len(told) == 1, timeout=WAIT)
        assert told == ["static cache, compilation off"]
        qtbot.waitUntil(lambda: window.decoding == "static cache, compilation off", timeout=WAIT)
        # on again: the step compiled before serves at once, with nothing to prepare (no
        # "Preparing faster answers" flashing by once the worker is idle)
        preparing: list[bool] = []
        app.worker.decodingPreparing.connect(lambda: preparing.append(True))
        app.worker.submit(ApplySettings(app.settings.replace(top_k=3, compile_decoding="on")))
        qtbot.waitUntil(lambda: len(told) == 2, timeout=WAIT)
        assert told[1] == "static cache, compiled decode step"
        qtbot.wait(int((POLL_S + 1.5) * 1000))  # the worker has been idle long enough to prepare
        assert preparing == [] and len(told) == 2
        assert window.statusBar().currentMessage() == (
            "Model ready. Answers: static cache, compiled decode step.")
        # longer answers than the compiled capacity holds: prepared again once the worker is idle
        longer = app.settings.replace(top_k=3, compile_decoding="on", max_new_tokens=3000)
        app.worker.submit(ApplySettings(longer))
        qtbot.waitUntil(lambda: len(told) == 3, timeout=WAIT)
        assert preparing == [True] and told[2] == "static cache, compiled decode step"
        assert any(m.startswith("Preparing faster answers") for m in said[-3:])
        assert window.statusBar().currentMessage() == (
            "Model ready. Answers: static cache, compiled decode step.")
    finally:
        app.shutdown()
