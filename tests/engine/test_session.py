"""The use cases the window and the CLI share (`engine/session.py`), with the tiny model, real
PDFs, LanceDB and SQLite in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from grit_desktop.config import Settings, load_settings
from grit_desktop.engine.answering.events import AnswerStored, QuestionAsked
from grit_desktop.engine.index.events import FileFinished, IngestEvent, IngestFinished
from grit_desktop.engine.session import Session
from grit_desktop.errors import GritError
from tests import pdfs


@pytest.fixture
def session(tmp_path: Path, tiny_model_dir: Path) -> Iterator[Session]:
    settings = Settings(model=str(tiny_model_dir), device="cpu", quantization="none",
                        chunk_tokens=64, chunk_overlap_tokens=8, max_new_tokens=4, top_k=2)
    with Session(tmp_path / "home", settings) as s:
        yield s


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(2):
        pdfs.make_pdf(folder / f"m{i}.pdf", [f"Manual {i}: the part XJ{i}471 is the fan motor."])
    return folder


def run_queue(session: Session) -> list[IngestEvent]:
    events = []
    while (event := session.step_ingest()) is not None:
        events.append(event)
    return events


def test_files_queued_before_the_model_loads_are_listed_then_indexed(session: Session,
                                                                      docs: Path) -> None:
    session.queue_ingest([str(docs)])
    assert sorted(Path(p).name for p in session.waiting) == ["m0.pdf", "m1.pdf"]
    assert not session.ingesting  # no model yet: it waits
    session.load_model()
    assert session.needs_ingest()
    session.queue_ingest(())
    assert session.ingesting
    events = run_queue(session)
    assert [e.result.status for e in events if isinstance(e, FileFinished)] == ["ok", "ok"]
    assert session.waiting == [] and not session.ingesting
    assert [d.status for d in session.documents()] == ["ready", "ready"]
    assert not session.changed_elsewhere()


def test_paths_queued_during_an_ingestion_run_after_it(session: Session, docs: Path,
                                                       tmp_path: Path) -> None:
    session.load_model()
    session.queue_ingest([str(docs / "m0.pdf")])
    first = session.step_ingest()
    assert first is not None
    later = tmp_path / "later.pdf"
    pdfs.make_pdf(later, ["Added while the first ran."])
    session.queue_ingest([str(later)])
    assert str(later) in session.waiting
    events = [first, *run_queue(session)]
    assert sum(isinstance(e, IngestFinished) for e in events) == 2
    assert {Path(d.path).name for d in session.documents()} == {"m0.pdf", "later.pdf"}


def test_ask_export_and_settings(session: Session, docs: Path, tmp_path: Path) -> None:
    with pytest.raises(GritError, match="not loaded"):
        session.ask("anything?")
    session.load_model()
    list(session.ingest([docs]))
    events = list(session.ask("Which part is the fan motor? XJ0471"))
    asked, stored = events[0], events[-1]
    assert isinstance(asked, QuestionAsked) and isinstance(stored, AnswerStored)
    assert [c.id for c in session.all_chats()] == [asked.chat_id]
    out = tmp_path / "chat.md"
    text = session.export(asked.chat_id, out)
    assert out.read_text(encoding="utf-8") == text and "XJ0471" in text
    with pytest.raises(GritError, match="cannot write"):
        session.export(asked.chat_id, tmp_path / "no-such-folder" / "chat.md")
    same_model = session.settings.replace(top_k=3)
    assert session.apply_settings(same_model) is False
    assert load_settings(session.home).top_k == 3 and session.library.settings.top_k == 3
    assert session.apply_settings(same_model.replace(model=str(tmp_path / "other"))) is True
