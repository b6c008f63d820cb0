"""The conversation: questions, answers rendered as Markdown as they stream, and their sources.

Everything shown here is untrusted (model output, text from PDFs): it is rendered with Qt's
Markdown support with raw HTML switched off, links are never followed by Qt itself (only our
``cite:`` links are acted on), and no resource (image, stylesheet) is ever loaded, local or remote.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from grit_desktop.engine.answering import citations
from grit_desktop.engine.chats import Message
from grit_desktop.engine.index.records import Source

#: Markdown features: GitHub dialect, and no HTML from the text, ever.
MARKDOWN = (QTextDocument.MarkdownFeature.MarkdownDialectGitHub
            | QTextDocument.MarkdownFeature.MarkdownNoHTML)
#: Re-render a streaming answer at most this often (ms): Markdown layout of a long answer on
#: every token would cost more than the tokens themselves.
RENDER_EVERY_MS = 40


def linkify_citations(markdown: str, n_sources: int) -> str:
    """``[2]`` -> a ``cite:2`` link (for numbers of given sources only)."""

    def link(m: re.Match[str]) -> str:
        nums = citations.numbers(m)
        if not all(1 <= n <= n_sources for n in nums):
            return m.group(0)
        return "".join(f"[\\[{n}\\]](cite:{n})" for n in nums)

    return citations.CITATION.sub(link, markdown)


class SafeBrowser(QTextBrowser):
    """A read-only Markdown view that loads nothing and follows no link by itself."""

    citationClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.anchorClicked.connect(self._clicked)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.resources_requested: list[str] = []  # what the text tried to load (kept for tests)

    def loadResource(self, kind: int, name: QUrl | str) -> Any:
        self.resources_requested.append(str(name.toString() if isinstance(name, QUrl) else name))
        return None

    def set_markdown(self, text: str) -> None:
        self.document().setMarkdown(text, MARKDOWN)

    def _clicked(self, url: QUrl) -> None:
        if url.scheme() == "cite" and url.path().isdigit():
            self.citationClicked.emit(int(url.path()))

    def _fit(self) -> None:
        height = int(self.document().size().height()) + 6
        self.setFixedHeight(max(height, 24))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit()


class MessageWidget(QFrame):
    """One question or answer. Answers stream in, then show their sources."""

    citationClicked = Signal(object)  # Source

    def __init__(self, role: str, text: str = "", sources: list[Source] | None = None,
                 finish: str = "", timings: dict[str, float] | None = None) -> None:
        super().__init__()
        self.role = role
        self.text = text
        self.sources: list[Source] = list(sources or [])
        self.note = ""  # why there are no sources, said as soon as it is known
        #: The library's document ids (None: not known yet): a source of another document is
        #: shown as no longer in the library.
        self.library: set[str] | None = None
        self.setObjectName("question" if role == "user" else "answer")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        head = QHBoxLayout()
        who = QLabel("<b>You</b>" if role == "user" else "<b>Answer</b>")
        who.setTextFormat(Qt.TextFormat.RichText)
        head.addWidget(who)
        head.addStretch(1)
        self.status = QLabel("")  # how the answer ended, how fast it started (under the sources)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setObjectName("messageStatus")
        copy = QPushButton("Copy")
        copy.setFlat(True)
        copy.setToolTip("Copy this text")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text))
        head.addWidget(copy)
        layout.addLayout(head)
        self.body = SafeBrowser()
        self.body.citationClicked.connect(self._cite)
        layout.addWidget(self.body)
        self.sources_box = QVBoxLayout()
        layout.addLayout(self.sources_box)
        layout.addWidget(self.status)
        self.status.hide()
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh)
        self.refresh()
        if self.sources:
            self.show_sources(self.sources)
        self.finish(finish, timings)

    # -- streaming -------------------------------------------------------------------------------

    def append(self, piece: str) -> None:
        self.text += piece
        if not self._timer.isActive():
            self._timer.start(RENDER_EVERY_MS)

    def refresh(self) -> None:
        if self.role == "user":
            self.body.setPlainText(self.text)
        else:
            self.body.set_markdown(linkify_citations(self.text, len(self.sources)) or "…")

    def show_sources(self, sources: list[Source]) -> None:
        self.sources = list(sources)
        while self.sources_box.count():
            item = self.sources_box.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        if not sources:
            return
        title = QLabel("Sources")
        title.setObjectName("sourcesTitle")
        self.sources_box.addWidget(title)
        for s in sources:
            gone = self.library is not None and bool(s.doc_id) and s.doc_id not in self.library
            button = QPushButton(f"[{s.n}]  {s.title}, {s.location}"
                                 + (f"  ({GONE})" if gone else ""))
            button.setObjectName("sourceButton")
            button.setFlat(True)
            button.setToolTip(f"{s.path}\n\n{_snippet(s.text)}" if not gone else
                              f"{s.path}: {GONE} (its file was deleted, or it was removed); the "
                              f"passage the answer was given:\n\n{_snippet(s.text)}")
            button.setStyleSheet("text-align: left;")
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, src=s: self.citationClicked.emit(src))
            self.sources_box.addWidget(button)
        self.refresh()

    def set_library(self, doc_ids: set[str]) -> None:
        """The library's documents now: sources of others are marked as no longer there."""
        if self.library == doc_ids:
            return
        before = self.library
        self.library = set(doc_ids)
        gone = {s.doc_id for s in self.sources} - self.library
        if self.sources and (before is None or gone != ({s.doc_id for s in self.sources} - before)):
            self.show_sources(self.sources)

    def show_note(self, note: str) -> None:
        """Say at once why this answer has no sources (it comes from the model alone)."""
        self.note = note
        self.status.setText(note)
        self.status.setVisible(bool(note))

    def finish(self, finish: str, timings: dict[str, float] | None = None) -> None:
        self._timer.stop()
        self.refresh()
        notes = {"cancelled": "Stopped.", "length": "Stopped at the answer length limit.",
                 "context": "Stopped: the context is full.", "error": "Interrupted by an error.",
                 "stopped": "Stopped.",
                 "repetition": "Stopped: the answer began to repeat itself."}
        text = notes.get(finish, "")
        parts = [text] if text else []
        if finish and not self.sources and self.role == "assistant":
            parts.append(self.note or "No passage of your library was used: this answer comes "
                         "from the model alone.")
        if timings and timings.get("first_token_ms"):
            parts.append(f"First word after {timings['first_token_ms'] / 1000:.1f} s.")
        self.status.setText(" ".join(parts))
        self.status.setVisible(bool(parts))

    def _cite(self, n: int) -> None:
        source = next((s for s in self.sources if s.n == n), None)
        if source is not None:
            self.citationClicked.emit(source)


GONE = "no longer in the library"


def _snippet(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


class ChatView(QScrollArea):
    """The messages of one chat, newest at the bottom; follows the stream while at the bottom."""

    citationClicked = Signal(object)  # Source

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library: set[str] | None = None  # the library's document ids, once known
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        self._layout = QVBoxLayout(inner)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(10)
        self._layout.addStretch(1)
        self.setWidget(inner)
        self.placeholder = QLabel(
            "Drop documents (PDF, EPUB, Word, Markdown, …) or folders anywhere on this window\n"
            "to add them to your library, then ask a question below.\n"
            "Answers cite the document and page."
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setObjectName("placeholder")
        self._layout.insertWidget(0, self.placeholder)
        self.messages: list[MessageWidget] = []
        self.live: MessageWidget | None = None  # the answer being written
        self.verticalScrollBar().rangeChanged.connect(self._follow)
        self._at_bottom = True
        self.verticalScrollBar().valueChanged.connect(self._track)

    def clear(self) -> None:
        for m in self.messages:
            m.deleteLater()
        self.messages = []
        self.live = None
        self.placeholder.show()

    def set_messages(self, messages: list[Message]) -> None:
        self.clear()
        for m in messages:
            self.add(MessageWidget(m.role, m.text, m.sources, m.finish, m.timings))

    def set_library(self, doc_ids: set[str]) -> None:
        """The library's document ids: every answer marks its sources no longer there."""
        self.library = set(doc_ids)
        for m in self.messages:
            m.set_library(self.library)

    def add(self, widget: MessageWidget) -> MessageWidget:
        if self.library is not None:
            widget.set_library(self.library)
        self.placeholder.hide()
        widget.citationClicked.connect(self.citationClicked)
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self.messages.append(widget)
        self._at_bottom = True
        return widget

    def drop_last(self, n: int) -> None:
        """Remove the last ``n`` messages (a question echoed before the engine refused it)."""
        for widget in self.messages[-n:]:
            if widget is self.live:
                self.live = None
            widget.deleteLater()
        del self.messages[-n:]
        if not self.messages:
            self.placeholder.show()

    def start_answer(self) -> MessageWidget:
        self.live = self.add(MessageWidget("assistant"))
        return self.live

    def end_answer(self, message: Message) -> None:
        """Replace the streamed text with the stored answer and show how it ended."""
        widget = self.live or self.add(MessageWidget("assistant"))
        widget.text = message.text
        if message.sources and not widget.sources:
            widget.show_sources(message.sources)
        widget.finish(message.finish, message.timings)
        self.live = None

    def _track(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._at_bottom = value >= bar.maximum() - 4

    def _follow(self, _min: int, maximum: int) -> None:
        if self._at_bottom:
            self.verticalScrollBar().setValue(maximum)

    def sizeHint(self) -> QSize:
        return QSize(640, 480)


class Composer(QPlainTextEdit):
    """Where questions are typed: Enter sends, Shift+Enter breaks the line, Esc stops."""

    submitted = Signal(str)
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Ask about your documents…  (Enter sends, Shift+Enter new line, Esc stops)")
        self.setTabChangesFocus(True)
        self.setFixedHeight(72)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
                event.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            text = self.toPlainText().strip()
            if text:
                self.submitted.emit(text)
                self.clear()
            return
        if key == Qt.Key.Key_Escape:
            self.stopRequested.emit()
            return
        super().keyPressEvent(event)
