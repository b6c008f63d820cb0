"""Asking within a chosen set of documents: retrieval prefiltered to a scope, the chat that
remembers it, and the CLI's --doc / --folder, on real PDFs with the tiny model."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from grit_desktop.config import Settings
from grit_desktop.engine.answering.retrieval import NO_DOCUMENTS_IN_SCOPE, retrieve
from grit_desktop.engine.chats import Chats
from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.index.library import Library
from grit_desktop.engine.index.records import DocumentRecord, Scope
from tests import pdfs
from tests.test_cli_library import cli

SETTINGS = Settings(chunk_tokens=64, chunk_overlap_tokens=8, top_k=4)
WORD = "warranty"


def write_docs(folder: Path) -> dict[str, Path]:
    """Three documents that all say WORD; ``small.pdf`` (in a subfolder) has a single page."""
    (folder / "sub").mkdir(parents=True)
    filler = " ".join(["Each page says more about the parts it describes, in plain words."] * 6)
    paths = {
        "big": pdfs.make_pdf(folder / "big.pdf",
                             [f"Page {n}: the {WORD} of part B{n}. {filler}" for n in range(1, 9)]),
        "other": pdfs.make_pdf(folder / "other.pdf",
                               [f"Other {n}: the {WORD} of item O{n}. {filler}" for n in range(1, 9)]),
        "small": pdfs.make_pdf(folder / "sub" / "small.pdf", [f"The {WORD} of the small one lasts a year."]),
    }
    return paths


@pytest.fixture
def library(tmp_path: Path, tiny_model: GritModel) -> Iterator[tuple[Library, dict[str, str]]]:
    paths = write_docs(tmp_path / "docs")
    with Library(tmp_path / "home", SETTINGS, tiny_model, isolate_reader=False) as lib:
        list(lib.ingest([tmp_path / "docs"]))
        ids = {name: next(d.doc_id for d in lib.documents() if d.path == str(p)) for name, p in paths.items()}
        yield lib, ids


def test_retrieval_keeps_to_the_scope_and_still_returns_k(library: tuple[Library, dict[str, str]]) -> None:
    lib, ids = library
    everything = retrieve(lib, WORD)
    assert {s.doc_id for s in everything.sources} != {ids["big"]}  # unscoped, others come in too
    only_big = retrieve(lib, WORD, scope=Scope((ids["big"],)))
    assert len(only_big.sources) == 4  # k, although the other documents match as well
    assert {s.doc_id for s in only_big.sources} == {ids["big"]}
    two = retrieve(lib, WORD, k=12, scope=Scope((ids["small"], ids["other"])))
    assert {s.doc_id for s in two.sources} == {ids["small"], ids["other"]}


def test_a_folder_scope_takes_what_lies_under_it(library: tuple[Library, dict[str, str]],
                                                 tmp_path: Path) -> None:
    lib, ids = library
    sub = retrieve(lib, WORD, k=8, scope=Scope(folders=(str(tmp_path / "docs" / "sub"),)))
    assert {s.doc_id for s in sub.sources} == {ids["small"]}
    # a folder whose name merely starts the same is not inside it
    docs = [DocumentRecord(doc_id="a", path="/x/subway/a.pdf", title="", author="", pages=1,
                           bytes=1, mtime=0.0, status="ready", added_at=0.0)]
    assert Scope(folders=("/x/sub",)).select(docs) == []


def test_a_scope_with_nothing_ready_says_so(library: tuple[Library, dict[str, str]]) -> None:
    lib, ids = library
    lib.remove(ids["small"])
    passages = retrieve(lib, WORD, scope=Scope((ids["small"],)))
    assert passages.sources == [] and passages.note == NO_DOCUMENTS_IN_SCOPE


def test_a_chat_remembers_its_scope(tmp_path: Path) -> None:
    chats = Chats(tmp_path / "chats.sqlite")
    scope = Scope(("abc",), ("/home/me/Papers",))
    first = chats.ask(None, "What is covered?", scope)
    assert first.scope == scope and chats.get(first.chat_id).scope == scope
    again = chats.ask(first.chat_id, "And for how long?")  # no scope given: the chat's own
    assert again.scope == scope
    assert "_Asked of 1 document and /home/me/Papers_" in chats.export_markdown(first.chat_id)
    wider = chats.ask(first.chat_id, "And elsewhere?", Scope())
    assert wider.scope == Scope() and chats.get(first.chat_id).scope == Scope()
    chats.close()


def test_a_history_from_before_scopes_opens_with_the_whole_library(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE chats (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, "
                     "created REAL NOT NULL, updated REAL NOT NULL);"
                     "INSERT INTO chats(title, created, updated) VALUES ('Old chat', 1.0, 1.0);")
    db.close()
    chats = Chats(path)
    [old] = chats.all()
    assert old.title == "Old chat" and old.scope == Scope()
    chats.close()


def test_cli_search_and_ask_take_doc_and_folder(setup: tuple[Path, Path]) -> None:
    home, docs = setup
    paths = write_docs(docs)
    assert cli(home, "ingest", str(docs)).returncode == 0
    listed = {Path(d["path"]).name: d["doc_id"] for d in json.loads(cli(home, "docs", "--json").stdout)}
    found = cli(home, "search", WORD, "--mode", "text", "--k", "10", "--json",
                "--doc", listed["big.pdf"][:10])
    assert found.returncode == 0, found.stderr
    assert {h["doc_id"] for h in json.loads(found.stdout)} == {listed["big.pdf"]}
    asked = cli(home, "ask", WORD, "--json", "--folder", str(paths["small"].parent))
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert {s["doc_id"] for s in answer["sources"]} == {listed["small.pdf"]}
    again = cli(home, "ask", "and then?", "--json", "--chat", str(answer["chat"]))  # the chat's scope
    assert {s["doc_id"] for s in json.loads(again.stdout)["sources"]} == {listed["small.pdf"]}
    listing = cli(home, "chats")
    assert f"(asks {paths['small'].parent})" in listing.stdout
    bad = cli(home, "search", WORD, "--doc", "nosuchdoc")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "grit-desktop: error: no document 'nosuchdoc' in the library"
