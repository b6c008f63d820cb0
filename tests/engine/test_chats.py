from __future__ import annotations

from pathlib import Path

import pytest

from grit_desktop.engine.chats import Chats
from grit_desktop.engine.index.records import Source
from grit_desktop.errors import GritError


def source(n: int, page: int = 3) -> Source:
    return Source(n=n, chunk_id=f"abc:{n:06d}", doc_id="abc", title="Manual", path="/docs/manual.pdf",
                  page_start=page, page_end=page + (n > 1), char_start=10, char_end=99, score=0.5,
                  text="the warranty lasts two years")


def test_conversation_survives_reopening(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite"
    chats = Chats(db)
    chat = chats.create("Warranty")
    chats.add(chat.id, "user", "How long is the warranty?")
    chats.add(chat.id, "assistant", "Two years [1].", sources=[source(1), source(2)],
              timings={"first_token_ms": 12.5}, finish="eos")
    chats.close()
    again = Chats(db)
    msgs = again.messages(chat.id)
    assert [(m.role, m.text) for m in msgs] == [("user", "How long is the warranty?"),
                                                 ("assistant", "Two years [1].")]
    assert msgs[1].sources == [source(1), source(2)]
    assert msgs[1].timings == {"first_token_ms": 12.5} and msgs[1].finish == "eos"
    assert again.get(chat.id).messages == 2


def test_list_rename_delete(tmp_path: Path) -> None:
    chats = Chats(tmp_path / "c.sqlite")
    a, b = chats.create("A"), chats.create("B")
    chats.add(a.id, "user", "newer activity")
    assert [c.title for c in chats.all()] == ["A", "B"]  # most recently active first
    chats.rename(b.id, "  Better   name ")
    assert chats.get(b.id).title == "Better name"
    chats.delete(a.id)
    assert [c.id for c in chats.all()] == [b.id]
    with pytest.raises(GritError, match="no chat"):
        chats.messages(a.id)
    with pytest.raises(GritError, match="no chat"):
        chats.add(a.id, "user", "x")
    with pytest.raises(GritError, match="no chat"):
        chats.rename(12345, "x")


def test_export_has_every_message_and_citation(tmp_path: Path) -> None:
    chats = Chats(tmp_path / "c.sqlite")
    chat = chats.create("Warranty questions")
    chats.add(chat.id, "user", "How long?")
    chats.add(chat.id, "assistant", "Two years [1][2].", sources=[source(1), source(2, page=7)])
    chats.add(chat.id, "user", "And the battery?")
    chats.add(chat.id, "assistant", "Six months [1].", sources=[source(1, page=9)])
    md = chats.export_markdown(chat.id)
    assert md.startswith("# Warranty questions\n")
    for text in ("How long?", "Two years [1][2].", "And the battery?", "Six months [1]."):
        assert text in md
    assert "1. *Manual*, p. 3 (/docs/manual.pdf)" in md
    assert "2. *Manual*, pp. 7-8 (/docs/manual.pdf)" in md
    assert "1. *Manual*, p. 9 (/docs/manual.pdf)" in md
    assert md.count("**Sources**") == 2


def test_export_shows_each_source_with_its_heading(tmp_path: Path) -> None:
    chats = Chats(tmp_path / "c.sqlite")
    chat = chats.create("Book")
    epub = Source(n=1, chunk_id="e:000004", doc_id="e", title="Lighthouse Manual", path="/docs/l.epub",
                  page_start=12, page_end=12, char_start=0, char_end=40, score=0.5, text="t",
                  heading="Chapter 3: Installation")
    chats.add(chat.id, "assistant", "Like so [1][2].", sources=[epub, source(2)])
    md = chats.export_markdown(chat.id)
    assert "1. *Lighthouse Manual*, § Chapter 3: Installation, p. 12 (/docs/l.epub)" in md
    assert "2. *Manual*, pp. 3-4 (/docs/manual.pdf)" in md  # no heading: the pages alone
    assert chats.messages(chat.id)[0].sources[0].heading == "Chapter 3: Installation"


def test_sources_stored_before_headings_load(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    chats = Chats(db)
    chat = chats.create("Old")
    chats.add(chat.id, "assistant", "Old answer [1].", sources=[source(1)])
    chats.close()
    import json
    import sqlite3

    with sqlite3.connect(db) as conn:  # as an earlier version stored it: no heading key
        [(raw,)] = conn.execute("SELECT sources FROM messages").fetchall()
        old = [{k: v for k, v in s.items() if k != "heading"} for s in json.loads(raw)]
        conn.execute("UPDATE messages SET sources = ?", (json.dumps(old),))
    [message] = Chats(db).messages(chat.id)
    assert message.sources == [source(1)] and message.sources[0].heading == ""


def test_a_broken_database_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "chats.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(GritError, match="cannot be opened"):
        Chats(bad)
