"""Conversations, kept across restarts in ``<home>/chats.sqlite``.

SQLite (standard library) gives what a chat history needs: every message is committed in its own
transaction, so a crash loses at most the answer being written, never earlier ones. Sources
(the passages an answer was given, with document, pages and character spans) and timings are
stored with each answer as JSON.

Threading: a `Chats` may be called from any thread; calls are serialised by a lock.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Container, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from grit_desktop.engine.index.records import Scope, Source
from grit_desktop.errors import GritError

Role = Literal["user", "assistant"]

#: The title of a chat made before its first question; that question then titles it.
NEW_CHAT = "New chat"
#: A title made from a question is cut to this many characters.
TITLE_CHARS = 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    scope TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text TEXT NOT NULL,
    created REAL NOT NULL,
    sources TEXT NOT NULL DEFAULT '[]',
    timings TEXT NOT NULL DEFAULT '{}',
    finish TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages(chat_id, id);
"""


@dataclass(frozen=True)
class Message:
    id: int
    chat_id: int
    role: Role
    text: str
    created: float
    sources: list[Source] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    finish: str = ""  # for answers: eos, length, cancelled, context, error


@dataclass(frozen=True)
class AskedIn:
    """A question stored in its chat (`Chats.ask`): ``created`` when the chat was made for it;
    ``history``, the chat's messages before it."""

    chat_id: int
    created: bool
    message: Message
    history: list[Message]
    scope: Scope = Scope()  # the documents the question is asked of (empty: all)


@dataclass(frozen=True)
class ChatInfo:
    id: int
    title: str
    created: float
    updated: float
    messages: int
    scope: Scope = Scope()  # the documents its questions are asked of (empty: all)


class Chats:
    """All conversations of one data folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(chats)")}
            if "scope" not in columns:  # a history from before chats had a scope
                self._db.execute("ALTER TABLE chats ADD COLUMN scope TEXT NOT NULL DEFAULT '{}'")
        except sqlite3.DatabaseError as exc:
            raise GritError(f"the chat history {path} cannot be opened: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._db.execute("ROLLBACK")
                raise GritError(f"cannot save the chat history ({exc}); is the disk full?") from exc
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- chats --------------------------------------------------------------------------------

    def create(self, title: str = NEW_CHAT, scope: Scope = Scope()) -> ChatInfo:
        now = time.time()
        with self._tx() as db:
            cur = db.execute("INSERT INTO chats(title, created, updated, scope) VALUES (?, ?, ?, ?)",
                             (title, now, now, json.dumps(scope.to_json())))
        return ChatInfo(int(cur.lastrowid or 0), title, now, now, 0, scope)

    def all(self) -> list[ChatInfo]:
        """All chats, most recently active first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.title, c.created, c.updated, COUNT(m.id), c.scope FROM chats c "
                "LEFT JOIN messages m ON m.chat_id = c.id GROUP BY c.id ORDER BY c.updated DESC, c.id DESC"
            ).fetchall()
        return [ChatInfo(row[0], row[1], row[2], row[3], row[4], Scope.from_json(_json_or_none(row[5])))
                for row in rows]

    def set_scope(self, chat_id: int, scope: Scope) -> None:
        """Ask the chat's next questions of ``scope`` (empty: the whole library)."""
        with self._tx() as db:
            if db.execute("UPDATE chats SET scope = ? WHERE id = ?",
                          (json.dumps(scope.to_json()), chat_id)).rowcount == 0:
                raise GritError(f"there is no chat {chat_id}")

    def get(self, chat_id: int) -> ChatInfo:
        for chat in self.all():
            if chat.id == chat_id:
                return chat
        raise GritError(f"there is no chat {chat_id}")

    def rename(self, chat_id: int, title: str) -> None:
        title = " ".join(title.split()) or "Untitled"
        with self._tx() as db:
            if db.execute("UPDATE chats SET title = ? WHERE id = ?", (title, chat_id)).rowcount == 0:
                raise GritError(f"there is no chat {chat_id}")

    def delete(self, chat_id: int) -> None:
        with self._tx() as db:
            if db.execute("DELETE FROM chats WHERE id = ?", (chat_id,)).rowcount == 0:
                raise GritError(f"there is no chat {chat_id}")

    def ask(self, chat_id: int | None, question: str, scope: Scope | None = None) -> AskedIn:
        """Store ``question`` in chat ``chat_id``; None makes a chat titled after it, and a chat
        still called "New chat" with no message yet takes that title. ``scope`` (None: the
        chat's own) becomes the chat's scope."""
        created = chat_id is None
        if chat_id is None:
            chat = self.create(title_from(question), scope or Scope())
            history: list[Message] = []
        else:
            chat = self.get(chat_id)
            history = self.messages(chat_id)
            if not history and chat.title == NEW_CHAT:
                self.rename(chat_id, title_from(question))
            if scope is not None and scope != chat.scope:
                self.set_scope(chat_id, scope)
                chat = replace(chat, scope=scope)
        return AskedIn(chat.id, created, self.add(chat.id, "user", question), history, chat.scope)

    # -- messages -----------------------------------------------------------------------------

    def add(self, chat_id: int, role: Role, text: str, sources: Sequence[Source] = (),
            timings: dict[str, float] | None = None, finish: str = "") -> Message:
        """Append a message (committed before this returns)."""
        now = time.time()
        src = json.dumps([asdict(s) for s in sources])
        tim = json.dumps(timings or {})
        with self._tx() as db:
            if db.execute("UPDATE chats SET updated = ? WHERE id = ?", (now, chat_id)).rowcount == 0:
                raise GritError(f"there is no chat {chat_id}")
            cur = db.execute(
                "INSERT INTO messages(chat_id, role, text, created, sources, timings, finish) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (chat_id, role, text, now, src, tim, finish))
        return Message(int(cur.lastrowid or 0), chat_id, role, text, now, list(sources),
                       dict(timings or {}), finish)

    def messages(self, chat_id: int) -> list[Message]:
        self.get(chat_id)
        with self._lock:
            rows = self._db.execute(
                "SELECT id, chat_id, role, text, created, sources, timings, finish FROM messages "
                "WHERE chat_id = ? ORDER BY id", (chat_id,)).fetchall()
        return [_message(row) for row in rows]

    def delete_message(self, message_id: int) -> None:
        """Remove one message (a question whose answer never started)."""
        with self._tx() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    # -- export -------------------------------------------------------------------------------

    def export_markdown(self, chat_id: int, library: Container[str] | None = None) -> str:
        """The chat as Markdown: every message, and under each answer its numbered sources
        (those whose document is not among ``library``'s ids, when given, said to be no longer in
        the library)."""
        chat = self.get(chat_id)
        lines = [f"# {markdown_literal(chat.title)}", "",
                 f"_Exported from grit-desktop on {time.strftime('%Y-%m-%d %H:%M')}_", ""]
        if chat.scope:
            lines += [f"_Asked of {markdown_literal(chat.scope.describe())}_", ""]
        for m in self.messages(chat_id):
            who = "You" if m.role == "user" else "Assistant"
            lines += [f"## {who}", "", markdown_inert(m.text.strip()) or "_(no text)_", ""]
            if m.sources:
                lines.append("**Sources**")
                lines.append("")
                for s in m.sources:
                    gone = library is not None and s.doc_id not in library
                    lines.append(f"{s.n}. *{markdown_literal(s.title)}*, {markdown_literal(s.location)} "
                                 f"({markdown_literal(s.path)})"
                                 + (" — no longer in the library" if gone else ""))
                lines.append("")
        return "\n".join(lines).rstrip() + "\n"


# Inline Markdown (these fields never start a line, so ".", "-", "+" need no escape).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|<>~&])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def markdown_literal(text: str) -> str:
    """``text`` (a document title, a path) shown as itself in Markdown: every character that
    Markdown or HTML would read is escaped, newlines and control characters become spaces."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    escaped = _MD_SPECIAL.sub(r"\\\1", flat)
    # Entities for the HTML characters: no renderer reads "&lt;img" as a tag.
    return escaped.replace("\\&", "&amp;").replace("\\<", "&lt;").replace("\\>", "&gt;")


def markdown_inert(text: str) -> str:
    """Message text kept as Markdown, but nothing in it can load or run anything when viewed:
    no raw HTML (``<`` is escaped, so no tags and no autolinks) and no images (``![`` becomes
    a plain ``!`` and link). Control characters are dropped."""
    text = _CONTROL.sub("", text.replace("\t", "    "))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("![", "!\\[")


def _message(row: tuple[Any, ...]) -> Message:
    mid, chat_id, role, text, created, sources, timings, finish = row
    return Message(mid, chat_id, role, text, created,
                   [Source(**s) for s in json.loads(sources)], json.loads(timings), finish)


def title_from(question: str) -> str:
    """A chat's title: the question on one line, cut to TITLE_CHARS."""
    words = " ".join(question.split())
    return words if len(words) <= TITLE_CHARS else words[:TITLE_CHARS - 3].rstrip() + "..."


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # a damaged scope is read as the whole library
        return None
